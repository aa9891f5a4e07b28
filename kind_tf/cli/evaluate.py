"""Evaluate enhancement methods on a paired (low/ + high/) or plain folder of images.
(evaluate.py and ``kind-tf evaluate`` both run this module's main().)

    python evaluate.py --method gamma,he,clahe --data ../shared/data/sice_pairs/eval --out eval/
    python evaluate.py --method kind --ratio 5.0 --ratio auto --ratio gt-mean --weights DIR --data DIR
    python evaluate.py --method kind --method zerodce --weights kind=DIR --weights zerodce=DIR2 --data photos/

A folder with low/ and high/ (paired by file name) gets PSNR, SSIM, LOE and NIQE; any other folder of
images gets the no-reference metrics NIQE and LOE. LOE always compares the enhanced image with the
method's input. Writes per_image.csv, summary.json, summary.md and comparison grids to --out.
Exit codes: 0 done, 2 a user error (one 'error:' line), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from kind_tf import methods
from kind_tf.cli import script_help
from kind_tf.presets import preset_names

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SCRIPT = "evaluate.py"

# For the help text only (importing kind_tf.baselines would load Keras); the library validates names. The
# learned methods come from the registry when the parser is built.
BASELINE_NAMES = ("identity", "gamma", "he", "clahe")
METHODS = (*methods.names(), *BASELINE_NAMES)


def build_parser(prog: str = SCRIPT) -> argparse.ArgumentParser:
    """evaluate's options; ``prog`` names the command in usage lines and examples (evaluate.py or kind-tf evaluate)."""
    learned = methods.names()
    with_ratio = ", ".join(methods.get(name).name for name in learned if methods.get(name).accepts_ratio)
    parser = argparse.ArgumentParser(prog=prog, description=script_help(__doc__, SCRIPT, prog),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", action="append", required=True, metavar="NAME",
                        help="method(s) to evaluate, repeatable or comma-separated: "
                             f"{', '.join((*learned, *BASELINE_NAMES))}")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="folder with low/ and high/ (paired by file name), or a folder of images (no reference)")
    parser.add_argument("--weights", action="append", metavar="[METHOD=]DIR",
                        help=f"weights folder or preset ({', '.join(preset_names())}) of the learned method "
                             f"({', '.join(learned)}; default: the method's preset); with several learned "
                             "methods use METHOD=DIR for each, e.g. kind=DIR")
    parser.add_argument("--ratio", action="append", metavar="R",
                        help=f"ratio protocol(s) of the methods with a ratio ({with_ratio}), repeatable or "
                             "comma-separated: a fixed number "
                             "(default: the weights' recipe), "
                             "'auto' (from the input) or 'gt-mean' (from the ground truth: a diagnostic)")
    parser.add_argument("--out", default="evaluation", metavar="DIR", help="output folder (default: evaluation/)")
    parser.add_argument("--grid", type=int, default=4, metavar="N",
                        help="comparison grids for the first N images (default 4; 0 for none)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate only the first N images")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                        help="compute precision of the learned networks (default float32; bfloat16 is several "
                             "times faster on CPUs with AMX/AVX512-BF16, PSNR change < 0.01 dB)")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own start-up log lines")
    parser.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=None,
                        help="KinD: --fusion ends with the original's fusion with the input, --no-fusion returns "
                             "R_restored × I_adjusted; default: the weights' recipe")
    return parser


def main(argv: list[str] | None = None, prog: str = SCRIPT) -> int:
    """Run evaluate; returns the exit code (0 done, 2 a user error, 130 interrupted).

    summary.json records the command as it was typed (``python evaluate.py ...`` or ``kind-tf evaluate ...``).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(prog).parse_args(argv)
    from kind_tf._quiet import start_backend

    start_backend(args.verbose)
    from kind_tf.evaluation import EvaluationError, markdown_table, run_evaluation

    typed = ["python", SCRIPT] if prog == SCRIPT else prog.split()
    # User errors are one "error:" line and exit code 2, never a traceback (as every kind-tf command).
    try:
        summary = run_evaluation(args.method, args.data, command=shlex.join([*typed, *argv]),
                                 weights=args.weights, ratio=args.ratio, out=args.out, grid=args.grid,
                                 limit=args.limit, precision=args.precision, fusion=args.fusion)
    except EvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print("\n".join(markdown_table(summary)))
    return 0
