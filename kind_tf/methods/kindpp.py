"""KinD++ (Zhang et al. 2021) as a registered method.

Weights folder: kind_tf.weights' format like KinD's, written by ``convert kindpp-tf1``, whose config.json
records ``"metadata": {"pipeline": "kind_tf.kindpp.KinDPlusPlus"}`` (its restore stage is an MSIANet) — that is how
:func:`kind_tf.methods.detect` tells it from a KinD folder. No training stage of its own yet (its decom
and illumination networks are KinD's; the MSIA restoration is not a registered restore backbone), and no
export yet.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kind_tf.methods import Importer, Method, register
from kind_tf.methods.kind import FORMAT, pipeline_of, restore_class

PIPELINE = "kind_tf.kindpp.KinDPlusPlus"   # what kind_tf.convert.kindpp_tf1 records in config.json


def load(weights_dir: Path, **options: Any) -> Any:
    from kind_tf.kindpp import KinDPlusPlus

    return KinDPlusPlus.from_weights(weights_dir, **options)


def recognizes(config: dict[str, Any]) -> bool:
    """A kind_tf.weights folder recording the KinD++ pipeline, or (recording none) with an MSIANet restore."""
    if config.get("format") != FORMAT:
        return False
    pipeline = pipeline_of(config)
    return pipeline == PIPELINE or pipeline is None and restore_class(config) == "MSIANet"


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--decom", required=True, help="folder (or ckpt prefix) of the DecomNet checkpoint")
    parser.add_argument("--illu", required=True, help="folder (or ckpt prefix) of the I_enhance_Net checkpoint")
    parser.add_argument("--restore", help="folder (or ckpt prefix) of a Denoise_Net (MSIA) checkpoint")
    parser.add_argument("--out", required=True, help="output weights folder")


def _import(args: argparse.Namespace) -> Path:
    from kind_tf.convert.kindpp_tf1 import convert_kindpp_tf1

    return convert_kindpp_tf1(args.out, decom=args.decom, illu=args.illu, restore=args.restore)


METHOD = register(Method(
    name="kindpp",
    label="KinD++",
    description="KinD++: KinD with the multi-scale illumination-attention restoration (Zhang et al. 2021)",
    loader=load,
    options=("precision", "jit", "ratio", "fusion", "normalize", "adjustment"),
    stages=(),
    importers={"kindpp-tf1": Importer("original KinD++ TF1 checkpoints → kind-tf weights folder", _import_arguments,
                                      _import,
                                      needs_tensorflow="importing TF1 checkpoints (tf.train.load_checkpoint)")},
    accepts_ratio=True,
    recognizes=recognizes,
    missing_weights="no KinD++ weights found at {path}. Convert the original release (python -m kind_tf.convert "
                    "kindpp-tf1 --decom DIR --illu DIR [--restore DIR] --out DIR), then pass --weights DIR.",
    weights_hint="convert the original release (python -m kind_tf.convert kindpp-tf1 ...), then pass --weights DIR",
))
