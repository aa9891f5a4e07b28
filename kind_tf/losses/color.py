"""Colour losses: angle between RGB vectors (eq. 19), its cosine form (eq. 20), blurred colour.

The angle and cosine treat each pixel's (R, G, B) as a 3-vector and compare only its direction
(hue / saturation), not its length (brightness). A direction is undefined for a black pixel (norm
below 1e-6): where either vector is black the pixel counts as agreeing (angle 0, cosine 1) and
passes no gradient, so all-black images give a finite loss with finite (zero) gradients.
"""

from __future__ import annotations

from keras import ops

from kind_tf.image_ops import gaussian_blur
from kind_tf.losses.base import Tensor, pair, per_example_mean, reduce
from kind_tf.losses.pyramid import gaussian_pyramid

#: Squared norm below which an RGB vector has no direction (norm < 1e-6).
COLOR_MIN_SQUARED_NORM = 1e-12
#: Gaussian σ of the blurred-colour loss (DPED, Ignatov et al. 2017: 21×21 kernel, σ = 3).
COLOR_BLUR_SIGMA = 3.0


def _safe_sqrt(values: Tensor) -> Tensor:
    """sqrt with a zero (not infinite) gradient at 0."""
    positive = values > 0.0
    return ops.where(positive, ops.sqrt(ops.where(positive, values, 1.0)), 0.0)


def _defined(a: Tensor, b: Tensor) -> Tensor:
    """[N, H, W]: both pixels' RGB vectors are long enough to have a direction."""
    return ops.logical_and(ops.sum(ops.square(a), axis=-1) > COLOR_MIN_SQUARED_NORM,
                           ops.sum(ops.square(b), axis=-1) > COLOR_MIN_SQUARED_NORM)


def pixel_angles(a: Tensor, b: Tensor) -> Tensor:
    """Angle (radians, in [0, π]) between the RGB vectors of each pixel of a and b: [N, H, W].

    atan2(|a × b|, a · b), accurate for small angles (unlike acos of the cosine) and exactly 0 for
    parallel vectors; 0 where either vector is black.
    """
    defined = _defined(a, b)
    dot = ops.sum(a * b, axis=-1)
    sine = _safe_sqrt(ops.sum(ops.square(ops.cross(a, b)), axis=-1))
    angle = ops.arctan2(ops.where(defined, sine, 0.0), ops.where(defined, dot, 1.0))
    return ops.where(defined, angle, 0.0)


def pixel_cosines(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of the RGB vectors of each pixel: [N, H, W]; 1 where either is black."""
    defined = _defined(a, b)
    norms = _safe_sqrt(ops.sum(ops.square(a), axis=-1)) * _safe_sqrt(ops.sum(ops.square(b), axis=-1))
    dot = ops.sum(a * b, axis=-1)
    return ops.where(defined, dot / ops.where(defined, norms, 1.0), 1.0)


def color_angle(y_true, y_pred, *, reduction: str = "mean") -> Tensor:
    """Colour loss, eq. (19): mean over pixels of ∠(ŷ_p, y_p), the angle in radians between the
    RGB vectors (the survey sums over pixels; the mean keeps the scale independent of the size)."""
    y_true, y_pred = pair(y_true, y_pred, min_rank=4, channels=(3,))
    return reduce(per_example_mean(pixel_angles(y_pred, y_true)), reduction)


def color_cosine(y_true, y_pred, *, levels: int = 1, reduction: str = "mean") -> Tensor:
    """Cosine colour loss, eq. (20): Σ_{k=1..levels} (1 − mean_i cos(ŷ_k(i), y_k(i))).

    cos is the cosine similarity of pixel i's RGB vectors (the survey's denominator reads
    ‖·‖²‖·‖², a typo for the norms: with squares the value would depend on brightness). In the
    survey (after Lim & Kim's DSLR) k runs over the 3 scales of a pyramid; here the scales are
    :func:`kind_tf.losses.pyramid.gaussian_pyramid` levels of ŷ and y (level 1 = full size), and
    ``levels = 1`` (the default) is the single-scale 1 − mean cosine.
    """
    y_true, y_pred = pair(y_true, y_pred, min_rank=4, channels=(3,))
    total = sum(1.0 - per_example_mean(pixel_cosines(p, t))
                for p, t in zip(gaussian_pyramid(y_pred, levels), gaussian_pyramid(y_true, levels)))
    return reduce(total, reduction)


def color_blur(y_true, y_pred, *, sigma: float = COLOR_BLUR_SIGMA, reduction: str = "mean") -> Tensor:
    """Blurred-colour loss (DPED): MSE of the Gaussian-blurred images, mean (G_σ ∗ (ŷ − y))².

    Blurring removes texture and detail and keeps the colour and brightness of regions; the blur is
    :func:`kind_tf.image_ops.gaussian_blur` (scipy's, edge replication, radius ⌊4σ + 0.5⌋) and,
    being linear, is applied once to ŷ − y.
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    y_true, y_pred = pair(y_true, y_pred, min_rank=4)
    return reduce(per_example_mean(ops.square(gaussian_blur(y_pred - y_true, sigma))), reduction)
