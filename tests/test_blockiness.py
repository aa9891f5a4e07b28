"""kind_tf.metrics.blockiness (Wang, Bovik & Evans, ICIP 2000, normalised): hand-computed values."""

import io

import numpy as np
import pytest
from PIL import Image

from kind_tf.metrics import blockiness
from kind_tf.metrics.blocking import spectral_blockiness


def test_a_constant_image_has_no_blockiness():
    assert blockiness(np.full((32, 48, 3), 0.3)) == 0.0


def test_steps_only_on_the_block_grid_give_L_minus_1():
    """Columns alternate 0 / 0.5 every 8 px: |diff| along a row is an impulse train of period 8, whose
    whole AC power sits in the 7 harmonics (the median of 7 bins around each is 0) → B / mean = L − 1.
    Width 64: 63 differences, segments of L = 56; the other direction is constant (0)."""
    image = np.zeros((32, 64, 3))
    image[:] = ((np.arange(64) // 8) % 2 * 0.5)[None, :, None]
    luma = image @ np.array([0.299, 0.587, 0.114])
    assert spectral_blockiness(luma) == pytest.approx(55.0)
    assert spectral_blockiness(luma.T) == 0.0
    assert blockiness(image) == pytest.approx(27.5)


def test_a_sinusoid_off_the_block_harmonics_is_not_blocky():
    """|diff| of a linear ramp folded by a slow sinusoid: its spectrum has no peak at k·L/8."""
    x = np.arange(512 + 1)
    rows = 0.5 + 0.4 * np.sin(2 * np.pi * x / 37.0)
    image = np.repeat(np.repeat(rows[None, :, None], 64, axis=0), 3, axis=2)
    assert abs(blockiness(image)) < 0.2   # of 511 for a pure grid


def jpeg(image, quality):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")).astype(np.float64) / 255


def test_heavier_jpeg_compression_is_blockier():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:256]
    smooth = 0.5 + 0.3 * np.sin(xx / 23.0) * np.cos(yy / 17.0)
    image = np.clip(smooth[..., None] + rng.normal(0, 0.03, (128, 256, 3)), 0, 1)
    image = (image * 255).astype(np.uint8)
    values = [blockiness(jpeg(image, q)) for q in (90, 50, 10)]
    assert values[0] < values[1] < values[2]
    assert values[2] > 5 * max(values[0], 0.1)


def test_batches_small_images_and_bad_input():
    image = np.zeros((32, 64, 3))
    image[:] = ((np.arange(64) // 8) % 2 * 0.5)[None, :, None]
    np.testing.assert_allclose(blockiness(np.stack([image, np.full_like(image, 0.2)])), [27.5, 0.0])
    assert np.isnan(blockiness(np.zeros((8, 8, 3))))
    with pytest.raises(ValueError, match="floating-point"):
        blockiness(np.zeros((32, 32, 3), np.uint8))
