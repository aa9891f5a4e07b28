"""Shared pytest fixtures: the location of ../shared reference material.

Markers (registered in setup.cfg's [tool:pytest], the one place pytest is configured):

- ``slow``: tests that take more than about 10 s on a 2-core CPU — the notebook executions
  (test_notebooks.py), the parity runs over the full-size golden images (test_parity.py, test_tiling.py),
  tests that start enhance.py / train.py / ``python -m kind_tf.export`` / a SavedModel reload in a fresh
  process (test_enhance_cli.py, test_recipe.py, test_export.py, test_training.py), building the wheel and
  running ``kind-tf`` from a fresh virtualenv (test_wheel.py), the web demo's server, burst and browser
  (test_demo.py), multi-strategy training and the XLA-compiled pipeline (test_performance.py), KinD++'s three
  stages end to end (test_kindpp_training.py), the TFLite conversions of the KinD pipeline (test_tflite.py).
  CI runs everything (``python -m pytest tests``);
  ``python -m pytest tests -m "not slow"`` is the fast inner loop.

A test that gets slower than that belongs under the marker; ``--durations=20`` shows the slowest ones.
Opt-in extras CI does not run stay behind their own environment variables (``KIND_TF_SLOW_TESTS=1`` for
the two-process MultiWorkerMirroredStrategy run), and ``KIND_TF_SKIP_NOTEBOOKS=1`` skips the notebook
executions only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("KIND_TF_SHARED", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """Path to ../shared; tests that need it are skipped with a reason when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"reference material not found at {SHARED_DIR} (../shared beside the checkout)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def original_weights(shared_dir, tmp_path_factory) -> Path:
    """The original release's decom + adjust and the seeded-random original Restoration_net, converted."""
    from kind_tf.convert import convert_kind_tf1

    reference = shared_dir / "reference"
    return convert_kind_tf1(tmp_path_factory.mktemp("original_weights"),
                            decom=reference / "kind_official" / "decom",
                            adjust=reference / "kind_official" / "adjust",
                            restore=reference / "kind_restoration_random")
