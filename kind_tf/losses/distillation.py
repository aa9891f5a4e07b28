"""Self-attention distillation (SAD, Hou et al., ICCV 2019): a training-only regulariser between the
feature maps of successive encoder blocks, used by :class:`kind_tf.models.improved_unet.ImprovedUNet`.

It is a loss over a network's *intermediate* features (not a ``(y_true, y_pred)`` pair), so it is not
in the ``--loss`` registry; the model adds it with ``add_loss``. It lives here, with the other losses,
so that the dependency points from the networks to the losses (``kind_tf.models`` imports
``kind_tf.losses``, never the reverse); ``kind_tf.models.improved_unet`` re-exports it.
"""

from __future__ import annotations

from collections.abc import Sequence

from keras import ops

from kind_tf.image_ops import resize_bilinear
from kind_tf.losses.base import Tensor


def attention_map(features: Tensor) -> Tensor:
    """Activation-based attention G²_sum(A) = Σ_c A_c² (Zagoruyko & Komodakis 2017; SAD Sec. 3.1).

    Shapes: [N, H, W, C] → [N, H, W, 1] (float32).
    """
    features = ops.cast(features, "float32")
    return ops.sum(ops.square(features), axis=-1, keepdims=True)


def spatial_softmax(attention: Tensor) -> Tensor:
    """SAD's Φ: softmax over all H·W positions of each map, multiplied by H·W.

    The factor H·W (a deviation from Hou et al.) makes a uniform map 1 everywhere, so the mimic
    loss does not shrink as 1 / (H·W)² with the image size: on a 384×384 KinD patch each softmax
    value is ~7e-6 and the plain squared errors would be ~1e-11 times the squared relative
    differences, leaving λ meaningless and tied to the patch size. For a fixed size it only rescales
    each pair's loss by a constant, so the method is otherwise unchanged.

    Shapes: [N, H, W, 1] → [N, H, W, 1], each map summing to H·W.
    """
    shape = ops.shape(attention)
    flat = ops.reshape(attention, (shape[0], -1))
    count = ops.cast(ops.shape(flat)[1], flat.dtype)
    # Written out rather than ops.softmax, which warns on the 1×1 maps of tiny inputs.
    exponentials = ops.exp(flat - ops.stop_gradient(ops.max(flat, axis=-1, keepdims=True)))
    softmax = exponentials / ops.sum(exponentials, axis=-1, keepdims=True)
    return ops.reshape(softmax * count, shape)


def sad_loss(feature_maps: Sequence[Tensor]) -> Tensor:
    """Self-attention distillation loss (Hou et al., ICCV 2019, Eq. 2) over successive blocks.

    For each pair of successive maps (A_m, A_{m+1}), finest first:
    Ψ(A) = Φ(B(G²_sum(A))), where B bilinearly resizes the higher block's attention to the lower
    block's H×W (the pair's common size) and Φ is :func:`spatial_softmax`; the pair's loss is the mean
    squared error between Ψ(A_m) and stop_gradient(Ψ(A_{m+1})) — averaged over batch and pixels —
    so only the lower block learns to mimic the higher one. The pair losses are summed over the
    M − 1 pairs, as in the paper.

    Args:
        feature_maps: M ≥ 2 maps [N, H_m, W_m, C_m], from the lowest (finest) block to the highest.

    Returns:
        A float32 scalar (a batch-level regulariser, unlike the per-example library losses).
    """
    if len(feature_maps) < 2:
        raise ValueError(f"sad_loss needs at least 2 feature maps, got {len(feature_maps)}")
    total = ops.zeros((), "float32")
    for lower, higher in zip(feature_maps[:-1], feature_maps[1:]):
        student = spatial_softmax(attention_map(lower))
        # Bilinear, half-pixel centres, no antialiasing (tf.image.resize's), to the lower map's size,
        # which may be known only at run time (ops.image.resize needs a static size).
        lower_shape = ops.shape(lower)
        target = resize_bilinear(attention_map(higher), lower_shape[1], lower_shape[2])
        target = ops.stop_gradient(spatial_softmax(target))
        total = total + ops.mean(ops.square(student - target))
    return total


__all__ = ["attention_map", "spatial_softmax", "sad_loss"]
