"""The KinD inference pipeline: decompose → restore reflectance → adjust illumination → fuse.

Exactly the original evaluate.py (see ../shared/reference/kind_official/TRAINING.md, Inference):

    R_low, I_low = DecomNet(x)                              x: per-image min-max normalised input
    R_restored   = RestorationNet(R_low, I_low)
    I_adjusted   = IlluminationAdjustNet(I_low, ratio map)
    w            = min(sqrt(2 · Gaussian_σ=3(gray(R_low))), 1)   "denoise weight"
    output       = I_low · x + (1 − I_low) · (R_restored · w · I_adjusted)

The fusion with the input keeps well-lit regions from over-exposing; ``w`` damps the restored
reflectance in very dark (noisy) regions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kind_tf.image_ops import gaussian_blur, minmax_normalize, rgb_to_gray, to_float_image
from kind_tf.weights import has_stage, load_stage

DEFAULT_RATIO = 5.0
DENOISE_SIGMA = 3.0
# "auto" ratio: the brightening factor that brings the mean illumination of the image to this level,
# clipped to [AUTO_RATIO_MIN, AUTO_RATIO_MAX]. The ratio map means "target / current illumination"
# (TRAINING.md, adjust stage), so this is the natural reading of a brightness target.
AUTO_TARGET_ILLUMINATION = 0.5
AUTO_RATIO_MIN = 1.0
AUTO_RATIO_MAX = 10.0

RatioArg = float | str


def denoise_weight(reflectance: tf.Tensor, sigma: float = DENOISE_SIGMA) -> tf.Tensor:
    """The original post-processing weight w = min((2 · G_σ ∗ gray(R))^0.5, 1), [N, H, W, 1]."""
    return tf.minimum(tf.sqrt(2.0 * gaussian_blur(rgb_to_gray(reflectance), sigma)), 1.0)


def fuse(inputs: tf.Tensor, illumination: tf.Tensor, restored_reflectance: tf.Tensor,
         adjusted_illumination: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
    """output = I_low · x + (1 − I_low) · (R_restored · w · I_adjusted) (original evaluate.py)."""
    enhanced = restored_reflectance * weight * adjusted_illumination
    return illumination * inputs + (1.0 - illumination) * enhanced


def auto_ratio(illumination: tf.Tensor, target: float = AUTO_TARGET_ILLUMINATION) -> tf.Tensor:
    """Per-image ratio = clip(target / mean(I_low), 1, 10) — from the input alone, never the ground truth."""
    mean = tf.reduce_mean(illumination, axis=[1, 2, 3])
    return tf.clip_by_value(target / tf.maximum(mean, 1e-4), AUTO_RATIO_MIN, AUTO_RATIO_MAX)


class KinD:
    """The whole KinD pipeline over three Keras networks.

    Args:
        decom, restore, adjust: the stage networks; ``restore=None`` skips restoration (R_restored = R_low),
            which is how the original release (decom + adjust only) can be run.
        normalize: apply the original's per-image min-max stretch to the input (default True).
        auto_target: mean illumination that ``ratio="auto"`` aims for.
    """

    def __init__(self, decom: keras.Model, restore: keras.Model | None, adjust: keras.Model, *,
                 normalize: bool = True, auto_target: float = AUTO_TARGET_ILLUMINATION):
        self.decom = decom
        self.restore = restore
        self.adjust = adjust
        self.normalize = normalize
        self.auto_target = auto_target
        # One concrete graph for every batch size and image size: no retracing per image.
        self.forward = tf.function(
            self._forward,
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32),
                             tf.TensorSpec([None], tf.float32)],
            reduce_retracing=True,
        )

    @classmethod
    def from_weights(cls, weights_dir: str | os.PathLike, **kwargs: Any) -> "KinD":
        """Load the three stages from a kind-tf weights folder (see :mod:`kind_tf.weights`)."""
        restore = load_stage(weights_dir, "restore") if has_stage(weights_dir, "restore") else None
        return cls(load_stage(weights_dir, "decom"), restore, load_stage(weights_dir, "adjust"), **kwargs)

    def _forward(self, images: tf.Tensor, ratios: tf.Tensor) -> dict[str, tf.Tensor]:
        """images [N, H, W, 3] in [0, 1]; ratios [N], a value ≤ 0 meaning "auto" for that image."""
        inputs = minmax_normalize(images) if self.normalize else images
        reflectance, illumination = self.decom(inputs)
        ratios = tf.where(ratios > 0, ratios, auto_ratio(illumination, self.auto_target))
        ratio_map = tf.ones_like(illumination) * tf.reshape(ratios, [-1, 1, 1, 1])
        if self.restore is not None:
            restored = self.restore([reflectance, illumination])
        else:
            restored = reflectance
        adjusted = self.adjust([illumination, ratio_map])
        weight = denoise_weight(reflectance)
        enhanced = fuse(inputs, illumination, restored, adjusted, weight)
        return {
            "enhanced": tf.clip_by_value(enhanced, 0.0, 1.0),
            "input": inputs,
            "reflectance": reflectance,
            "illumination": illumination,
            "restored_reflectance": restored,
            "adjusted_illumination": adjusted,
            "denoise_weight": weight,
            "ratio": ratios,
        }

    def enhance(self, image: np.ndarray, ratio: RatioArg = DEFAULT_RATIO,
                return_intermediates: bool = False) -> np.ndarray | dict[str, np.ndarray]:
        """Enhance one image [H, W, 3] or a batch [N, H, W, 3] (uint8, uint16 or float in [0, 1]).

        Args:
            ratio: brightening ratio (the adjust net's constant ratio map), or ``"auto"``.
            return_intermediates: also return R, I, restored R, adjusted I, the denoise weight and
                the ratio used, as a dict of numpy arrays.

        Returns:
            The enhanced float32 image(s) in [0, 1] of the input's shape, or the dict of intermediates.
        """
        images = to_float_image(image)
        single = images.ndim == 3
        if single:
            images = images[None]
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected an RGB image [H, W, 3] or batch [N, H, W, 3], got shape {images.shape}")
        ratios = np.full([images.shape[0]], parse_ratio(ratio), np.float32)
        outputs = {name: value.numpy() for name, value in self.forward(images, ratios).items()}
        if single:
            outputs = {name: value[0] for name, value in outputs.items()}
        return outputs if return_intermediates else outputs["enhanced"]


def parse_ratio(ratio: RatioArg) -> float:
    """A positive number, or "auto" (encoded as 0 for the compiled forward pass)."""
    if isinstance(ratio, str):
        if ratio.strip().lower() == "auto":
            return 0.0
        try:
            ratio = float(ratio)
        except ValueError:
            raise ValueError(f"ratio must be a positive number or 'auto', got {ratio!r}") from None
    if not np.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"ratio must be a positive number or 'auto', got {ratio!r}")
    return float(ratio)


def default_weights_dir() -> Path:
    """The shipped weights: ``checkpoints/kind`` beside the package (a source checkout)."""
    return Path(__file__).resolve().parents[1] / "checkpoints" / "kind"
