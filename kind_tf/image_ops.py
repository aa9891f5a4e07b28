"""Small image operations shared by inference, training and evaluation, in ``keras.ops``.

Everything here runs on every Keras backend (TensorFlow, JAX, PyTorch) and on tensors whose height and
width are only known at run time (TensorFlow's ``tf.function`` with ``[None, None, None, 3]``
signatures): sizes are read with ``ops.shape`` and resampling is written as gathers or small weight
matrices rather than ``ops.image.resize``, which needs a static target size and has no "area" mode on
JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

Tensor = Any   # a backend tensor (tf.Tensor, jax.Array, torch.Tensor) or a numpy array

# The original normalises each image by max(max − min, 0.001) (utils.load_images).
MINMAX_EPSILON = 0.001
# skimage.color.rgb2gray (ITU-R BT.709 luma), used by the original evaluate.py's post-processing.
SKIMAGE_GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)


def minmax_normalize(images: Tensor, epsilon: float = MINMAX_EPSILON) -> Tensor:
    """Per-image min-max stretch over all pixels and channels jointly: (x − min) / max(max − min, ε).

    Args:
        images: [N, H, W, C] float32 in [0, 1].
    """
    images = ops.convert_to_tensor(images)
    low = ops.min(images, axis=(1, 2, 3), keepdims=True)
    high = ops.max(images, axis=(1, 2, 3), keepdims=True)
    return (images - low) / ops.maximum(high - low, epsilon)


def rgb_to_gray(images: Tensor) -> Tensor:
    """[N, H, W, 3] → [N, H, W, 1] with skimage.color.rgb2gray's weights (0.2125, 0.7154, 0.0721)."""
    images = ops.convert_to_tensor(images)
    weights = ops.convert_to_tensor(np.asarray(SKIMAGE_GRAY_WEIGHTS, np.float32), images.dtype)
    return ops.sum(images * weights, axis=-1, keepdims=True)


def gaussian_kernel_1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage's Gaussian: radius int(truncate·σ + 0.5), weights exp(−x²/2σ²) summing to 1."""
    radius = int(truncate * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def replicate_pad(images: Tensor, pad_h: int, pad_w: int) -> Tensor:
    """Pad by repeating the edge rows/columns (scipy mode 'nearest'); works for any size, even 1×1."""
    if pad_h:
        images = ops.concatenate([ops.repeat(images[:, :1], pad_h, axis=1), images,
                                  ops.repeat(images[:, -1:], pad_h, axis=1)], axis=1)
    if pad_w:
        images = ops.concatenate([ops.repeat(images[:, :, :1], pad_w, axis=2), images,
                                  ops.repeat(images[:, :, -1:], pad_w, axis=2)], axis=2)
    return images


def gaussian_blur(images: Tensor, sigma: float, truncate: float = 4.0) -> Tensor:
    """Separable Gaussian blur of each channel matching ``skimage.filters.gaussian`` defaults.

    skimage delegates to ``scipy.ndimage.gaussian_filter`` with mode 'nearest' (edge replication) and
    truncate 4.0, i.e. a (2·round(4σ) + 1)-tap kernel.

    Args:
        images: [N, H, W, C] float.
    """
    images = ops.convert_to_tensor(images)
    kernel = gaussian_kernel_1d(sigma, truncate)
    radius = (kernel.size - 1) // 2
    channels = images.shape[-1]
    vertical = np.tile(kernel.reshape(-1, 1, 1, 1), (1, 1, channels, 1))
    horizontal = np.tile(kernel.reshape(1, -1, 1, 1), (1, 1, channels, 1))
    vertical, horizontal = (ops.convert_to_tensor(k.astype(np.float32), images.dtype) for k in (vertical, horizontal))
    padded = replicate_pad(images, radius, radius)
    blurred = ops.depthwise_conv(padded, vertical, strides=1, padding="valid")
    return ops.depthwise_conv(blurred, horizontal, strides=1, padding="valid")


def _static(value: Any) -> int | None:
    """``value`` as a Python int when it is one (a static size), else None (a run-time size)."""
    return int(value) if isinstance(value, int | np.integer) else None


def _area_weights(size_in: Any, size_out: Any, dtype: str) -> Tensor:
    """[size_out, size_in] weights of TensorFlow's ResizeArea along one axis: output i averages the
    input interval [i·s, (i + 1)·s), s = size_in / size_out, each input cell j weighted by its overlap
    with that interval (divided by s)."""
    scale = ops.cast(size_in, "float32") / ops.cast(size_out, "float32")
    start = ops.cast(ops.arange(size_out), "float32")[:, None] * scale
    cells = ops.cast(ops.arange(size_in), "float32")[None, :]
    overlap = ops.minimum(cells + 1.0, start + scale) - ops.maximum(cells, start)
    return ops.cast(ops.maximum(overlap, 0.0) / scale, dtype)


def resize_area(images: Tensor, height: Any, width: Any) -> Tensor:
    """Area (box-average) downscaling of [N, H, W, C] to [N, height, width, C] (height ≤ H, width ≤ W).

    The weights are TensorFlow's ResizeArea's (``tf.image.resize(method="area")`` equals it to float
    rounding, tested), applied as two small matrix products so that run-time sizes work on every
    backend. It costs height·H·W·C multiply-adds, negligible beside the networks at preview sizes.
    """
    images = ops.convert_to_tensor(images)
    shape = ops.shape(images)
    rows = _area_weights(shape[1], height, images.dtype)
    columns = _area_weights(shape[2], width, images.dtype)
    images = ops.einsum("ih,nhwc->niwc", rows, images)
    return ops.einsum("jw,niwc->nijc", columns, images)


def shrink_size(height: Any, width: Any, side: int) -> tuple[Any, Any]:
    """(height, width) scaled so that the longer side is ``side`` (each ≥ 1), rounded half to even."""
    h, w = _static(height), _static(width)
    if h is not None and w is not None:
        scale = np.float32(side) / np.float32(max(h, w))
        return (max(1, int(np.round(np.float32(h) * scale))), max(1, int(np.round(np.float32(w) * scale))))
    scale = ops.cast(side, "float32") / ops.cast(ops.maximum(height, width), "float32")
    return (ops.maximum(1, ops.cast(ops.round(ops.cast(height, "float32") * scale), "int32")),
            ops.maximum(1, ops.cast(ops.round(ops.cast(width, "float32") * scale), "int32")))


def shrink_to(images: Tensor, side: int) -> Tensor:
    """``images`` area-downscaled so that the longer side is at most ``side`` (unchanged when it is)."""
    images = ops.convert_to_tensor(images)
    shape = ops.shape(images)
    h, w = _static(shape[1]), _static(shape[2])
    if h is not None and w is not None:    # static sizes (JAX, eager): decide in Python
        return images if max(h, w) <= side else resize_area(images, *shrink_size(h, w, side))
    return ops.cond(ops.maximum(shape[1], shape[2]) > side,
                    lambda: resize_area(images, *shrink_size(shape[1], shape[2], side)),
                    lambda: images)


def symmetric_indices(length: Any, padded_length: Any) -> Tensor:
    """Indices ``0..padded_length-1`` folded into ``[0, length)`` by mirror reflection (edge repeated).

    Periodic with period 2·length, so it is defined even when the padding exceeds the size
    (e.g. a 1×1 image padded to 12×12), where a symmetric ``pad`` refuses.
    """
    index = ops.arange(padded_length) % (2 * length)
    return ops.where(index < length, index, 2 * length - 1 - index)


def resize_bilinear(images: Tensor, height: Any, width: Any, align_corners: bool = False,
                    grid: tuple[Any, Any] | None = None) -> Tensor:
    """Bilinear resampling of [N, H, W, C] to [N, height, width, C], no antialiasing, as gathers.

    ``align_corners=False``: half-pixel centres, source = (dst + 0.5)·in/out − 0.5 clamped at 0 (``tf.image.resize``
    bilinear, ``F.interpolate(align_corners=False)``); ``align_corners=True``: source = dst·(in − 1)/(out − 1)
    (``nn.UpsamplingBilinear2d``). The blend is TensorFlow's ResizeBilinear order — top = tl + (tr − tl)·x,
    bottom likewise, out = top + (bottom − top)·y — so results equal it to float rounding (tested).
    ``grid``: the (rows, columns) of the sampling grid when only its top-left height×width is wanted
    (default: height×width itself); the rest of the grid is never computed.
    """
    images = ops.convert_to_tensor(images)
    shape = ops.shape(images)

    def taps(size_in, size_out, count):
        out = ops.cast(ops.arange(count), "float32")
        size_in_f, size_out_f = ops.cast(size_in, "float32"), ops.cast(size_out, "float32")
        if align_corners:
            scale = ops.where(size_out_f > 1, (size_in_f - 1.0) / ops.maximum(size_out_f - 1.0, 1.0), 0.0)
            source = out * scale
        else:
            source = ops.maximum((out + 0.5) * (size_in_f / size_out_f) - 0.5, 0.0)
        low = ops.floor(source)
        fraction = ops.cast(source - low, images.dtype)
        low = ops.cast(low, "int32")
        low = ops.minimum(low, ops.cast(size_in, "int32") - 1)
        high = ops.minimum(low + 1, ops.cast(size_in, "int32") - 1)
        return low, high, fraction

    grid_height, grid_width = (height, width) if grid is None else grid
    top, bottom, y = taps(shape[1], grid_height, height)
    left, right, x = taps(shape[2], grid_width, width)
    x = x[None, None, :, None]
    rows_top, rows_bottom = ops.take(images, top, axis=1), ops.take(images, bottom, axis=1)
    top_left, top_right = ops.take(rows_top, left, axis=2), ops.take(rows_top, right, axis=2)
    bottom_left, bottom_right = ops.take(rows_bottom, left, axis=2), ops.take(rows_bottom, right, axis=2)
    upper = top_left + (top_right - top_left) * x
    lower = bottom_left + (bottom_right - bottom_left) * x
    return upper + (lower - upper) * y[None, :, None, None]


def as_rgb_batch(images: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(batch [N, H, W, 3], single)``: an RGB image [H, W, 3] gets a batch axis (``single`` True); anything
    but an RGB image or batch is a ValueError naming its shape. The pipelines' common input check."""
    single = images.ndim == 3
    if single:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3] or batch [N, H, W, 3], got shape {images.shape}")
    return images, single


def to_float_image(image: np.ndarray) -> np.ndarray:
    """uint8 / uint16 → float32 in [0, 1]; float input is checked to lie in [0, 1], never rescaled."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255.0)
    if image.dtype == np.uint16:
        return image.astype(np.float32) / np.float32(65535.0)
    if np.issubdtype(image.dtype, np.floating):
        if image.size and (np.nanmin(image) < 0.0 or np.nanmax(image) > 1.0 or not np.all(np.isfinite(image))):
            raise ValueError("float images must be finite and in [0, 1] "
                             f"(got range [{np.nanmin(image):.4g}, {np.nanmax(image):.4g}])")
        return image.astype(np.float32)
    raise ValueError(f"unsupported image dtype {image.dtype}; expected uint8, uint16 or float in [0, 1]")


# to_uint8 converts this many elements at a time: its float temporaries stay a few MB instead of two
# full-size copies (a 4000×3000 float32 output is 144 MB; the conversion would add 288 MB at the end).
_UINT8_CHUNK = 1 << 20


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float in [0, 1] → uint8, clipped and rounded (the original's save_images clips then scales)."""
    image = np.asarray(image)
    if image.size <= _UINT8_CHUNK:
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    flat, out = image.reshape(-1), np.empty(image.size, np.uint8)
    for start in range(0, flat.size, _UINT8_CHUNK):   # elementwise, so chunks give the same values
        chunk = flat[start:start + _UINT8_CHUNK]
        out[start:start + _UINT8_CHUNK] = np.clip(chunk, 0.0, 1.0) * 255.0 + 0.5
    return out.reshape(image.shape)
