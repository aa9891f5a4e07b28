"""Gaussian / Laplacian pyramids and the Laplacian-pyramid loss, eq. (21).

Pyramid operators (any size, odd sizes and 1×1 included), built on
:func:`kind_tf.image_ops.gaussian_blur` (edge-replicating, scipy.ndimage semantics):

* blur: 5-tap Gaussian, σ = 1 (``truncate`` 2 → radius 2);
* down: blur, then keep every second row and column (⌈H/2⌉ × ⌈W/2⌉);
* up (to H × W): repeat each pixel 2×2, blur, crop to H × W.

Level 1 is the finest. The Laplacian pyramid of K levels is L^i = G^i − up(G^{i+1}) for i < K and
L^K = G^K (the low-pass residual), so that the pyramid sums back to the image.
"""

from __future__ import annotations

from typing import Any

from keras import ops

from kind_tf.image_ops import gaussian_blur
from kind_tf.losses.base import Tensor, absolute, pair, per_example_mean, reduce

PYRAMID_SIGMA = 1.0
PYRAMID_TRUNCATE = 2.0     # radius int(2·1 + 0.5) = 2: a 5-tap kernel, as Burt & Adelson's
LAPLACIAN_LEVELS = 3


def _blur(images: Tensor) -> Tensor:
    return gaussian_blur(images, PYRAMID_SIGMA, PYRAMID_TRUNCATE)


def downsample(images: Tensor) -> Tensor:
    """Blur, then every second row/column: [N, H, W, C] → [N, ⌈H/2⌉, ⌈W/2⌉, C]."""
    return _blur(images)[:, ::2, ::2, :]


def upsample(images: Tensor, height: Any, width: Any) -> Tensor:
    """Repeat each pixel 2×2, blur and crop to ``height`` × ``width`` (≤ twice the input size)."""
    repeated = ops.repeat(ops.repeat(images, 2, axis=1), 2, axis=2)
    return _blur(repeated)[:, :height, :width, :]


def _check_levels(levels: int) -> None:
    if int(levels) != levels or levels < 1:
        raise ValueError(f"levels must be a positive integer, got {levels!r}")


def gaussian_pyramid(images: Tensor, levels: int) -> list[Tensor]:
    """[G^1 = images, G^2 = down(G^1), …, G^levels], finest first."""
    _check_levels(levels)
    pyramid = [images]
    for _ in range(levels - 1):
        pyramid.append(downsample(pyramid[-1]))
    return pyramid


def laplacian_pyramid(images: Tensor, levels: int) -> list[Tensor]:
    """[L^1, …, L^levels], finest first; L^levels is the low-pass residual G^levels."""
    gaussians = gaussian_pyramid(images, levels)
    bands = []
    for fine, coarse in zip(gaussians[:-1], gaussians[1:]):
        shape = ops.shape(fine)
        bands.append(fine - upsample(coarse, shape[1], shape[2]))
    return bands + [gaussians[-1]]


def laplacian(y_true, y_pred, *, levels: int = LAPLACIAN_LEVELS, reduction: str = "mean") -> Tensor:
    """Laplacian-pyramid loss, eq. (21): Σ_{i=1..levels} 2^{i−1} · ‖L^i(ŷ) − L^i(y)‖₁.

    ‖·‖₁ is the mean absolute value over the level's pixels and channels (as the L1 loss, eq. 1),
    level 1 the finest, so coarser bands weigh more (the low-pass residual 2^{levels−1}). The
    pyramid is linear, so it is built once, of ŷ − y.
    """
    y_true, y_pred = pair(y_true, y_pred, min_rank=4)
    bands = laplacian_pyramid(y_pred - y_true, levels)
    total = sum(2.0 ** i * per_example_mean(absolute(band)) for i, band in enumerate(bands))
    return reduce(total, reduction)
