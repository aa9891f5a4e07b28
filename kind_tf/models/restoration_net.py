"""KinD's reflectance restoration network (``Restoration_net`` in the original model.py).

A 5-level U-Net that takes the degraded reflectance of a low-light image together with its
illumination (which tells it where noise and colour casts are strongest, paper Sec. 3.2) and
predicts a clean reflectance.
"""

from __future__ import annotations

import keras
from keras import ops

from kind_tf.models.layers import ConvLReLU, UpsampleAndConcat, max_pool

ENCODER_WIDTHS = (32, 64, 128, 256, 512)


@keras.saving.register_keras_serializable(package="kind_tf")
class RestorationNet(keras.Model):
    """(reflectance [N, H, W, 3], illumination [N, H, W, 1]) → restored reflectance [N, H, W, 3].

    Layer names follow the original TF1 scopes (``Restoration_net/de_conv1_1`` …). 7,760,739 parameters.
    Any H×W works: SAME max-pools round up and each upsampling is cut to its skip's size.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = []
        for level, width in enumerate(ENCODER_WIDTHS, start=1):
            pair = (ConvLReLU(width, 3, name=f"de_conv{level}_1"), ConvLReLU(width, 3, name=f"de_conv{level}_2"))
            self.encoder.append(pair)
        self.pools = [max_pool() for _ in ENCODER_WIDTHS[:-1]]
        self.decoder = []
        # Decoder levels 6..9 mirror encoder levels 4..1.
        for level, width in zip(range(6, 10), reversed(ENCODER_WIDTHS[:-1])):
            self.decoder.append((
                UpsampleAndConcat(width, name=f"up_{level}"),
                ConvLReLU(width, 3, name=f"de_conv{level}_1"),
                ConvLReLU(width, 3, name=f"de_conv{level}_2"),
            ))
        self.de_conv10 = ConvLReLU(3, 3, activation=None, name="de_conv10")

    def call(self, inputs):
        reflectance, illumination = inputs
        features = ops.concatenate([reflectance, illumination], axis=-1)
        skips = []
        for level, (conv_a, conv_b) in enumerate(self.encoder):
            if level > 0:
                features = self.pools[level - 1](features)
            features = conv_b(conv_a(features))
            skips.append(features)
        for (upsample, conv_a, conv_b), skip in zip(self.decoder, reversed(skips[:-1])):
            features = conv_b(conv_a(upsample([features, skip])))
        return ops.sigmoid(self.de_conv10(features))

    def get_config(self):
        return super().get_config()
