"""Evaluation metrics for low-light enhancement.

All take RGB images as floats in [0, 1] (NHWC batches or a single HWC image) and refuse integer
images instead of rescaling them. Each documents the reference it matches.

- :func:`psnr`, :func:`ssim`: full-reference fidelity (``tf.image``; graph-compatible), per image.
- :func:`loe`: lightness order error (Wang et al., TIP 2013), the MATLAB reference computation.
- :func:`niqe`: NIQE (Mittal et al., SPL 2013), the authors' MATLAB release.
- :func:`brightness`, :func:`color_cast`: mean brightness and the spread of the channel means.
- :func:`blockiness`: JPEG block-grid artefacts (Wang, Bovik & Evans, ICIP 2000; normalised).
"""

from kind_tf.metrics.blocking import blockiness
from kind_tf.metrics.color_statistics import brightness, color_cast
from kind_tf.metrics.lightness_order import loe
from kind_tf.metrics.naturalness import niqe
from kind_tf.metrics.psnr_ssim import psnr, ssim

__all__ = ["blockiness", "brightness", "color_cast", "loe", "niqe", "psnr", "ssim"]
