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
from kind_tf.weights import STAGES, WeightsError, load_stage

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
    """Run the export command line (also ``kind-tf export``); returns the exit code (0 done, 2 a user error)."""
    from kind_tf.cli import script_help
    from kind_tf.presets import UnknownPresetError, default_preset, preset_dir, preset_names, resolve_weights

    presets = ", ".join(preset_names())
    parser = argparse.ArgumentParser(prog=prog, description=script_help(__doc__, "-m kind_tf.export", prog),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    kind = commands.add_parser("kind", help="the whole KinD pipeline with the 'enhance' signature")
    kind.add_argument("--weights", default=None,
                      help=f"kind-tf weights folder or preset ({presets}; default: kind-sice, checkpoints/kind)")
    kind.add_argument("--out", required=True, help="SavedModel folder to create")
    kind.add_argument("--dtype", default="float32", choices=["float32", "uint8"])
    kind.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=None,
                      help="the original fusion (--fusion) or R_restored × I_adjusted (--no-fusion); "
                           "default: the weights' recipe")
    stage = commands.add_parser("stage", help="one KinD stage network with a 'serve' signature")
    stage.add_argument("--stage", required=True, choices=STAGES)
    stage.add_argument("--weights", default=None,
                       help=f"kind-tf weights folder or preset ({presets}; default: kind-sice, checkpoints/kind)")
    stage.add_argument("--out", required=True)
    zero_dce = commands.add_parser("zerodce", help="Zero-DCE++ as a SavedModel (--out) and/or TFLite (--tflite)")
    zero_dce.add_argument("--weights", default=None,
                          help=f"Zero-DCE++ weights folder or preset ({presets}; "
                               "default: zero-dce-sice, checkpoints/zero_dce)")
    zero_dce.add_argument("--out", default=None, help="SavedModel folder to create")
    zero_dce.add_argument("--tflite", default=None, help="TFLite file to write")
    args = parser.parse_args(argv)
    from kind_tf.backend import BackendError, require_tensorflow

    try:
        require_tensorflow("SavedModel / TFLite export")
    except BackendError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        method = "zerodce" if args.command == "zerodce" else "kind"
        weights = preset_dir(default_preset(method).name) if args.weights is None else resolve_weights(args.weights)
    except UnknownPresetError as error:
        print(f"error: --weights: {error}", file=sys.stderr)
        return 2
    try:
        if args.command == "kind":
            out = export_kind(KinD.from_weights(weights, fusion=args.fusion), args.out, args.dtype)
        elif args.command == "zerodce":
            from kind_tf.inference import ZeroDCE

            if not (args.out or args.tflite):
                raise ValueError("give --out DIR (SavedModel) and/or --tflite FILE")
            model = ZeroDCE.from_weights(weights).model
            written = []
            if args.out:
                written.append(export_zero_dce(model, args.out))
            if args.tflite:
                written.append(export_zero_dce_tflite(model, args.tflite))
            out = ", ".join(map(str, written))
        else:
            out = export_stage(load_stage(weights, args.stage), args.stage, args.out)
    except (WeightsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote SavedModel to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
