"""The one generic trainer: runs any :class:`~kind_tf.training.tasks.Task` under any strategy.

Run folder layout (``--run-dir RUN``)::

    RUN/<stage>/config.json   the resolved options and recipe of the stage's run
    RUN/<stage>/ckpt/         tf.train.Checkpoint (model, optimizer, step, seed) + CheckpointManager
    RUN/<stage>/tb/           TensorBoard: every loss term, lr, steps/s, eval metrics, images
    RUN/weights/              every stage's exported weights (kind_tf.weights; KinD.from_weights loads it)
    RUN/weights_zero_dce/     the zerodce stage's exported weights (load_zero_dce / enhance.py --model zerodce)
    RUN/cache/                cached decompositions of the training set (restore / adjust stages)

Re-running the same command resumes from ``RUN/<stage>/ckpt``. Training batches are a pure function
of (seed, step) (see :mod:`kind_tf.data.pipeline`), so a resumed run sees exactly the batches of an
uninterrupted one, and the Adam state, step and seed come back from the checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from kind_tf.data.pipeline import Sampling
from kind_tf.training.config import ConfigError, StageRecipe, TrainConfig
from kind_tf.training.optimizers import build_optimizer
from kind_tf.training.strategy import is_chief, make_strategy, worker_id
from kind_tf.training.tasks import Task, TaskContext, make_task, psnr_ssim
from kind_tf.weights import STAGES, has_stage, load_stage, save_weights

log = logging.getLogger(__name__)

# Adam as the original's tf.train.AdamOptimizer (TF1 defaults; Keras' default epsilon is 1e-7).
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-8
PIPELINE_EVAL_RATIO = 5.0


class TrainingDiverged(RuntimeError):
    """The loss became NaN/Inf; the run stopped without saving (the last good checkpoint is kept)."""


@dataclass
class TrainResult:
    stage: str
    status: str                         # "completed" | "interrupted"
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


class Trainer:
    """Trains one stage: ``Trainer(config).run()``.

    Args:
        config: the options (see :class:`TrainConfig`).
        task: the stage's Task (default: ``make_task(config.stage)``).
        strategy: a ``tf.distribute.Strategy`` (default: ``make_strategy(config.strategy)``).
    """

    def __init__(self, config: TrainConfig, task: Task | None = None,
                 strategy: tf.distribute.Strategy | None = None):
        self.config = config
        self.recipe = config.recipe()
        self.task = task or make_task(config.stage)
        self.strategy = strategy or make_strategy(config.strategy)
        self.chief = is_chief(self.strategy)
        self.run_dir = Path(config.run_dir)
        self.stage_dir = self.run_dir / config.stage
        self.weights_dir = self.run_dir / self.task.weights_folder
        self._pipeline = None

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

    def _export(self, model: keras.Model, step: int) -> None:
        if not self.chief:
            return
        metadata = {f"{self.task.name}_training": {
            "step": step, "seed": self.config.seed, "preset": self.config.preset,
            "data": str(Path(self.config.data).resolve()), "batch_size": self.recipe.batch_size,
            "patch_size": self.recipe.patch_size,
            **{key: value for key, value in (("init_weights", self.config.init_weights),
                                             ("degrade", self.config.degrade), ("lr", self.recipe.lr)) if value}}}
        if self.task.name in STAGES:
            save_weights(self.weights_dir, {self.task.name: model}, metadata)
        else:
            self.task.export(self.weights_dir, model, metadata)

    def _pipeline_eval(self, model: keras.Model) -> dict[str, float]:
        """PSNR/SSIM of the whole KinD pipeline (ratio 5.0) on the eval pairs, once decom + adjust exist."""
        task = self.task
        if task.name not in STAGES or not task.eval_pairs:
            return {}
        if self._pipeline is None:
            from kind_tf.inference import KinD

            def stage_model(stage):
                if task.name == stage:
                    return model
                if stage == "decom" and getattr(task, "decom", None) is not None:
                    return task.decom
                return load_stage(self.weights_dir, stage) if has_stage(self.weights_dir, stage) else None

            decom, restore, adjust = (stage_model(s) for s in ("decom", "restore", "adjust"))
            if decom is None or adjust is None:
                return {}
            self._pipeline = KinD(decom, restore, adjust)
        scores = []
        for low, high in task.eval_pairs:
            enhanced = self._pipeline.enhance(low, PIPELINE_EVAL_RATIO)
            scores.append(psnr_ssim(enhanced[None], (high.astype(np.float32) / 255.0)[None]))
        psnr, ssim = np.mean(scores, axis=0)
        # Without a trained restoration net the pipeline runs as the original release (R_restored = R_low).
        name = "pipeline_ratio5" if self._pipeline.restore is not None else "pipeline_ratio5_no_restore"
        return {f"{name}/psnr": float(psnr), f"{name}/ssim": float(ssim)}

    # ------------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        config, recipe, task, strategy = self.config, self.recipe, self.task, self.strategy
        replicas = strategy.num_replicas_in_sync
        if recipe.batch_size % replicas:
            raise ConfigError(f"--batch-size {recipe.batch_size} is not divisible by the {replicas} replicas")
        context = TaskContext(config=config, recipe=recipe, run_dir=self.run_dir, weights_dir=self.weights_dir,
                              progress=self._progress)
        task.degradation(context)   # --degrade on a stage that cannot use it fails before any work
        num_examples = task.prepare(context)   # frozen networks (cached decompositions) stay float32
        if config.mixed_precision:
            policy = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
            keras.mixed_precision.set_dtype_policy(policy)
        steps_per_epoch = max(num_examples // recipe.batch_size, 1)
        total_steps = recipe.steps if recipe.steps is not None else recipe.epochs * steps_per_epoch
        sampling = Sampling(seed=config.seed, global_batch=recipe.batch_size, patch_size=recipe.patch_size,
                            steps_per_epoch=steps_per_epoch)

        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            model = task.build_model()
            optimizer = build_optimizer(recipe, learning_rate_schedule(recipe, steps_per_epoch, total_steps),
                                        beta_1=ADAM_BETA_1, beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON)
            if config.mixed_precision and keras.mixed_precision.dtype_policy().name == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(model.trainable_variables)
            step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                               aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            seed = tf.Variable(config.seed, dtype=tf.int64, trainable=False, name="seed",
                               aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step, seed=seed)
        ckpt_dir = self.stage_dir / "ckpt"
        write_dir = ckpt_dir if self.chief else self.stage_dir / f"ckpt-tmp-{worker_id(strategy)}"
        manager = tf.train.CheckpointManager(checkpoint, str(write_dir), max_to_keep=self.config.keep_checkpoints,
                                             step_counter=step)
        latest = tf.train.latest_checkpoint(str(ckpt_dir))
        if latest:
            checkpoint.restore(latest).assert_existing_objects_matched()
            self._check_resume_config(int(seed.numpy()))
            log.info("resumed %s from %s (step %d)", task.name, latest, int(step.numpy()))
        elif config.init_weights:
            task.initialize(model, Path(config.init_weights))
            log.info("initialised %s from %s", task.name, config.init_weights)
        start_step = int(step.numpy())
        if self.chief:
            config.write(self.stage_dir / "config.json")

        def input_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
            local = input_context.num_replicas_in_sync // input_context.num_input_pipelines
            return task.build_inputs(
                sampling, start_step=start_step, total_steps=total_steps,
                replica_batch=input_context.get_per_replica_batch_size(recipe.batch_size),
                first_replica=input_context.input_pipeline_id * local, local_replicas=local)

        train_step = self._make_train_step(model, optimizer, step, recipe.batch_size)
        writer = (tf.summary.create_file_writer(str(self.stage_dir / "tb")) if self.chief
                  else tf.summary.create_noop_writer())

        def save(at_step: int) -> str | None:
            path = manager.save(checkpoint_number=at_step)
            if not self.chief:
                shutil.rmtree(write_dir, ignore_errors=True)
                return None
            self._export(model, at_step)
            return path

        def evaluate(at_step: int, images: bool) -> dict[str, float]:
            if not self.chief or not task.eval_pairs:
                return {}
            result = task.evaluate(model, config.eval_ratios)
            metrics = {**result.metrics, **self._pipeline_eval(model)}
            with writer.as_default(step=at_step):
                for name, value in metrics.items():
                    tf.summary.scalar(f"eval/{name}", value)
                if images:
                    for name, value in result.images.items():
                        tf.summary.image(name, value, max_outputs=len(value))
            writer.flush()
            return metrics

        result = TrainResult(stage=task.name, status="completed", start_step=start_step, final_step=start_step,
                             total_steps=total_steps, weights_dir=str(self.weights_dir))
        if start_step >= total_steps:
            log.info("%s already trained for %d steps", task.name, start_step)
            result.checkpoint = latest
            return result

        dataset = strategy.distribute_datasets_from_function(input_fn)
        iterator = iter(dataset)
        image_every = config.image_every or config.eval_every
        current, last_saved = start_step, start_step
        timed_steps, timed_since = 0, None
        running = None                                  # exponential moving average of the loss (bar)
        bar = tqdm(total=total_steps, initial=start_step, desc=f"{task.name}", dynamic_ncols=True,
                   disable=not config.progress, mininterval=1.0 if sys.stderr.isatty() else 30.0)
        with _SignalCatcher() as signals, bar:
            while current < total_steps:
                values = {name: float(value) for name, value in train_step(iterator).items()}
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
                    with writer.as_default(step=current):
                        for name, value in values.items():
                            tf.summary.scalar(f"loss/{name}", value)
                        tf.summary.scalar("lr", float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
                        if timed_steps:
                            tf.summary.scalar("steps_per_second", timed_steps / (time.perf_counter() - timed_since))
                if current % config.save_every == 0:
                    result.checkpoint = save(current)
                    last_saved = current
                if current % config.eval_every == 0 or current % image_every == 0:
                    result.eval_metrics = evaluate(current, images=current % image_every == 0)
                if signals.received is not None:
                    result.status, result.signal = "interrupted", signals.received
                    break
            if last_saved != current:
                result.checkpoint = save(current)
            if result.status == "completed" and current % config.eval_every:
                result.eval_metrics = evaluate(current, images=True)
        writer.flush()
        result.final_step = current
        if timed_steps:
            result.steps_per_second = timed_steps / (time.perf_counter() - timed_since)
        return result

    def _make_train_step(self, model: keras.Model, optimizer, step: tf.Variable, global_batch: int):
        task, strategy = self.task, self.strategy
        variables = model.trainable_variables

        def compute(batch):
            with tf.GradientTape() as tape:
                terms = task.compute_losses(model, batch, training=True)
                losses = {name: tf.nn.compute_average_loss(value, global_batch_size=global_batch)
                          for name, value in terms.items()}
                loss = losses["total"]
                scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
            return losses, tape.gradient(scaled, variables)

        if self.config.jit:
            compute = tf.function(compute, jit_compile=True)

        def replica_step(batch):
            losses, grads = compute(batch)
            optimizer.apply_gradients(zip(grads, variables))
            return losses

        @tf.function
        def train_step(iterator):
            losses = strategy.run(replica_step, args=(next(iterator),))
            step.assign_add(1)
            return {name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                    for name, value in losses.items()}

        return train_step


def train(config: TrainConfig) -> TrainResult:
    """Train one stage as configured (what ``train.py`` calls)."""
    return Trainer(config).run()
