"""Classical low-light baselines behind KinD's ``enhance`` interface, so evaluation treats every method alike.

Each baseline is a deterministic per-image function on RGB, defined once here:

- ``identity``: the input itself (what "doing nothing" scores).
- ``gamma``: ``x ** (1 / 2.2)`` on RGB floats in [0, 1], no quantisation.
- ``he``: global histogram equalisation of the V channel of HSV, OpenCV semantics: the image is
  quantised to 8 bits (``round(255 x)``), converted with ``cv2.COLOR_RGB2HSV`` (8-bit: H in 0..180),
  V equalised with ``cv2.equalizeHist`` and converted back with ``cv2.COLOR_HSV2RGB``.
- ``clahe``: CLAHE on the L channel of CIE Lab, OpenCV semantics: 8-bit RGB → ``cv2.COLOR_RGB2LAB``
  (8-bit: L scaled to 0..255), ``cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))`` on L, back
  with ``cv2.COLOR_LAB2RGB``.

``he`` and ``clahe`` return 8-bit results (as float32 / 255) because they are defined on 8-bit
images. They need OpenCV (``opencv-python-headless``), imported only when they run: the 8-bit Lab
conversion is part of what CLAHE computes (a float Lab round trip scores 9.89 dB instead of 9.73 dB on
the SICE eval pairs), and scikit-image's CLAHE normalises its clip limit and interpolates tiles
differently, so OpenCV itself is the reference rather than a re-implementation. Reference values on
``../shared/data/sice_pairs/eval`` (59 pairs, mean PSNR dB / tf.image SSIM, RGB [0, 1]): identity
7.89 / 0.236, gamma 13.91 / 0.627, he 16.23 / 0.569, clahe 9.73 / 0.402.

Every baseline ignores ``ratio`` (its ratio protocol is "n/a").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kind_tf.image_ops import as_rgb_batch, to_float_image, to_uint8
from kind_tf.registry import Registry

GAMMA = 1.0 / 2.2
CLAHE_CLIP_LIMIT = 2.0
CLAHE_TILE_GRID = (8, 8)


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the 'he' and 'clahe' baselines need OpenCV: pip install opencv-python-headless") from None
    return cv2


def identity(image: np.ndarray) -> np.ndarray:
    """The input, as float32 RGB in [0, 1]."""
    return image.astype(np.float32, copy=True)


def gamma(image: np.ndarray, exponent: float = GAMMA) -> np.ndarray:
    """``image ** exponent`` (default 1/2.2) on float RGB in [0, 1]."""
    return np.power(image.astype(np.float32), np.float32(exponent))


def equalize_v(image: np.ndarray) -> np.ndarray:
    """Histogram equalisation of V in HSV, exactly ``cv2.equalizeHist`` on OpenCV's 8-bit HSV.

    equalizeHist maps level v to ``round(255 (cdf(v) - cdf(v_min)) / (N - cdf(v_min)))`` with v_min the
    darkest level present (a constant V stays as it is). Hue and saturation are kept as OpenCV's 8-bit
    HSV stores them.
    """
    cv2 = _cv2()
    hsv = cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2HSV)
    hsv[..., 2] = cv2.equalizeHist(np.ascontiguousarray(hsv[..., 2]))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32) / np.float32(255.0)


def clahe_l(image: np.ndarray, clip_limit: float = CLAHE_CLIP_LIMIT,
            tile_grid: tuple[int, int] = CLAHE_TILE_GRID) -> np.ndarray:
    """CLAHE on L of OpenCV's 8-bit Lab (clip limit 2, 8×8 tiles by default), OpenCV's implementation."""
    cv2 = _cv2()
    lab = cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=tuple(int(t) for t in tile_grid))
    lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).astype(np.float32) / np.float32(255.0)


class Baseline:
    """A per-image function exposed as ``enhance(image, ratio=..., return_intermediates=...)`` like KinD.

    Args:
        name: the method name used by evaluate.py.
        function: float32 RGB [H, W, 3] in [0, 1] → enhanced float32 RGB [H, W, 3] in [0, 1].
        description: one line for reports.
    """

    uses_ratio = False

    def __init__(self, name: str, function: Callable[[np.ndarray], np.ndarray], description: str,
                 needs_opencv: bool = False):
        self.name = name
        self.function = function
        self.description = description
        self.needs_opencv = needs_opencv

    def check_available(self) -> None:
        """Raise ImportError (naming the package to install) if this baseline cannot run here."""
        if self.needs_opencv:
            _cv2()

    def __repr__(self) -> str:
        return f"Baseline({self.name!r}: {self.description})"

    def enhance(self, image: np.ndarray, ratio: Any = None, return_intermediates: bool = False,
                **_: Any) -> np.ndarray | dict[str, np.ndarray]:
        """Enhance one image [H, W, 3] or a batch [N, H, W, 3] (uint8, uint16 or float in [0, 1]).

        ``ratio`` (and any KinD-specific option such as tiling) is accepted and ignored.

        Returns:
            The enhanced float32 image(s) of the input's shape, or ``{"enhanced", "input"}`` when
            ``return_intermediates``.
        """
        images = to_float_image(image)
        images, single = as_rgb_batch(images)
        enhanced = np.stack([np.clip(self.function(one), 0.0, 1.0).astype(np.float32) for one in images])
        if single:
            images, enhanced = images[0], enhanced[0]
        return {"enhanced": enhanced, "input": images} if return_intermediates else enhanced


# The classical baselines evaluate.py compares against (--method NAME): a Registry, so a new baseline is one
# ``BASELINES.register(name, Baseline(...))`` and evaluate lists and accepts it.
BASELINES: Registry[Baseline] = Registry("baseline")
for _baseline in (
    Baseline("identity", identity, "the input unchanged"),
    Baseline("gamma", gamma, "gamma 1/2.2 on RGB in [0, 1]"),
    Baseline("he", equalize_v, "histogram equalisation of V (HSV), cv2.equalizeHist on 8-bit HSV",
             needs_opencv=True),
    Baseline("clahe", clahe_l, "CLAHE on L (8-bit Lab), clip limit 2, 8x8 tiles, OpenCV", needs_opencv=True),
):
    BASELINES.register(_baseline.name, _baseline)
del _baseline


def get_baseline(name: str) -> Baseline:
    """The baseline called ``name`` (one of :data:`BASELINES`); a ValueError listing them otherwise."""
    return BASELINES.get(name)
