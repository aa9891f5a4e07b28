"""Process start-up of kind-tf's command lines, before the backend loads: keep TensorFlow's C++ start-up lines
off a user's terminal (what kind-tf's command lines print is their own), and :func:`assume_frozen_weights` for
the processes that only run inference.

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


FROZEN_WEIGHTS_ENV = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"


def assume_frozen_weights() -> None:
    """Tell TensorFlow's oneDNN kernels that this process's weights never change — for inference-only processes.

    With ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1`` each oneDNN convolution reorders its filter into its blocked
    layout once and keeps it for the process; otherwise a variable's filter is used as stored or reordered on
    every call, as oneDNN does for weights that may change. KinD float32 on a 2-core Xeon with AMX
    (``benchmarks/run.py``, fresh networks): 600×400 538 → 500 ms, 1200×900 2.40 → 2.24 s, the original TF1
    graph (variables in a session) 540 ms / 2.32 s in the same run; outputs equal to ≤ 1.2e-7.

    Set by the processes that build their networks and then only enhance (``enhance.py``, ``evaluate.py``, the
    ``kind-tf`` / ``python -m kind_tf`` commands enhance, evaluate and demo, ``python -m kind_tf.demo``, the
    benchmark's inference workers), before any model runs: TensorFlow reads it once per process. Never in a
    process that trains or assigns new weights to a model it has already run: its convolutions would keep
    computing with the filters they first saw. A value the user set is kept. No effect on other backends.
    """
    os.environ.setdefault(FROZEN_WEIGHTS_ENV, "1")
