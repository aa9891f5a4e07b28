"""train.py --init-weights (fine-tuning) and --degrade jpeg:Q1-Q2 (degradation-aware restore training)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_training import TINY, write_pairs

from kind_tf.data.degrade import JpegDegradation, jpeg_reencode, parse_degradation
from kind_tf.training import ConfigError, TrainConfig, Trainer
from kind_tf.weights import load_stage, save_weights


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_pairs(tmp_path_factory.mktemp("tiny") / "train", 6)


def test_degradation_specs():
    assert parse_degradation(None) is None and parse_degradation("none") is None
    assert parse_degradation("jpeg:20-60") == JpegDegradation(20, 60)
    assert parse_degradation("JPEG:40") == JpegDegradation(40, 40)
    for bad in ("blur:3", "jpeg:60-20", "jpeg:0", "jpeg:20-99"):
        with pytest.raises(ValueError):
            parse_degradation(bad)


def test_jpeg_copies_are_a_pure_function_of_the_seed_and_lose_detail():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 60, (32, 48, 3), dtype=np.uint8) for _ in range(5)]
    degradation = JpegDegradation(10, 30)
    qualities = degradation.qualities(5, seed=3)
    assert np.array_equal(qualities, degradation.qualities(5, seed=3))
    assert not np.array_equal(qualities, degradation.qualities(5, seed=4))
    assert qualities.min() >= 10 and qualities.max() <= 30
    copies = degradation.apply(images, seed=3)
    for image, copy, quality in zip(images, copies, qualities):
        assert copy.shape == image.shape and copy.dtype == np.uint8
        np.testing.assert_array_equal(copy, jpeg_reencode(image, int(quality)))
        assert np.abs(copy.astype(int) - image).mean() > 1      # noise patterns do not survive quality ≤ 30


def test_init_weights_starts_a_fresh_run_from_a_weights_folder(tiny, tmp_path):
    """With lr 1e-12 one Adam step moves each weight by ~1e-12: the exported restore net equals the source."""
    run = tmp_path / "run"
    Trainer(TrainConfig(stage="decom", data=str(tiny), run_dir=str(run), steps=1, **TINY)).run()
    first = Trainer(TrainConfig(stage="restore", data=str(tiny), run_dir=str(run), steps=2, **TINY)).run()
    source = tmp_path / "source"
    restore = load_stage(run / "weights", "restore")
    restore.set_weights([w + 0.01 for w in restore.get_weights()])   # unlike any fresh initialisation
    save_weights(source, {"restore": restore})
    tuned = tmp_path / "tuned"
    Trainer(TrainConfig(stage="restore", data=str(tiny), run_dir=str(tuned), steps=1, lr=1e-12,
                        decom_weights=str(run / "weights"), init_weights=str(source), **TINY)).run()
    before = load_stage(source, "restore").get_weights()
    after = load_stage(tuned / "weights", "restore").get_weights()
    assert first.final_step == 2
    assert max(float(np.abs(a - b).max()) for a, b in zip(before, after)) < 1e-6
    scratch = tmp_path / "scratch"
    Trainer(TrainConfig(stage="restore", data=str(tiny), run_dir=str(scratch), steps=1, lr=1e-12,
                        decom_weights=str(run / "weights"), **TINY)).run()
    fresh = load_stage(scratch / "weights", "restore").get_weights()
    assert max(float(np.abs(a - b).max()) for a, b in zip(before, fresh)) > 5e-3
    with pytest.raises(ConfigError, match="--init-weights"):
        Trainer(TrainConfig(stage="adjust", data=str(tiny), run_dir=str(tmp_path / "x"), steps=1,
                            decom_weights=str(run / "weights"), init_weights=str(source), **TINY)).run()


def test_degrade_doubles_the_restore_set_with_its_own_cache(tiny, tmp_path):
    run = tmp_path / "run"
    Trainer(TrainConfig(stage="decom", data=str(tiny), run_dir=str(run), steps=1, **TINY)).run()
    Trainer(TrainConfig(stage="restore", data=str(tiny), run_dir=str(run), steps=1, **TINY)).run()
    degraded = Trainer(TrainConfig(stage="restore", data=str(tiny), run_dir=str(tmp_path / "jpeg"), steps=1,
                                   decom_weights=str(run / "weights"), degrade="jpeg:20-40", **TINY))
    degraded.run()
    caches = sorted((tmp_path / "jpeg" / "cache").iterdir())
    (manifest,) = [json.loads((c / "manifest.json").read_text()) for c in caches]
    assert len(manifest["pairs"]) == 12 and manifest["variant"] == "jpeg:20-40|seed=0"
    clean = json.loads(next((run / "cache").iterdir()).joinpath("manifest.json").read_text())
    assert len(clean["pairs"]) == 6 and clean["variant"] == ""
    with pytest.raises(ConfigError, match="--degrade"):
        Trainer(TrainConfig(stage="decom", data=str(tiny), run_dir=str(tmp_path / "d"), steps=1, degrade="jpeg:30",
                            **TINY)).run()
    with pytest.raises(ConfigError, match="--degrade"):
        Trainer(TrainConfig(stage="restore", data=str(tiny), run_dir=str(tmp_path / "e"), steps=1,
                            decom_weights=str(run / "weights"), degrade="blur:3", **TINY)).run()
