"""Per-stage training Tasks (Model-Garden style): model, inputs, losses, evaluation of one stage.

The generic :class:`kind_tf.training.trainer.Trainer` runs any Task under any ``tf.distribute``
strategy. A Task only says what differs between stages:

* ``build_model()`` — the trainable network (built, so it has variables);
* ``prepare(context)`` — host-side setup: read the data (and e.g. the frozen DecomNet's cached
  decompositions), return the number of training examples;
* ``build_inputs(sampling, ...)`` — the tf.data pipeline of training batches (dicts of tensors);
* ``compute_losses(model, batch)`` — per-example loss terms, including ``"total"``;
* ``configure_loss(spec)`` — ``--loss SPEC`` (kind_tf.losses.parse_spec) replaces the recipe's loss
  on (y_true = the stage's target, y_pred = the network output) where the stage has such a pair:
  restore (R_high^1.2, restored R; RGB) and adjust (target illumination, adjusted I'; 1 channel);
* ``evaluate(model)`` — metrics and images on the (small) evaluation set.

Adding a stage is one more subclass registered in ``TASKS`` (a :class:`kind_tf.registry.Registry`:
``@TASKS.register("name")`` on the class, or ``register_task``), in the module that defines it: its own
inputs, losses, evaluation and export. :class:`ZeroDCETask` (``--stage zerodce``) is such a stage:
Zero-DCE++ on a folder of unpaired images (kind_tf.data.unpaired), zero-reference losses, the
original's torch-style optimiser (recipe ``optimizer="torch_adam"``), weights exported to
``RUN/weights_zero_dce`` (``Task.weights_folder``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from kind_tf.backend import to_numpy
from kind_tf.convert.zero_dce_pth import CONFIG_FILE as ZERO_DCE_CONFIG_FILE
from kind_tf.convert.zero_dce_pth import MODEL_NAME as ZERO_DCE_MODEL_NAME
from kind_tf.convert.zero_dce_pth import WEIGHTS_FILE as ZERO_DCE_WEIGHTS_FILE
from kind_tf.data.decomposition import CHANNELS, cached_decompositions, decompose
from kind_tf.data.degrade import JpegDegradation, parse_degradation
from kind_tf.data.pairs import find_pairs, load_pairs, normalize_uint8
from kind_tf.data.sampling import ImagePairSource, PatchSource, Sampling, sample_patch
from kind_tf.data.unpaired import (
    find_images,
    load_images,
    load_training_images,
    to_float,
    unpaired_dataset,
    unpaired_sample,
)
from kind_tf.image_ops import Tensor
from kind_tf.losses import kind as kind_losses
from kind_tf.losses.registry import ORIGINAL, CombinedLoss, parse_spec
from kind_tf.losses.zero_reference import EXPOSURE_PATCH_SIZE, zero_dce_loss_terms
from kind_tf.models.zero_dce import INFERENCE_SCALE_FACTOR, ZeroDCEPlusPlus, apply_curve
from kind_tf.registry import Registry, UnknownNameError
from kind_tf.training.config import ConfigError, StageRecipe, TrainConfig
from kind_tf.weights import WeightsError, _write_json_atomic, build_stage, has_stage, load_stage


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


def _gray3(single: np.ndarray) -> np.ndarray:
    return np.concatenate([single] * 3, axis=-1)


def _row(*panels: Tensor) -> np.ndarray:
    """Side-by-side panels [1, H, W, C] (C = 1 or 3) → [1, H, ΣW, 3] for an image summary."""
    panels = [np.asarray(to_numpy(p), np.float32) for p in panels]
    panels = [_gray3(p) if p.shape[-1] == 1 else p for p in panels]
    return np.clip(np.concatenate(panels, axis=2), 0.0, 1.0)


class Task:
    """Base class of a training stage. See the module docstring."""

    name: str = ""
    output_names: tuple[str, ...] = ()
    # Where the trainer exports this stage's weights, relative to the run folder.
    weights_folder: str = "weights"
    # The registered loss that --loss "original" means, and the channels of (y_true, y_pred); None:
    # the stage's loss is not a (prediction, target) loss and --loss cannot replace it.
    loss_original: str | None = None
    loss_channels: int | None = None
    # Whether ``--degrade`` (degraded copies of the low images) applies to this stage.
    accepts_degradation = False
    # A stage registered outside kind_tf.training.config.PRESETS: its recipe per preset name ("original",
    # "cpu"), which TrainConfig.recipe() falls back to. None: the stage's recipes are in PRESETS.
    recipes: dict[str, StageRecipe] | None = None

    def __init__(self):
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
    def build_model(self) -> keras.Model:
        return build_stage(self.name)

    def prepare(self, context: TaskContext) -> int:
        raise NotImplementedError

    def transform(self, patch: Tensor, draws: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError

    def compute_losses(self, model: keras.Model, batch: dict[str, Tensor], training: bool = True
                       ) -> dict[str, Tensor]:
        raise NotImplementedError

    def evaluate(self, model: keras.Model, ratios: tuple[float, ...]) -> EvalResult:
        return EvalResult()

    def export(self, weights_dir: Path, model: keras.Model, metadata: dict[str, Any]) -> None:
        """Write the trained network (KinD stages use kind_tf.weights; other tasks override this)."""
        raise NotImplementedError(f"task {self.name!r} does not define how to export its weights")

    def initialize(self, model: keras.Model, weights_dir: Path) -> None:
        """Fine-tuning (``--init-weights``): copy the stage's weights from a weights folder into ``model``."""
        try:
            source = load_stage(weights_dir, self.name)
        except WeightsError as error:
            raise ConfigError(f"--init-weights: {error}") from None
        if type(source) is not type(model):
            raise ConfigError(f"--init-weights: {weights_dir} holds a {type(source).__name__} for the {self.name} "
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


def _normalized(image: np.ndarray) -> np.ndarray:
    return normalize_uint8(image)[None]


class DecomTask(Task):
    """Stage 1: DecomNet on low AND high (shared weights), reconstruction + smoothness losses."""

    name = "decom"

    def prepare(self, context):
        self.configure_loss(context.config.loss)
        _, lows, highs = self.load_training_pairs(context)
        self.source = ImagePairSource(lows, highs)
        self.load_eval_pairs(context)
        return len(self.source)

    def transform(self, patch, draws):
        return {"low": patch[..., 0:3], "high": patch[..., 3:6]}

    def compute_losses(self, model, batch, training=True):
        reflectance_low, illumination_low = model(batch["low"], training=training)
        reflectance_high, illumination_high = model(batch["high"], training=training)
        outputs = [ops.cast(x, "float32") for x in (reflectance_low, illumination_low,
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
        self.configure_loss(context.config.loss)
        folder = self.decom_weights_dir(context)
        try:
            self.decom = load_stage(folder, "decom")
        except WeightsError as error:
            raise ConfigError(str(error)) from None
        self.decom.trainable = False
        pairs, lows, highs = self.load_training_pairs(context)
        variant = ""
        degradation = self.degradation(context)
        if degradation is not None:
            # The clean pairs plus one degraded copy of every low image, paired with the same target.
            pairs, lows, highs = pairs + pairs, lows + degradation.apply(lows, context.config.seed), highs + highs
            variant = f"{degradation.key}|seed={context.config.seed}"
        self.source = cached_decompositions(
            self.decom, folder / "decom.weights.h5", pairs, lows, highs, context.run_dir / "cache",
            progress=lambda items: context.progress(items, desc="decomposing training set (cached once)"),
            variant=variant)
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
    accepts_degradation = True
    loss_original = "kind_restore"
    loss_channels = 3
    # --backbone name → the network class name in kind_tf.weights.STAGE_CLASSES (a Registry: a new backbone
    # is ``RestoreTask.BACKBONES.register(name, class_name)`` beside its network's STAGE_CLASSES entry).
    BACKBONES: Registry[str] = Registry("backbone")
    BACKBONES.register("kind", "RestorationNet")
    BACKBONES.register("improved_unet", "ImprovedUNet")

    def prepare(self, context):
        config = context.config
        try:
            class_name = self.BACKBONES.get(config.backbone)
        except UnknownNameError as error:
            raise ConfigError(f"--backbone: {error}") from None
        self.backbone = (class_name, dict(config.backbone_config or {}))
        return super().prepare(context)

    def build_model(self):
        class_name, backbone_config = getattr(self, "backbone", (self.BACKBONES["kind"], {}))
        try:
            return build_stage(self.name, class_name, backbone_config)
        except TypeError as error:
            raise ConfigError(f"--backbone-config: {error}") from None

    def transform(self, patch, draws):
        maps = self.split(patch)
        # R_high^1.2 (kind_losses.restore_target) in numpy: samples are made on the host (kind_tf.data.sampling).
        target = np.power(maps["reflectance_high"], np.float32(kind_losses.RESTORE_TARGET_GAMMA), dtype=np.float32)
        return {"reflectance_low": maps["reflectance_low"], "illumination_low": maps["illumination_low"],
                "target": target}

    def compute_losses(self, model, batch, training=True):
        restored = ops.cast(model([batch["reflectance_low"], batch["illumination_low"]], training=training),
                            "float32")
        terms = (self.loss.terms(batch["target"], restored) if self.loss is not None
                 else kind_losses.restore_losses(restored, batch["target"]))
        if training and model.losses:
            # Regularisers the backbone adds in training calls (the improved U-Net's SAD, weighted by λ).
            # It is a batch-level scalar: repeat it per example, like the other (per-example) terms.
            terms = dict(terms)
            sad = ops.cast(sum(model.losses), "float32")
            terms["sad"] = ops.zeros_like(terms["total"]) + sad
            terms["total"] = terms["total"] + terms["sad"]
        return terms

    def evaluate(self, model, ratios):
        result = EvalResult()
        scores: dict[str, list[float]] = {}
        rows = []
        for maps in self.eval_maps:
            maps = self.split(ops.convert_to_tensor(maps))
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
    loss_original = "kind_adjust"
    loss_channels = 1

    def transform(self, patch, draws):
        maps = self.split(patch)
        low, high = maps["illumination_low"], maps["illumination_high"]
        # kind_losses.adjust_ratio, mean(I_low / (I_high + ε)), in numpy on the host sample (float32 sums).
        epsilon = np.float32(kind_losses.ADJUST_RATIO_EPSILON)
        ratio = np.mean(low / (high + epsilon), dtype=np.float32)
        brighten = int(draws[3]) % 2 == 0
        ones = np.ones_like(low)
        return {
            "illumination": low if brighten else high,
            "ratio_map": ones * (np.float32(1.0) / ratio + epsilon) if brighten else ones * ratio,
            "target": high if brighten else low,
        }

    def compute_losses(self, model, batch, training=True):
        adjusted = ops.cast(model([batch["illumination"], batch["ratio_map"]], training=training), "float32")
        if self.loss is not None:
            return self.loss.terms(batch["target"], adjusted)
        return kind_losses.adjust_losses(adjusted, batch["target"])

    def evaluate(self, model, ratios):
        result = EvalResult()
        scores: dict[str, list[float]] = {}
        rows = []
        for maps in self.eval_maps:
            maps = self.split(ops.convert_to_tensor(maps))
            low, high = maps["illumination_low"], maps["illumination_high"]
            ratio = kind_losses.adjust_ratio(low, high)[:, None, None, None]
            brightened = model([low, ops.ones_like(low) * (1.0 / ratio + kind_losses.ADJUST_RATIO_EPSILON)],
                               training=False)
            darkened = model([high, ops.ones_like(high) * ratio], training=False)
            for key, (out, ref) in {"brighten": (brightened, high), "darken": (darkened, low)}.items():
                psnr, ssim = psnr_ssim(out, ref)
                scores.setdefault(f"{key}/psnr", []).append(psnr)
                scores.setdefault(f"{key}/ssim", []).append(ssim)
            fixed = [model([low, ops.ones_like(low) * r], training=False) for r in ratios]
            rows.append(_row(low, *fixed, high))
        result.metrics = {key: float(np.mean(values)) for key, values in scores.items()}
        if rows:
            label = "|".join(f"x{r:g}" for r in ratios)
            result.images = {f"adjust/I_low|{label}|I_high": _stack(rows)}
        return result


class ZeroDCETask(Task):
    """Zero-DCE++ (lowlight_train.py) on unpaired images: DCE-Net at the recipe's scale_factor (the
    original: 1), zero-reference loss on the full-resolution images.

    Inputs: every image under ``--data`` resized to ``recipe.patch_size``² (512 in the original
    recipe; kind_tf.data.unpaired), batches ``{"images": [b, S, S, 3]}``, no augmentation.
    Loss: :func:`kind_tf.losses.zero_reference.zero_dce_loss_terms` with the original weights
    (1600·L_TV + L_spa + 5·L_col + 10·L_exp). Initialisation: PyTorch's default for Conv2d
    (the original's ``weights_init`` is commented out). Optimiser: the recipe's ``torch_adam``.
    Evaluation (TensorBoard): the loss terms and brightness of the first ``--eval-images`` images of
    ``--eval-data`` (any folder of images) or, without it, of the training folder, downscaled to
    ``--eval-size``; image summary ``input | enhanced | curve map`` with the curve map A shown as
    ``(1 − A) / 2`` (white: strongest brightening, mid-grey: identity, black: darkening).
    Export: ``RUN/weights_zero_dce/{model.weights.h5, config.json}`` with ``scale_factor`` 12 (the
    original's inference setting), i.e. what ``load_zero_dce`` / ``enhance.py --model zerodce
    --weights DIR`` load.
    """

    name = "zerodce"
    weights_folder = "weights_zero_dce"

    def __init__(self):
        super().__init__()
        self.images: np.ndarray | None = None      # [N, S, S, 3] uint8, resized training images
        self.seed = 0
        self.scale_factor = 1

    def prepare(self, context):
        self.configure_loss(getattr(context.config, "loss", None))
        size = context.recipe.patch_size
        if size < EXPOSURE_PATCH_SIZE:
            raise ConfigError(f"--patch-size {size}: Zero-DCE++ trains on whole images resized to that side, "
                              f"which must be ≥ {EXPOSURE_PATCH_SIZE} (the exposure loss's patch)")
        self.seed = context.config.seed
        self.scale_factor = context.recipe.scale_factor
        self.images = load_training_images(
            context.config.data, size,
            progress=lambda items: context.progress(items, desc=f"reading training images (resized to {size})"))
        config = context.config
        if config.eval_images > 0:
            root = config.eval_data or config.data
            paths = find_images(root)[: config.eval_images]
            # (input, no reference): Zero-DCE++ has no target; the trainer evaluates while eval_pairs is non-empty.
            self.eval_pairs = [(image, None) for image in
                               load_images(paths, max_side=config.eval_size, root=root)]
        return len(self.images)

    def build_model(self) -> keras.Model:
        model = ZeroDCEPlusPlus(scale_factor=self.scale_factor)
        model.build((None, None, None, 3))
        torch_default_init(model, np.random.default_rng(self.seed))
        return model

    def sample_fn(self, sampling):
        return unpaired_sample(self.images, sampling)

    def build_inputs(self, sampling, *, start_step, total_steps, replica_batch, first_replica=0,
                     local_replicas=1):
        return unpaired_dataset(self.images, sampling, start_step=start_step, total_steps=total_steps,
                                replica_batch=replica_batch, first_replica=first_replica,
                                local_replicas=local_replicas)

    @staticmethod
    def forward(model: keras.Model, images: Tensor, training: bool = False) -> tuple[Tensor, Tensor]:
        """(enhanced, A), both float32. Under mixed precision DCE-Net runs in the compute dtype but the
        curve iterations are redone in float32 (as the losses and the inference path use them)."""
        images = ops.cast(images, "float32")
        enhanced, curve = model(images, training=training, return_curve=True)
        if enhanced.dtype != images.dtype:
            curve = ops.cast(curve, "float32")
            enhanced = apply_curve(images, curve, model.iterations)
        return enhanced, curve

    def compute_losses(self, model, batch, training=True):
        images = batch["images"]
        enhanced, curve = self.forward(model, images, training=training)
        terms = zero_dce_loss_terms(images, enhanced, curve)
        # Every term of the original is a mean over the batch of per-image values of equal weight, so
        # the batch mean repeated per example is exact: the trainer's compute_average_loss (sum / global
        # batch) then gives this replica's share, and the replicas' sum is the global batch's mean.
        zeros = ops.zeros_like(ops.mean(images, axis=(1, 2, 3)))   # [rows]
        return {name: zeros + value for name, value in terms.items()}

    def evaluate(self, model, ratios):
        result = EvalResult()
        scores: dict[str, list[float]] = {}
        rows = []
        for image, _ in self.eval_pairs:
            images = ops.convert_to_tensor(to_float(image[None]))
            enhanced, curve = self.forward(model, images)
            terms = zero_dce_loss_terms(images, enhanced, curve)
            for name, value in terms.items():
                scores.setdefault(f"loss/{name}", []).append(float(value))
            clipped = ops.clip(enhanced, 0.0, 1.0)
            scores.setdefault("brightness/input", []).append(float(ops.mean(images)))
            scores.setdefault("brightness/enhanced", []).append(float(ops.mean(clipped)))
            rows.append(_row(images, clipped, (1.0 - curve) / 2.0))
        result.metrics = {key: float(np.mean(values)) for key, values in scores.items()}
        if rows:
            result.images = {"zerodce/input|enhanced|curve_map": _stack(rows)}
        return result

    def initialize(self, model, weights_dir):
        from kind_tf.convert.zero_dce_pth import load_zero_dce

        try:
            source = load_zero_dce(weights_dir)
        except (WeightsError, OSError, ValueError) as error:
            raise ConfigError(f"--init-weights: {error}") from None
        model.set_weights(source.get_weights())

    def export(self, weights_dir, model, metadata):
        """``weights_dir``/model.weights.h5 + config.json for load_zero_dce (scale_factor 12)."""
        weights_dir = Path(weights_dir)
        weights_dir.mkdir(parents=True, exist_ok=True)
        tmp = weights_dir / f".tmp.{ZERO_DCE_WEIGHTS_FILE}"
        model.save_weights(tmp)            # variables are float32 whatever the compute dtype
        os.replace(tmp, weights_dir / ZERO_DCE_WEIGHTS_FILE)
        training = dict(metadata.get(f"{self.name}_training", metadata))
        training["scale_factor"] = model.scale_factor
        _write_json_atomic(weights_dir / ZERO_DCE_CONFIG_FILE, {
            "model": ZERO_DCE_MODEL_NAME,
            "class": type(model).__name__,
            "scale_factor": INFERENCE_SCALE_FACTOR,
            "iterations": model.iterations,
            "filters": model.filters,
            "param_count": int(model.count_params()),
            "weights": ZERO_DCE_WEIGHTS_FILE,
            "source": {"format": "trained by kind-tf (train.py --stage zerodce)", "training": training},
        })


def torch_default_init(model: keras.Model, rng: np.random.Generator) -> None:
    """PyTorch's default ``nn.Conv2d`` initialisation for every conv of a built ZeroDCEPlusPlus.

    ``kaiming_uniform_(a=√5)`` for the weight and U(−b, b) for the bias, both with
    ``b = 1/√fan_in``, ``fan_in = in_channels / groups · kh · kw`` (9 for DCE-Net's depthwise 3×3,
    ``in_channels`` for its pointwise 1×1). Values are drawn in the Keras layout from ``rng``.
    """
    for block in model.blocks:
        for conv in (block.depth_conv, block.point_conv):
            kh, kw, channels_in = conv.kernel.shape[:3]
            # Depthwise (groups = in_channels): torch weight [in·m, 1, kh, kw], fan_in = kh·kw.
            fan_in = kh * kw * (1 if isinstance(conv, keras.layers.DepthwiseConv2D) else channels_in)
            bound = 1.0 / np.sqrt(fan_in)
            for variable in (conv.kernel, conv.bias):
                variable.assign(rng.uniform(-bound, bound, size=tuple(variable.shape)).astype(np.float32))


# The training stages (train.py --stage NAME): one Registry, shared with kind_tf.methods (a Method's
# ``stages`` name entries of it). A stage defined elsewhere registers itself with ``TASKS.register``.
TASKS: Registry[type[Task]] = Registry("stage")
for _task in (DecomTask, RestoreTask, AdjustTask, ZeroDCETask):
    TASKS.register(_task.name, _task)
del _task


def register_task(name: str, task_class: type[Task]) -> None:
    """Make a new stage trainable by name (kept for older callers: ``TASKS.register(name, cls)``, replacing)."""
    TASKS.register(name, task_class, overwrite=True)


def make_task(name: str) -> Task:
    """A fresh Task of stage ``name``; ConfigError (one line listing the stages) for an unknown name."""
    try:
        return TASKS.get(name)()
    except UnknownNameError as error:
        raise ConfigError(str(error)) from None


__all__ = ["Task", "TaskContext", "EvalResult", "DecomTask", "RestoreTask", "AdjustTask", "ZeroDCETask",
           "TASKS", "register_task", "make_task", "torch_default_init"]
