#!/usr/bin/env python
"""The walkthrough notebooks: each ``notebooks/NN_name.py`` is the source, ``NN_name.ipynb`` its executed copy.

    python tools/notebooks.py build                  # execute every notebooks/*.py, save each .ipynb with outputs
    python tools/notebooks.py build 02 04            # only these (by number or name prefix)
    python tools/notebooks.py check                  # exit 1 if an .ipynb's cells differ from its .py (or lack outputs)
    python tools/notebooks.py to-py notebooks/03_evaluation.ipynb   # cells edited in Jupyter -> back into the .py

Why sources as scripts: a ``.py`` diffs and reviews like code, opens in any editor (VS Code, PyCharm and Spyder
run its cells), and keeps outputs out of the edit; the ``.ipynb`` is committed executed so it reads on GitHub.
Edit the ``.py`` (or the ``.ipynb`` in Jupyter, then ``to-py``), then ``build``; ``check`` (and
tests/test_notebooks.py) fail while the two disagree.

The scripts use jupytext's "percent" format (https://jupytext.readthedocs.io/en/latest/formats-scripts.html):
a commented YAML header holding the notebook metadata under ``jupyter:``, then a ``# %%`` line opening each code
cell and ``# %% [markdown]`` opening each Markdown cell, whose lines are the Markdown commented with ``# ``
(a blank Markdown line is a lone ``#``). Jupyter magics are commented in the script (``# %matplotlib inline``)
and uncommented in the notebook. Cells are separated by one blank line, two where PEP 8 wants them around a
top-level ``def`` or ``class``. jupytext is not installable here (the package mirror lacks it), so this module
implements that format's rules itself, for the subset these notebooks use; a file jupytext would read
differently is refused with an error instead (cell titles or metadata on a marker line, cell magics, text before
the first marker, a cell that ends in blank lines or contains a line jupytext takes for a marker). Every write
is read back and compared, so what ``cells_to_py`` writes, ``py_to_cells`` (and jupytext) reads as the same cells.

``build`` runs each notebook with nbclient in a fresh ``python3`` kernel, the notebooks' folder as working
directory and a time limit per cell; a failing cell leaves the old .ipynb untouched and makes the command exit 1.
Saved outputs are kept small: TensorFlow's C++ start-up log lines (``I0000 ...``/``E0000 ...`` on stderr, e.g.
"could not find cuda drivers") describe the machine that built the notebook, not the walkthrough, and are
dropped, as is nbclient's per-cell timing metadata.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO / "notebooks"
SHARED = Path(os.environ.get("KIND_TF_SHARED", REPO.parent / "shared"))
CELL_TIMEOUT = 300  # seconds per cell (nbclient); tests/test_notebooks.py executes with the same limit
KERNEL = "python3"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": KERNEL}
# What a paired notebook's jupytext section says: the .ipynb and the percent .py are two views of one notebook.
FORMATS = "ipynb,py:percent"
TEXT_REPRESENTATION = {"extension": ".py", "format_name": "percent", "format_version": "1.3"}

Cell = tuple[str, str]  # (cell type: "code" | "markdown" | "raw", source)

# ------------------------------------------------------------------------------------------ the percent format

# A cell starts at "# %%" plus a space and options ("# %% [markdown]"), or at a bare "# %%" (jupytext also
# takes "# <codecell>" and "# In[ ]:" for code-cell markers; they are honoured so that no file splits
# differently here). Indented markers count too, as in jupytext.
_MARKER = re.compile(r"^\s*#\s*%%(%*)\s(.*)$")
_BARE_MARKER = re.compile(r"^\s*#\s*(%%|<codecell>|In\[[0-9 ]*\]:?)\s*$")
_TEXT_CELL_OPTIONS = {"[markdown]": "markdown", "[md]": "markdown", "[raw]": "raw"}
_HEADER_FENCE = re.compile(r"^---\s*$")
_BLANK = re.compile(r"^\s*$")

# Lines jupytext treats as IPython syntax in a Python cell, commented or not: it comments them once more on
# writing and uncomments them once on reading, so the script stays valid Python. Line magics (%time, %%bash
# inside a cell, with any number of "# " in front), shell escapes and help (!ls, ?obj, obj?), magic
# assignments (x = %env, files = !ls) and a few shell commands typed without "!" (cd, ls, ...).
_MAGIC = re.compile(r"^\s*(# |#)*(%|%%|%%%)[a-zA-Z]")
_MAGIC_FORCED = re.compile(r"^\s*(# |#)*(%|%%|%%%)[a-zA-Z](.*)#\s*escape")
_MAGIC_KEPT = re.compile(r"^\s*(# |#)*(%|%%|%%%)[a-zA-Z](.*)#\s*noescape")
_HELP_OR_SHELL = re.compile(r"^\s*(# |#)*\s*(\?|!)\s*[A-Za-z\.\~\$\\\/\{\}]")
_SHELL_COMMAND = re.compile(r"^(# |#)*(cat|cd|cp|mv|rm|rmdir|mkdir|copy|ddir|echo|ls|ldir|ren)($|\s$|\s[^=,])")
_HELP_SUFFIX = re.compile(r"^\s*(# )*[^\s]*\?\s*$")
_MAGIC_ASSIGNMENT = re.compile(r"^(# |#)*\s*([a-zA-Z_][a-zA-Z_$0-9]*)\s*=\s*(%|%%|%%%|!)[a-zA-Z](.*)")
_CONTINUED = re.compile(r".*\\\s*$")
# jupytext's "light" format opens cells with "# +"; in a code cell jupytext reads "# # +" back as "# +".
_ESCAPED_LIGHT_MARKER = re.compile(r"^(# |#)*(#|# )\+")


@dataclass
class TextNotebook:
    """A notebook as its percent script holds it: the notebook metadata (the header's ``jupyter:``) and the cells."""

    metadata: dict[str, Any] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)


class _Quotes:
    """Tracks whether a line starts inside a multi-line string, where markers and magics are plain text.

    As in jupytext: only triple-quoted strings continue past the end of a line, a ``#`` outside any string
    starts a comment, and a backslash escapes the quote after it.
    """

    def __init__(self) -> None:
        self.single: str | None = None
        self.triple: str | None = None

    def inside(self) -> bool:
        return self.triple is not None

    def read(self, line: str) -> None:
        if self.triple is None and line.lstrip().startswith("#"):
            return
        last_triple = -3  # a triple quote cannot reuse the characters of the one just before it
        for i, char in enumerate(line):
            if self.single is None and self.triple is None and char == "#":
                break
            if char not in "\"'" or line[i - 1:i] == "\\":
                continue
            if self.single is not None:
                if char == self.single:
                    self.single = None
                continue
            if line[max(i - 2, 0):i + 1] == char * 3 and i >= last_triple + 3:
                if self.triple == char:
                    self.triple, last_triple = None, i
                elif self.triple is None:
                    self.triple, last_triple = char, i
                continue
            if self.triple is None:
                self.single = char
        self.single = None


def is_magic(line: str) -> bool:
    """Is ``line`` IPython syntax (possibly already commented) that the script must carry as a comment?"""
    if _MAGIC_FORCED.match(line):
        return True
    if _MAGIC_KEPT.match(line):
        return False
    return bool(_MAGIC.match(line) or _HELP_OR_SHELL.match(line) or _MAGIC_ASSIGNMENT.match(line)
                or _HELP_SUFFIX.match(line) or _SHELL_COMMAND.match(line))


def _comment_once(line: str, keep_indent: bool = True) -> str:
    body = line.lstrip() if keep_indent else line
    return line[:len(line) - len(body)] + "# " + body


def _uncomment_once(line: str) -> str:
    body = line.lstrip()
    indent = line[:len(line) - len(body)]
    if body.startswith("# "):
        return indent + body[2:]
    if body.startswith("#"):
        return indent + body[1:]
    return line


def _map_magics(lines: Sequence[str], comment: bool) -> list[str]:
    """Comment (script side) or uncomment (notebook side) the magic lines, and the continuations of a magic."""
    quotes, continued, out = _Quotes(), False, []
    for line in lines:
        if not quotes.inside() and (continued or is_magic(line)):
            out.append((_comment_once(line, keep_indent=not continued)) if comment else _uncomment_once(line))
            continued = bool(_CONTINUED.match(line))
        else:
            out.append(line)
        quotes.read(line)
    return out


def _unescape_light_markers(lines: Sequence[str]) -> list[str]:
    quotes, out = _Quotes(), []
    for line in lines:
        unescaped = _uncomment_once(line)
        escaped = not quotes.inside() and _ESCAPED_LIGHT_MARKER.match(line) and _ESCAPED_LIGHT_MARKER.match(unescaped)
        out.append(unescaped if escaped else line)
        quotes.read(line)
    return out


def _is_marker(line: str) -> bool:
    return bool(_MARKER.match(line) or _BARE_MARKER.match(line))


def _marker_cell_type(line: str) -> str:
    match = _MARKER.match(line)
    if not match:
        return "code"
    depth, options = match.group(1), match.group(2).strip()
    if depth or (options and options not in _TEXT_CELL_OPTIONS):
        raise ValueError(f"unsupported cell marker {line.strip()!r}: use a bare '# %%' (code) or "
                         "'# %% [markdown]' - titles, cell metadata and sub-cells are not read by tools/notebooks.py")
    return _TEXT_CELL_OPTIONS.get(options, "code")


def _source_lines(source: str) -> list[str]:
    if source == "":
        return [""]
    return source.splitlines() + ([""] if source.endswith("\n") else [])


# PEP 8's blank lines around top-level functions and classes, as jupytext counts them between cells.

def _starts_with_def_or_class(lines: Sequence[str]) -> bool:
    quotes = _Quotes()
    for i, line in enumerate(lines):
        if quotes.inside():
            quotes.read(line)
            continue
        quotes.read(line)
        if not line.strip():
            if i > 0 and not lines[i - 1].strip():
                return False
            continue
        if line.startswith(("def ", "class ")):
            return True
        if not line.startswith(("#", "@", " ", ")")):
            return False
    return False


def _ends_with_def_or_class(lines: Sequence[str]) -> bool:
    quotes, unquoted = _Quotes(), []
    for line in lines:
        if not quotes.inside():
            unquoted.append(line)
        quotes.read(line)
    reverse = unquoted[::-1]
    for i, line in enumerate(reverse):
        if not line.strip():
            if i > 0 and not reverse[i - 1].strip():
                return False
            continue
        if line.startswith(("def ", "class ")):
            return True
        if not line.startswith(("#", " ", ")")):
            return False
    return False


def _has_code(lines: Sequence[str]) -> bool:
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if not stripped:
            if i > 0 and not lines[i - 1].strip():
                return False
            continue
        return True
    return False


def _blank_lines_between(previous: Sequence[str], following: Sequence[str]) -> int:
    if not following:
        return 1
    if not previous:
        return 0
    if _ends_with_def_or_class(previous):
        return 2 if _has_code(following) else 1
    ends_with_code = bool(previous[-1].strip()) and not previous[-1].startswith("#")
    return 2 if ends_with_code and _starts_with_def_or_class(following) else 1


def _read_header(lines: Sequence[str]) -> tuple[dict[str, Any], int]:
    """The notebook metadata in the commented YAML header, and the index of the first line after it."""
    if not lines or not _HEADER_FENCE.match(_uncomment_once(lines[0])) or not lines[0].startswith("#"):
        return {}, 0
    for end in range(1, len(lines)):
        if not lines[end].startswith("#"):
            break
        if _HEADER_FENCE.match(_uncomment_once(lines[end])):
            body = [line[2:] if line.startswith("# ") else line[1:] for line in lines[1:end]]
            header = yaml.safe_load("\n".join(body)) or {}
            if not isinstance(header, dict) or set(header) - {"jupyter"}:
                raise ValueError("the YAML header may only hold the notebook metadata, under 'jupyter:'")
            after = end + 1
            if after < len(lines) and not lines[after].strip():
                after += 1  # the blank line that separates the header from the first cell
            return dict(header.get("jupyter") or {}), after
    raise ValueError("the YAML header ('# ---' ... '# ---') is not closed")


def parse_py(text: str) -> TextNotebook:
    """Read a percent script: its header metadata and its cells, as jupytext reads them."""
    lines = text.splitlines()
    metadata, start = _read_header(lines)
    lines = lines[start:]
    if lines and not _is_marker(lines[0]):
        raise ValueError(f"expected a '# %%' cell marker after the header, found {lines[0]!r}")
    cells = []
    while lines:
        cell_type = _marker_cell_type(lines[0])
        quotes, following = _Quotes(), len(lines)
        for i, line in enumerate(lines):
            starts_quoted = quotes.inside()
            quotes.read(line)
            if i > 0 and not starts_quoted and _is_marker(line):
                following = i
                break
        # The blank lines that separate cells (one, or two for PEP 8) are not part of the cell.
        end = following
        if end >= 3 and _BLANK.match(lines[end - 1]) and _BLANK.match(lines[end - 2]) and not _BLANK.match(
                lines[end - 3]):
            end -= 2
        elif _BLANK.match(lines[end - 1]):
            end -= 1
        body = _map_magics(lines[1:end], comment=False)
        if cell_type == "code":
            body = _unescape_light_markers(body)
        else:
            body = [line[2:] if line.startswith("# ") else line[1:] if line.startswith("#") else line for line in body]
        cells.append((cell_type, "\n".join(body)))
        lines = lines[following:]
    return TextNotebook(metadata, cells)


def py_to_cells(text: str) -> list[Cell]:
    """The (cell type, source) list of a percent script."""
    return parse_py(text).cells


def _cell_text(cell_type: str, source: str) -> list[str]:
    lines = _source_lines(source)
    if cell_type == "code":
        if lines[0].startswith("%%"):
            raise ValueError(f"cell magics ({lines[0].split()[0]}) are not supported in notebook sources")
        # jupytext indents the marker like the cell's first line (a cell may continue an indented block).
        indent = re.match(r"\s*", lines[0]).group() if lines[0].strip() else ""
        return [indent + "# %%"] + ([] if lines == [""] else _map_magics(lines, comment=True))
    if cell_type in ("markdown", "raw"):
        return [f"# %% [{cell_type}]"] + ["# " + line if line else "#" for line in lines]
    raise ValueError(f"unknown cell type {cell_type!r}")


def _header_text(metadata: dict[str, Any]) -> list[str]:
    if not metadata:
        return []
    lines = ["---", *yaml.safe_dump({"jupyter": metadata}, default_flow_style=False).splitlines(), "---"]
    return ["# " + line if line else "#" for line in lines]


def cells_to_py(cells: Iterable[Cell], metadata: dict[str, Any] | None = None) -> str:
    """The percent script of ``cells``, ``metadata`` in its header; ValueError if it would not read back as given."""
    cells, metadata = [(str(t), str(s)) for t, s in cells], dict(metadata or {})
    lines: list[str] = []
    for cell_type, source in reversed(cells):
        text = _cell_text(cell_type, source)
        lines = text + [""] * _blank_lines_between(text, lines) + lines
    header = _header_text(metadata)
    text = "\n".join(header + [""] * _blank_lines_between(header, lines) + lines)
    back = parse_py(text)
    if back.metadata != metadata:
        raise ValueError("the notebook metadata does not survive the YAML header")
    if back.cells != cells:
        index = next((i for i, (a, b) in enumerate(zip(cells, back.cells)) if a != b), min(len(cells), len(back.cells)))
        raise ValueError(f"cell {index} would not read back as written (a cell that ends in blank lines, or holds a "
                         f"line read as a cell marker or as an escaped magic?): {cells[index:index + 1]}")
    return text


# ----------------------------------------------------------------------------------------------- the notebooks

def notebook_sources(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Every notebook source: the ``NN_name.py`` scripts in ``folder``."""
    return sorted(p for p in folder.glob("*.py") if p.name[:2].isdigit())


def missing_requirements(metadata: dict[str, Any], shared: Path = SHARED, repo: Path = REPO) -> list[str]:
    """The ../shared paths a notebook reads (``kind_tf: needs_shared`` in its header) that are absent here.

    ``unless_repo_has`` lists checkout paths that make the reference material unnecessary (e.g. 04 converts
    the original Zero-DCE++ weights only when the shipped ones are missing).
    """
    needs = metadata.get("kind_tf", {})
    if any((repo / p).exists() for p in needs.get("unless_repo_has", [])):
        return []
    return [str(shared / p) for p in needs.get("needs_shared", []) if not (shared / p).exists()]


def read_source(path: Path) -> TextNotebook:
    return parse_py(Path(path).read_text(encoding="utf-8"))


def to_notebook(path: Path):
    """The nbformat notebook of the script at ``path``: sources only, deterministic cell ids, jupytext pairing."""
    import nbformat

    source = read_source(path)
    metadata = copy.deepcopy(source.metadata)
    # The .ipynb keeps the pairing ("formats") but not the script's own format record, as jupytext does.
    pairing = {k: v for k, v in metadata.pop("jupytext", {}).items() if k != "text_representation"}
    if pairing:
        metadata["jupytext"] = pairing
    metadata.setdefault("kernelspec", dict(KERNELSPEC))
    metadata.setdefault("language_info", {"name": "python"})
    nb = nbformat.v4.new_notebook(metadata=metadata)
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
            "raw": nbformat.v4.new_raw_cell}
    stem = Path(path).name.split("_")[0]
    for index, (cell_type, text) in enumerate(source.cells):
        nb.cells.append(make[cell_type](text, id=f"nb{stem}-{index:02d}"))
    return nb


def sources(nb) -> list[Cell]:
    """The (cell type, source) list of an nbformat notebook: what ``check`` compares with the script."""
    return [(cell.cell_type, cell.source) for cell in nb.cells]


# TensorFlow / absl C++ log lines ("I0000 00:00:1795647249.139951   28318 port.cc:153] ...") and absl's
# pre-initialisation notice: written to stderr by the runtime, about the build machine.
_NOISE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] .*|WARNING: All log messages before "
                    r"absl::InitializeLog\(\) is called are written to STDERR)$")


def clean_outputs(nb) -> None:
    """Drop the TF C++ log lines from stderr outputs (and streams left empty), and per-cell timing metadata."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = [line for line in output["text"].splitlines(keepends=True)
                         if not _NOISE.match(line.rstrip("\n"))]
                output["text"] = "".join(lines)
                if not output["text"].strip():
                    continue
            kept.append(output)
        cell["outputs"] = kept


def kernel_environment(repo: Path = REPO) -> dict[str, str]:
    """The kernel's environment: this checkout first on PYTHONPATH, so a notebook always shows the code (and the
    weights) beside it, even where kind_tf is installed from another checkout or not at all; quieter TF start-up."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH")) if p)}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def execute(nb, timeout: int = CELL_TIMEOUT, cwd: Path = NOTEBOOKS_DIR):
    """Run ``nb`` top to bottom in a fresh ``python3`` kernel (raises nbclient's CellExecutionError on a failure)."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env=kernel_environment())
    return nb


def write_notebook(nb, path: Path) -> None:
    """Validate and write atomically: an interrupted build never leaves half a notebook."""
    import nbformat

    nbformat.validate(nb)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        nbformat.write(nb, handle)
    os.replace(tmp, path)


def select(names: Sequence[str], folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The sources named by number, name prefix or path (all of them when ``names`` is empty)."""
    available = notebook_sources(folder)
    if not names:
        return available
    chosen: list[Path] = []
    for name in names:
        stem = Path(name).stem
        matches = [p for p in available if p.stem.startswith(stem)]
        if not matches:
            raise SystemExit(f"tools/notebooks.py: no notebook matches {name!r} "
                             f"(known: {', '.join(p.stem for p in available)})")
        chosen += [p for p in matches if p not in chosen]
    return chosen


def check(paths: Sequence[Path], folder: Path = NOTEBOOKS_DIR) -> list[str]:
    """What is out of sync: a missing or stale .ipynb, one never executed, or an .ipynb without a source."""
    import nbformat

    problems = []
    for path in paths:
        ipynb = path.with_suffix(".ipynb")
        if not ipynb.is_file():
            problems.append(f"{ipynb.name}: missing")
            continue
        nb = nbformat.read(ipynb, as_version=4)
        saved, expected = sources(nb), read_source(path).cells
        if saved != expected:
            index = next((i for i, (a, b) in enumerate(zip(saved, expected)) if a != b), min(len(saved), len(expected)))
            problems.append(f"{ipynb.name}: cells differ from {path.name} (from cell {index} on)")
        elif any(c.cell_type == "code" and c.execution_count is None for c in nb.cells):
            problems.append(f"{ipynb.name}: not executed (no outputs)")
    known = {p.stem for p in notebook_sources(folder)}
    problems += [f"{p.name}: no source {p.stem}.py" for p in sorted(folder.glob("*.ipynb")) if p.stem not in known]
    return problems


def build(paths: Sequence[Path], timeout: int = CELL_TIMEOUT) -> int:
    """Execute each source and save its .ipynb with outputs; the number of notebooks that failed."""
    from nbclient.exceptions import CellExecutionError

    failed = 0
    for path in paths:
        missing = missing_requirements(read_source(path).metadata)
        if missing:
            print(f"{path.name}: needs reference material that is absent: {', '.join(missing)} (../shared beside "
                  "the checkout, or KIND_TF_SHARED)", file=sys.stderr)
            failed += 1
            continue
        nb, start = to_notebook(path), time.perf_counter()
        try:
            execute(nb, timeout, cwd=path.parent)
        except CellExecutionError as error:
            print(f"{path.name}: FAILED after {time.perf_counter() - start:.0f} s (.ipynb left unchanged)\n{error}",
                  file=sys.stderr)
            failed += 1
            continue
        clean_outputs(nb)
        ipynb = path.with_suffix(".ipynb")
        write_notebook(nb, ipynb)
        seconds, size = time.perf_counter() - start, ipynb.stat().st_size / 1024
        print(f"{ipynb.name:32s} executed in {seconds:5.1f} s {size:7.0f} KB")
    return failed


def to_py(ipynb: Path) -> Path:
    """Write an .ipynb's cells (edited in Jupyter) into its .py source, keeping the source's header.

    Trailing blank lines of a cell are dropped: the percent format uses them to separate cells.
    """
    import nbformat

    ipynb = Path(ipynb)
    path = ipynb.with_suffix(".py")
    nb = nbformat.read(ipynb, as_version=4)
    cells = [(t, re.sub(r"(\n[ \t]*)+\Z", "", s)) for t, s in sources(nb)]
    if path.is_file():
        metadata = read_source(path).metadata
    else:
        metadata = {"jupytext": {"formats": FORMATS, "text_representation": dict(TEXT_REPRESENTATION)},
                    "kernelspec": dict(nb.metadata.get("kernelspec", KERNELSPEC))}
    path.write_text(cells_to_py(cells, metadata), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="execute the sources and save the .ipynb files with outputs")
    build_parser.add_argument("names", nargs="*", help="notebooks (number, name prefix or path; default: all)")
    build_parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT,
                              help=f"seconds per cell (default {CELL_TIMEOUT})")
    check_parser = commands.add_parser("check", help="exit 1 if an .ipynb differs from its .py or has no outputs")
    check_parser.add_argument("names", nargs="*", help="notebooks (default: all)")
    to_py_parser = commands.add_parser("to-py", help="write .ipynb cells edited in Jupyter back into their .py")
    to_py_parser.add_argument("notebooks", nargs="+", type=Path, help=".ipynb files")
    args = parser.parse_args(argv)
    if args.command == "to-py":
        for ipynb in args.notebooks:
            print(f"wrote {to_py(ipynb)}")
        return 0
    paths = select(args.names)
    if args.command == "check":
        problems = check(paths)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run: python tools/notebooks.py build", file=sys.stderr)
        return 1 if problems else 0
    return 1 if build(paths, args.timeout) else 0


if __name__ == "__main__":
    sys.exit(main())
