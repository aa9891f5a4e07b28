"""Zero-reference losses against hand-written numpy versions of the original Myloss.py terms.

The references work in the original's NCHW layout with explicit loops / padding, independently of
the TF implementation (which uses NHWC pooling and a linearity shortcut for L_spa).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kind_tf.losses.zero_reference import (
    ZERO_DCE_LOSS_WEIGHTS,
    color_constancy_loss,
    exposure_control_loss,
    illumination_smoothness_loss,
    spatial_consistency_loss,
    zero_dce_loss_terms,
    zero_dce_total_loss,
)

TOL = 1e-5
SHAPES = [(2, 37, 50), (1, 16, 16), (3, 35, 20)]  # (B, H, W); H, W not all multiples of 4 / 16


def _nhwc(batch: int, height: int, width: int, seed: int, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, (batch, height, width, 3)).astype(np.float32)


def _nchw(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 3, 1, 2).astype(np.float64)


def _avg_pool(x: np.ndarray, k: int) -> np.ndarray:
    """nn.AvgPool2d(k) on [B, C, H, W]: non-overlapping windows, remainder dropped."""
    b, c, h, w = x.shape
    out = np.zeros((b, c, h // k, w // k))
    for i in range(h // k):
        for j in range(w // k):
            out[:, :, i, j] = x[:, :, i * k : (i + 1) * k, j * k : (j + 1) * k].mean(axis=(2, 3))
    return out


def _ref_spa(org: np.ndarray, enh: np.ndarray) -> float:
    org_pool = _avg_pool(_nchw(org).mean(axis=1, keepdims=True), 4)
    enh_pool = _avg_pool(_nchw(enh).mean(axis=1, keepdims=True), 4)

    def differences(p: np.ndarray) -> list[np.ndarray]:
        # F.conv2d(padding=1) with the original kernels: centre minus left/right/up/down neighbour.
        q = np.pad(p, [(0, 0), (0, 0), (1, 1), (1, 1)])
        c = q[:, :, 1:-1, 1:-1]
        return [c - q[:, :, 1:-1, :-2], c - q[:, :, 1:-1, 2:], c - q[:, :, :-2, 1:-1], c - q[:, :, 2:, 1:-1]]

    energy = sum((d_org - d_enh) ** 2 for d_org, d_enh in zip(differences(org_pool), differences(enh_pool)))
    return float(energy.mean())


def _ref_exp(enh: np.ndarray, patch: int = 16, level: float = 0.6) -> float:
    pooled = _avg_pool(_nchw(enh).mean(axis=1, keepdims=True), patch)
    return float(((pooled - level) ** 2).mean())


def _ref_col(enh: np.ndarray) -> float:
    ks = []
    for image in _nchw(enh):
        mr, mg, mb = image[0].mean(), image[1].mean(), image[2].mean()
        drg, drb, dgb = (mr - mg) ** 2, (mr - mb) ** 2, (mb - mg) ** 2
        ks.append((drg**2 + drb**2 + dgb**2) ** 0.5)
    return float(np.mean(ks))


def _ref_tv(curve: np.ndarray) -> float:
    a = _nchw(curve)
    b, _, h, w = a.shape
    h_tv = ((a[:, :, 1:, :] - a[:, :, : h - 1, :]) ** 2).sum()
    w_tv = ((a[:, :, :, 1:] - a[:, :, :, : w - 1]) ** 2).sum()
    return float(2 * (h_tv / ((h - 1) * w) + w_tv / (h * (w - 1))) / b)


def _close(actual: tf.Tensor, expected: float) -> None:
    assert actual.dtype == tf.float32 and actual.shape == ()
    np.testing.assert_allclose(float(actual), expected, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("shape", SHAPES)
def test_spatial_consistency(shape) -> None:
    images, enhanced = _nhwc(*shape, seed=0, high=0.3), _nhwc(*shape, seed=1)
    _close(spatial_consistency_loss(images, enhanced), _ref_spa(images, enhanced))
    # The original calls L_spa(enhanced, images); the term is symmetric.
    _close(spatial_consistency_loss(enhanced, images), _ref_spa(images, enhanced))


@pytest.mark.parametrize("shape", SHAPES)
def test_exposure_control(shape) -> None:
    enhanced = _nhwc(*shape, seed=2)
    _close(exposure_control_loss(enhanced), _ref_exp(enhanced))
    _close(exposure_control_loss(enhanced, patch_size=4, well_exposedness=0.5), _ref_exp(enhanced, 4, 0.5))


@pytest.mark.parametrize("shape", SHAPES)
def test_color_constancy(shape) -> None:
    enhanced = _nhwc(*shape, seed=3)
    enhanced[..., 0] *= 0.5  # a colour cast, so the term is far from zero
    _close(color_constancy_loss(enhanced), _ref_col(enhanced))


@pytest.mark.parametrize("shape", SHAPES)
def test_illumination_smoothness(shape) -> None:
    curve = _nhwc(*shape, seed=4, low=-1.0, high=1.0)
    _close(illumination_smoothness_loss(curve), _ref_tv(curve))


def test_illumination_smoothness_single_row_is_finite() -> None:
    curve = _nhwc(2, 1, 9, seed=5, low=-1.0)
    b, h, w = 2, 1, 9
    expected = 2 * (np.diff(_nchw(curve), axis=3) ** 2).sum() / (h * (w - 1)) / b
    _close(illumination_smoothness_loss(curve), expected)


def test_total_loss_uses_the_original_weights() -> None:
    assert ZERO_DCE_LOSS_WEIGHTS == {
        "illumination_smoothness": 1600.0,
        "spatial_consistency": 1.0,
        "color_constancy": 5.0,
        "exposure_control": 10.0,
    }
    images, enhanced = _nhwc(2, 32, 48, seed=6, high=0.2), _nhwc(2, 32, 48, seed=7)
    curve = _nhwc(2, 32, 48, seed=8, low=-1.0) * 0.05
    expected = (
        1600 * _ref_tv(curve) + _ref_spa(enhanced, images) + 5 * _ref_col(enhanced) + 10 * _ref_exp(enhanced)
    )
    _close(zero_dce_total_loss(images, enhanced, curve), expected)
    terms = zero_dce_loss_terms(images, enhanced, curve)
    _close(terms["color_constancy"], 5 * _ref_col(enhanced))
    _close(terms["total"], expected)

    custom = zero_dce_total_loss(images, enhanced, curve, weights={"illumination_smoothness": 200.0})
    _close(custom, expected - 1400 * _ref_tv(curve))
    with pytest.raises(ValueError, match="unknown Zero-DCE loss weight"):
        zero_dce_total_loss(images, enhanced, curve, weights={"tv": 1.0})


def test_float16_inputs_are_computed_in_float32_and_differentiable() -> None:
    images = tf.constant(_nhwc(1, 32, 32, seed=9, high=0.2), tf.float16)
    enhanced = tf.Variable(_nhwc(1, 32, 32, seed=10))
    curve = tf.Variable(_nhwc(1, 32, 32, seed=11, low=-1.0))
    with tf.GradientTape() as tape:
        loss = zero_dce_total_loss(images, tf.cast(enhanced, tf.float16), curve)
    assert loss.dtype == tf.float32
    grads = tape.gradient(loss, [enhanced, curve])
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
