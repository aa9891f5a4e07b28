"""TFLite exports: the whole KinD pipeline (float32 and quantised), the TFLite runtime behind
``enhance.py --runtime tflite``, and Zero-DCE++ for a phone's GPU delegate.

Conversions take ~10 s each on 2 cores, so the KinD flatbuffers are converted once per session (module
fixtures) and the tests that need them are marked slow. Expected values are the Keras pipeline's own
outputs on the same inputs (float32: ≤ 1e-4) and, for the quantised variants, PSNR against the SICE
ground truths within bounds around the changes measured in README "On-device".
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from kind_tf.inference import KinD, ZeroDCE  # noqa: E402
from kind_tf.presets import preset_dir  # noqa: E402

FLOAT32_TOLERANCE = 1e-4


def _interpreter(path: str | os.PathLike, threads: int = 2):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # tf.lite.Interpreter's deprecation notice
        return tf.lite.Interpreter(model_path=str(path), num_threads=threads)


def _psnr(output: np.ndarray, target: np.ndarray) -> float:
    return float(10.0 * np.log10(1.0 / np.mean((np.clip(output, 0.0, 1.0) - target) ** 2)))


def _analyze_gpu(path: Path) -> str:
    """The TFLite analyzer's report with the GPU-delegate compatibility check (it prints to stdout)."""
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        tf.lite.experimental.Analyzer.analyze(model_path=str(path), gpu_compatibility=True)
    return report.getvalue()


def _eval_pairs(shared_dir: Path, count: int, side: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``count`` SICE eval pairs, area-downscaled to side×side (a short CI run)."""
    from kind_tf.io import load_image

    low_dir = shared_dir / "data" / "sice_pairs" / "eval" / "low"
    pairs = []
    for low in sorted(low_dir.iterdir())[:count]:
        high = low.parent.parent / "high" / low.name
        shrink = [tf.image.resize(load_image(p)[None], (side, side), method="area").numpy() for p in (low, high)]
        pairs.append((shrink[0], shrink[1][0]))
    return pairs


@pytest.fixture(scope="module")
def kind() -> KinD:
    return KinD.from_weights(preset_dir("kind-sice"))


@pytest.fixture(scope="module")
def kind_tflite(tmp_path_factory) -> Path:
    """The float32 export, written through the CLI (``kind-tf export kind --tflite``)."""
    from kind_tf.export import main

    path = tmp_path_factory.mktemp("kind_tflite") / "kind.tflite"
    assert main(["kind", "--tflite", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def tflite_cache(tmp_path_factory) -> Path:
    """One KIND_TF_CACHE for the runtime and enhance-CLI tests: the CLI test then loads the runtime test's model."""
    return tmp_path_factory.mktemp("kind_tf_cache")


# --- KinD ---------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_kind_tflite_float32_matches_keras_pipeline(kind, kind_tflite):
    """One dynamic-size model: the same signature at two sizes (one odd), ≤ 1e-4 of KinD.forward everywhere."""
    runner = _interpreter(kind_tflite).get_signature_runner("enhance")
    assert set(runner.get_input_details()) == {"image", "ratio"}
    rng = np.random.default_rng(0)
    for (height, width), ratio in (((64, 96), 5.0), ((61, 83), 2.5)):
        image = (rng.random((1, height, width, 3), dtype=np.float32) * 0.3).astype(np.float32)
        ratios = np.array([ratio], np.float32)
        got = runner(image=image, ratio=ratios)
        want = kind.forward(image, ratios)
        for name, key in (("enhanced", "enhanced"), ("illumination", "adjusted_illumination"),
                          ("reflectance", "restored_reflectance")):
            assert got[name].shape == tuple(want[key].shape)
            np.testing.assert_allclose(got[name], want[key].numpy(), atol=FLOAT32_TOLERANCE, rtol=0)


def test_export_kind_tflite_arguments():
    from kind_tf.export import main

    assert main(["kind"]) == 2                                   # neither --out nor --tflite
    assert main(["kind", "--out", "x", "--quantize", "float16"]) == 2   # --quantize without --tflite
    assert main(["kind", "--tflite", "x.tflite", "--quantize", "int8"]) == 2   # int8 without calibration data


@pytest.mark.slow
def test_kind_quantized_psnr_change(kind, shared_dir, tmp_path):
    """float16 / dynamic-range / int8 (calibrated on training images): PSNR change vs the float32 pipeline on
    eval pairs. Bounds are a margin around README's figures (6 pairs at 512²: −0.003, −0.19, −2.28 dB); here
    2 pairs at 256², each with the TF pipeline's auto ratio, so every variant sees the same ratio."""
    from kind_tf.export import export_kind_tflite, kind_representative_dataset

    pairs = _eval_pairs(shared_dir, 2, 256)
    calibration = kind_representative_dataset(shared_dir / "data" / "sice_pairs" / "train" / "low", count=4, side=96)
    sizes = {}
    changes = {}
    for quantize in ("float16", "dynamic", "int8"):
        path = export_kind_tflite(kind, tmp_path / f"{quantize}.tflite", quantize,
                                  calibration if quantize == "int8" else None)
        sizes[quantize] = path.stat().st_size / 1e6
        runner = _interpreter(path).get_signature_runner("enhance")
        deltas = []
        for low, high in pairs:
            ratio = kind.auto_ratios(kind.normalize_input(low)).numpy().astype(np.float32)
            reference = kind.forward(low, ratio)["enhanced"].numpy()[0]
            deltas.append(_psnr(runner(image=low, ratio=ratio)["enhanced"][0], high) - _psnr(reference, high))
        changes[quantize] = float(np.mean(deltas))
    print("sizes MB", sizes, "PSNR change dB", changes)
    assert sizes["float16"] < 17 and sizes["dynamic"] < 9 and sizes["int8"] < 9       # float32: 32.1 MB
    assert abs(changes["float16"]) < 0.02
    assert abs(changes["dynamic"]) < 1.0
    assert -6.0 < changes["int8"] < 1.0


@pytest.mark.slow
def test_tflite_runtime_matches_kind_and_caches(kind, tflite_cache, monkeypatch):
    """TFLiteKinD.enhance ≡ KinD.enhance (auto ratio, batch, tiled), converted once into the cache."""
    from kind_tf.tflite_runtime import TFLiteKinD

    monkeypatch.setenv("KIND_TF_CACHE", str(tflite_cache))
    runtime = TFLiteKinD(kind)
    assert runtime.model_path.parent == tflite_cache / "tflite" and runtime.model_path.is_file()
    modified = runtime.model_path.stat().st_mtime_ns
    assert TFLiteKinD(kind).model_path == runtime.model_path                 # a cache hit: not rewritten
    assert runtime.model_path.stat().st_mtime_ns == modified
    assert not list((tflite_cache / "tflite").glob(".*.tmp"))

    rng = np.random.default_rng(1)
    image = (rng.random((72, 100, 3)) * 60).astype(np.uint8)
    np.testing.assert_allclose(runtime.enhance(image), kind.enhance(image), atol=FLOAT32_TOLERANCE, rtol=0)
    np.testing.assert_allclose(runtime.enhance(image, ratio=3.0), kind.enhance(image, ratio=3.0),
                               atol=FLOAT32_TOLERANCE, rtol=0)
    batch = np.stack([image, image[::-1]])
    np.testing.assert_allclose(runtime.enhance(batch, ratio=4.0), kind.enhance(batch, ratio=4.0),
                               atol=FLOAT32_TOLERANCE, rtol=0)
    wide = (rng.random((48, 400, 3)) * 60).astype(np.uint8)    # tiles of 64 px with 160 px context
    np.testing.assert_allclose(runtime.enhance(wide, ratio=4.0, tile=64),
                               kind.enhance(wide, ratio=4.0, tile=64), atol=FLOAT32_TOLERANCE, rtol=0)
    np.testing.assert_allclose(runtime.enhance(wide, tile=64), kind.enhance(wide, tile=64),   # auto: the preview's
                               atol=FLOAT32_TOLERANCE, rtol=0)


@pytest.mark.slow
def test_tflite_runtime_searches_auto_on_its_own_decomposition(kind, tflite_cache, monkeypatch):
    """A whole image's "auto" ratio comes from the flatbuffer's decompose signature and KinD.search_ratios (no
    second, TF preview pipeline), and equals the TF path's ratio within 1 %."""
    from kind_tf.tflite_runtime import TFLiteKinD

    monkeypatch.setenv("KIND_TF_CACHE", str(tflite_cache))
    runtime = TFLiteKinD(KinD.from_weights(preset_dir("kind-sice")))

    def no_preview(*_):
        raise AssertionError("the untiled TFLite path ran the TF preview pipeline")

    monkeypatch.setattr(runtime.kind, "auto_ratios", no_preview)
    searched = []
    search = runtime.kind.search_ratios
    monkeypatch.setattr(runtime.kind, "search_ratios", lambda *a: searched.append(search(*a)) or searched[-1])
    image = (np.random.default_rng(2).random((64, 96, 3)) * 50).astype(np.uint8)
    np.testing.assert_allclose(runtime.enhance(image, tile=None), kind.enhance(image, tile=None),
                               atol=FLOAT32_TOLERANCE, rtol=0)
    expected = float(kind.enhance(image, tile=None, return_intermediates=True)["ratio"])
    assert len(searched) == 1 and abs(float(np.asarray(searched[0])[0]) / expected - 1) < 0.01


@pytest.mark.slow
def test_enhance_cli_runtime_tflite(tmp_path, tflite_cache, monkeypatch):
    """``enhance.py --runtime tflite`` writes the TF path's image (≤ 1 level of 255) and refuses Zero-DCE++."""
    from kind_tf.cli.enhance import main
    from kind_tf.enhance_job import SAMPLE_IMAGE
    from kind_tf.io import load_image

    monkeypatch.setenv("KIND_TF_CACHE", str(tflite_cache))
    assert main([str(SAMPLE_IMAGE), "-o", str(tmp_path / "tflite"), "--runtime", "tflite", "--ratio", "5"]) == 0
    assert main([str(SAMPLE_IMAGE), "-o", str(tmp_path / "tf"), "--ratio", "5"]) == 0
    name = Path(SAMPLE_IMAGE).stem + ".png"
    difference = np.abs(load_image(tmp_path / "tflite" / name) - load_image(tmp_path / "tf" / name))
    assert difference.max() <= 1.0 / 255 + 1e-6
    assert main([str(SAMPLE_IMAGE), "-o", str(tmp_path / "z"), "--runtime", "tflite", "--model", "zerodce"]) == 2


# --- Zero-DCE++ -----------------------------------------------------------------------------------------------------
def test_static_downsample_is_the_gather_path():
    """The static-size downsample (strided slices, no GATHER) is bit-identical to the dynamic gathers and to
    tf.image.resize of the mirror-padded image, also where the last block reads mirrored rows."""
    from kind_tf.models.zero_dce import downsample_bilinear, pad_to_multiple

    rng = np.random.default_rng(0)
    for (height, width), s in (((1, 1), 12), ((13, 25), 12), ((17, 30), 12), ((512, 512), 12), ((31, 6), 7),
                               ((18, 19), 3), ((400, 600), 12), ((9, 10), 2)):
        image = rng.random((1, height, width, 3), dtype=np.float32)
        dynamic = tf.function(lambda x, s=s: downsample_bilinear(x, s),
                              input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
        static = downsample_bilinear(tf.constant(image), s).numpy()
        resized = tf.image.resize(pad_to_multiple(tf.constant(image), s), (-(-height // s), -(-width // s)))
        np.testing.assert_array_equal(static, dynamic(image).numpy())
        np.testing.assert_array_equal(static, resized.numpy())


@pytest.fixture(scope="module")
def zero_dce_gpu_models(tmp_path_factory, shared_dir) -> dict[str, Path]:
    """The fixed-size (1×512×512×3) GPU variants, float32 / float16 / int8, written through the CLI."""
    from kind_tf.export import ZERO_DCE_GPU_SIZE, export_zero_dce_tflite, main, zero_dce_representative_dataset

    folder = tmp_path_factory.mktemp("zero_dce_tflite")
    paths = {quantize: folder / f"zero_dce_{quantize}.tflite" for quantize in ("float32", "float16", "int8")}
    assert main(["zerodce", "--tflite", str(paths["float32"]), "--gpu"]) == 0
    assert main(["zerodce", "--tflite", str(paths["float16"]), "--gpu", "--quantize", "float16"]) == 0
    # int8 calibrated on 8 training images (the CLI's default is 32; 8 keeps CI short, same ranges to ~1 %).
    model = ZeroDCE.from_weights(preset_dir("zero-dce-sice")).model
    calibration = zero_dce_representative_dataset(shared_dir / "data" / "sice_pairs" / "train" / "low", count=8)
    export_zero_dce_tflite(model, paths["int8"], "int8", ZERO_DCE_GPU_SIZE, calibration)
    return paths


@pytest.mark.slow   # three conversions (int8 calibrated) in the fixture: ~30 s on 2 busy cores
def test_zero_dce_tflite_gpu_delegate_compatible(zero_dce_gpu_models):
    """Every op of each fixed-size variant passes the analyzer's GPU-delegate check; no GATHER of any kind."""
    for quantize, path in zero_dce_gpu_models.items():
        report = _analyze_gpu(path)
        assert "Your model looks compatible with GPU delegate" in report, (quantize, report)
        assert "GPU COMPATIBILITY WARNING" not in report, (quantize, report)
        assert "GATHER" not in report, quantize
        details = _interpreter(path).get_input_details()[0]
        assert list(details["shape"]) == [1, 512, 512, 3] and details["dtype"] == np.float32


@pytest.mark.slow
def test_zero_dce_tflite_accuracy(zero_dce_gpu_models, shared_dir):
    """float32 GPU graph ≡ the Keras model (≤ 1e-5: the RESIZE_BILINEAR upsample); float16 / int8 PSNR change vs
    float32 on 3 eval pairs at 512² within README's measured figures plus a margin."""
    model = ZeroDCE.from_weights(preset_dir("zero-dce-sice")).model
    pairs = _eval_pairs(shared_dir, 3, 512)
    outputs = {}
    for quantize, path in zero_dce_gpu_models.items():
        runner = _interpreter(path).get_signature_runner()
        outputs[quantize] = [runner(image=low)["enhanced"][0] for low, _ in pairs]
    keras_outputs = [np.clip(model(low).numpy()[0], 0.0, 1.0) for low, _ in pairs]
    for got, want in zip(outputs["float32"], keras_outputs):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    reference = np.mean([_psnr(out, high) for out, (_, high) in zip(keras_outputs, pairs)])
    change = {q: float(np.mean([_psnr(out, high) for out, (_, high) in zip(outputs[q], pairs)]) - reference)
              for q in ("float16", "int8")}
    print("Zero-DCE++ PSNR change dB", change)
    assert abs(change["float16"]) < 0.02
    assert abs(change["int8"]) < 1.0
