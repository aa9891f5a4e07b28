"""Numerical parity with the original TF1 KinD, on the inference path users run (KinD.enhance)."""

import numpy as np
import pytest

from kind_tf.inference import KinD

TOLERANCE = 1e-4


def max_abs_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def golden_files(shared_dir, folder):
    files = sorted((shared_dir / "reference" / folder).glob("*.npz"))
    assert files, f"no golden files in {folder}"
    return files


@pytest.mark.slow
def test_decom_adjust_and_denoise_weight_match_the_original(shared_dir, original_weights):
    kind = KinD.from_weights(original_weights)
    for path in golden_files(shared_dir, "kind_official/golden"):
        golden = np.load(path)
        for ratio, key in ((5.0, "I_adjust_ratio5"), (2.0, "I_adjust_ratio2")):
            # The golden input is already min-max normalised; normalising it again is the identity.
            out = kind.enhance(golden["input"], ratio=ratio, return_intermediates=True)
            assert max_abs_diff(out["input"], golden["input"]) <= TOLERANCE
            assert max_abs_diff(out["reflectance"], golden["R"]) <= TOLERANCE, path.name
            assert max_abs_diff(out["illumination"], golden["I"]) <= TOLERANCE, path.name
            assert max_abs_diff(out["adjusted_illumination"], golden[key]) <= TOLERANCE, (path.name, ratio)
            assert max_abs_diff(out["denoise_weight"][..., 0], golden["denoise_weight"]) <= TOLERANCE


@pytest.mark.slow
def test_whole_pipeline_matches_the_original_including_odd_sizes(shared_dir, original_weights):
    kind = KinD.from_weights(original_weights)
    names = []
    for path in golden_files(shared_dir, "kind_pipeline_golden"):
        golden = np.load(path)
        out = kind.enhance(golden["input_uint8"], ratio=5.0, return_intermediates=True)
        pairs = {"input": "input", "reflectance": "R_low", "illumination": "I_low",
                 "restored_reflectance": "R_restored", "adjusted_illumination": "I_adjusted",
                 "enhanced": "output_S"}
        for ours, theirs in pairs.items():
            expected = golden[theirs][0] if golden[theirs].ndim == 4 else golden[theirs]
            assert max_abs_diff(out[ours], expected) <= TOLERANCE, (path.name, ours)
        assert max_abs_diff(out["denoise_weight"][..., 0], golden["denoise_weight"]) <= TOLERANCE
        names.append(path.stem)
    assert "4" in names  # 400×370: the odd-size case


def test_gaussian_blur_matches_scipy_nearest_mode():
    from scipy.ndimage import gaussian_filter

    from kind_tf.image_ops import gaussian_blur

    image = np.random.default_rng(0).random((7, 30), dtype=np.float64)
    expected = gaussian_filter(image, sigma=3.0, mode="nearest", truncate=4.0)
    got = gaussian_blur(image[None, :, :, None].astype(np.float32), 3.0).numpy()[0, :, :, 0]
    assert max_abs_diff(got, expected) < 1e-6
