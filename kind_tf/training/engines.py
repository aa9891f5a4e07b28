"""What the trainer does differently per Keras backend: the step, the checkpoint and the scalar log.

:class:`kind_tf.training.trainer.Trainer` owns the loop (progress bar, logging cadence, evaluation,
export, signals, divergence checks) and asks an engine for the rest:

* :class:`TensorFlowEngine` — ``tf.distribute`` strategies, a ``tf.function`` step over a tf.data
  iterator, ``tf.train.Checkpoint`` + ``CheckpointManager``, TensorBoard via ``tf.summary``.
* :class:`JaxEngine` — one device, a ``jax.jit`` step (``keras.StatelessScope`` around the task's own
  ``compute_losses``, ``jax.value_and_grad``, the Keras optimizer's ``stateless_apply``), batches
  stacked in numpy from the task's ``sample_fn`` (the very samples tf.data feeds on TensorFlow), an
  atomically written ``.npz`` checkpoint (model, optimizer, step, seed), and a CSV scalar log. No
  TensorFlow is imported.

Both compute the same per-step loss: the mean over the global batch of the task's per-example terms.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kind_tf.backend import name as backend_name
from kind_tf.io import atomic_write
from kind_tf.training.config import ConfigError

CHECKPOINT_FILE = "checkpoint.npz"   # the JAX engine's checkpoint in RUN/<stage>/ckpt/
SCALARS_FILE = "scalars.csv"         # the JAX engine's scalar log in RUN/<stage>/


def make_engine(trainer: Any) -> TensorFlowEngine | JaxEngine:
    """The engine of the current Keras backend (TensorFlow or JAX)."""
    backend = backend_name()
    if backend == "tensorflow":
        return TensorFlowEngine(trainer)
    if backend == "jax":
        return JaxEngine(trainer)
    raise ConfigError(f"training runs on the TensorFlow and JAX backends, not {backend!r} (set KERAS_BACKEND)")


class TensorFlowEngine:
    """``tf.distribute`` + ``tf.function`` + ``tf.train.Checkpoint`` (see the module docstring)."""

    def __init__(self, trainer: Any):
        from kind_tf.training.strategy import is_chief, make_strategy

        self.trainer = trainer
        self.strategy = trainer.strategy_override or make_strategy(trainer.config.strategy)
        self.chief = is_chief(self.strategy)
        self.replicas = self.strategy.num_replicas_in_sync

    def mixed_precision_policy(self) -> str:
        import tensorflow as tf

        return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"

    def build(self, make_model, make_optimizer, seed: int):
        import tensorflow as tf

        from kind_tf.training.strategy import worker_id

        with self.strategy.scope():
            model = make_model()
            optimizer = make_optimizer()
            optimizer.build(model.trainable_variables)
            self.step_variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                                             aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.seed_variable = tf.Variable(seed, dtype=tf.int64, trainable=False, name="seed",
                                             aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.model, self.optimizer = model, optimizer
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=self.step_variable,
                                              seed=self.seed_variable)
        stage_dir = self.trainer.stage_dir
        self.ckpt_dir = stage_dir / "ckpt"
        self.write_dir = self.ckpt_dir if self.chief else stage_dir / f"ckpt-tmp-{worker_id(self.strategy)}"
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.write_dir),
                                                  max_to_keep=self.trainer.config.keep_checkpoints,
                                                  step_counter=self.step_variable)
        return model, optimizer

    def restore(self) -> tuple[str | None, int, int | None]:
        """(checkpoint path or None, its step, the seed it was started with)."""
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(str(self.ckpt_dir))
        if not latest:
            return None, 0, None
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        return latest, int(self.step_variable.numpy()), int(self.seed_variable.numpy())

    def start(self, sampling, start_step: int, total_steps: int, global_batch: int) -> None:
        import tensorflow as tf

        task = self.trainer.task

        def input_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
            local = input_context.num_replicas_in_sync // input_context.num_input_pipelines
            return task.build_inputs(
                sampling, start_step=start_step, total_steps=total_steps,
                replica_batch=input_context.get_per_replica_batch_size(global_batch),
                first_replica=input_context.input_pipeline_id * local, local_replicas=local)

        self.iterator = iter(self.strategy.distribute_datasets_from_function(input_fn))
        self.train_step = self._make_train_step(global_batch)

    def step(self) -> dict[str, float]:
        return {name: float(value) for name, value in self.train_step(self.iterator).items()}

    def sync(self) -> None:
        """The model's variables hold the trained values already (stateful updates)."""

    def save(self, at_step: int) -> str | None:
        path = self.manager.save(checkpoint_number=at_step)
        if not self.chief:
            shutil.rmtree(self.write_dir, ignore_errors=True)
            return None
        return path

    def scalar_log(self) -> TensorBoardLog:
        return TensorBoardLog(self.trainer.stage_dir / "tb", enabled=self.chief)

    def _make_train_step(self, global_batch: int):
        import tensorflow as tf

        task, strategy, model, optimizer = self.trainer.task, self.strategy, self.model, self.optimizer
        variables = model.trainable_variables
        step = self.step_variable

        def compute(batch):
            with tf.GradientTape() as tape:
                terms = task.compute_losses(model, batch, training=True)
                losses = {name: tf.nn.compute_average_loss(value, global_batch_size=global_batch)
                          for name, value in terms.items()}
                loss = losses["total"]
                scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
            return losses, tape.gradient(scaled, variables)

        if self.trainer.config.jit:
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


class JaxEngine:
    """One device, ``jax.jit`` step, ``.npz`` checkpoints, CSV scalars (see the module docstring)."""

    chief = True
    replicas = 1

    def __init__(self, trainer: Any):
        if trainer.strategy_override is not None or trainer.config.strategy not in ("auto", "default"):
            raise ConfigError(f"--strategy {trainer.config.strategy}: tf.distribute strategies need the TensorFlow "
                              "backend; on JAX training runs on one device (use --strategy default)")
        self.trainer = trainer

    def mixed_precision_policy(self) -> str:
        return "mixed_bfloat16"

    def build(self, make_model, make_optimizer, seed: int):
        model = make_model()
        optimizer = make_optimizer()
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            raise ConfigError("float16 loss scaling is not supported on JAX; use bfloat16 (the default there)")
        optimizer.build(model.trainable_variables)
        self.model, self.optimizer, self.seed = model, optimizer, int(seed)
        self.ckpt_dir = self.trainer.stage_dir / "ckpt"
        self.state = None
        return model, optimizer

    def _variables(self) -> dict[str, list]:
        return {"trainable": self.model.trainable_variables, "non_trainable": self.model.non_trainable_variables,
                "optimizer": self.optimizer.variables}

    def restore(self) -> tuple[str | None, int, int | None]:
        path = self.ckpt_dir / CHECKPOINT_FILE
        if not path.is_file():
            return None, 0, None
        with np.load(path) as saved:
            for group, variables in self._variables().items():
                if int(saved[f"{group}/count"]) != len(variables):
                    raise ConfigError(f"{path}: checkpoint holds {int(saved[f'{group}/count'])} {group} variables, "
                                      f"this run has {len(variables)}; use a new --run-dir")
                for index, variable in enumerate(variables):
                    variable.assign(saved[f"{group}/{index}"])
            return str(path), int(saved["step"]), int(saved["seed"])

    def start(self, sampling, start_step: int, total_steps: int, global_batch: int) -> None:
        import jax

        task, model, optimizer = self.trainer.task, self.model, self.optimizer
        trainable, non_trainable = model.trainable_variables, model.non_trainable_variables
        self.sample = task.sample_fn(sampling)
        self.sampling = sampling
        self.current = start_step

        def loss_fn(trainable_values, non_trainable_values, batch):
            mapping = list(zip(trainable, trainable_values)) + list(zip(non_trainable, non_trainable_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                terms = task.compute_losses(model, batch, training=True)
                # The mean over the global batch of per-example terms (= TF's compute_average_loss).
                losses = {name: keras.ops.mean(value) for name, value in terms.items()}
            updated = [scope.get_current_value(v) for v in non_trainable]   # batch-norm statistics
            updated = [old if new is None else new for old, new in zip(non_trainable_values, updated)]
            return losses["total"], (losses, updated)

        gradient_fn = jax.value_and_grad(loss_fn, has_aux=True)

        def train_step(state, batch):
            trainable_values, non_trainable_values, optimizer_values = state
            (_, (losses, non_trainable_values)), grads = gradient_fn(trainable_values, non_trainable_values, batch)
            trainable_values, optimizer_values = optimizer.stateless_apply(optimizer_values, grads, trainable_values)
            return (trainable_values, non_trainable_values, optimizer_values), losses

        self.train_step = jax.jit(train_step)   # no buffer donation: the Keras variables share the initial buffers
        self.state = tuple([v.value for v in variables] for variables in self._variables().values())

    def step(self) -> dict[str, float]:
        batch = _step_batch(self.sample, self.sampling, self.current)
        self.state, losses = self.train_step(self.state, batch)
        self.current += 1
        return {name: float(value) for name, value in losses.items()}

    def sync(self) -> None:
        """Write the jitted step's state back into the Keras variables (before export / evaluation)."""
        if self.state is None:
            return
        for variables, values in zip(self._variables().values(), self.state):
            for variable, value in zip(variables, values):
                variable.assign(value)

    def save(self, at_step: int) -> str:
        self.sync()
        arrays: dict[str, np.ndarray] = {"step": np.asarray(at_step), "seed": np.asarray(self.seed)}
        for group, variables in self._variables().items():
            arrays[f"{group}/count"] = np.asarray(len(variables))
            for index, variable in enumerate(variables):
                arrays[f"{group}/{index}"] = keras.ops.convert_to_numpy(variable.value)
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = self.ckpt_dir / CHECKPOINT_FILE
        # A kill -9 leaves the previous checkpoint or this one, never half of one.
        with atomic_write(path) as handle:
            np.savez(handle, **arrays)
        return str(path)

    def scalar_log(self) -> CsvLog:
        return CsvLog(self.trainer.stage_dir / SCALARS_FILE)


def _step_batch(sample, sampling, step: int) -> dict[str, np.ndarray]:
    from kind_tf.data.sampling import step_batch

    return step_batch(sample, sampling, step)


class TensorBoardLog:
    """Scalars and images as TensorBoard event files (``tf.summary``)."""

    def __init__(self, directory: Path, enabled: bool = True):
        import tensorflow as tf

        self.tf = tf
        self.writer = tf.summary.create_file_writer(str(directory)) if enabled else tf.summary.create_noop_writer()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        with self.writer.as_default(step=step):
            for name, value in values.items():
                self.tf.summary.scalar(name, value)

    def images(self, step: int, images: dict[str, np.ndarray]) -> None:
        with self.writer.as_default(step=step):
            for name, value in images.items():
                self.tf.summary.image(name, value, max_outputs=len(value))

    def flush(self) -> None:
        self.writer.flush()


class CsvLog:
    """Scalars appended to a CSV (``step,name,value``) and image summaries as PNGs beside it: the
    TensorFlow-free log of the JAX engine."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(path, "a", newline="")
        self.writer = csv.writer(self.handle)
        if path.stat().st_size == 0:
            self.writer.writerow(["step", "name", "value"])

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.writerow([step, name, repr(float(value))])

    def images(self, step: int, images: dict[str, np.ndarray]) -> None:
        from kind_tf.io import save_png

        folder = self.path.parent / "images"
        folder.mkdir(exist_ok=True)
        for name, value in images.items():
            for index, image in enumerate(np.asarray(value)):
                save_png(folder / f"{step:08d}_{name.replace('/', '_').replace('|', '-')}_{index}.png", image)

    def flush(self) -> None:
        self.handle.flush()
