"""The walkthrough notebooks: notebooks/NN_name.py is each one's source (a jupytext "percent" script), and
notebooks/NN_name.ipynb its executed copy, built by ``python tools/notebooks.py build``.

- The converter (tools/notebooks.py, fast): the percent-format rules jupytext reads by — the YAML header,
  ``# %%`` / ``# %% [markdown]`` markers, commented Markdown, commented magics, PEP 8 blank lines between
  cells — and that it refuses what it could not write back unchanged. Every committed source is in the
  canonical form the converter writes (so ``to-py`` after an edit in Jupyter gives a minimal diff).
- The committed notebooks (fast): every source has its .ipynb and every .ipynb its source; each .ipynb's
  cells equal its .py's; each was executed (outputs saved, no error outputs, at least one figure) and
  stays small.
- ``test_notebook_executes`` (marked ``slow``): builds each notebook from its source and runs it top to
  bottom with nbclient, as CI does (``python3`` kernel, 300 s per cell, failing on any cell error), and
  checks that it wrote nothing into the checkout. Each takes 10–60 s on 2 CPU cores, about 3 minutes for
  the file. Notebooks that read ../shared are skipped (with the reason) where it is absent.
  ``KIND_TF_SKIP_NOTEBOOKS=1`` (or ``-m "not slow"``) skips the executions only.

After editing a notebook's source or changing the shipped weights: ``python tools/notebooks.py build``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KIND_TF_SHARED", REPO.parent / "shared"))
MAX_NOTEBOOK_BYTES = 1_000_000
# Where an executed notebook must not create files (it writes only into a temporary directory).
WATCHED = ("notebooks", "checkpoints", "tools", "kind_tf/assets")


def _load_tool():
    """tools/ is not a package: load tools/notebooks.py by path (under a name no import can shadow)."""
    spec = importlib.util.spec_from_file_location("kind_tf_tools_notebooks", REPO / "tools" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()
SOURCES = {path.stem: path for path in tool.notebook_sources(REPO / "notebooks")}

# --------------------------------------------------------------------------------------------- the converter

METADATA = {"jupytext": {"formats": "ipynb,py:percent", "text_representation": {
    "extension": ".py", "format_name": "percent", "format_version": "1.3"}},
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "kind_tf": {"needs_shared": ["data/x"]}}
CELLS = [
    ("markdown", "# Title\n\nSome *text*.\n- a list"),
    ("code", "%matplotlib inline\nimport numpy as np"),
    ("code", "def f(x):\n    return x + 1"),
    ("markdown", "## After a def"),
    ("code", "y = f(1)"),
    ("code", ""),
    ("raw", "raw text"),
]
# What jupytext writes for CELLS and METADATA (apart from the jupytext_version it records): one blank line
# between cells, two around a top-level def (PEP 8), magics and Markdown commented, "#" for a blank line.
SCRIPT = """\
# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   kind_tf:
#     needs_shared:
#     - data/x
# ---

# %% [markdown]
# # Title
#
# Some *text*.
# - a list

# %%
# %matplotlib inline
import numpy as np


# %%
def f(x):
    return x + 1


# %% [markdown]
# ## After a def

# %%
y = f(1)

# %%

# %% [raw]
# raw text
"""


def test_percent_script_is_what_jupytext_writes_and_reads():
    assert tool.cells_to_py(CELLS, METADATA) == SCRIPT
    source = tool.parse_py(SCRIPT)
    assert source.cells == CELLS and source.metadata == METADATA
    assert tool.py_to_cells(SCRIPT.split("# ---\n\n", 1)[1]) == CELLS   # without a header


def test_magics_are_commented_once_and_restored():
    code = "\n".join(["%time x = 1", "# %not_a_magic, a comment", "files = !ls", "  !echo indented",
                      "text = '''", "%inside a string", "'''", "print('%d' % 3)"])
    script = tool.cells_to_py([("code", code)])
    assert script.splitlines() == ["# %%", "# %time x = 1", "# # %not_a_magic, a comment", "# files = !ls",
                                   "  # !echo indented", "text = '''", "%inside a string", "'''", "print('%d' % 3)"]
    assert tool.py_to_cells(script) == [("code", code)]


def test_a_marker_inside_a_string_does_not_split_the_cell():
    script = '# %%\ntext = """\n# %% not a cell\n"""\nprint(text)\n'
    assert tool.py_to_cells(script) == [("code", 'text = """\n# %% not a cell\n"""\nprint(text)')]


@pytest.mark.parametrize("cells", [
    [("code", "x = 1\n# %% a marker jupytext would split at")],
    [("code", "x = 1\n\n")],                         # trailing blank lines separate cells in the script
    [("markdown", "# cd into the folder")],          # read back by jupytext as "cd into the folder"
    [("code", "%%bash\nls")],                        # cell magics
    [("heading", "old nbformat 3 cell")],
], ids=["marker", "trailing-blank", "markdown-like-a-magic", "cell-magic", "cell-type"])
def test_refuses_cells_it_cannot_write_back_unchanged(cells):
    with pytest.raises(ValueError):
        tool.cells_to_py(cells)


@pytest.mark.parametrize("script", [
    "# %% Title\nx = 1\n",                          # titles and cell metadata are not read here
    "# %% [markdown] tags=['x']\n# text\n",
    "x = 1\n# %%\ny = 2\n",                           # text before the first marker
    "# ---\n# jupyter:\n#   kernelspec: {}\nx = 1\n",  # header never closed
])
def test_refuses_scripts_it_would_read_differently_from_jupytext(script):
    with pytest.raises(ValueError):
        tool.parse_py(script)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_source_is_in_canonical_form(name):
    text = SOURCES[name].read_text(encoding="utf-8")
    source = tool.parse_py(text)
    assert source.cells and source.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert tool.cells_to_py(source.cells, source.metadata) == text, (
        f"notebooks/{name}.py is not in the form tools/notebooks.py writes")


# ------------------------------------------------------------------------------------- the committed notebooks

def _read(name: str):
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)


def _snapshot() -> set[str]:
    """Every file and folder under the watched folders, plus the repository's top-level entries."""
    paths = {p.name for p in REPO.iterdir()}
    for folder in WATCHED:
        for dirpath, dirnames, filenames in os.walk(REPO / folder):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            paths.update(os.path.relpath(os.path.join(dirpath, f), REPO) for f in dirnames + filenames)
    return paths


def test_every_notebook_has_its_source():
    executed = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert executed == sorted(SOURCES), "notebooks/*.ipynb and notebooks/*.py disagree: python tools/notebooks.py build"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_notebook_matches_its_source(name):
    saved = tool.sources(_read(name))
    assert saved == tool.read_source(SOURCES[name]).cells, (
        f"notebooks/{name}.ipynb differs from notebooks/{name}.py: run python tools/notebooks.py build {name[:2]} "
        f"(or, after editing the .ipynb in Jupyter, python tools/notebooks.py to-py notebooks/{name}.ipynb)")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_notebook_committed_with_outputs(name):
    saved = _read(name)
    code_cells = [cell for cell in saved.cells if cell.cell_type == "code"]
    assert code_cells and all(cell.execution_count is not None for cell in code_cells), (
        f"notebooks/{name}.ipynb was not executed: run python tools/notebooks.py build {name[:2]}")
    outputs = [output for cell in code_cells for output in cell.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, errors
    assert any(mime.startswith("image/") for o in outputs for mime in o.get("data", {})), "no figure in the outputs"
    size = (REPO / "notebooks" / f"{name}.ipynb").stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, f"notebooks/{name}.ipynb is {size / 1e6:.1f} MB; keep figures small"


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get("KIND_TF_SKIP_NOTEBOOKS")), reason="KIND_TF_SKIP_NOTEBOOKS is set")
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_notebook_executes(name):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    missing = tool.missing_requirements(tool.read_source(SOURCES[name]).metadata, SHARED, REPO)
    if missing:
        pytest.skip(f"{name} reads reference material that is absent: {', '.join(missing)} "
                    "(../shared beside the checkout, or KIND_TF_SHARED)")
    nb = tool.to_notebook(SOURCES[name])
    before = _snapshot()
    tool.execute(nb, timeout=tool.CELL_TIMEOUT)   # raises CellExecutionError on any failing cell
    created = sorted(_snapshot() - before)
    assert not created, f"{name} wrote into the checkout: {created}"


def test_check_reports_stale_unexecuted_and_orphaned_notebooks(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    source = tmp_path / "01_demo.py"
    source.write_text(tool.cells_to_py([("markdown", "# Demo"), ("code", "print(1)")], METADATA), encoding="utf-8")
    assert tool.check([source], tmp_path) == ["01_demo.ipynb: missing"]
    tool.write_notebook(tool.to_notebook(source), tmp_path / "01_demo.ipynb")
    assert tool.check([source], tmp_path) == ["01_demo.ipynb: not executed (no outputs)"]
    nb = nbformat.read(tmp_path / "01_demo.ipynb", as_version=4)
    nb.cells[1].source = "print(2)"
    tool.write_notebook(nb, tmp_path / "01_demo.ipynb")
    (tmp_path / "02_gone.ipynb").write_text("{}")
    assert tool.check([source], tmp_path) == ["01_demo.ipynb: cells differ from 01_demo.py (from cell 1 on)",
                                              "02_gone.ipynb: no source 02_gone.py"]
    assert tool.to_py(tmp_path / "01_demo.ipynb") == source          # the edit made in "Jupyter" goes back
    assert tool.read_source(source).cells[1] == ("code", "print(2)")
    assert tool.read_source(source).metadata == METADATA              # the header is kept
