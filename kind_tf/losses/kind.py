"""KinD's training losses, exactly as the original three training scripts define them, in ``keras.ops``.

See ../shared/reference/kind_official/TRAINING.md. Every loss here returns **per-example** values
(shape [N]) so that the trainer can scale them to the global batch (:func:`kind_tf.backend.average_loss`,
``tf.nn.compute_average_loss`` on TensorFlow); since all examples of a batch have the same size, the mean
of the per-example values is exactly the original's mean over the whole batch tensor.

The one batch-coupled piece is :func:`gradient`: the original min-max normalises the gradient map
over the WHOLE batch tensor. Under a ``tf.distribute`` strategy with several replicas each replica
only sees its slice of the batch, so the batch extrema are gathered across replicas
(:func:`kind_tf.backend.global_batch_extrema`, a differentiable ``all_gather``) — the loss and its
gradients are then the same as on one device with the global batch.
"""

from __future__ import annotations

from collections.abc import Mapping

from keras import ops

from kind_tf import backend
from kind_tf.losses import similarity
from kind_tf.losses.base import Tensor, absolute, rgb_to_gray_601

# Weights of the decomposition loss (original decomposition_net_train.py).
DECOM_WEIGHTS = {
    "recon_low": 1.0,
    "recon_high": 1.0,
    "equal_r": 0.01,
    "mutual_i": 0.2,
    "mutual_input_low": 0.15,
    "mutual_input_high": 0.15,
}
GRADIENT_EPSILON = 1e-4        # (g − min) / (max − min + 1e-4)
MUTUAL_I_DECAY = 10.0          # (gx_l + gx_h) · exp(−10 (gx_l + gx_h))
MUTUAL_INPUT_FLOOR = 0.01      # gx(I) / max(gx(gray(img)), 0.01)
RESTORE_TARGET_GAMMA = 1.2     # restoration target R_high^1.2 ("to improve contrast")
# SSIM settings of the original restoration loss (tf.image.ssim's defaults; kind_tf.losses.similarity).
SSIM_FILTER_SIZE = similarity.SSIM_FILTER_SIZE
SSIM_FILTER_SIGMA = similarity.SSIM_FILTER_SIGMA
SSIM_K1 = similarity.SSIM_K1
SSIM_K2 = similarity.SSIM_K2
SSIM_MAX_VAL = similarity.SSIM_MAX_VAL
ADJUST_RATIO_EPSILON = 1e-4    # ratio = mean(I_low / (I_high + 1e-4)); map 1/ratio + 1e-4


def batch_extrema(values: Tensor) -> tuple[Tensor, Tensor]:
    """(min, max) of ``values`` over the whole global batch, across replicas when distributed
    (:func:`kind_tf.backend.global_batch_extrema`; differentiable)."""
    return backend.global_batch_extrema(values)


def gradient(images: Tensor, direction: str, signed: bool = False) -> Tensor:
    """The original ``gradient(input_tensor, direction)``: |conv2d(x, k)|, batch-global min-max.

    k = [[0, 0], [−1, 1]] for x, its transpose for y, 'SAME' padding (TF pads one row/column of zeros
    at the bottom/right for a 2×2 kernel); the absolute response is normalised over the whole batch
    tensor as (g − min) / (max − min + 1e-4). The two-tap convolution is written as the difference of
    shifted slices of the zero-padded map — the same numbers (a 2×2 kernel with two zero taps adds
    exact zeros) on every backend and for sizes known only at run time; |·| is
    :func:`kind_tf.losses.base.absolute`, whose zero gradient at 0 (tf.abs's) matters here: the min is
    always the exact 0 of the padded last row / column.

    Args:
        images: [N, H, W, 1] float.
        signed: KinD++'s ``gradient_no_abs``: the same without the |·| (the signed difference, then the
            same batch min-max).
    """
    if direction not in ("x", "y"):
        raise ValueError(f"direction must be 'x' or 'y', got {direction!r}")
    padded = ops.pad(images, [[0, 0], [0, 1], [0, 1], [0, 0]])
    if direction == "x":        # out(i, j) = x(i + 1, j + 1) − x(i + 1, j)
        response = padded[:, 1:, 1:, :] - padded[:, 1:, :-1, :]
    else:                       # out(i, j) = x(i + 1, j + 1) − x(i, j + 1)
        response = padded[:, 1:, 1:, :] - padded[:, :-1, 1:, :]
    if not signed:
        response = absolute(response)
    low, high = batch_extrema(response)
    return (response - low) / (high - low + GRADIENT_EPSILON)


def _per_example_mean(values: Tensor) -> Tensor:
    return ops.mean(values, axis=tuple(range(1, len(values.shape))))


def to_gray(images: Tensor) -> Tensor:
    """``tf.image.rgb_to_grayscale`` (ITU-R 601 weights), as the original losses use."""
    return rgb_to_gray_601(images)


def mutual_i_loss(illumination_low: Tensor, illumination_high: Tensor) -> Tensor:
    """Mutual consistency of the two illuminations: g·exp(−10 g), g = gx_l + gx_h (and y). [N]."""
    gx = gradient(illumination_low, "x") + gradient(illumination_high, "x")
    gy = gradient(illumination_low, "y") + gradient(illumination_high, "y")
    return _per_example_mean(gx * ops.exp(-MUTUAL_I_DECAY * gx) + gy * ops.exp(-MUTUAL_I_DECAY * gy))


def mutual_input_loss(illumination: Tensor, images: Tensor) -> Tensor:
    """Illumination smoothness guided by the input: |gx(I) / max(gx(gray(img)), 0.01)| (+ y). [N]."""
    gray = to_gray(images)
    gx = gradient(illumination, "x") / ops.maximum(gradient(gray, "x"), MUTUAL_INPUT_FLOOR)
    gy = gradient(illumination, "y") / ops.maximum(gradient(gray, "y"), MUTUAL_INPUT_FLOOR)
    return _per_example_mean(absolute(gx) + absolute(gy))


def decom_losses(low: Tensor, high: Tensor, reflectance_low: Tensor, illumination_low: Tensor,
                 reflectance_high: Tensor, illumination_high: Tensor,
                 weights: Mapping[str, float] = DECOM_WEIGHTS) -> dict[str, Tensor]:
    """Every term of the decomposition loss and their weighted sum ``total``, each per example [N].

    loss = recon_high + recon_low + 0.01·equal_R + 0.2·mutual_i + 0.15·mutual_input(I_high, high)
           + 0.15·mutual_input(I_low, low)
    (``weights``: the terms' weights; KinD++ uses 0.009 for equal_R, kind_tf.losses.kindpp).
    """
    illumination_low3 = ops.concatenate([illumination_low] * 3, axis=-1)
    illumination_high3 = ops.concatenate([illumination_high] * 3, axis=-1)
    terms = {
        "recon_low": _per_example_mean(absolute(reflectance_low * illumination_low3 - low)),
        "recon_high": _per_example_mean(absolute(reflectance_high * illumination_high3 - high)),
        "equal_r": _per_example_mean(absolute(reflectance_low - reflectance_high)),
        "mutual_i": mutual_i_loss(illumination_low, illumination_high),
        "mutual_input_low": mutual_input_loss(illumination_low, low),
        "mutual_input_high": mutual_input_loss(illumination_high, high),
    }
    terms["total"] = sum(weights[name] * value for name, value in terms.items())
    return terms


def ssim_loss(images: Tensor, targets: Tensor) -> Tensor:
    """1 − SSIM per example [N]: :func:`kind_tf.losses.similarity.ssim` (tf.image.ssim in keras.ops)
    with the original's settings.

    11×11 Gaussian window, σ 1.5, K1 0.01, K2 0.03, L = 1, 'VALID' window (as the original), the map
    averaged per channel, then over channels. The window means are contiguous float32 reductions: they
    stay within ~1e-6 of a float64 re-implementation of the original's per-channel SSIM
    (tests/test_kind_losses.py), where tf.image.ssim's own float32 mean over the non-innermost H, W
    axes drifts by up to ~3e-4 on 384×384 patches.
    """
    return 1.0 - similarity.ssim(images, targets, max_val=SSIM_MAX_VAL, filter_size=SSIM_FILTER_SIZE,
                                 filter_sigma=SSIM_FILTER_SIGMA, k1=SSIM_K1, k2=SSIM_K2)


def restore_target(reflectance_high: Tensor) -> Tensor:
    """The restoration target R_high^1.2."""
    return ops.power(reflectance_high, RESTORE_TARGET_GAMMA)


def restore_losses(restored: Tensor, target: Tensor) -> dict[str, Tensor]:
    """mean((R − T)²) + mean((gx(gray R) − gx(gray T))² + (gy…)²) + (1 − SSIM(R, T)), per example.

    ``target`` is already R_high^1.2 (see :func:`restore_target`).
    """
    gray_out = to_gray(restored)
    gray_target = to_gray(target)
    grad = ((gradient(gray_out, "x") - gradient(gray_target, "x")) ** 2
            + (gradient(gray_out, "y") - gradient(gray_target, "y")) ** 2)
    terms = {
        "mse": _per_example_mean((restored - target) ** 2),
        "grad": _per_example_mean(grad),
        "ssim": ssim_loss(restored, target),
    }
    terms["total"] = terms["mse"] + terms["grad"] + terms["ssim"]
    return terms


def adjust_losses(adjusted: Tensor, target: Tensor, signed: bool = False) -> dict[str, Tensor]:
    """mean((I' − T)²) + mean((gx(I') − gx(T))² + (gy(I') − gy(T))²), per example.

    ``signed``: KinD++'s illumination loss, on the signed gradients (``gradient_no_abs``).
    """
    grad = ((gradient(adjusted, "x", signed) - gradient(target, "x", signed)) ** 2
            + (gradient(adjusted, "y", signed) - gradient(target, "y", signed)) ** 2)
    terms = {
        "mse": _per_example_mean((adjusted - target) ** 2),
        "grad": _per_example_mean(grad),
    }
    terms["total"] = terms["mse"] + terms["grad"]
    return terms


def adjust_ratio(illumination_low: Tensor, illumination_high: Tensor) -> Tensor:
    """The per-patch brightness ratio mean(I_low / (I_high + 1e-4)) over [..., H, W, 1] → [...]."""
    return ops.mean(illumination_low / (illumination_high + ADJUST_RATIO_EPSILON), axis=(-3, -2, -1))
