"""KinD++'s reflectance restoration network (``Restoration_net``, scope ``Denoise_Net``, in the original
model.py and msia_BN_3_M.py), built around the multi-scale illumination attention module (MSIA).

KinD++ (Zhang et al., "Beyond Brightening Low-light Images", IJCV 2021, Sec. 3.2) replaces KinD's
U-Net restoration by a plain full-resolution chain of convolutions interleaved with four MSIA modules.
The degraded reflectance R_low is the only input of the convolutions; the illumination I_low enters only
through each module's attention map, because the degradation of R_low (noise amplified by the
decomposition, colour shifts) is strongest where the scene was darkest::

    A  = σ(conv3×3(I_low))                     illumination attention (1 channel, no bias)
    F' = F ⊙ A                                  broadcast over channels
    S1 = ReLU(BN(ReLU(conv3×3(F'))))                                            scale 1
    S2 = ReLU(up(ReLU(BN(ReLU(conv3×3(pool₂(F')))))))                           scale 1/2
    S4 = ReLU(up(ReLU(up(ReLU(BN(ReLU(conv1×1(pool₄(F')))))))))                  scale 1/4
    MSIA(F, I_low) = ReLU(conv1×1([F', S1, S2, S4]))                            no residual

``up`` is a 2×2 stride-2 transposed convolution with bias, ``pool_k`` a k×k stride-k max-pool and BN
``tf.layers.batch_normalization`` (momentum 0.99, ε 1e-3; inference uses the moving statistics:
γ·(x − μ)/√(σ² + ε) + β). Layer names follow the original variable scopes (``de_conv1_1``,
``de_conv1`` / ``de_conv1pu2`` / ``pu_conv`` / ``conv_up`` …) so that checkpoint import is a name mapping
(kind_tf.convert.kindpp_tf1).

Any image size. The original needs H and W to be multiples of 4: its SAME pools round up and its
transposed convs exactly double, so on other sizes the concat of the scales fails. Here each scale's
upsampled map is cut back to the input's size at the bottom/right, and the ÷4 pool is two SAME ÷2 pools,
so every pooling cell is anchored at the top-left corner and a partial last cell takes the max of its
real pixels only (TF's SAME ÷4 pool would centre its padding, shifting the grid by a pixel for
H mod 4 ∈ {1, 2}). On multiples of 4 nothing is padded or cut and the result is the original's exactly
(max of maxes is the max). Unlike replicate-padding the image to a multiple of 4, every convolution
still sees the real image border with zero padding, exactly as the original does at its edges, and no
pixel is computed that is thrown away.

Receptive field: an output pixel depends on R_low and I_low within 19 and 18 px (radius; exact interval
propagation through every conv, pool cell and transposed conv, worst case over the position in the
÷4 grid: 39×39 px). With DecomNet in front (radius 13) KinD++'s pipeline sees 32 px around each pixel.
11.2 MFLOP per pixel (multiply-add = 2 FLOP), 84 % of it in the two MSIA(256) modules and
de_conv3_1/3_2. 8,019,239 trainable parameters + 3,840 batch-norm moving statistics.

Backend-agnostic: only ``keras.layers`` and ``keras.ops`` (runs under KERAS_BACKEND=jax).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from kind_tf.models.layers import ConvLReLU

# Widths of the original's chain: (conv, conv, MSIA) × 4 stages, then de_conv5_1 (32) and de_conv10 (3).
STAGE_WIDTHS = ((32, 64), (128, 256), (512, 256), (128, 64))
BATCH_NORM_MOMENTUM = 0.99   # tf.layers.batch_normalization defaults
BATCH_NORM_EPSILON = 1e-3
SCALES = (1, 2, 4)


@keras.saving.register_keras_serializable(package="kind_tf")
class UpConvReLU(layers.Layer):
    """``slim.conv2d_transpose(x, C, [2, 2], stride=2, padding='SAME')`` (bias, ReLU): H×W → 2H×2W.

    With kernel = stride = 2 each input pixel writes its own 2×2 output block, so the transposed conv is
    computed as a 1×1 convolution to 4·C channels followed by a pixel shuffle (``depth_to_space``) — the
    same products and sums, without a transposed-convolution kernel (see
    kind_tf.models.layers.UpsampleAndConcat for why). The kernel keeps slim's / Keras' Conv2DTranspose
    layout [2, 2, C_out, C_in]: output[2i + r, 2j + c, o] = Σ_ci x[i, j, ci] · kernel[r, c, o, ci] + b[o].
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(2, 2, self.filters, input_shape[-1]),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, inputs):
        kernel = ops.cast(self.kernel, inputs.dtype)
        c_out, c_in = kernel.shape[2], kernel.shape[3]
        # [C_in, 2, 2, C_out] → a 1×1 kernel whose output channel (2·r + c)·C_out + o is the block
        # position depth_to_space expects.
        pointwise = ops.reshape(ops.transpose(kernel, [3, 0, 1, 2]), [1, 1, c_in, 4 * c_out])
        upsampled = ops.depth_to_space(ops.conv(inputs, pointwise, strides=1, padding="valid"), 2)
        return ops.relu(upsampled + ops.cast(self.bias, upsampled.dtype))

    def compute_output_shape(self, input_shape):
        double = [None if size is None else 2 * size for size in input_shape[1:3]]
        return (input_shape[0], *double, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="kind_tf")
class ScaleBranch(layers.Layer):
    """One scale of MSIA: pool by ``scale`` → conv + ReLU → batch norm → ReLU → back to full size.

    The conv + ReLU + BN + ReLU block is the original's ``pu_conv`` (slim.conv2d, default ReLU) and
    ``batch_normalization`` followed by ``tf.nn.relu``; scale 1 is only that block (3×3 conv), scale 2
    pools 2×2 first (3×3 conv) and upsamples once (``conv_up``), scale 4 pools 4×4 (1×1 conv) and
    upsamples twice (``conv_up_1`` then ``conv_up``). The upsampled map is cut to the input's height and
    width (a no-op on multiples of ``scale``, see the module docstring). Layer name = the original scope,
    e.g. ``de_conv1pu2``.
    """

    def __init__(self, filters: int, scale: int = 1, **kwargs):
        super().__init__(**kwargs)
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        self.filters = filters
        self.scale = scale
        # Pools anchored at the top-left; ÷4 = two ÷2 (see the module docstring).
        self.pools = [layers.MaxPooling2D(pool_size=2, strides=2, padding="same")
                      for _ in range(scale.bit_length() - 1)]
        self.pu_conv = layers.Conv2D(filters, 1 if scale == 4 else 3, padding="same", activation="relu",
                                     name="pu_conv")
        self.batch_normalization = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM,
                                                             epsilon=BATCH_NORM_EPSILON, name="batch_normalization")
        up_names = {1: (), 2: ("conv_up",), 4: ("conv_up_1", "conv_up")}[scale]
        self.ups = [UpConvReLU(filters, name=name) for name in up_names]

    def call(self, inputs, training=None):
        features = inputs
        for pool in self.pools:
            features = pool(features)
        features = ops.relu(self.batch_normalization(self.pu_conv(features), training=training))
        for up in self.ups:
            features = up(features)
        if self.scale > 1:
            shape = ops.shape(inputs)
            features = features[:, : shape[1], : shape[2], :]
        return features

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "scale": self.scale}


@keras.saving.register_keras_serializable(package="kind_tf")
class MSIA(layers.Layer):
    """Multi-scale illumination attention module (KinD++ Sec. 3.2): ``layer([features, illumination])``.

    The illumination attention σ(conv3×3(I_low)) rescales the features where the scene is dark (where
    the reflectance is most degraded); three scales (1, 1/2, 1/4) of the attended features are fused by
    a 1×1 conv with the attended features themselves. Output channels = input channels = ``filters``.
    Sub-layers carry the original scope names: ``conv`` (the attention kernel ``de_convK/conv/kernel``),
    ``de_convKpu1``/``pu2``/``pu4`` (:class:`ScaleBranch`) and ``de_convKmulti_scale_feature``.
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = layers.Conv2D(1, 3, padding="same", use_bias=False, name="conv")
        self.branches = [ScaleBranch(filters, scale, name=f"{self.name}pu{scale}") for scale in SCALES]
        self.multi_scale_feature = layers.Conv2D(filters, 1, padding="same", activation="relu",
                                                 name=f"{self.name}multi_scale_feature")

    def attention(self, illumination, dtype=None):
        """The illumination attention A = σ(conv3×3(I_low)), [N, H, W, 1]: the weight of each pixel's features."""
        return ops.sigmoid(self.conv(ops.cast(illumination, dtype or self.compute_dtype)))

    def call(self, inputs, training=None):
        features, illumination = inputs
        attended = features * self.attention(illumination, features.dtype)
        scales = [branch(attended, training=training) for branch in self.branches]
        return self.multi_scale_feature(ops.concatenate([attended, *scales], axis=-1))

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="kind_tf")
class MSIANet(keras.Model):
    """(reflectance [N, H, W, 3], illumination [N, H, W, 1]) → restored reflectance [N, H, W, 3].

    The original ``Denoise_Net``: de_conv1_1 (32) → de_conv1_2 (64) → MSIA(64) → de_conv2_1 (128) →
    de_conv2_2 (256) → MSIA(256) → de_conv3_1 (512) → de_conv3_2 (256) → MSIA(256) → de_conv4_1 (128) →
    de_conv4_2 (64) → MSIA(64) → de_conv5_1 (32) → de_conv10 (3, linear) → sigmoid; 3×3 convs with the
    leaky ReLU (slope 0.2), all at full resolution. Called like :class:`kind_tf.models.RestorationNet`
    (``model([reflectance, illumination], training=...)``); ``training=True`` normalises with batch
    statistics, as the original's training does. Any H×W (see the module docstring).
    8,019,239 trainable parameters + 3,840 batch-norm moving statistics.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stages = []
        for index, (width_a, width_b) in enumerate(STAGE_WIDTHS, start=1):
            self.stages.append((ConvLReLU(width_a, 3, name=f"de_conv{index}_1"),
                                ConvLReLU(width_b, 3, name=f"de_conv{index}_2"),
                                MSIA(width_b, name=f"de_conv{index}")))
        self.de_conv5_1 = ConvLReLU(32, 3, name="de_conv5_1")
        self.de_conv10 = ConvLReLU(3, 3, activation=None, name="de_conv10")

    def call(self, inputs, training=None):
        reflectance, illumination = inputs
        features = reflectance
        for conv_a, conv_b, msia in self.stages:
            features = msia([conv_b(conv_a(features)), illumination], training=training)
        return ops.sigmoid(self.de_conv10(self.de_conv5_1(features)))

    @property
    def msia_modules(self) -> list[MSIA]:
        return [msia for _, _, msia in self.stages]

    def attention_maps(self, illumination) -> list:
        """The four MSIA modules' illumination attention maps σ(conv3×3(I_low)) for ``illumination``
        [N, H, W, 1] (float32), in chain order (after de_conv1_2, 2_2, 3_2, 4_2)."""
        return [ops.cast(msia.attention(illumination), "float32") for msia in self.msia_modules]

    def get_config(self):
        return super().get_config()
