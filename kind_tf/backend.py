"""What differs between Keras backends, in one place: compiling a function, and the TensorFlow-only parts.

kind-tf's networks, losses and pipelines are written in ``keras.ops`` and run on every Keras 3 backend
(``KERAS_BACKEND=tensorflow`` — the default —, ``jax`` or ``torch``). Only two things depend on the
backend: how a forward pass is compiled (``tf.function`` with a shape-free signature, so one graph
serves every image size; ``jax.jit``, traced once per input shape; eager on PyTorch), and the parts
that exist only in TensorFlow (SavedModel / TFLite export, the TF1-checkpoint importer,
``tf.distribute``, thread-pool settings), which call :func:`require_tensorflow` first.
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

        if input_shapes is None:
            return tf.function(function, jit_compile=jit_compile, reduce_retracing=True)
        signature = [tf.TensorSpec(list(shape), tf.float32) for shape in input_shapes]
        return tf.function(function, input_signature=signature, jit_compile=jit_compile)
    if backend == "jax":
        import jax

        return jax.jit(function, static_argnums=tuple(static_argnums))
    return function


def to_numpy(value: Any) -> Any:
    """A backend tensor (or a nest of them) as numpy arrays."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, value)
