"""``python -m kind_tf.convert``: import original weights into kind-tf's format.

    python -m kind_tf.convert kind-tf1 --decom DIR --adjust DIR [--restore DIR] --out DIR
    python -m kind_tf.convert kindpp-tf1 --decom DIR --illu DIR [--restore DIR] --out DIR
    python -m kind_tf.convert zero-dce-pth PATH.pth --out DIR
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None, prog: str = "python -m kind_tf.convert") -> int:
    """Run the converter command line (also ``kind-tf convert``); returns the exit code (0 done, 2 a user error).

    The sub-commands are the registered methods' importers (:attr:`kind_tf.methods.Method.importers`), each
    with its own arguments; this function only parses, starts the backend and turns errors into one line.
    """
    from kind_tf import methods
    from kind_tf.cli import script_help

    parser = argparse.ArgumentParser(prog=prog, description=script_help(__doc__, "-m kind_tf.convert", prog),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    importers = methods.importers()
    for name, importer in importers.items():
        importer.add_arguments(commands.add_parser(name, help=importer.help))
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own start-up log lines")
    args = parser.parse_args(argv)
    from kind_tf._quiet import start_backend

    start_backend(args.verbose)
    from kind_tf.backend import require_tensorflow

    importer = importers[args.command]
    try:
        if importer.needs_tensorflow:
            require_tensorflow(importer.needs_tensorflow)
        out = importer.run(args)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
