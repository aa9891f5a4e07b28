"""Which sample each training step sees: a pure function of (seed, global sample index), in numpy.

Every training sample is addressed by its global index ``k = step · global_batch + row``. From it:

* the image: epoch ``e = step // steps_per_epoch`` visits every image once in the order of a
  permutation drawn from the counter-based generator keyed (seed, 2⁶³ + e) — the original shuffles the
  pairs once per epoch and takes ``len(pairs) // batch`` batches from it;
* the crop position, the augmentation mode (one of the original's 8) and a spare random draw (the
  adjust stage's brighten/darken coin): DRAWS integers from the generator keyed (seed, k).

Nothing depends on iterator state, so resuming at step s rebuilds exactly the batches an uninterrupted
run would have seen, and a distributed run feeds each replica its slice of the very same global batch.
numpy's Philox (counter-based, the same on every platform) makes it independent of any framework:
TensorFlow's tf.data route (:mod:`kind_tf.data.pipeline`) and the JAX route (:func:`step_batch`) call
these same functions, so both train on identical batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

AUGMENT_MODES = 8
# Random draws per sample: crop top, crop left, augmentation mode, task coin.
DRAWS = 4
_EPOCH_KEY = 2**63   # the permutation generators' keys, disjoint from the samples' (k < 2⁶³)


class PatchSource:
    """Full-size arrays that patches are cut from. Subclasses implement :meth:`crop`."""

    channels: int
    shapes: np.ndarray  # [N, 2] int64 (height, width)

    def __len__(self) -> int:
        return int(self.shapes.shape[0])

    def crop(self, index: int, top: int, left: int, size: int) -> np.ndarray:
        raise NotImplementedError


class ImagePairSource(PatchSource):
    """uint8 low/high image pairs; a patch is [p, p, 6] = (low, high), each normalised per full image.

    The normalisation is the original's ``(x/255 − min) / max(max − min, 0.001)`` with the min/max of
    the FULL image, so a patch equals the same crop of the normalised image, bit for bit.
    """

    channels = 6

    def __init__(self, lows: Sequence[np.ndarray], highs: Sequence[np.ndarray]):
        self.lows, self.highs = list(lows), list(highs)
        self.shapes = np.array([image.shape[:2] for image in self.lows], np.int64)
        self.stats = [(_range_stats(low), _range_stats(high)) for low, high in zip(self.lows, self.highs)]

    def crop(self, index, top, left, size):
        index, top, left, size = int(index), int(top), int(left), int(size)
        parts = []
        for image, (low, scale) in zip((self.lows[index], self.highs[index]), self.stats[index]):
            patch = image[top:top + size, left:left + size].astype(np.float32) / np.float32(255.0)
            parts.append((patch - low) / scale)
        return np.concatenate(parts, axis=-1)


def _range_stats(image: np.ndarray) -> tuple[np.float32, np.float32]:
    low = np.float32(image.min()) / np.float32(255.0)
    high = np.float32(image.max()) / np.float32(255.0)
    return low, np.maximum(high - low, np.float32(0.001))


class ArraySource(PatchSource):
    """float32 [H, W, C] arrays (e.g. memory-mapped cached decompositions); a patch is a plain slice."""

    def __init__(self, arrays: Sequence[np.ndarray]):
        self.arrays = list(arrays)
        self.channels = int(self.arrays[0].shape[-1])
        self.shapes = np.array([array.shape[:2] for array in self.arrays], np.int64)

    def crop(self, index, top, left, size):
        index, top, left, size = int(index), int(top), int(left), int(size)
        return np.ascontiguousarray(self.arrays[index][top:top + size, left:left + size], dtype=np.float32)


@dataclass(frozen=True)
class Sampling:
    """How samples are drawn: the run's seed and batch geometry.

    Args:
        seed: the run's seed.
        global_batch: samples per optimisation step over all replicas.
        patch_size: square patch side.
        steps_per_epoch: ``max(len(source) // global_batch, 1)`` in the original recipe.
    """

    seed: int
    global_batch: int
    patch_size: int
    steps_per_epoch: int


def _generator(seed: int, counter: int) -> np.random.Generator:
    key = np.array([int(seed) % 2**64, int(counter) % 2**64], dtype=np.uint64)   # a list would go through float
    return np.random.Generator(np.random.Philox(key=key))


def sample_draws(sampling: Sampling, sample_index: int) -> np.ndarray:
    """DRAWS int64 random numbers in [0, 2⁶²) of global sample ``k``: a pure function of (seed, k)."""
    return _generator(sampling.seed, int(sample_index)).integers(0, 2**62, size=DRAWS, dtype=np.int64)


@functools.lru_cache(maxsize=8)
def _permutation(seed: int, epoch: int, num_images: int) -> np.ndarray:
    return _generator(seed, _EPOCH_KEY + epoch).permutation(num_images)


def image_index(sampling: Sampling, num_images: int, sample_index: int) -> int:
    """Which image global sample ``k`` is cut from: a fresh permutation of the images every epoch."""
    step, row = divmod(int(sample_index), sampling.global_batch)
    epoch = step // sampling.steps_per_epoch
    position = (step % sampling.steps_per_epoch) * sampling.global_batch + row
    return int(_permutation(sampling.seed, epoch, num_images)[position % num_images])


def numpy_augment(patch: np.ndarray, mode: int) -> np.ndarray:
    """The original's ``data_augmentation(image, mode)`` on a square [p, p, C] patch.

    0 identity, 1 flip up-down, 2 rot90, 3 rot90 + flip, 4 rot180, 5 rot180 + flip, 6 rot270,
    7 rot270 + flip (``np.rot90`` = counter-clockwise).
    """
    if mode == 0:
        return patch
    if mode == 1:
        return np.flipud(patch)
    rotated = np.rot90(patch, k=(mode - 2) // 2 + 1)
    return np.flipud(rotated) if mode % 2 == 1 else rotated


def sample_patch(source: PatchSource, sampling: Sampling, sample_index: int) -> tuple[np.ndarray, np.ndarray]:
    """(augmented float32 patch [p, p, C], draws [DRAWS]) of global sample ``k`` from a PatchSource."""
    draws = sample_draws(sampling, sample_index)
    index = image_index(sampling, len(source), sample_index)
    height, width = (int(v) for v in source.shapes[index])
    size = sampling.patch_size
    top, left = int(draws[0] % (height - size + 1)), int(draws[1] % (width - size + 1))
    patch = numpy_augment(source.crop(index, top, left, size), int(draws[2] % AUGMENT_MODES))
    return np.ascontiguousarray(patch, dtype=np.float32), draws


def sample_indices(sampling: Sampling, step: int, replica_batch: int | None = None, first_replica: int = 0,
                   local_replicas: int = 1) -> list[np.ndarray]:
    """The global sample indices of ``step``: one array of ``replica_batch`` rows per local replica."""
    batch = replica_batch or sampling.global_batch
    return [step * sampling.global_batch + (first_replica + r) * batch + np.arange(batch)
            for r in range(local_replicas)]


def step_batch(sample: Callable[[int], dict[str, np.ndarray]], sampling: Sampling, step: int) -> dict[str, np.ndarray]:
    """The whole global batch of ``step`` as numpy arrays: ``sample(k)`` stacked over its rows (the
    framework-free data path of the JAX trainer; tf.data's batches are the same samples)."""
    rows = [sample(int(k)) for k in sample_indices(sampling, step)[0]]
    return {name: np.stack([row[name] for row in rows]) for name in rows[0]}
