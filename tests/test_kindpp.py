"""KinD++ (Zhang et al., IJCV 2021): the MSIA restoration net, the TF1 importer and the pipeline vs the original.

The parity goldens (../shared/reference/kindpp_official/golden/*.npz) are the original evaluate.py run on
crops whose sizes are multiples of 4, with the released decom + illu checkpoints and a seeded random
Denoise_Net (none was released). The MSIA net costs 11.2 MFLOP per pixel, so the whole-pipeline tests
share one conversion and one run per image (module-scoped fixtures).
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from test_convert import write_tf1_checkpoint

from kind_tf.convert import CheckpointMismatchError
from kind_tf.convert.kindpp_tf1 import expected_msia_variables, load_kindpp_stage
from kind_tf.inference import fuse, recompose
from kind_tf.kindpp import KINDPP_TILE_CONTEXT, KinDPlusPlus
from kind_tf.models import DecomNet, IlluminationAdjustNet, MSIANet
from kind_tf.models.msia_net import ScaleBranch
from kind_tf.weights import (
    KINDPP_RECIPE,
    InferenceRecipe,
    WeightsError,
    read_config,
    read_recipe,
    save_weights,
    write_recipe,
)

GOLDENS = ("04", "35")
PARITY_ATOL = 1e-4
# Golden array → the pipeline's intermediate of the same quantity (enhance(..., return_intermediates=True)).
GOLDEN_KEYS = {"input": "input", "R_low": "reflectance", "I_low": "illumination", "R_restored": "restored_reflectance",
               "I_adjusted_ratio5": "adjusted_illumination", "denoise_weight": "denoise_weight",
               "output_default": "enhanced"}
ODD_SIZE = (101, 153)


@pytest.fixture(scope="module")
def reference(shared_dir):
    path = shared_dir / "reference" / "kindpp_official"
    if not path.is_dir():
        pytest.skip(f"KinD++ reference material not found at {path}")
    return path


@pytest.fixture(scope="module")
def kindpp_weights(reference, tmp_path_factory, repo_root):
    """The released decom + illu and the seeded-random Denoise_Net, converted once with the CLI."""
    out = tmp_path_factory.mktemp("kindpp_weights")
    done = subprocess.run([sys.executable, "-m", "kind_tf.convert", "kindpp-tf1", "--decom", str(reference / "decom"),
                           "--illu", str(reference / "illu"), "--restore", str(reference / "restoration_random"),
                           "--out", str(out)], capture_output=True, text=True, cwd=repo_root, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def pipeline(kindpp_weights):
    return KinDPlusPlus.from_weights(kindpp_weights)


@pytest.fixture(scope="module", params=GOLDENS)
def golden_run(request, reference, pipeline):
    """(golden arrays, the pipeline's intermediates on the golden's raw 8-bit crop)."""
    golden = dict(np.load(reference / "golden" / f"{request.param}.npz"))
    ours = pipeline.enhance(golden["input_uint8"], ratio=5.0, return_intermediates=True, tile=None)
    return golden, ours


@pytest.fixture(scope="module")
def odd_image(reference):
    """A natural 101×153 crop (neither side a multiple of 4), and the pipeline's untiled result on it."""
    return np.load(reference / "golden" / "04.npz")["input_uint8"][: ODD_SIZE[0], : ODD_SIZE[1]]


@pytest.fixture(scope="module")
def odd_untiled(pipeline, odd_image):
    return pipeline.enhance(odd_image, return_intermediates=True, tile=None)


@pytest.fixture(scope="module")
def msia_net():
    model = MSIANet()
    model([np.zeros((1, 8, 8, 3), np.float32), np.zeros((1, 8, 8, 1), np.float32)])
    return model


def test_parameter_counts_are_the_originals(msia_net):
    """Denoise_Net: 8,019,239 trainable + 3,840 batch-norm moving statistics (restoration_vars.txt)."""
    model = msia_net
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 8_019_239
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 3_840
    assert len(model.weights) == 128


def test_the_importer_fills_every_variable_once(msia_net):
    mapping = expected_msia_variables(msia_net)
    assert sorted(id(v) for v in mapping.values()) == sorted(id(v) for v in msia_net.weights)


def test_the_importer_expects_exactly_the_originals_variables(msia_net, reference):
    """Names and shapes of every variable the original Restoration_net creates (restoration_vars.txt)."""
    lines = (reference / "restoration_vars.txt").read_text().splitlines()
    original = {line.split("\t")[0].removesuffix(":0"): json.loads(line.split("\t")[1])
                for line in lines if line and not line.startswith("#")}
    assert {name: list(v.shape) for name, v in expected_msia_variables(msia_net).items()} == original


def illumination_variables(seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"conv_1": (3, 3, 2, 32), "conv_2": (3, 3, 32, 32), "conv_3": (3, 3, 32, 32), "conv_4": (3, 3, 32, 1)}
    variables = {}
    for layer, shape in shapes.items():
        variables[f"I_enhance_Net/{layer}/weights"] = rng.standard_normal(shape).astype(np.float32)
        variables[f"I_enhance_Net/{layer}/biases"] = rng.standard_normal(shape[-1]).astype(np.float32)
    return variables


def test_kindpp_illumination_names_fill_kinds_adjust_net(tmp_path):
    variables = illumination_variables()
    write_tf1_checkpoint(tmp_path / "model.ckpt", variables)
    model = load_kindpp_stage("adjust", tmp_path)
    assert isinstance(model, IlluminationAdjustNet)
    np.testing.assert_array_equal(model.en_conv_2.conv.kernel.numpy(), variables["I_enhance_Net/conv_2/weights"])
    np.testing.assert_array_equal(model.en_conv_4.conv.bias.numpy(), variables["I_enhance_Net/conv_4/biases"])


def test_mismatches_are_listed_in_one_weights_error(tmp_path):
    variables = illumination_variables()
    del variables["I_enhance_Net/conv_3/biases"]
    variables["I_enhance_Net/extra/weights"] = np.zeros((1,), np.float32)
    variables["I_enhance_Net/conv_1/weights"] = np.zeros((3, 3, 3, 32), np.float32)
    write_tf1_checkpoint(tmp_path / "illu" / "model.ckpt", variables)
    with pytest.raises(WeightsError) as error:
        load_kindpp_stage("adjust", tmp_path / "illu")
    assert isinstance(error.value, CheckpointMismatchError)
    message = str(error.value)
    assert "missing ['I_enhance_Net/conv_3/biases']" in message
    assert "unexpected ['I_enhance_Net/extra/weights']" in message
    assert "I_enhance_Net/conv_1/weights [3, 3, 3, 32] (expected [3, 3, 2, 32])" in message

    # The restoration net: a batch-norm statistic of the wrong width, an unknown variable, the rest missing.
    write_tf1_checkpoint(tmp_path / "restore" / "model.ckpt", {
        "Denoise_Net/de_conv2pu4/batch_normalization/moving_variance": np.ones(64, np.float32),
        "Denoise_Net/de_conv2pu4/conv_up_2/weights": np.ones((2, 2, 256, 256), np.float32),
        "Denoise_Net/de_conv10/biases": np.zeros(3, np.float32)})
    with pytest.raises(WeightsError) as error:
        load_kindpp_stage("restore", tmp_path / "restore")
    message = str(error.value)
    assert "'Denoise_Net/de_conv1/conv/kernel'" in message and "'Denoise_Net/de_conv3pu2/conv_up/biases'" in message
    assert "unexpected ['Denoise_Net/de_conv2pu4/conv_up_2/weights']" in message
    assert "de_conv2pu4/batch_normalization/moving_variance [64] (expected [256])" in message
    assert "'Denoise_Net/de_conv10/biases'" not in message


def test_the_converted_folder_runs_the_original_evaluate_py_default(kindpp_weights, pipeline):
    config = read_config(kindpp_weights)
    assert {stage: entry["class"] for stage, entry in config["stages"].items()} == {
        "decom": "DecomNet", "restore": "MSIANet", "adjust": "IlluminationAdjustNet"}
    assert read_recipe(kindpp_weights) == KINDPP_RECIPE
    assert (KINDPP_RECIPE.output, KINDPP_RECIPE.adjustment, KINDPP_RECIPE.ratio) == ("fusion", False, 5.0)
    assert isinstance(pipeline.decom, DecomNet) and isinstance(pipeline.restore, MSIANet)
    assert isinstance(pipeline.adjust, IlluminationAdjustNet)
    assert (pipeline.fusion, pipeline.adjustment, pipeline.default_ratio) == (True, False, 5.0)
    assert "without the adjusted illumination" in pipeline.describe()


def test_decom_and_illu_alone_load_without_restoration(pipeline, tmp_path):
    """As released (no restoration checkpoint: R_restored = R_low); the recipe's adjustment can be overridden."""
    folder = save_weights(tmp_path / "released", {"decom": pipeline.decom, "adjust": pipeline.adjust})
    write_recipe(folder, KINDPP_RECIPE)
    released = KinDPlusPlus.from_weights(folder)
    assert released.restore is None and released.adjustment is False
    assert KinDPlusPlus.from_weights(folder, adjustment=True).adjustment is True


def test_the_recipe_extension_is_backward_compatible():
    assert "adjustment" not in InferenceRecipe().to_json()          # KinD's folders are written as before
    assert InferenceRecipe.from_json(InferenceRecipe().to_json()) == InferenceRecipe()
    assert InferenceRecipe.from_json(KINDPP_RECIPE.to_json()) == KINDPP_RECIPE
    with pytest.raises(WeightsError, match="adjustment"):
        InferenceRecipe(output="recompose", adjustment=False)
    with pytest.raises(WeightsError, match="adjustment"):
        InferenceRecipe(adjustment="no")


def test_parity_with_the_original_evaluate_py(golden_run, pipeline):
    """Every intermediate and both outputs of the original within 1e-4 (sizes multiples of 4: no pad, no crop)."""
    golden, ours = golden_run
    for golden_key, our_key in GOLDEN_KEYS.items():
        expected = golden[golden_key]
        assert ours[our_key].size == expected.size, golden_key
        np.testing.assert_allclose(ours[our_key].reshape(expected.shape), expected, rtol=0, atol=PARITY_ATOL,
                                   err_msg=golden_key)
    # --adjustment: the same networks' outputs through the adjusted variant's last step.
    adjusted = KinDPlusPlus(pipeline.decom, pipeline.restore, pipeline.adjust, adjustment=True)
    output = adjusted._finish(*(ours[key][None] for key in ("input", "illumination", "restored_reflectance",
                                                            "adjusted_illumination", "denoise_weight")))
    np.testing.assert_allclose(np.asarray(output).reshape(golden["output_adjusted"].shape), golden["output_adjusted"],
                               rtol=0, atol=PARITY_ATOL)


def test_the_three_outputs_are_selectable(pipeline):
    """Default: I·x + (1 − I)·R̂·w; adjustment=True: I·x + (1 − I)·R̂·w·Î; fusion=False: R̂·Î."""
    image = np.random.default_rng(0).integers(0, 80, (20, 28, 3), dtype=np.uint8)
    nets = (pipeline.decom, pipeline.restore, pipeline.adjust)
    steps = pipeline.enhance(image, return_intermediates=True, tile=None)
    parts = [steps[key] for key in ("input", "illumination", "restored_reflectance", "adjusted_illumination",
                                    "denoise_weight")]
    x, low, restored, adjusted, weight = parts
    default = low * x + (1 - low) * restored * weight
    np.testing.assert_allclose(steps["enhanced"], np.clip(default, 0, 1), atol=1e-6)
    # The other variants' last step (each new pipeline would trace its own graph of the 8-M-parameter net).
    np.testing.assert_allclose(KinDPlusPlus(*nets, adjustment=True)._finish(*parts), fuse(*parts), atol=1e-6)
    np.testing.assert_allclose(KinDPlusPlus(*nets, fusion=False)._finish(*parts), recompose(restored, adjusted),
                               atol=1e-6)
    assert np.abs(default - fuse(*parts)).max() > 1e-2
    # The default output does not depend on the ratio (the original computes I_adjusted and leaves it unused).
    np.testing.assert_allclose(pipeline.enhance(image, ratio=2.0, tile=None), steps["enhanced"], atol=1e-6)


def test_any_image_size(pipeline, odd_image, odd_untiled):
    """The original needs multiples of 4; here 1×1 and 101×153 give outputs of the input's size."""
    for name, value in odd_untiled.items():
        if value.ndim == 3:
            assert value.shape[:2] == ODD_SIZE, name
            assert np.isfinite(value).all(), name
    tiny = pipeline.enhance(odd_image[:1, :1], tile=None)
    assert tiny.shape == (1, 1, 3) and np.isfinite(tiny).all()
    for size in ((2, 3), (5, 7), (6, 10)):
        restored = pipeline.restore([np.full((1, *size, 3), 0.3, np.float32), np.full((1, *size, 1), 0.2, np.float32)])
        assert tuple(restored.shape) == (1, *size, 3)


def test_partial_pooling_cells_take_the_max_of_their_real_pixels():
    """On sizes that are not multiples of the scale, a scale branch computes what it computes on the features
    edge-padded (bottom/right) to a multiple of its scale — the padding repeats pixels already in the last
    cell, so no cell changes — cut back to the input's size."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((1, 9, 14, 8)).astype(np.float32)
    for scale in (2, 4):
        branch = ScaleBranch(8, scale)
        rows, columns = -9 % scale, -14 % scale
        padded = np.concatenate([features, np.repeat(features[:, -1:], rows, axis=1)], axis=1)
        padded = np.concatenate([padded, np.repeat(padded[:, :, -1:], columns, axis=2)], axis=2)
        np.testing.assert_allclose(np.asarray(branch(features)), np.asarray(branch(padded))[:, :9, :14],
                                   rtol=0, atol=1e-6)


def test_tiled_equals_untiled(pipeline, odd_image, odd_untiled):
    """With the pipeline's own tile context (32 px, its receptive-field radius; KinD's is 160) per tile — the
    default overlap — the tiled result is the untiled one: 2×2 tiles of 80 px, windows ending on the odd
    image border."""
    assert pipeline.tile_context == KINDPP_TILE_CONTEXT == 32
    tiled = pipeline.enhance(odd_image, return_intermediates=True, tile=80)
    for name in ("enhanced", "restored_reflectance", "adjusted_illumination", "denoise_weight"):
        np.testing.assert_allclose(tiled[name], odd_untiled[name], rtol=0, atol=1e-5, err_msg=name)


def test_kind_owns_the_last_step_and_the_tile_context():
    """KinD's pipeline holds ``adjustment`` and ``tile_context`` as attributes; KinD++ only sets its own values
    (no override of the last step, no constant of its own that tiling would have to special-case)."""
    from kind_tf.inference import TILE_CONTEXT, KinD

    assert "_finish" not in KinDPlusPlus.__dict__ and "describe" not in KinDPlusPlus.__dict__
    nets = (DecomNet(), None, IlluminationAdjustNet())
    kind, kindpp = KinD(*nets), KinDPlusPlus(*nets)
    assert (kind.adjustment, kind.tile_context) == (True, TILE_CONTEXT)
    assert (kindpp.adjustment, kindpp.tile_context) == (False, KINDPP_TILE_CONTEXT)
    plain = KinD(*nets, adjustment=False)      # KinD's networks with KinD++'s last step
    rng = np.random.default_rng(1)
    x, low, restored, adjusted, weight = (rng.uniform(0, 1, (1, 4, 5, c)).astype(np.float32) for c in (3, 1, 3, 1, 1))
    np.testing.assert_allclose(plain._finish(x, low, restored, adjusted, weight),
                               low * x + (1 - low) * restored * weight, atol=1e-6)
    np.testing.assert_allclose(kind._finish(x, low, restored, adjusted, weight),
                               fuse(x, low, restored, adjusted, weight), atol=1e-6)
    assert plain.describe() == "KinD++'s fusion with the input without the adjusted illumination (the ratio is unused)"


def test_attention_maps_are_sigmoid_of_the_3x3_illumination_conv(msia_net):
    """Each MSIA module's A = σ(conv3×3(I_low)) (no bias, SAME zero padding), checked by hand on a constant
    I = 0.5 with a constant kernel c_k: 9 taps inside, 4 at a corner, 6 along an edge."""
    kernels = [msia.conv.kernel.numpy() for msia in msia_net.msia_modules]
    try:
        for k, msia in enumerate(msia_net.msia_modules):
            msia.conv.kernel.assign(np.full((3, 3, 1, 1), 0.1 * (k + 1), np.float32))
        maps = [np.asarray(a) for a in msia_net.attention_maps(np.full((1, 6, 8, 1), 0.5, np.float32))]
    finally:
        for msia, kernel in zip(msia_net.msia_modules, kernels):
            msia.conv.kernel.assign(kernel)
    assert len(maps) == 4
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    for k, attention in enumerate(maps):
        c = 0.1 * (k + 1)
        assert attention.shape == (1, 6, 8, 1)
        np.testing.assert_allclose(attention[0, 2, 3, 0], sigmoid(9 * c * 0.5), atol=1e-6)
        np.testing.assert_allclose(attention[0, 0, 0, 0], sigmoid(4 * c * 0.5), atol=1e-6)
        np.testing.assert_allclose(attention[0, 0, 3, 0], sigmoid(6 * c * 0.5), atol=1e-6)


def test_kindpp_tiles_by_its_own_activation_memory(msia_net):
    """The MSIA net needs ~15 KB of activations per pixel (KinD ~0.9): with the default 1500 MB budget KinD++
    tiles above 0.1 MP, in windows of ≤ 316² px (its tile budget is the whole 1500 MB): 1200×900 → 240-px
    tiles (316 − 2·32 = 252 → 240 on the 16-px grid; 4 × 5 tiles need no smaller ones); KinD runs it whole."""
    from kind_tf.inference import KinD, auto_tile_size
    from kind_tf.kindpp import KINDPP_BYTES_PER_PIXEL

    nets = (DecomNet(), msia_net, IlluminationAdjustNet())
    kindpp = KinDPlusPlus(*nets)
    assert kindpp.bytes_per_pixel == KINDPP_BYTES_PER_PIXEL == 15_000
    assert KinDPlusPlus(nets[0], None, nets[2]).bytes_per_pixel == KinD(nets[0], None, nets[2]).bytes_per_pixel
    assert kindpp.auto_tile(300, 300) is None and kindpp.auto_tile(900, 1200) == 240
    assert auto_tile_size(900, 1200, balance=True) is None
