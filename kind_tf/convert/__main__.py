"""``python -m kind_tf.convert``: import original weights into kind-tf's format.

    python -m kind_tf.convert kind-tf1 --decom DIR --adjust DIR [--restore DIR] --out DIR
    python -m kind_tf.convert kindpp-tf1 --decom DIR --illu DIR [--restore DIR] --out DIR
    python -m kind_tf.convert zero-dce-pth PATH.pth --out DIR
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None, prog: str = "python -m kind_tf.convert") -> int:
    """Run the converter command line (also ``kind-tf convert``); returns the exit code (0 done, 2 a user error)."""
    from kind_tf.cli import script_help

    parser = argparse.ArgumentParser(prog=prog, description=script_help(__doc__, "-m kind_tf.convert", prog),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    kind = commands.add_parser("kind-tf1", help="original KinD TF1 checkpoints → kind-tf weights folder")
    kind.add_argument("--decom", help="folder (or ckpt prefix) of the DecomNet checkpoint")
    kind.add_argument("--adjust", help="folder (or ckpt prefix) of the Illumination_adjust_net checkpoint")
    kind.add_argument("--restore", help="folder (or ckpt prefix) of a Restoration_net checkpoint")
    kind.add_argument("--out", required=True, help="output weights folder")
    kindpp = commands.add_parser("kindpp-tf1", help="original KinD++ TF1 checkpoints → kind-tf weights folder")
    kindpp.add_argument("--decom", required=True, help="folder (or ckpt prefix) of the DecomNet checkpoint")
    kindpp.add_argument("--illu", required=True, help="folder (or ckpt prefix) of the I_enhance_Net checkpoint")
    kindpp.add_argument("--restore", help="folder (or ckpt prefix) of a Denoise_Net (MSIA) checkpoint")
    kindpp.add_argument("--out", required=True, help="output weights folder")
    zero_dce = commands.add_parser("zero-dce-pth", help="official Zero-DCE++ .pth → kind-tf weights folder")
    zero_dce.add_argument("pth", help="path of the .pth file (read without torch)")
    zero_dce.add_argument("--out", required=True, help="output weights folder")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own start-up log lines")
    args = parser.parse_args(argv)
    from kind_tf._quiet import start_backend

    start_backend(args.verbose)
    from kind_tf.backend import require_tensorflow

    try:
        if args.command in ("kind-tf1", "kindpp-tf1"):
            require_tensorflow("importing TF1 checkpoints (tf.train.load_checkpoint)")
        if args.command == "kind-tf1":
            from kind_tf.convert.kind_tf1 import convert_kind_tf1

            out = convert_kind_tf1(args.out, decom=args.decom, adjust=args.adjust, restore=args.restore)
        elif args.command == "kindpp-tf1":
            from kind_tf.convert.kindpp_tf1 import convert_kindpp_tf1

            out = convert_kindpp_tf1(args.out, decom=args.decom, illu=args.illu, restore=args.restore)
        else:
            from kind_tf.convert.zero_dce_pth import convert_zero_dce_pth

            out = convert_zero_dce_pth(args.pth, args.out)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
