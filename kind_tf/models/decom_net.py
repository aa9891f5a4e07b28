"""KinD's layer decomposition network (``DecomNet_simple`` in the original model.py).

Splits an image I into reflectance R (3 channels) and illumination L (1 channel), I ≈ R ∘ L
(Retinex, paper Eq. 1). A two-level U-Net produces R; a side branch from the first encoder level,
concatenated with the last decoder features, produces L.
"""

from __future__ import annotations

import keras
from keras import ops

from kind_tf.models.layers import ConvLReLU, UpsampleAndConcat, max_pool


@keras.saving.register_keras_serializable(package="kind_tf")
class DecomNet(keras.Model):
    """image [N, H, W, 3] in [0, 1] → (reflectance [N, H, W, 3], illumination [N, H, W, 1]).

    Layer names follow the original TF1 scopes (``DecomNet/g_conv1_1`` …) so that checkpoint import is
    a name mapping. 235,876 parameters.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.g_conv1_1 = ConvLReLU(32, 3, name="g_conv1_1")
        self.pool1 = max_pool()
        self.g_conv2_1 = ConvLReLU(64, 3, name="g_conv2_1")
        self.pool2 = max_pool()
        self.g_conv3_1 = ConvLReLU(128, 3, name="g_conv3_1")
        self.g_up_1 = UpsampleAndConcat(64, name="g_up_1")
        self.g_conv8_1 = ConvLReLU(64, 3, name="g_conv8_1")
        self.g_up_2 = UpsampleAndConcat(32, name="g_up_2")
        self.g_conv9_1 = ConvLReLU(32, 3, name="g_conv9_1")
        # The original replaced the paper's 3×3 output convs by 1×1 ("to get better results").
        self.g_conv10 = ConvLReLU(3, 1, activation=None, name="g_conv10")
        self.l_conv1_2 = ConvLReLU(32, 3, name="l_conv1_2")
        self.l_conv1_4 = ConvLReLU(1, 1, activation=None, name="l_conv1_4")

    def call(self, images):
        conv1 = self.g_conv1_1(images)
        conv2 = self.g_conv2_1(self.pool1(conv1))
        conv3 = self.g_conv3_1(self.pool2(conv2))
        conv8 = self.g_conv8_1(self.g_up_1([conv3, conv2]))
        conv9 = self.g_conv9_1(self.g_up_2([conv8, conv1]))
        reflectance = ops.sigmoid(self.g_conv10(conv9))
        illumination_features = ops.concatenate([self.l_conv1_2(conv1), conv9], axis=-1)
        illumination = ops.sigmoid(self.l_conv1_4(illumination_features))
        return reflectance, illumination

    def get_config(self):
        return super().get_config()
