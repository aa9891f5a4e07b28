"""Stage training on the JAX backend: the same trainer, tasks, data and weights folders as on TensorFlow.

- one step from the same initial weights on the same batch (the numpy sampling both routes share) gives
  the same losses and, after one Adam update, the same weights as TensorFlow (≤ 1e-5 wherever the
  gradient is not at float32 noise level, see assert_same_adam_step), per stage;
- kill -9 during a JAX run, re-run the same command: it resumes at the last saved step and the next
  loss equals an uninterrupted run's (≤ 1e-6);
- the weights folder a JAX run exports loads on TensorFlow.

Each JAX side runs in a subprocess (a process has one Keras backend).
"""

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
from test_training import TINY, write_pairs

REPO = Path(__file__).resolve().parents[1]
STAGES = ("decom", "restore", "adjust")
ALL_STAGES = (*STAGES, "zerodce")   # Zero-DCE++: unpaired images, zero-reference losses, torch-style Adam
pytest.importorskip("jax")


def jax_env() -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    """Tiny pairs and an initial weights folder with freshly initialised decom, restore and adjust nets."""
    from kind_tf.weights import build_model, build_stage, save_weights

    root = tmp_path_factory.mktemp("jax_training")
    train = write_pairs(root / "train", 6)
    models = {stage: build_stage(stage) for stage in STAGES}
    for stage, model in models.items():
        build_model(model, stage)
    initial = root / "initial"
    save_weights(initial, models, {})
    from kind_tf.training.tasks import ZeroDCETask

    task = ZeroDCETask()
    task.export(initial / "zero_dce", task.build_model(), {})
    return train, initial


def stage_config(stage: str, train: Path, initial: Path, run: Path, steps: int = 1) -> dict:
    if stage == "zerodce":   # a folder of unpaired images (the low ones), resized to the 16-px "patch"
        return dict(stage=stage, data=str(train / "low"), run_dir=str(run), steps=steps,
                    init_weights=str(initial / "zero_dce"), seed=5, **TINY)
    return dict(stage=stage, data=str(train), run_dir=str(run), steps=steps, init_weights=str(initial),
                decom_weights=str(initial), seed=5, **TINY)


def exported_weights(stage: str, run: Path) -> list:
    if stage == "zerodce":
        from kind_tf.convert.zero_dce_pth import load_zero_dce

        return load_zero_dce(run / "weights_zero_dce").get_weights()
    from kind_tf.weights import load_stage

    return load_stage(run / "weights", stage).get_weights()


def initial_weights(stage: str, initial: Path) -> list:
    from kind_tf.convert.zero_dce_pth import load_zero_dce
    from kind_tf.weights import load_stage

    return (load_zero_dce(initial / "zero_dce") if stage == "zerodce" else load_stage(initial, stage)).get_weights()


ONE_STEP = textwrap.dedent("""
    import json, sys
    from test_jax_training import ALL_STAGES, exported_weights, stage_config
    from pathlib import Path
    from kind_tf.training import TrainConfig, Trainer
    train, initial, run = (Path(p) for p in sys.argv[1:4])
    out = {}
    for stage in ALL_STAGES:
        result = Trainer(TrainConfig(**stage_config(stage, train, initial, run / stage))).run()
        weights = exported_weights(stage, run / stage)
        out[stage] = {"losses": result.losses, "weights": [w.tolist() for w in weights]}
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.slow
def test_one_jax_step_equals_one_tensorflow_step_per_stage(data, tmp_path):
    from kind_tf.training import TrainConfig, Trainer

    train, initial = data
    result = subprocess.run([sys.executable, "-c", ONE_STEP, str(train), str(initial), str(tmp_path / "jax")],
                            env=jax_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    jax = json.loads(result.stdout.split("RESULT", 1)[1])
    for stage in ALL_STAGES:
        run = tmp_path / "tf" / stage
        tensorflow = Trainer(TrainConfig(**stage_config(stage, train, initial, run))).run()
        assert set(tensorflow.losses) == set(jax[stage]["losses"])
        for name, value in tensorflow.losses.items():
            assert abs(jax[stage]["losses"][name] - value) <= 1e-5 * max(1.0, abs(value)), (stage, name)
        before = initial_weights(stage, initial)
        after = exported_weights(stage, run)
        assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before)), f"{stage}: the step changed nothing"
        assert_same_adam_step(before, after, [np.asarray(w) for w in jax[stage]["weights"]], stage)


def assert_same_adam_step(before: list, tensorflow: list, jax: list, stage: str) -> None:
    """Adam's first update is Δ = -lr·g/(|g| + ε) per element (m̂ = g, v̂ = g²; Keras folds the bias
    correction into an effective ε of the same order): ±lr for any gradient well above ε, so there the weights
    agree to float32 rounding (≤ 1e-5). Only where |g| is of the order of ε (gradients that are float32
    cancellation noise) the update is steep in g — d(Δ/lr)/dg = ε/(|g| + ε)² — and two backends' last-bit
    gradient differences can move it by a sizeable part of lr. Those elements are recognised by their update,
    |Δ| < 0.99·lr in both backends (|g| < 99ε), and must stay few (< 1 %) and within 2·lr (a flipped sign at
    most); every other element must agree to 1e-5."""
    steps_tf = [t - b for t, b in zip(tensorflow, before)]
    steps_jax = [j - b for j, b in zip(jax, before)]
    lr = max(float(np.abs(step).max()) for step in steps_tf)   # the first step saturates at ±lr for |g| ≫ ε
    assert lr > 0, stage
    differ = total = 0
    for step_tf, step_jax in zip(steps_tf, steps_jax):
        diff = np.abs(step_jax - step_tf)
        # both backends' steps below 0.99·lr: a gradient within ~100ε of zero in both
        unsaturated = (np.abs(step_tf) < 0.99 * lr) & (np.abs(step_jax) < 0.99 * lr)
        assert diff[~unsaturated].max(initial=0.0) <= 1e-5, stage
        assert diff.max(initial=0.0) <= 2 * lr + 1e-5, stage
        differ += int((diff > 1e-5).sum())
        total += diff.size
    assert differ <= 0.01 * total, (stage, differ, total)


@pytest.mark.slow
def test_jax_run_resumes_after_sigkill_and_its_weights_load_on_tensorflow(data, tmp_path):
    from kind_tf.training.engines import CHECKPOINT_FILE
    from kind_tf.weights import load_stage

    train, initial = data
    killed = tmp_path / "killed"
    command = [sys.executable, str(REPO / "train.py"), "--stage", "adjust", "--data", str(train), "--run-dir",
               str(killed), "--decom-weights", str(initial), "--steps", "2000", "--save-every", "1",
               "--batch-size", "2", "--patch-size", "16", "--seed", "5", "--no-progress", "--eval-every", "100000"]
    process = subprocess.Popen(command, env=jax_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = killed / "adjust" / "ckpt" / CHECKPOINT_FILE
    deadline = time.time() + 300

    def saved_step() -> int:
        try:
            with np.load(checkpoint) as saved:
                return int(saved["step"])
        except (OSError, ValueError, KeyError):
            return 0

    try:
        while time.time() < deadline and process.poll() is None and saved_step() < 3:
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    saved = saved_step()
    assert 3 <= saved < 2000
    # TensorFlow loads what the JAX run exported at its last save.
    assert load_stage(killed / "weights", "adjust").count_params() > 0

    script = textwrap.dedent("""
        import json, sys
        from kind_tf.training import TrainConfig, Trainer
        from test_training import TINY
        data, initial, killed, fresh, steps = sys.argv[1:6]
        common = dict(stage="adjust", data=data, decom_weights=initial, steps=int(steps), seed=5, **TINY)
        resumed = Trainer(TrainConfig(run_dir=killed, **common)).run()
        uninterrupted = Trainer(TrainConfig(run_dir=fresh, **common)).run()
        print("RESULT" + json.dumps({"resumed": [resumed.start_step, resumed.final_step, resumed.losses],
                                     "fresh": [uninterrupted.start_step, uninterrupted.losses]}))
    """)
    result = subprocess.run([sys.executable, "-c", script, str(train), str(initial), str(killed),
                             str(tmp_path / "fresh"), str(saved + 1)], env=jax_env(), capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT", 1)[1])
    start, final, resumed = out["resumed"]
    assert (start, final) == (saved, saved + 1) and out["fresh"][0] == 0
    for name, value in out["fresh"][1].items():
        assert abs(resumed[name] - value) <= 1e-6, (name, resumed[name], value)
    rows = (killed / "adjust" / "scalars.csv").read_text().splitlines()
    assert rows[0] == "step,name,value" and any(",loss/total," in row for row in rows[1:])
