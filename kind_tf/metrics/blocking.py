"""Blockiness: how much of an image's local structure is the 8×8 block grid of JPEG compression.

Low-light JPEGs are quantised block by block; brightening them 10× or more turns the blocks whose
AC coefficients were quantised away into flat 8×8 (and, in colour, 16×16) patches with steps
between them — the "blotches" of an over-amplified dark photo. A restoration network that smooths
them keeps the grid, only the steps get soft, so a measure of the step height at the exact block
boundary misses them (measured on the darkest SICE eval outputs: a plain 8-px-grid step ratio gave
1.10–1.19 on visibly blotchy outputs and 1.16–1.32 on their ground truths).

The measure here is the spectral one of Z. Wang, A. C. Bovik and B. L. Evans, "Blind measurement of
blocking artifacts in images", ICIP 2000: blockiness makes the absolute-difference signal of each
line periodic with the block period, which shows up as peaks of its power spectrum at the harmonics
of 1/8, whatever the shape of the steps. Per direction (differences along rows and along columns),
for the luminance Y = 0.299 R + 0.587 G + 0.114 B:

    d(n)   = |Y(n + 1) − Y(n)| along each line, cut into segments of L samples (L a multiple of 8,
             the largest ≤ min(512, line length − 1), as the paper's 512-point FFT)
    P(k)   = mean over all segments of |DFT_L(d)(k)|²                          (power spectrum)
    P_M(k) = P median-filtered over MEDIAN_WINDOW bins                       (smooth spectrum)
    B      = Σ_{i=1..7} [P(i·L/8) − P_M(i·L/8)]                              (the paper's measure)

The paper's B grows with the image's contrast; to compare an enhanced image with its ground truth
kind-tf divides it by the mean AC power per frequency bin, (1 / (L − 1)) Σ_{k=1..L−1} P(k):

    blockiness = B / mean_{k≠0} P(k)

i.e. the excess power of the seven block harmonics in units of an average bin (0: no periodic
component), averaged over the two directions. Hand-checkable values (tested): a constant image 0; a
sinusoid off the block harmonics 0; steps only on the 8-px grid (a difference signal that is an
impulse train of period 8, all its AC power in the 7 harmonics) L − 1 in that direction. Measured on
the six darkest SICE eval pairs (input mean < 0.05; shipped weights, R̂·L̂, auto ratio): outputs
0.49–1.66 against 0.30–0.53 for their ground truths, the worst (eval 27, visibly blocky) 4.3× its
ground truth. Images narrower or shorter than 17 px have no segment: NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from kind_tf.metrics._inputs import float_image_array

BLOCK_SIZE = 8
MAX_SEGMENT = 512
MEDIAN_WINDOW = 7     # bins; odd, wider than one harmonic peak, narrower than the peaks' spacing (≥ 2 · 8)
LUMA = np.array([0.299, 0.587, 0.114])


def _segments(lines: np.ndarray) -> np.ndarray:
    """[lines, n] absolute differences → [segments, L] pieces of L (a multiple of the block size)."""
    length = min(MAX_SEGMENT, (lines.shape[1] // BLOCK_SIZE) * BLOCK_SIZE)
    if length < 2 * BLOCK_SIZE:
        return np.zeros((0, 0))
    count = lines.shape[1] // length
    return lines[:, : count * length].reshape(lines.shape[0] * count, length)


def spectral_blockiness(luma: np.ndarray) -> float:
    """Normalised Wang–Bovik–Evans blockiness of the differences along the rows of ``luma`` [H, W]."""
    segments = _segments(np.abs(np.diff(luma.astype(np.float64), axis=1)))
    if segments.size == 0:
        return float("nan")
    length = segments.shape[1]
    power = np.mean(np.abs(np.fft.fft(segments, axis=1)) ** 2, axis=0)
    mean_ac = power[1:].mean()
    if mean_ac <= 1e-12 * max(power[0], 1e-300):
        return 0.0                             # no AC power: nothing periodic, nothing blocky
    smooth = median_filter(power, size=MEDIAN_WINDOW, mode="wrap")   # the spectrum is periodic in k
    peaks = np.arange(1, BLOCK_SIZE) * (length // BLOCK_SIZE)
    return float(np.sum(power[peaks] - smooth[peaks]) / mean_ac)


def blockiness(images: np.ndarray) -> float | np.ndarray:
    """Blockiness of RGB images in [0, 1] (see the module docstring): a float for one HWC image,
    [N] for a batch. Horizontal and vertical measures are averaged."""
    images, single = float_image_array(images, "images")
    values = []
    for image in images:
        luma = image[..., :3] @ LUMA
        values.append(0.5 * (spectral_blockiness(luma) + spectral_blockiness(luma.T)))
    values = np.asarray(values)
    return float(values[0]) if single else values
