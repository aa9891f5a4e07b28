"""SavedModel export: the whole KinD pipeline, each single stage, and (when present) Zero-DCE++.

    python -m kind_tf.export kind [--weights DIR] --out DIR [--dtype float32|uint8] [--fusion|--no-fusion]
    python -m kind_tf.export stage --stage decom|restore|adjust [--weights DIR] --out DIR
    python -m kind_tf.export zerodce [--weights DIR] [--out DIR] [--tflite FILE.tflite]

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
from pathlib import Path

import keras

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


def export_zero_dce_tflite(model: keras.Model, out_path: str | os.PathLike) -> Path:
    """Zero-DCE++ as a TFLite flatbuffer with a dynamic input [1, H, W, 3] (resize the input tensor per image).

    Built-in TFLite ops only (bilinear resizes, gather for the padding, depthwise convs), float32.
    """
    # Going through a SavedModel freezes the Keras variables into constants (a concrete function
    # converted directly keeps them as uninitialised resource variables).
    with tempfile.TemporaryDirectory() as saved_model:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", lambda image: {"enhanced": tf.clip_by_value(model(image), 0.0, 1.0)},
                             input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32, name="image")])
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=["serving_default"])
        flatbuffer = converter.convert()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_bytes(flatbuffer)
    os.replace(tmp, out_path)
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
    print(f"wrote {'SavedModel to ' if exporter.needs_tensorflow else ''}{out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
