"""Tests of the improved U-Net (seed note 004): shapes, parameter counts, SAD, switches, serialisation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kind_tf.flops import count_flops
from kind_tf.models import RestorationNet
from kind_tf.models.improved_unet import (
    FeaturePyramid,
    ImprovedUNet,
    InvertedResidual,
    sad_loss,
    upsample_to,
)

# Pinned parameter counts (no weight depends on H×W). sad=False has the default's count (SAD is a
# loss, with no weights): checked on small models in the SAD test to save building a large one.
DEFAULT_PARAMS = 8_408_451
ABLATION_PARAMS = {
    "stem_off": ({"stem": False}, 8_329_195),
    "fpn_off": ({"fpn": False}, 8_984_675),
    "plain_encoder": ({"encoder": "plain"}, 7_241_091),
}
ALL_OFF = {"stem": False, "encoder": "plain", "fpn": False, "sad": False}
RESTORATION_NET_PARAMS = 7_760_739
SMALL = {"base_width": 8}
SMALL_CONFIG = {"base_width": 8, "expansion": 4, "fpn_width": 12, "sad_weight": 0.5, "norm": "group"}


def _inputs(height: int, width: int, batch: int = 1, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((batch, height, width, 3), dtype=np.float32),
            rng.random((batch, height, width, 1), dtype=np.float32)]


def _built(model: keras.Model) -> keras.Model:
    model(_inputs(8, 8))
    return model


def _weight_paths(model: keras.Model) -> set[str]:
    """Weight paths without the model's own (auto-numbered) name, e.g. ``fpn/lateral1/kernel``."""
    return {weight.path.split("/", 1)[1] for weight in model.weights}


_MODELS: dict[tuple, keras.Model] = {}


def _model(**config) -> ImprovedUNet:
    """A built ImprovedUNet, shared between tests (building one costs ~1–2 s on a busy CPU).

    Callers must not change its weights.
    """
    key = tuple(sorted(config.items()))
    if key not in _MODELS:
        _MODELS[key] = _built(ImprovedUNet(**config))
    return _MODELS[key]


@pytest.fixture(scope="module")
def default_model() -> ImprovedUNet:
    return _model()


@pytest.mark.parametrize("height,width", [(1, 1), (17, 33), (31, 47)])
def test_output_shape_matches_input_on_odd_sizes(default_model, height, width):
    for training in (False, True):  # the SAD path (training) must handle odd sizes too
        restored = default_model(_inputs(height, width, batch=2), training=training).numpy()
        assert restored.shape == (2, height, width, 3)
        assert np.all((restored > 0) & (restored < 1))


def test_dynamic_shapes_in_graph_mode(default_model):
    spec = [tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None, None, None, 1])]
    function = tf.function(lambda r, i: default_model([r, i], training=True), input_signature=spec)
    assert function(*_inputs(17, 33)).shape == (1, 17, 33, 3)


def test_default_parameter_count(default_model):
    params = default_model.count_params()
    print(f"ImprovedUNet default parameters: {params:,}")
    assert params == DEFAULT_PARAMS


@pytest.mark.parametrize("name", sorted(ABLATION_PARAMS))
def test_ablation_parameter_counts(name):
    config, expected = ABLATION_PARAMS[name]
    params = _model(**config).count_params()
    print(f"ImprovedUNet {name}: {params:,}")
    assert params == expected


@pytest.fixture(scope="module")
def original_and_ablated() -> tuple[RestorationNet, ImprovedUNet]:
    """RestorationNet, and ImprovedUNet with every switch off carrying the same weights."""
    original = _built(RestorationNet())
    ablated = _built(ImprovedUNet(**ALL_OFF))
    ablated.set_weights(original.get_weights())  # same layers in the same order
    return original, ablated


def test_everything_off_is_the_original_restoration_net(original_and_ablated):
    original, ablated = original_and_ablated
    assert ablated.count_params() == original.count_params() == RESTORATION_NET_PARAMS
    inputs = _inputs(17, 33)
    np.testing.assert_array_equal(ablated(inputs).numpy(), original(inputs).numpy())


def _numpy_bilinear_2x(size: int) -> np.ndarray:
    """Matrix of tf.image.resize's bilinear ×2 upsampling (half-pixel centres) from size to 2·size."""
    matrix = np.zeros((2 * size, size))
    for out in range(2 * size):
        source = min(max((out + 0.5) / 2 - 0.5, 0.0), size - 1.0)
        low = int(np.floor(source))
        high = min(low + 1, size - 1)
        matrix[out, low] += 1 - (source - low)
        matrix[out, high] += source - low
    return matrix


def test_bilinear_matrix_is_hand_checked():
    np.testing.assert_allclose(_numpy_bilinear_2x(2), [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])


def test_sad_loss_matches_numpy():
    rng = np.random.default_rng(1)
    maps = [rng.normal(0, 0.5, (2, 4, 4, 2)).astype(np.float32),   # lowest block
            rng.normal(0, 0.5, (2, 2, 2, 3)).astype(np.float32),   # ×2 coarser: resized up to 4×4
            rng.normal(0, 0.5, (2, 2, 2, 1)).astype(np.float32)]   # same size: no resize

    def psi(attention: np.ndarray) -> np.ndarray:  # H·W · spatial softmax, per image
        flat = attention.reshape(attention.shape[0], -1).astype(np.float64)
        soft = np.exp(flat - flat.max(axis=1, keepdims=True))
        soft /= soft.sum(axis=1, keepdims=True)
        return (soft * flat.shape[1]).reshape(attention.shape)

    attention = [np.sum(m.astype(np.float64) ** 2, axis=-1) for m in maps]
    up = _numpy_bilinear_2x(2)
    resized = np.einsum("ij,njk,lk->nil", up, attention[1], up)  # B(G(A_2)) on 4×4
    expected = (np.mean((psi(attention[0]) - psi(resized)) ** 2)
                + np.mean((psi(attention[1]) - psi(attention[2])) ** 2))
    assert float(sad_loss([tf.constant(m) for m in maps])) == pytest.approx(expected, rel=1e-5)


def test_sad_loss_is_zero_for_identical_attention_and_needs_two_maps():
    features = tf.random.normal((1, 6, 6, 4))
    assert float(sad_loss([features, features])) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        sad_loss([features])


def test_sad_gradients_reach_the_encoder_but_not_the_target_side():
    model = _model(**SMALL)
    inputs = _inputs(16, 16, batch=2)
    with tf.GradientTape() as tape:
        model(inputs, training=True)
        assert len(model.losses) == 1  # the SAD term only
        loss = model.losses[0]
    by_path = {weight.path.split("/", 1)[1]: weight for weight in model.trainable_weights}
    early = by_path["encoder1/block1/expand/kernel"]
    top = by_path["encoder5/block2/project/kernel"]  # C_5 is only ever a (stop-gradient) target
    early_grad, top_grad = tape.gradient(loss, [early, top])
    assert early_grad is not None and np.any(early_grad.numpy() != 0)
    assert top_grad is None or not np.any(top_grad.numpy())
    # Inference adds nothing; sad=False never adds the loss.
    model(inputs)
    assert model.losses == []
    no_sad = _model(**SMALL, sad=False)
    no_sad(inputs, training=True)
    assert no_sad.losses == []
    assert no_sad.count_params() == model.count_params()  # SAD has no weights


def test_sad_weight_scales_the_added_loss():
    inputs = _inputs(16, 16)
    model = _model(**SMALL_CONFIG)  # sad_weight=0.5
    model(inputs, training=True)
    expected = 0.5 * float(sad_loss(model.encode(inputs)))
    assert float(model.losses[0]) == pytest.approx(expected, rel=1e-5)


def test_switches_change_the_layer_set(default_model):
    default = _weight_paths(default_model)
    assert any(p.startswith("stem/") for p in default)
    assert any(p.startswith("fpn/lateral") for p in default) and any(p.startswith("fpn/smooth") for p in default)
    assert any("/depthwise/" in p for p in default)

    no_stem = _weight_paths(_model(stem=False))
    assert not any(p.startswith("stem/") for p in no_stem)
    assert {p for p in default if not p.startswith("stem/")} == no_stem  # nothing else changes
    no_fpn = _weight_paths(_model(fpn=False))
    assert not any(p.startswith("fpn/") for p in no_fpn)
    plain = _weight_paths(_model(encoder="plain"))
    assert not any("/depthwise/" in p or "/expand/" in p for p in plain)
    assert "encoder1/de_conv1_1/conv/kernel" in plain
    grouped = _weight_paths(_model(**SMALL_CONFIG))
    assert "encoder2/block1/depthwise_norm/gamma" in grouped
    assert not any("_norm/" in p for p in default)


def test_inverted_residual_block():
    features = tf.random.normal((1, 17, 33, 8))
    residual = InvertedResidual(8, expansion=6, strides=1)
    assert residual(features).shape == (1, 17, 33, 8) and residual.use_residual
    down = InvertedResidual(16, expansion=6, strides=2)
    assert down(features).shape == (1, 9, 17, 16) and not down.use_residual
    # expand 1×1 (8·6·8 + 48), depthwise (9·48 + 48), project (48·16 + 16)
    assert down.count_params() == (8 * 48 + 48) + (9 * 48 + 48) + (48 * 16 + 16)
    no_expand = InvertedResidual(8, expansion=1)
    no_expand(features)
    assert no_expand.expand is None
    # The projection is linear: negative outputs survive (no ReLU after it).
    assert np.any(InvertedResidual(4, expansion=2)(features).numpy() < 0)


def test_fpn_upsampling_and_fusion_on_odd_sizes():
    coarse = tf.reshape(tf.range(6, dtype=tf.float32), (1, 2, 3, 1))
    fine = tf.zeros((1, 3, 5, 1))
    expected = np.array([[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [3, 3, 4, 4, 5]], np.float32)
    np.testing.assert_array_equal(upsample_to(coarse, fine).numpy()[0, :, :, 0], expected)

    levels = [tf.random.normal((1, 17, 33, 4)), tf.random.normal((1, 9, 17, 8)), tf.random.normal((1, 5, 9, 16))]
    pyramid = FeaturePyramid(6, num_levels=3)
    outputs = pyramid(levels)
    assert [tuple(p.shape) for p in outputs] == [(1, 17, 33, 6), (1, 9, 17, 6)]


def test_invalid_configs_raise():
    with pytest.raises(ValueError):
        ImprovedUNet(encoder="resnet")
    with pytest.raises(ValueError):
        ImprovedUNet(norm="batch")
    with pytest.raises(ValueError):
        InvertedResidual(8, strides=3)



def test_config_round_trip_gives_identical_outputs():
    model = _model(**SMALL_CONFIG)
    config = model.get_config()
    for key, value in {**SMALL_CONFIG, "stem": True, "encoder": "inverted_residual", "fpn": True,
                       "sad": True}.items():
        assert config[key] == value
    clone = _built(ImprovedUNet.from_config(config))
    clone.set_weights(model.get_weights())
    inputs = _inputs(17, 33)
    np.testing.assert_array_equal(clone(inputs).numpy(), model(inputs).numpy())


@pytest.mark.parametrize("config", [{}, SMALL_CONFIG], ids=["default", "small_groupnorm"])
def test_keras_file_round_trip_gives_identical_outputs(tmp_path, config):
    model = _model(**config)
    path = tmp_path / "improved_unet.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ImprovedUNet)
    assert loaded.get_config() == model.get_config()
    inputs = _inputs(31, 47)
    np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())


def test_count_flops(original_and_ablated):
    original, ablated = original_and_ablated
    small = count_flops(ablated, 16, 16)
    assert small == count_flops(original, 16, 16)
    # Convolutions scale with the pixel count (the 1×1 coarsest level makes it not exactly 4×).
    assert 3.5 * small < count_flops(ablated, 32, 32) < 4.5 * small


def test_count_flops_of_decom_net_by_hand():
    # channels=(3,): a single-input network. DecomNet at 16×16, counted by hand: 2·k²·C_in·C_out per
    # output pixel for each conv (the transposed convs as their 1×1 conv to 4·C_out channels at the
    # coarse size), one per output element for each bias add, k² per output element for each max-pool.
    from kind_tf.weights import build_model, build_stage
    decom = build_stage("decom")
    build_model(decom, "decom")

    def conv(kernel, c_in, c_out, pixels):
        return 2 * kernel * kernel * c_in * c_out * pixels

    convs = (conv(3, 3, 32, 256) + conv(3, 32, 64, 64) + conv(3, 64, 128, 16) + conv(1, 128, 4 * 64, 16)
             + conv(3, 128, 64, 64) + conv(1, 64, 4 * 32, 64) + conv(3, 64, 32, 256) + conv(1, 32, 3, 256)
             + conv(3, 32, 32, 256) + conv(1, 64, 1, 256))
    biases = 32 * 256 + 64 * 64 + 128 * 16 + 64 * 64 + 32 * 256 + 3 * 256 + 32 * 256 + 1 * 256
    pools = 4 * (8 * 8 * 32 + 4 * 4 * 64)
    assert count_flops(decom, 16, 16, channels=(3,)) == convs + biases + pools == 30_981_120
