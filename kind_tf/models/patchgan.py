"""A small PatchGAN discriminator (pix2pix, Isola et al. 2017) for the adversarial losses.

It classifies overlapping patches as real or fake: the output is a map of logits, one per patch
(the 70×70 receptive field of pix2pix with the defaults). Pair it with
:func:`kind_tf.losses.adversarial.discriminator_loss` / ``generator_loss``.
"""

from __future__ import annotations

import keras
from keras import layers

LEAKY_RELU_SLOPE = 0.2
NORM_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="kind_tf")
class PatchGANDiscriminator(keras.Model):
    """[N, H, W, C] images in [0, 1] → [N, H/2^d, W/2^d, 1] real/fake logits ('same' padding).

    4×4 convolutions: ``downsamples`` stride-2 convs (``filters``, doubling, at most 8×), one
    stride-1 conv and a 1-channel stride-1 conv for the logits; leaky ReLU 0.2, and instance
    normalisation after every conv but the first and the last (``normalization="none"`` drops it).
    With the defaults (64 filters, 3 downsamples) it is pix2pix's 70×70 PatchGAN, 2.77 M parameters;
    ``filters=32`` gives a 0.69 M one.

    Args:
        filters: channels of the first conv.
        downsamples: number of stride-2 convs (the output is 2^downsamples times smaller).
        normalization: "instance" or "none".
    """

    def __init__(self, filters: int = 64, downsamples: int = 3, normalization: str = "instance", **kwargs):
        super().__init__(**kwargs)
        if normalization not in ("instance", "none"):
            raise ValueError(f"normalization must be 'instance' or 'none', got {normalization!r}")
        if filters < 1 or downsamples < 1:
            raise ValueError("filters and downsamples must be ≥ 1")
        self.filters = filters
        self.downsamples = downsamples
        self.normalization = normalization
        self.blocks = []
        for index in range(downsamples + 1):
            channels = filters * min(2 ** index, 8)
            stride = 2 if index < downsamples else 1
            conv = layers.Conv2D(channels, 4, strides=stride, padding="same", name=f"conv{index + 1}")
            norm = None
            if index > 0 and normalization == "instance":
                norm = layers.GroupNormalization(groups=-1, epsilon=NORM_EPSILON, name=f"norm{index + 1}")
            self.blocks.append((conv, norm))
        self.logits = layers.Conv2D(1, 4, strides=1, padding="same", name="logits")

    def call(self, images):
        x = images
        for conv, norm in self.blocks:
            x = conv(x)
            if norm is not None:
                x = norm(x)
            x = keras.ops.leaky_relu(x, negative_slope=LEAKY_RELU_SLOPE)
        return self.logits(x)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, downsamples=self.downsamples, normalization=self.normalization)
        return config
