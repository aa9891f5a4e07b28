"""Enhance dark photos with kind-tf (enhance.py and ``kind-tf enhance`` both run this module's main()).

    python enhance.py                       # the bundled sample → enhanced/
    python enhance.py photos/ a.jpg "b/*.png" -o out/ --ratio auto --save-intermediates
    python enhance.py photos/ --precision bfloat16          # ~4x faster on CPUs with AVX512_BF16/AMX
    python enhance.py photos/ --weights zero-dce-sice       # a shipped preset (or any weights folder)

Speed options (measured in benchmarks/README.md): --precision bfloat16 runs the networks in bfloat16
(outputs stay float32; PSNR change < 0.01 dB); --threads / --inter-op-threads size TensorFlow's CPU
thread pools (default: TensorFlow's, one thread per core); --io-workers overlaps decoding and PNG
writing with the model; --jit compiles with XLA (slower on CPU, off by default); --runtime tflite runs
KinD's networks in the TFLite interpreter (XNNPACK), the faster path on CPUs without bfloat16.
Exit codes: 0 done, 1 some input could not be enhanced (one 'error:' line each), 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kind_tf import methods as method_registry
from kind_tf.cli import script_help
from kind_tf.methods import Method
from kind_tf.presets import (
    UnknownPresetError,
    describe_presets,
    preset_dir,
    preset_names,
    preset_of,
    resolve_weights,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SCRIPT = "enhance.py"


def describe_methods() -> str:
    """One line per registered method (name, presets, description), for the ``--help`` epilogue."""
    registered = [method_registry.get(name) for name in method_registry.names()]
    width = max(len(method.name) for method in registered)
    return "\n".join(f"  {m.name:<{width}}  {m.description}" + (f" (presets: {', '.join(m.presets)})" if m.presets
                                                                 else "") for m in registered)


def build_parser(prog: str = SCRIPT) -> argparse.ArgumentParser:
    """enhance's options; ``prog`` names the command in usage lines and examples (enhance.py or kind-tf enhance)."""
    methods = method_registry.names()
    with_ratio = ", ".join(m for m in methods if method_registry.get(m).accepts_ratio)
    defaults = ", ".join(f"{method_registry.get(m).presets[0]} for {m}" for m in methods
                         if method_registry.get(m).presets)
    parser = argparse.ArgumentParser(prog=prog, description=script_help(__doc__, SCRIPT, prog),
                                     epilog=f"methods (--method): {', '.join(methods)}\n{describe_methods()}\n"
                                            f"presets (--weights NAME, shipped with kind-tf):\n{describe_presets()}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", help="image files, folders or glob patterns (default: bundled sample)")
    parser.add_argument("-o", "--out-dir", default="enhanced", help="output folder (default: enhanced/)")
    parser.add_argument("--ratio", default=None,
                        help="brightening ratio for KinD's adjust net, or 'auto' (per image, the ratio giving the "
                             "output mean brightness 0.49, found on the image alone); default: the weights' recipe "
                             "(the shipped weights: auto; converted original weights: 5.0)")
    parser.add_argument("--weights", default=None, metavar="PRESET|DIR",
                        help=f"a preset ({', '.join(preset_names())}; listed below) or a weights folder "
                             f"(default: the method's preset: {defaults})")
    parser.add_argument("--method", "--model", dest="method", default=None, choices=methods,
                        help=f"the method: {', '.join(methods)} (default: the --weights preset's, or what the "
                             f"weights folder's config.json is, else {methods[0]}); --ratio applies to the methods "
                             f"with a ratio ({with_ratio})")
    parser.add_argument("--save-intermediates", action="store_true",
                        help="also save R, I, restored R, adjusted I and a side-by-side grid")
    parser.add_argument("--overwrite", action="store_true", help="allow an output to replace an input file")
    parser.add_argument("--skip-existing", action="store_true",
                        help="skip inputs whose output PNG already exists (resume an interrupted folder run)")
    parser.add_argument("--tile", type=int, default=None,
                        help="process in tiles of this many pixels (multiple of 16); default: automatic "
                             "when the image would exceed --max-memory")
    parser.add_argument("--tile-overlap", type=int, default=None,
                        help="context pixels around each tile (multiple of 16, default 160 > receptive field)")
    parser.add_argument("--max-memory", type=float, default=None,
                        help="activation memory budget in MB that triggers automatic tiling (default 1500)")
    parser.add_argument("--no-normalize", action="store_true",
                        help="skip the original's per-image min-max stretch of the input")
    parser.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=None,
                        help="KinD: --fusion ends with the original evaluate.py's fusion with the input, --no-fusion "
                             "returns R_restored × I_adjusted (the paper's recomposition); default: the weights' "
                             "recipe (the shipped weights: --no-fusion; converted original weights: --fusion)")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                        help="network compute precision (default float32); bfloat16 is several times faster "
                             "on CPUs with AVX512_BF16/AMX, outputs stay float32")
    parser.add_argument("--mixed-precision", dest="precision", action="store_const", const="bfloat16",
                        help="same as --precision bfloat16")
    parser.add_argument("--jit", action="store_true", help="compile with XLA (slower on CPU; for accelerators)")
    parser.add_argument("--runtime", default="tf", choices=["tf", "tflite"],
                        help="KinD only: tf (default) or tflite — the networks in the TFLite interpreter "
                             "(XNNPACK), converted once and cached (faster on AVX2 CPUs; see README On-device)")
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow intra-op threads (default: one per logical core)")
    parser.add_argument("--inter-op-threads", type=int, default=None,
                        help="TensorFlow inter-op threads (default: TensorFlow's)")
    parser.add_argument("--io-workers", type=int, default=2,
                        help="threads decoding the next images and writing outputs while the model runs "
                             "(default 2; 0: decode, enhance and write one after another)")
    parser.add_argument("--batch-pixels", type=int, default=None,
                        help="enhance consecutive same-size images together while the batch has at most this "
                             "many pixels (default 524288, i.e. only small images; 0: one image per call)")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own start-up log lines")
    return parser


def parse_args(argv: list[str] | None = None, prog: str = SCRIPT) -> argparse.Namespace:
    return build_parser(prog).parse_args(argv)


def choose_weights(model: str | None, weights: str | None) -> tuple[str, Path]:
    """The method and weights folder to run: ``--method`` and ``--weights`` as given, or their defaults.

    A preset brings its method (``--weights zero-dce-sice`` alone runs Zero-DCE++), and so does a weights
    folder whose config.json a registered method recognises (:func:`kind_tf.methods.detect`: a converted
    KinD++ folder runs KinD++); without ``--weights`` the method's first preset runs. Raises ValueError (one
    line) for an unknown preset, a preset of another method than ``--method``, or a method without presets
    and no ``--weights``.
    """
    preset = preset_of(weights) if weights else None
    if preset is not None and model is not None and preset.method != model:
        raise ValueError(f"--weights {weights} is a {preset.method} preset; run it with --method {preset.method} "
                         "(or without --method)")
    if weights is None:
        method = model or method_registry.names()[0]
        presets = method_registry.get(method).presets
        if not presets:
            raise ValueError(f"--method {method} has no shipped weights; pass --weights DIR")
        return method, preset_dir(presets[0])
    try:
        folder = resolve_weights(weights)
    except UnknownPresetError as error:
        raise ValueError(f"--weights: {error}") from None
    if model is not None:
        return model, folder
    if preset is not None:
        return preset.method, folder
    try:
        return method_registry.detect(folder).name, folder
    except ValueError:
        # No config.json (the caller's "no weights found" line says where to get some) or a folder no
        # method claims (its loader names the problem): the default method's.
        return method_registry.names()[0], folder


def main(argv: list[str] | None = None, prog: str = SCRIPT) -> int:
    """Run enhance; returns the exit code (0 done, 1 some inputs failed, 2 a usage error)."""
    args = parse_args(argv, prog)
    from kind_tf._quiet import start_backend

    start_backend(args.verbose)
    from kind_tf.enhance_job import DEFAULT_BATCH_PIXELS, SAMPLE_IMAGE, enhance_files
    from kind_tf.inference import configure_threads, parse_ratio
    from kind_tf.weights import WeightsError

    for flag, value, least in (("--threads", args.threads, 1), ("--inter-op-threads", args.inter_op_threads, 1),
                               ("--io-workers", args.io_workers, 0), ("--batch-pixels", args.batch_pixels, 0)):
        if value is not None and value < least:
            print(f"error: {flag} must be ≥ {least}, got {value}", file=sys.stderr)
            return 2
    try:
        configure_threads(args.threads, args.inter_op_threads)   # before TensorFlow runs any op
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    try:
        if args.ratio is not None:
            parse_ratio(args.ratio)
    except ValueError as error:
        print(f"error: --ratio: {error}", file=sys.stderr)
        return 2
    try:
        name, weights = choose_weights(args.method, args.weights)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    method: Method = method_registry.get(name)
    if not (weights / "config.json").is_file():
        print("error: " + method.missing_weights_message(weights), file=sys.stderr)
        return 2
    try:
        # Every method gets the same options; each takes those it has (Method.options).
        model = method.load(weights, precision=args.precision, jit=args.jit, fusion=args.fusion, ratio=args.ratio,
                            normalize=False if args.no_normalize else None)
    except (WeightsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.runtime == "tflite":
        if name != "kind" or args.precision != "float32" or args.jit:
            print("error: --runtime tflite runs KinD in float32 (no --precision bfloat16, no --jit)", file=sys.stderr)
            return 2
        from kind_tf.tflite_runtime import TFLiteKinD

        try:   # the first run converts the weights (about 10 s) into the cache; later runs load it
            model = TFLiteKinD(model, num_threads=args.threads)
        except (ValueError, OSError) as error:
            print(f"error: --runtime tflite: {error}", file=sys.stderr)
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
    describe = getattr(model, "describe", None)
    if callable(describe):   # the recipe line of pipelines that have one (KinD, KinD++)
        print(f"{method.title} ({weights}): {describe()}", file=sys.stderr)
    report = enhance_files(model, inputs, Path(args.out_dir), None, overwrite=args.overwrite,
                           skip_existing=args.skip_existing,
                           save_intermediates=args.save_intermediates, options=tiling,
                           io_workers=args.io_workers,
                           batch_pixels=DEFAULT_BATCH_PIXELS if args.batch_pixels is None else args.batch_pixels)
    print(f"wrote {len(report.written)} file(s) to {args.out_dir}"
          + (f"; skipped {len(report.skipped)} already enhanced" if report.skipped else "")
          + (f"; {len(report.errors)} problem(s), see above" if report.errors else ""), file=sys.stderr)
    return report.exit_code
