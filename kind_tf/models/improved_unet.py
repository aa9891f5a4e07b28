"""An improved U-Net for KinD's restoration stage, after the April 2024 research note (seed 004).

The note (Ku Jui, "4 月工作汇报") blames blurred texture, wrong illumination and colour casts in
U-Net enhancers on information lost to feature scaling, and proposes four changes. Each one is a
switch here, so every change can be ablated against the original KinD ``RestorationNet``:

==================  =====================================================================  =========
switch              what it adds                                                           cites
==================  =====================================================================  =========
``stem``            two 3×3, 64-filter, stride-1 convolutions before any downsampling, to  note §1
                    capture detail and texture at full resolution
``encoder``         ``"inverted_residual"``: MobileNetV2 linear-bottleneck blocks, so the  [4]
                    ReLU never acts on the low-dimensional projection (note problem 3);
                    ``"plain"``: the original's two 3×3 convs + 2×2 max-pool per level
``fpn``             an FPN top-down pathway in the skip connections, so each decoder       [6]
                    level receives a skip fused from all coarser levels
``sad``             self-attention distillation between successive encoder levels,        [5], SAD
                    a training-only regulariser that costs nothing at inference
==================  =====================================================================  =========

With ``stem=False, encoder="plain", fpn=False, sad=False`` the network is exactly KinD's
``RestorationNet``: same layers, same weight order (``set_weights(restoration_net.get_weights())``
works), same 7,760,739 parameters and the same outputs.

Levels and widths (``base_width`` = 32, ``expansion`` t = 6, ``fpn_width`` d = base_width = 32):

======  ==========  ===========  =========================================================
level   resolution  width c_k    inverted-residual encoder level
======  ==========  ===========  =========================================================
1       1           32           IR(s=1) → IR(s=1, residual)
2       1/2         64           IR(s=2) → IR(s=1, residual)
3       1/4         128          IR(s=2) → IR(s=1, residual)
4       1/8         256          IR(s=2) → IR(s=1, residual)
5       1/16        512          IR(s=2) → IR(s=1, residual)   (bottleneck, decoder input)
======  ==========  ===========  =========================================================

The widths are the original U-Net's / RestorationNet's (32 … 512), and so is the decoder: per
level, ``UpsampleAndConcat`` (2×2 stride-2 transposed conv cut to the skip's size, then concat),
two 3×3 convs with leaky ReLU 0.2, and finally a 3×3 conv to 3 channels + sigmoid; only its first
conv per level sees d FPN channels instead of c_k skip channels when ``fpn`` is on.

Each IR level has two blocks, like the two convolutions per level of the original; the first
changes width (and downsamples with a stride-2 depthwise conv, which rounds odd sizes up exactly
like the original's SAME max-pool), the second is a residual block.

Normalisation. MobileNetV2 puts batch norm after every convolution of the block, but KinD's
restoration stage trains with batch 4 or smaller, where batch statistics are too noisy (Wu & He,
"Group Normalization", ECCV 2018, Fig. 1). The default is ``norm="none"`` — like the original
RestorationNet and like EDSR (Lim et al., CVPRW 2017), which removed normalisation from
restoration nets because it normalises away the per-image contrast the network must reproduce.
``norm="group"`` puts GroupNorm (gcd(8, channels) groups) where MobileNetV2 has batch norm, for
experiments; it is batch-size independent. The stem, FPN and decoder stay unnormalised either way.

FLOPs: :func:`kind_tf.flops.count_flops` profiles a frozen concrete function with ``tf.profiler`` (one multiply-add
counts as 2 FLOPs).

References:
    [4] Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018.
    [5] (in the note) Guo et al., "A Pipeline Neural Network for Low-Light Image Enhancement",
        IEEE Access 2019; SAD itself: Hou et al., "Learning Lightweight Lane Detection CNNs by Self
        Attention Distillation", ICCV 2019.
    [6] Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

# SAD is a loss, so it lives in kind_tf.losses (networks import losses, never the reverse); re-exported here.
from kind_tf.losses.distillation import attention_map, sad_loss, spatial_softmax  # noqa: F401
from kind_tf.models.layers import ConvLReLU, UpsampleAndConcat, max_pool

NUM_LEVELS = 5  # the original U-Net's 5 levels: 4 downsamplings
STEM_FILTERS = 64  # note §1: "两个卷积层组成,其中每个层有 64 个 3×3 的过滤器"
BLOCKS_PER_LEVEL = 2  # mirrors the original's two convolutions per level
GROUP_NORM_GROUPS = 8
DEFAULT_SAD_WEIGHT = 0.1  # Hou et al. weight the distillation loss by 0.1
ENCODERS = ("inverted_residual", "plain")
NORMS = ("none", "group")


def _downsampled(shape: Sequence, filters: int) -> tuple:
    """Shape after a SAME stride-2 op (ceil(n / 2); unknown sizes stay unknown) with ``filters`` channels."""
    def half(size):
        return None if size is None else -(-size // 2)
    return (shape[0], half(shape[1]), half(shape[2]), filters)


def _normalization(norm: str, channels: int, name: str) -> layers.Layer | None:
    """GroupNorm with ``gcd(8, channels)`` groups (so any width divides), or nothing."""
    if norm == "none":
        return None
    return layers.GroupNormalization(groups=math.gcd(GROUP_NORM_GROUPS, channels), name=name)


@keras.saving.register_keras_serializable(package="kind_tf")
class Stem(layers.Layer):
    """Two 3×3 stride-1 convolutions (64 filters, SAME padding) at full resolution (note §1).

    The leaky ReLU (slope 0.2) is KinD's activation for plain convolutions.

    Args:
        filters: output channels of both convolutions.

    Shapes: [N, H, W, C_in] → [N, H, W, filters].
    """

    def __init__(self, filters: int = STEM_FILTERS, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv1 = ConvLReLU(filters, 3, name="conv1")
        self.conv2 = ConvLReLU(filters, 3, name="conv2")

    def build(self, input_shape):
        self.conv1.build(input_shape)
        self.conv2.build(self.conv1.compute_output_shape(input_shape))

    def call(self, inputs):
        return self.conv2(self.conv1(inputs))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="kind_tf")
class InvertedResidual(layers.Layer):
    """MobileNetV2's inverted residual with linear bottleneck (Sandler et al. 2018, Table 1).

    1×1 expand to t·C_in channels → ReLU6 → 3×3 depthwise (stride s) → ReLU6 → 1×1 linear
    projection to ``filters``, with no activation: a ReLU on the narrow projection would destroy the
    information of the low-dimensional manifold (paper Sec. 3.2; the note's problem 3). The input is
    added back when the block keeps shape (s = 1 and C_in = filters). With t = 1 the expansion conv
    is dropped, as in MobileNetV2's first bottleneck.

    Args:
        filters: output channels (the projection's width).
        expansion: expansion factor t.
        strides: depthwise stride, 1 or 2 (SAME padding: odd sizes round up, ceil(n / 2)).
        norm: ``"none"`` or ``"group"`` (GroupNorm where MobileNetV2 has batch norm).

    Shapes: [N, H, W, C_in] → [N, ceil(H / s), ceil(W / s), filters].
    """

    def __init__(self, filters: int, expansion: int = 6, strides: int = 1, norm: str = "none", **kwargs):
        super().__init__(**kwargs)
        if strides not in (1, 2):
            raise ValueError(f"strides must be 1 or 2, got {strides!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if expansion < 1:
            raise ValueError(f"expansion must be >= 1, got {expansion!r}")
        self.filters = filters
        self.expansion = expansion
        self.strides = strides
        self.norm = norm

    def build(self, input_shape):
        # The expanded width depends on the input's channels, so the sub-layers are made here.
        in_channels = int(input_shape[-1])
        hidden = in_channels * self.expansion
        use_bias = self.norm == "none"  # a norm's beta makes a preceding bias redundant
        self.use_residual = self.strides == 1 and in_channels == self.filters
        self.expand = None
        self.expand_norm = None
        shape = tuple(input_shape)
        if self.expansion != 1:
            self.expand = layers.Conv2D(hidden, 1, use_bias=use_bias, name="expand")
            self.expand.build(shape)
            shape = (*shape[:-1], hidden)
            self.expand_norm = _normalization(self.norm, hidden, "expand_norm")
            if self.expand_norm is not None:
                self.expand_norm.build(shape)
        self.depthwise = layers.DepthwiseConv2D(3, strides=self.strides, padding="same", use_bias=use_bias,
                                                name="depthwise")
        self.depthwise.build(shape)
        self.depthwise_norm = _normalization(self.norm, hidden, "depthwise_norm")
        if self.depthwise_norm is not None:
            self.depthwise_norm.build(shape)
        self.project = layers.Conv2D(self.filters, 1, use_bias=use_bias, name="project")
        self.project.build(shape)
        self.project_norm = _normalization(self.norm, self.filters, "project_norm")
        if self.project_norm is not None:
            self.project_norm.build((*shape[:-1], self.filters))

    def call(self, inputs):
        hidden = inputs
        if self.expand is not None:
            hidden = self.expand(hidden)
            if self.expand_norm is not None:
                hidden = self.expand_norm(hidden)
            hidden = ops.relu6(hidden)
        hidden = self.depthwise(hidden)
        if self.depthwise_norm is not None:
            hidden = self.depthwise_norm(hidden)
        hidden = ops.relu6(hidden)
        outputs = self.project(hidden)  # linear bottleneck: no activation
        if self.project_norm is not None:
            outputs = self.project_norm(outputs)
        if self.use_residual:
            outputs = outputs + inputs
        return outputs

    def compute_output_shape(self, input_shape):
        if self.strides == 2:
            return _downsampled(input_shape, self.filters)
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "expansion": self.expansion,
                "strides": self.strides, "norm": self.norm}


@keras.saving.register_keras_serializable(package="kind_tf")
class InvertedResidualLevel(layers.Layer):
    """One encoder level of ``blocks`` inverted residuals; the first may downsample by 2.

    Args:
        filters: the level's width c_k.
        expansion: expansion factor t of every block.
        downsample: whether the first block has stride 2 (levels 2–5) or 1 (level 1).
        blocks: number of inverted residuals (the first changes width, the rest are residual).
        norm: ``"none"`` or ``"group"``.

    Shapes: [N, H, W, C_in] → [N, H', W', filters], H' = ceil(H / 2) when ``downsample`` else H.
    """

    def __init__(self, filters: int, expansion: int = 6, downsample: bool = True,
                 blocks: int = BLOCKS_PER_LEVEL, norm: str = "none", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.expansion = expansion
        self.downsample = downsample
        self.blocks = blocks
        self.norm = norm
        self.block_layers = [
            InvertedResidual(filters, expansion, strides=2 if (downsample and index == 0) else 1, norm=norm,
                             name=f"block{index + 1}")
            for index in range(blocks)
        ]

    def build(self, input_shape):
        # Built from shapes alone: without a build, Keras 3 traces call symbolically to build the
        # blocks, which costs more than the first real call.
        shape = tuple(input_shape)
        for block in self.block_layers:
            block.build(shape)
            shape = block.compute_output_shape(shape)

    def call(self, inputs):
        features = inputs
        for block in self.block_layers:
            features = block(features)
        return features

    def compute_output_shape(self, input_shape):
        if self.downsample:
            return _downsampled(input_shape, self.filters)
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "expansion": self.expansion,
                "downsample": self.downsample, "blocks": self.blocks, "norm": self.norm}


@keras.saving.register_keras_serializable(package="kind_tf")
class PlainLevel(layers.Layer):
    """The original KinD / U-Net encoder level: [2×2 SAME max-pool] → 3×3 conv → 3×3 conv (leaky ReLU).

    The convolutions keep the original TF1 scope names (``de_conv{level}_1``, ``de_conv{level}_2``).

    Args:
        filters: the level's width c_k.
        downsample: whether to max-pool first (levels 2–5).
        level: 1-based level index, used only for the sub-layer names.

    Shapes: [N, H, W, C_in] → [N, H', W', filters], H' = ceil(H / 2) when ``downsample`` else H.
    """

    def __init__(self, filters: int, downsample: bool = True, level: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.downsample = downsample
        self.level = level
        self.pool = max_pool() if downsample else None
        self.conv1 = ConvLReLU(filters, 3, name=f"de_conv{level}_1")
        self.conv2 = ConvLReLU(filters, 3, name=f"de_conv{level}_2")

    def build(self, input_shape):
        shape = _downsampled(input_shape, input_shape[-1]) if self.downsample else tuple(input_shape)
        self.conv1.build(shape)
        self.conv2.build((*shape[:-1], self.filters))

    def call(self, inputs):
        features = self.pool(inputs) if self.pool is not None else inputs
        return self.conv2(self.conv1(features))

    def compute_output_shape(self, input_shape):
        if self.downsample:
            return _downsampled(input_shape, self.filters)
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "downsample": self.downsample,
                "level": self.level}


def upsample_to(coarse, fine):
    """Nearest-neighbour ×2 upsampling of ``coarse`` cut to ``fine``'s height and width.

    FPN upsamples by 2 with nearest neighbour (Lin et al. 2017, Sec. 3). Repeating each pixel
    twice and cropping bottom/right gives fine pixel (i, j) the coarse pixel (i // 2, j // 2) — the
    one whose SAME pooling / stride-2 window covers it — on odd sizes too, the same crop convention as
    ``UpsampleAndConcat``. Works on dynamic shapes.

    Shapes: coarse [N, ceil(H / 2), ceil(W / 2), C], fine [N, H, W, *] → [N, H, W, C].
    """
    upsampled = ops.repeat(ops.repeat(coarse, 2, axis=1), 2, axis=2)
    fine_shape = ops.shape(fine)
    return upsampled[:, : fine_shape[1], : fine_shape[2], :]


@keras.saving.register_keras_serializable(package="kind_tf")
class FeaturePyramid(layers.Layer):
    """FPN top-down pathway with lateral connections (Lin et al. 2017, Fig. 3) over encoder levels.

    M_L = lateral_L(C_L); M_k = lateral_k(C_k) + upsample(M_{k+1}) for k = L−1 … 1;
    P_k = smooth_k(M_k), a 3×3 conv that reduces the upsampling's aliasing. As in FPN, every
    lateral / smoothing conv has ``width`` channels so the maps can be added, and none is followed
    by a non-linearity (FPN found they make little difference). The coarsest map only feeds the
    top-down path: the decoder starts from C_L itself, as in the original U-Net.

    Called as ``layer([C_1, …, C_L])`` (finest first); returns ``[P_1, …, P_{L−1}]``, the fused skip
    of each decoder level. Shapes: C_k [N, H_k, W_k, c_k] → P_k [N, H_k, W_k, width].

    Args:
        width: FPN channel width d.
        num_levels: number of encoder levels L.
    """

    def __init__(self, width: int, num_levels: int = NUM_LEVELS, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.num_levels = num_levels
        self.laterals = [layers.Conv2D(width, 1, name=f"lateral{level}") for level in range(1, num_levels + 1)]
        self.smooths = [layers.Conv2D(width, 3, padding="same", name=f"smooth{level}")
                        for level in range(1, num_levels)]

    def build(self, input_shape):
        for lateral, shape in zip(self.laterals, input_shape):
            lateral.build(shape)
        for smooth, shape in zip(self.smooths, input_shape):
            smooth.build((*shape[:-1], self.width))

    def call(self, inputs: Sequence):
        if len(inputs) != self.num_levels:
            raise ValueError(f"expected {self.num_levels} feature maps, got {len(inputs)}")
        merged = self.laterals[-1](inputs[-1])
        pyramid = []
        for level in reversed(range(self.num_levels - 1)):
            merged = self.laterals[level](inputs[level]) + upsample_to(merged, inputs[level])
            pyramid.append(self.smooths[level](merged))
        return pyramid[::-1]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "width": self.width, "num_levels": self.num_levels}


@keras.saving.register_keras_serializable(package="kind_tf")
class ImprovedUNet(keras.Model):
    """(reflectance [N, H, W, 3], illumination [N, H, W, 1]) → restored reflectance [N, H, W, 3] in (0, 1).

    A drop-in replacement for ``RestorationNet`` (same inputs and output, any H×W) with the seed
    note's stem, inverted-residual encoder, FPN skips and self-attention distillation, each
    switchable (see the module docstring for widths and the choices made).

    When ``sad`` is on, a training call (``training=True``, as ``fit`` passes) adds
    ``sad_weight · sad_loss([C_1, …, C_5])`` over the five encoder levels' outputs via ``add_loss``:
    ``fit`` adds it to the compiled loss, and a custom loop reads it from ``model.losses`` after the
    forward pass (``loss = task_loss + ops.sum(model.losses)``). Inference calls add nothing.
    Hou et al. switch SAD on only part-way through training, once the higher blocks' attention is
    informative; since SAD has no weights, a loop can do the same by training a ``sad=False`` model
    first, or by adding ``λ · sad_loss(model.encode(inputs))`` itself when it chooses.

    Args:
        stem: two 3×3, 64-filter convolutions at full resolution before the encoder.
        encoder: ``"inverted_residual"`` (MobileNetV2 blocks) or ``"plain"`` (the original's).
        fpn: fuse the skips with an FPN top-down pathway; otherwise the skips are C_1 … C_4.
        sad: add the self-attention distillation loss in training calls.
        base_width: width of level 1; level k has ``base_width · 2^(k−1)`` channels.
        expansion: inverted-residual expansion factor t (unused by the plain encoder).
        fpn_width: FPN channel width d; ``None`` means ``base_width`` — FPN's d equals the width of its
            finest level (256 = C2 of ResNet), and the full-resolution 3×3 smoothing conv costs
            9·d² multiply-adds per pixel.
        sad_weight: λ, the SAD loss weight.
        norm: ``"none"`` or ``"group"``, normalisation inside inverted residuals.
    """

    def __init__(self, stem: bool = True, encoder: str = "inverted_residual", fpn: bool = True, sad: bool = True,
                 base_width: int = 32, expansion: int = 6, fpn_width: int | None = None,
                 sad_weight: float = DEFAULT_SAD_WEIGHT, norm: str = "none", **kwargs):
        super().__init__(**kwargs)
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.stem = bool(stem)
        self.encoder = encoder
        self.fpn = bool(fpn)
        self.sad = bool(sad)
        self.base_width = int(base_width)
        self.expansion = int(expansion)
        self.fpn_width = None if fpn_width is None else int(fpn_width)
        self.sad_weight = float(sad_weight)
        self.norm = norm
        widths = [self.base_width * 2**level for level in range(NUM_LEVELS)]

        # Built in RestorationNet's order (encoder, decoder, output conv) so that with every switch
        # off the weight list lines up with the original's one for one.
        self.stem_block = Stem(STEM_FILTERS, name="stem") if self.stem else None
        if encoder == "inverted_residual":
            self.encoder_levels = [
                InvertedResidualLevel(width, self.expansion, downsample=level > 1, norm=norm,
                                      name=f"encoder{level}")
                for level, width in enumerate(widths, start=1)
            ]
        else:
            self.encoder_levels = [PlainLevel(width, downsample=level > 1, level=level, name=f"encoder{level}")
                                   for level, width in enumerate(widths, start=1)]
        self.pyramid = (FeaturePyramid(self.fpn_width or self.base_width, NUM_LEVELS, name="fpn")
                        if self.fpn else None)
        # Decoder levels 6..9 mirror encoder levels 4..1 (the original's scope names).
        self.decoder = []
        for level, width in zip(range(6, 10), reversed(widths[:-1])):
            self.decoder.append((
                UpsampleAndConcat(width, name=f"up_{level}"),
                ConvLReLU(width, 3, name=f"de_conv{level}_1"),
                ConvLReLU(width, 3, name=f"de_conv{level}_2"),
            ))
        self.de_conv10 = ConvLReLU(3, 3, activation=None, name="de_conv10")

    def build(self, input_shape):
        """Create every variable from the input shapes ([N, H, W, 3], [N, H, W, 1]) alone."""
        reflectance_shape, illumination_shape = input_shape
        shape = (*reflectance_shape[:-1], reflectance_shape[-1] + illumination_shape[-1])
        if self.stem_block is not None:
            self.stem_block.build(shape)
            shape = self.stem_block.compute_output_shape(shape)
        level_shapes = []
        for level in self.encoder_levels:
            level.build(shape)
            shape = level.compute_output_shape(shape)
            level_shapes.append(shape)
        skip_shapes = level_shapes[:-1]
        if self.pyramid is not None:
            self.pyramid.build(level_shapes)
            skip_shapes = [(*skip[:-1], self.pyramid.width) for skip in skip_shapes]
        for (upsample, conv_a, conv_b), skip_shape in zip(self.decoder, reversed(skip_shapes)):
            upsample.build([shape, skip_shape])
            shape = upsample.compute_output_shape([shape, skip_shape])
            conv_a.build(shape)
            shape = conv_a.compute_output_shape(shape)
            conv_b.build(shape)
            shape = conv_b.compute_output_shape(shape)
        self.de_conv10.build(shape)

    def encode(self, inputs) -> list:
        """The encoder levels' outputs [C_1, …, C_5] (finest first), the maps SAD distils.

        C_k has shape [N, ceil(H / 2^(k−1)), ceil(W / 2^(k−1)), c_k].
        """
        reflectance, illumination = inputs
        features = ops.concatenate([reflectance, illumination], axis=-1)
        if self.stem_block is not None:
            features = self.stem_block(features)
        levels = []
        for level in self.encoder_levels:
            features = level(features)
            levels.append(features)
        return levels

    def call(self, inputs, training: bool | None = None):
        levels = self.encode(inputs)
        if self.sad and training:
            self.add_loss(self.sad_weight * sad_loss(levels))
        skips = self.pyramid(levels) if self.pyramid is not None else levels[:-1]
        features = levels[-1]
        for (upsample, conv_a, conv_b), skip in zip(self.decoder, reversed(skips)):
            features = conv_b(conv_a(upsample([features, skip])))
        return ops.sigmoid(self.de_conv10(features))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stem": self.stem, "encoder": self.encoder, "fpn": self.fpn,
                "sad": self.sad, "base_width": self.base_width, "expansion": self.expansion,
                "fpn_width": self.fpn_width, "sad_weight": self.sad_weight, "norm": self.norm}

