#!/usr/bin/env python
"""Enhance dark photos with kind-tf.

    python enhance.py                       # the bundled sample → enhanced/
    python enhance.py photos/ a.jpg "b/*.png" -o out/ --ratio auto --save-intermediates
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NO_WEIGHTS_HELP = (
    "no weights found at {path}. Get weights by training them "
    "(python train.py --stage decom|restore|adjust --data DIR --run-dir RUN; weights land in RUN/weights) "
    "or by converting the original KinD release "
    "(python -m kind_tf.convert kind-tf1 --decom DIR --adjust DIR [--restore DIR] --out DIR), "
    "then pass --weights DIR."
)

ZERO_DCE_HELP = (
    "no Zero-DCE++ weights found at {path}. Train them (python train.py --stage zerodce --data DIR) or convert "
    "the official release (python -m kind_tf.convert zero-dce-pth Epoch99.pth --out DIR), then pass --weights DIR."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", help="image files, folders or glob patterns (default: bundled sample)")
    parser.add_argument("-o", "--out-dir", default="enhanced", help="output folder (default: enhanced/)")
    parser.add_argument("--ratio", default="5.0",
                        help="brightening ratio for KinD's adjust net, or 'auto' (from the image's own illumination)")
    parser.add_argument("--weights", default=None,
                        help="weights folder (default: checkpoints/kind, or checkpoints/zero_dce for --model zerodce)")
    parser.add_argument("--model", default="kind", choices=["kind", "zerodce"],
                        help="kind (default) or zerodce (Zero-DCE++; --ratio and tiling do not apply)")
    parser.add_argument("--save-intermediates", action="store_true",
                        help="also save R, I, restored R, adjusted I and a side-by-side grid")
    parser.add_argument("--overwrite", action="store_true", help="allow an output to replace an input file")
    parser.add_argument("--tile", type=int, default=None,
                        help="process in tiles of this many pixels (multiple of 16); default: automatic "
                             "when the image would exceed --max-memory")
    parser.add_argument("--tile-overlap", type=int, default=None,
                        help="context pixels around each tile (multiple of 16, default 160 > receptive field)")
    parser.add_argument("--max-memory", type=float, default=None,
                        help="activation memory budget in MB that triggers automatic tiling (default 1500)")
    parser.add_argument("--no-normalize", action="store_true",
                        help="skip the original's per-image min-max stretch of the input")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from kind_tf.enhance_job import SAMPLE_IMAGE, enhance_files
    from kind_tf.inference import KinD, ZeroDCE, default_weights_dir, default_zero_dce_weights_dir, parse_ratio
    from kind_tf.weights import WeightsError

    try:
        parse_ratio(args.ratio)
    except ValueError as error:
        print(f"error: --ratio: {error}", file=sys.stderr)
        return 2
    zero_dce = args.model == "zerodce"
    default = default_zero_dce_weights_dir() if zero_dce else default_weights_dir()
    weights = Path(args.weights) if args.weights else default
    if not (weights / "config.json").is_file():
        help_text = ZERO_DCE_HELP if zero_dce else NO_WEIGHTS_HELP
        print("error: " + help_text.format(path=weights), file=sys.stderr)
        return 2
    try:
        if zero_dce:
            model = ZeroDCE.from_weights(weights)
        else:
            model = KinD.from_weights(weights, normalize=not args.no_normalize)
    except (WeightsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    tiling = {"tile": args.tile if args.tile is not None else "auto"}
    if args.tile_overlap is not None:
        tiling["tile_overlap"] = args.tile_overlap
    if args.max_memory is not None:
        tiling["max_memory_mb"] = args.max_memory
    if args.tile is not None and (args.tile <= 0 or args.tile % 16) or \
            args.tile_overlap is not None and (args.tile_overlap < 0 or args.tile_overlap % 16):
        print("error: --tile and --tile-overlap must be positive multiples of 16", file=sys.stderr)
        return 2
    inputs = args.inputs or [str(SAMPLE_IMAGE)]
    report = enhance_files(model, inputs, Path(args.out_dir), args.ratio, overwrite=args.overwrite,
                           save_intermediates=args.save_intermediates, options=tiling)
    print(f"wrote {len(report.written)} file(s) to {args.out_dir}"
          + (f"; {len(report.errors)} problem(s), see above" if report.errors else ""), file=sys.stderr)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
