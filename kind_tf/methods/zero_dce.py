"""Zero-DCE++ (Li et al. 2021) as a registered method.

Weights folder: ``config.json`` with ``"model": "zero_dce"`` + ``model.weights.h5``, written by the
zerodce training stage (ZeroDCETask.export) and by ``convert zero-dce-pth``. No ratio: the curve
estimation decides the brightening itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kind_tf.methods import Exporter, Importer, Method, register

MODEL_NAME = "zero_dce"   # kind_tf.convert.zero_dce_pth.MODEL_NAME (not imported: it loads Keras)

MISSING_WEIGHTS = (
    "no Zero-DCE++ weights found at {path}. Train them (python train.py --stage zerodce --data DIR) or convert "
    "the official release (python -m kind_tf.convert zero-dce-pth Epoch99.pth --out DIR), then pass --weights DIR."
)


def load(weights_dir: Path, **options: Any) -> Any:
    from kind_tf.inference import ZeroDCE

    return ZeroDCE.from_weights(weights_dir, **options)


def recognizes(config: dict[str, Any]) -> bool:
    return config.get("model") == MODEL_NAME


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pth", help="path of the .pth file (read without torch)")
    parser.add_argument("--out", required=True, help="output weights folder")


def _import(args: argparse.Namespace) -> Path:
    from kind_tf.convert.zero_dce_pth import convert_zero_dce_pth

    return convert_zero_dce_pth(args.pth, args.out)


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, help="SavedModel folder to create")
    parser.add_argument("--tflite", default=None, help="TFLite file to write")


def _export(args: argparse.Namespace, weights_dir: Path) -> str:
    from kind_tf.export import export_zero_dce, export_zero_dce_tflite
    from kind_tf.inference import ZeroDCE

    if not (args.out or args.tflite):
        raise ValueError("give --out DIR (SavedModel) and/or --tflite FILE")
    model = ZeroDCE.from_weights(weights_dir).model
    written = []
    if args.out:
        written.append(export_zero_dce(model, args.out))
    if args.tflite:
        written.append(export_zero_dce_tflite(model, args.tflite))
    return ", ".join(map(str, written))


METHOD = register(Method(
    name="zerodce",
    label="Zero-DCE++",
    description="Zero-DCE++: zero-reference deep curve estimation (Li et al. 2021); no ratio, no tiling",
    loader=load,
    options=("precision", "jit"),
    stages=("zerodce",),
    importers={"zero-dce-pth": Importer("official Zero-DCE++ .pth → kind-tf weights folder", _import_arguments,
                                        _import)},
    exports={"zerodce": Exporter("Zero-DCE++ as a SavedModel (--out) and/or TFLite (--tflite)", _export_arguments,
                                 _export)},
    accepts_ratio=False,
    recognizes=recognizes,
    missing_weights=MISSING_WEIGHTS,
    weights_hint="convert the official release (python -m kind_tf.convert zero-dce-pth Epoch99.pth --out DIR), "
                 "then pass --weights DIR",
))
