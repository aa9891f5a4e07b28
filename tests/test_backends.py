"""Keras 3 on every backend: the pipelines under JAX equal the goldens and TensorFlow's results.

One JAX subprocess (tests/backend_worker.py; a process has one Keras backend) runs every parity case and
saves its arrays; the tests compare them with the original code's goldens in ../shared (≤ 1e-4, as under
TensorFlow in test_parity.py / test_zero_dce.py) and with the same calls made here under TensorFlow
(≤ 1e-5). PyTorch is not tested: it is not installed in this environment (and not in CI's package set);
nothing in the pipelines is JAX-specific, so ``KERAS_BACKEND=torch`` runs them eagerly (kind_tf.backend).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN_TOLERANCE = 1e-4
BACKEND_TOLERANCE = 1e-5

pytest.importorskip("jax")


def run_under(backend: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


@pytest.fixture(scope="module")
def zero_dce_weights(shared_dir, tmp_path_factory) -> Path:
    from kind_tf.convert.zero_dce_pth import convert_zero_dce_pth

    return convert_zero_dce_pth(shared_dir / "reference/zero_dce_official/Epoch99.pth",
                                tmp_path_factory.mktemp("zero_dce"))


@pytest.fixture(scope="module")
def jax_arrays(shared_dir, original_weights, zero_dce_weights, tmp_path_factory) -> dict[str, np.ndarray]:
    out = tmp_path_factory.mktemp("jax") / "arrays.npz"
    result = run_under("jax", "tests/backend_worker.py", str(out), str(shared_dir), str(original_weights),
                       str(zero_dce_weights), str(REPO / "checkpoints" / "kind"))
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(out))


def test_models_pipeline_and_losses_import_without_tensorflow():
    code = ("import sys, kind_tf.models, kind_tf.losses, kind_tf.weights, kind_tf.inference, kind_tf.image_ops; "
            "import kind_tf.models.zero_dce, kind_tf.models.patchgan; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow')[:3])")
    result = run_under("jax", "-c", code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", result.stdout


@pytest.mark.slow
def test_jax_backend_ran_without_tensorflow(jax_arrays):
    assert str(jax_arrays["backend"]) == "jax"
    assert not bool(jax_arrays["tensorflow_imported"])


@pytest.mark.slow
def test_kind_networks_under_jax_equal_the_original(shared_dir, jax_arrays):
    for path in sorted((shared_dir / "reference/kind_official/golden").glob("*.npz")):
        golden = np.load(path)
        for ratio, adjusted in ((5, "I_adjust_ratio5"), (2, "I_adjust_ratio2")):
            got = {name: jax_arrays[f"kind_official/{path.stem}/ratio{ratio}/{name}"]
                   for name in ("reflectance", "illumination", "adjusted_illumination", "denoise_weight")}
            assert max_abs(got["reflectance"], golden["R"]) <= GOLDEN_TOLERANCE, path.name
            assert max_abs(got["illumination"], golden["I"]) <= GOLDEN_TOLERANCE, path.name
            assert max_abs(got["adjusted_illumination"], golden[adjusted]) <= GOLDEN_TOLERANCE, (path.name, ratio)
            assert max_abs(got["denoise_weight"][..., 0], golden["denoise_weight"]) <= GOLDEN_TOLERANCE


@pytest.mark.slow
def test_kind_pipeline_under_jax_equals_the_original_and_tensorflow(shared_dir, original_weights, jax_arrays):
    from kind_tf.inference import KinD

    kind = KinD.from_weights(original_weights)
    pairs = {"input": "input", "reflectance": "R_low", "illumination": "I_low", "restored_reflectance": "R_restored",
             "adjusted_illumination": "I_adjusted", "enhanced": "output_S"}
    paths = sorted((shared_dir / "reference/kind_pipeline_golden").glob("*.npz"))
    assert any(np.load(p)["input"].shape[1] % 4 for p in paths), "the odd-sized 400×370 golden is missing"
    for path in paths:
        golden = np.load(path)
        tensorflow = kind.enhance(golden["input_uint8"], ratio=5.0, return_intermediates=True)
        for ours, theirs in pairs.items():
            got = jax_arrays[f"kind_pipeline/{path.stem}/{ours}"]
            expected = golden[theirs][0] if golden[theirs].ndim == 4 else golden[theirs]
            assert max_abs(got, expected) <= GOLDEN_TOLERANCE, (path.name, ours)
            assert max_abs(got, tensorflow[ours]) <= BACKEND_TOLERANCE, (path.name, ours)
        assert max_abs(jax_arrays[f"kind_pipeline/{path.stem}/denoise_weight"][..., 0],
                       golden["denoise_weight"]) <= GOLDEN_TOLERANCE


@pytest.mark.slow
def test_zero_dce_under_jax_equals_the_original_and_tensorflow(shared_dir, zero_dce_weights, jax_arrays):
    from kind_tf.inference import ZeroDCE

    zero_dce = ZeroDCE.from_weights(zero_dce_weights)
    for path in sorted((shared_dir / "reference/zero_dce_official/golden").glob("*.npz")):
        golden = np.load(path)
        tensorflow = zero_dce.enhance(golden["input"], return_intermediates=True)
        for ours, theirs in (("enhanced", "enhanced"), ("curve_map", "A")):
            got = jax_arrays[f"zero_dce/{path.stem}/{ours}"]
            assert max_abs(got, golden[theirs]) <= GOLDEN_TOLERANCE, (path.name, ours)
            assert max_abs(got, tensorflow[ours]) <= BACKEND_TOLERANCE, (path.name, ours)


@pytest.mark.slow
def test_shipped_weights_auto_ratio_and_tiling_under_jax_equal_tensorflow(jax_arrays):
    from kind_tf.enhance_job import SAMPLE_IMAGE
    from kind_tf.inference import KinD, default_weights_dir
    from kind_tf.io import load_image

    shipped = KinD.from_weights(default_weights_dir())
    sample = load_image(SAMPLE_IMAGE)
    result = shipped.enhance(sample, return_intermediates=True)
    assert shipped.default_ratio == "auto"
    assert abs(float(jax_arrays["shipped/ratio"]) - float(result["ratio"])) <= 1e-5 * float(result["ratio"])
    assert max_abs(jax_arrays["shipped/enhanced"], result["enhanced"]) <= BACKEND_TOLERANCE
    tiled = shipped.enhance(sample, ratio=3.0, tile=128)
    assert max_abs(jax_arrays["shipped/tiled"], tiled) <= BACKEND_TOLERANCE


@pytest.mark.slow
def test_enhance_cli_under_jax_writes_the_tensorflow_png(tmp_path):
    from PIL import Image

    from kind_tf.enhance_job import SAMPLE_IMAGE
    from kind_tf.image_ops import to_uint8
    from kind_tf.inference import KinD, default_weights_dir
    from kind_tf.io import load_image

    result = run_under("jax", "enhance.py", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "tensorflow" not in result.stderr.lower().replace("keras_backend", ""), result.stderr
    written = np.asarray(Image.open(tmp_path / "sample_dark.png").convert("RGB"), np.int16)
    expected = to_uint8(KinD.from_weights(default_weights_dir()).enhance(load_image(SAMPLE_IMAGE))).astype(np.int16)
    assert np.abs(written - expected).max() <= 1


def test_tensorflow_only_parts_say_so_in_one_line(tmp_path):
    result = run_under("jax", "-m", "kind_tf.export", "kind", "--out", str(tmp_path / "saved"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TensorFlow backend" in lines[0] and "'jax'" in lines[0], result.stderr
    assert not (tmp_path / "saved").exists()
