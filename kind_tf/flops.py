"""FLOPs of a network's inference pass, counted by TensorFlow's profiler (TensorFlow backend only)."""

from __future__ import annotations

import keras
import tensorflow as tf


def count_flops(model: keras.Model, height: int, width: int, channels: tuple[int, ...] = (3, 1)) -> int:
    """FLOPs of one inference pass of a network on a 1×height×width image.

    ``channels`` are those of the inputs: (3, 1) a restoration network's ``[reflectance,
    illumination]`` (default), (1, 1) IlluminationAdjustNet's ``[illumination, ratio]``, (3,) a
    single-input network such as DecomNet (called on the tensor itself).
    Freezes the call into a constant graph and sums
    ``tf.profiler``'s per-op float counts: convolutions (plain, depthwise, transposed; a multiply-add
    counts as 2), bias adds, adds, max-pools. Activations (leaky ReLU, ReLU6, sigmoid) have no
    registered count and count 0. SAD adds nothing: it only runs in training calls.

    Returns:
        The total FLOPs (e.g. 142.9 G for the default ImprovedUNet and 89.1 G for RestorationNet at
        600×400).
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2_as_graph

    function = tf.function(lambda *inputs: model(list(inputs) if len(inputs) > 1 else inputs[0], training=False))
    concrete = function.get_concrete_function(*(tf.TensorSpec([1, height, width, c], tf.float32) for c in channels))
    frozen, _ = convert_variables_to_constants_v2_as_graph(concrete)
    profiler = tf.compat.v1.profiler
    builder = profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    profile = profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                               options=options)
    return int(profile.total_float_ops)
