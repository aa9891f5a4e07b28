"""TF1 checkpoint import: strict variable matching with one clear error, and the CLI."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from kind_tf.convert import CheckpointMismatchError, load_tf1_checkpoint
from kind_tf.models import IlluminationAdjustNet
from kind_tf.weights import build_stage, load_stage


def write_tf1_checkpoint(prefix, variables: dict[str, np.ndarray]):
    """A TF1-style name-based checkpoint, like the original's tf.train.Saver writes."""
    graph = tf.Graph()
    with graph.as_default():
        tf_vars = [tf.compat.v1.Variable(value, name=name) for name, value in variables.items()]
        saver = tf.compat.v1.train.Saver(tf_vars)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(prefix))


def adjust_variables(seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"en_conv_1": (3, 3, 2, 32), "en_conv_2": (3, 3, 32, 32), "en_conv_3": (3, 3, 32, 32),
              "en_conv_4": (3, 3, 32, 1)}
    variables = {}
    for layer, shape in shapes.items():
        variables[f"Illumination_adjust_net/{layer}/weights"] = rng.standard_normal(shape).astype(np.float32)
        variables[f"Illumination_adjust_net/{layer}/biases"] = rng.standard_normal(shape[-1]).astype(np.float32)
    return variables


def test_import_assigns_every_variable(tmp_path):
    variables = adjust_variables()
    write_tf1_checkpoint(tmp_path / "model.ckpt", variables)
    model = build_stage("adjust")
    load_tf1_checkpoint(model, tmp_path, "Illumination_adjust_net")
    np.testing.assert_array_equal(model.en_conv_2.conv.kernel.numpy(),
                                  variables["Illumination_adjust_net/en_conv_2/weights"])
    np.testing.assert_array_equal(model.en_conv_4.conv.bias.numpy(),
                                  variables["Illumination_adjust_net/en_conv_4/biases"])


def test_mismatches_are_listed_in_one_error(tmp_path):
    variables = adjust_variables()
    del variables["Illumination_adjust_net/en_conv_3/biases"]
    variables["Illumination_adjust_net/extra/weights"] = np.zeros((1,), np.float32)
    variables["Illumination_adjust_net/en_conv_1/weights"] = np.zeros((3, 3, 3, 32), np.float32)
    write_tf1_checkpoint(tmp_path / "model.ckpt", variables)
    with pytest.raises(CheckpointMismatchError) as error:
        load_tf1_checkpoint(build_stage("adjust"), tmp_path, "Illumination_adjust_net")
    message = str(error.value)
    assert "missing ['Illumination_adjust_net/en_conv_3/biases']" in message
    assert "unexpected ['Illumination_adjust_net/extra/weights']" in message
    assert "en_conv_1/weights [3, 3, 3, 32] (expected [3, 3, 2, 32])" in message


def test_cli_converts_and_reports_errors_without_traceback(tmp_path):
    write_tf1_checkpoint(tmp_path / "ckpt" / "model.ckpt", adjust_variables(1))
    out = tmp_path / "weights"
    done = subprocess.run([sys.executable, "-m", "kind_tf.convert", "kind-tf1", "--adjust", str(tmp_path / "ckpt"),
                           "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert isinstance(load_stage(out, "adjust"), IlluminationAdjustNet)
    # Converted originals run as the original evaluate.py: fusion with the input at ratio 5.
    from kind_tf.weights import ORIGINAL_RECIPE, read_recipe

    assert read_recipe(out) == ORIGINAL_RECIPE
    assert (read_recipe(out).output, read_recipe(out).ratio) == ("fusion", 5.0)
    bad = subprocess.run([sys.executable, "-m", "kind_tf.convert", "kind-tf1", "--decom", str(tmp_path / "nothing"),
                          "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "nothing" in bad.stderr
