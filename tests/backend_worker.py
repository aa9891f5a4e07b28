"""Runs kind-tf's pipelines under whichever Keras backend KERAS_BACKEND names and saves what they return.

Used by tests/test_backends.py in a subprocess (a process has one Keras backend):

    KERAS_BACKEND=jax python tests/backend_worker.py OUT.npz SHARED KIND_WEIGHTS ZERO_DCE_WEIGHTS SHIPPED_WEIGHTS

Writes every array under a "<case>/<name>" key, plus "tensorflow_imported" (whether importing the
model, loss, weights and inference modules and running them pulled TensorFlow in) and "backend".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main(out: str, shared: str, kind_weights: str, zero_dce_weights: str, shipped_weights: str) -> None:
    import keras

    import kind_tf.image_ops  # noqa: F401
    import kind_tf.losses  # noqa: F401
    import kind_tf.models  # noqa: F401
    import kind_tf.weights  # noqa: F401
    from kind_tf.enhance_job import SAMPLE_IMAGE
    from kind_tf.inference import KinD, ZeroDCE
    from kind_tf.io import load_image

    reference = Path(shared) / "reference"
    arrays: dict[str, np.ndarray] = {}
    kind = KinD.from_weights(kind_weights)
    for path in sorted((reference / "kind_official" / "golden").glob("*.npz")):
        golden = np.load(path)
        for ratio in (5.0, 2.0):
            result = kind.enhance(golden["input"], ratio=ratio, return_intermediates=True)
            for name in ("reflectance", "illumination", "adjusted_illumination", "denoise_weight"):
                arrays[f"kind_official/{path.stem}/ratio{ratio:g}/{name}"] = result[name]
    for path in sorted((reference / "kind_pipeline_golden").glob("*.npz")):
        result = kind.enhance(np.load(path)["input_uint8"], ratio=5.0, return_intermediates=True)
        for name, value in result.items():
            arrays[f"kind_pipeline/{path.stem}/{name}"] = value
    zero_dce = ZeroDCE.from_weights(zero_dce_weights)
    for path in sorted((reference / "zero_dce_official" / "golden").glob("*.npz")):
        result = zero_dce.enhance(np.load(path)["input"], return_intermediates=True)
        arrays[f"zero_dce/{path.stem}/enhanced"] = result["enhanced"]
        arrays[f"zero_dce/{path.stem}/curve_map"] = result["curve_map"]
    shipped = KinD.from_weights(shipped_weights)   # its recipe: no fusion, ratio "auto"
    sample = load_image(SAMPLE_IMAGE)
    result = shipped.enhance(sample, return_intermediates=True)
    arrays["shipped/enhanced"], arrays["shipped/ratio"] = result["enhanced"], result["ratio"]
    arrays["shipped/tiled"] = shipped.enhance(sample, ratio=3.0, tile=128)
    arrays["tensorflow_imported"] = np.asarray("tensorflow" in sys.modules)
    arrays["backend"] = np.asarray(keras.backend.backend())
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:6])
