"""Global colour statistics of an enhanced image: mean brightness and colour cast.

No-reference summaries for unpaired test sets (e.g. Zero-DCE++'s real test images), where what a
reader wants to know is how bright the result is and whether it drifted towards a colour. Both
are computed over RGB in [0, 1], per image.

- ``brightness``: the mean over pixels and channels. Zero-DCE++'s exposure loss drives local means
  towards E = 0.6; a well-exposed photo's mean is typically 0.4–0.6.
- ``color_cast``: the spread of the three channel means, max − min. Under the grey-world assumption
  behind Zero-DCE++'s colour-constancy loss (Buchsbaum 1980) the channel means of a natural scene
  agree, so 0 means no global cast and 0.1 means one channel is 10 % of full scale off the others.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kind_tf.metrics._inputs import float_image_tensor


def _channel_means(images: tf.Tensor | np.ndarray, name: str) -> tuple[tf.Tensor, bool]:
    images = float_image_tensor(images, name)
    single = images.shape.rank == 3
    if single:
        images = images[None]
    return tf.reduce_mean(tf.cast(images, tf.float32), axis=[1, 2]), single


def brightness(images: tf.Tensor | np.ndarray) -> tf.Tensor:
    """Mean of RGB over the image, per image: [N] for a batch, a scalar for one HWC image."""
    means, single = _channel_means(images, "images")
    value = tf.reduce_mean(means, axis=-1)
    return value[0] if single else value


def color_cast(images: tf.Tensor | np.ndarray) -> tf.Tensor:
    """max − min of the per-channel means, per image: [N] for a batch, a scalar for one HWC image."""
    means, single = _channel_means(images, "images")
    value = tf.reduce_max(means, axis=-1) - tf.reduce_min(means, axis=-1)
    return value[0] if single else value
