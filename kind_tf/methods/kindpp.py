"""KinD++ (Zhang et al. 2021) as a registered method.

Weights folder: :mod:`kind_tf.weights` with ``"method": "kindpp"`` and KinD's stage names (decom, adjust =
``I_enhance_Net``, restore = the MSIA ``Denoise_Net``), written by ``convert kindpp-tf1`` and by the
training stages kindpp_decom / kindpp_illu / kindpp_restore (kind_tf.training.tasks.kindpp). Its decom and
illumination networks are KinD's classes. Export: the whole pipeline as a SavedModel with KinD's
``enhance`` (image, ratio) signature.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kind_tf.methods import Exporter, Importer, Method, register
from kind_tf.methods.kind import _export_arguments


def load(weights_dir: Path, **options: Any) -> Any:
    from kind_tf.kindpp import KinDPlusPlus

    return KinDPlusPlus.from_weights(weights_dir, **options)


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--decom", required=True, help="folder (or ckpt prefix) of the DecomNet checkpoint")
    parser.add_argument("--illu", required=True, help="folder (or ckpt prefix) of the I_enhance_Net checkpoint")
    parser.add_argument("--restore", help="folder (or ckpt prefix) of a Denoise_Net (MSIA) checkpoint")
    parser.add_argument("--out", required=True, help="output weights folder")


def _import(args: argparse.Namespace) -> Path:
    from kind_tf.convert.kindpp_tf1 import convert_kindpp_tf1

    return convert_kindpp_tf1(args.out, decom=args.decom, illu=args.illu, restore=args.restore)


def _export(args: argparse.Namespace, weights_dir: Path) -> Path:
    from kind_tf.export import export_kind
    from kind_tf.kindpp import KinDPlusPlus

    return export_kind(KinDPlusPlus.from_weights(weights_dir, fusion=args.fusion), args.out, args.dtype)


METHOD = register(Method(
    name="kindpp",
    label="KinD++",
    description="KinD++: KinD with the multi-scale illumination-attention restoration (Zhang et al. 2021)",
    loader=load,
    options=("precision", "jit", "ratio", "fusion", "normalize", "adjustment"),
    stages=("kindpp_decom", "kindpp_illu", "kindpp_restore"),
    importers={"kindpp-tf1": Importer("original KinD++ TF1 checkpoints → kind-tf weights folder", _import_arguments,
                                      _import,
                                      needs_tensorflow="importing TF1 checkpoints (tf.train.load_checkpoint)")},
    exports={"kindpp": Exporter("the whole KinD++ pipeline with the 'enhance' signature", _export_arguments,
                                _export)},
    accepts_ratio=True,
    missing_weights="no KinD++ weights found at {path}. Train them (python train.py --stage kindpp_decom|kindpp_illu"
                    "|kindpp_restore --data DIR --run-dir RUN; weights land in RUN/weights_kindpp) or convert the "
                    "original release (python -m kind_tf.convert kindpp-tf1 --decom DIR --illu DIR [--restore DIR] "
                    "--out DIR), then pass --weights DIR.",
    weights_hint="convert the original release (python -m kind_tf.convert kindpp-tf1 ...), then pass --weights DIR",
))
