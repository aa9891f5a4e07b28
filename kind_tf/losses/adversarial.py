"""Adversarial losses of a generator / discriminator pair, eqs. (16)–(17), and least-squares GAN.

They take discriminator outputs, not images: ``real_logits = D(y)`` on targets and
``fake_logits = D(ŷ)`` on generated images, any shape ``[N, ...]`` (e.g. the patch logits of
:class:`kind_tf.models.patchgan.PatchGANDiscriminator`), averaged per example, then reduced as the
other losses (``reduction="none"`` → ``[N]``). The discriminator is a network, so it lives in
:mod:`kind_tf.models` (the losses take its outputs and never import the networks).

* ``mode="standard"`` (Goodfellow et al., D(x) = sigmoid(logit)): the discriminator minimises
  eq. (17), −log D(y) − log(1 − D(ŷ)); the generator minimises −log D(ŷ) (the usual non-saturating
  form) or, with ``saturating=True``, eq. (16)'s log(1 − D(ŷ)). Computed from logits, stably.
* ``mode="lsgan"`` (Mao et al. 2017, raw outputs): D: ½(D(y) − 1)² + ½ D(ŷ)²; G: ½(D(ŷ) − 1)².

The generic trainer's Tasks optimise one network, so these are not in the ``--loss`` registry; a
GAN step updates D with ``discriminator_loss(D(y), D(stop_gradient(ŷ)))`` and G with
``generator_loss(D(ŷ))`` plus a reconstruction loss.
"""

from __future__ import annotations

from keras import ops

from kind_tf.losses.base import Tensor, as_float32, check_reduction, reduce
from kind_tf.losses.pixel import binary_crossentropy, l2

GAN_MODES = ("standard", "lsgan")


def _check_mode(mode: str) -> None:
    if mode not in GAN_MODES:
        raise ValueError(f"unknown GAN mode {mode!r}; expected one of {GAN_MODES}")


def _batch(logits) -> Tensor:
    logits = as_float32(logits)
    if len(logits.shape) == 1:            # one logit per example
        logits = logits[:, None]
    return logits


def discriminator_loss(real_logits, fake_logits, *, mode: str = "standard", reduction: str = "mean") -> Tensor:
    """The discriminator's loss: eq. (17) (standard) or the least-squares one (lsgan)."""
    _check_mode(mode)
    check_reduction(reduction)
    real, fake = _batch(real_logits), _batch(fake_logits)
    if mode == "standard":
        values = (binary_crossentropy(ops.ones_like(real), real, from_logits=True, reduction="none")
                  + binary_crossentropy(ops.zeros_like(fake), fake, from_logits=True, reduction="none"))
    else:
        values = 0.5 * (l2(ops.ones_like(real), real, reduction="none")
                        + l2(ops.zeros_like(fake), fake, reduction="none"))
    return reduce(values, reduction)


def generator_loss(fake_logits, *, mode: str = "standard", saturating: bool = False,
                   reduction: str = "mean") -> Tensor:
    """The generator's adversarial loss on D(ŷ): −log D(ŷ) (or eq. 16's log(1 − D(ŷ)) when
    ``saturating``) for the standard GAN, ½(D(ŷ) − 1)² for lsgan."""
    _check_mode(mode)
    check_reduction(reduction)
    fake = _batch(fake_logits)
    if mode == "lsgan":
        if saturating:
            raise ValueError("saturating applies to mode='standard' only")
        values = 0.5 * l2(ops.ones_like(fake), fake, reduction="none")
    elif saturating:
        values = -binary_crossentropy(ops.zeros_like(fake), fake, from_logits=True, reduction="none")
    else:
        values = binary_crossentropy(ops.ones_like(fake), fake, from_logits=True, reduction="none")
    return reduce(values, reduction)


__all__ = ["GAN_MODES", "discriminator_loss", "generator_loss"]
