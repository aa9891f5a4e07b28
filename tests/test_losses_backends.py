"""The loss library on every Keras backend: kind_tf.losses under JAX equals TensorFlow, and its keras.ops
SSIM / MS-SSIM (kind_tf.losses.similarity) equals tf.image.ssim / tf.image.ssim_multiscale.

One JAX subprocess (tests/losses_backend_worker.py; a process has one Keras backend, and start-up costs
~10 s here) imports kind_tf.losses, checks that TensorFlow was not imported, and computes every registry
loss (RGB and single-channel), the other library losses, combined specs, KinD's decom / restore / adjust
stage losses, Zero-DCE++'s zero-reference losses (the original's scalars and per image), SAD, the backend
averaging helpers and SSIM / MS-SSIM on fixed seeded inputs (and SICE pairs) this process saved, plus the
gradients of the main losses — all under ``jax.jit``, as a training step runs them, so every loss also
traces. This process computes the same cases with the same code under TensorFlow, eagerly, while the JAX
process runs (``slow``: about a minute on a 2-core CPU, most of it XLA compiling).

Tolerances: values |JAX − TF| ≤ 1e-5 · max(1, |TF|), i.e. absolute for values up to 1 and relative above
(the random-VGG perceptual losses ~1e3, log-MSE in dB, the decomposition's mutual-input terms ~7, SAD,
Zero-DCE++'s weighted terms); gradients ≤ 1e-4 of the case's largest TF gradient component.

SSIM: ≤ 1e-5 from tf.image.ssim (values and index maps) on random images, the 11-pixel minimum, odd and
one-channel sizes included. tf.image itself is not float32-exact — its 121-tap window sums and its strided
float32 means over H, W drift, up to ~7e-4 on 512×512 SICE pairs and ~8e-6 for MS-SSIM on random 176×176
ones — so MS-SSIM and the real pairs are checked against a float64 evaluation of the same definition (≤ 1e-5;
measured ≤ 5e-6) and against tf.image within its own error: |ours − tf| ≤ |tf − float64| + 1e-5.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from losses_backend_worker import compute, gradients
from scipy.ndimage import correlate1d

from kind_tf.losses import perceptual, similarity

pytest.importorskip("jax")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KIND_TF_SHARED", REPO.parent / "shared"))
TOLERANCE = 1e-5
GRADIENT_TOLERANCE = 1e-4
#: (H, W, C) of the random SSIM pairs: the 11-pixel minimum, odd and one-channel sizes, MS-SSIM's 5 scales.
RANDOM_SSIM_SIZES = [(11, 11, 3), (11, 16, 1), (13, 17, 3), (24, 27, 1), (97, 64, 3), (64, 97, 3), (176, 176, 3),
                     (200, 301, 3)]
#: SICE eval pairs (../shared/data/sice_pairs/eval) used whole (512×512) and as an odd crop.
REAL_PAIRS = ["1183", "1430"]
#: MS-SSIM with its 5 default scales needs ⌈size / 16⌉ ≥ 11.
MS_SSIM_MIN_SIZE = 161


def uniform(rng: np.random.Generator, shape, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    return rng.uniform(low, high, shape).astype(np.float32)


def he_normal(rng: np.random.Generator, shape) -> np.ndarray:
    if len(shape) == 1:
        return np.zeros(shape, np.float32)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[:-1]))).astype(np.float32)


@cache
def ssim_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """tag → (a, b): random pairs of every RANDOM_SSIM_SIZES, and SICE pairs (low vs high, high vs a
    brightened copy, an odd crop) when ../shared is present."""
    rng = np.random.default_rng(7)
    pairs = {}
    for height, width, channels in RANDOM_SSIM_SIZES:
        a = uniform(rng, (2, height, width, channels))
        pairs[f"random_{height}x{width}x{channels}"] = (a, np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
                                                        .astype(np.float32))
    folder = SHARED / "data/sice_pairs/eval"
    if folder.is_dir():
        from PIL import Image

        def load(kind: str, name: str) -> np.ndarray:
            return np.asarray(Image.open(folder / kind / f"{name}.jpg"), np.float32)[None] / 255.0

        for name in REAL_PAIRS:
            low, high = load("low", name), load("high", name)
            pairs[f"real_{name}_low_high"] = (low, high)
            pairs[f"real_{name}_high_brightened"] = (high, np.clip(0.8 * high + 0.05, 0, 1).astype(np.float32))
            pairs[f"real_{name}_crop"] = (low[:, 7:244, 3:360], high[:, 7:244, 3:360])
    return pairs


def make_inputs() -> dict[str, np.ndarray]:
    """Every input of the worker's cases, from one seeded generator (and the SICE images when present)."""
    rng = np.random.default_rng(2024)
    x: dict[str, np.ndarray] = {}
    rgb_true = uniform(rng, (2, 32, 37, 3))
    rgb_pred = (0.6 * rgb_true + 0.4 * uniform(rng, (2, 32, 37, 3))).astype(np.float32)
    rgb_pred[0, :3, :4] = 0.0                                     # black pixels (colour losses' undefined case)
    x.update(rgb_true=rgb_true, rgb_pred=rgb_pred, rgb_unrelated=uniform(rng, (2, 32, 37, 3)),
             rgb_quantised=(np.round(rgb_true * 4) / 4).astype(np.float32), logits=uniform(rng, (2, 32, 37, 3), -4, 4))
    gray_true = uniform(rng, (2, 32, 37, 1))
    x.update(gray_true=gray_true, gray_pred=(0.7 * gray_true + 0.3 * uniform(rng, (2, 32, 37, 1))).astype(np.float32))
    class_logits = uniform(rng, (2, 5, 6, 4), -3, 3)
    x.update(labels=np.eye(4, dtype=np.float32)[rng.integers(0, 4, (2, 5, 6))], class_logits=class_logits,
             probabilities=(np.exp(class_logits) / np.exp(class_logits).sum(-1, keepdims=True)).astype(np.float32),
             real_logits=uniform(rng, (3, 4, 4, 1), -3, 3), fake_logits=uniform(rng, (3, 4, 4, 1), -3, 3))
    for name in ("low", "high", "reflectance_low", "reflectance_high", "restored"):
        x[name] = uniform(rng, (2, 48, 48, 3))
    for name in ("illumination_low", "illumination_high"):
        x[name] = uniform(rng, (2, 48, 48, 1))
    x.update(zero_dce_images=uniform(rng, (2, 64, 70, 3), 0.0, 0.3), zero_dce_enhanced=uniform(rng, (2, 64, 70, 3)),
             zero_dce_curve=uniform(rng, (2, 64, 70, 3), -0.5, 0.5))
    x.update(features1=uniform(rng, (2, 32, 32, 8), -1, 1), features2=uniform(rng, (2, 16, 16, 16), -1, 1),
             features3=uniform(rng, (2, 8, 8, 32), -1, 1))
    for tag, (a, b) in ssim_pairs().items():
        x[f"ssim_a/{tag}"], x[f"ssim_b/{tag}"] = a, b
    # The random VGG feature extractors' weights (He-normal, zero biases), shared by both backends.
    for network in ("vgg16", "vgg19"):
        extractor = perceptual.feature_extractor(network, perceptual.DEFAULT_LAYERS[network], None)
        for i, weight in enumerate(extractor.get_weights()):
            x[f"{network}/{i}"] = he_normal(rng, weight.shape)
    return x


# --- float64 references of tf.image's SSIM definition ------------------------------------------------------
def float64_ssim_per_channel(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(SSIM, mean contrast-structure), each [N, C], of tf.image.ssim's definition in float64: separable VALID
    Gaussian window 11, σ 1.5, K1 0.01, K2 0.03, L 1, means over the window positions per channel."""
    window = similarity.gaussian_window()

    def filt(x):
        x = correlate1d(x, window, axis=1, mode="constant")[:, 5:-5]
        return correlate1d(x, window, axis=2, mode="constant")[:, :, 5:-5]

    a, b = a.astype(np.float64), b.astype(np.float64)
    mean_a, mean_b = filt(a), filt(b)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    luminance = (2 * mean_a * mean_b + c1) / (mean_a ** 2 + mean_b ** 2 + c1)
    contrast_structure = ((2 * (filt(a * b) - mean_a * mean_b) + c2)
                          / (filt(a * a) + filt(b * b) - mean_a ** 2 - mean_b ** 2 + c2))
    return (luminance * contrast_structure).mean(axis=(1, 2)), contrast_structure.mean(axis=(1, 2))


def float64_ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return float64_ssim_per_channel(a, b)[0].mean(-1)


def float64_ms_ssim(a: np.ndarray, b: np.ndarray, factors=similarity.MS_SSIM_POWER_FACTORS) -> np.ndarray:
    """MS-SSIM [N] in float64: Π_{j<M} relu(cs_j)^w_j · relu(SSIM_M)^w_M per channel, then the channel mean;
    odd sizes padded symmetrically at the end, then 2×2 averaged, between scales."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    value = 1.0
    for scale, weight in enumerate(factors):
        if scale:
            a, b = (np.pad(x, [(0, 0), (0, x.shape[1] % 2), (0, x.shape[2] % 2), (0, 0)], mode="symmetric")
                    for x in (a, b))
            a, b = (x.reshape(x.shape[0], x.shape[1] // 2, 2, x.shape[2] // 2, 2, -1).mean(axis=(2, 4)) for x in (a, b))
        ssim, contrast_structure = float64_ssim_per_channel(a, b)
        value = value * np.maximum(ssim if scale == len(factors) - 1 else contrast_structure, 0) ** weight
    return value.mean(-1)


def check_within_tf_error(ours: np.ndarray, reference: np.ndarray, exact: np.ndarray, what: str) -> None:
    """ours is float64-accurate (≤ 1e-5) and no further from tf.image than tf.image's own error + 1e-5."""
    assert np.abs(ours - exact).max() <= TOLERANCE, (what, np.abs(ours - exact).max())
    assert np.all(np.abs(ours - reference) <= np.abs(reference - exact) + TOLERANCE), what


def tf_image_references(pairs) -> dict[str, dict[str, np.ndarray]]:
    """tag → {"ssim", "ms_ssim" (where 5 scales fit)}: tf.image's values and their float64 counterparts."""
    out = {}
    for tag, (a, b) in pairs.items():
        out[tag] = {"ssim": tf.image.ssim(a, b, max_val=1.0).numpy(), "ssim_exact": float64_ssim(a, b)}
        if min(a.shape[1:3]) >= MS_SSIM_MIN_SIZE:
            out[tag].update(ms_ssim=tf.image.ssim_multiscale(a, b, max_val=1.0).numpy(),
                            ms_ssim_exact=float64_ms_ssim(a, b))
    return out


def check_ssim_values(values: dict[str, np.ndarray], references: dict[str, dict[str, np.ndarray]], what: str) -> None:
    """``values`` ("similarity/ssim/<tag>", "similarity/ms_ssim/<tag>") against tf.image's references."""
    for tag, reference in references.items():
        ours = values[f"similarity/ssim/{tag}"]
        if tag.startswith("random"):
            assert np.abs(ours - reference["ssim"]).max() <= TOLERANCE, (what, tag)
        check_within_tf_error(ours, reference["ssim"], reference["ssim_exact"], f"{what} SSIM {tag}")
        if "ms_ssim" in reference:
            check_within_tf_error(values[f"similarity/ms_ssim/{tag}"], reference["ms_ssim"],
                                  reference["ms_ssim_exact"], f"{what} MS-SSIM {tag}")


# --- TensorFlow only (fast) -----------------------------------------------------------------------------------
def test_keras_ssim_equals_tf_image_ssim_on_random_images():
    pairs = {tag: pair for tag, pair in ssim_pairs().items() if tag.startswith("random")}
    values = {}
    for tag, (a, b) in pairs.items():
        values[f"similarity/ssim/{tag}"] = similarity.ssim(a, b).numpy()
        if min(a.shape[1:3]) >= MS_SSIM_MIN_SIZE:
            values[f"similarity/ms_ssim/{tag}"] = similarity.ms_ssim(a, b).numpy()
        index_map = tf.image.ssim(a, b, max_val=1.0, return_index_map=True).numpy()
        assert np.abs(similarity.ssim_map(a, b).numpy() - index_map).max() <= TOLERANCE, tag
    check_ssim_values(values, tf_image_references(pairs), "tensorflow")
    # Fewer scales (the ms_ssim loss fits them to the patch), and images below the window.
    a, b = pairs["random_97x64x3"]
    np.testing.assert_allclose(similarity.ms_ssim(a, b, power_factors=(0.3, 0.7)).numpy(),
                               tf.image.ssim_multiscale(a, b, 1.0, power_factors=(0.3, 0.7)).numpy(), atol=TOLERANCE)
    with pytest.raises(ValueError, match="at least 11×11"):
        similarity.ssim(a[:, :10], b[:, :10])
    with pytest.raises(ValueError, match="coarsest scale"):
        similarity.ms_ssim(a, b)


def test_sad_loss_lives_in_the_losses():
    from kind_tf.losses import distillation
    from kind_tf.models import improved_unet

    assert improved_unet.sad_loss is distillation.sad_loss
    assert improved_unet.attention_map is distillation.attention_map
    assert improved_unet.spatial_softmax is distillation.spatial_softmax


def test_backend_average_loss_is_compute_average_loss_on_tensorflow():
    from kind_tf import backend

    per_example = tf.constant([1.0, 2.0, 4.0])
    assert float(backend.average_loss(per_example)) == pytest.approx(float(tf.nn.compute_average_loss(per_example)))
    assert float(backend.average_loss(per_example, global_batch_size=8)) == pytest.approx(7.0 / 8.0)
    low, high = backend.global_batch_extrema(tf.constant([[3.0, -1.0], [2.0, 5.0]]))
    assert (float(low), float(high)) == (-1.0, 5.0)


# --- JAX against TensorFlow (one subprocess) ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    """{"inputs", "tensorflow", "jax", "tf_image"}: the inputs, every case's values under each backend, and
    tf.image's SSIM / MS-SSIM (with float64 counterparts) of the SSIM pairs."""
    folder = tmp_path_factory.mktemp("losses_backends")
    inputs = make_inputs()
    np.savez(folder / "inputs.npz", **inputs)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    worker = subprocess.Popen([sys.executable, "tests/losses_backend_worker.py", str(folder / "inputs.npz"),
                               str(folder / "jax.npz")], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:      # TensorFlow's values (and tf.image's SSIMs, slow on 512×512) while the JAX process runs
        tensorflow = {**compute(inputs), **gradients(inputs)}
        references = tf_image_references(ssim_pairs())
    finally:
        perceptual.feature_extractor.cache_clear()      # drop the extractors whose weights were set
        _, stderr = worker.communicate(timeout=900)
    assert worker.returncode == 0, stderr[-3000:]
    return {"inputs": inputs, "tensorflow": tensorflow, "jax": dict(np.load(folder / "jax.npz")),
            "tf_image": references}


@pytest.mark.slow
def test_losses_import_and_run_without_tensorflow_under_jax(results):
    jax = results["jax"]
    assert str(jax["backend"]) == "jax"
    assert list(jax["tensorflow_after_import"]) == [""], jax["tensorflow_after_import"]
    assert list(jax["tensorflow_after_compute"]) == [""], jax["tensorflow_after_compute"]


@pytest.mark.slow
def test_every_loss_under_jax_equals_tensorflow(results):
    from kind_tf import losses

    tensorflow, jax = results["tensorflow"], results["jax"]
    values = [key for key in tensorflow if not key.startswith("grad/")]
    assert len(values) > 100 and all(np.all(np.isfinite(tensorflow[key])) for key in values)
    registry = {key.split("/")[2].split("[")[0] for key in values if key.startswith("registry/")}
    assert registry >= set(losses.names(include_aliases=False))
    errors = {}
    for key in values:
        assert jax[key].shape == tensorflow[key].shape, key
        error = np.abs(jax[key].astype(np.float64) - tensorflow[key])
        errors[key] = float((error / np.maximum(1.0, np.abs(tensorflow[key]))).max())
    failed = {key: error for key, error in errors.items() if error > TOLERANCE}
    assert not failed, failed


@pytest.mark.slow
def test_gradients_under_jax_equal_tensorflow(results):
    keys = [key for key in results["tensorflow"] if key.startswith("grad/")]
    assert len(keys) == 12
    for key in keys:
        expected, actual = results["tensorflow"][key], results["jax"][key]
        assert np.all(np.isfinite(actual)) and np.abs(expected).max() > 0, key
        assert np.abs(actual - expected).max() <= GRADIENT_TOLERANCE * np.abs(expected).max(), key


@pytest.mark.slow
def test_ssim_on_both_backends_equals_tf_image_ssim(results):
    """Random pairs and, when ../shared is present, SICE pairs (512×512 and an odd crop)."""
    if not any(tag.startswith("real") for tag in results["tf_image"]):
        pytest.skip(f"{SHARED / 'data/sice_pairs'} not found: only random SSIM pairs checked")
    for backend in ("tensorflow", "jax"):
        check_ssim_values(results[backend], results["tf_image"], backend)


@pytest.mark.slow
def test_jax_backend_helpers(results):
    l1, jax = results["tensorflow"]["registry/rgb/l1"], results["jax"]
    np.testing.assert_allclose(jax["backend/average_loss"], l1.mean(), rtol=1e-6)
    np.testing.assert_allclose(jax["backend/average_loss_global8"], l1.sum() / 8, rtol=1e-6)
    np.testing.assert_array_equal(jax["backend/global_batch_extrema"],
                                  [results["inputs"]["rgb_pred"].min(), results["inputs"]["rgb_pred"].max()])
