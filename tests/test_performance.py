"""The speed features keep results: one trace for every size, bfloat16 close to float32, and the
overlapped folder job writing exactly what the sequential one writes. No timing assertions: speed
is measured by ``python benchmarks/run.py`` (see benchmarks/README.md)."""

import keras
import numpy as np
import pytest
from PIL import Image

from kind_tf.enhance_job import enhance_files
from kind_tf.inference import KinD, ZeroDCE, configure_threads, default_weights_dir
from kind_tf.models.zero_dce import ZeroDCEPlusPlus
from kind_tf.weights import build_stage, load_stage

# bfloat16 keeps 8 significant bits (relative rounding ≤ 2^-9 ≈ 0.2 % per op). Through DecomNet,
# RestorationNet and the adjust net the errors partly average out; measured on the bundled sample
# with the shipped weights: max |Δ| 0.005, mean |Δ| 0.0005, i.e. PSNR(bf16 vs f32) ≈ 64 dB — and
# the PSNR change against ground truth on SICE pairs is < 0.01 dB (benchmarks/). The bounds below
# leave a 4× margin: max |Δ| ≤ 0.02 (5/255), mean |Δ| ≤ 0.002, PSNR(bf16 vs f32) ≥ 45 dB.
BF16_MAX_ABS = 0.02
BF16_MEAN_ABS = 0.002
BF16_MIN_PSNR_DB = 45.0
# Zero-DCE++ in bfloat16 only runs DCE-Net on the 12× downsampled image; the curve stays float32
# (measured max |Δ| 1.5e-4).
ZERO_DCE_BF16_MAX_ABS = 1e-3


def dark(height, width, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = 25 + 20 * np.sin(x / 9.0) * np.cos(y / 7.0)
    return np.clip(base[..., None] + rng.normal(0, 4, (height, width, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def kind_networks():
    """Shipped decom + adjust (trained) and a seeded fresh RestorationNet (the big net, speed-critical)."""
    keras.utils.set_random_seed(0)
    weights = default_weights_dir()
    if (weights / "decom.weights.h5").is_file() and (weights / "adjust.weights.h5").is_file():
        decom, adjust = load_stage(weights, "decom"), load_stage(weights, "adjust")
    else:
        decom, adjust = build_stage("decom"), build_stage("adjust")
    return decom, build_stage("restore"), adjust


@pytest.fixture(scope="module")
def zero_dce_model():
    keras.utils.set_random_seed(0)
    model = ZeroDCEPlusPlus(scale_factor=12)
    model(np.zeros((1, 24, 24, 3), np.float32))
    return model


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_zero_dce_one_trace_for_many_sizes(zero_dce_model, precision):
    enhancer = ZeroDCE(zero_dce_model, precision=precision)
    for size in [(17, 33), (40, 24), (64, 64), (31, 47), (1, 1)]:
        out = enhancer.enhance(dark(*size))
        assert out.shape == (*size, 3) and out.dtype == np.float32
    enhancer.enhance(np.stack([dark(20, 20), dark(20, 20, 1)]))
    assert enhancer.forward.experimental_get_tracing_count() == 1
    assert enhancer._curve.experimental_get_tracing_count() == 1   # the XLA curve: traced once, inside


def test_kind_bfloat16_one_trace_for_many_sizes(kind_networks):
    kind = KinD(*kind_networks, precision="bfloat16")
    for size in [(17, 33), (40, 24), (31, 47)]:
        assert kind.enhance(dark(*size), 5.0, tile=None).shape == (*size, 3)
    kind.enhance(np.stack([dark(20, 20), dark(20, 20, 1)]), "auto", tile=None)
    assert kind.forward.experimental_get_tracing_count() == 1


@pytest.mark.slow
def test_kind_jit_matches_the_graph_pipeline(kind_networks):
    """--jit: XLA compiles the pipeline (not the data-dependent auto-ratio preview, resolved before it)
    and gives the graph pipeline's output for fixed and auto ratios."""
    image = dark(40, 56)
    graph, xla = KinD(*kind_networks), KinD(*kind_networks, jit=True)
    for ratio in (5.0, "auto"):
        a = graph.enhance(image, ratio, return_intermediates=True, tile=None)
        b = xla.enhance(image, ratio, return_intermediates=True, tile=None)
        assert b["ratio"] == pytest.approx(a["ratio"], rel=1e-4)
        np.testing.assert_allclose(b["enhanced"], a["enhanced"], rtol=0, atol=1e-4)


def test_kind_bfloat16_close_to_float32(kind_networks):
    image = dark(96, 128)
    f32 = KinD(*kind_networks)
    bf16 = KinD(*kind_networks, precision="bfloat16")
    assert bf16.restore.compute_dtype == "bfloat16" and bf16.restore.variable_dtype == "float32"
    assert f32.restore.compute_dtype == "float32"          # the given networks are left as they are
    for ratio in (5.0, "auto"):
        a = f32.enhance(image, ratio, return_intermediates=True, tile=None)
        b = bf16.enhance(image, ratio, return_intermediates=True, tile=None)
        for name in ("enhanced", "reflectance", "illumination", "restored_reflectance", "adjusted_illumination"):
            assert b[name].dtype == np.float32, name
        diff = np.abs(a["enhanced"] - b["enhanced"])
        psnr = 10 * np.log10(1.0 / max(float(np.mean(diff ** 2)), 1e-20))
        assert diff.max() <= BF16_MAX_ABS and diff.mean() <= BF16_MEAN_ABS and psnr >= BF16_MIN_PSNR_DB, \
            (ratio, diff.max(), diff.mean(), psnr)
        assert b["ratio"] == pytest.approx(a["ratio"], rel=0.02)
    # Tiled bfloat16 assembles the same image as untiled bfloat16 (up to summation order).
    tiled = bf16.enhance(image, 5.0, tile=32, tile_overlap=160)
    assert np.abs(tiled - bf16.enhance(image, 5.0, tile=None)).max() <= 1e-3


def test_zero_dce_bfloat16_and_fused_curve_match_float32(zero_dce_model):
    image = dark(70, 90)
    reference = ZeroDCE(zero_dce_model, fused_curve=False).enhance(image, return_intermediates=True)
    fused = ZeroDCE(zero_dce_model).enhance(image, return_intermediates=True)
    np.testing.assert_allclose(fused["enhanced"], reference["enhanced"], atol=1e-4)   # golden-parity tolerance
    np.testing.assert_array_equal(fused["curve_map"], reference["curve_map"])
    bf16 = ZeroDCE(zero_dce_model, precision="bfloat16").enhance(image)
    assert bf16.dtype == np.float32
    assert np.abs(bf16 - reference["enhanced"]).max() <= ZERO_DCE_BF16_MAX_ABS


def test_tiled_without_intermediates_keeps_only_the_image(kind_networks):
    kind = KinD(*kind_networks)
    image = dark(40, 56)
    full = kind.enhance(image, "auto", return_intermediates=True, tile=16, tile_overlap=32)
    only = kind.enhance(image, "auto", tile=16, tile_overlap=32)
    np.testing.assert_array_equal(only, full["enhanced"])
    kept = kind.enhance_tiled(kind.normalize_input(image[None].astype(np.float32) / 255).numpy(),
                              np.array([5.0], np.float32), 16, 32, keep=("enhanced",))
    assert set(kept) == {"enhanced"}


def make_folder(folder, sizes):
    folder.mkdir()
    for index, size in enumerate(sizes):
        Image.fromarray(dark(*size, seed=index)).save(folder / f"img{index}.{'jpg' if index % 2 else 'png'}")
    Image.fromarray(dark(24, 40, seed=9)).save(folder / "img0.jpg")     # same stem: img0_jpg.png, img0_png.png
    (folder / "empty.png").write_bytes(b"")                              # unreadable
    (folder / "text.png").write_text("not an image")


# Sorted: empty, img0.jpg, img0.png (one stem: both written, as img0_jpg.png and img0_png.png), img1 + img2
# (same size: a batch of 2 when batching), img3, img4 + img5 (a batch), text.
FOLDER_SIZES = [(24, 40), (24, 40), (24, 40), (17, 33), (32, 32), (32, 32)]


@pytest.mark.parametrize("save_intermediates, batch_pixels", [(False, 0), (True, 0), (True, 4096)])
def test_overlapped_folder_job_writes_what_the_sequential_job_writes(kind_networks, tmp_path, save_intermediates,
                                                                     batch_pixels):
    inputs = tmp_path / "in"
    sizes = FOLDER_SIZES
    make_folder(inputs, sizes)
    kind = KinD(*kind_networks)
    results = {}
    for workers in (0, 2):
        out = tmp_path / f"out{workers}"
        messages = []
        report = enhance_files(kind, [str(inputs)], out, 5.0, save_intermediates=save_intermediates,
                               log=messages.append, options={"tile": "auto"}, io_workers=workers,
                               batch_pixels=batch_pixels)
        results[workers] = (report, messages, out)
    (seq, seq_log, seq_out), (par, par_log, par_out) = results[0], results[2]
    assert [p.name for p in par.written] == [p.name for p in seq.written]
    assert sorted(m.replace(str(par_out), "OUT") for m in par_log) == \
        sorted(m.replace(str(seq_out), "OUT") for m in seq_log)
    assert len(seq.errors) == 2 and par.exit_code == seq.exit_code == 1
    files = sorted(p.name for p in seq_out.iterdir())
    assert files == sorted(p.name for p in par_out.iterdir())
    assert len(files) == ((len(sizes) + 1) * (6 if save_intermediates else 1))
    assert {"img0_jpg.png", "img0_png.png"} <= set(files)
    for name in files:
        assert (seq_out / name).read_bytes() == (par_out / name).read_bytes(), name


def test_batched_folder_job_matches_one_by_one(kind_networks, tmp_path):
    """Batching same-size images changes nothing but float summation order (≤ 1/255 after 8-bit rounding)."""
    make_folder(tmp_path / "in", FOLDER_SIZES)
    kind = KinD(*kind_networks)
    calls = []
    original = kind.enhance
    kind.enhance = lambda image, **kw: calls.append(np.shape(image)) or original(image, **kw)
    outs = {}
    for batch_pixels in (0, 4096):
        outs[batch_pixels] = tmp_path / f"out{batch_pixels}"
        report = enhance_files(kind, [str(tmp_path / "in")], outs[batch_pixels], 5.0, log=lambda m: None,
                               batch_pixels=batch_pixels)
        assert len(report.errors) == 2
    batches = {shape[1:3] for shape in calls if len(shape) == 4 and shape[0] > 1}
    assert batches == {(24, 40), (32, 32)}   # the same-size runs went through as batches
    files = sorted(p.name for p in outs[0].iterdir())
    assert files == sorted(p.name for p in outs[4096].iterdir()) and len(files) == 7
    for name in files:
        a, b = (np.asarray(Image.open(outs[k] / name), dtype=int) for k in (0, 4096))
        assert np.abs(a - b).max() <= 1, name


def test_thread_settings_after_start_fail_clearly():
    configure_threads()   # nothing asked: nothing done, never an error
    with pytest.raises(RuntimeError, match="before TensorFlow runs any op"):
        configure_threads(intra_op=1)   # TensorFlow is running in this process already
