"""A tf.data pipeline of aligned random patches whose content is a pure function of (seed, step).

Every training sample is addressed by its global index ``k = step · global_batch + row``. From it:

* the image: epoch ``e = step // steps_per_epoch`` visits every image once in the order of a
  permutation drawn with the stateless seed (seed, −1 − e) — the original shuffles the pairs once per
  epoch and takes ``len(pairs) // batch`` batches from it;
* the crop position, the augmentation mode (one of the original's 8) and a spare random draw (the
  adjust stage's brighten/darken coin): ``tf.random.stateless_uniform`` with seed (seed, k).

Nothing depends on iterator state, so resuming at step s rebuilds exactly the batches an
uninterrupted run would have seen, and a distributed run feeds each replica its slice of the very
same global batch (replica r gets rows r·b … r·b + b − 1).

The full images (uint8, normalised per image on the fly as the original does on load) or the cached
decompositions (float32 ``.npy``, memory-mapped) live in host memory; patches are cut with a
``tf.numpy_function`` and augmented with TF ops (identically for every channel of a sample).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

AUGMENT_MODES = 8
# Random draws per sample: crop top, crop left, augmentation mode, task coin.
DRAWS = 4


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


def augment(patch: tf.Tensor, mode: tf.Tensor) -> tf.Tensor:
    """The original's ``data_augmentation(image, mode)`` on a square [p, p, C] patch.

    0 identity, 1 flip up-down, 2 rot90, 3 rot90 + flip, 4 rot180, 5 rot180 + flip, 6 rot270,
    7 rot270 + flip (``np.rot90`` = counter-clockwise, as ``tf.image.rot90``).
    """
    def flip(x):
        return tf.reverse(x, axis=[0])

    branches = [
        lambda: patch,
        lambda: flip(patch),
        lambda: tf.image.rot90(patch, 1),
        lambda: flip(tf.image.rot90(patch, 1)),
        lambda: tf.image.rot90(patch, 2),
        lambda: flip(tf.image.rot90(patch, 2)),
        lambda: tf.image.rot90(patch, 3),
        lambda: flip(tf.image.rot90(patch, 3)),
    ]
    return tf.switch_case(tf.cast(mode, tf.int32), branches)


def numpy_augment(patch: np.ndarray, mode: int) -> np.ndarray:
    """The original's numpy ``data_augmentation`` (reference for tests)."""
    if mode == 0:
        return patch
    if mode == 1:
        return np.flipud(patch)
    rotated = np.rot90(patch, k=(mode - 2) // 2 + 1)
    return np.flipud(rotated) if mode % 2 == 1 else rotated


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


def sample_draws(sampling: Sampling, sample_index: tf.Tensor) -> tf.Tensor:
    """DRAWS int64 random numbers ≥ 0 of global sample ``k``: stateless in (seed, k)."""
    seed = tf.stack([tf.constant(sampling.seed, tf.int64), tf.cast(sample_index, tf.int64)])
    draws = tf.random.stateless_uniform([DRAWS], seed=seed, minval=None, maxval=None, dtype=tf.int64)
    return tf.math.floormod(draws, tf.constant(2**62, tf.int64))


def image_index(sampling: Sampling, num_images: int, sample_index: tf.Tensor) -> tf.Tensor:
    """Which image global sample ``k`` is cut from: a fresh permutation of the images every epoch."""
    step = sample_index // sampling.global_batch
    row = sample_index % sampling.global_batch
    epoch = step // sampling.steps_per_epoch
    position = (step % sampling.steps_per_epoch) * sampling.global_batch + row
    seed = tf.stack([tf.constant(sampling.seed, tf.int64), -1 - epoch])
    permutation = tf.argsort(tf.random.stateless_uniform([num_images], seed=seed), stable=True)
    return tf.gather(permutation, position % num_images)


def make_sample_fn(source: PatchSource, sampling: Sampling,
                   transform: Callable[[tf.Tensor, tf.Tensor], dict[str, tf.Tensor]]):
    """global sample index k → the task's sample dict (transform(augmented patch, draws))."""
    shapes = tf.constant(source.shapes, tf.int64)
    size = sampling.patch_size

    def sample(k):
        k = tf.cast(k, tf.int64)
        draws = sample_draws(sampling, k)
        index = image_index(sampling, len(source), k)
        shape = tf.gather(shapes, index)
        top = tf.math.floormod(draws[0], shape[0] - size + 1)
        left = tf.math.floormod(draws[1], shape[1] - size + 1)
        patch = tf.numpy_function(lambda i, top_, left_: source.crop(i, top_, left_, size), [index, top, left],
                                  tf.float32, stateful=False)
        patch.set_shape([size, size, source.channels])
        patch = augment(patch, tf.math.floormod(draws[2], AUGMENT_MODES))
        return transform(patch, draws)

    return sample


def patch_dataset(source: PatchSource, sampling: Sampling,
                  transform: Callable[[tf.Tensor, tf.Tensor], dict[str, tf.Tensor]], *,
                  start_step: int, total_steps: int, replica_batch: int | None = None,
                  first_replica: int = 0, local_replicas: int = 1, prefetch: int = 2) -> tf.data.Dataset:
    """Batches of steps ``start_step … total_steps − 1`` (static shapes, drop_remainder).

    With one input pipeline (``replica_batch`` = global batch) each element is a whole global batch.
    A pipeline feeding ``local_replicas`` replicas starting at global replica ``first_replica`` yields,
    for each step, one per-replica batch of ``replica_batch`` rows per local replica, in order — what
    ``Strategy.distribute_datasets_from_function`` expects.
    """
    return step_batches(make_sample_fn(source, sampling, transform), sampling, start_step=start_step,
                        total_steps=total_steps, replica_batch=replica_batch, first_replica=first_replica,
                        local_replicas=local_replicas, prefetch=prefetch)


def step_batches(sample: Callable[[tf.Tensor], Any], sampling: Sampling, *, start_step: int, total_steps: int,
                 replica_batch: int | None = None, first_replica: int = 0, local_replicas: int = 1,
                 prefetch: int = 2) -> tf.data.Dataset:
    """``sample(k)`` for the global sample indices ``k = step · global_batch + row`` of steps
    ``start_step … total_steps − 1``, batched (static shapes, drop_remainder) and ordered for
    ``local_replicas`` replicas from global replica ``first_replica`` (see :func:`patch_dataset`).
    Every training dataset (patches, unpaired images) is addressed this way, so a resumed or
    sharded run sees exactly the samples of an uninterrupted single-pipeline one."""
    batch = replica_batch or sampling.global_batch
    per_step = local_replicas * batch

    def to_sample_index(element):
        step = element // per_step
        within = element % per_step
        row = (first_replica + within // batch) * batch + within % batch
        return step * sampling.global_batch + row

    dataset = tf.data.Dataset.range(start_step * per_step, total_steps * per_step)
    dataset = dataset.map(to_sample_index)
    dataset = dataset.map(sample, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch, drop_remainder=True)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options).prefetch(prefetch)
