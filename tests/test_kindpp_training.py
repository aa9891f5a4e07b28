"""KinD++'s three training stages on the shared trainer (RECIPE.md): their losses against hand-computed
values, the restoration's lr schedule, and decom → illumination → MSIA restoration end to end on tiny data,
into one weights folder that KinDPlusPlus and ``kind-tf enhance`` load."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops
from test_training import TINY, write_pairs

from kind_tf.losses import kind as kind_losses
from kind_tf.losses import kindpp as kindpp_losses
from kind_tf.training import TrainConfig, Trainer
from kind_tf.training.tasks import TASKS


def test_the_signed_gradient_is_the_difference_before_the_batch_min_max():
    # x-direction: out(i, j) = x(i+1, j+1) − x(i+1, j) on the zero-padded map; a 2×2 image [[1, 3], [2, 0]]
    # pads to rows/cols of zeros at the bottom/right: differences [[−2, 0], [0, 0]] (row 0 reads row 1:
    # 0 − 2 = −2, then 0 − 0) — so the raw map is [[−2, 0], [0, 0]] for signed, [[2, 0], [0, 0]] with |·|.
    image = np.array([[1.0, 3.0], [2.0, 0.0]], np.float32)[None, :, :, None]
    signed = ops.convert_to_numpy(kind_losses.gradient(image, "x", signed=True))[0, :, :, 0]
    absolute = ops.convert_to_numpy(kind_losses.gradient(image, "x"))[0, :, :, 0]
    epsilon = kind_losses.GRADIENT_EPSILON
    # (g − min) / (max − min + 1e-4): signed min −2, max 0; absolute min 0, max 2.
    np.testing.assert_allclose(signed, (np.array([[-2, 0], [0, 0]]) + 2) / (2 + epsilon), rtol=1e-6)
    np.testing.assert_allclose(absolute, np.array([[2, 0], [0, 0]]) / (2 + epsilon), rtol=1e-6)


def test_kindpp_losses_are_kinds_with_its_settings():
    rng = np.random.default_rng(0)
    low, high = (rng.random((2, 12, 12, 3), dtype=np.float32) for _ in range(2))
    r_low, r_high = (rng.random((2, 12, 12, 3), dtype=np.float32) for _ in range(2))
    i_low, i_high = (rng.random((2, 12, 12, 1), dtype=np.float32) for _ in range(2))
    ours = {k: ops.convert_to_numpy(v) for k, v in kindpp_losses.decom_losses(low, high, r_low, i_low, r_high,
                                                                               i_high).items()}
    kind = {k: ops.convert_to_numpy(v) for k, v in kind_losses.decom_losses(low, high, r_low, i_low, r_high,
                                                                             i_high).items()}
    # Same terms; only equal_R's weight differs: 0.009 instead of 0.01.
    # (float32 totals of ~3: the difference is exact to a few ulps of the total)
    np.testing.assert_allclose(ours["total"] - kind["total"], -0.001 * kind["equal_r"], atol=1e-6)
    assert set(ours) == set(kind)
    # Restoration: target (0.99·R)^1.2 and mse + (1 − SSIM), no gradient term.
    np.testing.assert_allclose(ops.convert_to_numpy(kindpp_losses.restore_target(np.full((1, 2, 2, 3), 0.5))),
                               (0.99 * 0.5) ** 1.2, rtol=1e-6)
    target = rng.random((2, 16, 16, 3), dtype=np.float32)
    restored = np.clip(target + 0.1 * rng.standard_normal(target.shape).astype(np.float32), 0, 1)
    terms = {k: ops.convert_to_numpy(v) for k, v in kindpp_losses.restore_losses(restored, target).items()}
    assert set(terms) == {"mse", "ssim", "total"}
    np.testing.assert_allclose(terms["mse"], ((restored - target) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(terms["total"], terms["mse"] + terms["ssim"], rtol=1e-6)


def test_restoration_lr_follows_the_original_epochs():
    from kind_tf.training.trainer import learning_rate_schedule

    recipe = TASKS["kindpp_restore"].recipes["original"]
    assert (recipe.batch_size, recipe.patch_size, recipe.epochs) == (10, 48, 2400)
    schedule = learning_rate_schedule(recipe, steps_per_epoch=10, total_steps=24000)
    # "e ≤ 300: 1e-4; e ≤ 500: 5e-5; e ≤ 1500: 2.5e-5; else 1.25e-5" with 0-based epochs e of 10 steps: the
    # optimizer's iteration count k (finished steps) is in epoch k // 10.
    for step, lr in ((3009, 1e-4), (3010, 5e-5), (5009, 5e-5), (5010, 2.5e-5), (15009, 2.5e-5), (15010, 1.25e-5)):
        assert float(schedule(step)) == pytest.approx(lr), step
    assert TASKS["kindpp_decom"].recipes["original"].epochs == 2500


@pytest.mark.slow
def test_three_kindpp_stages_fill_one_weights_folder_that_kindpp_loads(tmp_path):
    from kind_tf.kindpp import KinDPlusPlus
    from kind_tf.models import MSIANet
    from kind_tf.weights import load_stage, read_config

    train = write_pairs(tmp_path / "train", 4)
    evaluation = write_pairs(tmp_path / "eval", 2, size=(24, 40), seed=1)
    run = tmp_path / "run"
    results = {}
    for stage in ("kindpp_decom", "kindpp_illu", "kindpp_restore"):
        config = TrainConfig(stage=stage, data=str(train), eval_data=str(evaluation), run_dir=str(run), steps=2,
                             **{**TINY, "eval_every": 2})
        results[stage] = Trainer(config).run()
        assert results[stage].status == "completed" and np.isfinite(results[stage].losses["total"])
    assert set(results["kindpp_restore"].losses) == {"mse", "ssim", "total"}
    assert set(results["kindpp_illu"].losses) == {"mse", "grad", "total"}
    assert "pipeline_ratio5/psnr" in results["kindpp_restore"].eval_metrics
    folder = run / "weights_kindpp"
    config = read_config(folder)
    assert config["method"] == "kindpp" and set(config["stages"]) == {"decom", "adjust", "restore"}
    assert config["stages"]["restore"]["class"] == "MSIANet"
    assert config["recipe"]["adjustment"] is False     # a new KinD++ folder runs the original evaluate.py's default
    assert config["provenance"]["restore"]["step"] == 2 and "metrics" in config["provenance"]["restore"]
    restore = load_stage(folder, "restore")
    assert isinstance(restore, MSIANet)
    # Batch norm trained in training mode: its moving statistics left their initial 0 / 1.
    means = [v for v in restore.non_trainable_variables if "moving_mean" in v.path]
    assert means and any(np.abs(ops.convert_to_numpy(v)).max() > 0 for v in means)
    from kind_tf import methods

    assert methods.detect(folder).name == "kindpp"
    out = KinDPlusPlus.from_weights(folder).enhance(np.full((20, 24, 3), 30, np.uint8))
    assert out.shape == (20, 24, 3) and np.isfinite(out).all()
