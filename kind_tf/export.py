"""SavedModel export: the whole KinD pipeline, each single stage, and (when present) Zero-DCE++.

    python -m kind_tf.export kind [--weights DIR] --out DIR [--dtype float32|uint8] [--fusion|--no-fusion]
    python -m kind_tf.export stage --stage decom|restore|adjust [--weights DIR] --out DIR
    python -m kind_tf.export kind [--weights DIR] --tflite FILE.tflite [--quantize float16|dynamic|int8]
    python -m kind_tf.export zerodce [--weights DIR] [--out DIR] [--tflite FILE.tflite] [--quantize ...] [--gpu]

The KinD SavedModel has one serving signature, ``enhance``:

    enhance(image: [None, None, None, 3], ratio: [None]) -> {"enhanced", "illumination", "reflectance"}

``image`` is float32 RGB in [0, 1] (or uint8 with ``--dtype uint8``, outputs then uint8 too);
``ratio`` holds one brightening ratio per image, a value ≤ 0 meaning "auto" for that image. The
last step (fusion or recomposition) is the weights' recipe unless ``--fusion/--no-fusion`` is given;
the recipe's ratio is the one a client should send by default (shipped weights: ≤ 0, auto).
``illumination`` is the adjusted illumination, ``reflectance`` the restored reflectance — the two
factors of the enhanced Retinex image before fusion. Any batch, height and width; the graph is traced
once. It loads with plain TensorFlow: kind-tf need not be installed where it is served.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import keras
import numpy as np

# A TensorFlow-only module: on another Keras backend (where TensorFlow may not even be installed, as on a
# JAX-only accelerator) it is not imported, and main() says so in one line.
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

from kind_tf.inference import KinD
from kind_tf.weights import WeightsError

SIGNATURE = "enhance"


def export_kind(kind: KinD, out_dir: str | os.PathLike, dtype: str = "float32") -> Path:
    """Write ``kind``'s pipeline as a SavedModel with the ``enhance`` signature."""
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
    tf_dtype = tf.uint8 if dtype == "uint8" else tf.float32

    def enhance(image, ratio):
        images = tf.cast(image, tf.float32) / 255.0 if dtype == "uint8" else image
        outputs = kind.forward(images, ratio)
        result = {"enhanced": outputs["enhanced"],
                  "illumination": outputs["adjusted_illumination"],
                  "reflectance": outputs["restored_reflectance"]}
        if dtype == "uint8":
            result = {name: tf.cast(tf.round(tf.clip_by_value(value, 0.0, 1.0) * 255.0), tf.uint8)
                      for name, value in result.items()}
        return result

    archive = keras.export.ExportArchive()
    for model in (kind.decom, kind.restore, kind.adjust):
        if model is not None:
            archive.track(model)
    archive.add_endpoint(SIGNATURE, enhance, input_signature=[
        tf.TensorSpec([None, None, None, 3], tf_dtype, name="image"),
        tf.TensorSpec([None], tf.float32, name="ratio"),
    ])
    return _write(archive, out_dir)


def export_stage(model: keras.Model, stage: str, out_dir: str | os.PathLike) -> Path:
    """One stage network as a SavedModel with a ``serve`` signature over its natural inputs."""
    image = tf.TensorSpec([None, None, None, 3], tf.float32, name="image")
    reflectance = tf.TensorSpec([None, None, None, 3], tf.float32, name="reflectance")
    illumination = tf.TensorSpec([None, None, None, 1], tf.float32, name="illumination")
    ratio_map = tf.TensorSpec([None, None, None, 1], tf.float32, name="ratio_map")
    archive = keras.export.ExportArchive()
    archive.track(model)
    if stage == "decom":
        def serve(image):
            reflectance, illumination = model(image)
            return {"reflectance": reflectance, "illumination": illumination}
        signature = [image]
    elif stage == "restore":
        def serve(reflectance, illumination):
            return {"reflectance": model([reflectance, illumination])}
        signature = [reflectance, illumination]
    else:
        def serve(illumination, ratio_map):
            return {"illumination": model([illumination, ratio_map])}
        signature = [illumination, ratio_map]
    archive.add_endpoint("serve", serve, input_signature=signature)
    return _write(archive, out_dir)


def export_zero_dce(model: keras.Model, out_dir: str | os.PathLike) -> Path:
    """Zero-DCE++ as a SavedModel: ``enhance(image [None, None, None, 3]) -> {"enhanced", "curve_map"}``."""
    def enhance(image):
        enhanced, curve = model(image, return_curve=True)
        return {"enhanced": tf.clip_by_value(enhanced, 0.0, 1.0), "curve_map": curve}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SIGNATURE, enhance,
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="image")])
    return _write(archive, out_dir)


#: TFLite post-training quantisations (``--quantize``): float16 weights (computed in float32 on CPUs,
#: natively on a phone's GPU), dynamic-range (int8 weights, activations quantised per op at run time) and
#: full int8 (weights and activations, calibrated on a representative dataset; float32 input and output).
QUANTIZATIONS = ("float16", "dynamic", "int8")
#: Fixed input size of the GPU-delegate Zero-DCE++ variant: the delegate needs static shapes.
ZERO_DCE_GPU_SIZE = (512, 512)

Representative = Callable[[], Iterable[dict[str, np.ndarray]]]


def export_zero_dce_tflite(model: keras.Model, out_path: str | os.PathLike, quantize: str | None = None,
                           input_size: tuple[int, int] | None = None,
                           representative: Representative | None = None) -> Path:
    """Zero-DCE++ as a TFLite flatbuffer, signature ``serving_default``: ``image`` [1, H, W, 3] → ``enhanced``.

    ``input_size=None`` keeps H and W dynamic (resize the input tensor per image; CPU interpreters).
    A fixed ``input_size`` (e.g. :data:`ZERO_DCE_GPU_SIZE`) gives a model whose every op the TFLite GPU
    delegate runs: the downsample is strided slices (no GATHER, see
    :func:`kind_tf.models.zero_dce.downsample_bilinear`) and the upsample one RESIZE_BILINEAR
    (align_corners) plus a slice, which equals the Keras gathers to float rounding (tests/test_tflite.py).
    ``quantize``: None (float32) or one of :data:`QUANTIZATIONS`; int8 needs ``representative``, a
    callable yielding ``{"image": [1, H, W, 3] float32}`` of the export's size.
    """
    if input_size is None:
        def enhance(image):
            return {"enhanced": tf.clip_by_value(model(image), 0.0, 1.0)}
        shape = [1, None, None, 3]
    else:
        def enhance(image):
            return {"enhanced": tf.clip_by_value(_zero_dce_static(model, image), 0.0, 1.0)}
        shape = [1, *input_size, 3]
    flatbuffer = _convert([model], enhance, [tf.TensorSpec(shape, tf.float32, name="image")],
                          "serving_default", quantize, representative)
    return _write_flatbuffer(flatbuffer, out_path)


def _zero_dce_static(model: keras.Model, image: tf.Tensor) -> tf.Tensor:
    """Zero-DCE++'s forward pass for a static [1, H, W, 3] input with GPU-delegate ops only.

    The curve map's align_corners upsampling of the ceil(H/s)×ceil(W/s) map to the s-multiple grid is
    ResizeBilinear(align_corners=True) (TFLite RESIZE_BILINEAR) cut to H×W, instead of the model's
    gathers — the same sampling formula, so equal to float rounding.
    """
    s = model.scale_factor
    height, width = int(image.shape[1]), int(image.shape[2])
    curve = tf.cast(model.estimate_curve(model.downsample(image)), image.dtype)
    if s > 1:
        grid = (-(-height // s) * s, -(-width // s) * s)
        curve = tf.raw_ops.ResizeBilinear(images=curve, size=grid, align_corners=True)[:, :height, :width]
    x = image
    for _ in range(model.iterations):
        x = x + curve * (tf.square(x) - x)
    return x


def kind_tflite_function(kind: KinD, normalized: bool = False) -> Callable[..., dict[str, tf.Tensor]]:
    """The graph the KinD TFLite model holds: ``kind``'s pipeline for a given positive ratio.

    Exactly :meth:`KinD.forward_normalized`'s computation after :meth:`KinD.normalize_input` (the weights'
    normalisation, decom, restore, the denoise weight, adjust at the ratio map, fusion or recomposition per
    the recipe, clip), without the ``ratio ≤ 0`` ("auto") search: that search area-resizes (ResizeArea has no
    TFLite kernel) and branches, so the caller resolves "auto" first (:mod:`kind_tf.tflite_runtime` does).
    ``normalized=True`` leaves out the normalisation (the input is already normalised: a tiling caller
    normalises the whole image once, as :meth:`KinD.enhance_tiled` does).
    """
    def enhance(image, ratio):
        inputs = image if normalized else kind.normalize_input(image)
        stages = _kind_decompose(kind, inputs)
        enhanced, adjusted = _kind_finish(kind, inputs, **stages, ratio=ratio)
        return {"enhanced": enhanced, "illumination": adjusted, "reflectance": stages["restored"]}
    return enhance


def _kind_decompose(kind: KinD, image: tf.Tensor) -> dict[str, tf.Tensor]:
    """DecomNet and restoration on a normalised image: what the adjust step and the last step need."""
    _, illumination, restored, weight = kind._decompose_and_restore(image)
    return {"illumination": illumination, "restored": restored, "weight": weight}


def _kind_finish(kind: KinD, image: tf.Tensor, illumination: tf.Tensor, restored: tf.Tensor, weight: tf.Tensor,
                 ratio: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The adjust net at ``ratio`` and the recipe's last step (fusion or recomposition), clipped to [0, 1]:
    (enhanced, adjusted illumination)."""
    adjusted = kind._adjust(illumination, ratio)
    return tf.clip_by_value(kind._finish(image, illumination, restored, adjusted, weight), 0.0, 1.0), adjusted


def export_kind_tflite(kind: KinD, out_path: str | os.PathLike, quantize: str | None = None,
                       representative: Representative | None = None, normalized: bool = False) -> Path:
    """The whole KinD pipeline as one TFLite flatbuffer at dynamic size, signature ``enhance``:

        enhance(image: float32 [1, H, W, 3] in [0, 1], ratio: float32 [1] > 0) -> {"enhanced", "illumination",
        "reflectance"}

    H and W are dynamic (``interpreter.resize_tensor_input`` per image, then allocate). ``ratio`` must be
    resolved (> 0): "auto" is the caller's (see :func:`kind_tflite_function`). The last step is ``kind``'s
    (the weights' recipe unless overridden). ``quantize``: None (float32) or one of :data:`QUANTIZATIONS`;
    int8 needs ``representative`` (a callable yielding ``{"image", "ratio"}`` samples, e.g.
    :func:`kind_representative_dataset`). ``normalized``: see :func:`kind_tflite_function`.
    """
    enhance = kind_tflite_function(kind, normalized)
    models = [m for m in (kind.decom, kind.restore, kind.adjust) if m is not None]
    flatbuffer = _convert(models, enhance, [tf.TensorSpec([1, None, None, 3], tf.float32, name="image"),
                                            tf.TensorSpec([1], tf.float32, name="ratio")],
                          SIGNATURE, quantize, representative, legacy_quantizer=True)
    return _write_flatbuffer(flatbuffer, out_path)


def kind_representative_dataset(image_dir: str | os.PathLike, count: int = 16, side: int = 128,
                                ratios: tuple[float, float] = (1.0, 10.0), seed: int = 0) -> Representative:
    """int8 calibration samples: ``count`` low-light training images, each a random ``side``² crop of the image
    area-shrunk to ≤ 2·side px, with a log-uniform ratio in ``ratios`` (the auto search's range).

    Calibration fixes every activation's int8 range, so it must see the inputs' brightness and the ratios'
    spread; small crops keep it affordable on a CPU (the nets are convolutional: ranges barely depend on size).
    """
    from kind_tf.io import load_image

    chosen = _sample_images(image_dir, count, seed)

    def samples() -> Iterable[dict[str, np.ndarray]]:
        sample_rng = np.random.default_rng(seed)
        for path in chosen:
            image = load_image(path)[None]
            scale = min(1.0, 2 * side / max(image.shape[1:3]))
            size = (max(side, round(image.shape[1] * scale)), max(side, round(image.shape[2] * scale)))
            image = tf.image.resize(image, size, method="area").numpy()
            top = sample_rng.integers(0, image.shape[1] - side + 1)
            left = sample_rng.integers(0, image.shape[2] - side + 1)
            ratio = np.exp(sample_rng.uniform(np.log(ratios[0]), np.log(ratios[1])))
            yield {"image": np.ascontiguousarray(image[:, top:top + side, left:left + side], np.float32),
                   "ratio": np.array([ratio], np.float32)}
    return samples


def zero_dce_representative_dataset(image_dir: str | os.PathLike, size: tuple[int, int] = ZERO_DCE_GPU_SIZE,
                                    count: int = 32, seed: int = 0) -> Representative:
    """int8 calibration samples for Zero-DCE++: ``count`` low-light training images area-resized to ``size``."""
    from kind_tf.io import load_image

    chosen = _sample_images(image_dir, count, seed)

    def samples() -> Iterable[dict[str, np.ndarray]]:
        for path in chosen:
            yield {"image": tf.image.resize(load_image(path)[None], size, method="area").numpy()}
    return samples


def _sample_images(image_dir: str | os.PathLike, count: int, seed: int) -> list[Path]:
    paths = sorted(p for p in Path(image_dir).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    if not paths:
        raise ValueError(f"{image_dir}: no images for the int8 representative dataset")
    rng = np.random.default_rng(seed)
    return [paths[i] for i in rng.choice(len(paths), size=min(count, len(paths)), replace=False)]


def kind_tflite_stages(kind: KinD) -> dict[str, tuple[Callable[..., dict[str, tf.Tensor]], list]]:
    """The KinD pipeline on normalised inputs as two TFLite signatures, so a caller can resolve the "auto"
    ratio between them on the decomposition the output uses (as :meth:`KinD.forward` does):

        decompose(image [1, H, W, 3]) -> {"illumination", "restored", "weight"}     (DecomNet, restoration)
        finish(image, illumination, restored, weight, ratio [1]) -> {"enhanced"}       (adjust net, last step)

    Together exactly :func:`kind_tflite_function` with ``normalized=True`` (the same two helpers); each network
    is in one signature only (no duplicated weights). Used by :mod:`kind_tf.tflite_runtime`.
    """
    def decompose(image):
        return _kind_decompose(kind, image)

    def finish(image, illumination, restored, weight, ratio):
        return {"enhanced": _kind_finish(kind, image, illumination, restored, weight, ratio)[0]}

    def spec(channels: int, name: str) -> tf.TensorSpec:
        return tf.TensorSpec([1, None, None, channels], tf.float32, name=name)

    return {"decompose": (decompose, [spec(3, "image")]),
            "finish": (finish, [spec(3, "image"), spec(1, "illumination"), spec(3, "restored"),
                                spec(1, "weight"), tf.TensorSpec([1], tf.float32, name="ratio")])}


def export_kind_tflite_stages(kind: KinD, out_path: str | os.PathLike, quantize: str | None = None) -> Path:
    """:func:`kind_tflite_stages` as one flatbuffer (float32, or "float16" / "dynamic" quantisation)."""
    if quantize == "int8":
        raise ValueError("the staged KinD flatbuffer has no int8 variant (calibration covers one signature)")
    models = [m for m in (kind.decom, kind.restore, kind.adjust) if m is not None]
    return _write_flatbuffer(_convert_endpoints(models, kind_tflite_stages(kind), quantize, None), out_path)


def _convert(models: list[keras.Model], function: Callable, input_signature: list, signature: str,
             quantize: str | None, representative: Representative | None, legacy_quantizer: bool = False) -> bytes:
    """Trace ``function`` into a SavedModel (which freezes the Keras variables into constants: a concrete
    function converted directly keeps them as uninitialised resource variables) and convert it with the
    requested quantisation, built-in TFLite ops only. ``legacy_quantizer``: int8 through the calibration
    quantiser instead of the MLIR one (KinD needs it, see below; it breaks Zero-DCE++'s SQUARE)."""
    return _convert_endpoints(models, {signature: (function, input_signature)}, quantize, representative,
                              legacy_quantizer)


def _convert_endpoints(models: list[keras.Model], endpoints: dict[str, tuple[Callable, list]], quantize: str | None,
                       representative: Representative | None, legacy_quantizer: bool = False) -> bytes:
    """:func:`_convert` for one or more signatures (name → (function, input signature)) in one flatbuffer."""
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)} or None, got {quantize!r}")
    if quantize == "int8" and representative is None:
        raise ValueError("int8 quantisation needs a representative dataset (training images)")
    with tempfile.TemporaryDirectory() as saved_model:
        archive = keras.export.ExportArchive()
        for model in models:
            archive.track(model)
        for signature, (function, input_signature) in endpoints.items():
            archive.add_endpoint(signature, function, input_signature=input_signature)
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=list(endpoints))
        if quantize is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "int8":
            converter.representative_dataset = representative
            # The MLIR quantiser refuses KinD's adjust-net concat of I (range [0, 1]) with the ratio map (range
            # [1, 10]) ("same scale constraint"); the calibration quantiser requantises concat inputs instead.
            converter.experimental_new_quantizer = not legacy_quantizer
        return converter.convert()


def _write_flatbuffer(flatbuffer: bytes, out_path: str | os.PathLike) -> Path:
    from kind_tf.io import atomic_write

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_path) as handle:
        handle.write(flatbuffer)
    return out_path


def _write(archive: keras.export.ExportArchive, out_dir: str | os.PathLike) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: output folder exists and is not empty")
    archive.write_out(str(out_dir), verbose=False)
    return out_dir


def main(argv: list[str] | None = None, prog: str = "python -m kind_tf.export") -> int:
    """Run the export command line (also ``kind-tf export``); returns the exit code (0 done, 2 a user error).

    The sub-commands are the registered methods' exports (:attr:`kind_tf.methods.Method.exports`: ``kind``,
    ``stage``, ``zerodce``, ...); each gets ``--weights`` (default: its method's first preset) and its own
    arguments, and its ``run`` does the writing.
    """
    from kind_tf import methods
    from kind_tf.cli import script_help
    from kind_tf.presets import UnknownPresetError, preset_dir, preset_names, resolve_weights

    presets = ", ".join(preset_names())
    parser = argparse.ArgumentParser(prog=prog, description=script_help(__doc__, "-m kind_tf.export", prog),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    exports = methods.exports()
    for name, (method, exporter) in exports.items():
        command = commands.add_parser(name, help=exporter.help)
        default = f"default: {method.presets[0]}" if method.presets else "no default: give one"
        command.add_argument("--weights", default=None,
                             help=f"{method.title} weights folder or preset ({presets}; {default})")
        exporter.add_arguments(command)
    args = parser.parse_args(argv)
    method, exporter = exports[args.command]
    from kind_tf.backend import BackendError, require_tensorflow

    try:
        if exporter.needs_tensorflow:
            require_tensorflow(exporter.needs_tensorflow)
    except BackendError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        if args.weights is not None:
            weights = resolve_weights(args.weights)
        elif method.presets:
            weights = preset_dir(method.presets[0])
        else:
            raise ValueError(f"{method.name} has no shipped weights; pass --weights DIR")
    except (UnknownPresetError, ValueError) as error:
        print(f"error: --weights: {error}", file=sys.stderr)
        return 2
    try:
        out = exporter.run(args, weights)
    except (WeightsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
