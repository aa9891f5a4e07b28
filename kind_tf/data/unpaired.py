"""Unpaired training images (zero-reference methods, e.g. Zero-DCE++): find, decode, resize, batch.

The original Zero-DCE++ loader (``dataloader.py``: ``Image.open(path).resize((512, 512),
Image.ANTIALIAS)``, then ``np.asarray(image) / 255.0`` as float64, then ``.float()``) is reproduced:
every image, whatever its size, is resized to ``size``×``size`` with PIL's Lanczos filter (what
``ANTIALIAS`` is an alias of; the aspect ratio is not kept, as in the original) and divided by 255 in
float64 before the cast to float32, so a training sample equals the original's tensor bit for bit
(NHWC instead of NCHW). No crop, no augmentation, no per-image normalisation: the original has none.

Differences, deliberate: any of :data:`~kind_tf.io.IMAGE_SUFFIXES` in the folder and its
sub-folders is used (the original globs ``*.jpg`` in one folder); images are decoded as inference
decodes them (:func:`kind_tf.io.load_image_uint8`: EXIF orientation applied, grey / palette / CMYK to
RGB, RGBA composited over black, 16-bit scaled to 8 bits — the original would fail on or mis-read
these; ordinary 8-bit RGB files are unchanged); and an epoch is ``len(images) // batch`` full
batches (the original's DataLoader also runs the last, partial batch).

Images are decoded once (``prepare``) and kept resized as one uint8 array ``[N, size, size, 3]``
(875 SICE images at 512: 690 MB; at 256: 172 MB). Batches are a pure function of (seed, step), like
:mod:`kind_tf.data.pipeline`: epoch ``e`` visits every image once in the order of the permutation
drawn from the run's seed (:func:`~kind_tf.data.sampling.image_index`), so a
resumed run sees exactly the batches of an uninterrupted one and a distributed run feeds each replica
its rows of the same global batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from kind_tf.data.pairs import DataError, _listing, unreadable_entry
from kind_tf.data.sampling import Sampling, image_index
from kind_tf.io import IMAGE_SUFFIXES, load_image_uint8

#: The original loader's training size (``lowlight_loader.size``).
ORIGINAL_SIZE = 512


def find_images(root: str | os.PathLike) -> list[Path]:
    """Every image file under ``root`` (sub-folders included; hidden files and folders skipped).

    Returns:
        Paths sorted by their path relative to ``root``.

    Raises:
        DataError: ``root`` is not a folder or holds no image.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of images")
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            found.append(path)
    if not found:
        raise DataError(f"{root}: no images (extensions {', '.join(IMAGE_SUFFIXES)}) in it or its sub-folders")
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_resized(path: Path, size: int | None = None, max_side: int | None = None) -> np.ndarray:
    """Decode ``path`` to uint8 RGB ``[H, W, 3]`` (:func:`kind_tf.io.load_image_uint8`, as inference reads it).

    Args:
        size: resize to ``size``×``size`` with Lanczos (the original loader); None keeps the size.
        max_side: else, downscale (box filter) so that the longer side is at most this (evaluation).

    Raises:
        kind_tf.io.ImageReadError: the file cannot be decoded.
    """
    pixels = load_image_uint8(path)
    height, width = pixels.shape[:2]
    if size is not None and (width, height) != (size, size):
        resized = Image.fromarray(pixels).resize((size, size), Image.LANCZOS)
    elif size is None and max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
        resized = Image.fromarray(pixels).resize((max(1, round(width * scale)), max(1, round(height * scale))),
                                                 Image.BOX)
    else:
        return pixels
    return np.asarray(resized, dtype=np.uint8)


def load_images(paths: Sequence[Path], size: int | None = None, max_side: int | None = None,
                progress: Callable[[Iterable], Iterable] = lambda items: items,
                root: str | os.PathLike | None = None) -> list[np.ndarray]:
    """Decode (and resize, see :func:`read_resized`) every image, checking that all are readable.

    Raises:
        DataError: one error listing every file that cannot be decoded (and why).
    """
    images, unreadable = [], []
    for path in progress(paths):
        try:
            images.append(read_resized(path, size, max_side))
        except Exception as error:  # ImageReadError, or MemoryError and the like for huge files
            name = path.relative_to(root).as_posix() if root is not None else str(path)
            unreadable.append(unreadable_entry(name, error))
    if unreadable:
        where = root if root is not None else (paths[0].parent if paths else "")
        raise DataError(f"{where}: {len(unreadable)} unreadable image file(s): {_listing(unreadable)}")
    return images


def load_training_images(root: str | os.PathLike, size: int = ORIGINAL_SIZE,
                         progress: Callable[[Iterable], Iterable] = lambda items: items) -> np.ndarray:
    """Every image under ``root`` resized to ``size``×``size``: uint8 ``[N, size, size, 3]``."""
    paths = find_images(root)
    images = load_images(paths, size=size, progress=progress, root=root)
    return np.stack(images)


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 → float32 as the original loader: ``np.asarray(image) / 255.0`` (float64), then float32."""
    return (np.asarray(images) / 255.0).astype(np.float32)


def unpaired_sample(images: np.ndarray, sampling: Sampling):
    """global sample index k → ``{"images": float32 [S, S, 3]}`` in numpy (both trainers' data path)."""
    def sample(k: int) -> dict[str, np.ndarray]:
        return {"images": to_float(images[image_index(sampling, len(images), k)])}

    return sample


def unpaired_dataset(images: np.ndarray, sampling: Sampling, *, start_step: int, total_steps: int,
                     replica_batch: int | None = None, first_replica: int = 0, local_replicas: int = 1,
                     prefetch: int = 2):
    """Batches ``{"images": float32 [b, S, S, 3]}`` of steps ``start_step … total_steps − 1``.

    Same addressing and sharding as :func:`kind_tf.data.pipeline.patch_dataset` (global sample
    ``k = step · global_batch + row``; a pipeline feeding ``local_replicas`` replicas from global
    replica ``first_replica`` yields their per-replica batches in order), whole images instead of
    augmented patches.

    Args:
        images: uint8 ``[N, S, S, 3]`` (:func:`load_training_images`), kept in host memory.
    """
    import tensorflow as tf

    from kind_tf.data.pipeline import step_batches

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 [N, S, S, 3], got {images.dtype} {images.shape}")
    height, width = images.shape[1:3]
    numpy_sample = unpaired_sample(images, sampling)

    def sample(k):
        image = tf.numpy_function(lambda k_: numpy_sample(int(k_))["images"], [k], tf.float32, stateful=False)
        image.set_shape([height, width, 3])
        return {"images": image}

    return step_batches(sample, sampling, start_step=start_step, total_steps=total_steps,
                        replica_batch=replica_batch, first_replica=first_replica,
                        local_replicas=local_replicas, prefetch=prefetch)


__all__ = ["ORIGINAL_SIZE", "find_images", "read_resized", "load_images", "load_training_images", "to_float",
           "unpaired_dataset", "unpaired_sample"]
