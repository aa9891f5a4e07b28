"""KinD's illumination adjustment network (``Illumination_adjust_net`` in the original model.py).

Maps an illumination map and a ratio map (the desired brightening factor, a constant map at
inference, paper Sec. 3.3) to an adjusted illumination.
"""

from __future__ import annotations

import keras
from keras import ops

from kind_tf.models.layers import ConvLReLU


@keras.saving.register_keras_serializable(package="kind_tf")
class IlluminationAdjustNet(keras.Model):
    """(illumination [N, H, W, 1], ratio map [N, H, W, 1]) → adjusted illumination [N, H, W, 1].

    Four 3×3 convs; as in the original, the last one also has the leaky ReLU before the sigmoid.
    19,393 parameters.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.en_conv_1 = ConvLReLU(32, 3, name="en_conv_1")
        self.en_conv_2 = ConvLReLU(32, 3, name="en_conv_2")
        self.en_conv_3 = ConvLReLU(32, 3, name="en_conv_3")
        self.en_conv_4 = ConvLReLU(1, 3, name="en_conv_4")

    def call(self, inputs):
        illumination, ratio_map = inputs
        features = ops.concatenate([illumination, ratio_map], axis=-1)
        features = self.en_conv_3(self.en_conv_2(self.en_conv_1(features)))
        return ops.sigmoid(self.en_conv_4(features))

    def get_config(self):
        return super().get_config()
