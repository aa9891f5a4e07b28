"""KinD (Zhang et al. 2019) as a registered method: everything kind-tf's entry points need to know about it.

Weights folder: kind_tf.weights' format (``config.json`` with ``"format": "kind_tf.kind"`` and a
``stages`` table), written by the decom/restore/adjust training stages and by ``convert kind-tf1``.
Imports happen inside the functions: registering must not load Keras.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kind_tf.methods import Exporter, Importer, Method, register

FORMAT = "kind_tf.kind"          # kind_tf.weights.FORMAT (not imported: that module loads Keras)
PIPELINE = "kind_tf.inference.KinD"

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


def pipeline_of(config: dict[str, Any]) -> str | None:
    """The pipeline a kind_tf.weights folder records (save_weights' ``metadata``: converters write
    ``{"pipeline": "kind_tf.kindpp.KinDPlusPlus"}``), or None for a folder that records none."""
    metadata = config.get("metadata")
    pipeline = metadata.get("pipeline") if isinstance(metadata, dict) else None
    return pipeline or config.get("pipeline")


def restore_class(config: dict[str, Any]) -> str | None:
    stages = config.get("stages")
    restore = stages.get("restore") if isinstance(stages, dict) else None
    return restore.get("class") if isinstance(restore, dict) else None


def recognizes(config: dict[str, Any]) -> bool:
    """A kind_tf.weights folder that names no other pipeline (KinD++ folders record theirs) and whose restore
    stage, if any, is not KinD++'s MSIANet."""
    return (config.get("format") == FORMAT and pipeline_of(config) in (None, PIPELINE)
            and restore_class(config) != "MSIANet")


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
    parser.add_argument("--out", required=True, help="SavedModel folder to create")
    parser.add_argument("--dtype", default="float32", choices=["float32", "uint8"])
    parser.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=None,
                        help="the original fusion (--fusion) or R_restored × I_adjusted (--no-fusion); "
                             "default: the weights' recipe")


def _export(args: argparse.Namespace, weights_dir: Path) -> Path:
    from kind_tf.export import export_kind
    from kind_tf.inference import KinD

    return export_kind(KinD.from_weights(weights_dir, fusion=args.fusion), args.out, args.dtype)


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
    importers={"kind-tf1": Importer("original KinD TF1 checkpoints → kind-tf weights folder", _import_arguments,
                                    _import, needs_tensorflow="importing TF1 checkpoints (tf.train.load_checkpoint)")},
    exports={"kind": Exporter("the whole KinD pipeline with the 'enhance' signature", _export_arguments, _export),
             "stage": Exporter("one KinD stage network with a 'serve' signature", _stage_arguments, _export_stage)},
    accepts_ratio=True,
    recognizes=recognizes,
    missing_weights=MISSING_WEIGHTS,
    weights_hint="train them (python train.py ...) or convert the original release "
                 "(python -m kind_tf.convert kind-tf1 ...), then pass --weights DIR",
))
