"""The installed package: a wheel built from this checkout, installed in a fresh virtualenv, run from elsewhere.

What an editable install cannot show: that the wheel carries the shipped weights (kind_tf/_checkpoints, mapped
from the top-level checkpoints/ by setup.cfg) and the ``kind-tf`` console script, and that the presets find
the weights inside site-packages. Offline: the wheel is built without build isolation (setuptools and wheel
from this environment) and installed with ``--no-deps --no-index`` into a ``--system-site-packages`` venv,
which takes TensorFlow, Keras and numpy from this environment.

That environment may also hold an editable install of this checkout (``pip install -e .``: a meta-path finder
loaded from a .pth in the system site-packages). Inside the venv the wheel's copy wins — the venv's
site-packages comes first on sys.path and PathFinder runs before the editable finder — and the tests check
``kind_tf.__file__`` rather than assume it; they also run from a temporary folder with PYTHONPATH unset, so
neither the checkout nor the working directory can supply ``kind_tf``.

About 50 s on 2 CPU cores (build ~9 s, install ~2 s, one KinD enhance in a fresh process ~25 s).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import kind_tf

pytestmark = pytest.mark.slow

# What the wheel is built from; everything else in the checkout (tests, notebooks, runs) stays out.
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "kind_tf", "checkpoints")


def run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (the build writes build/ and *.egg-info beside them)."""
    if importlib.util.find_spec("setuptools") is None:   # (and, before setuptools 70.1, the wheel package)
        pytest.skip("building the wheel offline needs setuptools in this environment")
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    for name in SOURCES:
        if (repo_root / name).is_dir():
            shutil.copytree(repo_root / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(repo_root / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--no-build-isolation", "--no-index",
         "-w", root / "dist"], cwd=root)
    (built,) = (root / "dist").glob("kind_tf-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the wheel installed in it (its dependencies: this environment's)."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", root], cwd=root.parent)
    python = root / "bin" / "python"
    if sys.prefix != sys.base_prefix:
        # Running inside a venv: --system-site-packages would see the base interpreter's packages, not this
        # venv's (where TensorFlow is), so this environment's site-packages are added by a .pth file.
        purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=root).stdout
        Path(purelib.strip(), "_outer_site_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # --ignore-installed: an editable install of this checkout may be visible through the system site-packages;
    # pip must neither count it as "already satisfied" nor try to uninstall it.
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", wheel], cwd=root.parent)
    return root


def test_the_wheel_carries_the_shipped_weights_and_the_readme_says_its_size(wheel: Path, repo_root: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    from kind_tf.presets import PRESETS

    for folder in {preset.folder for preset in PRESETS.values()}:     # every preset's folder, model card included
        for file in (repo_root / "checkpoints" / folder).iterdir():
            assert f"kind_tf/_checkpoints/{folder}/{file.name}" in names
    assert "kind_tf/assets/sample_dark.png" in names and "kind_tf/cli/__init__.py" in names
    assert not any(name.startswith(("tests/", "checkpoints/", "notebooks/")) for name in names)
    assert "kind-tf = kind_tf.cli:console_main" in entry_points
    megabytes = wheel.stat().st_size / 1e6
    print(f"wheel: {wheel.name}, {wheel.stat().st_size:,} bytes ({megabytes:.1f} MB)")
    stated = re.search(r"the wheel is about (\d+) MB", (repo_root / "README.md").read_text())
    assert stated and abs(int(stated.group(1)) - megabytes) <= 2, f"README's wheel size vs {megabytes:.1f} MB"


def test_kind_tf_enhance_from_elsewhere_uses_the_installed_weights(venv: Path, repo_root: Path, tmp_path: Path):
    from PIL import Image

    from kind_tf.image_ops import to_uint8
    from kind_tf.io import load_image

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    site_packages = Path(run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             cwd=elsewhere).stdout.strip())
    where = run([venv / "bin" / "python", "-c",
                 "import kind_tf, kind_tf.presets as p; print(kind_tf.__file__); print(p.preset_dir('kind-sice'))"],
                cwd=elsewhere).stdout.split()
    assert Path(where[0]) == site_packages / "kind_tf" / "__init__.py", "the venv imports the wheel, not the checkout"
    assert Path(where[1]) == site_packages / "kind_tf" / "_checkpoints" / "kind"

    assert run([venv / "bin" / "kind-tf", "--version"], cwd=elsewhere).stdout.strip() == \
        f"kind-tf {kind_tf.__version__}"

    # A crop of the bundled sample keeps the fresh process short; enhanced with the default preset.
    Image.open(repo_root / "kind_tf" / "assets" / "sample_dark.png").crop((200, 120, 360, 240)) \
        .save(elsewhere / "dark.png")
    done = run([venv / "bin" / "kind-tf", "enhance", "dark.png", "-o", "out"], cwd=elsewhere)
    assert f"KinD ({site_packages / 'kind_tf' / '_checkpoints' / 'kind'})" in done.stderr, done.stderr
    written = np.asarray(Image.open(elsewhere / "out" / "dark.png"))

    expected = to_uint8(kind_tf.load("kind-sice").enhance(load_image(elsewhere / "dark.png")))
    assert written.shape == expected.shape == (120, 160, 3)
    assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1
