"""What differs between Keras backends, in one place: compiling a function, and the TensorFlow-only parts.

kind-tf's networks, losses and pipelines are written in ``keras.ops`` and run on every Keras 3 backend
(``KERAS_BACKEND=tensorflow`` — the default —, ``jax`` or ``torch``). Only two things depend on the
backend: how a forward pass is compiled (``tf.function`` with a shape-free signature, so one graph
serves every image size; ``jax.jit``, traced once per input shape; eager on PyTorch), and the parts
that exist only in TensorFlow (SavedModel / TFLite export, the TF1-checkpoint importer,
``tf.distribute``, thread-pool settings), which call :func:`require_tensorflow` first.

The losses' two batch-coupled reductions live here too, because under ``tf.distribute`` each replica only
sees its slice of the global batch: :func:`global_batch_extrema` (KinD's batch-normalised gradient) and
:func:`average_loss` (per-example values → the scalar whose replica gradients sum to the global mean). On
TensorFlow they use the replica context (TensorFlow is imported lazily, only there); on every other backend
they are the plain min / max / mean of the values given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras


class BackendError(RuntimeError):
    """A TensorFlow-only feature was asked for on another Keras backend."""


def name() -> str:
    """The Keras backend this process runs ("tensorflow", "jax", "torch", ...)."""
    return keras.backend.backend()


def require_tensorflow(feature: str) -> None:
    """Raise :class:`BackendError` with one line when ``feature`` is used on a backend other than TensorFlow."""
    if name() != "tensorflow":
        raise BackendError(f"{feature} needs the TensorFlow backend; this process runs Keras on {name()!r} "
                           "(unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow)")


def compile_function(function: Callable, input_shapes: Sequence[Sequence[int | None]] | None = None, *,
                     jit_compile: bool = False, static_argnums: Sequence[int] = ()) -> Callable:
    """``function`` compiled for the current backend.

    Args:
        input_shapes: on TensorFlow, float32 ``tf.TensorSpec`` shapes (None: any size) of a fixed
            signature, i.e. one graph for every batch and image size; None traces per input shape
            (with ``reduce_retracing``). Ignored elsewhere.
        jit_compile: on TensorFlow, compile the graph with XLA. JAX always compiles with XLA.
        static_argnums: positions of Python-valued arguments (JAX's ``static_argnums``).
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        # autograph=False: these functions branch with ops.cond / ops.where and loop over Python values only, so
        # autograph's source-to-source conversion buys nothing; it cost ~3 s of the first enhance.py call (KinD
        # 600×400 on a 2-core EPYC: trace + first run 7.5 s → 4.5 s, identical output) and reads each function's
        # source from disk, so a file edited while a process runs can be converted as another function.
        if input_shapes is None:
            return tf.function(function, jit_compile=jit_compile, reduce_retracing=True, autograph=False)
        signature = [tf.TensorSpec(list(shape), tf.float32) for shape in input_shapes]
        return tf.function(function, input_signature=signature, jit_compile=jit_compile, autograph=False)
    if backend == "jax":
        import jax

        return jax.jit(function, static_argnums=tuple(static_argnums))
    return function


def to_numpy(value: Any) -> Any:
    """A backend tensor (or a nest of them) as numpy arrays."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, value)


def global_batch_extrema(values: Any) -> tuple[Any, Any]:
    """(min, max) of ``values`` over the whole global batch: across replicas under a TensorFlow
    ``tf.distribute`` strategy with several replicas in sync, else over ``values`` itself.

    Differentiable: the gradient reaches the element(s) holding the extremum (ties share it equally, on
    every backend), on whichever replica they are (``ReplicaContext.all_gather`` all-reduces the upstream
    gradient). KinD's gradient loss normalises by these, so that N replicas give the loss and gradients of
    one device with the global batch.
    """
    low, high = keras.ops.min(values), keras.ops.max(values)
    if name() == "tensorflow":
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            pair = tf.reshape(tf.stack([low, -high]), [1, 2])
            reduced = tf.reduce_min(context.all_gather(pair, axis=0), axis=0)     # [replicas, 2] → [2]
            low, high = reduced[0], -reduced[1]
    return low, high


def average_loss(per_example: Any, global_batch_size: int | None = None) -> Any:
    """Per-example losses ``[N]`` → the scalar a training step minimises.

    On TensorFlow ``tf.nn.compute_average_loss``: Σ / global batch size (by default N × the replicas in
    sync), so that the replicas' gradients, summed by the strategy, are those of the global batch's mean.
    Elsewhere Σ / ``global_batch_size``, or the plain mean when it is None (one device, or JAX's
    data-parallel ``pmean`` of per-device means).
    """
    per_example = keras.ops.cast(per_example, "float32")
    if name() == "tensorflow":
        import tensorflow as tf

        return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
    if global_batch_size is None:
        return keras.ops.mean(per_example)
    return keras.ops.sum(per_example) / float(global_batch_size)
