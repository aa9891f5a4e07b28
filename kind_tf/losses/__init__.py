"""kind_tf.losses: the loss library, KinD's and Zero-DCE++'s training losses, and a registry.

Every library loss is a plain function ``loss(y_true, y_pred, *, reduction="mean", **params)``
over NHWC batches in [0, 1] (y_true the target, y_pred the output), computed in float32;
``reduction="none"`` returns per-example values ``[N]`` (see :mod:`kind_tf.losses.base`).
Everything is written in ``keras.ops`` and runs on every Keras backend: importing the package pulls
in neither TensorFlow (under ``KERAS_BACKEND=jax``) nor the networks (``kind_tf.models`` may import
the losses, never the reverse). Equation numbers refer to the loss survey in ../shared/seeds/000–002.

=====================  =====================================================  =================
name                   function                                               module
=====================  =====================================================  =================
l1 (mae), l2 (mse)     MAE, MSE (eqs. 1–2)                                    pixel
smooth_l1, huber       smooth L1 β (eq. 5), Huber δ (eq. 6)                   pixel
log_mse                10·log10(MSE + ε) (eq. 7)                              pixel
bce                    binary cross-entropy (eq. 14); categorical (eq. 15)    pixel
region                 MBLLEN region loss (eq. 18)                            pixel
ssim, ms_ssim          1 − SSIM, 1 − MS-SSIM (eqs. 9–13)                      structural
—                      SSIM / MS-SSIM values (tf.image.ssim in keras.ops)     similarity
kind_gradient, tv      KinD's gradient loss, total variation                  structural
kind_restore/_adjust   KinD's original stage recipes                          structural
perceptual(_vgg16)     VGG feature loss (eq. 8): perceptual_loss              perceptual
color_angle/_cosine    RGB angle (eq. 19), cosine (eq. 20)                    color
color_blur             MSE of blurred images                                  color
laplacian              Laplacian-pyramid loss (eq. 21)                        pyramid
—                      GAN / LSGAN losses (eqs. 16–17) on D's logits          adversarial
—                      self-attention distillation (SAD) of feature maps      distillation
—                      KinD's decom / restore / adjust stage losses           kind
—                      Zero-DCE++'s zero-reference losses                     zero_reference
=====================  =====================================================  =================

The PatchGAN discriminator the adversarial losses pair with is a network:
:class:`kind_tf.models.patchgan.PatchGANDiscriminator`.

``get(name, **params)`` returns a registered loss; ``parse_spec("l1:1,ssim:1")`` a weighted
combination (``train.py --loss SPEC``).
"""

from kind_tf.losses import kind, similarity, zero_reference
from kind_tf.losses.adversarial import GAN_MODES, discriminator_loss, generator_loss
from kind_tf.losses.base import REDUCTIONS
from kind_tf.losses.color import color_angle, color_blur, color_cosine
from kind_tf.losses.distillation import sad_loss
from kind_tf.losses.perceptual import PerceptualLoss
from kind_tf.losses.perceptual import perceptual as perceptual_loss  # (the name `perceptual` is the module)
from kind_tf.losses.pixel import (
    binary_crossentropy,
    categorical_crossentropy,
    huber,
    l1,
    l2,
    log_mse,
    region,
    smooth_l1,
)
from kind_tf.losses.pyramid import gaussian_pyramid, laplacian, laplacian_pyramid
from kind_tf.losses.registry import (
    ORIGINAL,
    CombinedLoss,
    LossEntry,
    describe,
    entry,
    function_factory,
    get,
    names,
    parse_spec,
    register,
)
from kind_tf.losses.structural import (
    kind_adjust,
    kind_gradient,
    kind_restore,
    ms_ssim,
    ms_ssim_power_factors,
    ssim,
    total_variation,
)

mae = l1
mse = l2

__all__ = [
    "kind", "similarity", "zero_reference", "REDUCTIONS", "sad_loss",
    "l1", "l2", "mae", "mse", "smooth_l1", "huber", "log_mse", "region", "binary_crossentropy",
    "categorical_crossentropy", "ssim", "ms_ssim", "ms_ssim_power_factors", "kind_gradient", "total_variation",
    "kind_restore", "kind_adjust", "perceptual_loss", "PerceptualLoss", "color_angle", "color_cosine", "color_blur",
    "laplacian", "laplacian_pyramid", "gaussian_pyramid", "GAN_MODES", "discriminator_loss", "generator_loss",
    "ORIGINAL", "CombinedLoss", "LossEntry", "describe", "entry", "function_factory",
    "get", "names", "parse_spec", "register",
]
