"""Lightness order error (LOE): how much enhancement scrambles the relative lightness of pixels.

Wang, Zheng, Hu and Li, "Naturalness preserved enhancement algorithm for non-uniform illumination
images", IEEE TIP 2013. Implemented as the widely used MATLAB reference computation (numpy).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kind_tf.metrics._inputs import uint8_levels
from kind_tf.metrics._matlab import imresize

# The reference downsamples so that the shorter side has this many pixels: the pairwise count is
# quadratic in the pixel count, and lightness order is a low-frequency property anyway.
LOE_SHORT_SIDE = 50

# Rows of the pairwise comparison done at once: bounds memory to a few tens of MB.
_CHUNK = 1024


def _order_flips(l_ref: np.ndarray, l_enh: np.ndarray) -> float:
    """Mean over pixels p of #q with (Lref(p) >= Lref(q)) xor (Lenh(p) >= Lenh(q))."""
    ref, enh = l_ref.ravel(), l_enh.ravel()
    flips = 0
    for start in range(0, ref.size, _CHUNK):
        stop = start + _CHUNK
        flips += np.count_nonzero((ref[start:stop, None] >= ref[None, :]) ^ (enh[start:stop, None] >= enh[None, :]))
    return flips / ref.size


def loe(reference: tf.Tensor | np.ndarray, enhanced: tf.Tensor | np.ndarray) -> np.ndarray | float:
    """Lightness order error (Wang et al., TIP 2013) of ``enhanced`` with respect to ``reference``.

    The reference computation: lightness L = max over R, G, B of the 8-bit values; both lightness
    maps resized with MATLAB ``imresize`` (bicubic, antialiased) to ``round(m r) x round(n r)`` with
    ``r = 50 / min(m, n)``; LOE = mean over pixels p of the number of pixels q whose lightness
    order relative to p differs between the two maps. Lower is better; 0 means order preserved.

    Inputs are quantised to 8 bits (``round(255 x)``) first, because the reference works on 8-bit
    image files: the value equals that of the images saved as 8-bit PNGs. It reproduces the
    reference values in ``../shared/reference/metrics`` exactly (same flip counts).

    Args:
        reference: the image before enhancement (usually the low-light input), RGB float in
            [0, 1], (N, H, W, 3) or a single (H, W, 3).
        enhanced: the enhanced image(s), same shape.

    Returns:
        float64 array of shape (N,) for a batch, a float for a single image.

    Raises:
        ValueError: for non-float inputs (e.g. uint8), values outside [0, 1], or mismatched shapes.
    """
    ref_levels, single = uint8_levels(reference, "reference")
    enh_levels, _ = uint8_levels(enhanced, "enhanced")
    if ref_levels.shape != enh_levels.shape:
        raise ValueError(f"reference and enhanced shapes differ: {ref_levels.shape} vs {enh_levels.shape}")
    height, width = ref_levels.shape[1:3]
    ratio = LOE_SHORT_SIDE / min(height, width)
    # MATLAB round: half away from zero (Python's round() would round half to even).
    small_shape = (int(np.floor(height * ratio + 0.5)), int(np.floor(width * ratio + 0.5)))
    values = np.array(
        [
            _order_flips(
                imresize(ref.max(axis=-1), output_shape=small_shape),
                imresize(enh.max(axis=-1), output_shape=small_shape),
            )
            for ref, enh in zip(ref_levels, enh_levels)
        ]
    )
    return float(values[0]) if single else values
