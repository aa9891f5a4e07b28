"""Zero-DCE++ (Li et al. 2021) as a registered method.

Weights folder: :mod:`kind_tf.weights` with ``"method": "zerodce"``, one stage ``zerodce`` and the recipe
``{"scale_factor": 12}``, written by the zerodce training stage and by ``convert zero-dce-pth``. No ratio: the curve
estimation decides the brightening itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kind_tf.methods import Exporter, Importer, Method, register

MISSING_WEIGHTS = (
    "no Zero-DCE++ weights found at {path}. Train them (python train.py --stage zerodce --data DIR) or convert "
    "the official release (python -m kind_tf.convert zero-dce-pth Epoch99.pth --out DIR), then pass --weights DIR."
)


def load(weights_dir: Path, **options: Any) -> Any:
    from kind_tf.inference import ZeroDCE

    return ZeroDCE.from_weights(weights_dir, **options)


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pth", help="path of the .pth file (read without torch)")
    parser.add_argument("--out", required=True, help="output weights folder")


def _import(args: argparse.Namespace) -> Path:
    from kind_tf.convert.zero_dce_pth import convert_zero_dce_pth

    return convert_zero_dce_pth(args.pth, args.out)


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, help="SavedModel folder to create")
    parser.add_argument("--tflite", default=None, help="TFLite file to write")
    parser.add_argument("--quantize", default=None, choices=["float16", "dynamic", "int8"],
                        help="TFLite post-training quantisation (default: float32)")
    parser.add_argument("--gpu", action="store_true",
                        help="fixed 1×512×512×3 input, every op GPU-delegate compatible (default: dynamic size)")
    parser.add_argument("--representative-data", default=None, metavar="DIR",
                        help="int8 calibration images: a folder of images or a pairs folder (its low/)")


def _export(args: argparse.Namespace, weights_dir: Path) -> str:
    """SavedModel (--out) and/or TFLite (--tflite, optionally quantised and/or fixed-size for the GPU delegate)."""
    from kind_tf.export import (
        ZERO_DCE_GPU_SIZE,
        export_zero_dce,
        export_zero_dce_tflite,
        zero_dce_representative_dataset,
    )
    from kind_tf.inference import ZeroDCE

    if not (args.out or args.tflite):
        raise ValueError("give --out DIR (SavedModel) and/or --tflite FILE")
    if (args.quantize or args.gpu) and not args.tflite:
        raise ValueError("--quantize and --gpu apply to --tflite")
    size = ZERO_DCE_GPU_SIZE if args.gpu else None
    representative = None
    if args.quantize == "int8":
        if not args.representative_data:
            raise ValueError("--quantize int8 needs --representative-data DIR (training images)")
        data = Path(args.representative_data)
        representative = zero_dce_representative_dataset(data / "low" if (data / "low").is_dir() else data,
                                                         size=size or ZERO_DCE_GPU_SIZE)
    model = ZeroDCE.from_weights(weights_dir).model
    written = []
    if args.out:
        written.append(export_zero_dce(model, args.out))
    if args.tflite:
        written.append(export_zero_dce_tflite(model, args.tflite, args.quantize, size, representative))
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
    missing_weights=MISSING_WEIGHTS,
    weights_hint="convert the official release (python -m kind_tf.convert zero-dce-pth Epoch99.pth --out DIR), "
                 "then pass --weights DIR",
))
