"""Zero-DCE++ (Li, Guo & Loy, TPAMI 2021): the DCE-Net curve estimator and its curve.

The network and its resize semantics follow the original PyTorch ``enhance_net_nopool`` exactly
(shared/reference/zero_dce_official/RECIPE.md):

1. With ``scale_factor`` s > 1 the input is downsampled by s with bilinear interpolation,
   ``align_corners=False`` (half-pixel centres), no antialias.
2. Seven depthwise-separable blocks estimate the curve map ``A`` (3 channels, tanh, in [-1, 1]):
   3→32, 32→32, 32→32, 32→32, cat(x3, x4) 64→32, cat(x2, x5) 64→32, cat(x1, x6) 64→3.
3. ``A`` is upsampled by s with bilinear ``align_corners=True`` (``nn.UpsamplingBilinear2d``).
4. The light-enhancement curve is applied ``iterations`` = 8 times with the same ``A``:
   ``x ← x + A·(x² − x)``. The paper writes ``LE(x) = x + α·x(1 − x)``, i.e. A = −α; kind-tf keeps
   the code's form and sign so that the released weights give the released A.

Size rule (kind-tf's, the original has none): the original test script crops every input to a
multiple of s and so loses up to s − 1 rows and columns. Here an H×W input is instead extended at
the bottom and right by symmetric (mirror) padding to Hp×Wp = ceil(H/s)·s × ceil(W/s)·s, which is
what the downsampler reads; ``A`` is the original's align_corners=True upsampling of the
ceil(H/s)×ceil(W/s) map to Hp×Wp, cropped to its top-left H×W. The curve is per-pixel, so the
output is exactly H×W for every H, W ≥ 1, and for H, W multiples of s no padding or cropping
happens: it is the original's computation (golden parity ≤ 1e-4, measured ~4e-7). The mirror
keeps the last, partial s×s block's statistics natural; with s = 1 (training) nothing is resized.

Layout: NHWC, float images in [0, 1].
"""

from __future__ import annotations

import numbers
from typing import Any

import keras
import numpy as np
from keras import ops

from kind_tf.image_ops import Tensor, resize_bilinear, symmetric_indices

#: Curve iterations of Zero-DCE / Zero-DCE++ (paper §3.1, n = 8).
CURVE_ITERATIONS = 8
#: Feature width of DCE-Net (original ``number_f``).
DCE_FILTERS = 32
#: Scale factor used by the original Zero-DCE++ test script (lowlight_test.py).
INFERENCE_SCALE_FACTOR = 12


def _check_scale_factor(scale_factor: Any) -> int:
    """Return ``scale_factor`` as an int, or raise: only positive integer factors are exact."""
    if (
        isinstance(scale_factor, bool)
        or not isinstance(scale_factor, numbers.Real)
        or not float(scale_factor).is_integer()
        or scale_factor < 1
    ):
        raise ValueError(f"scale_factor must be a positive integer, got {scale_factor!r}")
    return int(scale_factor)


@keras.saving.register_keras_serializable(package="kind_tf")
class DepthwiseSeparableConv(keras.layers.Layer):
    """Zero-DCE++'s "CSDN" block: 3×3 depthwise conv (bias) then 1×1 pointwise conv (bias).

    No activation (DCE-Net applies ReLU / tanh after the block, as the original does).
    Sub-layer names ``depth_conv`` / ``point_conv`` mirror the PyTorch state-dict names.

    Args:
        filters: output channels of the pointwise conv.
        kernel_size: depthwise kernel size (3 in Zero-DCE++; "same" padding = the original pad 1).

    Shapes: ``[B, H, W, C_in] -> [B, H, W, filters]``.
    """

    def __init__(self, filters: int, kernel_size: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.depth_conv = keras.layers.DepthwiseConv2D(
            self.kernel_size, padding="same", use_bias=True, name="depth_conv", dtype=self.dtype_policy
        )
        self.point_conv = keras.layers.Conv2D(
            self.filters, 1, padding="valid", use_bias=True, name="point_conv", dtype=self.dtype_policy
        )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        input_shape = tuple(input_shape)
        self.depth_conv.build(input_shape)
        self.point_conv.build(input_shape)  # depthwise (multiplier 1) keeps the channel count
        self.built = True

    def call(self, inputs: Tensor) -> Tensor:
        return self.point_conv(self.depth_conv(inputs))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


def apply_curve(images: Tensor, curve_map: Tensor, iterations: int = CURVE_ITERATIONS) -> Tensor:
    """Apply the quadratic light-enhancement curve ``iterations`` times with one shared map.

    ``x ← x + A·(x² − x)``, exactly the original's code form (RECIPE.md "Curve").

    Args:
        images: ``[B, H, W, 3]`` input in [0, 1].
        curve_map: ``[B, H, W, 3]`` curve parameters A in [-1, 1] (broadcastable to ``images``).
        iterations: number of curve applications (8 in Zero-DCE++).

    Returns:
        ``[B, H, W, 3]`` the enhanced image (the last iterate).
    """
    x = images
    for _ in range(iterations):
        x = x + curve_map * (ops.square(x) - x)
    return x


def pad_to_multiple(images: Tensor, multiple: int) -> Tensor:
    """Mirror-pad ``images`` at the bottom/right so that H and W become multiples of ``multiple``.

    Args:
        images: ``[B, H, W, C]``.
        multiple: positive integer.

    Returns:
        ``[B, ceil(H/m)·m, ceil(W/m)·m, C]``; ``images`` itself when no padding is needed
        (statically known sizes), so the multiple-of-s path is the original's computation.
    """
    height, width = images.shape[1], images.shape[2]
    if height is not None and width is not None and height % multiple == 0 and width % multiple == 0:
        return images
    shape = ops.shape(images)
    height, width = shape[1], shape[2]
    padded_height = (height + multiple - 1) // multiple * multiple
    padded_width = (width + multiple - 1) // multiple * multiple
    images = ops.take(images, symmetric_indices(height, padded_height), axis=1)
    return ops.take(images, symmetric_indices(width, padded_width), axis=2)


def downsample_bilinear(images: Tensor, scale_factor: int) -> Tensor:
    """``tf.image.resize(pad_to_multiple(images, s), [H', W'] / s, "bilinear", antialias=False)``,
    reading only the pixels that resize samples.

    With half-pixel centres and an integer factor s, output row i samples source row i·s + (s − 1)/2:
    the midpoint of rows i·s + s/2 − 1 and i·s + s/2 for even s, row i·s + (s − 1)/2 itself for odd s;
    columns alike. So two rows and two columns per output pixel are gathered (through the mirror
    padding's index map, never materialising the padded image) and blended in ResizeBilinear's
    order — bit-identical (tested), 1.6 → 0.7 ms per call for 600×400 at s = 12 (overhead included).
    When H and W are static (eager calls, JAX, a fixed-size export) the same taps are read with strided
    slices (plus one line per mirrored tap) instead: no GATHER op, which the TFLite GPU delegate cannot run
    (the fixed-size Zero-DCE++ TFLite, :func:`kind_tf.export.export_zero_dce_tflite`); bit-identical too.

    Args:
        images: ``[B, H, W, C]``.
        scale_factor: positive integer s.

    Returns:
        ``[B, ceil(H/s), ceil(W/s), C]`` in ``images.dtype``.
    """
    s = scale_factor
    images = ops.convert_to_tensor(images)
    if images.shape[1] is not None and images.shape[2] is not None:   # static sizes: slices, no GATHER
        return _downsample_static(images, s)
    shape = ops.shape(images)

    def taps(length: Any) -> tuple[Tensor, Tensor]:
        source = symmetric_indices(length, (length + s - 1) // s * s)
        return source[(s - 1) // 2::s], source[s // 2::s]   # equal for odd s

    lerp = 0.5 if s % 2 == 0 else 0.0
    top_row, bottom_row = taps(shape[1])
    left, right = taps(shape[2])
    rows_top, rows_bottom = ops.take(images, top_row, axis=1), ops.take(images, bottom_row, axis=1)
    top_left, top_right = ops.take(rows_top, left, axis=2), ops.take(rows_top, right, axis=2)
    bottom_left, bottom_right = ops.take(rows_bottom, left, axis=2), ops.take(rows_bottom, right, axis=2)
    # ResizeBilinear: top = tl + (tr − tl)·x_lerp, bottom likewise, out = top + (bottom − top)·y_lerp.
    top = top_left + (top_right - top_left) * lerp
    bottom = bottom_left + (bottom_right - bottom_left) * lerp
    return top + (bottom - top) * lerp


def _static_taps(images: Tensor, axis: int, scale_factor: int) -> tuple[Tensor, Tensor]:
    """The rows (axis 1) or columns (axis 2) that the downsample's two taps read, for a static size, as
    strided slices plus at most one mirrored line per tap — the same pixels as the dynamic path's gathers
    through :func:`symmetric_indices`, with no GATHER op (which the TFLite GPU delegate cannot run)."""
    s = scale_factor
    length = int(images.shape[axis])
    source = np.arange(-(-length // s) * s) % (2 * length)
    source = np.where(source < length, source, 2 * length - 1 - source)   # symmetric_indices, in numpy

    def lines(start: int) -> Tensor:
        wanted = source[start::s]
        direct = len(range(start, length, s))      # taps inside the image: source[j] = j there
        pieces = [_slice(images, axis, start, start + s * (direct - 1) + 1, s)] if direct else []
        pieces += [_slice(images, axis, int(i), int(i) + 1, 1) for i in wanted[direct:]]   # mirrored taps
        return pieces[0] if len(pieces) == 1 else ops.concatenate(pieces, axis=axis)

    return lines((s - 1) // 2), lines(s // 2)


def _slice(images: Tensor, axis: int, start: int, stop: int, step: int) -> Tensor:
    index = [slice(None)] * 4
    index[axis] = slice(start, stop, step)
    return images[tuple(index)]


def _downsample_static(images: Tensor, s: int) -> Tensor:
    """:func:`downsample_bilinear` for static H, W: the same taps and blend, read by slices (bit-identical)."""
    lerp = 0.5 if s % 2 == 0 else 0.0
    rows_top, rows_bottom = _static_taps(images, 1, s)
    top_left, top_right = _static_taps(rows_top, 2, s)
    bottom_left, bottom_right = _static_taps(rows_bottom, 2, s)
    top = top_left + (top_right - top_left) * lerp
    bottom = bottom_left + (bottom_right - bottom_left) * lerp
    return top + (bottom - top) * lerp


def upsample_bilinear_align_corners(
    images: Tensor, scale_factor: int, output_size: tuple[Any, Any] | None = None
) -> Tensor:
    """Bilinear ×``scale_factor`` upsampling with align_corners=True (``nn.UpsamplingBilinear2d``).

    ``src = dst·(in − 1)/(out − 1)`` in float32, ``i1 = min(i0 + 1, in − 1)``, as
    :func:`kind_tf.image_ops.resize_bilinear` gathers (equal to TF's legacy ``ResizeBilinear(align_corners=True)``
    and checked against a numpy reference and the golden A in tests/test_zero_dce.py). With
    ``output_size`` only the kept rows and columns are computed.

    Args:
        images: ``[B, h, w, C]``.
        scale_factor: positive integer; the upsampled grid is ``[h·s, w·s]``.
        output_size: ``(H, W)`` with H ≤ h·s, W ≤ w·s: return the top-left H×W of that grid.
            Default: the full grid.

    Returns:
        ``[B, H, W, C]`` in ``images.dtype``.
    """
    shape = ops.shape(images)
    height, width = shape[1] * scale_factor, shape[2] * scale_factor
    if output_size is not None:
        # Only the kept rows/columns are computed: each output pixel depends on its own source taps.
        height, width = output_size
    grid = (shape[1] * scale_factor, shape[2] * scale_factor)
    return ops.cast(resize_bilinear(images, height, width, align_corners=True, grid=grid), images.dtype)


@keras.saving.register_keras_serializable(package="kind_tf")
class ZeroDCEPlusPlus(keras.Model):
    """Zero-DCE++ DCE-Net: estimates a 3-channel curve map A and applies the curve 8 times.

    Args:
        scale_factor: integer s; the curve map is estimated on the input downsampled by s and
            upsampled back. 1 for training (lowlight_train.py), 12 for inference (lowlight_test.py).
        iterations: curve iterations (8).
        filters: DCE-Net feature width (32 → 10,561 parameters).

    Call:
        ``model(images)`` with images ``[B, H, W, 3]`` in [0, 1], any H, W ≥ 1 (size rule in the
        module docstring) → enhanced ``[B, H, W, 3]``; ``model(images, return_curve=True)`` →
        ``(enhanced, A)`` with A ``[B, H, W, 3]`` at full resolution.
    """

    def __init__(
        self,
        scale_factor: int = 1,
        iterations: int = CURVE_ITERATIONS,
        filters: int = DCE_FILTERS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.scale_factor = _check_scale_factor(scale_factor)
        if int(iterations) < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations!r}")
        self.iterations = int(iterations)
        self.filters = int(filters)
        # Block widths and skip concatenations of enhance_net_nopool (RECIPE.md "Network").
        widths = [self.filters] * 6 + [3]
        self.blocks = [
            DepthwiseSeparableConv(width, name=f"e_conv{k}", dtype=self.dtype_policy)
            for k, width in enumerate(widths, start=1)
        ]

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        batch = tuple(input_shape)[0]
        shape = lambda channels: (batch, None, None, channels)  # noqa: E731 (spatial size is free)
        e1, e2, e3, e4, e5, e6, e7 = self.blocks
        e1.build(shape(3))
        for block in (e2, e3, e4):
            block.build(shape(self.filters))
        for block in (e5, e6, e7):
            block.build(shape(2 * self.filters))
        self.built = True

    def downsample(self, images: Tensor) -> Tensor:
        """``[B, H, W, 3]`` → ``[B, ceil(H/s), ceil(W/s), 3]``, the input DCE-Net sees.

        F.interpolate(scale_factor=1/s, bilinear, align_corners=False) ≡ tf.image.resize bilinear
        (half-pixel centres, antialias=False) for integer s (checked in tests/test_zero_dce.py).
        """
        if self.scale_factor == 1:
            return images
        return downsample_bilinear(images, self.scale_factor)

    def estimate_curve(self, x_down: Tensor) -> Tensor:
        """DCE-Net proper: ``[B, h, w, 3]`` → curve map A ``[B, h, w, 3]`` in [-1, 1] (tanh)."""
        e1, e2, e3, e4, e5, e6, e7 = self.blocks
        x1 = ops.relu(e1(x_down))
        x2 = ops.relu(e2(x1))
        x3 = ops.relu(e3(x2))
        x4 = ops.relu(e4(x3))
        # Symmetric skip concatenations, channel order as torch.cat([x3, x4], 1) etc.
        x5 = ops.relu(e5(ops.concatenate([x3, x4], axis=-1)))
        x6 = ops.relu(e6(ops.concatenate([x2, x5], axis=-1)))
        return ops.tanh(e7(ops.concatenate([x1, x6], axis=-1)))

    def curve_map(self, images: Tensor) -> Tensor:
        """Full-resolution curve map A ``[B, H, W, 3]`` in the dtype of ``images`` ``[B, H, W, 3]``.

        DCE-Net computes in the model's compute dtype; the resizing stays in the dtype of ``images``, so
        float32 images get a float32 A even from a bfloat16 model (what inference wants: A is then
        applied 8 times at full resolution).
        """
        images = ops.convert_to_tensor(images)
        a_low = ops.cast(self.estimate_curve(self.downsample(images)), images.dtype)
        if self.scale_factor == 1:
            return a_low
        shape = ops.shape(images)
        return upsample_bilinear_align_corners(a_low, self.scale_factor, (shape[1], shape[2]))

    def call(
        self, images: Tensor, training: bool | None = None, return_curve: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Enhance ``images`` ``[B, H, W, 3]``; with ``return_curve`` also return A ``[B, H, W, 3]``."""
        images = ops.cast(ops.convert_to_tensor(images), self.compute_dtype)
        curve = self.curve_map(images)
        enhanced = apply_curve(images, curve, self.iterations)
        return (enhanced, curve) if return_curve else enhanced

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "scale_factor": self.scale_factor,
            "iterations": self.iterations,
            "filters": self.filters,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ZeroDCEPlusPlus:
        return cls(**config)
