"""Decompositions of a paired training set by a frozen DecomNet, computed once and cached on disk.

The restore and adjust stages train on (R, I) of the low and high images. DecomNet is frozen in
both, so its outputs on the FULL training images are computed once and stored as one float32
``[H, W, 8]`` ``.npy`` per pair — channels ``R_low (0:3) | I_low (3) | R_high (4:7) | I_high (7)`` —
then memory-mapped, and training patches are cut from them like from images.

The cache folder's name is a hash of the decom weights file and of the data files (names, sizes,
modification times), so new decom weights or changed data never reuse a stale cache. A cache is
complete once its ``manifest.json`` exists (written last).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
from keras import ops

from kind_tf.backend import compile_function, to_numpy
from kind_tf.data.pairs import Pair, normalize_uint8
from kind_tf.data.sampling import ArraySource

CHANNELS = {"reflectance_low": slice(0, 3), "illumination_low": slice(3, 4),
            "reflectance_high": slice(4, 7), "illumination_high": slice(7, 8)}


def cache_key(decom_weights_file: str | os.PathLike, pairs: Sequence[Pair], variant: str = "") -> str:
    """Hash of the decom weights, the data files and ``variant`` (e.g. a degradation of the low images)."""
    digest = hashlib.sha256(Path(decom_weights_file).read_bytes())
    if variant:
        digest.update(f"variant|{variant}\n".encode())
    for pair in pairs:
        for path in (pair.low, pair.high):
            stat = path.stat()
            digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def decompose(decom: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """A compiled full-image decomposition: normalised float32 [H, W, 3] → [H, W, 8]."""
    def concatenated(images):
        reflectance, illumination = decom(images)
        return ops.concatenate([reflectance, illumination], axis=-1)

    forward = compile_function(concatenated, [[None, None, None, 3]])

    def run(low: np.ndarray, high: np.ndarray) -> np.ndarray:
        if low.shape == high.shape:
            out = to_numpy(forward(np.stack([low, high])))
            return np.concatenate([out[0], out[1]], axis=-1)
        return np.concatenate([to_numpy(forward(low[None]))[0], to_numpy(forward(high[None]))[0]], axis=-1)

    return run


def cached_decompositions(decom: keras.Model, decom_weights_file: str | os.PathLike, pairs: Sequence[Pair],
                          lows: Sequence[np.ndarray], highs: Sequence[np.ndarray], cache_root: str | os.PathLike,
                          progress: Callable[[Sequence], Sequence] = lambda items: items,
                          variant: str = "") -> ArraySource:
    """The [H, W, 8] decompositions of every pair, from ``cache_root/decom-<key>/`` or computed now.

    ``variant`` names how ``lows`` / ``highs`` differ from the files of ``pairs`` (e.g. degraded
    copies), so that a different variant never reuses this cache."""
    folder = Path(cache_root) / f"decom-{cache_key(decom_weights_file, pairs, variant)}"
    manifest = folder / "manifest.json"
    files = [folder / f"{i:05d}_{pair.stem}.npy" for i, pair in enumerate(pairs)]
    if not manifest.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        run = decompose(decom)
        for path, low, high in progress(list(zip(files, lows, highs))):
            maps = run(normalize_uint8(low), normalize_uint8(high))
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, maps.astype(np.float32))
            os.replace(tmp, path)
        manifest.write_text(json.dumps({
            "layout": {name: [s.start, s.stop] for name, s in CHANNELS.items()},
            "decom_weights": str(Path(decom_weights_file).resolve()),
            "pairs": [pair.stem for pair in pairs],
            "variant": variant,
        }, indent=2) + "\n")
    return ArraySource([np.load(path, mmap_mode="r") for path in files])
