"""KinD (Zhang et al. 2019) as a registered method: everything kind-tf's entry points need to know about it.

Weights folder: :mod:`kind_tf.weights` with ``"method": "kind"`` and the stages decom / restore / adjust,
written by the decom/restore/adjust training stages and by ``convert kind-tf1``.
Imports happen inside the functions: registering must not load Keras.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kind_tf.methods import Exporter, Importer, Method, register
from kind_tf.registry import Registry

# The restore stage's networks (train.py --backbone NAME → a kind_tf.weights.NETWORKS class name). A new
# backbone is ``BACKBONES.register(name, class_name)`` beside its network's NETWORKS entry.
BACKBONES: Registry[str] = Registry("backbone")
BACKBONES.register("kind", "RestorationNet")
BACKBONES.register("improved_unet", "ImprovedUNet")

MISSING_WEIGHTS = (
    "no weights found at {path}. Get weights by training them "
    "(python train.py --stage decom|restore|adjust --data DIR --run-dir RUN; weights land in RUN/weights) "
    "or by converting the original KinD release "
    "(python -m kind_tf.convert kind-tf1 --decom DIR --adjust DIR [--restore DIR] --out DIR), "
    "then pass --weights DIR."
)


def load(weights_dir: Path, **options: Any) -> Any:
    from kind_tf.inference import KinD

    return KinD.from_weights(weights_dir, **options)


# --- convert kind-tf1 -----------------------------------------------------------------------------------
def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--decom", help="folder (or ckpt prefix) of the DecomNet checkpoint")
    parser.add_argument("--adjust", help="folder (or ckpt prefix) of the Illumination_adjust_net checkpoint")
    parser.add_argument("--restore", help="folder (or ckpt prefix) of a Restoration_net checkpoint")
    parser.add_argument("--out", required=True, help="output weights folder")


def _import(args: argparse.Namespace) -> Path:
    from kind_tf.convert.kind_tf1 import convert_kind_tf1

    return convert_kind_tf1(args.out, decom=args.decom, adjust=args.adjust, restore=args.restore)


# --- export kind / export stage -------------------------------------------------------------------------
def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, help="SavedModel folder to create")
    parser.add_argument("--tflite", default=None,
                        help="TFLite file to write: the whole pipeline, signature 'enhance'(image [1, H, W, 3], "
                             "ratio [1] > 0), dynamic size")
    parser.add_argument("--quantize", default=None, choices=["float16", "dynamic", "int8"],
                        help="TFLite post-training quantisation (default: float32)")
    parser.add_argument("--representative-data", default=None, metavar="DIR",
                        help="int8 calibration images: a folder of images or a pairs folder (its low/)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "uint8"])
    parser.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=None,
                        help="the original fusion (--fusion) or R_restored × I_adjusted (--no-fusion); "
                             "default: the weights' recipe")


def _export(args: argparse.Namespace, weights_dir: Path) -> str:
    """SavedModel (--out) and/or TFLite (--tflite; quantised with --quantize) of the weights' pipeline."""
    from kind_tf.export import export_kind, export_kind_tflite, kind_representative_dataset
    from kind_tf.inference import KinD

    if not (args.out or args.tflite):
        raise ValueError("give --out DIR (SavedModel) and/or --tflite FILE")
    if args.quantize and not args.tflite:
        raise ValueError("--quantize applies to --tflite")
    representative = None
    if args.quantize == "int8":
        if not args.representative_data:
            raise ValueError("--quantize int8 needs --representative-data DIR (training images)")
        data = Path(args.representative_data)
        representative = kind_representative_dataset(data / "low" if (data / "low").is_dir() else data)
    kind = KinD.from_weights(weights_dir, fusion=args.fusion)
    written = []
    if args.out:
        written.append(export_kind(kind, args.out, args.dtype))
    if args.tflite:
        written.append(export_kind_tflite(kind, args.tflite, args.quantize, representative))
    return ", ".join(map(str, written))


def _stage_arguments(parser: argparse.ArgumentParser) -> None:
    from kind_tf.weights import STAGES

    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--out", required=True)


def _export_stage(args: argparse.Namespace, weights_dir: Path) -> Path:
    from kind_tf.export import export_stage
    from kind_tf.weights import load_stage

    return export_stage(load_stage(weights_dir, args.stage), args.stage, args.out)


METHOD = register(Method(
    name="kind",
    label="KinD",
    description="KinD: decomposition, reflectance restoration, illumination adjustment (Zhang et al. 2019)",
    loader=load,
    options=("precision", "jit", "ratio", "fusion", "normalize"),
    stages=("decom", "restore", "adjust"),
    backbones=BACKBONES,
    importers={"kind-tf1": Importer("original KinD TF1 checkpoints → kind-tf weights folder", _import_arguments,
                                    _import, needs_tensorflow="importing TF1 checkpoints (tf.train.load_checkpoint)")},
    exports={"kind": Exporter("the whole KinD pipeline with the 'enhance' signature", _export_arguments, _export),
             "stage": Exporter("one KinD stage network with a 'serve' signature", _stage_arguments, _export_stage)},
    accepts_ratio=True,
    missing_weights=MISSING_WEIGHTS,
    weights_hint="train them (python train.py ...) or convert the original release "
                 "(python -m kind_tf.convert kind-tf1 ...), then pass --weights DIR",
))
