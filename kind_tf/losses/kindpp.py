"""KinD++'s training losses (its three training scripts; ../shared/reference/kindpp_official/RECIPE.md).

KinD++ keeps KinD's loss terms and changes three things, so these are KinD's functions
(:mod:`kind_tf.losses.kind`) with KinD++'s settings, per example [N] like them:

* decomposition: equal_R weighted 0.009 instead of 0.01;
* illumination: the gradient term on the *signed* differences (``gradient_no_abs``), not their |·|;
* restoration: mean((R − T)²) + (1 − SSIM(R, T)) — no gradient term — to T = (0.99·R_high)^1.2.
"""

from __future__ import annotations

from keras import ops

from kind_tf.losses import kind as kind_losses
from kind_tf.losses.base import Tensor

DECOM_WEIGHTS = {**kind_losses.DECOM_WEIGHTS, "equal_r": 0.009}
RESTORE_TARGET_SCALE = 0.99      # T = (0.99·R_high)^1.2
RESTORE_TARGET_GAMMA = kind_losses.RESTORE_TARGET_GAMMA


def decom_losses(low: Tensor, high: Tensor, reflectance_low: Tensor, illumination_low: Tensor,
                 reflectance_high: Tensor, illumination_high: Tensor) -> dict[str, Tensor]:
    """recon_high + recon_low + 0.009·equal_R + 0.2·mutual_i + 0.15·mutual_input(I_high) + 0.15·mutual_input(I_low)."""
    return kind_losses.decom_losses(low, high, reflectance_low, illumination_low, reflectance_high,
                                    illumination_high, weights=DECOM_WEIGHTS)


def illumination_losses(adjusted: Tensor, target: Tensor) -> dict[str, Tensor]:
    """mean((I' − T)²) + mean((gx_noabs(I') − gx_noabs(T))² + (gy_noabs(I') − gy_noabs(T))²)."""
    return kind_losses.adjust_losses(adjusted, target, signed=True)


def restore_target(reflectance_high: Tensor) -> Tensor:
    """(0.99·R_high)^1.2."""
    return ops.power(RESTORE_TARGET_SCALE * reflectance_high, RESTORE_TARGET_GAMMA)


def restore_losses(restored: Tensor, target: Tensor) -> dict[str, Tensor]:
    """mean((R − T)²) + (1 − SSIM(R, T)), SSIM the mean of the per-channel SSIMs (the original's tf_ssim:
    11×11 Gaussian σ 1.5, 'VALID', which is :func:`kind_tf.losses.kind.ssim_loss`)."""
    terms = {"mse": ops.mean((restored - target) ** 2, axis=(1, 2, 3)),
             "ssim": kind_losses.ssim_loss(restored, target)}
    terms["total"] = terms["mse"] + terms["ssim"]
    return terms
