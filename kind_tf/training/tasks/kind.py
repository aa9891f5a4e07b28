"""KinD's three training stages (decom, restore, adjust), as the original training scripts define them.

Recipes: ``original`` is ../shared/reference/kind_official/TRAINING.md; ``cpu`` a short schedule for a
2-core CPU (same losses, data, augmentation and optimiser, fewer steps; restore: smaller patches), its
learning-rate decay keeping the original's position relative to the run. Every stage writes the run's
``weights`` folder (method ``kind``), and once decom and adjust are in it the stages' evaluation also scores
the whole pipeline (ratio 5) on the eval pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from kind_tf.data.decomposition import CHANNELS, cached_decompositions, decompose
from kind_tf.data.pairs import normalize_uint8
from kind_tf.data.sampling import ImagePairSource
from kind_tf.losses import kind as kind_losses
from kind_tf.methods.kind import BACKBONES
from kind_tf.registry import Registry, UnknownNameError
from kind_tf.training.config import ConfigError, StageRecipe
from kind_tf.training.tasks.base import (
    TASKS,
    EvalResult,
    MeanScores,
    Task,
    TaskContext,
    image_row,
    psnr_ssim,
    stack_rows,
)
from kind_tf.weights import WeightsError, build_stage, has_stage, load_stage

PIPELINE_EVAL_RATIO = 5.0

RECIPES: dict[str, dict[str, StageRecipe]] = {
    "original": {
        "decom": StageRecipe(batch_size=10, patch_size=48, epochs=2000),
        # ÷2 after epoch 800, ÷4 after 1250, ÷10 after 1500 (the original's schedule, written for
        # longer runs: with 1000 epochs only the first decay happens).
        "restore": StageRecipe(batch_size=4, patch_size=384, epochs=1000, lr_decay_epochs=(800, 1250, 1500),
                               lr_decay_factors=(0.5, 0.25, 0.1)),
        "adjust": StageRecipe(batch_size=10, patch_size=48, epochs=2000),
    },
    # Sized for 2 shared CPU cores (measured steps/s on this project's 2-core CPU in brackets):
    # decom ≈ 10–15 min (5.5–8 steps/s), restore ≈ 15 min (2.3 steps/s at patch 96; the original's
    # patch 384 runs at 0.16 steps/s), adjust ≈ 6 min (≈28 steps/s).
    "cpu": {
        "decom": StageRecipe(batch_size=10, patch_size=48, steps=5000),
        "restore": StageRecipe(batch_size=4, patch_size=96, steps=2000, lr_decay_fractions=(0.8,),
                               lr_decay_factors=(0.5,)),
        "adjust": StageRecipe(batch_size=10, patch_size=48, steps=10000),
    },
}


def recipes_of(stage: str) -> dict[str, StageRecipe]:
    return {preset: table[stage] for preset, table in RECIPES.items()}


class KinDPipelineEval:
    """Evaluation of the whole KinD pipeline (ratio 5) on the eval pairs, once the run's weights folder holds
    decom and adjust (the stage being trained taken from memory): a stage's improvement seen end to end."""

    pipeline_class: Any = None   # default: kind_tf.inference.KinD

    def pipeline_metrics(self, model: keras.Model) -> dict[str, float]:
        if not self.eval_pairs:
            return {}
        if getattr(self, "_pipeline", None) is None:
            from kind_tf.inference import KinD

            folder = self.context.weights_dir if self.context is not None else None

            def stage_model(stage):
                if self.weights_stage == stage:
                    return model
                if stage == "decom" and getattr(self, "decom", None) is not None:
                    return self.decom
                return load_stage(folder, stage) if folder is not None and has_stage(folder, stage) else None

            decom, restore, adjust = (stage_model(s) for s in ("decom", "restore", "adjust"))
            if decom is None or adjust is None:
                return {}
            self._pipeline = (self.pipeline_class or KinD)(decom, restore, adjust)
        scores = []
        for low, high in self.eval_pairs:
            enhanced = self._pipeline.enhance(low, PIPELINE_EVAL_RATIO)
            scores.append(psnr_ssim(enhanced[None], (high.astype(np.float32) / 255.0)[None]))
        psnr, ssim = np.mean(scores, axis=0)
        # Without a trained restoration net the pipeline runs as the original release (R_restored = R_low).
        name = "pipeline_ratio5" if self._pipeline.restore is not None else "pipeline_ratio5_no_restore"
        return {f"{name}/psnr": float(psnr), f"{name}/ssim": float(ssim)}

    def with_pipeline_metrics(self, result: EvalResult, model: keras.Model) -> EvalResult:
        result.metrics.update(self.pipeline_metrics(model))
        return result


def _normalized(image: np.ndarray) -> np.ndarray:
    return normalize_uint8(image)[None]


class DecomTask(KinDPipelineEval, Task):
    """Stage 1: DecomNet on low AND high (shared weights), reconstruction + smoothness losses."""

    name = "decom"
    recipes = recipes_of("decom")
    # The loss of (low, high, R_low, I_low, R_high, I_high) → per-example terms (KinD++ sets its own).
    decom_loss = staticmethod(kind_losses.decom_losses)

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
        return self.decom_loss(batch["low"], batch["high"], *outputs)

    def evaluate(self, model, ratios):
        result = EvalResult()
        scores = MeanScores()
        rows_low, rows_high = [], []
        for low_u8, high_u8 in self.eval_pairs:
            low, high = _normalized(low_u8), _normalized(high_u8)
            r_low, i_low = model(low, training=False)
            r_high, i_high = model(high, training=False)
            for key, (out, ref) in {"recon_low": (r_low * i_low, low), "recon_high": (r_high * i_high, high),
                                    "reflectance_low_vs_high": (r_low, r_high)}.items():
                scores.add_psnr_ssim(key, out, ref)
            rows_low.append(image_row(low, r_low, i_low))
            rows_high.append(image_row(high, r_high, i_high))
        result.metrics = scores.means()
        if rows_low:
            result.images = {"decom_low/input|R|I": stack_rows(rows_low), "decom_high/input|R|I": stack_rows(rows_high)}
        return self.with_pipeline_metrics(result, model)


class FrozenDecomTask(KinDPipelineEval, Task):
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
    recipes = recipes_of("restore")
    accepts_degradation = True
    loss_original = "kind_restore"
    loss_channels = 3
    # --backbone name → the network class name (a kind_tf.weights.NETWORKS entry): the KinD method's
    # registry (kind_tf.methods.kind.BACKBONES, light, so the command line lists it without Keras).
    BACKBONES: Registry[str] = BACKBONES
    # The recipe's loss of (restored, target) and its target (s·R_high)^γ: KinD's R_high^1.2 (KinD++ sets its own).
    restore_loss = staticmethod(kind_losses.restore_losses)
    target_scale = 1.0
    target_gamma = kind_losses.RESTORE_TARGET_GAMMA

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
            return build_stage(self.weights_stage, class_name, backbone_config)
        except TypeError as error:
            raise ConfigError(f"--backbone-config: {error}") from None

    def restore_target(self, reflectance_high):
        """The restoration target of the eval pairs (the training samples' is made in :meth:`transform`)."""
        return ops.power(self.target_scale * reflectance_high, self.target_gamma)

    def transform(self, patch, draws):
        maps = self.split(patch)
        # (s·R_high)^γ (restore_target) in numpy: samples are made on the host (kind_tf.data.sampling). s = 1 is
        # not multiplied, so KinD's target stays bit-identical to R_high^1.2.
        reflectance = maps["reflectance_high"]
        if self.target_scale != 1.0:
            reflectance = np.float32(self.target_scale) * reflectance
        target = np.power(reflectance, np.float32(self.target_gamma), dtype=np.float32)
        return {"reflectance_low": maps["reflectance_low"], "illumination_low": maps["illumination_low"],
                "target": target}

    def compute_losses(self, model, batch, training=True):
        restored = ops.cast(model([batch["reflectance_low"], batch["illumination_low"]], training=training),
                            "float32")
        terms = (self.loss.terms(batch["target"], restored) if self.loss is not None
                 else self.restore_loss(restored, batch["target"]))
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
        scores = MeanScores()
        rows = []
        for maps in self.eval_maps:
            maps = self.split(ops.convert_to_tensor(maps))
            target = self.restore_target(maps["reflectance_high"])
            restored = model([maps["reflectance_low"], maps["illumination_low"]], training=False)
            for key, out in {"restored": restored, "input_reflectance": maps["reflectance_low"]}.items():
                scores.add_psnr_ssim(key, out, target)
            rows.append(image_row(maps["reflectance_low"], restored, target))
        result.metrics = scores.means()
        if rows:
            result.images = {"restore/R_low|restored|target": stack_rows(rows)}
        return self.with_pipeline_metrics(result, model)


class AdjustTask(FrozenDecomTask):
    """Stage 3: IlluminationAdjustNet(I, ratio map) → I', randomly brightening or darkening."""

    name = "adjust"
    recipes = recipes_of("adjust")
    adjust_loss = staticmethod(kind_losses.adjust_losses)   # (adjusted, target) → terms; KinD++ sets its own
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
        return self.adjust_loss(adjusted, batch["target"])

    def evaluate(self, model, ratios):
        result = EvalResult()
        scores = MeanScores()
        rows = []
        for maps in self.eval_maps:
            maps = self.split(ops.convert_to_tensor(maps))
            low, high = maps["illumination_low"], maps["illumination_high"]
            ratio = kind_losses.adjust_ratio(low, high)[:, None, None, None]
            brightened = model([low, ops.ones_like(low) * (1.0 / ratio + kind_losses.ADJUST_RATIO_EPSILON)],
                               training=False)
            darkened = model([high, ops.ones_like(high) * ratio], training=False)
            for key, (out, ref) in {"brighten": (brightened, high), "darken": (darkened, low)}.items():
                scores.add_psnr_ssim(key, out, ref)
            fixed = [model([low, ops.ones_like(low) * r], training=False) for r in ratios]
            rows.append(image_row(low, *fixed, high))
        result.metrics = scores.means()
        if rows:
            label = "|".join(f"x{r:g}" for r in ratios)
            result.images = {f"adjust/I_low|{label}|I_high": stack_rows(rows)}
        return self.with_pipeline_metrics(result, model)




for _task in (DecomTask, RestoreTask, AdjustTask):
    TASKS.register(_task.name, _task)
del _task
