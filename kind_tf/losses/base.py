"""What every loss of the library shares: float32 inputs, per-example values, the reduction.

A loss is a plain function ``loss(y_true, y_pred, *, reduction="mean", **params)`` over NHWC
batches in [0, 1] (y_true = the target, y_pred = the network output). It computes in float32 (the
inputs are cast, so mixed-precision outputs are fine) and first produces one value per example,
shape ``[N]``; ``reduction`` then picks what is returned:

* ``"mean"`` (default): the float32 scalar mean over the batch;
* ``"sum"``: the sum over the batch;
* ``"none"``: the per-example values ``[N]`` — what a distributed training step feeds to
  ``tf.nn.compute_average_loss`` (the trainer's Tasks return per-example terms).
"""

from __future__ import annotations

import tensorflow as tf

from kind_tf.losses import kind

REDUCTIONS = ("mean", "sum", "none")


def as_float32(x) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(x), tf.float32)


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")


def reduce(per_example: tf.Tensor, reduction: str) -> tf.Tensor:
    """Apply ``reduction`` to per-example values ``[N]``."""
    check_reduction(reduction)
    if reduction == "none":
        return per_example
    if reduction == "sum":
        return tf.reduce_sum(per_example)
    return tf.reduce_mean(per_example)


def pair(y_true, y_pred, *, min_rank: int = 2, channels: tuple[int, ...] | None = None
         ) -> tuple[tf.Tensor, tf.Tensor]:
    """(y_true, y_pred) as float32 tensors of compatible shapes (ValueError otherwise).

    Args:
        min_rank: the least rank (4 for NHWC images).
        channels: allowed sizes of the last axis (e.g. ``(3,)`` for RGB-only losses), when known.
    """
    y_true, y_pred = as_float32(y_true), as_float32(y_pred)
    if not y_true.shape.is_compatible_with(y_pred.shape):
        raise ValueError(f"y_true and y_pred shapes differ: {y_true.shape} vs {y_pred.shape}")
    rank = y_pred.shape.rank
    if rank is not None and rank < min_rank:
        raise ValueError(f"expected tensors of rank ≥ {min_rank} (a batch first), got shape {y_pred.shape}")
    if channels is not None:
        last = y_pred.shape[-1] if y_pred.shape[-1] is not None else y_true.shape[-1]
        if last is not None and last not in channels:
            raise ValueError(f"expected {' or '.join(map(str, channels))} channels (last axis), got shape "
                             f"{y_pred.shape}")
    return y_true, y_pred


def per_example_mean(values: tf.Tensor) -> tf.Tensor:
    """Mean over every axis but the first: ``[N, ...]`` → ``[N]``."""
    return tf.reduce_mean(values, axis=tf.range(1, tf.rank(values)))


def spatial_size(images: tf.Tensor) -> tuple[int | None, int | None]:
    """The static (H, W) of an NHWC batch (None where unknown)."""
    return images.shape[1], images.shape[2]


def gray(images: tf.Tensor) -> tf.Tensor:
    """[N, H, W, 3] → ITU-R 601 luma [N, H, W, 1] (as KinD's losses); one channel passes through."""
    channels = images.shape[-1]
    if channels == 1:
        return images
    if channels == 3:
        return kind.to_gray(images)
    raise ValueError(f"expected 1 or 3 channels, got shape {images.shape}")
