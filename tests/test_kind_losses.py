"""KinD's stage losses against hand-computed numpy values on small fixed tensors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kind_tf.losses import kind

GRAY = np.array([0.2989, 0.5870, 0.1140])  # tf.image.rgb_to_grayscale


def np_gradient(x: np.ndarray, direction: str) -> np.ndarray:
    """|conv2d(x, k)| with TF 'SAME' padding for a 2×2 kernel (one zero row/column bottom/right),
    then (g − min) / (max − min + 1e-4) over the whole batch."""
    padded = np.pad(x.astype(np.float64), [(0, 0), (0, 1), (0, 1), (0, 0)])
    if direction == "x":   # k = [[0, 0], [-1, 1]]
        response = -padded[:, 1:, :-1] + padded[:, 1:, 1:]
    else:                  # k = [[0, -1], [0, 1]]
        response = -padded[:, :-1, 1:] + padded[:, 1:, 1:]
    response = np.abs(response)
    return (response - response.min()) / (response.max() - response.min() + 1e-4)


def np_gray(x):
    return (x.astype(np.float64) * GRAY).sum(-1, keepdims=True)


def np_ssim_original(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The original's SSIM in float64: per channel, 11×11 Gaussian (σ 1.5) window, 'VALID',
    K1 0.01, K2 0.03, L 1, mean over the map, then mean over channels. Returns [N]."""
    size, sigma = 11, 1.5
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * sigma ** 2))
    window = g / g.sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def filt(x):  # VALID correlation of [H, W]
        view = np.lib.stride_tricks.sliding_window_view(x, (size, size))
        return np.einsum("ijkl,kl->ij", view, window)

    out = []
    for x, y in zip(a.astype(np.float64), b.astype(np.float64)):
        channels = []
        for c in range(x.shape[-1]):
            p, q = x[..., c], y[..., c]
            mu_p, mu_q = filt(p), filt(q)
            s_pp = filt(p * p) - mu_p ** 2
            s_qq = filt(q * q) - mu_q ** 2
            s_pq = filt(p * q) - mu_p * mu_q
            ssim_map = ((2 * mu_p * mu_q + c1) * (2 * s_pq + c2)) / ((mu_p ** 2 + mu_q ** 2 + c1) * (s_pp + s_qq + c2))
            channels.append(ssim_map.mean())
        out.append(np.mean(channels))
    return np.array(out)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_gradient_matches_numpy(rng):
    x = rng.random((2, 5, 7, 1)).astype(np.float32)
    for direction in ("x", "y"):
        np.testing.assert_allclose(kind.gradient(tf.constant(x), direction).numpy(), np_gradient(x, direction),
                                   atol=1e-6)


def test_gradient_hand_values():
    x = np.array([[1.0, 2.0], [4.0, 8.0]], np.float32).reshape(1, 2, 2, 1)
    # x-direction responses |x[i+1, j+1] − x[i+1, j]| (zero padded): [[|8−4|, |0−8|], [0, 0]] = [[4, 8], [0, 0]]
    expected_x = np.array([[4.0, 8.0], [0.0, 0.0]]) / (8.0 + 1e-4)
    np.testing.assert_allclose(kind.gradient(tf.constant(x), "x").numpy()[0, ..., 0], expected_x, rtol=1e-6)
    # y-direction |x[i+1, j+1] − x[i, j+1]|: [[|8−2|, 0], [|0−8|, 0]] = [[6, 0], [8, 0]]
    expected_y = np.array([[6.0, 0.0], [8.0, 0.0]]) / (8.0 + 1e-4)
    np.testing.assert_allclose(kind.gradient(tf.constant(x), "y").numpy()[0, ..., 0], expected_y, rtol=1e-6)


def test_decom_loss_matches_numpy(rng):
    shape = (2, 6, 6)
    low, high, r_low, r_high = (rng.random(shape + (3,)).astype(np.float32) for _ in range(4))
    i_low, i_high = (rng.random(shape + (1,)).astype(np.float32) for _ in range(2))

    recon_low = np.abs(r_low * i_low - low).mean()
    recon_high = np.abs(r_high * i_high - high).mean()
    equal_r = np.abs(r_low - r_high).mean()
    gx = np_gradient(i_low, "x") + np_gradient(i_high, "x")
    gy = np_gradient(i_low, "y") + np_gradient(i_high, "y")
    mutual_i = (gx * np.exp(-10 * gx) + gy * np.exp(-10 * gy)).mean()

    def mutual_input(i, img):
        g = np_gray(img)
        return (np.abs(np_gradient(i, "x") / np.maximum(np_gradient(g, "x"), 0.01))
                + np.abs(np_gradient(i, "y") / np.maximum(np_gradient(g, "y"), 0.01))).mean()

    expected = (recon_high + recon_low + 0.01 * equal_r + 0.2 * mutual_i
                + 0.15 * mutual_input(i_high, high) + 0.15 * mutual_input(i_low, low))
    terms = kind.decom_losses(*(tf.constant(v) for v in (low, high, r_low, i_low, r_high, i_high)))
    assert terms["total"].shape == (2,)
    np.testing.assert_allclose(float(tf.reduce_mean(terms["total"])), expected, rtol=1e-5)
    np.testing.assert_allclose(float(tf.reduce_mean(terms["mutual_i"])), mutual_i, rtol=1e-5)


def test_restore_loss_matches_numpy(rng):
    restored = rng.random((2, 16, 16, 3)).astype(np.float32)
    r_high = rng.random((2, 16, 16, 3)).astype(np.float32)
    target = r_high.astype(np.float64) ** 1.2
    mse = ((restored - target) ** 2).mean()
    go, gt = np_gray(restored), np_gray(target)
    grad = ((np_gradient(go, "x") - np_gradient(gt, "x")) ** 2
            + (np_gradient(go, "y") - np_gradient(gt, "y")) ** 2).mean()
    ssim = np_ssim_original(restored, target).mean()
    expected = mse + grad + (1 - ssim)
    tf_target = kind.restore_target(tf.constant(r_high))
    terms = kind.restore_losses(tf.constant(restored), tf_target)
    np.testing.assert_allclose(float(tf.reduce_mean(terms["total"])), expected, rtol=1e-5)


def test_adjust_loss_matches_numpy(rng):
    adjusted = rng.random((3, 8, 8, 1)).astype(np.float32)
    target = rng.random((3, 8, 8, 1)).astype(np.float32)
    expected = (((adjusted - target) ** 2).mean()
                + ((np_gradient(adjusted, "x") - np_gradient(target, "x")) ** 2
                   + (np_gradient(adjusted, "y") - np_gradient(target, "y")) ** 2).mean())
    terms = kind.adjust_losses(tf.constant(adjusted), tf.constant(target))
    np.testing.assert_allclose(float(tf.reduce_mean(terms["total"])), expected, rtol=1e-5)


def test_adjust_ratio():
    low = np.full((1, 4, 4, 1), 0.2, np.float32)
    high = np.full((1, 4, 4, 1), 0.5, np.float32)
    np.testing.assert_allclose(kind.adjust_ratio(tf.constant(low), tf.constant(high)).numpy(), [0.2 / 0.5001],
                               rtol=1e-6)


@pytest.mark.parametrize("size,batch", [(11, 2), (16, 2), (48, 2), (97, 2), (384, 1)])
def test_ssim_loss_vs_original_valid_per_channel_ssim(rng, size, batch):
    """ssim_loss (tf.image.ssim map, averaged by us) vs a float64 re-implementation of the original's
    VALID per-channel SSIM. Measured max |difference| of 1 − SSIM: ≤ 1.1e-6 (the plain tf.image.ssim
    scalar differs by up to 2.6e-4 at 384×384, from its float32 mean over the H, W axes)."""
    a = rng.random((batch, size, size, 3)).astype(np.float32)
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    smooth = np.cumsum(np.cumsum(a, 1), 2)
    smooth = (smooth / smooth.max()).astype(np.float32)
    for x, y in ((a, b), (smooth, b), (a, a ** 1.2)):
        ours = kind.ssim_loss(tf.constant(x), tf.constant(y)).numpy()
        reference = 1 - np_ssim_original(x, y)
        assert np.max(np.abs(ours - reference)) < 2e-6
