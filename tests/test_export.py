"""SavedModel / TFLite export: reloaded in a fresh process without kind_tf, outputs match the Keras pipeline."""

import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kind_tf.export import export_kind, export_stage, export_zero_dce, export_zero_dce_tflite
from kind_tf.inference import KinD
from kind_tf.models.zero_dce import ZeroDCEPlusPlus
from kind_tf.weights import STAGES, build_stage, save_weights

SERVE_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    assert "kind_tf" not in sys.modules
    model = tf.saved_model.load(sys.argv[1])
    enhance = model.signatures["enhance"]
    inputs = np.load(sys.argv[2])
    results = {}
    for key in ("small", "large"):
        out = enhance(image=tf.constant(inputs[key]), ratio=tf.constant(inputs["ratio"]))
        results.update({f"{key}_{name}": value.numpy() for name, value in out.items()})
    assert "kind_tf" not in sys.modules
    np.savez(sys.argv[3], **results)
""")


@pytest.fixture(scope="module")
def kind(tmp_path_factory):
    keras.utils.set_random_seed(7)
    weights = save_weights(tmp_path_factory.mktemp("weights"), {stage: build_stage(stage) for stage in STAGES})
    return KinD.from_weights(weights)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_kind_savedmodel_matches_keras_in_a_fresh_process(kind, tmp_path, dtype):
    export = export_kind(kind, tmp_path / "saved_model", dtype=dtype)
    rng = np.random.default_rng(0)
    images = {"small": rng.random((2, 24, 40, 3), dtype=np.float32),
              "large": rng.random((2, 37, 53, 3), dtype=np.float32)}
    ratio = np.array([5.0, 2.0], np.float32)  # two ratios in one batch
    if dtype == "uint8":
        images = {key: (value * 255).astype(np.uint8) for key, value in images.items()}
    np.savez(tmp_path / "inputs.npz", ratio=ratio, **images)
    script = tmp_path / "serve.py"
    script.write_text(SERVE_SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(export), str(tmp_path / "inputs.npz"),
                           str(tmp_path / "outputs.npz")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    served = np.load(tmp_path / "outputs.npz")
    for key, batch in images.items():
        expected = kind.forward(tf.cast(batch, tf.float32) / (255.0 if dtype == "uint8" else 1.0), ratio)
        for name, ours in (("enhanced", "enhanced"), ("illumination", "adjusted_illumination"),
                           ("reflectance", "restored_reflectance")):
            got = served[f"{key}_{name}"]
            assert got.shape == expected[ours].shape
            if dtype == "uint8":
                assert got.dtype == np.uint8
                reference = np.round(np.clip(expected[ours].numpy(), 0, 1) * 255)
                assert np.abs(got.astype(np.float64) - reference).max() <= 1  # rounding at .5 boundaries
            else:
                np.testing.assert_allclose(got, expected[ours].numpy(), atol=1e-5, rtol=0)
    # The signature's two ratios gave two different adjusted illuminations.
    assert not np.allclose(served["small_illumination"][0], served["small_illumination"][1])


@pytest.mark.slow
def test_kindpp_export_through_the_command_line_matches_its_pipeline(tmp_path):
    """``kind-tf export kindpp``: the KinD++ pipeline (MSIA restoration, its default fusion without the adjusted
    illumination) as a SavedModel with KinD's (image, ratio) signature, any size, served without kind_tf."""
    from kind_tf import cli
    from kind_tf.kindpp import KinDPlusPlus
    from kind_tf.weights import KINDPP_RECIPE

    keras.utils.set_random_seed(3)
    models = {"decom": build_stage("decom"), "restore": build_stage("restore", "MSIANet"),
              "adjust": build_stage("adjust")}
    weights = save_weights(tmp_path / "kindpp", models, method="kindpp", recipe=KINDPP_RECIPE)
    assert cli.main(["export", "kindpp", "--weights", str(weights), "--out", str(tmp_path / "saved_model")]) == 0
    rng = np.random.default_rng(1)
    images = {"small": rng.random((1, 24, 40, 3), dtype=np.float32),
              "large": rng.random((1, 37, 53, 3), dtype=np.float32)}    # not multiples of 4
    ratio = np.array([5.0], np.float32)
    np.savez(tmp_path / "inputs.npz", ratio=ratio, **images)
    (tmp_path / "serve.py").write_text(SERVE_SCRIPT)
    done = subprocess.run([sys.executable, str(tmp_path / "serve.py"), str(tmp_path / "saved_model"),
                           str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz")], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    served = np.load(tmp_path / "outputs.npz")
    pipeline = KinDPlusPlus.from_weights(weights)
    for key, batch in images.items():
        expected = pipeline.forward(tf.constant(batch), ratio)
        assert served[f"{key}_enhanced"].shape == batch.shape
        np.testing.assert_allclose(served[f"{key}_enhanced"], expected["enhanced"].numpy(), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_saved_model_cli_lists_the_signature(kind, tmp_path):
    cli = shutil.which("saved_model_cli")
    if cli is None:
        pytest.skip("saved_model_cli is not on PATH")
    export = export_kind(kind, tmp_path / "saved_model")
    shown = subprocess.run([cli, "show", "--all", "--dir", str(export)], capture_output=True, text=True, timeout=300)
    assert "signature_def['enhance']" in shown.stdout
    assert "ratio" in shown.stdout and "outputs['illumination']" in shown.stdout


def test_single_stage_export(kind, tmp_path):
    export = export_stage(kind.decom, "decom", tmp_path / "decom")
    loaded = tf.saved_model.load(str(export))  # keep a reference: its variables die with it
    served = loaded.serve(tf.zeros([1, 9, 11, 3]))
    reflectance, illumination = kind.decom(tf.zeros([1, 9, 11, 3]))
    np.testing.assert_allclose(served["illumination"].numpy(), illumination.numpy(), atol=1e-6)


def test_zero_dce_savedmodel_and_tflite_match_keras(tmp_path):
    keras.utils.set_random_seed(3)
    model = ZeroDCEPlusPlus(scale_factor=12)
    image = np.random.default_rng(1).random((1, 61, 90, 3), dtype=np.float32) * 0.4
    expected = np.clip(model(image).numpy(), 0, 1)
    loaded = tf.saved_model.load(str(export_zero_dce(model, tmp_path / "sm")))
    served = loaded.enhance(tf.constant(image))
    np.testing.assert_allclose(served["enhanced"].numpy(), expected, atol=1e-5)

    interpreter = tf.lite.Interpreter(model_path=str(export_zero_dce_tflite(model, tmp_path / "z.tflite")))
    for height, width in ((61, 90), (48, 36)):
        crop = np.ascontiguousarray(image[:, :height, :width])
        detail = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(detail["index"], [1, height, width, 3])
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], crop)
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        np.testing.assert_allclose(got, np.clip(model(crop).numpy(), 0, 1), atol=1e-3)
