"""The weights decide their default recipe (fusion or recomposition, ratio): API, enhance.py, evaluate.py, export."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kind_tf.inference import KinD, default_weights_dir
from kind_tf.weights import (
    ORIGINAL_RECIPE,
    STAGES,
    InferenceRecipe,
    WeightsError,
    build_stage,
    read_config,
    read_recipe,
    save_weights,
    write_recipe,
)


@pytest.fixture(scope="module")
def networks():
    return {stage: build_stage(stage) for stage in STAGES}


@pytest.fixture()
def plain_weights(networks, tmp_path):
    """A weights folder that records no recipe (as older folders and training runs)."""
    return save_weights(tmp_path / "plain", networks)


@pytest.fixture()
def recompose_weights(networks, tmp_path):
    """The same networks, recording the recipe R̂·L̂ at a fixed ratio 2."""
    out = save_weights(tmp_path / "recompose", networks)
    write_recipe(out, InferenceRecipe(output="recompose", ratio=2.0))
    return out


def image(seed=0, size=(24, 40)):
    return np.random.default_rng(seed).integers(0, 60, (*size, 3), dtype=np.uint8)


def test_a_folder_without_recipe_runs_the_original_evaluate_py(plain_weights):
    assert read_recipe(plain_weights) == ORIGINAL_RECIPE
    kind = KinD.from_weights(plain_weights)
    assert (kind.fusion, kind.default_ratio, kind.normalize) == (True, 5.0, True)


def test_the_shipped_weights_default_to_their_best_measured_recipe():
    """checkpoints/kind: R̂·L̂ with the auto ratio (card: 19.50 dB / 0.725 vs 15.24 / 0.655 fused at ratio 5)."""
    recipe = read_recipe(default_weights_dir())
    assert (recipe.output, recipe.ratio, recipe.auto_target, recipe.normalize) == ("recompose", "auto", 0.49, True)


def test_the_recipe_is_the_default_of_the_python_api_and_can_be_overridden(networks, recompose_weights):
    pixels = image(1)
    default = KinD.from_weights(recompose_weights).enhance(pixels)
    by_hand = KinD(networks["decom"], networks["restore"], networks["adjust"], fusion=False).enhance(pixels, ratio=2.0)
    np.testing.assert_allclose(default, by_hand, atol=1e-6)
    fused = KinD.from_weights(recompose_weights, fusion=True).enhance(pixels)
    assert np.abs(fused - default).max() > 1e-3
    other_ratio = KinD.from_weights(recompose_weights).enhance(pixels, ratio=5.0)
    np.testing.assert_allclose(other_ratio, KinD.from_weights(recompose_weights, ratio=5.0).enhance(pixels), atol=1e-6)
    assert np.abs(other_ratio - default).max() > 1e-3


def test_a_bad_recipe_is_one_line_naming_the_file(plain_weights):
    config = read_config(plain_weights)
    config["recipe"] = {"output": "blend", "ratio": 5.0}
    (plain_weights / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError) as error:
        read_recipe(plain_weights)
    message = str(error.value)
    assert "config.json" in message and "blend" in message and "\n" not in message
    config["recipe"] = {"output": "fusion", "ratio": "bright"}
    (plain_weights / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="ratio"):
        read_recipe(plain_weights)


def test_saving_more_stages_keeps_the_recipe(networks, recompose_weights):
    save_weights(recompose_weights, {"restore": networks["restore"]})
    assert read_recipe(recompose_weights).output == "recompose"


def run_cli(repo_root, script, *args):
    return subprocess.run([sys.executable, str(repo_root / script), *map(str, args)], capture_output=True,
                          text=True, cwd=repo_root, timeout=300)


@pytest.mark.slow
def test_enhance_py_follows_the_recipe_unless_told_otherwise(repo_root, recompose_weights, tmp_path):
    pixels = image(3)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    kind = KinD.from_weights(recompose_weights)
    expected = {"default": kind.enhance(pixels),
                "fused": KinD.from_weights(recompose_weights, fusion=True).enhance(pixels),
                "ratio5": kind.enhance(pixels, ratio=5.0)}
    for name, flags in {"default": [], "fused": ["--fusion"], "ratio5": ["--ratio", "5"]}.items():
        done = run_cli(repo_root, "enhance.py", tmp_path / "photo.png", "-o", tmp_path / name,
                       "--weights", recompose_weights, *flags)
        assert done.returncode == 0, done.stderr
        written = np.asarray(Image.open(tmp_path / name / "photo.png")).astype(int)
        assert np.abs(written - np.round(expected[name] * 255)).max() <= 1, name
    assert "no fusion" in run_cli(repo_root, "enhance.py", tmp_path / "photo.png", "-o", tmp_path / "again",
                                  "--weights", recompose_weights).stderr


def test_evaluate_without_ratio_runs_the_weights_recipe(recompose_weights, tmp_path):
    from kind_tf.evaluation import run_evaluation

    data = tmp_path / "pairs"
    for sub, seed in (("low", 5), ("high", 6)):
        (data / sub).mkdir(parents=True)
        Image.fromarray(image(seed, (32, 32))).save(data / sub / "a.png")
    summary = run_evaluation(["kind"], data, weights=[str(recompose_weights)], out=tmp_path / "eval", grid=0,
                             progress=False, log=lambda _: None)
    (entry,) = summary["methods"]
    assert (entry["label"], entry["output"], entry["ratio_protocol"]) == ("kind (ratio 2, no fusion)", "recompose",
                                                                          "fixed")
    summary = run_evaluation(["kind"], data, weights=[str(recompose_weights)], out=tmp_path / "eval2", grid=0,
                             progress=False, log=lambda _: None, ratio=["auto"], fusion=True)
    (entry,) = summary["methods"]
    assert (entry["label"], entry["output"]) == ("kind (ratio auto)", "fusion")


@pytest.mark.slow
def test_the_export_follows_the_recipe_unless_told_otherwise(recompose_weights, tmp_path):
    """python -m kind_tf.export kind: the SavedModel's last step is the weights' (here R̂·L̂); --fusion overrides."""
    import tensorflow as tf

    pixels = image(4).astype(np.float32) / 255.0
    for flags, fusion in (([], False), (["--fusion"], True)):
        out = tmp_path / f"export_{fusion}"
        done = subprocess.run([sys.executable, "-m", "kind_tf.export", "kind", "--weights", str(recompose_weights),
                               "--out", str(out), *flags], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        served = tf.saved_model.load(str(out)).signatures["enhance"](image=tf.constant(pixels[None]),
                                                                      ratio=tf.constant([2.0]))
        expected = KinD.from_weights(recompose_weights, fusion=fusion).enhance(pixels, ratio=2.0)
        np.testing.assert_allclose(served["enhanced"].numpy()[0], expected, atol=1e-5)
