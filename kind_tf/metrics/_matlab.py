"""Classical image operations with MATLAB's semantics, for the metrics defined by MATLAB code.

NIQE and LOE values depend on MATLAB-specific details (rgb2gray rounding, imresize's antialiased
bicubic kernel, pinv's tolerance, nancov's row dropping), and NIQE even on the rounding of a few
sums. Each function reproduces one built-in as documented, in float64, with the summation order
of the reference values (the releases run under GNU Octave, see ../shared/reference/metrics), so
the metrics match those numbers rather than a "close enough" numpy/scipy equivalent.
"""

from __future__ import annotations

import numpy as np

# MATLAB rgb2gray: the first row of inv([YIQ matrix]), not the rounded 0.299/0.587/0.114.
RGB2GRAY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])

# imresize's default 'bicubic' is Keys' cubic convolution with a = -0.5, support [-2, 2].
_CUBIC_SUPPORT = 4.0

_VELTKAMP = 2.0**27 + 1.0  # splits a 53-bit significand into two 26-bit halves


def rgb2gray_uint8(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` on a uint8 image, returned as float64 gray levels (0..255).

    Args:
        rgb: (H, W, 3) array of 8-bit levels (any numeric dtype holding integers 0..255).

    Returns:
        (H, W) float64 array of integer levels: the weighted sum rounded as MATLAB's uint8()
        does (half away from zero; the sum is non-negative so that is floor(x + 0.5)).
    """
    gray = (
        RGB2GRAY_WEIGHTS[0] * rgb[..., 0].astype(np.float64)
        + RGB2GRAY_WEIGHTS[1] * rgb[..., 1]
        + RGB2GRAY_WEIGHTS[2] * rgb[..., 2]
    )
    return np.clip(np.floor(gray + 0.5), 0.0, 255.0)


def sequential_sum(x: np.ndarray) -> float:
    """``sum(x(:))`` as the reference computed it: sequential, column-major (numpy's sum is pairwise)."""
    return float(np.cumsum(x.ravel(order="F"))[-1])


def fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: a (size, size) Gaussian kernel summing to 1.

    Normalised with the reference's summation order: NIQE's flat-region behaviour depends on the
    last bit of these weights (see ``naturalness.mscn``).
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    kernel = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma**2))
    # fspecial zeroes taps below eps * max before normalising.
    kernel[kernel < np.finfo(np.float64).eps * kernel.max()] = 0.0
    return kernel / sequential_sum(kernel)


def _split(x: np.ndarray | float) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Veltkamp split of float64 values into 26-bit halves: x = hi + lo exactly."""
    scaled = _VELTKAMP * x
    hi = scaled - (scaled - x)
    return hi, x - hi


def _fused_multiply_add(a: float, x: np.ndarray, x_hi: np.ndarray, x_lo: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """``a * x + acc`` rounded once, as a hardware FMA instruction (numpy has none).

    Error-free transformations: Dekker's product (a * x = prod + prod_err exactly, from the
    pre-split halves of x) and Knuth's two-sum (prod + acc = total + sum_err exactly); the final
    addition rounds once more, which differs from a true FMA only in rare double-rounding cases.
    """
    a_hi, a_lo = _split(a)
    prod = a * x
    prod_err = ((a_hi * x_hi - prod) + a_hi * x_lo + a_lo * x_hi) + a_lo * x_lo
    total = prod + acc
    acc_part = total - prod
    sum_err = (prod - (total - acc_part)) + (acc - acc_part)
    return total + (sum_err + prod_err)


def imfilter_replicate_at(
    image: np.ndarray, kernel: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """``imfilter(image, kernel, 'replicate')`` (correlation) at pixels (rows, cols), rounded as the reference.

    The reference values come from the release run under Octave, whose conv2 'valid' loop runs
    over the padded image with kernel columns outer and rows inner, both from the last, each step
    a BLAS daxpy. That daxpy fused its multiply-adds: only that rounding reproduces the reference
    values. This reproduces it bit for bit (up to rare double roundings) on every platform, for
    the few pixels where it matters (see ``naturalness.mscn``); scipy.ndimage does the rest.

    Returns:
        1-D array, one filtered value per (row, col).
    """
    kernel_rows, kernel_cols = kernel.shape
    if kernel_rows % 2 == 0 or kernel_cols % 2 == 0:
        raise ValueError(f"odd kernel sizes only, got {kernel.shape}")
    padded = np.pad(np.asarray(image, dtype=np.float64), ((kernel_rows // 2,), (kernel_cols // 2,)), mode="edge")
    padded_hi, padded_lo = _split(padded)
    out = np.zeros(len(rows))
    for col in reversed(range(kernel_cols)):
        for row in reversed(range(kernel_rows)):
            taps = (rows + row, cols + col)
            out = _fused_multiply_add(kernel[row, col], padded[taps], padded_hi[taps], padded_lo[taps], out)
    return out


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (imresize.m's ``cubic``)."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def _contributions(in_length: int, out_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """imresize.m's ``contributions``: per output sample, the input taps and their weights.

    Returns (weights, indices), both (out_length, taps); indices are 0-based and already folded
    back into range with imresize's 'symmetric' padding (the edge sample is repeated).
    """
    kernel_width = _CUBIC_SUPPORT
    if scale < 1:
        # Antialiasing: stretch the kernel by 1/scale so it low-passes before subsampling.
        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * x)

        kernel_width /= scale
    else:
        kernel = _cubic
    out_pos = np.arange(1, out_length + 1, dtype=np.float64)  # MATLAB's 1-based coordinates
    centre = out_pos / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(centre - kernel_width / 2.0)
    taps = int(np.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = kernel(centre[:, None] - indices)
    weights = weights / np.cumsum(weights, axis=1)[:, -1:]  # sequential sum, as the reference
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    return weights, indices


def _resize_along_axis(image: np.ndarray, axis: int, weights: np.ndarray, indices: np.ndarray) -> np.ndarray:
    moved = np.moveaxis(image, axis, 0)
    out = np.zeros((weights.shape[0],) + moved.shape[1:], dtype=np.float64)
    # Accumulate tap by tap, in order, as imresize's mex does: LOE compares resized values with
    # >=, so equal neighbourhoods must give bit-identical results, as in the reference.
    for tap in range(weights.shape[1]):
        out += weights[:, tap].reshape((-1,) + (1,) * (moved.ndim - 1)) * moved[indices[:, tap]]
    return np.moveaxis(out, 0, axis)


def imresize(
    image: np.ndarray,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """MATLAB ``imresize`` with its defaults: bicubic (a = -0.5), antialiasing on, float64 output.

    Give exactly one of ``scale`` (output size ``ceil(scale * size)``) or ``output_shape``
    (per-axis scale ``out / in``, as MATLAB derives it). Resizes axes 0 and 1 separably, the axis
    with the smaller scale first (MATLAB's order; ties keep axis 0 first). Trailing axes, if any,
    are resized independently.
    """
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale or output_shape")
    image = np.asarray(image, dtype=np.float64)
    in_shape = image.shape[:2]
    if scale is not None:
        scales = (float(scale), float(scale))
        out_shape = tuple(int(np.ceil(scale * n)) for n in in_shape)
    else:
        out_shape = (int(output_shape[0]), int(output_shape[1]))
        scales = (out_shape[0] / in_shape[0], out_shape[1] / in_shape[1])
    for axis in sorted((0, 1), key=lambda a: scales[a]):  # sorted() is stable
        weights, indices = _contributions(in_shape[axis], out_shape[axis], scales[axis])
        image = _resize_along_axis(image, axis, weights, indices)
    return image


def pinv(matrix: np.ndarray) -> np.ndarray:
    """MATLAB ``pinv`` with its default tolerance ``max(size) * eps(max singular value)``."""
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    tol = max(matrix.shape) * np.spacing(s.max()) if s.size else 0.0
    keep = s > tol
    return (vt[keep].T / s[keep]) @ u[:, keep].T


def nanmean(x: np.ndarray) -> np.ndarray:
    """MATLAB ``nanmean`` over rows: each column's mean over its non-NaN entries."""
    valid = ~np.isnan(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, x, 0.0).sum(axis=0) / valid.sum(axis=0)


def nancov(x: np.ndarray) -> np.ndarray:
    """MATLAB ``nancov`` default: covariance (N - 1 normalisation) of the rows without any NaN."""
    complete = x[~np.isnan(x).any(axis=1)]
    if complete.shape[0] < 2:
        return np.full((x.shape[1], x.shape[1]), np.nan)
    return np.cov(complete, rowvar=False, ddof=1)
