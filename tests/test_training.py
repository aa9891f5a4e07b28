"""The staged trainer end to end on tiny generated data: 3 steps per stage, resume after SIGKILL,
MirroredStrategy equivalence, divergence handling and the CLI's user errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kind_tf.training import ConfigError, TrainConfig, Trainer, TrainingDiverged
from kind_tf.training.tasks import DecomTask
from kind_tf.weights import load_stage

REPO = Path(__file__).resolve().parents[1]
TINY = dict(batch_size=2, patch_size=16, save_every=1000, log_every=1, eval_every=1000, eval_images=2,
            eval_size=32, progress=False)


def write_pairs(root: Path, count: int, size=(32, 32), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    for sub in ("low", "high"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        # Smooth-ish scenes so that decompositions are not pure noise.
        base = rng.random((size[0] // 4, size[1] // 4, 3))
        high = np.kron(base, np.ones((4, 4, 1)))
        high = np.clip(high + 0.05 * rng.standard_normal(high.shape), 0, 1)
        Image.fromarray((high * 255).astype(np.uint8)).save(root / "high" / f"img{i:02d}.png")
        Image.fromarray((high * 40 + 3).astype(np.uint8)).save(root / "low" / f"img{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return write_pairs(root / "train", 6), write_pairs(root / "eval", 2, size=(24, 40), seed=1)


def env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}


def test_three_stages_end_to_end(tiny, tmp_path):
    train, evaluation = tiny
    run = tmp_path / "run"
    results = {}
    for stage in ("decom", "restore", "adjust"):
        config = TrainConfig(stage=stage, data=str(train), eval_data=str(evaluation), run_dir=str(run), steps=3,
                             **{**TINY, "eval_every": 3})
        results[stage] = Trainer(config).run()
        assert results[stage].final_step == 3 and results[stage].status == "completed"
        assert np.isfinite(results[stage].losses["total"])
        assert (run / stage / "ckpt" / "checkpoint").is_file()
        assert list((run / stage / "tb").iterdir())
        assert (run / "weights" / f"{stage}.weights.h5").is_file()
    assert set(results["decom"].losses) == {"recon_low", "recon_high", "equal_r", "mutual_i", "mutual_input_low",
                                            "mutual_input_high", "total"}
    assert set(results["restore"].losses) == {"mse", "grad", "ssim", "total"}
    assert "restored/psnr" in results["restore"].eval_metrics
    assert "pipeline_ratio5/psnr" in results["adjust"].eval_metrics   # all stages exist now
    # The decompositions were computed once and shared by restore and adjust.
    caches = list((run / "cache").iterdir())
    assert len(caches) == 1 and len(list(caches[0].glob("*.npy"))) == 6
    # The exported folder is what KinD.from_weights loads.
    from kind_tf.inference import KinD
    out = KinD.from_weights(run / "weights").enhance(np.full((20, 24, 3), 30, np.uint8))
    assert out.shape == (20, 24, 3)
    # Re-running a finished stage is a no-op; resuming with another seed is refused.
    result = Trainer(TrainConfig(stage="adjust", data=str(train), run_dir=str(run), steps=3, **TINY)).run()
    assert result.final_step == 3
    with pytest.raises(ConfigError, match="seed 0"):
        Trainer(TrainConfig(stage="adjust", data=str(train), run_dir=str(run), steps=4, seed=1, **TINY)).run()


def test_improved_unet_backbone_trains_with_sad_and_reloads(tiny, tmp_path):
    """--backbone improved_unet: the SAD regulariser joins the loss, and the weights folder rebuilds the
    same network (class and config) for inference without extra flags."""
    train, _ = tiny
    run = tmp_path / "run"
    Trainer(TrainConfig(stage="decom", data=str(train), run_dir=str(run), steps=1, **TINY)).run()
    backbone_config = {"fpn": False, "sad_weight": 0.5}
    result = Trainer(TrainConfig(stage="restore", data=str(train), run_dir=str(run), steps=2,
                                 backbone="improved_unet", backbone_config=backbone_config, **TINY)).run()
    assert set(result.losses) == {"mse", "grad", "ssim", "sad", "total"}
    assert result.losses["total"] == pytest.approx(
        result.losses["mse"] + result.losses["grad"] + result.losses["ssim"] + result.losses["sad"], rel=1e-5)
    from kind_tf.models import ImprovedUNet
    from kind_tf.weights import load_stage
    restore = load_stage(run / "weights", "restore")
    assert isinstance(restore, ImprovedUNet)
    assert restore.get_config()["fpn"] is False and restore.get_config()["sad_weight"] == 0.5
    with pytest.raises(ConfigError, match="backbone"):
        Trainer(TrainConfig(stage="restore", data=str(train), run_dir=str(tmp_path / "other"), steps=1,
                            decom_weights=str(run / "weights"), backbone="vgg", **TINY)).run()


def test_learning_rate_schedule_in_steps():
    from kind_tf.training.config import PRESETS
    from kind_tf.training.trainer import learning_rate_schedule
    schedule = learning_rate_schedule(PRESETS["original"]["restore"], steps_per_epoch=86, total_steps=86000)
    # optimizer.iterations = finished steps; the lr halves from 0-based step 800·86 on.
    for iterations, lr in [(0, 1e-4), (800 * 86 - 1, 1e-4), (800 * 86, 5e-5), (1250 * 86, 2.5e-5),
                           (1500 * 86, 1e-5)]:
        assert float(schedule(iterations)) == pytest.approx(lr)
    cpu = learning_rate_schedule(PRESETS["cpu"]["restore"], steps_per_epoch=86, total_steps=2000)
    assert float(cpu(1599)) == pytest.approx(1e-4) and float(cpu(1600)) == pytest.approx(5e-5)
    assert learning_rate_schedule(PRESETS["original"]["decom"], 34, 68000) == 1e-4


def test_steps_keep_the_original_lr_decay_at_the_same_fraction_of_the_run():
    from kind_tf.training.trainer import learning_rate_schedule
    # --steps 7500 on restore: "÷2 after epoch 800 of 1000" becomes ÷2 from step 6000 (80 %), not
    # step 68,800 (never reached); --epochs keeps the original's epoch boundaries.
    recipe = TrainConfig(stage="restore", data="d", steps=7500).recipe()
    assert recipe.lr_decay_epochs == () and recipe.lr_decay_fractions == (0.8, 1.25, 1.5)
    schedule = learning_rate_schedule(recipe, steps_per_epoch=86, total_steps=7500)
    assert float(schedule(5999)) == pytest.approx(1e-4) and float(schedule(6000)) == pytest.approx(5e-5)
    assert float(schedule(7499)) == pytest.approx(5e-5)
    by_epochs = TrainConfig(stage="restore", data="d", epochs=900).recipe()
    assert by_epochs.lr_decay_epochs == (800, 1250, 1500) and by_epochs.lr_decay_fractions == ()
    assert TrainConfig(stage="decom", data="d", steps=100).recipe().lr_decay_fractions == ()


def test_restore_without_decom_weights_is_a_user_error(tiny, tmp_path):
    config = TrainConfig(stage="restore", data=str(tiny[0]), run_dir=str(tmp_path), steps=1, **TINY)
    with pytest.raises(ConfigError, match="no decom weights"):
        Trainer(config).run()


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tiny, tmp_path):
    train = tiny[0]
    killed = tmp_path / "killed"
    command = [sys.executable, str(REPO / "train.py"), "--stage", "decom", "--data", str(train), "--run-dir",
               str(killed), "--steps", "500", "--save-every", "2", "--batch-size", "2", "--patch-size", "16",
               "--seed", "7", "--no-progress", "--eval-every", "1000"]
    process = subprocess.Popen(command, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt_dir = killed / "decom" / "ckpt"
    deadline = time.time() + 60
    try:
        while time.time() < deadline and process.poll() is None:
            latest = tf.train.latest_checkpoint(str(ckpt_dir))
            if latest and int(latest.rsplit("-", 1)[1]) >= 4:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    saved = int(tf.train.latest_checkpoint(str(ckpt_dir)).rsplit("-", 1)[1])
    assert 4 <= saved < 500

    common = dict(stage="decom", data=str(train), steps=saved + 1, seed=7, **TINY)
    resumed = Trainer(TrainConfig(run_dir=str(killed), **common)).run()
    assert resumed.start_step == saved and resumed.final_step == saved + 1
    fresh = Trainer(TrainConfig(run_dir=str(tmp_path / "fresh"), **common)).run()
    assert fresh.start_step == 0
    for name, value in fresh.losses.items():
        assert abs(resumed.losses[name] - value) <= 1e-6, (name, resumed.losses[name], value)


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from kind_tf.losses import kind
    from kind_tf.models import DecomNet
    from kind_tf.training import TrainConfig, Trainer
    from kind_tf.weights import load_stage

    data, run = sys.argv[1], sys.argv[2]
    out = {}
    strategies = {"default": tf.distribute.get_strategy(),
                  "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])}
    for name, strategy in strategies.items():
        config = TrainConfig(stage="decom", data=data, run_dir=f"{run}/{name}", steps=3, batch_size=4, patch_size=16,
                             seed=3, save_every=1000, log_every=1, eval_every=1000, progress=False)
        result = Trainer(config, strategy=strategy).run()
        weights = load_stage(f"{run}/{name}/weights", "decom").get_weights()
        out[name] = {"losses": result.losses, "weights": [w.tolist() for w in weights]}

    # Gradients of the decom loss (batch-global gradient normalisation!) summed over replicas equal the
    # one-device gradients on the global batch.
    rng = np.random.default_rng(0)
    low, high = (tf.constant(rng.random((4, 16, 16, 3)), tf.float32) for _ in range(2))
    grads = {}
    for name, strategy in strategies.items():
        with strategy.scope():
            model = DecomNet()
            model(tf.zeros([1, 8, 8, 3]))
        if name == "default":
            initial = model.get_weights()
        else:
            model.set_weights(initial)

        def replica(lo, hi):
            with tf.GradientTape() as tape:
                terms = kind.decom_losses(lo, hi, *model(lo), *model(hi))
                loss = tf.nn.compute_average_loss(terms["total"], global_batch_size=4)
            g = tape.gradient(loss, model.trainable_variables)
            return tf.distribute.get_replica_context().all_reduce("sum", g)

        n = strategy.num_replicas_in_sync
        def split(x):
            return strategy.experimental_distribute_values_from_function(
                lambda ctx: x[ctx.replica_id_in_sync_group * (4 // n):(ctx.replica_id_in_sync_group + 1) * (4 // n)])
        result = tf.function(lambda a, b: strategy.run(replica, args=(a, b)))(split(low), split(high))
        grads[name] = [strategy.experimental_local_results(g)[0].numpy().tolist() for g in result]
    out["grads"] = grads
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.slow
def test_mirrored_strategy_matches_default(tiny, tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    completed = subprocess.run([sys.executable, str(script), str(tiny[0]), str(tmp_path / "runs")], env=env(),
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = json.loads(completed.stdout.split("RESULT", 1)[1])
    for name, value in out["default"]["losses"].items():
        assert abs(out["mirrored"]["losses"][name] - value) <= 1e-5, name
    for a, b in zip(out["default"]["weights"], out["mirrored"]["weights"]):
        np.testing.assert_allclose(np.array(b), np.array(a), atol=1e-5)
    for a, b in zip(out["grads"]["default"], out["grads"]["mirrored"]):
        a, b = np.array(a), np.array(b)
        np.testing.assert_allclose(b, a, atol=1e-5 * max(1.0, np.abs(a).max()))


class ExplodingDecomTask(DecomTask):
    def compute_losses(self, model, batch, training=True):
        terms = super().compute_losses(model, batch, training)
        terms["total"] = terms["total"] * np.float32("inf")
        return terms


def test_non_finite_loss_stops_and_keeps_last_checkpoint(tiny, tmp_path):
    common = dict(stage="decom", data=str(tiny[0]), run_dir=str(tmp_path), **{**TINY, "save_every": 1})
    Trainer(TrainConfig(steps=2, **common)).run()
    with pytest.raises(TrainingDiverged, match=r"not finite at step 3.*last good checkpoint: step 2"):
        Trainer(TrainConfig(steps=5, **common), task=ExplodingDecomTask()).run()
    assert tf.train.latest_checkpoint(str(tmp_path / "decom" / "ckpt")).endswith("ckpt-2")
    assert load_stage(tmp_path / "weights", "decom") is not None


def test_cli_unpaired_files_error(tmp_path):
    data = write_pairs(tmp_path / "data", 2)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(data / "low" / "stray.png")
    completed = subprocess.run([sys.executable, str(REPO / "train.py"), "--stage", "decom", "--data", str(data),
                                "--run-dir", str(tmp_path / "run")], env=env(), capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 2
    errors = [line for line in completed.stderr.splitlines() if line.startswith("train.py: error")]
    assert len(errors) == 1 and "low/stray.png" in errors[0] and "unpaired" in errors[0]
    assert "Traceback" not in completed.stderr


def _free_ports(count):
    import socket
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("KIND_TF_SLOW_TESTS"),
                    reason="two-worker MultiWorkerMirroredStrategy run (~40 s); set KIND_TF_SLOW_TESTS=1")
def test_multiworker_two_processes_match_default(tiny, tmp_path):
    train = tiny[0]
    args = ["--stage", "decom", "--data", str(train), "--steps", "3", "--batch-size", "4", "--patch-size", "16",
            "--seed", "5", "--no-progress", "--eval-every", "1000"]
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [sys.executable, str(REPO / "train.py"), *args, "--run-dir", str(tmp_path / "multi"),
             "--strategy", "multiworker"], env={**env(), "TF_CONFIG": json.dumps(tf_config)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=240) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    single = subprocess.run([sys.executable, str(REPO / "train.py"), *args, "--run-dir", str(tmp_path / "single"),
                             "--strategy", "default"], env=env(), capture_output=True, text=True, timeout=240)
    assert single.returncode == 0, single.stderr[-3000:]
    # Only the chief (worker 0) wrote checkpoints and weights; no temporary worker folders remain.
    assert not list((tmp_path / "multi" / "decom").glob("ckpt-tmp-*"))
    multi = load_stage(tmp_path / "multi" / "weights", "decom").get_weights()
    reference = load_stage(tmp_path / "single" / "weights", "decom").get_weights()
    for a, b in zip(reference, multi):
        np.testing.assert_allclose(b, a, atol=1e-5)
    loss = lambda text: float(text.split("total=")[1].split()[0])
    assert abs(loss(outputs[0][0]) - loss(single.stdout)) <= 1e-5


def test_mean_scores_average_per_key_with_psnr_and_ssim_keys():
    from kind_tf.training.tasks import MeanScores

    scores = MeanScores()
    scores.add("brightness/input", 0.25)
    scores.add("brightness/input", np.float32(0.75))
    out = np.full((1, 16, 16, 3), 0.5, np.float32)
    scores.add_psnr_ssim("restored", out, out + 0.1)        # MSE 0.01 → PSNR 20 dB
    scores.add_psnr_ssim("restored", out, out)               # identical → PSNR inf in tf.image.psnr
    means = scores.means()
    assert set(means) == {"brightness/input", "restored/psnr", "restored/ssim"}
    assert means["brightness/input"] == 0.5
    assert means["restored/psnr"] == np.inf
    single = MeanScores()
    single.add_psnr_ssim("restored", out, out + 0.1)
    assert single.means()["restored/psnr"] == pytest.approx(20.0, abs=1e-4)
    assert 0.0 < single.means()["restored/ssim"] < 1.0


def test_training_refuses_frozen_weights_setting(tiny, tmp_path, monkeypatch):
    """TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1 (kind-tf's inference commands set it) would make oneDNN keep the first
    filters it sees: a training process with it set stops with one clear line before any step."""
    from kind_tf._quiet import FROZEN_WEIGHTS_ENV

    monkeypatch.setenv(FROZEN_WEIGHTS_ENV, "1")
    config = TrainConfig(stage="decom", data=str(tiny[0]), run_dir=str(tmp_path), steps=1, **TINY)
    with pytest.raises(ConfigError, match=f"{FROZEN_WEIGHTS_ENV}=1 is set"):
        Trainer(config).run()
    assert not (tmp_path / "decom" / "ckpt").exists()
    monkeypatch.setenv(FROZEN_WEIGHTS_ENV, "0")
    assert Trainer(config).run().final_step == 1
