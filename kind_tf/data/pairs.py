"""Paired low/normal-light data: find pairs by file stem, decode, validate.

A paired folder holds ``low/`` and ``high/``; ``low/0001.jpg`` pairs with ``high/0001.png`` (same
stem, any of :data:`kind_tf.io.IMAGE_SUFFIXES`). Pairs are NEVER formed by sorted order: a file without a partner is an
error that lists every such file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from kind_tf.io import IMAGE_SUFFIXES, ImageReadError, load_image_uint8

MAX_LISTED = 20


class DataError(ValueError):
    """A user-facing problem with the training / evaluation data (one line, names the files)."""


@dataclass(frozen=True)
class Pair:
    stem: str
    low: Path
    high: Path


def _list_folder(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    duplicates = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem in files:
            duplicates.append(f"{files[path.stem].name}/{path.name}")
        files[path.stem] = path
    if duplicates:
        raise DataError(f"{folder}: several images share a stem, pairing is ambiguous: {_listing(duplicates)}")
    return files


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return shown + (f" (and {more} more)" if more > 0 else "")


def find_pairs(root: str | os.PathLike) -> list[Pair]:
    """Pairs of ``root/low/<stem>.*`` and ``root/high/<stem>.*``, sorted by stem.

    Raises:
        DataError: the folders are missing or empty, or some files have no partner (all listed).
    """
    root = Path(root)
    low_dir, high_dir = root / "low", root / "high"
    for folder in (low_dir, high_dir):
        if not folder.is_dir():
            raise DataError(f"{root}: expected sub-folders low/ and high/ (missing {folder.name}/)")
    low, high = _list_folder(low_dir), _list_folder(high_dir)
    unpaired = [f"low/{low[s].name}" for s in sorted(set(low) - set(high))]
    unpaired += [f"high/{high[s].name}" for s in sorted(set(high) - set(low))]
    if unpaired:
        raise DataError(f"{root}: {len(unpaired)} unpaired file(s) (low/ and high/ pair by file name): "
                        f"{_listing(unpaired)}")
    if not low:
        raise DataError(f"{root}: no images in low/ and high/ (extensions {', '.join(IMAGE_SUFFIXES)})")
    return [Pair(stem, low[stem], high[stem]) for stem in sorted(low)]


def read_rgb(path: Path) -> np.ndarray:
    """Decode an image file to uint8 RGB [H, W, 3] as inference reads it (:func:`kind_tf.io.load_image_uint8`:
    EXIF orientation, alpha over black, 16-bit scaled), so a network trains on what it will be given.

    Raises:
        kind_tf.io.ImageReadError: the file cannot be decoded.
    """
    return load_image_uint8(path)


def unreadable_entry(name: str, error: Exception) -> str:
    """``name (why)`` for the one-line listings of unreadable files."""
    return f"{name} ({error.problem if isinstance(error, ImageReadError) else type(error).__name__})"


def load_pairs(pairs: list[Pair], min_size: int = 0, max_side: int | None = None
               ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Decode every pair to uint8 RGB arrays, checking that they are readable, aligned and big enough.

    Args:
        min_size: smallest allowed height and width (the training patch size).
        max_side: if set, downscale (area filter) so that the longer side is at most this (evaluation).

    Raises:
        DataError: listing every unreadable file, every pair whose two images differ in size and every
            image smaller than ``min_size``.
    """
    lows, highs = [], []
    unreadable, mismatched, small = [], [], []
    for pair in pairs:
        images = []
        for path in (pair.low, pair.high):
            try:
                images.append(read_rgb(path))
            except Exception as error:  # ImageReadError, or MemoryError and the like for huge files
                unreadable.append(unreadable_entry(f"{path.parent.name}/{path.name}", error))
        if len(images) != 2:
            continue
        low, high = images
        if low.shape != high.shape:
            mismatched.append(f"{pair.stem} (low {low.shape[1]}×{low.shape[0]}, high {high.shape[1]}×{high.shape[0]})")
            continue
        if min(low.shape[:2]) < min_size:
            small.append(f"{pair.stem} ({low.shape[1]}×{low.shape[0]})")
            continue
        if max_side and max(low.shape[:2]) > max_side:
            low, high = _downscale(low, max_side), _downscale(high, max_side)
        lows.append(low)
        highs.append(high)
    root = pairs[0].low.parent.parent if pairs else ""
    if unreadable:
        raise DataError(f"{root}: {len(unreadable)} unreadable image file(s): {_listing(unreadable)}")
    if mismatched:
        raise DataError(f"{root}: low and high images differ in size: {_listing(mismatched)}")
    if small:
        raise DataError(f"{root}: {len(small)} image pair(s) smaller than the {min_size}×{min_size} training "
                        f"patch (use a smaller --patch-size): {_listing(small)}")
    return lows, highs


def _downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BOX), dtype=np.uint8)


def normalize_uint8(image: np.ndarray) -> np.ndarray:
    """The original's loading: float32 / 255, then per-image min-max (x − min) / max(max − min, 0.001)."""
    image = image.astype(np.float32) / np.float32(255.0)
    low, high = image.min(), image.max()
    return (image - low) / np.maximum(high - low, np.float32(0.001))
