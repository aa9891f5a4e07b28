"""Zero-DCE++: DCE-Net, resize semantics, size rule, torch-free .pth import and golden parity."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import sys
import types
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kind_tf.convert.zero_dce_pth import (
    UnsafePickleError,
    assign_state_dict,
    convert_zero_dce_pth,
    load_pth_state_dict,
    load_zero_dce,
)
from kind_tf.models.zero_dce import (
    DepthwiseSeparableConv,
    ZeroDCEPlusPlus,
    apply_curve,
    downsample_bilinear,
    pad_to_multiple,
    upsample_bilinear_align_corners,
)

ZERO_DCE_PARAMS = 10_561
PARITY_ATOL = 1e-4


def _built(scale_factor: int = 12, seed: int = 0) -> ZeroDCEPlusPlus:
    keras.utils.set_random_seed(seed)
    model = ZeroDCEPlusPlus(scale_factor=scale_factor)
    model.build((None, None, None, 3))
    # Random biases too, so that A is not trivially near zero and every path matters.
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
    return model


def _images(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")


# ----------------------------------------------------------------------------- numpy references


def _np_linear_taps(in_len: int, out_len: int, align_corners: bool):
    """PyTorch's 1-D linear source indices/weights (CPU upsample_bilinear2d).

    Source coordinates in float32 as torch computes them (``opmath_t`` = float): with
    align_corners the float32 rounding of (in−1)/(out−1) moves results by up to ~5e-6.
    """
    dst = np.arange(out_len, dtype=np.float32)
    if align_corners:
        scale = np.float32(in_len - 1) / np.float32(out_len - 1) if out_len > 1 else np.float32(0)
        src = dst * scale
    else:  # half-pixel centres, scale = in/out, negative sources clamped to 0
        src = np.maximum((dst + np.float32(0.5)) * np.float32(in_len / out_len) - np.float32(0.5), 0)
    i0 = np.minimum(np.floor(src).astype(int), in_len - 1)
    i1 = np.minimum(i0 + 1, in_len - 1)
    return i0, i1, (src - i0).astype(np.float64)


def _np_resize(x: np.ndarray, out_h: int, out_w: int, align_corners: bool) -> np.ndarray:
    """Bilinear resize of ``[B, H, W, C]`` as torch's F.interpolate(mode='bilinear')."""
    i0, i1, w = _np_linear_taps(x.shape[1], out_h, align_corners)
    x = x[:, i0] * (1 - w)[None, :, None, None] + x[:, i1] * w[None, :, None, None]
    i0, i1, w = _np_linear_taps(x.shape[2], out_w, align_corners)
    return x[:, :, i0] * (1 - w)[None, None, :, None] + x[:, :, i1] * w[None, None, :, None]


# ----------------------------------------------------------------------------- model structure


def test_parameter_count_and_layer_names() -> None:
    model = ZeroDCEPlusPlus()
    model.build((None, None, None, 3))
    assert model.count_params() == ZERO_DCE_PARAMS
    assert [block.name for block in model.blocks] == [f"e_conv{k}" for k in range(1, 8)]


def test_block_config_roundtrip() -> None:
    block = DepthwiseSeparableConv(16, name="blk")
    clone = DepthwiseSeparableConv.from_config(block.get_config())
    assert (clone.filters, clone.kernel_size, clone.name) == (16, 3, "blk")
    assert block(tf.zeros((1, 5, 7, 4))).shape == (1, 5, 7, 16)


def test_model_config_and_keras_file_roundtrip(tmp_path: Path) -> None:
    model = _built(scale_factor=12)
    config = model.get_config()
    assert (config["scale_factor"], config["iterations"], config["filters"]) == (12, 8, 32)
    clone = ZeroDCEPlusPlus.from_config(config)
    clone.build((None, None, None, 3))
    clone.set_weights(model.get_weights())
    x = _images(1, 30, 42, 3)
    np.testing.assert_array_equal(clone(x).numpy(), model(x).numpy())

    model.save(tmp_path / "zero_dce.keras")
    reloaded = keras.saving.load_model(tmp_path / "zero_dce.keras")
    assert isinstance(reloaded, ZeroDCEPlusPlus) and reloaded.scale_factor == 12
    np.testing.assert_allclose(reloaded(x).numpy(), model(x).numpy(), atol=1e-6)


@pytest.mark.parametrize("bad", [0, -12, 1.5, True, "12"])
def test_bad_scale_factor_is_rejected(bad) -> None:
    with pytest.raises(ValueError, match="scale_factor must be a positive integer"):
        ZeroDCEPlusPlus(scale_factor=bad)


# ----------------------------------------------------------------------------- resize semantics


@pytest.mark.parametrize("scale_factor", [12, 3, 2])
def test_downsample_is_torch_bilinear_half_pixel_no_antialias(scale_factor: int) -> None:
    model = ZeroDCEPlusPlus(scale_factor=scale_factor)
    x = _images(2, 8 * scale_factor, 5 * scale_factor, 3)
    expected = _np_resize(x.astype(np.float64), 8, 5, align_corners=False)
    np.testing.assert_allclose(model.downsample(x).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("scale_factor", [12, 5, 2, 1])
@pytest.mark.parametrize("hw", [(400, 600), (13, 7), (1, 1), (25, 24)])
def test_downsample_gathers_exactly_what_resize_of_the_padded_image_gives(scale_factor, hw) -> None:
    x = tf.constant(_images(2, *hw, 3, seed=4))
    padded = pad_to_multiple(x, scale_factor)
    size = [padded.shape[1] // scale_factor, padded.shape[2] // scale_factor]
    expected = tf.image.resize(padded, size, method="bilinear", antialias=False).numpy()
    np.testing.assert_array_equal(downsample_bilinear(x, scale_factor).numpy(), expected)


@pytest.mark.parametrize("low_hw", [(42, 42), (3, 5), (1, 4)])
def test_upsample_is_torch_bilinear_align_corners(low_hw: tuple[int, int]) -> None:
    x = _images(1, *low_hw, 3)
    h, w = low_hw
    expected = _np_resize(x.astype(np.float64), 12 * h, 12 * w, align_corners=True)
    full = upsample_bilinear_align_corners(tf.constant(x), 12).numpy()
    np.testing.assert_allclose(full, expected, atol=1e-6)
    crop = upsample_bilinear_align_corners(tf.constant(x), 12, (12 * h - 5, 12 * w - 11)).numpy()
    np.testing.assert_array_equal(crop, full[:, : 12 * h - 5, : 12 * w - 11])


def test_upsample_reproduces_golden_full_resolution_curve(shared_dir: Path) -> None:
    for path in sorted((shared_dir / "reference/zero_dce_official/golden").glob("*.npz")):
        golden = np.load(path)
        upsampled = upsample_bilinear_align_corners(tf.constant(golden["A_lowres"][None]), 12)
        assert np.abs(upsampled.numpy()[0] - golden["A"]).max() <= 1e-6, path.name


def test_apply_curve_matches_numpy() -> None:
    x, a = _images(2, 6, 7, 3, seed=1).astype(np.float64), _images(2, 6, 7, 3, seed=2) * 2 - 1
    expected = x.copy()
    for _ in range(8):
        expected = expected + a * (expected**2 - expected)
    np.testing.assert_allclose(apply_curve(tf.constant(x), tf.constant(a, tf.float64)).numpy(), expected, atol=1e-12)


# ----------------------------------------------------------------------------- any input size


@pytest.mark.parametrize("hw", [(511, 700), (1, 1), (13, 25), (12, 36), (37, 12), (5, 130)])
def test_output_has_the_input_size(hw: tuple[int, int]) -> None:
    model = _built(scale_factor=12)
    enhanced, curve = model(_images(2, *hw, 3), return_curve=True)
    assert enhanced.shape == curve.shape == (2, *hw, 3)
    assert np.isfinite(enhanced.numpy()).all() and np.abs(curve.numpy()).max() <= 1.0


@pytest.mark.parametrize("hw", [(13, 25), (20, 7), (1, 1)])
def test_size_rule_is_mirror_pad_then_crop(hw: tuple[int, int]) -> None:
    """The documented rule: symmetric-pad bottom/right to multiples of s, run, crop to H×W."""
    model = _built(scale_factor=12)
    x = _images(1, *hw, 3, seed=3)
    enhanced, curve = model(x, return_curve=True)
    padded = x
    while padded.shape[1] % 12 or padded.shape[2] % 12:  # np 'symmetric' allows pad ≤ size only
        pad_h = min(-padded.shape[1] % 12, padded.shape[1])
        pad_w = min(-padded.shape[2] % 12, padded.shape[2])
        padded = np.pad(padded, [(0, 0), (0, pad_h), (0, pad_w), (0, 0)], mode="symmetric")
    np.testing.assert_array_equal(pad_to_multiple(tf.constant(x), 12).numpy(), padded)
    enhanced_p, curve_p = model(padded, return_curve=True)
    h, w = hw
    np.testing.assert_allclose(enhanced.numpy(), enhanced_p.numpy()[:, :h, :w], atol=1e-6)
    np.testing.assert_allclose(curve.numpy(), curve_p.numpy()[:, :h, :w], atol=1e-6)


def test_dynamic_shapes_in_tf_function() -> None:
    model = _built(scale_factor=12)
    fn = tf.function(lambda x: model(x, return_curve=True), input_signature=[tf.TensorSpec((None, None, None, 3))])
    for hw in [(25, 13), (24, 48)]:
        x = _images(1, *hw, 3)
        enhanced, curve = fn(x)
        assert enhanced.shape == curve.shape == (1, *hw, 3)
        np.testing.assert_allclose(enhanced.numpy(), model(x).numpy(), atol=1e-6)


def test_large_image_keeps_its_size() -> None:
    """4000×3000 (not a multiple of 12 in height): full size back, in a few seconds on CPU."""
    model = _built(scale_factor=12)
    enhanced = model(tf.random.uniform((1, 4000, 3000, 3), seed=0))
    assert enhanced.shape == (1, 4000, 3000, 3)


def test_scale_factor_one_is_full_resolution_and_trainable() -> None:
    model = _built(scale_factor=1)
    x = tf.constant(_images(2, 16, 20, 3))
    np.testing.assert_array_equal(model.curve_map(x).numpy(), model.estimate_curve(x).numpy())
    with tf.GradientTape() as tape:
        enhanced, curve = model(x, return_curve=True)
        loss = tf.reduce_mean(enhanced) + tf.reduce_mean(tf.square(curve))
    grads = tape.gradient(loss, model.trainable_variables)
    assert len(grads) == 28 and all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


# ----------------------------------------------------------------------------- .pth import


def test_convert_and_golden_parity(shared_dir: Path, tmp_path: Path) -> None:
    """The real inference path: released weights, scale 12, golden outputs of the original code."""
    reference = shared_dir / "reference/zero_dce_official"
    out_dir = convert_zero_dce_pth(reference / "Epoch99.pth", tmp_path / "zero_dce")
    config = json.loads((out_dir / "config.json").read_text())   # the one weights format (kind_tf.weights)
    assert config["method"] == "zerodce" and config["recipe"] == {"scale_factor": 12}
    assert config["stages"]["zerodce"]["class"] == "ZeroDCEPlusPlus" and (out_dir / "zerodce.weights.h5").is_file()
    assert config["provenance"]["source"]["param_count"] == ZERO_DCE_PARAMS
    assert config["provenance"]["source"]["file"] == "Epoch99.pth"

    model = load_zero_dce(out_dir)
    assert model.scale_factor == 12 and load_zero_dce(out_dir, scale_factor=1).scale_factor == 1
    goldens = sorted((reference / "golden").glob("*.npz"))
    assert goldens
    for path in goldens:
        golden = np.load(path)
        enhanced, curve = model(golden["input"][None], return_curve=True)
        a_lowres = model.estimate_curve(model.downsample(golden["input"][None]))
        diffs = {
            "enhanced": np.abs(enhanced.numpy()[0] - golden["enhanced"]).max(),
            "A": np.abs(curve.numpy()[0] - golden["A"]).max(),
            "A_lowres": np.abs(a_lowres.numpy()[0] - golden["A_lowres"]).max(),
        }
        assert max(diffs.values()) <= PARITY_ATOL, (path.name, diffs)


def test_state_dict_names_shapes_and_layout(shared_dir: Path) -> None:
    state_dict = load_pth_state_dict(shared_dir / "reference/zero_dce_official/Epoch99.pth")
    lines = (shared_dir / "reference/zero_dce_official/statedict.txt").read_text().splitlines()
    rows = (line.split("\t") for line in lines if line and not line.startswith("#"))
    expected = {n: json.loads(s) for n, s, _ in rows}
    assert {k: list(v.shape) for k, v in state_dict.items()} == expected
    assert all(v.dtype == np.float32 for v in state_dict.values())
    model = ZeroDCEPlusPlus()
    assign_state_dict(model, state_dict)
    # OIHW → HWIO: depthwise [in,1,3,3] → [3,3,in,1], pointwise [out,in,1,1] → [1,1,in,out].
    np.testing.assert_array_equal(
        model.blocks[4].depth_conv.kernel.numpy(), state_dict["e_conv5.depth_conv.weight"].transpose(2, 3, 0, 1)
    )
    np.testing.assert_array_equal(
        model.blocks[6].point_conv.kernel.numpy(), state_dict["e_conv7.point_conv.weight"].transpose(2, 3, 1, 0)
    )


def test_state_dict_mismatch_is_one_clear_error(shared_dir: Path) -> None:
    state_dict = load_pth_state_dict(shared_dir / "reference/zero_dce_official/Epoch99.pth")
    del state_dict["e_conv3.point_conv.bias"]
    state_dict["e_conv8.depth_conv.weight"] = np.zeros((3, 1, 3, 3), np.float32)
    state_dict["e_conv1.point_conv.weight"] = np.zeros((16, 3, 1, 1), np.float32)
    with pytest.raises(ValueError) as info:
        assign_state_dict(ZeroDCEPlusPlus(), state_dict)
    message = str(info.value)
    assert "\n" not in message
    for fragment in ("missing: e_conv3.point_conv.bias", "unexpected: e_conv8.depth_conv.weight",
                     "mis-shaped: e_conv1.point_conv.weight"):
        assert fragment in message


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("target", [os.system, eval, print])
def test_unpickler_refuses_foreign_globals(tmp_path: Path, target) -> None:
    path = _zip(tmp_path / "evil.pth", {"evil/data.pkl": pickle.dumps(target, protocol=2)})
    with pytest.raises(UnsafePickleError, match="refusing to load global .*not part of a tensor state dict"):
        load_pth_state_dict(path)


def test_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pth"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a zip-format torch file"):
        load_pth_state_dict(path)


def _fake_torch_pth(path: Path, tensors: dict, storages: dict[str, np.ndarray], byteorder: str) -> Path:
    """Write a torch-format zip without torch: stand-in ``torch`` modules exist only while pickling."""
    torch_module, utils_module = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):  # pragma: no cover - only its name is pickled
        raise AssertionError

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch_module.FloatStorage, torch_module._utils = FloatStorage, utils_module
    utils_module._rebuild_tensor_v2 = _rebuild_tensor_v2

    class StorageRef:
        def __init__(self, key: str) -> None:
            self.key = key

    class Tensor:
        def __init__(self, key, offset, size, stride) -> None:
            self.args = (StorageRef(key), offset, size, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return _rebuild_tensor_v2, self.args

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, StorageRef):
                return ("storage", FloatStorage, obj.key, "cpu", storages[obj.key].size)
            return None

    buffer = io.BytesIO()
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch_module, "torch._utils": utils_module})
    try:
        Pickler(buffer, protocol=2).dump(collections.OrderedDict((k, Tensor(*v)) for k, v in tensors.items()))
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    endian = "<" if byteorder == "little" else ">"
    entries = {"toy/data.pkl": buffer.getvalue(), "toy/byteorder": byteorder.encode()}
    entries.update({f"toy/data/{k}": v.astype(endian + "f4").tobytes() for k, v in storages.items()})
    return _zip(path, entries)


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_offsets_strides_and_shared_storage(tmp_path: Path, byteorder: str) -> None:
    storage = np.arange(24, dtype=np.float32)
    tensors = {
        "contiguous": ("0", 0, (2, 3, 4), (12, 4, 1)),
        "offset_view": ("0", 5, (3,), (1,)),
        "transposed": ("0", 0, (4, 6), (1, 4)),
        "other": ("1", 0, (2,), (1,)),
    }
    path = _fake_torch_pth(tmp_path / "toy.pth", tensors, {"0": storage, "1": np.array([7, 8], np.float32)}, byteorder)
    state_dict = load_pth_state_dict(path)
    assert list(state_dict) == list(tensors)
    np.testing.assert_array_equal(state_dict["contiguous"], storage.reshape(2, 3, 4))
    np.testing.assert_array_equal(state_dict["offset_view"], [5, 6, 7])
    np.testing.assert_array_equal(state_dict["transposed"], storage.reshape(6, 4).T)
    np.testing.assert_array_equal(state_dict["other"], [7, 8])


def test_tensor_overrunning_its_storage_is_refused(tmp_path: Path) -> None:
    path = _fake_torch_pth(
        tmp_path / "bad.pth", {"w": ("0", 2, (3, 3), (3, 1))}, {"0": np.zeros(9, np.float32)}, "little"
    )
    with pytest.raises(pickle.UnpicklingError, match="overruns its storage"):
        load_pth_state_dict(path)


def test_shipped_weights_brighten_the_sample() -> None:
    """checkpoints/zero_dce (trained by train.py --stage zerodce, see its model card) loads through the
    same path as enhance.py --model zerodce and lifts the bundled sample's mean from 0.083 to 0.378
    (measured when the weights were shipped; bounds ±0.02 allow for oneDNN summation order)."""
    from kind_tf.enhance_job import SAMPLE_IMAGE
    from kind_tf.inference import ZeroDCE, default_zero_dce_weights_dir
    from kind_tf.io import load_image

    weights = default_zero_dce_weights_dir()
    config = json.loads((weights / "config.json").read_text())
    assert config["provenance"]["zerodce"]["command"].startswith("python train.py --stage zerodce")
    assert config["recipe"]["scale_factor"] == 12
    enhancer = ZeroDCE.from_weights(weights)
    assert enhancer.model.count_params() == 10_561
    image = load_image(SAMPLE_IMAGE)
    enhanced = enhancer.enhance(image)
    assert enhanced.shape == image.shape
    assert float(np.mean(image)) == pytest.approx(0.0828, abs=1e-3)
    assert float(np.mean(enhanced)) == pytest.approx(0.3780, abs=0.02)
