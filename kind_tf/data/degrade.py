"""Degradations of the training set's low-light images, for degradation-aware restoration training.

The darkest SICE inputs are JPEGs whose 8×8 compression blocks and chroma noise the pipeline amplifies
by 10× or more; the restoration net only learns to remove what it sees in R_low. ``--degrade
jpeg:Q1-Q2`` adds to the training set a copy of every low image re-encoded as JPEG at a quality drawn
per image in [Q1, Q2] (4:2:0 chroma subsampling, as cameras and the data's own files), paired with the
same clean target, so the net sees stronger blocks than the data holds and learns to remove them.
The copies are made once, from the run's seed, and their decompositions cached like the others.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class JpegDegradation:
    """Re-encode as JPEG at a quality drawn uniformly per image in [min_quality, max_quality]."""

    min_quality: int
    max_quality: int

    @property
    def key(self) -> str:
        """A stable name of the degradation (part of the decomposition cache's key)."""
        return f"jpeg:{self.min_quality}-{self.max_quality}"

    def qualities(self, count: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng([seed, 0x4A504547])    # "JPEG": its own stream, not the crops'
        return rng.integers(self.min_quality, self.max_quality + 1, size=count)

    def apply(self, images: list[np.ndarray], seed: int) -> list[np.ndarray]:
        return [jpeg_reencode(image, int(q)) for image, q in zip(images, self.qualities(len(images), seed))]


def jpeg_reencode(image: np.ndarray, quality: int) -> np.ndarray:
    """uint8 RGB [H, W, 3] → the same image after a JPEG round trip at ``quality`` (1–95)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality), subsampling=2)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def parse_degradation(spec: str | None) -> JpegDegradation | None:
    """``None`` / ``"none"`` → None; ``"jpeg:20-60"`` (or ``"jpeg:40"``) → a :class:`JpegDegradation`."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return None
    match = re.fullmatch(r"\s*jpeg:(\d+)(?:-(\d+))?\s*", spec.lower())
    if not match:
        raise ValueError(f"unknown degradation {spec!r}; expected 'jpeg:Q' or 'jpeg:Q1-Q2' (qualities 1–95)")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 1 <= low <= high <= 95:
        raise ValueError(f"degradation {spec!r}: JPEG qualities must satisfy 1 ≤ Q1 ≤ Q2 ≤ 95")
    return JpegDegradation(low, high)
