"""Small image operations in TensorFlow shared by inference, training and evaluation."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# The original normalises each image by max(max − min, 0.001) (utils.load_images).
MINMAX_EPSILON = 0.001
# skimage.color.rgb2gray (ITU-R BT.709 luma), used by the original evaluate.py's post-processing.
SKIMAGE_GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)


def minmax_normalize(images: tf.Tensor, epsilon: float = MINMAX_EPSILON) -> tf.Tensor:
    """Per-image min-max stretch over all pixels and channels jointly: (x − min) / max(max − min, ε).

    Args:
        images: [N, H, W, C] float32 in [0, 1].
    """
    low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    return (images - low) / tf.maximum(high - low, epsilon)


def rgb_to_gray(images: tf.Tensor) -> tf.Tensor:
    """[N, H, W, 3] → [N, H, W, 1] with skimage.color.rgb2gray's weights (0.2125, 0.7154, 0.0721)."""
    weights = tf.constant(SKIMAGE_GRAY_WEIGHTS, dtype=images.dtype)
    return tf.reduce_sum(images * weights, axis=-1, keepdims=True)


def gaussian_kernel_1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy.ndimage's Gaussian: radius int(truncate·σ + 0.5), weights exp(−x²/2σ²) summing to 1."""
    radius = int(truncate * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def replicate_pad(images: tf.Tensor, pad_h: int, pad_w: int) -> tf.Tensor:
    """Pad by repeating the edge rows/columns (scipy mode 'nearest'); works for any size, even 1×1."""
    if pad_h:
        images = tf.concat([tf.repeat(images[:, :1], pad_h, axis=1), images,
                            tf.repeat(images[:, -1:], pad_h, axis=1)], axis=1)
    if pad_w:
        images = tf.concat([tf.repeat(images[:, :, :1], pad_w, axis=2), images,
                            tf.repeat(images[:, :, -1:], pad_w, axis=2)], axis=2)
    return images


def gaussian_blur(images: tf.Tensor, sigma: float, truncate: float = 4.0) -> tf.Tensor:
    """Separable Gaussian blur of each channel matching ``skimage.filters.gaussian`` defaults.

    skimage delegates to ``scipy.ndimage.gaussian_filter`` with mode 'nearest' (edge replication) and
    truncate 4.0, i.e. a (2·round(4σ) + 1)-tap kernel.

    Args:
        images: [N, H, W, C] float.
    """
    kernel = gaussian_kernel_1d(sigma, truncate)
    radius = (kernel.size - 1) // 2
    channels = images.shape[-1]
    kernel = tf.constant(kernel, dtype=images.dtype)
    vertical = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, channels, 1])
    horizontal = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
    padded = replicate_pad(images, radius, radius)
    blurred = tf.nn.depthwise_conv2d(padded, vertical, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(blurred, horizontal, [1, 1, 1, 1], "VALID")


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


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float in [0, 1] → uint8, clipped and rounded (the original's save_images clips then scales)."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
