"""Structural losses: SSIM, MS-SSIM, KinD's gradient loss, total variation, KinD's stage recipes.

These reuse the implementations of :mod:`kind_tf.losses.kind` (SSIM with the original's settings,
the batch-normalised gradient op), :mod:`kind_tf.losses.similarity` (SSIM / MS-SSIM in keras.ops)
and :mod:`kind_tf.losses.zero_reference` (total variation) and only adapt them to the library's
``(y_true, y_pred, *, reduction)`` form.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from kind_tf.losses import kind, similarity
from kind_tf.losses.base import Tensor, as_float32, gray, pair, reduce, spatial_size
from kind_tf.losses.zero_reference import illumination_smoothness_loss

#: tf.image.ssim_multiscale's default weights of the 5 scales, finest first (Wang et al. 2003).
MS_SSIM_POWER_FACTORS = similarity.MS_SSIM_POWER_FACTORS


def _check_ssim_size(images: Tensor, filter_size: int, what: str) -> None:
    height, width = spatial_size(images)
    if (height is not None and height < filter_size) or (width is not None and width < filter_size):
        raise ValueError(f"{what} needs images of at least {filter_size}×{filter_size} pixels (its window), "
                         f"got {height}×{width}")


def ssim(y_true, y_pred, *, reduction: str = "mean") -> Tensor:
    """1 − SSIM, eqs. (9)–(11): :func:`kind_tf.losses.kind.ssim_loss` (the original KinD settings:
    11×11 Gaussian window σ 1.5, K1 0.01, K2 0.03, peak 1, 'VALID' map averaged per example).

    1 or 3 channels; H, W ≥ 11.
    """
    y_true, y_pred = pair(y_true, y_pred, min_rank=4)
    _check_ssim_size(y_pred, kind.SSIM_FILTER_SIZE, "the SSIM loss")
    return reduce(kind.ssim_loss(y_pred, y_true), reduction)


def ms_ssim_scales(height: int, width: int, filter_size: int = kind.SSIM_FILTER_SIZE, max_scales: int = 5) -> int:
    """How many MS-SSIM scales fit: scale k is ⌈size / 2^k⌉ (tf.image.ssim_multiscale pads odd
    sizes, then 2×2-average-pools) and must be at least ``filter_size`` on both sides."""
    scales = 0
    while scales < max_scales and height >= filter_size and width >= filter_size:
        scales += 1
        height, width = -(-height // 2), -(-width // 2)
    return scales


def ms_ssim_power_factors(height: int, width: int, power_factors=MS_SSIM_POWER_FACTORS,
                          filter_size: int = kind.SSIM_FILTER_SIZE) -> tuple[float, ...]:
    """``power_factors`` without the coarse scales that do not fit ``height``×``width``,
    renormalised to sum to 1 (e.g. 32×32 keeps 2 scales: (0.0448, 0.2856) / 0.3304)."""
    scales = ms_ssim_scales(height, width, filter_size, len(power_factors))
    if scales == 0:
        raise ValueError(f"MS-SSIM needs images of at least {filter_size}×{filter_size} pixels, got {height}×{width}")
    kept = tuple(float(p) for p in power_factors[:scales])
    total = sum(kept)
    return tuple(p / total for p in kept)


def _ms_ssim_value(y_true: Tensor, y_pred: Tensor, factors: tuple[float, ...]) -> Tensor:
    """MS-SSIM [N] with these (already fitted) scale weights: :func:`kind_tf.losses.similarity.ms_ssim`
    with the KinD SSIM settings; zero (finite) gradients where a scale's value is clamped to 0."""
    return similarity.ms_ssim(y_pred, y_true, power_factors=factors, max_val=kind.SSIM_MAX_VAL,
                              filter_size=kind.SSIM_FILTER_SIZE, filter_sigma=kind.SSIM_FILTER_SIGMA,
                              k1=kind.SSIM_K1, k2=kind.SSIM_K2)


def ms_ssim(y_true, y_pred, *, power_factors=MS_SSIM_POWER_FACTORS, reduction: str = "mean") -> Tensor:
    """1 − MS-SSIM, eqs. (12)–(13): :func:`kind_tf.losses.similarity.ms_ssim` (tf.image.ssim_multiscale
    in keras.ops; SSIM settings as :func:`ssim`).

    Small patches keep only the scales that fit the 11×11 window (:func:`ms_ssim_power_factors`)
    instead of failing: 96×96 uses 4 of the 5 scales, 32×32 two, 11–21 pixels one (plain SSIM with
    the luminance term). Sizes unknown when traced (TensorFlow's ``tf.function`` with ``None`` sizes)
    are resolved at run time (``ops.switch`` over the scale counts); such images smaller than 11×11
    give NaN, there being no run-time assertion in keras.ops. As in tf.image.ssim_multiscale each
    scale's value is clamped at 0 before the fractional powers: where a scale's mean
    contrast-structure is ≤ 0 in a channel (e.g. unrelated images) that channel's MS-SSIM is 0, with
    a zero gradient (tf's own gradient is NaN there).
    """
    y_true, y_pred = pair(y_true, y_pred, min_rank=4)
    height, width = spatial_size(y_pred)
    if height is not None and width is not None:
        factors = ms_ssim_power_factors(height, width, power_factors)
        return reduce(1.0 - _ms_ssim_value(y_true, y_pred, factors), reduction)
    shape = ops.shape(y_pred)
    # The number of scales that fit a square of side min(H, W) (both sides must fit the window).
    scales = ops.zeros((), "int32")
    current = ops.minimum(shape[1], shape[2])
    for _ in power_factors:
        scales = scales + ops.cast(current >= kind.SSIM_FILTER_SIZE, "int32")
        current = (current + 1) // 2
    branches = []
    for count in range(1, len(power_factors) + 1):
        kept = [float(p) for p in power_factors[:count]]
        factors = tuple(p / sum(kept) for p in kept)
        branches.append(lambda targets, outputs, factors=factors: _ms_ssim_value(targets, outputs, factors))
    value = ops.switch(ops.maximum(scales - 1, 0), branches, y_true, y_pred)
    value = ops.where(scales > 0, value, np.float32(np.nan))
    return reduce(1.0 - value, reduction)


def kind_gradient(y_true, y_pred, *, reduction: str = "mean") -> Tensor:
    """KinD's gradient (texture) loss: mean((∇x(ŷ) − ∇x(y))² + (∇y(ŷ) − ∇y(y))²) on the luma.

    ∇ is :func:`kind_tf.losses.kind.gradient` (|2×2 difference|, min-max normalised over the whole
    batch — across replicas when distributed); RGB is converted to ITU-R 601 luma first, a single
    channel is used as is. This is exactly the ``grad`` term of the original restoration and
    adjustment losses.
    """
    y_true, y_pred = pair(y_true, y_pred, min_rank=4, channels=(1, 3))
    return reduce(kind.adjust_losses(gray(y_pred), gray(y_true))["grad"], reduction)


def total_variation(y_true, y_pred, *, reduction: str = "mean") -> Tensor:
    """Total variation of the prediction (``y_true`` is ignored): Zero-DCE's L_TV per example,
    :func:`kind_tf.losses.zero_reference.illumination_smoothness_loss` on each image:

        2·( Σ(Δ_h ŷ)² / ((H − 1)·W) + Σ(Δ_w ŷ)² / (H·(W − 1)) ), sums over positions and channels.

    The batch mean equals the Zero-DCE++ term on the whole batch. A regulariser: not 0 for
    identical inputs, not symmetric.
    """
    del y_true
    y_pred = as_float32(y_pred)
    if len(y_pred.shape) != 4:
        raise ValueError(f"expected an NHWC batch, got shape {y_pred.shape}")
    return reduce(illumination_smoothness_loss(y_pred, reduction="none"), reduction)


def kind_restore_terms(y_true, y_pred) -> dict[str, Tensor]:
    """The original restoration loss terms (mse, grad, ssim, total), per example; y_true = R_high^1.2."""
    y_true, y_pred = pair(y_true, y_pred, min_rank=4, channels=(3,))
    return kind.restore_losses(y_pred, y_true)


def kind_restore(y_true, y_pred, *, reduction: str = "mean") -> Tensor:
    """The original restoration-stage loss: MSE + KinD gradient + (1 − SSIM) (kind.restore_losses)."""
    return reduce(kind_restore_terms(y_true, y_pred)["total"], reduction)


def kind_adjust_terms(y_true, y_pred) -> dict[str, Tensor]:
    """The original adjustment loss terms (mse, grad, total), per example; single-channel maps."""
    y_true, y_pred = pair(y_true, y_pred, min_rank=4, channels=(1,))
    return kind.adjust_losses(y_pred, y_true)


def kind_adjust(y_true, y_pred, *, reduction: str = "mean") -> Tensor:
    """The original adjustment-stage loss: MSE + KinD gradient (kind.adjust_losses)."""
    return reduce(kind_adjust_terms(y_true, y_pred)["total"], reduction)


# A combined loss (registry.CombinedLoss) logs these sub-terms under "<name>/<term>".
kind_restore.terms = kind_restore_terms
kind_adjust.terms = kind_adjust_terms
