"""Building blocks shared by KinD's three networks.

The original KinD (TF1 + slim) builds every network from the same three pieces: a 3×3 ``slim.conv2d``
with a leaky ReLU of slope 0.2, a 2×2 'SAME' max-pool, and ``upsample_and_concat`` — a 2×2 stride-2
transposed convolution forced to the skip connection's spatial size, then a channel concat.
"""

from __future__ import annotations

import keras
from keras import layers, ops

LEAKY_SLOPE = 0.2  # lrelu(x) = max(0.2·x, x) in the original model.py


@keras.saving.register_keras_serializable(package="kind_tf")
class ConvLReLU(layers.Layer):
    """``slim.conv2d`` with bias and 'SAME' padding, followed by an optional leaky ReLU (slope 0.2).

    Args:
        filters: output channels.
        kernel_size: square kernel size.
        activation: ``"lrelu"`` (the original's ``lrelu``) or ``None`` (linear, e.g. before a sigmoid).
    """

    def __init__(self, filters: int, kernel_size: int = 3, activation: str | None = "lrelu", **kwargs):
        super().__init__(**kwargs)
        if activation not in ("lrelu", None):
            raise ValueError(f"activation must be 'lrelu' or None, got {activation!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.activation = activation
        self.conv = layers.Conv2D(filters, kernel_size, padding="same", name="conv")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, inputs):
        outputs = self.conv(inputs)
        if self.activation == "lrelu":
            outputs = ops.leaky_relu(outputs, negative_slope=LEAKY_SLOPE)
        return outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "activation": self.activation}


@keras.saving.register_keras_serializable(package="kind_tf")
class UpsampleAndConcat(layers.Layer):
    """The original's ``upsample_and_concat(x1, x2, output_channels, in_channels)``.

    A bias-free 2×2 stride-2 transposed convolution of the coarse map, cut to the skip map's height
    and width, then ``concat([upsampled, skip])``. TF1's ``conv2d_transpose(..., output_shape=shape(skip),
    padding='SAME')`` with kernel 2 / stride 2 equals the full 2n-sized output with its last row/column
    dropped when the skip size is odd (2n − 1), so cropping at the bottom/right reproduces it exactly
    on any image size.

    In float32 it is the original's op, a transposed convolution (``Conv2DBackpropInput`` on TensorFlow).
    In bfloat16, where oneDNN's ``Conv2DBackpropInput`` kernel keeps memory for every input shape it sees
    (measured +50–250 MB per new tile shape, 4.7 GB peak on a tiled 4000×3000 photo), it is computed
    another way: with kernel = stride = 2 every input pixel writes its own 2×2 output block, so a 1×1
    convolution to 4·C channels followed by ``depth_to_space(2)`` gives the same products and sums
    (bit-exact against ``Conv2DTranspose``, tested). In float32 that formulation was slower where
    oneDNN caches filters (AMX Xeon, ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1``, 600×400: DecomNet 140 → 130 ms,
    RestorationNet 326 → 318 ms with the transposed convolution, identical outputs), so float32 keeps the
    original's op. The kernel variable stays that of a ``Conv2DTranspose`` sub-layer (``deconv``, layout
    [2, 2, C_out, C_in]) so weights files and the TF1 importer are unchanged.

    Called as ``layer([coarse, skip])``.
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.deconv = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", use_bias=False,
                                             name="deconv")

    def build(self, input_shape):
        self.deconv.build(input_shape[0])

    def call(self, inputs):
        coarse, skip = inputs
        kernel = ops.cast(self.deconv.kernel, coarse.dtype)            # [2, 2, C_out, C_in]
        if kernel.dtype == "float32":
            upsampled = ops.conv_transpose(coarse, kernel, strides=2, padding="same")   # 2n × 2n
        else:
            upsampled = pointwise_transposed_conv(coarse, kernel)
        skip_shape = ops.shape(skip)
        upsampled = upsampled[:, : skip_shape[1], : skip_shape[2], :]
        return ops.concatenate([upsampled, ops.cast(skip, upsampled.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        skip_shape = input_shape[1]
        return (*skip_shape[:-1], self.filters + skip_shape[-1])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def pointwise_transposed_conv(coarse, kernel):
    """A 2×2 stride-2 transposed convolution (``kernel`` [2, 2, C_out, C_in]) as a 1×1 convolution to 4·C_out
    channels and ``depth_to_space(2)``: every input pixel writes its own 2×2 output block (see
    :class:`UpsampleAndConcat`). Output [N, 2H, 2W, C_out]."""
    c_out, c_in = kernel.shape[2], kernel.shape[3]
    # [C_in, 2, 2, C_out] → one 1×1 kernel whose output channel (2·row + col)·C_out + o is the block position
    # depth_to_space expects.
    pointwise = ops.reshape(ops.transpose(kernel, [3, 0, 1, 2]), [1, 1, c_in, 4 * c_out])
    return ops.depth_to_space(ops.conv(coarse, pointwise, strides=1, padding="valid"), 2)


def max_pool() -> layers.MaxPooling2D:
    """``slim.max_pool2d([2, 2], stride=2, padding='SAME')``: odd sizes round up (ceil(n / 2))."""
    return layers.MaxPooling2D(pool_size=2, strides=2, padding="same")
