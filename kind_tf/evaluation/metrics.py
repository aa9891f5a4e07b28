"""What is measured per image (``kind_tf.metrics``, all on RGB floats in [0, 1]), what each number means,
and the input-brightness bands every metric is also reported in.

- PSNR (dB) and SSIM (``tf.image.ssim``: 11×11 Gaussian window, σ 1.5), enhanced vs ground truth;
- LOE (lightness order error, Wang et al. 2013): the convention of the reference values in
  ``../shared/reference/metrics`` — the reference image is the method's INPUT (the low-light image),
  so LOE measures how much the enhancement scrambles the input's lightness order. The same in both
  modes, so paired and plain numbers are comparable; it is never computed against the ground truth;
- NIQE of the enhanced image (MATLAB release, 96×96 blocks): NaN for images too small for two blocks.
"""

from __future__ import annotations

import math

import numpy as np

SSIM_MIN_SIZE = 11  # tf.image.ssim's window
FULL_REFERENCE = ("psnr", "ssim")
NO_REFERENCE = ("loe", "niqe", "brightness", "color_cast", "blockiness")
METRIC_INFO = {
    "psnr": ("PSNR", "dB, higher is better; enhanced vs ground truth, RGB in [0, 1] (tf.image.psnr, max_val 1)"),
    "ssim": ("SSIM", "higher is better; enhanced vs ground truth, RGB in [0, 1] (tf.image.ssim, 11x11 Gaussian, "
                     "sigma 1.5, K1 0.01, K2 0.03)"),
    "loe": ("LOE", "lower is better; lightness order error of the enhanced image w.r.t. the INPUT (low-light) "
                   "image (Wang et al. 2013, MATLAB reference computation, 50-px short side)"),
    "niqe": ("NIQE", "lower is better; of the enhanced image (Mittal et al. 2013, MATLAB release, 96x96 blocks)"),
    "brightness": ("brightness", "mean of RGB in [0, 1] over the enhanced image (well-exposed photos: ~0.4-0.6)"),
    "color_cast": ("colour cast", "lower is better; max - min of the enhanced image's R, G, B means (grey world)"),
    "blockiness": ("blockiness", "lower is better (compare with the ground truth's); JPEG block-grid artefacts: excess "
                                 "power of the 8-px harmonics of |luma differences| in units of the mean AC power "
                                 "(Wang, Bovik & Evans, ICIP 2000, normalised; kind_tf.metrics.blocking)"),
}
# Input-brightness bands (mean RGB of the low-light input in [0, 1]): every metric is also reported per band,
# since the darkest inputs are where enhancement fails first (SICE eval pairs: 6 / 20 / 33 images).
BANDS = (("input < 0.05", 0.0, 0.05), ("input 0.05-0.1", 0.05, 0.1), ("input >= 0.1", 0.1, math.inf))


def band_of(input_brightness: float) -> str:
    for name, low, high in BANDS:
        if low <= input_brightness < high:
            return name
    return BANDS[0][0]


def image_metrics(low: np.ndarray, enhanced: np.ndarray, high: np.ndarray | None) -> dict[str, float]:
    """PSNR / SSIM vs ``high`` (when given), LOE vs ``low`` (the input), NIQE (NaN if too small),
    brightness, colour cast and blockiness of ``enhanced``."""
    from kind_tf.metrics import blockiness, brightness, color_cast, loe, psnr, ssim

    values: dict[str, float] = {}
    if high is not None:
        values["psnr"] = float(psnr(high, enhanced))
        values["ssim"] = float(ssim(high, enhanced)) if min(high.shape[:2]) >= SSIM_MIN_SIZE else math.nan
    values["loe"] = float(loe(low, enhanced))
    values["niqe"] = niqe_or_nan(enhanced)
    values["brightness"] = float(brightness(enhanced))
    values["color_cast"] = float(color_cast(enhanced))
    values["blockiness"] = float(blockiness(enhanced))
    return values


REFERENCE_METRICS = ("brightness", "color_cast", "blockiness")


def reference_metrics(high: np.ndarray) -> dict[str, float]:
    """The ground truth's own brightness, colour cast and blockiness (what an enhanced image should match)."""
    from kind_tf.metrics import blockiness, brightness, color_cast

    return {"brightness": float(brightness(high)), "color_cast": float(color_cast(high)),
            "blockiness": float(blockiness(high))}


def niqe_or_nan(image: np.ndarray) -> float:
    from kind_tf.metrics import niqe
    from kind_tf.metrics.naturalness import NIQE_BLOCK_SIZE

    height, width = image.shape[:2]
    if (height // NIQE_BLOCK_SIZE) * (width // NIQE_BLOCK_SIZE) < 2:
        return math.nan
    return float(niqe(image))

