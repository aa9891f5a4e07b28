"""NIQE: the Natural Image Quality Evaluator, a no-reference ("completely blind") quality score.

Mittal, Soundararajan and Bovik, "Making a Completely Blind Image Quality Analyzer", IEEE SPL
2013. Matches the authors' MATLAB release (``computequality.m``, LIVE, UT Austin) called as
``computequality(im, 96, 96, 0, 0, mu_prisparam, cov_prisparam)`` with its pristine model, which
ships in ``kind_tf/metrics/data/`` with the release's copyright notice (``niqe_readme.txt``).
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import tensorflow as tf
from scipy import ndimage, special

from kind_tf.metrics._inputs import uint8_levels
from kind_tf.metrics._matlab import (
    fspecial_gaussian,
    imfilter_replicate_at,
    imresize,
    nancov,
    nanmean,
    pinv,
    rgb2gray_uint8,
    sequential_sum,
)

NIQE_BLOCK_SIZE = 96  # the pristine model was fitted on 96x96 patches
NIQE_SCALES = 2  # features at full and half resolution
MSCN_C = 1.0  # stabiliser in (I - mu) / (sigma + C), on the 0..255 scale

# |I - mu| below this (relative to max(|I|, 1)) may be rounding noise: a 49-tap sum of values up
# to ~300 rounds by less than 1e-11, so this band holds every pixel whose sign is in doubt.
_ROUNDING_BAND = 1e-9

# Neighbour products for the paired-product features: horizontal, vertical, main and secondary
# diagonal (MATLAB circshift offsets; np.roll has the same sign convention).
_PAIR_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))

# estimateaggdparam.m's grid search over the AGGD shape and the moment ratio it matches.
_AGGD_SHAPES = 0.2 + 0.001 * np.arange(9801)  # MATLAB 0.2:0.001:10
_AGGD_RATIOS = special.gamma(2.0 / _AGGD_SHAPES) ** 2 / (
    special.gamma(1.0 / _AGGD_SHAPES) * special.gamma(3.0 / _AGGD_SHAPES)
)


def _mscn_window() -> np.ndarray:
    window = fspecial_gaussian(7, 7.0 / 6.0)
    # computequality.m normalises again, by sum(sum(window)): column sums first, then their sum.
    # Redundant mathematically, but it changes the last bit of the weights, which NIQE is
    # sensitive to in flat regions (see mscn).
    return window / sequential_sum(np.cumsum(window, axis=0)[-1])


MSCN_WINDOW = _mscn_window()  # 7x7 Gaussian, sigma 7/6


@functools.lru_cache(maxsize=1)
def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """The release's pristine multivariate Gaussian: mean (36,) and covariance (36, 36)."""
    with resources.files("kind_tf.metrics").joinpath("data/niqe_pristine_params.npz").open("rb") as f:
        params = np.load(f)
        return params["mu_prisparam"].ravel(), params["cov_prisparam"]


def mscn(image: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients, as computequality.m computes them.

    7x7 Gaussian (sigma 7/6) local mean and deviation with 'replicate' borders; abs() guards
    against tiny negative variances from cancellation, as in the release.
    """
    mu = ndimage.correlate(image, MSCN_WINDOW, mode="nearest")
    # In flat (or exactly balanced) neighbourhoods I - mu is 0 up to rounding, yet the AGGD fit
    # counts a coefficient as negative, positive or zero (zeros are left out of both scales), so
    # the score follows that rounding: by up to a few percent on dark, clipped low-light images.
    # There, redo the sum with the reference's rounding (5 of the 12 reference images move from
    # 2e-6..1e-4 off to <= 1e-7). Elsewhere the rounding changes nothing that matters.
    redo = np.nonzero(np.abs(image - mu) <= _ROUNDING_BAND * np.maximum(np.abs(image), 1.0))
    mu[redo] = imfilter_replicate_at(image, MSCN_WINDOW, *redo)
    # sigma enters as sigma + 1 (so its rounding cannot flip a sign); no exact sums needed.
    sigma = np.sqrt(np.abs(ndimage.correlate(image * image, MSCN_WINDOW, mode="nearest") - mu * mu))
    return (image - mu) / (sigma + MSCN_C)


def _mean(x: np.ndarray) -> float:
    # MATLAB's mean of an empty vector is NaN; NIQE relies on that for flat blocks.
    return np.sum(x) / x.size if x.size else np.nan


def fit_aggd(x: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching (estimateaggdparam.m).

    Returns (alpha, beta_left, beta_right). A block without negative (or positive) values gives
    NaN scales; MATLAB's ``min`` over an all-NaN vector then picks the first grid point, and so
    does ``np.argmin``, so alpha is 0.2 there as in the release.
    """
    x = x.ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt(_mean(x[x < 0] ** 2))
        right_std = np.sqrt(_mean(x[x > 0] ** 2))
        gamma_hat = left_std / right_std
        r_hat = _mean(np.abs(x)) ** 2 / _mean(x * x)
        r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
        alpha = _AGGD_SHAPES[np.argmin((_AGGD_RATIOS - r_hat_norm) ** 2)]
        spread = np.sqrt(special.gamma(1.0 / alpha) / special.gamma(3.0 / alpha))
    return alpha, left_std * spread, right_std * spread


def block_features(block: np.ndarray) -> np.ndarray:
    """The 18 NIQE features of one MSCN block (computefeature.m)."""
    alpha, beta_l, beta_r = fit_aggd(block)
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in _PAIR_SHIFTS:
        # Circular shift inside the block, as the release applies circshift per block.
        alpha, beta_l, beta_r = fit_aggd(block * np.roll(block, shift, axis=(0, 1)))
        with np.errstate(invalid="ignore"):
            mean = (beta_r - beta_l) * special.gamma(2.0 / alpha) / special.gamma(1.0 / alpha)
        features += [alpha, mean, beta_l, beta_r]
    return np.array(features)


def _blocks(image: np.ndarray, size: int) -> np.ndarray:
    """Distinct size x size blocks, shape (count, size, size).

    In blkproc's column-major order, so feature rows line up with the release's; the score itself
    does not depend on the order.
    """
    rows, cols = image.shape[0] // size, image.shape[1] // size
    return image.reshape(rows, size, cols, size).transpose(2, 0, 1, 3).reshape(-1, size, size)


def niqe_features(gray: np.ndarray) -> np.ndarray:
    """Per-block features (blocks, 36) of a gray image in 0..255 already cropped to whole blocks."""
    per_scale = []
    for scale in range(1, NIQE_SCALES + 1):
        blocks = _blocks(mscn(gray), NIQE_BLOCK_SIZE // scale)
        per_scale.append(np.stack([block_features(b) for b in blocks]))
        # MATLAB imresize(im, 0.5): antialiased bicubic, not plain decimation.
        gray = imresize(gray, scale=0.5)
    return np.concatenate(per_scale, axis=1)


def _niqe_single(levels: np.ndarray) -> float:
    gray = rgb2gray_uint8(levels)
    rows, cols = gray.shape[0] // NIQE_BLOCK_SIZE, gray.shape[1] // NIQE_BLOCK_SIZE
    if rows * cols < 2:
        raise ValueError(f"NIQE needs at least two {NIQE_BLOCK_SIZE}x{NIQE_BLOCK_SIZE} blocks, got image {gray.shape}")
    # Only whole blocks are scored; the top-left part is kept.
    features = niqe_features(gray[: rows * NIQE_BLOCK_SIZE, : cols * NIQE_BLOCK_SIZE])
    mu_pristine, cov_pristine = pristine_model()
    diff = mu_pristine - nanmean(features)
    return float(np.sqrt(diff @ pinv((cov_pristine + nancov(features)) / 2) @ diff))


def niqe(images: tf.Tensor | np.ndarray) -> np.ndarray | float:
    """NIQE (Mittal et al., SPL 2013) of RGB images; lower is better (more natural).

    Matches the authors' MATLAB release with 96x96 blocks, no overlap and its pristine model:
    MATLAB ``rgb2gray`` on the 8-bit image (rounded to uint8), gray levels 0..255 cropped to whole
    96x96 blocks (top-left kept); at two scales, MSCN coefficients (7x7 Gaussian window, sigma 7/6,
    replicate borders) and per block 18 features from asymmetric generalised Gaussian fits of the
    coefficients and of their products with the 4 neighbours (circular shift within the block);
    between scales MATLAB ``imresize(I, 0.5)`` (antialiased bicubic). The blocks' features are
    fitted with a Gaussian (``nanmean``, ``nancov`` dropping rows with NaN) and the score is
    ``sqrt(d' pinv((cov_pristine + cov) / 2) d)`` with ``d`` the difference of means.

    Inputs are quantised to 8 bits (``round(255 x)``) first, because the release reads 8-bit
    image files: the value equals that of the images saved as 8-bit PNGs. Against the release run
    unmodified under GNU Octave (``../shared/reference/metrics``): within 1e-7 relative on 11 of
    its 12 images, 2.8e-4 on the twelfth.

    Args:
        images: RGB float in [0, 1], (N, H, W, 3) or a single (H, W, 3); at least two 96x96 blocks.

    Returns:
        float64 array of shape (N,) for a batch, a float for a single image.

    Raises:
        ValueError: for non-float inputs (e.g. uint8), values outside [0, 1], or too small images.
    """
    levels, single = uint8_levels(images, "images")
    values = np.array([_niqe_single(image) for image in levels])
    return float(values[0]) if single else values
