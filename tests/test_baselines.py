"""Classical baselines: hand-checked values, OpenCV itself as the reference, KinD's enhance interface."""

import numpy as np
import pytest

from kind_tf.baselines import BASELINES, clahe_l, equalize_v, gamma, get_baseline, identity

try:
    import cv2
except ImportError:  # a runtime dependency of he / clahe: the other baselines are still tested
    cv2 = None

needs_opencv = pytest.mark.skipif(cv2 is None, reason="opencv-python-headless is not installed (needed by he, clahe)")


def random_image(seed=0, shape=(40, 56, 3), high=90):
    return np.random.default_rng(seed).integers(0, high, shape, dtype=np.uint8)


def test_identity_and_gamma_hand_checked():
    image = np.array([[[0.0, 0.25, 1.0]]], np.float32)
    np.testing.assert_array_equal(identity(image), image)
    # 0.25 ** (1 / 2.2) = exp(ln(0.25) / 2.2) = 0.53252...
    np.testing.assert_allclose(gamma(image), [[[0.0, 0.5325205, 1.0]]], rtol=1e-6)
    assert gamma(image).dtype == np.float32


@needs_opencv
def test_he_equalises_gray_levels_like_equalize_hist_by_hand():
    # Levels 10, 10, 20, 30: v_min = 10 (count 2), N = 4, so lut = round(255 (cdf - 2) / 2): 0, 128 (127.5 to
    # even), 255. A gray pixel has S = 0, so RGB = V.
    gray = np.array([[10, 10, 20, 30]], np.uint8)
    out = BASELINES["he"].enhance(np.repeat(gray[..., None], 3, axis=-1))
    np.testing.assert_array_equal(np.round(out * 255), np.repeat(np.array([[0, 0, 128, 255]])[..., None], 3, -1))


@needs_opencv
def test_he_equals_cv2_equalize_hist_on_v():
    image = random_image()
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    v = cv2.equalizeHist(np.ascontiguousarray(hsv[..., 2]))
    out = equalize_v(image.astype(np.float32) / 255)
    assert out.dtype == np.float32
    out_hsv = cv2.cvtColor(np.round(out * 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
    # V of the result is the equalised V, up to the 8-bit HSV round trip.
    assert np.max(np.abs(out_hsv[..., 2].astype(int) - v)) <= 1
    hsv[..., 2] = v
    np.testing.assert_array_equal(np.round(out * 255).astype(np.uint8), cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


@needs_opencv
def test_clahe_hand_checked_on_a_flat_image():
    # 64x64 at L = 53, 8x8 tiles of 64 px: OpenCV's clip limit is max(int(2 * 64 / 256), 1) = 1, so the 63
    # clipped pixels go one each to bins 0, 4, ..., 248 (residual step 256 // 63 = 4). cdf(53) = 14 + 1,
    # lut(53) = round(15 * 255 / 64) = 60.
    image = np.full((64, 64, 3), 50, np.uint8)
    assert cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[0, 0, 0] == 53
    expected = cv2.cvtColor(np.full((1, 1, 3), (60, 128, 128), np.uint8), cv2.COLOR_LAB2RGB)[0, 0]
    out = np.round(BASELINES["clahe"].enhance(image) * 255).astype(np.uint8)
    assert np.all(out == expected)


@needs_opencv
def test_clahe_equals_opencv_on_l_of_lab():
    image = random_image(1, (70, 90, 3))
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(np.ascontiguousarray(lab[..., 0]))
    expected = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    np.testing.assert_array_equal(np.round(clahe_l(image.astype(np.float32) / 255) * 255), expected)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_enhance_interface_like_kind(name):
    baseline = get_baseline(name)
    if baseline.needs_opencv and cv2 is None:
        pytest.skip("opencv-python-headless is not installed (needed by he, clahe)")
    image = random_image(2)
    float_image = image.astype(np.float32) / 255
    out = baseline.enhance(image)  # uint8 input is converted as KinD does
    assert out.shape == image.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_array_equal(baseline.enhance(float_image, ratio=5.0), out)
    outputs = baseline.enhance(float_image, ratio="auto", return_intermediates=True, tile=None)
    np.testing.assert_array_equal(outputs["enhanced"], out)  # ratio and KinD options are ignored
    np.testing.assert_array_equal(outputs["input"], float_image)
    batch = baseline.enhance(np.stack([image, image[::-1]]))
    np.testing.assert_array_equal(batch[0], out)
    np.testing.assert_array_equal(batch[1], baseline.enhance(image[::-1]))


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match="unknown baseline"):
        get_baseline("retinex")
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        get_baseline("gamma").enhance(np.full((4, 4, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match="RGB"):
        get_baseline("gamma").enhance(np.zeros((4, 4), np.float32))
