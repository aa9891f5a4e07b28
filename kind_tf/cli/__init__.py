"""``kind-tf``: one command for everything the top-level scripts and ``python -m`` modules do.

    kind-tf enhance photos/ -o enhanced/ [--weights kind-sice]     # = python enhance.py ...
    kind-tf train --stage decom --data DIR --run-dir runs/kind      # = python train.py ...
    kind-tf evaluate --method kind,gamma --data DIR                 # = python evaluate.py ...
    kind-tf export kind --out export/kind                           # = python -m kind_tf.export ...
    kind-tf convert kind-tf1 --decom DIR --adjust DIR --out DIR     # = python -m kind_tf.convert ...
    kind-tf --version

Each sub-command is the same function as its script (same flags, exit codes and error lines; only the
program name in usage and error lines differs), so the scripts in a checkout and the installed command
cannot drift apart. Declared as the console script ``kind-tf`` in setup.cfg; ``python -m kind_tf`` runs
the same without it. Nothing heavy is imported until a sub-command runs, so ``kind-tf --version`` and
``--help`` answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from kind_tf import __version__

PROG = "kind-tf"

# Sub-command → (module whose main(argv, prog=...) runs it, one-line help). Modules load on use: the
# export module imports Keras at import time.
COMMANDS: dict[str, tuple[str, str]] = {
    "enhance": ("kind_tf.cli.enhance", "enhance dark photos (python enhance.py)"),
    "train": ("kind_tf.cli.train", "train a KinD stage or Zero-DCE++ (python train.py)"),
    "evaluate": ("kind_tf.cli.evaluate", "evaluate methods on a folder of images (python evaluate.py)"),
    "export": ("kind_tf.export", "SavedModel / TFLite export (python -m kind_tf.export)"),
    "convert": ("kind_tf.convert.__main__", "import original weights (python -m kind_tf.convert)"),
    "demo": ("kind_tf.demo", "the web demo on the shipped weights (python -m kind_tf.demo; needs .[demo])"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: --version, --help and the sub-command's name (its arguments are its own)."""
    listing = "\n".join(f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog=PROG, usage=f"{PROG} [-h] [--version] COMMAND [ARGS ...]", description=__doc__.replace("``", ""),
        epilog=f"commands:\n{listing}\n\n'{PROG} COMMAND --help' shows a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("command", metavar="COMMAND", choices=list(COMMANDS), help=", ".join(COMMANDS))
    return parser


def command_main(name: str) -> Callable[..., int]:
    """The ``main(argv, prog=...)`` of sub-command ``name`` (imported now, not before)."""
    return importlib.import_module(COMMANDS[name][0]).main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kind-tf COMMAND ARGS...``; returns the sub-command's exit code.

    Only the first argument is parsed here (options before it: -h/--version), so each sub-command's own
    parser sees the rest untouched, including its own --help.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # --help / --version exit 0 here; no command, an unknown one or another option first: a usage error
    # naming the commands, exit 2.
    build_parser().parse_args(argv[:1])
    return command_main(argv[0])(argv[1:], prog=f"{PROG} {argv[0]}")


# Sub-commands whose process only runs inference: the console command tells oneDNN their weights are frozen.
INFERENCE_COMMANDS = ("enhance", "evaluate", "demo")


def console_main() -> int:
    """The ``kind-tf`` console script and ``python -m kind_tf``: :func:`main` on ``sys.argv``, in a process of its
    own, so an inference-only sub-command may set :func:`kind_tf._quiet.assume_frozen_weights` first (not
    :func:`main` itself: it may run inside a process that also trains, e.g. a test session)."""
    if sys.argv[1:2] and sys.argv[1] in INFERENCE_COMMANDS:
        from kind_tf._quiet import assume_frozen_weights

        assume_frozen_weights()
    return main()


def script_help(doc: str, script: str, prog: str) -> str:
    """A script's docstring as its ``--help`` text, its examples' ``python SCRIPT`` written as ``prog``.

    The sub-commands reuse their script's docstring, so ``kind-tf enhance --help`` shows
    ``kind-tf enhance photos/ ...`` while ``python enhance.py --help`` keeps showing ``python enhance.py ...``.
    """
    return doc if prog == script else doc.replace(f"python {script}", prog)
