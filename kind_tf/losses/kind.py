"""KinD's training losses, exactly as the original three training scripts define them.

See ../shared/reference/kind_official/TRAINING.md. Every loss here returns **per-example** values
(shape [N]) so that the trainer can scale them to the global batch with
``tf.nn.compute_average_loss``; since all examples of a batch have the same size, the mean of the
per-example values is exactly the original's mean over the whole batch tensor.

The one batch-coupled piece is :func:`gradient`: the original min-max normalises the gradient map
over the WHOLE batch tensor. Under a ``tf.distribute`` strategy with several replicas each replica
only sees its slice of the batch, so the batch extrema are gathered across replicas (a
differentiable ``all_gather``) — the loss and its gradients are then the same as on one device with
the global batch.
"""

from __future__ import annotations

import tensorflow as tf

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
# SSIM settings of the original restoration loss (tf.image.ssim takes the same ones).
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_MAX_VAL = 1.0
ADJUST_RATIO_EPSILON = 1e-4    # ratio = mean(I_low / (I_high + 1e-4)); map 1/ratio + 1e-4


def _kernel(direction: str, dtype) -> tf.Tensor:
    kernel_x = tf.constant([[0.0, 0.0], [-1.0, 1.0]], dtype=dtype)
    if direction == "x":
        kernel = kernel_x
    elif direction == "y":
        kernel = tf.transpose(kernel_x)
    else:
        raise ValueError(f"direction must be 'x' or 'y', got {direction!r}")
    return tf.reshape(kernel, [2, 2, 1, 1])


def batch_extrema(values: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(min, max) of ``values`` over the whole global batch, across replicas when distributed.

    Differentiable: the gradient reaches the element holding the extremum, on whichever replica it is
    (``ReplicaContext.all_gather`` all-reduces the upstream gradient).
    """
    low = tf.reduce_min(values)
    high = tf.reduce_max(values)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        pair = tf.reshape(tf.stack([low, -high]), [1, 2])
        gathered = context.all_gather(pair, axis=0)              # [replicas, 2]
        reduced = tf.reduce_min(gathered, axis=0)
        low, high = reduced[0], -reduced[1]
    return low, high


def gradient(images: tf.Tensor, direction: str) -> tf.Tensor:
    """The original ``gradient(input_tensor, direction)``: |conv2d(x, k)|, batch-global min-max.

    k = [[0, 0], [−1, 1]] for x, its transpose for y, 'SAME' padding (TF pads one row/column of zeros
    at the bottom/right for a 2×2 kernel); the absolute response is normalised over the whole batch
    tensor as (g − min) / (max − min + 1e-4).

    Args:
        images: [N, H, W, 1] float.
    """
    response = tf.abs(tf.nn.conv2d(images, _kernel(direction, images.dtype), strides=1, padding="SAME"))
    low, high = batch_extrema(response)
    return (response - low) / (high - low + GRADIENT_EPSILON)


def _per_example_mean(values: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(values, axis=tf.range(1, tf.rank(values)))


def to_gray(images: tf.Tensor) -> tf.Tensor:
    """``tf.image.rgb_to_grayscale`` (ITU-R 601 weights), as the original losses use."""
    return tf.image.rgb_to_grayscale(images)


def mutual_i_loss(illumination_low: tf.Tensor, illumination_high: tf.Tensor) -> tf.Tensor:
    """Mutual consistency of the two illuminations: g·exp(−10 g), g = gx_l + gx_h (and y). [N]."""
    gx = gradient(illumination_low, "x") + gradient(illumination_high, "x")
    gy = gradient(illumination_low, "y") + gradient(illumination_high, "y")
    return _per_example_mean(gx * tf.exp(-MUTUAL_I_DECAY * gx) + gy * tf.exp(-MUTUAL_I_DECAY * gy))


def mutual_input_loss(illumination: tf.Tensor, images: tf.Tensor) -> tf.Tensor:
    """Illumination smoothness guided by the input: |gx(I) / max(gx(gray(img)), 0.01)| (+ y). [N]."""
    gray = to_gray(images)
    gx = gradient(illumination, "x") / tf.maximum(gradient(gray, "x"), MUTUAL_INPUT_FLOOR)
    gy = gradient(illumination, "y") / tf.maximum(gradient(gray, "y"), MUTUAL_INPUT_FLOOR)
    return _per_example_mean(tf.abs(gx) + tf.abs(gy))


def decom_losses(low: tf.Tensor, high: tf.Tensor, reflectance_low: tf.Tensor, illumination_low: tf.Tensor,
                 reflectance_high: tf.Tensor, illumination_high: tf.Tensor) -> dict[str, tf.Tensor]:
    """Every term of the decomposition loss and their weighted sum ``total``, each per example [N].

    loss = recon_high + recon_low + 0.01·equal_R + 0.2·mutual_i + 0.15·mutual_input(I_high, high)
           + 0.15·mutual_input(I_low, low)
    """
    illumination_low3 = tf.concat([illumination_low] * 3, axis=-1)
    illumination_high3 = tf.concat([illumination_high] * 3, axis=-1)
    terms = {
        "recon_low": _per_example_mean(tf.abs(reflectance_low * illumination_low3 - low)),
        "recon_high": _per_example_mean(tf.abs(reflectance_high * illumination_high3 - high)),
        "equal_r": _per_example_mean(tf.abs(reflectance_low - reflectance_high)),
        "mutual_i": mutual_i_loss(illumination_low, illumination_high),
        "mutual_input_low": mutual_input_loss(illumination_low, low),
        "mutual_input_high": mutual_input_loss(illumination_high, high),
    }
    terms["total"] = tf.add_n([DECOM_WEIGHTS[name] * value for name, value in terms.items()])
    return terms


def ssim_loss(images: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """1 − SSIM per example [N]: ``tf.image.ssim`` with the original's settings.

    11×11 Gaussian window, σ 1.5, K1 0.01, K2 0.03, L = 1, 'VALID' window (as the original). The SSIM
    map (already averaged over channels) is requested with ``return_index_map=True`` and averaged here
    over its contiguous spatial axes: tf.image.ssim's own float32 mean over the non-innermost H, W axes
    drifts by up to ~3e-4 on 384×384 patches, whereas this stays within ~1e-6 of a float64
    re-implementation of the original's per-channel SSIM (tests/test_kind_losses.py).
    """
    ssim_map = tf.image.ssim(images, targets, max_val=SSIM_MAX_VAL, filter_size=SSIM_FILTER_SIZE,
                             filter_sigma=SSIM_FILTER_SIGMA, k1=SSIM_K1, k2=SSIM_K2, return_index_map=True)
    return 1.0 - tf.reduce_mean(ssim_map, axis=[-2, -1])


def restore_target(reflectance_high: tf.Tensor) -> tf.Tensor:
    """The restoration target R_high^1.2."""
    return tf.pow(reflectance_high, RESTORE_TARGET_GAMMA)


def restore_losses(restored: tf.Tensor, target: tf.Tensor) -> dict[str, tf.Tensor]:
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


def adjust_losses(adjusted: tf.Tensor, target: tf.Tensor) -> dict[str, tf.Tensor]:
    """mean((I' − T)²) + mean((gx(I') − gx(T))² + (gy(I') − gy(T))²), per example."""
    grad = ((gradient(adjusted, "x") - gradient(target, "x")) ** 2
            + (gradient(adjusted, "y") - gradient(target, "y")) ** 2)
    terms = {
        "mse": _per_example_mean((adjusted - target) ** 2),
        "grad": _per_example_mean(grad),
    }
    terms["total"] = terms["mse"] + terms["grad"]
    return terms


def adjust_ratio(illumination_low: tf.Tensor, illumination_high: tf.Tensor) -> tf.Tensor:
    """The per-patch brightness ratio mean(I_low / (I_high + 1e-4)) over [..., H, W, 1] → [...]."""
    return tf.reduce_mean(illumination_low / (illumination_high + ADJUST_RATIO_EPSILON), axis=[-3, -2, -1])
