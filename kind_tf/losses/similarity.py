"""SSIM and MS-SSIM in ``keras.ops``: ``tf.image.ssim`` / ``tf.image.ssim_multiscale`` on every backend.

SSIM (Wang et al. 2004, eqs. 9–11 of the loss survey) of two images x, y compares local statistics
under a Gaussian window w (11×11, σ 1.5, weights summing to 1), per channel:

    l  = (2·μx·μy + C1) / (μx² + μy² + C1)                 (luminance)
    cs = (2·σxy + C2) / (σx² + σy² + C2)                   (contrast-structure)
    SSIM = mean over the 'VALID' window positions of l·cs, then the mean over channels,

with C1 = (K1·L)², C2 = (K2·L)², K1 0.01, K2 0.03, L the peak (1). The statistics are computed as
tf.image.ssim does — μ = w∗x, 2σxy = 2·w∗(x·y) − 2·μx·μy, σx² + σy² = w∗(x² + y²) − μx² − μy² (no
covariance compensation factor, as MATLAB's MS-SSIM) — so the maps equal tf.image.ssim's up to float32
rounding (which the subtractions amplify in flat regions: up to ~1e-3 per pixel there, for both).
MS-SSIM (Wang et al. 2003, eqs. 12–13) is Π_{j<M} relu(cs_j)^{w_j} · relu(SSIM_M)^{w_M} per channel,
then the channel mean, scale j+1 being scale j with odd sizes padded symmetrically (the last row / column
repeated) and 2×2 average pooled, as tf.image.ssim_multiscale.

Two deliberate differences from tf.image, both about float32 arithmetic, not the definition:

* the window is applied separably — two 11-tap 'VALID' passes, as small banded matrix products — where
  tf.image sums 121 taps per pixel in one depthwise convolution;
* the window means are averaged over a channels-first layout, i.e. as contiguous float32 reductions,
  where tf.image's mean over the non-innermost H, W axes drifts (~4e-5 on 384×384 images).

On SICE pairs (512×512) SSIM and MS-SSIM stay within 5e-6 of a float64 evaluation of the same definition,
where tf.image.ssim is up to 7.5e-4 off; on random images SSIM agrees with tf.image.ssim to ≤ 2e-6 and
MS-SSIM with tf.image.ssim_multiscale to ≤ 1.2e-5, that one's own error there being ~8e-6
(tests/test_losses_backends.py).
A scale whose value is clamped to 0 also passes a zero gradient (tf's is NaN: the derivative of x^w at 0
is infinite, times relu's 0), which is the exact gradient of the (zero) product there.

The banded products rather than a depthwise convolution: XLA's CPU depthwise convolution made SSIM ~6×
slower on JAX (forward and backward, 4×384×384×3), the products cost TensorFlow about what its depthwise
convolution does, and they work unchanged for sizes known only at run time (TensorFlow's ``tf.function``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from keras import ops

Tensor = Any

# tf.image.ssim's defaults, which are also the original KinD restoration loss's settings.
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_MAX_VAL = 1.0
#: tf.image.ssim_multiscale's default weights of the 5 scales, finest first (Wang et al. 2003).
MS_SSIM_POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(size: int = SSIM_FILTER_SIZE, sigma: float = SSIM_FILTER_SIGMA) -> np.ndarray:
    """The 1-D factor p of tf.image's 2-D window (float64): the window softmax(g_i + g_j),
    g_i = −c_i² / (2σ²), c_i = i − (size − 1) / 2, is the outer product p ⊗ p with p = softmax(g)."""
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    weights = np.exp(-0.5 * coords ** 2 / float(sigma) ** 2)
    return weights / weights.sum()


def _static(value: Any) -> int | None:
    return int(value) if isinstance(value, int | np.integer) else None


def _valid_filter_matrix(length: Any, window: np.ndarray) -> Tensor:
    """[length − k + 1, length] matrix M with M[i, i + t] = window[t]: M @ x is the 'VALID'
    correlation of x with ``window`` along one axis. A constant when ``length`` is static."""
    size = len(window)
    static = _static(length)
    if static is not None:
        matrix = np.zeros((max(static - size + 1, 0), static), np.float32)
        for offset, weight in enumerate(window):
            matrix[np.arange(matrix.shape[0]), np.arange(matrix.shape[0]) + offset] = weight
        return ops.convert_to_tensor(matrix)
    offsets = ops.arange(length)[None, :] - ops.arange(length - size + 1)[:, None]
    taps = ops.take(ops.convert_to_tensor(window.astype(np.float32)), ops.clip(offsets, 0, size - 1))
    return ops.where((offsets >= 0) & (offsets < size), taps, 0.0)


def gaussian_filter_valid(images: Tensor, window: np.ndarray) -> Tensor:
    """[N, H, W, K] → [N, H − k + 1, W − k + 1, K]: the separable window w = p ⊗ p, 'VALID'."""
    shape = ops.shape(images)
    rows = _valid_filter_matrix(shape[1], window)
    columns = _valid_filter_matrix(shape[2], window)
    filtered = ops.einsum("ih,nhwc->niwc", rows, images)
    return ops.einsum("jw,niwc->nijc", columns, filtered)


def _check_size(images: Tensor, filter_size: int, what: str) -> None:
    height, width = images.shape[1], images.shape[2]
    if (height is not None and height < filter_size) or (width is not None and width < filter_size):
        raise ValueError(f"{what} needs images of at least {filter_size}×{filter_size} pixels (its window), "
                         f"got {height}×{width}")


def _pair(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    x, y = ops.cast(ops.convert_to_tensor(x), "float32"), ops.cast(ops.convert_to_tensor(y), "float32")
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise ValueError(f"expected NHWC batches, got shapes {x.shape} and {y.shape}")
    return x, y


def ssim_components(x: Tensor, y: Tensor, *, max_val: float = SSIM_MAX_VAL, filter_size: int = SSIM_FILTER_SIZE,
                    filter_sigma: float = SSIM_FILTER_SIGMA, k1: float = SSIM_K1, k2: float = SSIM_K2
                    ) -> tuple[Tensor, Tensor]:
    """(luminance, contrast-structure) maps [N, H − k + 1, W − k + 1, C] of NHWC float batches.

    Formulas and operation order of tf.image's ``_ssim_helper``; the four filtered quantities (x, y,
    x·y, x² + y²) go through one filter call.
    """
    x, y = _pair(x, y)
    channels = x.shape[-1]
    window = gaussian_window(filter_size, filter_sigma)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    filtered = gaussian_filter_valid(ops.concatenate([x, y, x * y, ops.square(x) + ops.square(y)], axis=-1),
                                     window)
    mean_x, mean_y = filtered[..., :channels], filtered[..., channels:2 * channels]
    cross, squares = filtered[..., 2 * channels:3 * channels], filtered[..., 3 * channels:]
    num0 = mean_x * mean_y * 2.0
    den0 = ops.square(mean_x) + ops.square(mean_y)
    luminance = (num0 + c1) / (den0 + c1)
    contrast_structure = (cross * 2.0 - num0 + c2) / (squares - den0 + c2)
    return luminance, contrast_structure


def _channel_means(maps: Tensor) -> Tensor:
    """[N, H, W, C] → [N, C], the mean over H, W taken on a channels-first copy (contiguous, accurate)."""
    return ops.mean(ops.transpose(maps, (0, 3, 1, 2)), axis=(2, 3))


def ssim_per_channel(x: Tensor, y: Tensor, **settings: float) -> tuple[Tensor, Tensor]:
    """(SSIM, mean contrast-structure) per channel, each [N, C] (tf.image's ``_ssim_per_channel``)."""
    luminance, contrast_structure = ssim_components(x, y, **settings)
    return _channel_means(luminance * contrast_structure), _channel_means(contrast_structure)


def ssim_map(x: Tensor, y: Tensor, **settings: float) -> Tensor:
    """The local SSIM map averaged over channels, [N, H − k + 1, W − k + 1]
    (``tf.image.ssim(..., return_index_map=True)``)."""
    luminance, contrast_structure = ssim_components(x, y, **settings)
    return ops.mean(luminance * contrast_structure, axis=-1)


def ssim(x: Tensor, y: Tensor, *, max_val: float = SSIM_MAX_VAL, filter_size: int = SSIM_FILTER_SIZE,
         filter_sigma: float = SSIM_FILTER_SIGMA, k1: float = SSIM_K1, k2: float = SSIM_K2) -> Tensor:
    """SSIM of each example, [N]: ``tf.image.ssim`` (mean over the window positions per channel, then over
    channels) for NHWC batches of at least ``filter_size``² pixels (ValueError for smaller static sizes)."""
    x, y = _pair(x, y)
    _check_size(x, filter_size, "SSIM")
    luminance, contrast_structure = ssim_components(x, y, max_val=max_val, filter_size=filter_size,
                                                    filter_sigma=filter_sigma, k1=k1, k2=k2)
    return ops.mean(_channel_means(luminance * contrast_structure), axis=-1)


def ms_ssim_downsample(images: Tensor) -> Tensor:
    """MS-SSIM's step between scales: [N, H, W, C] → [N, ⌈H/2⌉, ⌈W/2⌉, C], tf.image.ssim_multiscale's
    symmetric padding of an odd side (the last row / column repeated) and 2×2 'VALID' average pooling,
    written as gathers so that run-time sizes work on every backend."""
    shape = ops.shape(images)

    def pairs(length):
        first = ops.arange((length + 1) // 2) * 2
        return first, ops.minimum(first + 1, length - 1)

    top, bottom = pairs(shape[1])
    left, right = pairs(shape[2])
    rows = ops.take(images, top, axis=1) + ops.take(images, bottom, axis=1)
    return (ops.take(rows, left, axis=2) + ops.take(rows, right, axis=2)) * 0.25


def ms_ssim(x: Tensor, y: Tensor, *, power_factors: Sequence[float] = MS_SSIM_POWER_FACTORS,
            max_val: float = SSIM_MAX_VAL, filter_size: int = SSIM_FILTER_SIZE,
            filter_sigma: float = SSIM_FILTER_SIGMA, k1: float = SSIM_K1, k2: float = SSIM_K2) -> Tensor:
    """MS-SSIM of each example, [N]: ``tf.image.ssim_multiscale`` with ``len(power_factors)`` scales.

    Every scale must fit the window: the coarsest, ⌈size / 2^(M−1)⌉, at least ``filter_size`` (see
    :func:`kind_tf.losses.structural.ms_ssim_power_factors` for fitting the scales to a patch). Clamped
    scales (relu(value) = 0) give 0 with a zero gradient (tf's gradient is NaN there).
    """
    x, y = _pair(x, y)
    _check_size(x, filter_size, "MS-SSIM")
    height, width = _static(x.shape[1]), _static(x.shape[2])
    if height is not None and width is not None:
        for _ in range(len(power_factors) - 1):
            height, width = -(-height // 2), -(-width // 2)
        if min(height, width) < filter_size:
            raise ValueError(f"MS-SSIM with {len(power_factors)} scales needs its coarsest scale ({height}×{width} "
                             f"here) to be at least {filter_size}×{filter_size} pixels")
    settings = {"max_val": max_val, "filter_size": filter_size, "filter_sigma": filter_sigma, "k1": k1, "k2": k2}
    factors = np.asarray([float(p) for p in power_factors], np.float32)
    values = []
    for scale in range(len(factors)):
        if scale:
            x, y = ms_ssim_downsample(x), ms_ssim_downsample(y)
        similarity, contrast_structure = ssim_per_channel(x, y, **settings)
        values.append(similarity if scale == len(factors) - 1 else contrast_structure)
    stacked = ops.stack(values, axis=-1)                            # [N, C, M]
    positive = stacked > 0.0
    # relu(v)^w without the infinite derivative at 0: where v ≤ 0 the power is 0 (1 for w = 0) and no
    # gradient flows, which is the exact gradient of the product there.
    powered = ops.where(positive, ops.power(ops.where(positive, stacked, 1.0), factors),
                        ops.convert_to_tensor((factors == 0).astype(np.float32)))
    return ops.mean(ops.prod(powered, axis=-1), axis=-1)


__all__ = ["SSIM_FILTER_SIZE", "SSIM_FILTER_SIGMA", "SSIM_K1", "SSIM_K2", "SSIM_MAX_VAL", "MS_SSIM_POWER_FACTORS",
           "gaussian_window", "gaussian_filter_valid", "ssim_components", "ssim_per_channel", "ssim_map", "ssim",
           "ms_ssim_downsample", "ms_ssim"]
