"""Pixel-wise losses: L1, L2, smooth L1, Huber, log-MSE, MBLLEN's region loss and cross-entropy.

Equation numbers refer to the project's loss survey (../shared/seeds/000–002). Every function takes
``(y_true, y_pred)`` batches (``[N, ...]``, NHWC for images), computes in float32 and reduces as
described in :mod:`kind_tf.losses.base` (``reduction="none"`` gives ``[N]``).
"""

from __future__ import annotations

import math

from keras import ops

from kind_tf.losses.base import Tensor, absolute, gray, pair, per_example_mean, reduce

#: log-MSE floor: 10·log10(MSE + 1e-8), i.e. at most 80 dB PSNR.
LOG_MSE_EPSILON = 1e-8
#: Probability clipping of the cross-entropies (as Keras: [ε, 1 − ε]).
CROSSENTROPY_EPSILON = 1e-7
#: MBLLEN region loss: the darkest 40 % of the target's pixels are weighted 4, the rest 1.
REGION_DARK_FRACTION = 0.4
REGION_DARK_WEIGHT = 4.0
REGION_LIGHT_WEIGHT = 1.0


def l1(y_true, y_pred, *, reduction: str = "mean") -> Tensor:
    """Mean absolute error, eq. (1): mean |ŷ − y| over every pixel and channel of an example."""
    y_true, y_pred = pair(y_true, y_pred)
    return reduce(per_example_mean(absolute(y_pred - y_true)), reduction)


def l2(y_true, y_pred, *, reduction: str = "mean") -> Tensor:
    """Mean squared error, eq. (2): mean (ŷ − y)²."""
    y_true, y_pred = pair(y_true, y_pred)
    return reduce(per_example_mean(ops.square(y_pred - y_true)), reduction)


def smooth_l1(y_true, y_pred, *, beta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Smooth L1 (Fast R-CNN), eq. (5): 0.5·d²/β where |d| < β, else |d| − 0.5·β (d = ŷ − y).

    ``beta = 0`` is L1 (as ``torch.nn.SmoothL1Loss``).
    """
    if beta < 0:
        raise ValueError(f"beta must be ≥ 0, got {beta}")
    y_true, y_pred = pair(y_true, y_pred)
    error = absolute(y_pred - y_true)
    if beta == 0:
        return reduce(per_example_mean(error), reduction)
    values = ops.where(error < beta, 0.5 * ops.square(error) / beta, error - 0.5 * beta)
    return reduce(per_example_mean(values), reduction)


def huber(y_true, y_pred, *, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Huber loss, eq. (6): 0.5·d² where |d| ≤ δ, else δ·(|d| − 0.5·δ). Equals δ·smooth_l1(β = δ)."""
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    y_true, y_pred = pair(y_true, y_pred)
    error = absolute(y_pred - y_true)
    values = ops.where(error <= delta, 0.5 * ops.square(error), delta * (error - 0.5 * delta))
    return reduce(per_example_mean(values), reduction)


def log_mse(y_true, y_pred, *, epsilon: float = LOG_MSE_EPSILON, reduction: str = "mean") -> Tensor:
    """log-MSE, eq. (7): 10·log10(MSE + ε) in dB, per example (= −PSNR for a peak of 1).

    Per example, so the batch mean is the mean of the images' values (not the log of the batch MSE):
    that is what averaging over a distributed global batch needs (:func:`kind_tf.backend.average_loss`).
    Ten times the MSE adds 10 dB. The minimum (identical images) is 10·log10(ε) = −80 dB, not 0.
    """
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    y_true, y_pred = pair(y_true, y_pred)
    mse = per_example_mean(ops.square(y_pred - y_true))
    return reduce(10.0 * ops.log(mse + epsilon) / math.log(10.0), reduction)


def _dark_mask(targets: Tensor, fraction: float) -> tuple[Tensor, Tensor, Tensor]:
    """[N, H, W] mask of each target's ``fraction`` darkest pixels (luma), its count k and H·W.

    Exactly k = max(1, ⌊fraction·H·W⌋) pixels per image, ranked by a stable sort (ties go to the
    earlier pixel in row-major order: TensorFlow's and JAX's argsort are both stable), so flat images
    still split 40 / 60.
    """
    luma = gray(targets)[..., 0]
    shape = ops.shape(luma)
    flat = ops.reshape(luma, (shape[0], -1))
    height, width = luma.shape[1], luma.shape[2]
    if height is not None and width is not None:
        count = height * width
        dark = ops.convert_to_tensor(max(1, int(fraction * count)), "int32")
    else:       # sizes known only at run time (TensorFlow graphs): float64, as Python's int(fraction · count)
        count = shape[1] * shape[2]
        dark = ops.maximum(1, ops.cast(ops.floor(fraction * ops.cast(count, "float64")), "int32"))
    order = ops.argsort(flat, axis=-1)
    ranks = ops.argsort(order, axis=-1)
    mask = ops.cast(ranks < dark, "float32")
    return (ops.stop_gradient(ops.reshape(mask, shape)), ops.cast(dark, "float32"),
            ops.cast(count, "float32"))


def region(y_true, y_pred, *, dark_fraction: float = REGION_DARK_FRACTION, dark_weight: float = REGION_DARK_WEIGHT,
           light_weight: float = REGION_LIGHT_WEIGHT, reduction: str = "mean") -> Tensor:
    """MBLLEN's region loss, eq. (18): w_L·mean_L|ŷ − y| + w_H·mean_H|ŷ − y|.

    L = the ``dark_fraction`` (40 %) darkest pixels of the *target* (ITU-R 601 luma; the mask is
    a constant, no gradient flows through it), H = the other pixels; each region's mean absolute
    error is over its pixels and all channels; w_L = 4, w_H = 1. (MBLLEN's released code takes one
    mean over all pixels with per-pixel weights 4 / 1 instead, which scales the two terms by the
    region sizes 0.4 / 0.6, and ranks the prediction's pixels.) An image of fewer than 2 pixels has
    no light region; that term is then 0.
    """
    if not 0.0 < dark_fraction <= 1.0:
        raise ValueError(f"dark_fraction must be in (0, 1], got {dark_fraction}")
    y_true, y_pred = pair(y_true, y_pred, min_rank=4, channels=(1, 3))
    mask, dark, count = _dark_mask(y_true, dark_fraction)
    error = ops.mean(absolute(y_pred - y_true), axis=-1)                         # [N, H, W]
    dark_error = ops.sum(mask * error, axis=(1, 2)) / dark
    light_error = ops.divide_no_nan(ops.sum((1.0 - mask) * error, axis=(1, 2)), count - dark)
    return reduce(dark_weight * dark_error + light_weight * light_error, reduction)


def binary_crossentropy(y_true, y_pred, *, from_logits: bool = False, epsilon: float = CROSSENTROPY_EPSILON,
                        reduction: str = "mean") -> Tensor:
    """Binary cross-entropy, eq. (14): −(y·log ŷ + (1 − y)·log(1 − ŷ)), averaged per example.

    ``y_true`` may be soft labels in [0, 1] (e.g. target intensities). With ``from_logits`` ŷ =
    sigmoid(y_pred), computed stably; otherwise ŷ is clipped to [ε, 1 − ε].
    """
    y_true, y_pred = pair(y_true, y_pred)
    if from_logits:
        # tf.nn.sigmoid_cross_entropy_with_logits' stable form, max(x, 0) − x·y + log(1 + e^−|x|), with its
        # selects, so that the gradient at x = 0 is the exact sigmoid(0) − y on every backend.
        positive = y_pred >= 0.0
        values = (ops.where(positive, y_pred, 0.0) - y_pred * y_true
                  + ops.log1p(ops.exp(ops.where(positive, -y_pred, y_pred))))
    else:
        p = ops.clip(y_pred, epsilon, 1.0 - epsilon)
        values = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    return reduce(per_example_mean(values), reduction)


def categorical_crossentropy(y_true, y_pred, *, from_logits: bool = False, epsilon: float = CROSSENTROPY_EPSILON,
                             reduction: str = "mean") -> Tensor:
    """Categorical cross-entropy, eq. (15): −Σ_k y_k·log ŷ_k over the last axis (the K classes),
    averaged over the other axes of an example.

    ``y_pred`` holds probabilities (clipped to [ε, 1 − ε], not renormalised) or, with
    ``from_logits``, logits (softmax cross-entropy, computed stably).
    """
    y_true, y_pred = pair(y_true, y_pred)
    if from_logits:
        values = -ops.sum(y_true * ops.log_softmax(y_pred, axis=-1), axis=-1)
    else:
        values = -ops.sum(y_true * ops.log(ops.clip(y_pred, epsilon, 1.0 - epsilon)), axis=-1)
    return reduce(per_example_mean(values), reduction)
