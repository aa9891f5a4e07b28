"""KinD's three networks: parameter counts, any-size behaviour, config and .keras round trips."""

import keras
import numpy as np
import pytest

from kind_tf.models import DecomNet, IlluminationAdjustNet, RestorationNet
from kind_tf.weights import build_model

ORIGINAL_PARAMETER_COUNTS = {DecomNet: 235_876, RestorationNet: 7_760_739, IlluminationAdjustNet: 19_393}
STAGE_OF = {DecomNet: "decom", RestorationNet: "restore", IlluminationAdjustNet: "adjust"}


def call(model, height, width, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.random((1, height, width, 3), dtype=np.float32)
    single = rng.random((1, height, width, 1), dtype=np.float32)
    if isinstance(model, DecomNet):
        return model(image)
    if isinstance(model, RestorationNet):
        return model([image, single])
    return model([single, 5.0 * single])


@pytest.mark.parametrize("cls", list(ORIGINAL_PARAMETER_COUNTS))
def test_parameter_counts_equal_the_original(cls):
    model = cls()
    build_model(model, STAGE_OF[cls])
    assert model.count_params() == ORIGINAL_PARAMETER_COUNTS[cls]


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (401, 601)])
def test_any_size_returns_the_input_size(size):
    decom, restore, adjust = DecomNet(), RestorationNet(), IlluminationAdjustNet()
    reflectance, illumination = call(decom, *size)
    assert reflectance.shape == (1, *size, 3) and illumination.shape == (1, *size, 1)
    assert call(restore, *size).shape == (1, *size, 3)
    assert call(adjust, *size).shape == (1, *size, 1)


def test_odd_upsampling_drops_the_last_row_and_column():
    """For a skip of odd size 2n−1 the upsampled map is the 2n-sized one cut at the bottom/right."""
    from kind_tf.models.layers import UpsampleAndConcat

    layer = UpsampleAndConcat(4)
    coarse = np.random.default_rng(1).random((1, 3, 4, 8), dtype=np.float32)
    full = layer([coarse, np.zeros((1, 6, 8, 4), np.float32)])
    cut = layer([coarse, np.zeros((1, 5, 7, 4), np.float32)])
    np.testing.assert_array_equal(cut[:, :, :, :4], full[:, :5, :7, :4])


def test_upsampling_equals_the_transposed_convolution_in_both_formulations():
    """Float32 runs the transposed convolution itself; bfloat16's 1×1-conv + depth_to_space form
    (pointwise_transposed_conv) gives what Conv2DTranspose(2, strides=2) gives with the same kernel."""
    from kind_tf.models.layers import UpsampleAndConcat, pointwise_transposed_conv

    rng = np.random.default_rng(2)
    layer = UpsampleAndConcat(5)
    coarse = rng.standard_normal((2, 4, 6, 3)).astype(np.float32)
    skip = rng.standard_normal((2, 7, 11, 2)).astype(np.float32)
    got = keras.ops.convert_to_numpy(layer([coarse, skip]))
    reference = keras.ops.convert_to_numpy(layer.deconv(coarse))   # Keras' Conv2DTranspose, 8 × 12
    assert got.shape == (2, 7, 11, 7)
    np.testing.assert_allclose(got[..., :5], reference[:, :7, :11, :], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got[..., 5:], skip)
    pointwise = keras.ops.convert_to_numpy(pointwise_transposed_conv(coarse, layer.deconv.kernel))
    np.testing.assert_allclose(pointwise, reference, rtol=1e-6, atol=1e-6)
    # by hand: output block (2i + a, 2j + b) of input pixel (i, j) is Σ_c x[i, j, c] · K[a, b, :, c]
    kernel = keras.ops.convert_to_numpy(layer.deconv.kernel)
    np.testing.assert_allclose(reference[1, 2 * 3 + 1, 2 * 5 + 0], kernel[1, 0] @ coarse[1, 3, 5], rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("cls", list(ORIGINAL_PARAMETER_COUNTS))
def test_keras_file_round_trip_gives_identical_outputs(cls, tmp_path):
    model = cls()
    expected = call(model, 20, 28)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    got = call(reloaded, 20, 28)
    for a, b in zip(keras.tree.flatten(expected), keras.tree.flatten(got)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    clone = cls.from_config(model.get_config())
    assert type(clone) is cls
