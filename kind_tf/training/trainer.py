"""The one generic trainer: runs any :class:`~kind_tf.training.tasks.Task` under any strategy.

The loop is the same on every Keras backend; what differs — the step, the checkpoint format and the
scalar log — is the engine's (:mod:`kind_tf.training.engines`: TensorFlow with tf.distribute, or JAX).

Run folder layout (``--run-dir RUN``)::

    RUN/<stage>/config.json   the resolved options and recipe of the stage's run
    RUN/<stage>/ckpt/         TensorFlow: tf.train.Checkpoint (model, optimizer, step, seed) + CheckpointManager;
                              JAX: checkpoint.npz (the same state, written atomically)
    RUN/<stage>/tb/           TensorBoard (TensorFlow): every loss term, lr, steps/s, eval metrics, images
    RUN/<stage>/scalars.csv   the same scalars on JAX (step,name,value), images in RUN/<stage>/images/
    RUN/weights/              KinD's stages' exported weights (kind_tf.weights; KinD.from_weights loads it)
    RUN/weights_zero_dce/     the zerodce stage's (Task.weights_folder; enhance.py --method zerodce --weights ...)
    RUN/weights_kindpp/       KinD++'s stages'
    RUN/cache/                cached decompositions of the training set (restore / adjust stages)

Re-running the same command resumes from ``RUN/<stage>/ckpt``. Training batches are a pure function
of (seed, step) (see :mod:`kind_tf.data.sampling`), so a resumed run sees exactly the batches of an
uninterrupted one, and the Adam state, step and seed come back from the checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
from tqdm.auto import tqdm

from kind_tf._quiet import FROZEN_WEIGHTS_ENV
from kind_tf.data.sampling import Sampling
from kind_tf.training.config import ConfigError, StageRecipe, TrainConfig
from kind_tf.training.engines import make_engine
from kind_tf.training.optimizers import build_optimizer
from kind_tf.training.tasks import Task, TaskContext, make_task

log = logging.getLogger(__name__)

# Adam as the original's tf.train.AdamOptimizer (TF1 defaults; Keras' default epsilon is 1e-7).
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-8


class TrainingDiverged(RuntimeError):
    """The loss became NaN/Inf; the run stopped without saving (the last good checkpoint is kept)."""


@dataclass
class TrainResult:
    stage: str
    status: str                         # "completed" | "interrupted" | "time_limit"
    start_step: int
    final_step: int
    total_steps: int
    losses: dict[str, float] = field(default_factory=dict)
    steps_per_second: float = float("nan")
    checkpoint: str | None = None
    weights_dir: str | None = None
    signal: int | None = None
    eval_metrics: dict[str, float] = field(default_factory=dict)


def learning_rate_schedule(recipe: StageRecipe, steps_per_epoch: int, total_steps: int):
    """The recipe's lr: constant, or piecewise constant with boundaries given in epochs or fractions.

    "÷2 after epoch 800" means the lr is halved from step 800 · steps_per_epoch on (0-based steps,
    i.e. once 800 full epochs are done).
    """
    if recipe.lr_decay_epochs:
        boundaries = [epoch * steps_per_epoch for epoch in recipe.lr_decay_epochs]
    elif recipe.lr_decay_fractions:
        boundaries = [int(round(fraction * total_steps)) for fraction in recipe.lr_decay_fractions]
    else:
        return recipe.lr
    # PiecewiseConstantDecay switches when step > boundary; optimizer.iterations counts finished steps.
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [b - 1 for b in boundaries], [recipe.lr] + [recipe.lr * f for f in recipe.lr_decay_factors])


class _SignalCatcher:
    """Turns SIGINT / SIGTERM into a flag checked between steps (so the run can save and stop)."""

    def __init__(self):
        self.received: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self):
        import threading
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C aborts at once
        self.received = signum

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def check_weights_may_change() -> None:
    """A :class:`ConfigError` when this process told oneDNN its weights never change
    (``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS``, see :func:`kind_tf._quiet.assume_frozen_weights`): its convolutions
    would keep computing with the first filters they saw, so training would silently not train."""
    value = os.environ.get(FROZEN_WEIGHTS_ENV, "").strip().lower()
    if value in ("1", "true") and keras.backend.backend() == "tensorflow":
        raise ConfigError(f"{FROZEN_WEIGHTS_ENV}={os.environ[FROZEN_WEIGHTS_ENV]} is set: TensorFlow's oneDNN "
                          "kernels would keep the first weights they see and training would not train; unset it "
                          "for training (kind-tf sets it only in its inference commands)")


class Trainer:
    """Trains one stage: ``Trainer(config).run()``.

    Args:
        config: the options (see :class:`TrainConfig`).
        task: the stage's Task (default: ``make_task(config.stage)``).
        strategy: a ``tf.distribute.Strategy`` (TensorFlow backend; default: ``make_strategy(config.strategy)``).
    """

    def __init__(self, config: TrainConfig, task: Task | None = None, strategy: Any = None):
        self.config = config
        self.recipe = config.recipe()
        self.task = task or make_task(config.stage)
        self.run_dir = Path(config.run_dir)
        self.stage_dir = self.run_dir / config.stage
        self.weights_dir = self.run_dir / self.task.weights_folder
        self.strategy_override = strategy
        self.engine = make_engine(self)
        self.chief = self.engine.chief
        self._last_metrics: dict[str, float] = {}
        self._last_metrics_step = 0

    # ------------------------------------------------------------------------------------------------
    def _progress(self, items, desc=""):
        if not self.config.progress:
            return items
        return tqdm(items, desc=desc, leave=False, mininterval=1.0 if sys.stderr.isatty() else 30.0)

    def _check_resume_config(self, checkpoint_seed: int) -> None:
        if checkpoint_seed != self.config.seed:
            raise ConfigError(f"{self.stage_dir / 'ckpt'}: this run was started with --seed {checkpoint_seed}, "
                              f"not {self.config.seed}; use the same seed or a new --run-dir")
        saved = self.stage_dir / "config.json"
        if saved.is_file():
            previous = json.loads(saved.read_text()).get("recipe", {})
            for key in ("batch_size", "patch_size"):
                if key in previous and previous[key] != getattr(self.recipe, key):
                    raise ConfigError(f"{saved}: this run was started with --{key.replace('_', '-')} "
                                      f"{previous[key]}, not {getattr(self.recipe, key)}; "
                                      "use the same value or a new --run-dir")

    def _provenance(self, step: int) -> dict[str, Any]:
        """What the weights record about how this stage was trained (kind_tf.weights' ``provenance``)."""
        config, recipe = self.config, self.recipe
        record = {"step": step, "seed": config.seed, "preset": config.preset,
                  "data": str(Path(config.data).resolve()), "batch_size": recipe.batch_size,
                  "patch_size": recipe.patch_size, "lr": recipe.lr, "backend": keras.backend.backend()}
        for key, value in (("command", config.command), ("init_weights", config.init_weights),
                           ("degrade", config.degrade), ("loss", config.loss)):
            if value:
                record[key] = value
        if self._last_metrics:   # the latest evaluation (at or before this step), on the eval pairs
            record["metrics"] = {**self._last_metrics, "at_step": self._last_metrics_step,
                                 "eval_data": str(Path(config.eval_data).resolve()) if config.eval_data else None}
        return record

    def _export(self, model: keras.Model, step: int) -> None:
        if self.chief:
            self.task.export(self.weights_dir, model, self._provenance(step))

    # ------------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        config, recipe, task, engine = self.config, self.recipe, self.task, self.engine
        check_weights_may_change()
        if recipe.batch_size % engine.replicas:
            raise ConfigError(f"--batch-size {recipe.batch_size} is not divisible by the {engine.replicas} replicas")
        context = TaskContext(config=config, recipe=recipe, run_dir=self.run_dir, weights_dir=self.weights_dir,
                              progress=self._progress)
        task.context = context
        task.degradation(context)   # --degrade on a stage that cannot use it fails before any work
        num_examples = task.prepare(context)   # frozen networks (cached decompositions) stay float32
        if config.mixed_precision:
            keras.mixed_precision.set_dtype_policy(engine.mixed_precision_policy())
        steps_per_epoch = max(num_examples // recipe.batch_size, 1)
        total_steps = recipe.steps if recipe.steps is not None else recipe.epochs * steps_per_epoch
        sampling = Sampling(seed=config.seed, global_batch=recipe.batch_size, patch_size=recipe.patch_size,
                            steps_per_epoch=steps_per_epoch)

        keras.utils.set_random_seed(config.seed)

        def make_optimizer():
            optimizer = build_optimizer(recipe, learning_rate_schedule(recipe, steps_per_epoch, total_steps),
                                        beta_1=ADAM_BETA_1, beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON)
            if config.mixed_precision and keras.mixed_precision.dtype_policy().name == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            return optimizer

        model, optimizer = engine.build(task.build_model, make_optimizer, config.seed)
        ckpt_dir = self.stage_dir / "ckpt"
        latest, start_step, saved_seed = engine.restore()
        if latest:
            self._check_resume_config(saved_seed)
            log.info("resumed %s from %s (step %d)", task.name, latest, start_step)
        elif config.init_weights:
            task.initialize(model, Path(config.init_weights))
            log.info("initialised %s from %s", task.name, config.init_weights)
        if self.chief:
            config.write(self.stage_dir / "config.json")
        scalar_log = engine.scalar_log()

        def save(at_step: int) -> str | None:
            path = engine.save(at_step)
            if path is None:
                return None
            self._export(model, at_step)
            return path

        def evaluate(at_step: int, images: bool) -> dict[str, float]:
            if not self.chief or not task.eval_pairs:
                return {}
            engine.sync()
            result = task.evaluate(model, config.eval_ratios)
            metrics = result.metrics
            self._last_metrics, self._last_metrics_step = dict(metrics), at_step
            scalar_log.scalars(at_step, {f"eval/{name}": value for name, value in metrics.items()})
            if images:
                scalar_log.images(at_step, result.images)
            scalar_log.flush()
            return metrics

        result = TrainResult(stage=task.name, status="completed", start_step=start_step, final_step=start_step,
                             total_steps=total_steps, weights_dir=str(self.weights_dir))
        if start_step >= total_steps:
            log.info("%s already trained for %d steps", task.name, start_step)
            result.checkpoint = latest
            return result

        engine.start(sampling, start_step, total_steps, recipe.batch_size)
        image_every = config.image_every or config.eval_every
        current, last_saved = start_step, start_step
        timed_steps, timed_since = 0, None
        running = None                                  # exponential moving average of the loss (bar)
        bar = tqdm(total=total_steps, initial=start_step, desc=f"{task.name}", dynamic_ncols=True,
                   disable=not config.progress, mininterval=1.0 if sys.stderr.isatty() else 30.0)
        started = time.perf_counter()
        with _SignalCatcher() as signals, bar:
            while current < total_steps:
                values = engine.step()
                if not all(math.isfinite(v) for v in values.values()):
                    bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
                    where = (f"last good checkpoint: step {last_saved} in {ckpt_dir}" if last_saved > 0
                             or latest else "no checkpoint was saved")
                    raise TrainingDiverged(f"{task.name}: loss is not finite at step {current + 1} ({bad}); "
                                           f"stopped without saving ({where}); try a lower --lr")
                current += 1
                result.losses = values
                if timed_since is None:
                    timed_since = time.perf_counter()      # the first step includes tracing
                else:
                    timed_steps += 1
                running = values["total"] if running is None else 0.95 * running + 0.05 * values["total"]
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}", refresh=False)
                if current % config.log_every == 0 or current == total_steps:
                    scalars = {f"loss/{name}": value for name, value in values.items()}
                    scalars["lr"] = float(learning_rate_at(optimizer, current))
                    if timed_steps:
                        scalars["steps_per_second"] = timed_steps / (time.perf_counter() - timed_since)
                    scalar_log.scalars(current, scalars)
                # Evaluate before saving, so a checkpoint's exported weights record the metrics of that step.
                if current % config.eval_every == 0 or current % image_every == 0:
                    result.eval_metrics = evaluate(current, images=current % image_every == 0)
                if current % config.save_every == 0:
                    result.checkpoint = save(current)
                    last_saved = current
                if signals.received is not None:
                    result.status, result.signal = "interrupted", signals.received
                    break
                if config.time_limit is not None and time.perf_counter() - started > config.time_limit:
                    result.status = "time_limit"
                    break
            if last_saved != current:
                result.checkpoint = save(current)
            if result.status == "completed" and current % config.eval_every:
                result.eval_metrics = evaluate(current, images=True)
                if result.eval_metrics:
                    self._export(model, current)   # the final weights' provenance records their metrics
        scalar_log.flush()
        result.final_step = current
        if timed_steps:
            result.steps_per_second = timed_steps / (time.perf_counter() - timed_since)
        return result


def learning_rate_at(optimizer: keras.optimizers.Optimizer, step: int) -> float:
    """The learning rate of the step after ``step`` finished steps (the optimizer's schedule or constant).

    Read from the schedule rather than ``optimizer.learning_rate``, whose iteration counter lives in
    the JAX engine's jitted state until the next sync."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = inner._learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        rate = rate(step)
    return float(keras.ops.convert_to_numpy(rate))


def train(config: TrainConfig) -> TrainResult:
    """Train one stage as configured (what ``train.py`` calls)."""
    return Trainer(config).run()
