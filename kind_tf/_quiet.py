"""Keep the backend's C++ start-up lines off a user's terminal (what kind-tf's command lines print is their own).

TensorFlow's native libraries log through absl before any Python setting applies (``cudart_stub.cc …
Could not find cuda drivers``, ``All log messages before absl::InitializeLog()``, ``failed call to
cuInit`` on machines without a GPU); ``TF_CPP_MIN_LOG_LEVEL`` does not silence all of them. The
command lines therefore import TensorFlow and initialise its devices once with the process's stderr
(file descriptor 2) pointed at /dev/null, then restore it; ``--verbose`` skips this.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def _stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def start_backend(verbose: bool = False) -> None:
    """Import Keras' backend (TensorFlow by default, or KERAS_BACKEND's) and initialise its devices,
    quietly unless ``verbose``. On JAX, TensorFlow is not imported at all.

    A Python exception raised meanwhile still reaches the caller (only fd 2 is redirected, and its
    traceback is printed later, after the restore)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    context = contextlib.nullcontext() if verbose else _stderr_silenced()
    with context:
        import keras

        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")   # cuInit happens here on machines with CUDA libraries
        elif backend == "jax":
            import jax

            jax.devices()   # the platform (and its "no GPU found" lines) is chosen here
