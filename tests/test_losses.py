"""The loss library (kind_tf.losses): every loss against an independent numpy / scipy computation on
small fixed tensors, their properties (zero at identity, symmetry, finite gradients on black images,
log-MSE scaling, MS-SSIM on small patches), the registry and specs, and train.py --loss end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage
from test_kind_losses import np_gradient, np_gray
from test_training import TINY, write_pairs

from kind_tf import losses
from kind_tf.losses import kind
from kind_tf.losses.pixel import CROSSENTROPY_EPSILON
from kind_tf.models.patchgan import PatchGANDiscriminator
from kind_tf.weights import WeightsError

TOL = 1e-5
REPO = Path(__file__).resolve().parents[1]


def images(shape, seed, low=0.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


@pytest.fixture(scope="module")
def pair():
    """Two RGB batches (odd sizes) with some black pixels in the prediction."""
    y_true = images((2, 13, 17, 3), 1)
    y_pred = images((2, 13, 17, 3), 2)
    y_pred[0, :3, :4] = 0.0
    return y_true, y_pred


def run(fn, y_true, y_pred, **kwargs):
    return fn(tf.constant(y_true), tf.constant(y_pred), reduction="none", **kwargs).numpy()


def close(actual, expected, tol=TOL):
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def per_example(values):
    return values.reshape(len(values), -1).mean(axis=1)


# --- numpy references --------------------------------------------------------------------------------
def np_ssim_cs(a, b):
    """tf.image.ssim's per-channel SSIM and contrast-structure means (float64): 11×11 Gaussian σ 1.5,
    'VALID', K1 0.01, K2 0.03, peak 1. Returns two [N, C] arrays."""
    size, sigma = 11, 1.5
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * sigma ** 2))
    window = g / g.sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def filt(x):
        return np.einsum("ijkl,kl->ij", np.lib.stride_tricks.sliding_window_view(x, (size, size)), window)

    ssim, cs = np.zeros(a.shape[::3]), np.zeros(a.shape[::3])
    for n in range(a.shape[0]):
        for c in range(a.shape[-1]):
            p, q = a[n, ..., c].astype(np.float64), b[n, ..., c].astype(np.float64)
            mp, mq = filt(p), filt(q)
            luminance = (2 * mp * mq + c1) / (mp ** 2 + mq ** 2 + c1)
            cs_map = (2 * (filt(p * q) - mp * mq) + c2) / (filt(p * p) + filt(q * q) - mp ** 2 - mq ** 2 + c2)
            ssim[n, c], cs[n, c] = (luminance * cs_map).mean(), cs_map.mean()
    return ssim, cs


def np_ms_ssim(a, b, factors):
    """MS-SSIM as Wang et al. / tf.image: Π_{j<M} relu(cs_j)^w_j · relu(ssim_M)^w_M per channel, then
    the channel mean; between scales odd sizes are padded symmetrically at the end, 2×2 averaged."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    value = 1.0
    for scale, weight in enumerate(factors):
        if scale:
            a, b = (np.pad(x, [(0, 0), (0, x.shape[1] % 2), (0, x.shape[2] % 2), (0, 0)], mode="symmetric")
                    for x in (a, b))
            a, b = (x.reshape(x.shape[0], x.shape[1] // 2, 2, x.shape[2] // 2, 2, -1).mean(axis=(2, 4))
                    for x in (a, b))
        ssim, cs = np_ssim_cs(a, b)
        value = value * np.maximum(ssim if scale == len(factors) - 1 else cs, 0) ** weight
    return value.mean(axis=-1)


def np_blur(x, sigma, truncate=4.0):
    return ndimage.gaussian_filter(x.astype(np.float64), sigma=(0, sigma, sigma, 0), mode="nearest",
                                   truncate=truncate)


def np_laplacian_bands(x, levels):
    """Laplacian pyramid (finest first) with the pyramid module's operators, in numpy/scipy."""
    gaussians = [x.astype(np.float64)]
    for _ in range(levels - 1):
        gaussians.append(np_blur(gaussians[-1], 1.0, 2.0)[:, ::2, ::2])
    bands = []
    for fine, coarse in zip(gaussians[:-1], gaussians[1:]):
        up = np_blur(coarse.repeat(2, axis=1).repeat(2, axis=2), 1.0, 2.0)[:, :fine.shape[1], :fine.shape[2]]
        bands.append(fine - up)
    return bands + [gaussians[-1]], gaussians


def np_angles(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    defined = (na > 1e-6) & (nb > 1e-6)
    cos = np.where(defined, (a * b).sum(-1) / np.where(defined, na * nb, 1), 1.0)
    return np.arccos(np.clip(cos, -1, 1)), cos


# --- each loss against numpy -------------------------------------------------------------------------
def test_pixel_losses_match_numpy(pair):
    y, p = pair
    d = p.astype(np.float64) - y
    close(run(losses.l1, y, p), per_example(np.abs(d)))
    close(run(losses.l2, y, p), per_example(d ** 2))
    for beta in (0.5, 0.2):
        expected = np.where(np.abs(d) < beta, 0.5 * d ** 2 / beta, np.abs(d) - 0.5 * beta)
        close(run(losses.smooth_l1, y, p, beta=beta), per_example(expected))
    close(run(losses.smooth_l1, y, p, beta=0.0), per_example(np.abs(d)))
    delta = 0.3
    close(run(losses.huber, y, p, delta=delta),
          per_example(np.where(np.abs(d) <= delta, 0.5 * d ** 2, delta * (np.abs(d) - 0.5 * delta))))
    # Huber(δ) = δ · smooth L1(β = δ) (the survey: δ = 1 is smooth L1).
    close(run(losses.huber, y, p, delta=delta), delta * run(losses.smooth_l1, y, p, beta=delta))
    close(run(losses.log_mse, y, p), 10 * np.log10(per_example(d ** 2) + 1e-8))


def test_log_mse_scale():
    y, p = images((3, 8, 8, 3), 3), images((3, 8, 8, 3), 4)
    scaled = y + np.sqrt(10.0) * (p - y)                  # 10 × the MSE
    close(run(losses.log_mse, y, scaled) - run(losses.log_mse, y, p), np.full(3, 10.0), tol=1e-4)
    assert float(losses.log_mse(y, y)) == pytest.approx(-80.0, abs=1e-3)   # the ε floor, not 0


def test_crossentropies_match_numpy():
    y, p = images((2, 5, 6, 3), 5), images((2, 5, 6, 3), 6, 0.01, 0.99)
    p[0, 0, 0] = [0.0, 1.0, 0.5]                          # clipped to [ε, 1 − ε]
    eps = np.float32(CROSSENTROPY_EPSILON)                 # the bounds as float32 holds them: 1 − ε = 1 − 1.19e-7
    q = np.clip(p, eps, np.float32(1) - eps).astype(np.float64)
    close(run(losses.binary_crossentropy, y, p), per_example(-(y * np.log(q) + (1 - y) * np.log(1 - q))))
    logits = images((2, 5, 6, 3), 7, -4, 4).astype(np.float64)
    sig = 1 / (1 + np.exp(-logits))
    close(run(losses.binary_crossentropy, y, logits, from_logits=True),
          per_example(-(y * np.log(sig) + (1 - y) * np.log(1 - sig))))
    labels = np.eye(4, dtype=np.float32)[np.random.default_rng(8).integers(0, 4, (2, 5, 6))]
    probs = np.exp(logits[..., :1] * np.arange(4)) / np.exp(logits[..., :1] * np.arange(4)).sum(-1, keepdims=True)
    close(run(losses.categorical_crossentropy, labels, probs.astype(np.float32)),
          per_example(-(labels * np.log(np.clip(probs.astype(np.float32), eps, 1 - eps))).sum(-1)))
    z = logits[..., :1] * np.arange(4)
    close(run(losses.categorical_crossentropy, labels, z.astype(np.float32), from_logits=True),
          per_example(-(labels * (z - np.log(np.exp(z).sum(-1, keepdims=True)))).sum(-1)), 1e-4)


def test_region_loss_matches_numpy():
    # Quantised target with many ties: the darkest 40 % is exactly ⌊0.4·H·W⌋ pixels, stable order.
    y = (np.round(images((2, 6, 5, 3), 9) * 4) / 4).astype(np.float32)
    p = images((2, 6, 5, 3), 10)
    luma = (y.astype(np.float64) * [0.2989, 0.5870, 0.1140]).sum(-1).reshape(2, -1)
    error = np.abs(p.astype(np.float64) - y).mean(-1).reshape(2, -1)
    k = int(0.4 * 30)
    expected = []
    for n in range(2):
        dark = np.zeros(30, bool)
        dark[np.argsort(luma[n].astype(np.float32), kind="stable")[:k]] = True
        expected.append(4 * error[n][dark].mean() + error[n][~dark].mean())
    close(run(losses.region, y, p), np.array(expected))
    # Single-channel maps (the adjust stage) and the all-black target (every pixel tied).
    zeros = np.zeros((1, 5, 5, 1), np.float32)
    ones = np.ones((1, 5, 5, 1), np.float32)
    close(run(losses.region, zeros, ones), [5.0])


def test_ssim_and_ms_ssim_match_numpy():
    y, p = images((2, 24, 27, 3), 11), images((2, 24, 27, 3), 12)
    p = (0.6 * y + 0.4 * p).astype(np.float32)            # correlated, so every scale's cs > 0
    ssim, _ = np_ssim_cs(p, y)
    close(run(losses.ssim, y, p), 1 - ssim.mean(-1))
    np.testing.assert_allclose(run(losses.ssim, y, p), kind.ssim_loss(p, y).numpy())
    for shape in [(2, 45, 50, 3), (2, 32, 32, 3), (1, 13, 40, 1)]:
        y, p = images(shape, 13), images(shape, 14)
        p = (0.7 * y + 0.3 * p).astype(np.float32)
        factors = losses.ms_ssim_power_factors(shape[1], shape[2])
        assert sum(factors) == pytest.approx(1.0)
        close(run(losses.ms_ssim, y, p), 1 - np_ms_ssim(p, y, factors), 1e-4)
    assert losses.ms_ssim_power_factors(32, 32) == pytest.approx((0.0448 / 0.3304, 0.2856 / 0.3304))
    assert len(losses.ms_ssim_power_factors(45, 50)) == 3 and len(losses.ms_ssim_power_factors(96, 96)) == 4
    assert len(losses.ms_ssim_power_factors(256, 256)) == 5


def test_ms_ssim_small_and_unknown_sizes():
    y, p = images((2, 32, 32, 3), 15), images((2, 32, 32, 3), 16)
    value = losses.ms_ssim(y, p, reduction="none")
    assert value.shape == (2,) and np.all(np.isfinite(value))
    # Sizes unknown when traced: the number of scales is chosen at run time (3 weights: 3 branches).
    factors = (0.2, 0.3, 0.5)
    dynamic = tf.function(lambda a, b: losses.ms_ssim(a, b, power_factors=factors, reduction="none"),
                          autograph=False, input_signature=[tf.TensorSpec([None, None, None, 3])] * 2)
    for size in (32, 50):                                 # 2 and 3 scales fit
        y, p = images((2, size, size, 3), 15), images((2, size, size, 3), 16)
        close(dynamic(y, p).numpy(), losses.ms_ssim(y, p, power_factors=factors, reduction="none").numpy())
    small = images((1, 16, 20, 3), 17)                    # one scale: MS-SSIM is SSIM
    close(losses.ms_ssim(small, small * 0.5).numpy(), losses.ssim(small, small * 0.5).numpy())
    with pytest.raises(ValueError, match="at least 11×11"):
        losses.ms_ssim(images((1, 10, 32, 3), 1), images((1, 10, 32, 3), 2))
    with pytest.raises(ValueError, match="at least 11×11"):
        losses.ssim(images((1, 8, 8, 3), 1), images((1, 8, 8, 3), 2))


def test_ms_ssim_gradient_is_finite_where_a_scale_is_clamped():
    # Unrelated images: some channels' contrast-structure is < 0 at a scale, tf's gradient is NaN there.
    y, p = tf.constant(images((4, 32, 32, 3), 0)), tf.Variable(images((4, 32, 32, 3), 1))
    with tf.GradientTape() as tape:
        raw = tf.reduce_sum(1.0 - tf.image.ssim_multiscale(p, y, 1.0, power_factors=(0.0448 / 0.3304,
                                                                                   0.2856 / 0.3304)))
    reference = tape.gradient(raw, p).numpy()
    with tf.GradientTape() as tape:
        value = losses.ms_ssim(y, p, reduction="sum")
    grad = tape.gradient(value, p).numpy()
    assert np.isnan(reference).any() and np.isfinite(grad).all()
    close(float(value), float(raw))
    finite = np.isfinite(reference)
    # The keras.ops MS-SSIM (kind_tf.losses.similarity) is not tf's graph, so its gradient equals tf's to
    # float32 rounding, not bit for bit: measured max |difference| 6.5e-6 of the gradient's scale.
    assert np.abs(grad[finite] - reference[finite]).max() <= 1e-4 * np.abs(reference[finite]).max()
    assert np.all(grad[~finite] == 0.0)


def test_color_losses_match_numpy(pair):
    y, p = pair
    angles, cosines = np_angles(p, y)
    close(run(losses.color_angle, y, p), per_example(angles))
    close(run(losses.color_cosine, y, p), 1 - per_example(cosines))
    _, gy = np_laplacian_bands(y, 2)
    _, gp = np_laplacian_bands(p, 2)
    expected = sum(1 - per_example(np_angles(a, b)[1]) for a, b in zip(gp, gy))
    close(run(losses.color_cosine, y, p, levels=2), expected)
    close(run(losses.color_blur, y, p, sigma=1.5), per_example(np_blur(p - y.astype(np.float64), 1.5) ** 2))
    # Angles do not see brightness; a grey prediction of a coloured target does.
    close(run(losses.color_angle, y, 0.5 * y), np.zeros(2))
    assert np.all(run(losses.color_angle, y, np.repeat(y.mean(-1, keepdims=True), 3, -1)) > 0.05)


def test_laplacian_matches_numpy(pair):
    y, p = pair
    for levels in (1, 3, 5):                              # 13×17 → 7×9 → 4×5 → 2×3 → 1×2
        bands, _ = np_laplacian_bands(p - y.astype(np.float64), levels)
        expected = sum(2.0 ** i * per_example(np.abs(band)) for i, band in enumerate(bands))
        close(run(losses.laplacian, y, p, levels=levels), expected)
    # The pyramid reconstructs the image.
    x = tf.constant(y)
    bands = losses.laplacian_pyramid(x, 3)
    rebuilt = bands[-1]
    for band in bands[-2::-1]:
        rebuilt = band + losses.pyramid.upsample(rebuilt, band.shape[1], band.shape[2])
    close(rebuilt.numpy(), y)


def test_total_variation_and_kind_gradient_match_numpy(pair):
    y, p = pair
    h, w = p.shape[1:3]
    tv = [2 * ((np.diff(x.astype(np.float64), axis=0) ** 2).sum() / ((h - 1) * w)
               + (np.diff(x.astype(np.float64), axis=1) ** 2).sum() / (h * (w - 1))) for x in p]
    close(run(losses.total_variation, y, p), np.array(tv))
    # Mean over the batch = Zero-DCE++'s L_TV on the batch.
    close(float(losses.total_variation(y, p)), float(losses.zero_reference.illumination_smoothness_loss(p)))
    gp, gy = np_gray(p), np_gray(y)
    grad = ((np_gradient(gp, "x") - np_gradient(gy, "x")) ** 2 + (np_gradient(gp, "y") - np_gradient(gy, "y")) ** 2)
    close(run(losses.kind_gradient, y, p), per_example(grad), 1e-4)
    # Exactly the original restoration loss' gradient term; "kind_restore" is the whole recipe.
    terms = kind.restore_losses(tf.constant(p), tf.constant(y))
    np.testing.assert_allclose(run(losses.kind_gradient, y, p), terms["grad"].numpy())
    np.testing.assert_allclose(run(losses.kind_restore, y, p), terms["total"].numpy())


def test_perceptual_mechanics_with_random_vgg(pair):
    y, p = pair
    y, p = np.pad(y, [(0, 0), (0, 3), (0, 0), (0, 0)]), np.pad(p, [(0, 0), (0, 3), (0, 0), (0, 0)])
    loss = losses.PerceptualLoss("vgg16", layers=("block1_conv2", "block2_conv1"), weights=None)
    # Independent preprocessing: keras.applications' own caffe-mode preprocess_input.
    extractor = loss.extractor
    fp = extractor(keras.applications.vgg16.preprocess_input(p * 255.0))
    fy = extractor(keras.applications.vgg16.preprocess_input(y * 255.0))
    expected = np.mean([per_example((a.numpy().astype(np.float64) - b.numpy()) ** 2) for a, b in zip(fp, fy)], 0)
    close(run(loss, y, p), expected, 1e-4)
    assert losses.get("perceptual", weights=None)(y, y).numpy() == pytest.approx(0.0, abs=1e-6)
    gray = run(loss, y[..., :1], p[..., :1])                 # 1-channel maps are repeated to RGB
    close(gray, run(loss, np.repeat(y[..., :1], 3, -1), np.repeat(p[..., :1], 3, -1)), 1e-4)


def test_perceptual_imagenet_weights_are_looked_up_locally(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cached = tmp_path / "models" / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert losses.perceptual.imagenet_weights_candidates("vgg19")[0] == cached
    cached.parent.mkdir()
    cached.write_bytes(b"")
    assert losses.perceptual.resolve_weights("vgg19", "imagenet") == str(cached)


def test_perceptual_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setattr(losses.perceptual, "imagenet_weights_candidates", lambda network: [tmp_path / "none.h5"])
    with pytest.raises(WeightsError, match="not found locally.*never downloads"):
        losses.get("perceptual")
    with pytest.raises(WeightsError, match="no such"):
        losses.PerceptualLoss(weights=tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="unknown vgg16 layer"):
        losses.PerceptualLoss("vgg16", layers=("block9_conv1",), weights=None)


def test_adversarial_losses_match_numpy():
    real, fake = images((3, 4, 4, 1), 18, -3, 3).astype(np.float64), images((3, 4, 4, 1), 19, -3, 3).astype(np.float64)
    d = lambda x: 1 / (1 + np.exp(-x))                    # noqa: E731
    r, f = tf.constant(real, tf.float32), tf.constant(fake, tf.float32)
    close(losses.discriminator_loss(r, f, reduction="none").numpy(),
          per_example(-np.log(d(real))) + per_example(-np.log(1 - d(fake))))
    close(losses.generator_loss(f, reduction="none").numpy(), per_example(-np.log(d(fake))))
    close(losses.generator_loss(f, saturating=True, reduction="none").numpy(), per_example(np.log(1 - d(fake))))
    close(losses.discriminator_loss(r, f, mode="lsgan", reduction="none").numpy(),
          per_example(0.5 * (real - 1) ** 2) + per_example(0.5 * fake ** 2))
    close(losses.generator_loss(f, mode="lsgan", reduction="none").numpy(), per_example(0.5 * (fake - 1) ** 2))
    with pytest.raises(ValueError, match="unknown GAN mode"):
        losses.generator_loss(f, mode="wgan")


def test_patchgan_discriminator_step():
    disc = PatchGANDiscriminator(filters=8, downsamples=2)
    real, fake = tf.constant(images((2, 32, 32, 3), 20)), tf.Variable(images((2, 32, 32, 3), 21))
    assert disc(real).shape == (2, 8, 8, 1)
    clone = PatchGANDiscriminator.from_config(disc.get_config())
    assert clone(real).shape == (2, 8, 8, 1) and clone.count_params() == disc.count_params()
    for mode in losses.GAN_MODES:
        with tf.GradientTape(persistent=True) as tape:
            d_loss = losses.discriminator_loss(disc(real), disc(tf.stop_gradient(fake)), mode=mode)
            g_loss = losses.generator_loss(disc(fake), mode=mode)
        for grad in tape.gradient(d_loss, disc.trainable_variables) + [tape.gradient(g_loss, fake)]:
            assert grad is not None and np.all(np.isfinite(grad.numpy()))
    pix2pix = PatchGANDiscriminator()
    pix2pix(tf.zeros([1, 32, 32, 3]))
    assert pix2pix.count_params() == 2_766_529                # pix2pix's 70×70 PatchGAN


# --- properties --------------------------------------------------------------------------------------
ZERO_AT_IDENTITY = ["l1", "l2", "smooth_l1", "huber", "ssim", "ms_ssim", "perceptual", "region", "color_angle",
                    "color_cosine", "color_blur", "laplacian", "kind_gradient", "kind_restore"]
SYMMETRIC = ["l1", "l2", "smooth_l1", "huber", "log_mse", "ssim", "ms_ssim", "perceptual", "color_angle",
             "color_cosine", "color_blur", "laplacian", "kind_gradient"]


def registered(name):
    return losses.get(name, weights=None) if name.startswith("perceptual") else losses.get(name)


@pytest.mark.parametrize("name", ZERO_AT_IDENTITY)
def test_zero_on_identical_inputs(name):
    y = images((2, 24, 24, 3), 22)
    y[0, :4] = 0.0
    assert abs(float(registered(name)(y, y))) < 1e-5


@pytest.mark.parametrize("name", SYMMETRIC)
def test_symmetric(name):
    a, b = images((2, 24, 24, 3), 23), images((2, 24, 24, 3), 24)
    b = (0.5 * a + 0.5 * b).astype(np.float32)
    loss = registered(name)
    close(loss(a, b, reduction="none").numpy(), loss(b, a, reduction="none").numpy())


@pytest.mark.parametrize("name", [n for n in losses.names(include_aliases=False) if n != "kind_adjust"])
def test_finite_gradients_on_black_images(name):
    loss = registered(name)
    black = np.zeros((2, 24, 24, 3), np.float32)
    other, unrelated = images((2, 24, 24, 3), 25), images((2, 24, 24, 3), 0)
    for y_true, y_pred in [(black, black), (other, black), (black, other), (other, other), (other, unrelated)]:
        prediction = tf.Variable(y_pred)
        with tf.GradientTape() as tape:
            value = loss(tf.constant(y_true), prediction)
        grad = tape.gradient(value, prediction)
        assert value.dtype == tf.float32 and np.isfinite(value.numpy()), (name, value)
        assert grad is not None and np.all(np.isfinite(grad.numpy())), name


def test_mixed_precision_inputs_and_reductions(pair):
    y, p = pair
    for dtype in (tf.float16, tf.bfloat16):
        value = losses.laplacian(tf.cast(y, dtype), tf.cast(p, dtype))
        assert value.dtype == tf.float32 and np.isfinite(value.numpy())
    per = run(losses.color_angle, y, p)
    close(float(losses.color_angle(y, p)), per.mean())
    close(float(losses.color_angle(y, p, reduction="sum")), per.sum())
    # What a distributed step does with reduction="none".
    close(float(tf.nn.compute_average_loss(losses.l1(y, p, reduction="none"), global_batch_size=2)),
          float(losses.l1(y, p)))
    with pytest.raises(ValueError, match="unknown reduction"):
        losses.l1(y, p, reduction="avg")
    with pytest.raises(ValueError, match="shapes differ"):
        losses.l1(y, p[:, :5])
    with pytest.raises(ValueError, match="3 channels"):
        losses.color_angle(y[..., :1], p[..., :1])


# --- registry and specs ------------------------------------------------------------------------------
def test_registry_get_and_errors():
    assert losses.get("ssim") is losses.ssim and losses.get("MSE") is losses.l2
    close(losses.get("huber", delta=0.1)(np.zeros((1, 2, 2, 1)), np.ones((1, 2, 2, 1))).numpy(), 0.095)
    with pytest.raises(ValueError, match=r"unknown loss 'sssim'; valid names: .*color_angle.*laplacian.*ssim"):
        losses.get("sssim")
    for name in ["l1", "mse", "ssim", "ms_ssim", "perceptual", "bce", "region", "color_angle", "color_cosine",
                 "color_blur", "laplacian", "tv", "kind_gradient", "log_mse", "smooth_l1", "huber"]:
        assert name in losses.names()
    with pytest.raises(ValueError, match="already registered"):
        losses.register("l1", losses.function_factory(losses.l1), "again")
    assert "color_angle" in losses.describe()


def test_parse_spec():
    combined = losses.parse_spec(" mse:1, ssim:1 ,color_angle:0.5,laplacian")
    assert combined.weights == {"mse": 1.0, "ssim": 1.0, "color_angle": 0.5, "laplacian": 1.0}
    assert combined.spec == "mse:1,ssim:1,color_angle:0.5,laplacian:1" and not combined.is_original
    y, p = images((2, 16, 16, 3), 26), images((2, 16, 16, 3), 27)
    terms = combined.terms(tf.constant(y), tf.constant(p))
    assert set(terms) == {"mse", "ssim", "color_angle", "laplacian", "total"}
    close(terms["total"].numpy(), terms["mse"] + terms["ssim"] + 0.5 * terms["color_angle"] + terms["laplacian"])
    close(terms["laplacian"].numpy(), run(losses.laplacian, y, p))
    close(float(combined(y, p)), terms["total"].numpy().mean())
    # "original" is a stage's recipe, given by the caller.
    restore = losses.parse_spec("original:1,laplacian:1", original="kind_restore")
    terms = restore.terms(y, p)
    assert {"original", "original/mse", "original/grad", "original/ssim", "laplacian", "total"} == set(terms)
    close(terms["original"].numpy(), kind.restore_losses(tf.constant(p), tf.constant(y))["total"].numpy())
    assert losses.parse_spec("original", original="kind_adjust").is_original
    assert jit_compiles(losses.parse_spec("l1:1,color_angle:0.5,laplacian:1"), y, p)


def jit_compiles(loss, y, p):
    value = tf.function(lambda a, b: loss(a, b, reduction="none"), jit_compile=True, autograph=False)(y, p)
    return np.allclose(value.numpy(), loss(y, p, reduction="none").numpy(), atol=1e-5)


@pytest.mark.parametrize("spec, message", [
    ("", "empty loss spec"),
    ("l1:1,,ssim:1", "empty term"),
    ("l1:abc", "'abc' is not a number"),
    ("l1:", "is not a number"),
    ("l1:-1", "finite and ≥ 0"),
    ("l1:inf", "finite and ≥ 0"),
    ("l1:1:2", "expected 'name' or 'name:weight'"),
    ("l1,l1:2", "names 'l1' twice"),
    ("mse:1,l2:1", "names 'l2' twice"),
    ("l1,colour_angle", r"unknown loss 'colour_angle'; valid names: .*color_angle"),
    ("original:1,l1:1", "'original' .* is not defined here"),
])
def test_parse_spec_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        losses.parse_spec(spec)


def test_parse_spec_channels():
    with pytest.raises(ValueError, match="'color_angle' needs 3-channel images; .* 1 channel"):
        losses.parse_spec("l1,color_angle", channels=1)
    with pytest.raises(ValueError, match=r"'original' \(kind_adjust\) needs 1-channel"):
        losses.parse_spec("original", original="kind_adjust", channels=3)
    assert losses.parse_spec("l1,ssim,region,laplacian", channels=1).weights["region"] == 1.0


# --- train.py --loss ---------------------------------------------------------------------------------
def load_train_script():
    spec = importlib.util.spec_from_file_location("train_script", REPO / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_py_loss_reaches_the_restore_task(tmp_path, capsys):
    from kind_tf.training.tasks import AdjustTask, DecomTask, RestoreTask
    from kind_tf.weights import build_stage, save_weights

    data = write_pairs(tmp_path / "train", 4)
    run_dir = tmp_path / "run"
    save_weights(run_dir / "weights", {"decom": build_stage("decom")})   # a (random) frozen DecomNet
    train = load_train_script()
    common = ["--data", str(data), "--run-dir", str(run_dir), "--steps", "2", "--batch-size", "2", "--patch-size",
              str(TINY["patch_size"]), "--no-progress", "--save-every", "1000", "--eval-every", "1000"]
    assert train.main(["--stage", "restore", *common, "--loss", "l1:1,ssim:1,color_angle:0.5"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("restore: completed at step 2/2")][0]
    logged = dict(item.split("=") for item in line.split(") ", 1)[1].split())
    assert set(logged) == {"l1", "ssim", "color_angle", "total"}
    assert float(logged["total"]) == pytest.approx(
        float(logged["l1"]) + float(logged["ssim"]) + 0.5 * float(logged["color_angle"]), abs=5e-5)
    assert json.loads((run_dir / "restore" / "config.json").read_text())["loss"] == "l1:1,ssim:1,color_angle:0.5"
    assert (run_dir / "weights" / "restore.weights.h5").is_file()

    # User errors are one line, exit status 2.
    assert train.main(["--stage", "restore", *common, "--run-dir", str(tmp_path / "bad"), "--loss", "l1:x"]) == 2
    assert train.main(["--stage", "decom", *common, "--run-dir", str(tmp_path / "bad2"), "--loss", "l1"]) == 2
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("train.py: error")]
    assert len(errors) == 2 and "--loss: loss term 'l1:x'" in errors[0] and "decom stage's loss" in errors[1]

    # The default and "original" keep the recipe; adjust takes 1-channel losses.
    task = RestoreTask()
    task.configure_loss("original")
    assert task.loss is None
    adjust = AdjustTask()
    adjust.configure_loss("original:1,region:0.5")
    assert adjust.loss.weights == {"original": 1.0, "region": 0.5}
    with pytest.raises(Exception, match="needs 3-channel"):
        adjust.configure_loss("color_angle")
    DecomTask().configure_loss("original")
