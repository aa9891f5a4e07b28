"""KinD on the TFLite interpreter (XNNPACK on CPUs): ``enhance.py --runtime tflite``.

Why: on CPUs without bfloat16 instructions (AVX2-only laptops and servers) TensorFlow's oneDNN graph is
the whole cost of KinD, and the TFLite interpreter with its XNNPACK delegate runs the same float32
convolutions faster there (measured same-run ratios: benchmarks/README.md, README "On-device").

:class:`TFLiteKinD` has :class:`kind_tf.inference.KinD`'s ``enhance(image, ratio=...)`` interface and
computes the same thing: the networks run from a TFLite flatbuffer converted once from the pipeline's
weights (:func:`kind_tf.export.export_kind_tflite_stages`: signatures ``decompose`` and ``finish``, on
normalised inputs) and cached on disk, keyed by a hash of the weights' values, the recipe and the
TensorFlow version, written atomically. Between the two signatures the "auto" ratio of a whole image is
searched on the decomposition its output uses, exactly as the TF pipeline does (:meth:`KinD.search_ratios`:
8 adjust passes at ≤ 128 px in TensorFlow, whose area resize has no TFLite kernel) — no second pipeline.
Around them, from the TF pipeline: the min-max normalisation of the whole image (global, so tiles see the
untiled normalisation), a tiled image's "auto" ratio (:meth:`KinD.auto_ratios`, its preview search, as
:meth:`KinD.enhance_tiled`) and the tiling windows (:func:`kind_tf.inference.tile_windows`), so results
equal the TF path's to float rounding (float32: ≤ 1e-4, tests/test_tflite.py). ``return_intermediates=True``
runs the TF pipeline itself.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kind_tf.inference import (
    DEFAULT_MAX_MEMORY_MB,
    TILE_ALIGN,
    TILE_CONTEXT,
    KinD,
    RatioArg,
    parse_ratio,
    tile_windows,
)

#: Bumped whenever the exported graph changes, so stale cached flatbuffers are never used.
CACHE_FORMAT = 2   # 2: the decompose / finish signatures (was: one enhance signature)
#: The quantisation ``--runtime tflite`` uses: float32 (the quantised variants are slower under XNNPACK on
#: AVX2 or lose more than 0.1 dB; measured in README "On-device").
DEFAULT_QUANTIZE: str | None = None


def cache_dir() -> Path:
    """Where converted models live: ``$KIND_TF_CACHE`` or ``$XDG_CACHE_HOME/kind_tf`` (``~/.cache/kind_tf``)."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = os.environ.get("KIND_TF_CACHE") or user_cache / "kind_tf"
    return Path(root) / "tflite"


def _cache_key(kind: KinD, quantize: str | None) -> str:
    """A digest of everything the flatbuffer depends on: weight values, recipe, quantisation, TF version."""
    import tensorflow as tf

    digest = hashlib.sha256()
    digest.update(f"{CACHE_FORMAT}|{tf.__version__}|{quantize}|fusion={kind.fusion}".encode())
    for model in (kind.decom, kind.restore, kind.adjust):
        digest.update(b"|none" if model is None else type(model).__name__.encode())
        for weight in [] if model is None else model.weights:
            digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:20]


def converted_model(kind: KinD, quantize: str | None = None, directory: str | os.PathLike | None = None) -> Path:
    """The cached flatbuffer of ``kind``'s pipeline (on normalised inputs), converting it first if absent."""
    from kind_tf.export import export_kind_tflite_stages

    if quantize == "int8":
        raise ValueError("the tflite runtime does not use int8 (needs calibration data; see README On-device)")
    directory = Path(directory) if directory is not None else cache_dir()
    path = directory / f"kind-{quantize or 'float32'}-{_cache_key(kind, quantize)}.tflite"
    if not path.is_file():
        export_kind_tflite_stages(kind, path, quantize)   # atomic: never a half-written cache entry
    return path


def make_interpreter(path: str | os.PathLike, num_threads: int | None = None) -> Any:
    """A ``tf.lite.Interpreter`` (XNNPACK delegate on by default for float models) for ``path``."""
    import tensorflow as tf

    with warnings.catch_warnings():   # tf.lite.Interpreter's deprecation notice in favour of ai_edge_litert
        warnings.simplefilter("ignore", UserWarning)
        return tf.lite.Interpreter(model_path=str(path), num_threads=num_threads or os.cpu_count())


class TFLiteKinD:
    """KinD whose networks run in the TFLite interpreter; same ``enhance`` interface as :class:`KinD`.

    Args:
        kind: the TF pipeline whose weights and recipe are converted (and which resolves "auto" ratios).
        quantize: None (float32, default) or "float16" / "dynamic" (:data:`kind_tf.export.QUANTIZATIONS`).
        num_threads: interpreter threads (default: all cores).
        directory: cache folder (default :func:`cache_dir`).
    """

    def __init__(self, kind: KinD, quantize: str | None = DEFAULT_QUANTIZE, num_threads: int | None = None,
                 directory: str | os.PathLike | None = None) -> None:
        self.kind = kind
        self.quantize = quantize
        self.model_path = converted_model(kind, quantize, directory)
        interpreter = make_interpreter(self.model_path, num_threads)
        self.decompose_runner = interpreter.get_signature_runner("decompose")
        self.finish_runner = interpreter.get_signature_runner("finish")
        self.default_ratio = kind.default_ratio

    @classmethod
    def from_weights(cls, weights_dir: str | os.PathLike, *, quantize: str | None = DEFAULT_QUANTIZE,
                     num_threads: int | None = None, directory: str | os.PathLike | None = None,
                     **options: Any) -> TFLiteKinD:
        """Like :meth:`KinD.from_weights` (``options``: fusion, ratio, normalize, ...), on the TFLite runtime."""
        return cls(KinD.from_weights(weights_dir, **options), quantize, num_threads, directory)

    def describe(self) -> str:
        return f"{self.kind.describe()}; TFLite runtime ({self.quantize or 'float32'}, XNNPACK)"

    def _decompose(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """(I_low, R_restored, denoise weight) of one normalised image [1, H, W, 3]."""
        return dict(self.decompose_runner(image=np.ascontiguousarray(inputs, np.float32)))

    def _run(self, inputs: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        """The pipeline on one normalised image [1, H, W, 3]; ``ratio`` [1], ≤ 0: "auto", searched on this
        image's own decomposition (as :meth:`KinD.forward` does for a whole image)."""
        from kind_tf.backend import to_numpy

        inputs = np.ascontiguousarray(inputs, np.float32)
        parts = self._decompose(inputs)
        if ratio[0] <= 0:
            ratio = to_numpy(self.kind.search_ratios(inputs, parts["illumination"], parts["restored"],
                                                     parts["weight"])).astype(np.float32)
        return self.finish_runner(image=inputs, ratio=np.asarray(ratio, np.float32), **parts)["enhanced"]

    def enhance(self, image: np.ndarray, ratio: RatioArg | None = None, return_intermediates: bool = False,
                tile: int | None | str = "auto", tile_overlap: int = TILE_CONTEXT,
                max_memory_mb: float = DEFAULT_MAX_MEMORY_MB) -> np.ndarray | dict[str, np.ndarray]:
        """Enhance [H, W, 3] or [N, H, W, 3] (uint8, uint16 or float in [0, 1]) → float32 in [0, 1], as
        :meth:`KinD.enhance` (same tiling rule and windows, same "auto" ratio)."""
        from kind_tf.backend import to_numpy
        from kind_tf.image_ops import as_rgb_batch, to_float_image

        if return_intermediates:   # the flatbuffer returns the enhanced image only
            return self.kind.enhance(image, ratio, True, tile, tile_overlap, max_memory_mb)
        images = to_float_image(image)
        images, single = as_rgb_batch(images)
        value = parse_ratio(self.default_ratio if ratio is None else ratio)
        inputs = to_numpy(self.kind.normalize_input(images))
        ratios = np.full([images.shape[0]], value, np.float32)
        height, width = images.shape[1:3]
        if tile == "auto":
            tile = self.kind.auto_tile(height, width, tile_overlap, max_memory_mb)
        if tile is not None and (tile % TILE_ALIGN or tile_overlap % TILE_ALIGN or tile <= 0):
            raise ValueError(f"tile ({tile}) and overlap ({tile_overlap}) must be positive multiples of {TILE_ALIGN}")
        if tile is not None and np.any(ratios <= 0):   # tiles have no whole-image decomposition: the preview's
            ratios = to_numpy(self.kind.auto_ratios(inputs)).astype(np.float32)
        outputs = np.empty(images.shape, np.float32)
        for i in range(images.shape[0]):
            if tile is None:
                outputs[i] = self._run(inputs[i:i + 1], ratios[i:i + 1])[0]
                continue
            for core, window, offset in tile_windows(height, width, int(tile), tile_overlap):
                result = self._run(inputs[i:i + 1, window[0], window[1]], ratios[i:i + 1])
                outputs[i, core[0], core[1]] = result[0, offset[0], offset[1]]
        return outputs[0] if single else outputs
