"""Input checks shared by the metrics.

Every metric takes RGB images as floats in [0, 1], NHWC batches or a single HWC image. Integer
images are refused rather than rescaled: ``tf.image.psnr`` would silently divide a uint8 tensor by
255 (``convert_image_dtype``), hiding which range the caller's data were in. Converting is one
explicit ``x / 255`` for the caller.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _dtype_error(name: str, dtype_name: str) -> ValueError:
    return ValueError(
        f"{name} must be a floating-point RGB image in [0, 1], got dtype {dtype_name}; "
        "convert 8-bit images explicitly (e.g. x / 255) - metrics never rescale inputs."
    )


def _check_rank(name: str, rank: int | None) -> None:
    if rank not in (3, 4):
        raise ValueError(f"{name} must be an NHWC batch or a single HWC image, got rank {rank}")


def float_image_tensor(images: tf.Tensor | np.ndarray, name: str) -> tf.Tensor:
    """``images`` as a float tensor of rank 3 or 4, or ValueError (checked at trace time)."""
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        raise _dtype_error(name, images.dtype.name)
    _check_rank(name, images.shape.rank)
    return images


def float_image_array(images: tf.Tensor | np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    """[0, 1] float RGB images as float64, shape (N, H, W, 3), and whether one HWC image was given."""
    array = np.asarray(images)
    if array.dtype.kind != "f":
        raise _dtype_error(name, array.dtype.name)
    _check_rank(name, array.ndim)
    if array.shape[-1] != 3:
        raise ValueError(f"{name} must have 3 (RGB) channels, got shape {array.shape}")
    if not np.all((array >= 0.0) & (array <= 1.0)):  # also catches NaN
        raise ValueError(f"{name} must hold values in [0, 1] (no NaN); clip model outputs first")
    single = array.ndim == 3
    array = array.astype(np.float64)
    return (array[None] if single else array), single


def uint8_levels(images: tf.Tensor | np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    """[0, 1] float RGB images as float64 8-bit levels, shape (N, H, W, 3), and whether one was given.

    The MATLAB references read 8-bit image files, so the images are quantised exactly as writing
    them to an 8-bit file would: ``round(255 * x)``, half away from zero like MATLAB's im2uint8.
    Values outside [0, 1] are refused because quantising them would need a silent clip.
    """
    array, single = float_image_array(images, name)
    return np.floor(array * 255.0 + 0.5), single
