"""What every loss of the library shares: float32 inputs, per-example values, the reduction.

A loss is a plain function ``loss(y_true, y_pred, *, reduction="mean", **params)`` over NHWC
batches in [0, 1] (y_true = the target, y_pred = the network output), written in ``keras.ops`` so it
runs on every Keras backend. It computes in float32 (the inputs are cast, so mixed-precision outputs
are fine) and first produces one value per example, shape ``[N]``; ``reduction`` then picks what is
returned:

* ``"mean"`` (default): the float32 scalar mean over the batch;
* ``"sum"``: the sum over the batch;
* ``"none"``: the per-example values ``[N]`` — what a distributed training step averages over the
  global batch (:func:`kind_tf.backend.average_loss`; the trainer's Tasks return per-example terms).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

Tensor = Any   # a backend tensor (tf.Tensor, jax.Array, torch.Tensor) or anything convertible to one

REDUCTIONS = ("mean", "sum", "none")
#: ITU-R BT.601 luma weights of ``tf.image.rgb_to_grayscale``, which KinD's original losses use.
GRAY_WEIGHTS_601 = (0.2989, 0.5870, 0.1140)


def as_float32(x: Tensor) -> Tensor:
    """``x`` as a float32 backend tensor. A ``tf.Variable`` (which keras.ops passes through unread, and
    which lacks ``ndim``, e.g. for ``ops.cross``) is read first."""
    x = ops.convert_to_tensor(x)
    if not hasattr(x, "ndim"):
        x = ops.copy(x)            # tf.identity: the variable's value
    return ops.cast(x, "float32")


def absolute(x: Tensor) -> Tensor:
    """|x| with the gradient 0 at x = 0 on every backend, as ``x · sign(x)`` (the same values).

    TensorFlow's and PyTorch's abs have the subgradient sign(0) = 0 there, JAX's passes the gradient
    through (+1). It matters where exact zeros are systematic — KinD's gradient op min-normalises
    |responses| whose zero-padded last row / column is exactly 0, so the min's gradient lands on those
    zeros in every step — and it keeps the L1-type losses' gradients on identical pixels equal across
    backends (and equal to the original TensorFlow code's).
    """
    return x * ops.sign(x)


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")


def reduce(per_example: Tensor, reduction: str) -> Tensor:
    """Apply ``reduction`` to per-example values ``[N]``."""
    check_reduction(reduction)
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return ops.sum(per_example)
    return ops.mean(per_example)


def static_shape(x: Tensor) -> tuple[int | None, ...] | None:
    """The static shape of ``x`` (None for sizes known only at run time); None when even the rank is unknown."""
    try:
        return tuple(None if d is None else int(d) for d in x.shape)
    except (TypeError, ValueError):        # a TensorFlow TensorShape of unknown rank
        return None


def _compatible(a: tuple | None, b: tuple | None) -> bool:
    if a is None or b is None:
        return True
    return len(a) == len(b) and all(p is None or q is None or p == q for p, q in zip(a, b))


def pair(y_true: Tensor, y_pred: Tensor, *, min_rank: int = 2, channels: tuple[int, ...] | None = None
         ) -> tuple[Tensor, Tensor]:
    """(y_true, y_pred) as float32 tensors of compatible shapes (ValueError otherwise).

    Args:
        min_rank: the least rank (4 for NHWC images).
        channels: allowed sizes of the last axis (e.g. ``(3,)`` for RGB-only losses), when known.
    """
    y_true, y_pred = as_float32(y_true), as_float32(y_pred)
    true_shape, pred_shape = static_shape(y_true), static_shape(y_pred)
    if not _compatible(true_shape, pred_shape):
        raise ValueError(f"y_true and y_pred shapes differ: {true_shape} vs {pred_shape}")
    if pred_shape is not None and len(pred_shape) < min_rank:
        raise ValueError(f"expected tensors of rank ≥ {min_rank} (a batch first), got shape {pred_shape}")
    if channels is not None and pred_shape:
        last = pred_shape[-1] if pred_shape[-1] is not None else (true_shape or (None,))[-1]
        if last is not None and last not in channels:
            raise ValueError(f"expected {' or '.join(map(str, channels))} channels (last axis), got shape "
                             f"{pred_shape}")
    return y_true, y_pred


def per_example_mean(values: Tensor) -> Tensor:
    """Mean over every axis but the first: ``[N, ...]`` → ``[N]`` (contiguous trailing axes, so the float32
    reduction is accurate on every backend)."""
    return ops.mean(values, axis=tuple(range(1, len(values.shape))))


def spatial_size(images: Tensor) -> tuple[int | None, int | None]:
    """The static (H, W) of an NHWC batch (None where unknown)."""
    return images.shape[1], images.shape[2]


def rgb_to_gray_601(images: Tensor) -> Tensor:
    """[..., 3] → [..., 1] ITU-R 601 luma, ``tf.image.rgb_to_grayscale`` (what KinD's losses convert with;
    :func:`kind_tf.image_ops.rgb_to_gray` is the post-processing's BT.709 one)."""
    weights = ops.convert_to_tensor(np.asarray(GRAY_WEIGHTS_601, np.float32), images.dtype)
    return ops.expand_dims(ops.tensordot(images, weights, axes=[[-1], [0]]), -1)


def gray(images: Tensor) -> Tensor:
    """[N, H, W, 3] → ITU-R 601 luma [N, H, W, 1] (as KinD's losses); one channel passes through."""
    channels = images.shape[-1]
    if channels == 1:
        return images
    if channels == 3:
        return rgb_to_gray_601(images)
    raise ValueError(f"expected 1 or 3 channels, got shape {images.shape}")
