"""Per-stage training Tasks (Model-Garden style): model, inputs, losses, evaluation of one stage.

The generic :class:`kind_tf.training.trainer.Trainer` runs any Task under any ``tf.distribute``
strategy. A Task only says what differs between stages:

* ``build_model()`` — the trainable network (built, so it has variables);
* ``prepare(context)`` — host-side setup: read the data (and e.g. the frozen DecomNet's cached
  decompositions), return the number of training examples;
* ``build_inputs(sampling, ...)`` — the tf.data pipeline of training batches (dicts of tensors);
* ``compute_losses(model, batch)`` — per-example loss terms, including ``"total"``;
* ``evaluate(model)`` — metrics and images on the (small) evaluation set.

Adding a stage (e.g. Zero-DCE++ on unpaired images) is one more subclass registered in ``TASKS``:
its own source (an unpaired ``PatchSource``), transform and losses; nothing in the trainer changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from kind_tf.data.decomposition import CHANNELS, cached_decompositions, decompose
from kind_tf.data.pairs import find_pairs, load_pairs, normalize_uint8
from kind_tf.data.pipeline import ImagePairSource, PatchSource, Sampling, patch_dataset
from kind_tf.losses import kind as kind_losses
from kind_tf.training.config import ConfigError, StageRecipe, TrainConfig
from kind_tf.weights import WeightsError, build_stage, has_stage, load_stage


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


def psnr_ssim(outputs: tf.Tensor, targets: tf.Tensor) -> tuple[float, float]:
    """Mean tf.image PSNR / SSIM (max_val 1) of [N, H, W, C] batches, clipped to [0, 1]."""
    outputs = tf.clip_by_value(tf.cast(outputs, tf.float32), 0.0, 1.0)
    targets = tf.clip_by_value(tf.cast(targets, tf.float32), 0.0, 1.0)
    return (float(tf.reduce_mean(tf.image.psnr(outputs, targets, max_val=1.0))),
            float(tf.reduce_mean(tf.image.ssim(outputs, targets, max_val=1.0))))


def _gray3(single: np.ndarray | tf.Tensor) -> tf.Tensor:
    return tf.concat([single] * 3, axis=-1)


def _row(*panels: tf.Tensor) -> np.ndarray:
    """Side-by-side panels [1, H, W, C] (C = 1 or 3) → [1, H, ΣW, 3] for an image summary."""
    panels = [tf.cast(_gray3(p) if p.shape[-1] == 1 else p, tf.float32) for p in panels]
    return tf.clip_by_value(tf.concat(panels, axis=2), 0.0, 1.0).numpy()


class Task:
    """Base class of a training stage. See the module docstring."""

    name: str = ""
    output_names: tuple[str, ...] = ()

    def __init__(self):
        self.eval_pairs: list[tuple[np.ndarray, np.ndarray]] = []   # (low uint8, high uint8), downscaled
        self.source: PatchSource | None = None

    # --- pieces every task provides ---------------------------------------------------------------
    def build_model(self) -> keras.Model:
        return build_stage(self.name)

    def prepare(self, context: TaskContext) -> int:
        raise NotImplementedError

    def transform(self, patch: tf.Tensor, draws: tf.Tensor) -> dict[str, tf.Tensor]:
        raise NotImplementedError

    def compute_losses(self, model: keras.Model, batch: dict[str, tf.Tensor], training: bool = True
                       ) -> dict[str, tf.Tensor]:
        raise NotImplementedError

    def evaluate(self, model: keras.Model, ratios: tuple[float, ...]) -> EvalResult:
        return EvalResult()

    def export(self, weights_dir: Path, model: keras.Model, metadata: dict[str, Any]) -> None:
        """Write the trained network (KinD stages use kind_tf.weights; other tasks override this)."""
        raise NotImplementedError(f"task {self.name!r} does not define how to export its weights")

    # --- shared -----------------------------------------------------------------------------------
    def build_inputs(self, sampling: Sampling, *, start_step: int, total_steps: int, replica_batch: int,
                     first_replica: int = 0, local_replicas: int = 1) -> tf.data.Dataset:
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


def _normalized(image: np.ndarray) -> np.ndarray:
    return normalize_uint8(image)[None]


class DecomTask(Task):
    """Stage 1: DecomNet on low AND high (shared weights), reconstruction + smoothness losses."""

    name = "decom"

    def prepare(self, context):
        _, lows, highs = self.load_training_pairs(context)
        self.source = ImagePairSource(lows, highs)
        self.load_eval_pairs(context)
        return len(self.source)

    def transform(self, patch, draws):
        return {"low": patch[..., 0:3], "high": patch[..., 3:6]}

    def compute_losses(self, model, batch, training=True):
        reflectance_low, illumination_low = model(batch["low"], training=training)
        reflectance_high, illumination_high = model(batch["high"], training=training)
        outputs = [tf.cast(x, tf.float32) for x in (reflectance_low, illumination_low,
                                                     reflectance_high, illumination_high)]
        return kind_losses.decom_losses(batch["low"], batch["high"], *outputs)

    def evaluate(self, model, ratios):
        result = EvalResult()
        scores: dict[str, list[float]] = {}
        rows_low, rows_high = [], []
        for low_u8, high_u8 in self.eval_pairs:
            low, high = _normalized(low_u8), _normalized(high_u8)
            r_low, i_low = model(low, training=False)
            r_high, i_high = model(high, training=False)
            for key, (out, ref) in {"recon_low": (r_low * i_low, low), "recon_high": (r_high * i_high, high),
                                    "reflectance_low_vs_high": (r_low, r_high)}.items():
                psnr, ssim = psnr_ssim(out, ref)
                scores.setdefault(f"{key}/psnr", []).append(psnr)
                scores.setdefault(f"{key}/ssim", []).append(ssim)
            rows_low.append(_row(low, r_low, i_low))
            rows_high.append(_row(high, r_high, i_high))
        result.metrics = {key: float(np.mean(values)) for key, values in scores.items()}
        if rows_low:
            result.images = {"decom_low/input|R|I": _stack(rows_low), "decom_high/input|R|I": _stack(rows_high)}
        return result


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of possibly different sizes → one batch, each padded (black) to the largest size."""
    height = max(r.shape[1] for r in rows)
    width = max(r.shape[2] for r in rows)
    return np.concatenate([np.pad(r, [(0, 0), (0, height - r.shape[1]), (0, width - r.shape[2]), (0, 0)])
                           for r in rows])


class FrozenDecomTask(Task):
    """Base of the stages that train on decompositions by a frozen DecomNet (restore, adjust)."""

    def __init__(self):
        super().__init__()
        self.decom: keras.Model | None = None
        self.eval_maps: list[np.ndarray] = []     # [1, H, W, 8] per eval pair

    def decom_weights_dir(self, context: TaskContext) -> Path:
        folder = Path(context.config.decom_weights) if context.config.decom_weights else context.weights_dir
        if not has_stage(folder, "decom"):
            hint = ("pass --decom-weights DIR" if context.config.decom_weights
                    else f"train --stage decom with --run-dir {context.run_dir} first, or pass --decom-weights DIR")
            raise ConfigError(f"{folder}: no decom weights (decom.weights.h5) for the frozen DecomNet; {hint}")
        return folder

    def prepare(self, context):
        folder = self.decom_weights_dir(context)
        try:
            self.decom = load_stage(folder, "decom")
        except WeightsError as error:
            raise ConfigError(str(error)) from None
        self.decom.trainable = False
        pairs, lows, highs = self.load_training_pairs(context)
        self.source = cached_decompositions(
            self.decom, folder / "decom.weights.h5", pairs, lows, highs, context.run_dir / "cache",
            progress=lambda items: context.progress(items, desc="decomposing training set (cached once)"))
        self.load_eval_pairs(context)
        run = decompose(self.decom)
        self.eval_maps = [run(normalize_uint8(low), normalize_uint8(high))[None] for low, high in self.eval_pairs]
        return len(self.source)

    @staticmethod
    def split(maps) -> dict[str, Any]:
        return {name: maps[..., s] for name, s in CHANNELS.items()}


class RestoreTask(FrozenDecomTask):
    """Stage 2: RestorationNet(R_low, I_low) → R, target R_high^1.2; MSE + gradient + (1 − SSIM)."""

    name = "restore"

    def transform(self, patch, draws):
        maps = self.split(patch)
        return {"reflectance_low": maps["reflectance_low"], "illumination_low": maps["illumination_low"],
                "target": kind_losses.restore_target(maps["reflectance_high"])}

    def compute_losses(self, model, batch, training=True):
        restored = tf.cast(model([batch["reflectance_low"], batch["illumination_low"]], training=training),
                           tf.float32)
        return kind_losses.restore_losses(restored, batch["target"])

    def evaluate(self, model, ratios):
        result = EvalResult()
        scores: dict[str, list[float]] = {}
        rows = []
        for maps in self.eval_maps:
            maps = self.split(tf.constant(maps))
            target = kind_losses.restore_target(maps["reflectance_high"])
            restored = model([maps["reflectance_low"], maps["illumination_low"]], training=False)
            for key, out in {"restored": restored, "input_reflectance": maps["reflectance_low"]}.items():
                psnr, ssim = psnr_ssim(out, target)
                scores.setdefault(f"{key}/psnr", []).append(psnr)
                scores.setdefault(f"{key}/ssim", []).append(ssim)
            rows.append(_row(maps["reflectance_low"], restored, target))
        result.metrics = {key: float(np.mean(values)) for key, values in scores.items()}
        if rows:
            result.images = {"restore/R_low|restored|target": _stack(rows)}
        return result


class AdjustTask(FrozenDecomTask):
    """Stage 3: IlluminationAdjustNet(I, ratio map) → I', randomly brightening or darkening."""

    name = "adjust"

    def transform(self, patch, draws):
        maps = self.split(patch)
        low, high = maps["illumination_low"], maps["illumination_high"]
        ratio = kind_losses.adjust_ratio(low, high)
        brighten = tf.equal(tf.math.floormod(draws[3], 2), 0)
        ones = tf.ones_like(low)
        return {
            "illumination": tf.where(brighten, low, high),
            "ratio_map": tf.where(brighten, ones * (1.0 / ratio + kind_losses.ADJUST_RATIO_EPSILON), ones * ratio),
            "target": tf.where(brighten, high, low),
        }

    def compute_losses(self, model, batch, training=True):
        adjusted = tf.cast(model([batch["illumination"], batch["ratio_map"]], training=training), tf.float32)
        return kind_losses.adjust_losses(adjusted, batch["target"])

    def evaluate(self, model, ratios):
        result = EvalResult()
        scores: dict[str, list[float]] = {}
        rows = []
        for maps in self.eval_maps:
            maps = self.split(tf.constant(maps))
            low, high = maps["illumination_low"], maps["illumination_high"]
            ratio = kind_losses.adjust_ratio(low, high)[:, None, None, None]
            brightened = model([low, tf.ones_like(low) * (1.0 / ratio + kind_losses.ADJUST_RATIO_EPSILON)],
                               training=False)
            darkened = model([high, tf.ones_like(high) * ratio], training=False)
            for key, (out, ref) in {"brighten": (brightened, high), "darken": (darkened, low)}.items():
                psnr, ssim = psnr_ssim(out, ref)
                scores.setdefault(f"{key}/psnr", []).append(psnr)
                scores.setdefault(f"{key}/ssim", []).append(ssim)
            fixed = [model([low, tf.ones_like(low) * r], training=False) for r in ratios]
            rows.append(_row(low, *fixed, high))
        result.metrics = {key: float(np.mean(values)) for key, values in scores.items()}
        if rows:
            label = "|".join(f"x{r:g}" for r in ratios)
            result.images = {f"adjust/I_low|{label}|I_high": _stack(rows)}
        return result


TASKS: dict[str, type[Task]] = {"decom": DecomTask, "restore": RestoreTask, "adjust": AdjustTask}


def register_task(name: str, task_class: type[Task]) -> None:
    """Make a new stage trainable by name (e.g. a Zero-DCE++ task)."""
    TASKS[name] = task_class


def make_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"unknown stage {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name]()


__all__ = ["Task", "TaskContext", "EvalResult", "DecomTask", "RestoreTask", "AdjustTask", "TASKS",
           "register_task", "make_task"]
