"""Zero-reference losses of Zero-DCE / Zero-DCE++ (Guo et al. CVPR 2020; Li et al. TPAMI 2021).

Each function is the original ``Myloss.py`` term with the reduction ``lowlight_train.py`` applies,
so :func:`zero_dce_total_loss` is the original training objective
(shared/reference/zero_dce_official/RECIPE.md "Training"):

    loss = 1600·L_TV(A) + mean(L_spa(enhanced, images)) + 5·mean(L_col(enhanced))
           + 10·mean(L_exp(enhanced, E = 0.6))

Layout NHWC: images / enhanced / curve maps are ``[B, H, W, 3]``. Every term is computed in float32
whatever the input dtype (mixed-precision safe), in ``keras.ops`` (every Keras backend). Each returns a
float32 scalar — the original's batch mean — or, with ``reduction="none"``, the per-image values ``[B]``
whose mean it is (every term is a mean over the batch of equally weighted per-image values, images of
one batch having one size), as the library losses (:mod:`kind_tf.losses.base`).
Pooling follows ``nn.AvgPool2d(k)``: non-overlapping k×k windows, a remainder smaller than k is
dropped (floor), i.e. "VALID" average pooling.
"""

from __future__ import annotations

from collections.abc import Mapping

from keras import ops

from kind_tf.losses.base import Tensor, as_float32, reduce

#: Loss weights of Zero-DCE++'s lowlight_train.py (the paper's Zero-DCE used TV weight 200).
ZERO_DCE_LOSS_WEIGHTS: dict[str, float] = {
    "illumination_smoothness": 1600.0,
    "spatial_consistency": 1.0,
    "color_constancy": 5.0,
    "exposure_control": 10.0,
}
#: Spatial-consistency pooling (original ``nn.AvgPool2d(4)``).
SPATIAL_POOL_SIZE = 4
#: Exposure-control patch size and well-exposedness level E (original ``L_exp(16, 0.6)``).
EXPOSURE_PATCH_SIZE = 16
WELL_EXPOSEDNESS = 0.6


_float32 = as_float32


def _channel_mean_pool(images: Tensor, pool_size: int) -> Tensor:
    """``[B, H, W, C]`` → channel mean, then ``pool_size`` average pooling ``[B, H//k, W//k, 1]``."""
    gray = ops.mean(images, axis=-1, keepdims=True)
    return ops.average_pool(gray, pool_size=pool_size, strides=pool_size, padding="valid")


def _per_image_mean(values: Tensor) -> Tensor:
    return ops.mean(values, axis=(1, 2, 3))


def spatial_consistency_loss(images: Tensor, enhanced: Tensor, *, reduction: str = "mean") -> Tensor:
    """L_spa: keep the local contrast of the input (paper Eq. 3), original form.

    Channel-mean images are 4×4 average pooled; for each of the 4 neighbours (left, right, up,
    down; zero padding 1, as the original's 3×3 difference kernels with ``padding=1``) the
    difference map D = centre − neighbour is taken in both images;
    E = Σ_dirs (D_images − D_enhanced)², and the loss is the mean of E over all positions.

    Args:
        images: ``[B, H, W, 3]`` input (the original's ``img_lowlight``).
        enhanced: ``[B, H, W, 3]`` enhanced image.
        reduction: "mean" (the original), "sum" or "none" (per image, ``[B]``).

    Returns:
        float32 scalar, or ``[B]``.
    """
    pooled_images = _channel_mean_pool(_float32(images), SPATIAL_POOL_SIZE)
    pooled_enhanced = _channel_mean_pool(_float32(enhanced), SPATIAL_POOL_SIZE)
    # The difference maps are linear, so D_images − D_enhanced = D(images − enhanced).
    delta = ops.pad(pooled_images - pooled_enhanced, [[0, 0], [1, 1], [1, 1], [0, 0]])
    centre = delta[:, 1:-1, 1:-1, :]
    neighbours = (
        delta[:, 1:-1, :-2, :],  # left
        delta[:, 1:-1, 2:, :],  # right
        delta[:, :-2, 1:-1, :],  # up
        delta[:, 2:, 1:-1, :],  # down
    )
    energy = sum(ops.square(centre - neighbour) for neighbour in neighbours)
    return reduce(_per_image_mean(energy), reduction)


def exposure_control_loss(
    enhanced: Tensor, patch_size: int = EXPOSURE_PATCH_SIZE, well_exposedness: float = WELL_EXPOSEDNESS, *,
    reduction: str = "mean",
) -> Tensor:
    """L_exp: distance of local average intensity to the well-exposedness level E (paper Eq. 4).

    ``mean((avgpool_16(channel_mean(enhanced)) − E)²)``.

    Args:
        enhanced: ``[B, H, W, 3]``; H, W ≥ ``patch_size``.
        patch_size: non-overlapping patch size (16).
        well_exposedness: E (0.6).
        reduction: "mean" (the original), "sum" or "none" (per image, ``[B]``).

    Returns:
        float32 scalar, or ``[B]``.
    """
    pooled = _channel_mean_pool(_float32(enhanced), patch_size)
    return reduce(_per_image_mean(ops.square(pooled - well_exposedness)), reduction)


def color_constancy_loss(enhanced: Tensor, *, reduction: str = "mean") -> Tensor:
    """L_col: gray-world colour constancy (paper Eq. 5), original form, averaged over the batch.

    Per image, channel means m_r, m_g, m_b; D_rg = (m_r − m_g)², D_rb = (m_r − m_b)²,
    D_gb = (m_b − m_g)²; k = (D_rg² + D_rb² + D_gb²)^0.5 — the code squares the squared
    differences again (RECIPE.md), unlike the paper's Σ(J_p − J_q)².

    Args:
        enhanced: ``[B, H, W, 3]`` RGB.
        reduction: "mean" (the original), "sum" or "none" (k per image, ``[B]``).

    Returns:
        float32 scalar, mean of k over the batch (or ``[B]``).
    """
    means = ops.mean(ops.transpose(_float32(enhanced), (0, 3, 1, 2)), axis=(2, 3))  # [B, 3], contiguous means
    mean_r, mean_g, mean_b = means[:, 0], means[:, 1], means[:, 2]
    d_rg = ops.square(mean_r - mean_g)
    d_rb = ops.square(mean_r - mean_b)
    d_gb = ops.square(mean_b - mean_g)
    k = ops.sqrt(ops.square(d_rg) + ops.square(d_rb) + ops.square(d_gb))
    return reduce(k, reduction)


def illumination_smoothness_loss(curve_map: Tensor, *, reduction: str = "mean") -> Tensor:
    """L_TV(A): total-variation smoothness of the curve map (paper Eq. 6), original form.

    ``2·( Σ(Δ_h A)² / ((H−1)·W) + Σ(Δ_w A)² / (H·(W−1)) ) / B``; the sums run over batch and
    channels too, but the counts do not (exactly as the original). For H = 1 (or W = 1) the
    original divides 0 by 0; here that term is 0.

    Args:
        curve_map: ``[B, H, W, C]`` curve parameters A (alpha).
        reduction: "mean" (the original), "sum" or "none" (``[B]``: image i's
            ``2·(Σ_i(Δ_h A)² / ((H−1)·W) + Σ_i(Δ_w A)² / (H·(W−1)))``, whose batch mean is the original).

    Returns:
        float32 scalar (unweighted; the training weight is 1600), or ``[B]``.
    """
    curve_map = _float32(curve_map)
    shape = ops.shape(curve_map)
    height, width = (ops.cast(shape[i], "float32") for i in (1, 2))
    tv_h = ops.sum(ops.square(curve_map[:, 1:, :, :] - curve_map[:, :-1, :, :]), axis=(1, 2, 3))
    tv_w = ops.sum(ops.square(curve_map[:, :, 1:, :] - curve_map[:, :, :-1, :]), axis=(1, 2, 3))
    count_h = (height - 1.0) * width
    count_w = height * (width - 1.0)
    return reduce(2.0 * (ops.divide_no_nan(tv_h, count_h) + ops.divide_no_nan(tv_w, count_w)), reduction)


def zero_dce_loss_terms(
    images: Tensor,
    enhanced: Tensor,
    curve_map: Tensor,
    weights: Mapping[str, float] | None = None,
    *,
    reduction: str = "mean",
) -> dict[str, Tensor]:
    """The weighted zero-reference terms and their sum, for logging.

    Args:
        images: ``[B, H, W, 3]`` low-light input.
        enhanced: ``[B, H, W, 3]`` model output.
        curve_map: ``[B, H', W', 3]`` curve map A the model applied (full resolution at
            ``scale_factor`` 1, as in training).
        weights: overrides for :data:`ZERO_DCE_LOSS_WEIGHTS` (same keys).
        reduction: "mean" (the original's scalars), "sum" or "none" (per image, ``[B]`` each).

    Returns:
        ``{"illumination_smoothness", "spatial_consistency", "color_constancy",
        "exposure_control": weighted float32 scalars (or [B]), "total": their sum}``.
    """
    merged = dict(ZERO_DCE_LOSS_WEIGHTS)
    if weights is not None:
        unknown = sorted(set(weights) - set(ZERO_DCE_LOSS_WEIGHTS))
        if unknown:
            raise ValueError(f"unknown Zero-DCE loss weight(s) {unknown}; known: {sorted(ZERO_DCE_LOSS_WEIGHTS)}")
        merged.update({k: float(v) for k, v in weights.items()})
    terms = {
        "illumination_smoothness": merged["illumination_smoothness"]
        * illumination_smoothness_loss(curve_map, reduction=reduction),
        "spatial_consistency": merged["spatial_consistency"]
        * spatial_consistency_loss(images, enhanced, reduction=reduction),
        "color_constancy": merged["color_constancy"] * color_constancy_loss(enhanced, reduction=reduction),
        "exposure_control": merged["exposure_control"] * exposure_control_loss(enhanced, reduction=reduction),
    }
    terms["total"] = sum(terms.values())
    return terms


def zero_dce_total_loss(
    images: Tensor,
    enhanced: Tensor,
    curve_map: Tensor,
    weights: Mapping[str, float] | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    """Zero-DCE++ training loss: 1600·L_TV(A) + L_spa + 5·L_col + 10·L_exp (float32 scalar, or [B]).

    Args, weights and reduction as :func:`zero_dce_loss_terms`.
    """
    return zero_dce_loss_terms(images, enhanced, curve_map, weights, reduction=reduction)["total"]
