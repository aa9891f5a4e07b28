"""A tf.data pipeline of aligned random patches whose content is a pure function of (seed, step).

Which image, crop, augmentation and random draws each global sample ``k = step · global_batch + row``
gets is decided by :mod:`kind_tf.data.sampling` in numpy (the JAX trainer's data path calls the same
functions); this module only feeds those samples through tf.data for the TensorFlow trainer —
``tf.numpy_function`` per sample, batched with static shapes and ordered for ``tf.distribute``.

The full images (uint8, normalised per image on the fly as the original does on load) or the cached
decompositions (float32 ``.npy``, memory-mapped) live in host memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from kind_tf.data.sampling import (  # noqa: F401  (re-exported: the sampling rules and sources live there)
    AUGMENT_MODES,
    DRAWS,
    ArraySource,
    ImagePairSource,
    PatchSource,
    Sampling,
    image_index,
    numpy_augment,
    sample_draws,
    sample_patch,
)


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


def make_sample_fn(source: PatchSource, sampling: Sampling,
                   transform: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]):
    """global sample index k → the task's sample dict ``transform(augmented patch, draws)`` as tensors.

    The sample is computed in numpy (:func:`kind_tf.data.sampling.sample_patch` and the task's numpy
    ``transform``), exactly what the JAX trainer computes; its names, dtypes and shapes are learnt
    from sample 0.
    """
    def numpy_sample(k) -> dict[str, np.ndarray]:
        return transform(*sample_patch(source, sampling, int(k)))

    probe = numpy_sample(0)
    names = sorted(probe)
    dtypes = [tf.as_dtype(np.asarray(probe[name]).dtype) for name in names]

    def sample(k):
        values = tf.numpy_function(lambda k_: [np.asarray(v) for v in map(numpy_sample(k_).get, names)],
                                   [k], dtypes, stateful=False)
        for value, name in zip(values, names):
            value.set_shape(np.shape(probe[name]))
        return dict(zip(names, values))

    return sample


def patch_dataset(source: PatchSource, sampling: Sampling,
                  transform: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]], *,
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
