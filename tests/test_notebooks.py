"""The walkthrough notebooks (notebooks/*.ipynb), generated and executed by tools/build_notebooks.py.

- Fast checks: every committed notebook has exactly the builder's cells (the script is the source of
  truth), was executed (outputs saved, no error outputs, at least one figure) and stays small.
- ``test_notebook_executes``: runs each notebook top to bottom with nbclient, as CI does (``python3``
  kernel, 300 s per cell, failing on any cell error), and checks that it wrote nothing into the
  checkout. Each takes 10–60 s on 2 CPU cores, about 3 minutes for the file. Notebooks that read
  ../shared are skipped (with the reason) where it is absent. ``KIND_TF_SKIP_NOTEBOOKS=1`` skips the
  executions only.

After changing a notebook's cells or the shipped weights: ``python tools/build_notebooks.py``.
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


def _load_builder():
    path = REPO / "tools" / "build_notebooks.py"
    spec = importlib.util.spec_from_file_location("build_notebooks", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()
NOTEBOOKS = {nb.name: nb for nb in builder.NOTEBOOKS}


def _read(name: str):
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(REPO / "notebooks" / name, as_version=4)


def _snapshot() -> set[str]:
    """Every file and folder under the watched folders, plus the repository's top-level entries."""
    paths = {p.name for p in REPO.iterdir()}
    for folder in WATCHED:
        for dirpath, dirnames, filenames in os.walk(REPO / folder):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            paths.update(os.path.relpath(os.path.join(dirpath, f), REPO) for f in dirnames + filenames)
    return paths


def test_builder_lists_every_notebook():
    on_disk = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert on_disk == sorted(NOTEBOOKS), "notebooks/ and tools/build_notebooks.py disagree; rebuild the notebooks"


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_matches_builder(name):
    saved = _read(name)
    assert builder.sources(saved) == builder.sources(builder.build(NOTEBOOKS[name])), (
        f"notebooks/{name} differs from tools/build_notebooks.py: edit the script, then run "
        "python tools/build_notebooks.py")


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_committed_with_outputs(name):
    saved = _read(name)
    code_cells = [cell for cell in saved.cells if cell.cell_type == "code"]
    assert code_cells and all(cell.execution_count is not None for cell in code_cells), (
        f"notebooks/{name} was not executed: run python tools/build_notebooks.py {name[:2]}")
    outputs = [output for cell in code_cells for output in cell.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, errors
    assert any(mime.startswith("image/") for o in outputs for mime in o.get("data", {})), "no figure in the outputs"
    size = (REPO / "notebooks" / name).stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, f"notebooks/{name} is {size / 1e6:.1f} MB; keep figures small"


@pytest.mark.skipif(bool(os.environ.get("KIND_TF_SKIP_NOTEBOOKS")), reason="KIND_TF_SKIP_NOTEBOOKS is set")
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_executes(name):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    missing = NOTEBOOKS[name].missing_requirements(SHARED, REPO)
    if missing:
        pytest.skip(f"{name} reads reference material that is absent: {', '.join(missing)} "
                    "(../shared beside the checkout, or KIND_TF_SHARED)")
    nb = _read(name)
    before = _snapshot()
    builder.execute(nb, timeout=builder.CELL_TIMEOUT)   # raises CellExecutionError on any failing cell
    created = sorted(_snapshot() - before)
    assert not created, f"{name} wrote into the checkout: {created}"
