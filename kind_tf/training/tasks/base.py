"""The training-stage interface (Model-Garden style): what one stage's Task tells the generic trainer.

The generic :class:`kind_tf.training.trainer.Trainer` runs any Task under any strategy and backend, and
never asks which stage it runs. A Task says everything that differs between stages:

* ``build_model()`` — the trainable network (built, so it has variables);
* ``prepare(context)`` — host-side setup: read the data (and e.g. the frozen DecomNet's cached
  decompositions), return the number of training examples;
* ``transform(patch, draws)`` / ``sample_fn`` / ``build_inputs`` — the training samples (numpy on the host,
  wrapped by tf.data on TensorFlow, stacked by the JAX engine: kind_tf.data.sampling);
* ``compute_losses(model, batch)`` — per-example loss terms, including ``"total"``;
* ``configure_loss(spec)`` — ``--loss SPEC`` (kind_tf.losses.parse_spec) on (y_true = the stage's target,
  y_pred = the network output), where the stage has such a pair;
* ``evaluate(model, ratios)`` — metrics and images on the (small) evaluation set, including any metric of
  the method's whole pipeline (KinD's stages score the pipeline once decom and adjust exist);
* ``export(weights_dir, model, provenance)`` — the trained network into the run's weights folder
  (:mod:`kind_tf.weights`, under the task's ``method`` and ``stage``);
* ``recipes`` — its batch / patch / schedule per preset (``original``, ``cpu``, ...).

Each method's stages live in a module of their own (:mod:`kind_tf.training.tasks.kind`, ``zero_dce``,
``kindpp``) and register themselves in :data:`TASKS`; a method defined elsewhere registers its stages the
same way (``TASKS.register(name, TaskClass)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kind_tf.backend import to_numpy
from kind_tf.data.degrade import JpegDegradation, parse_degradation
from kind_tf.data.pairs import find_pairs, load_pairs
from kind_tf.data.sampling import PatchSource, Sampling, sample_patch
from kind_tf.image_ops import Tensor
from kind_tf.losses import kind as kind_losses
from kind_tf.losses.registry import ORIGINAL, CombinedLoss, parse_spec
from kind_tf.registry import Registry, UnknownNameError
from kind_tf.training.config import ConfigError, StageRecipe, TrainConfig
from kind_tf.weights import WeightsError, build_stage, load_stage, read_config, save_weights


@dataclass
class TaskContext:
    """What a Task may use during ``prepare``: the run's config, folders and progress wrapper."""

    config: TrainConfig
    recipe: StageRecipe
    run_dir: Path
    weights_dir: Path
    progress: Callable = lambda items, **kwargs: items


@dataclass
class EvalResult:
    metrics: dict[str, float] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)   # name → [N, H, W, 3] float in [0, 1]


def psnr_ssim(outputs: Tensor, targets: Tensor) -> tuple[float, float]:
    """Mean PSNR / SSIM (max_val 1) of [N, H, W, C] batches, clipped to [0, 1] (tf.image's on TensorFlow)."""
    import tensorflow as tf

    outputs = tf.clip_by_value(tf.cast(to_numpy(outputs), tf.float32), 0.0, 1.0)
    targets = tf.clip_by_value(tf.cast(to_numpy(targets), tf.float32), 0.0, 1.0)
    return (float(tf.reduce_mean(tf.image.psnr(outputs, targets, max_val=1.0))),
            float(tf.reduce_mean(tf.image.ssim(outputs, targets, max_val=1.0))))


class MeanScores:
    """Evaluation numbers collected per pair, averaged per key: ``add("brightness/input", v)``,
    ``add_psnr_ssim("restored", output, target)`` (keys ``restored/psnr``, ``restored/ssim``), ``means()``."""

    def __init__(self) -> None:
        self._values: dict[str, list[float]] = {}

    def add(self, key: str, value: float) -> None:
        self._values.setdefault(key, []).append(float(value))

    def add_psnr_ssim(self, key: str, outputs: Tensor, targets: Tensor) -> None:
        psnr, ssim = psnr_ssim(outputs, targets)
        self.add(f"{key}/psnr", psnr)
        self.add(f"{key}/ssim", ssim)

    def means(self) -> dict[str, float]:
        return {key: float(np.mean(values)) for key, values in self._values.items()}


def gray3(single: np.ndarray) -> np.ndarray:
    return np.concatenate([single] * 3, axis=-1)


def image_row(*panels: Tensor) -> np.ndarray:
    """Side-by-side panels [1, H, W, C] (C = 1 or 3) → [1, H, ΣW, 3] for an image summary."""
    panels = [np.asarray(to_numpy(p), np.float32) for p in panels]
    panels = [gray3(p) if p.shape[-1] == 1 else p for p in panels]
    return np.clip(np.concatenate(panels, axis=2), 0.0, 1.0)


def stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of possibly different sizes → one batch, each padded (black) to the largest size."""
    height = max(r.shape[1] for r in rows)
    width = max(r.shape[2] for r in rows)
    return np.concatenate([np.pad(r, [(0, 0), (0, height - r.shape[1]), (0, width - r.shape[2]), (0, 0)])
                           for r in rows])


class Task:
    """Base class of a training stage. See the module docstring."""

    name: str = ""
    output_names: tuple[str, ...] = ()
    # The method these weights are for (a kind_tf.methods name) and the stage's name in its weights folder
    # ("" = ``name``: KinD++'s kindpp_decom stage writes the folder's "decom" network).
    method: str = "kind"
    stage: str = ""
    # Where the trainer exports this stage's weights, relative to the run folder.
    weights_folder: str = "weights"
    # The registered loss that --loss "original" means, and the channels of (y_true, y_pred); None:
    # the stage's loss is not a (prediction, target) loss and --loss cannot replace it.
    loss_original: str | None = None
    loss_channels: int | None = None
    # Whether ``--degrade`` (degraded copies of the low images) applies to this stage.
    accepts_degradation = False
    # The stage's recipe per preset name ("original": the paper's code; "cpu": a short run for 2 CPU cores),
    # which TrainConfig.recipe() reads (--preset NAME).
    recipes: Mapping[str, StageRecipe] = {}

    def __init__(self):
        self.context: TaskContext | None = None   # set by the trainer before prepare()
        self.eval_pairs: list[tuple[np.ndarray, np.ndarray]] = []   # (low uint8, high uint8), downscaled
        self.source: PatchSource | None = None
        self.loss: CombinedLoss | None = None    # --loss; None = the recipe's own loss

    def configure_loss(self, spec: str | None) -> None:
        """Use ``spec`` (``--loss``) as this stage's loss; None or "original" keep the recipe."""
        self.loss = None
        if spec is None or spec.strip().lower() == ORIGINAL:
            return
        if self.loss_original is None:
            raise ConfigError(f"--loss: the {self.name} stage's loss is not a (prediction, target) loss and "
                              "cannot be replaced (use it with --stage restore or adjust)")
        try:
            combined = parse_spec(spec, original=self.loss_original, channels=self.loss_channels)
        except ValueError as error:
            raise ConfigError(f"--loss: {error}") from None
        self.loss = None if combined.is_original else combined

    # --- pieces every task provides ---------------------------------------------------------------
    @property
    def weights_stage(self) -> str:
        """This stage's name in the weights folder."""
        return self.stage or self.name

    def build_model(self) -> keras.Model:
        return build_stage(self.weights_stage)

    def prepare(self, context: TaskContext) -> int:
        raise NotImplementedError

    def transform(self, patch: Tensor, draws: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError

    def compute_losses(self, model: keras.Model, batch: dict[str, Tensor], training: bool = True
                       ) -> dict[str, Tensor]:
        raise NotImplementedError

    def evaluate(self, model: keras.Model, ratios: tuple[float, ...]) -> EvalResult:
        return EvalResult()

    def export(self, weights_dir: Path, model: keras.Model, provenance: dict[str, Any]) -> None:
        """Write the trained network into the run's weights folder (:mod:`kind_tf.weights`), under this task's
        method and stage, with ``provenance`` (command, data, step, metrics ...) as the stage's record."""
        recipe = self.inference_recipe()
        if recipe is not None and has_recipe(weights_dir):
            recipe = None    # a recipe already there (chosen after evaluating the folder) is kept
        save_weights(weights_dir, {self.weights_stage: model}, {self.weights_stage: provenance}, method=self.method,
                     recipe=recipe)

    def inference_recipe(self) -> Any:
        """The recipe a new weights folder of this task records (None: none, the method's default applies)."""
        return None

    def initialize(self, model: keras.Model, weights_dir: Path) -> None:
        """Fine-tuning (``--init-weights``): copy the stage's weights from a weights folder into ``model``."""
        try:
            source = load_stage(weights_dir, self.weights_stage)
        except WeightsError as error:
            raise ConfigError(f"--init-weights: {error}") from None
        if type(source) is not type(model):
            raise ConfigError(f"--init-weights: {weights_dir} holds a {type(source).__name__} for the "
                              f"{self.weights_stage} "
                              f"stage, not the {type(model).__name__} this run trains")
        model.set_weights(source.get_weights())

    def degradation(self, context: TaskContext) -> JpegDegradation | None:
        """The ``--degrade`` of the low images; only the restore stage learns to undo one."""
        if context.config.degrade is None:
            return None
        if not self.accepts_degradation:
            raise ConfigError(f"--degrade: the {self.name} stage does not train on degraded inputs "
                              "(use it with --stage restore)")
        try:
            return parse_degradation(context.config.degrade)
        except ValueError as error:
            raise ConfigError(f"--degrade: {error}") from None

    # --- shared -----------------------------------------------------------------------------------
    def sample_fn(self, sampling: Sampling) -> Callable[[int], dict[str, np.ndarray]]:
        """global sample index k → this task's training sample in numpy: the one data path of both
        trainers (tf.data wraps it on TensorFlow; the JAX trainer stacks it, kind_tf.data.sampling)."""
        return lambda k: self.transform(*sample_patch(self.source, sampling, k))

    def build_inputs(self, sampling: Sampling, *, start_step: int, total_steps: int, replica_batch: int,
                     first_replica: int = 0, local_replicas: int = 1) -> Any:
        """The tf.data pipeline of :meth:`sample_fn`'s samples (TensorFlow trainer)."""
        from kind_tf.data.pipeline import patch_dataset

        return patch_dataset(self.source, sampling, self.transform, start_step=start_step,
                             total_steps=total_steps, replica_batch=replica_batch,
                             first_replica=first_replica, local_replicas=local_replicas)

    def load_training_pairs(self, context: TaskContext):
        pairs = find_pairs(context.config.data)
        lows, highs = load_pairs(pairs, min_size=context.recipe.patch_size)
        return pairs, lows, highs

    def load_eval_pairs(self, context: TaskContext) -> None:
        config = context.config
        if not config.eval_data or config.eval_images < 1:
            return
        pairs = find_pairs(config.eval_data)[: config.eval_images]
        lows, highs = load_pairs(pairs, min_size=kind_losses.SSIM_FILTER_SIZE, max_side=config.eval_size)
        self.eval_pairs = list(zip(lows, highs))


def has_recipe(weights_dir: Path) -> bool:
    try:
        return "recipe" in read_config(weights_dir)
    except WeightsError:
        return False


# The training stages (train.py --stage NAME): one Registry, shared with kind_tf.methods (a Method's
# ``stages`` name entries of it). Each stage's module registers it (``TASKS.register``).
TASKS: Registry[type[Task]] = Registry("stage")


def register_task(name: str, task_class: type[Task]) -> None:
    """Make a new stage trainable by name (kept for older callers: ``TASKS.register(name, cls)``, replacing)."""
    TASKS.register(name, task_class, overwrite=True)


def preset_names() -> tuple[str, ...]:
    """Every preset some registered stage has a recipe for (``--preset`` choices)."""
    return tuple(dict.fromkeys(preset for task in TASKS.values() for preset in task.recipes))


def make_task(name: str) -> Task:
    """A fresh Task of stage ``name``; ConfigError (one line listing the stages) for an unknown name."""
    try:
        return TASKS.get(name)()
    except UnknownNameError as error:
        raise ConfigError(str(error)) from None


