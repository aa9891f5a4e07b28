"""kind_tf.metrics against the reference values (../shared/reference/metrics) and scikit-image."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy import ndimage
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from kind_tf.metrics import brightness, color_cast, loe, niqe, psnr, ssim
from kind_tf.metrics._matlab import _fused_multiply_add, _split, imfilter_replicate_at, imresize
from kind_tf.metrics.naturalness import MSCN_WINDOW

# tf.image computes PSNR / SSIM in float32; scikit-image and values.csv in float64. Measured on
# the reference images: PSNR <= 1e-7 relative (the csv's 6 decimals), SSIM <= 2.3e-5 relative.
TF_FLOAT32_RTOL = 1e-4
# NIQE: 11 of the 12 images agree to 1e-7; loe_kind_1_gamma1over2.2 differs by 2.8e-4 (cause not
# found: it is not block ordering, border handling, imresize, gray rounding nor a near-tie).
NIQE_RTOL = 1e-3
# LOE is an exact count of order flips; values.csv has 6 decimals.
LOE_RTOL = 1e-6
# Wang et al.'s SSIM, as values.csv was computed.
SKIMAGE_SSIM = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}


def _reference_rows(shared_dir: Path) -> tuple[Path, list[dict[str, str]]]:
    metrics_dir = shared_dir / "reference" / "metrics"
    with open(metrics_dir / "values.csv", newline="") as f:
        return metrics_dir / "images", list(csv.DictReader(f))


def _read_uint8(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def reference(shared_dir: Path) -> dict[str, dict]:
    """values.csv rows by image name, each with its uint8 pixels."""
    images_dir, rows = _reference_rows(shared_dir)
    return {row["image"]: dict(row, pixels=_read_uint8(images_dir / row["image"])) for row in rows}


@pytest.fixture(scope="module")
def reference_pairs(reference: dict[str, dict]) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """(row, reference uint8, enhanced uint8) for the rows that have a reference image."""
    return [
        (row, reference[row["reference_image"]]["pixels"], row["pixels"])
        for row in reference.values()
        if row["reference_image"]
    ]


def _random_pairs(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Smooth-ish random images and noisy versions of them, so SSIM is far from 0 and 1."""
    rng = np.random.default_rng(seed)
    clean = np.clip(rng.random(shape) * 0.5 + np.linspace(0, 0.5, shape[-2])[:, None], 0, 1)
    noisy = np.clip(clean + rng.normal(0, 0.05, shape), 0, 1)
    return clean, noisy


# --- against values.csv ----------------------------------------------------------------------


def test_psnr_ssim_match_values_csv(reference_pairs: list) -> None:
    for row, ref, enh in reference_pairs:
        # values.csv: scikit-image on uint8 with data_range 255 == ours on uint8 / 255 with max 1.
        ref_f, enh_f = ref / 255.0, enh / 255.0
        np.testing.assert_allclose(psnr(ref_f, enh_f), float(row["psnr_uint8_rgb"]), rtol=TF_FLOAT32_RTOL)
        np.testing.assert_allclose(ssim(ref_f, enh_f), float(row["ssim_uint8_rgb"]), rtol=TF_FLOAT32_RTOL)


def test_loe_matches_values_csv(reference_pairs: list) -> None:
    for row, ref, enh in reference_pairs:
        np.testing.assert_allclose(loe(ref / 255.0, enh / 255.0), float(row["loe"]), rtol=LOE_RTOL)


def test_niqe_matches_values_csv(reference: dict[str, dict]) -> None:
    by_shape: dict[tuple[int, ...], list[dict]] = {}
    for row in reference.values():
        by_shape.setdefault(row["pixels"].shape, []).append(row)
    for rows in by_shape.values():  # one batch per image size
        batch = np.stack([row["pixels"] for row in rows]) / 255.0
        expected = [float(row["niqe"]) for row in rows]
        np.testing.assert_allclose(niqe(batch), expected, rtol=NIQE_RTOL)


# --- against scikit-image on random images -----------------------------------------------------


def _skimage_psnr_ssim(clean: np.ndarray, noisy: np.ndarray, y_channel: bool) -> tuple[list, list]:
    psnrs, ssims = [], []
    for c, n in zip(clean, noisy):
        if y_channel:  # scikit-image's rgb2ycbcr is MATLAB's: Y in [16, 235] for RGB in [0, 1]
            c, n = rgb2ycbcr(c)[..., 0] / 255.0, rgb2ycbcr(n)[..., 0] / 255.0
        psnrs.append(peak_signal_noise_ratio(c, n, data_range=1.0))
        ssims.append(
            structural_similarity(c, n, data_range=1.0, channel_axis=None if y_channel else -1, **SKIMAGE_SSIM)
        )
    return psnrs, ssims


@pytest.mark.parametrize("y_channel", [False, True])
def test_psnr_ssim_match_skimage_on_random_images(y_channel: bool) -> None:
    clean, noisy = _random_pairs(0, (3, 40, 56, 3))
    expected_psnr, expected_ssim = _skimage_psnr_ssim(clean, noisy, y_channel)
    np.testing.assert_allclose(psnr(clean, noisy, y_channel=y_channel), expected_psnr, rtol=TF_FLOAT32_RTOL)
    np.testing.assert_allclose(ssim(clean, noisy, y_channel=y_channel), expected_ssim, rtol=TF_FLOAT32_RTOL)


# --- shapes, graphs and dtypes -----------------------------------------------------------------


def test_psnr_ssim_shapes_and_tf_function() -> None:
    clean, noisy = (tf.constant(x, tf.float32) for x in _random_pairs(1, (2, 32, 32, 3)))
    for metric in (psnr, ssim):
        batch = metric(clean, noisy)
        assert batch.shape == (2,) and batch.dtype == tf.float32
        assert metric(clean[0], noisy[0]).shape == ()  # a single HWC image gives a scalar
        np.testing.assert_allclose(metric(clean[1], noisy[1]), batch[1], rtol=1e-6)
        graph = tf.function(metric, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)] * 2)
        np.testing.assert_allclose(graph(clean, noisy), batch, rtol=1e-6)
        graph_y = tf.function(lambda a, b, m=metric: m(a, b, y_channel=True))
        np.testing.assert_allclose(graph_y(clean, noisy), metric(clean, noisy, y_channel=True), rtol=1e-6)


def test_loe_niqe_shapes() -> None:
    clean, noisy = _random_pairs(2, (2, 200, 100, 3))
    assert loe(clean, noisy).shape == (2,)
    assert isinstance(loe(clean[0], noisy[0]), float)
    assert loe(tf.constant(clean[0]), tf.constant(noisy[0])) == loe(clean[0], noisy[0])  # eager tensors too
    assert loe(clean, clean).tolist() == [0.0, 0.0]  # same image: no order flips
    assert niqe(noisy).shape == (2,)
    assert niqe(noisy[1]) == pytest.approx(niqe(noisy)[1], rel=1e-12)


UINT8_IMAGE = np.full((1, 200, 100, 3), 128, dtype=np.uint8)
FLOAT_IMAGE = np.full((1, 200, 100, 3), 0.5, dtype=np.float32)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: psnr(FLOAT_IMAGE, x),
        lambda x: ssim(x, FLOAT_IMAGE),
        lambda x: psnr(FLOAT_IMAGE, x, y_channel=True),
        lambda x: loe(x, FLOAT_IMAGE),
        lambda x: loe(FLOAT_IMAGE, x),
        lambda x: niqe(x),
    ],
    ids=["psnr", "ssim", "psnr_y", "loe_reference", "loe_enhanced", "niqe"],
)
@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "tensor"])
def test_uint8_is_refused(call, as_tensor: bool) -> None:
    image = tf.constant(UINT8_IMAGE) if as_tensor else UINT8_IMAGE
    with pytest.raises(ValueError, match="floating-point"):
        call(image)


def test_uint8_is_refused_under_tf_function() -> None:
    with pytest.raises(ValueError, match="floating-point"):
        tf.function(psnr)(tf.constant(UINT8_IMAGE), tf.constant(UINT8_IMAGE))


def test_numpy_metrics_refuse_other_ranges_and_small_images() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        niqe(FLOAT_IMAGE * 255)  # 0..255 floats
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        loe(FLOAT_IMAGE, np.full_like(FLOAT_IMAGE, np.nan))
    with pytest.raises(ValueError, match="shapes differ"):
        loe(FLOAT_IMAGE, FLOAT_IMAGE[:, :100])
    with pytest.raises(ValueError, match="two 96x96 blocks"):
        niqe(FLOAT_IMAGE[:, :96, :96])
    with pytest.raises(ValueError, match="rank"):
        psnr(FLOAT_IMAGE[0, 0], FLOAT_IMAGE[0, 0])


# --- MATLAB / reference-run image operations -------------------------------------------------


def test_imresize_matches_matlab_geometry() -> None:
    # A linear ramp is reproduced exactly by the normalised symmetric kernel away from the
    # borders, which pins down MATLAB's coordinate mapping: output x samples input 2x - 0.5.
    ramp = np.tile(np.arange(1.0, 65.0)[:, None], (1, 5))
    half = imresize(ramp, scale=0.5)
    assert half.shape == (32, 3)  # ceil(0.5 * size)
    np.testing.assert_allclose(half[4:-4, 1], 2 * np.arange(5.0, 29.0) - 0.5, atol=1e-12)
    # Antialiasing: a Nyquist-rate stripe pattern is averaged away, not aliased.
    stripes = np.tile([0.0, 1.0], 32)[:, None] * np.ones((1, 8))
    np.testing.assert_allclose(imresize(stripes, scale=0.5)[4:-4], 0.5, atol=0.02)
    # output_shape gives per-axis scales; constants stay constant.
    np.testing.assert_allclose(imresize(np.full((40, 60), 7.0), output_shape=(5, 8)), 7.0, rtol=1e-14)


def test_fused_multiply_add_rounds_once() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([np.floor(rng.random(500) * 256), rng.random(500) * 300])  # gray levels, resized values
    acc = rng.random(1000) * 100 - 50
    a = 0.0123456789
    exact = [float(Fraction(a) * Fraction(v) + Fraction(c)) for v, c in zip(x.tolist(), acc.tolist())]
    np.testing.assert_array_equal(_fused_multiply_add(a, x, *_split(x), acc), exact)


def test_imfilter_replicate_at_is_imfilter() -> None:
    image = np.random.default_rng(4).random((20, 30)) * 255
    rows, cols = np.indices(image.shape)
    at_all = imfilter_replicate_at(image, MSCN_WINDOW, rows.ravel(), cols.ravel()).reshape(image.shape)
    np.testing.assert_allclose(at_all, ndimage.correlate(image, MSCN_WINDOW, mode="nearest"), rtol=1e-13)


def test_brightness_and_color_cast_hand_computed() -> None:
    # A 2×2 image: R means (0.2 + 0.4 + 0.6 + 0.8) / 4 = 0.5, G 0.25, B 0.0 (hand-computed).
    image = np.zeros((2, 2, 3), np.float32)
    image[..., 0] = [[0.2, 0.4], [0.6, 0.8]]
    image[..., 1] = 0.25
    assert float(brightness(image)) == pytest.approx(0.25, abs=1e-7)      # (0.5 + 0.25 + 0) / 3
    assert float(color_cast(image)) == pytest.approx(0.5, abs=1e-7)        # 0.5 − 0.0
    grey = np.full((1, 3, 5, 3), 0.3, np.float32)
    assert float(color_cast(grey)[0]) == 0.0 and float(brightness(grey)[0]) == pytest.approx(0.3)
    batch = np.stack([image, image[..., ::-1]])
    np.testing.assert_allclose(color_cast(batch).numpy(), [0.5, 0.5], atol=1e-7)   # channel order free
    with pytest.raises(ValueError, match="floating-point"):
        brightness((image * 255).astype(np.uint8))
