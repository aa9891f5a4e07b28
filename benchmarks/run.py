#!/usr/bin/env python
"""kind-tf CPU benchmarks: inference latency and memory, folder throughput, training speed, bf16 accuracy.

    python benchmarks/run.py            # the full benchmark (28 min on a quiet 2-core AMX Xeon, 63 min on an
                                        # AVX2 EPYC without its 4000x3000 and KinD++ 1200x900 cases)
    python benchmarks/run.py --quick    # small sizes, few repeats: for development (4 min on a quiet 2-core EPYC)

Every figure is printed next to baselines measured in the same run (the plain eager Keras call for
inference, a plain eager GradientTape loop for training; the original KinD TF1 graph, and the original
Zero-DCE++ in PyTorch where torch imports) and the ratios: a figure from another machine or day is never
compared. The results start with the machine (CPU, cores, ISA flags, GEMM rates, versions, load average).
Each inference case runs in its own subprocess, so its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is that case's alone. Results go to
``benchmarks/results/{full,quick}.{json,md}``. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SHARED = Path(os.environ.get("KIND_TF_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))

from kind_tf._quiet import FROZEN_WEIGHTS_ENV  # noqa: E402  (a keras-free module)

FAST_CASE_SECONDS = 1.0      # cases faster than this are repeated until about this long (≤ 200 runs)
FAST_CASE_MAX_REPEATS = 200
# The originals, timed in the same run as ours (figures from another machine or day are not comparable):
# KinD's TF1 graph through the shared tool (a subprocess of its own), Zero-DCE++ in PyTorch when importable.
TF1_KIND_TOOL = SHARED / "tools" / "tf1_kind_graph.py"
ZERO_DCE_PTH = SHARED / "reference" / "zero_dce_official" / "Epoch99.pth"
# CPU flags that decide which kernels oneDNN can use (float32 FMA width, bfloat16 / int8 dot products, AMX).
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni", "avx_vnni")
RSS_LIMIT_MB = 3000
ENHANCE_RSS_LIMIT_MB = 2000    # python enhance.py on a 4000×3000 photo, float32 (issue 21)
AUTO_OVERHEAD_LIMIT = 0.10     # ratio "auto" over a fixed ratio, same run (issue 21)
BF16_SPEEDUP_TARGET = 1.5
# Issue 21's same-run targets against the original TF1 graph: where the CPU has bfloat16 instructions,
# --precision bfloat16 ≥ 2×; where it has not (AVX2), a selectable path (--runtime tflite) ≥ 1.5×.
BF16_VS_ORIGINAL_TARGET = 2.0
AVX2_PATH_VS_ORIGINAL_TARGET = 1.5
BF16_PSNR_TOLERANCE_DB = 0.1
RATIO = 5.0

# name: (height, width); names are width×height like the issue's figures.
FULL = {
    "kind_sizes": {"600x400": (400, 600), "1200x900": (900, 1200), "4000x3000": (3000, 4000)},
    "zero_dce_sizes": {"600x400": (400, 600), "1200x900": (900, 1200), "4000x3000": (3000, 4000)},
    # KinD++ (the MSIA restoration net, ~20× KinD's): graph float32 and bfloat16 only, 2 runs after the warm-up.
    "kindpp_sizes": {"600x400": (400, 600), "1200x900": (900, 1200)}, "kindpp_repeats": 2,
    # The eager baseline cannot run 4000×3000 untiled (~11 GB of activations); it runs this instead.
    "eager_fallback": {"4000x3000": ("2000x1500", (1500, 2000))},
    "huge": {"4000x3000"},
    "repeats": 5, "huge_repeats": 2, "max_memory_mb": None,
    "folder_images": 50,
    "folder_sizes": [(400, 600), (600, 400), (480, 640), (512, 512), (300, 450), (768, 1024)],
    "train_steps": {"decom": 20, "restore": 3, "adjust": 30}, "train_patch": {},
    "train_bf16": "always", "train_jit": True,
    "psnr_pairs": 8,
    "gemm_size": 4096,
    # The original TF1 graph runs untiled: at 4000×3000 that is ~11 GB of activations, like the eager baseline,
    # so it runs 2000×1500 and is scaled by the pixel count.
    "original_runs": 5, "original_fallback": {"4000x3000": (1500, 2000)},
    # ratio "auto" vs a fixed ratio, same process, alternating runs (issue: ≤ 10 % at 512×512 and 1200×900)
    "auto_sizes": {"512x512": (512, 512), "1200x900": (900, 1200)}, "auto_repeats": 5,
    # python enhance.py on a 4000×3000 photo in its own process (default recipe, float32, automatic tiling)
    "memory_size": (3000, 4000), "memory_args": [], "memory_window": True, "memory_tflite": True,
    "group": False, "huge_graph_only": False, "jit_cases": (("kind", "600x400"), ("zero_dce", "1200x900")),
    "thread_settings": ((None, None), (1, 1), (2, 1), (4, 2)), "batching_precisions": ("float32", "bfloat16"),
    "folder_precisions": ("float32", "bfloat16"),
}
QUICK = {
    "kind_sizes": {"600x400": (160, 240), "4000x3000": (720, 960)},
    "zero_dce_sizes": {"600x400": (400, 600)},
    "kindpp_sizes": {"600x400": (80, 120)}, "kindpp_repeats": 1,   # MSIA: ~11 MFLOP per pixel
    "eager_fallback": {},
    "huge": {"4000x3000"},
    "repeats": 2, "huge_repeats": 1, "max_memory_mb": 500,   # forces tiling at the small "huge" size
    "folder_images": 8,
    "folder_sizes": [(120, 160), (160, 120), (128, 128), (96, 144)],
    "train_steps": {"decom": 3, "restore": 2, "adjust": 3}, "train_patch": {"restore": 96},
    # ~6 minutes: bfloat16 training only where the CPU has bf16 instructions (emulated it is ~8× slower than
    # float32 and its trace alone takes ~20 s), no XLA training rows, no --runtime tflite memory rows.
    "train_bf16": "if-native", "train_jit": False,
    "psnr_pairs": 1,
    "gemm_size": 1024,
    "original_runs": 2, "original_fallback": {},
    "auto_sizes": {"512x512": (256, 256), "1200x900": (360, 480)}, "auto_repeats": 3,
    # a 4000×3000 run takes minutes on 2 cores: quick mode tiles 1200×900 with a 300 MB activation budget
    "memory_size": (720, 960), "memory_args": ["--max-memory", "300"], "memory_window": False,
    "memory_tflite": False,
    # Quick mode's time goes to process start-up (TensorFlow, the networks, a trace: ~20 s each on a loaded
    # 2-core machine), so it runs each section's cases in one process, one size per model (and the
    # "4000x3000" stand-in for tiling, graph float32 only), fewer thread settings, float32-only batching
    # and folder rows.
    "group": True, "huge_graph_only": True, "jit_cases": (("kind", "600x400"), ("zero_dce", "600x400")),
    "thread_settings": ((None, None), (1, 1)), "batching_precisions": ("float32",),
    "folder_precisions": ("float32",),
}


# ================================================================================================
# Workers (each runs in its own subprocess: python benchmarks/run.py --worker SPEC)
# ================================================================================================
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB


def _current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _synthetic_image(height: int, width: int, seed: int = 0):
    """A dark uint8 photo-like image: smooth shading, a few edges, sensor-like noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 20 + 15 * np.sin(x / max(width, 1) * 7 + seed) * np.cos(y / max(height, 1) * 5)
    base += 10 * ((x // max(width // 7, 1) + y // max(height // 5, 1)) % 2)
    image = base[..., None] * np.array([1.0, 0.9, 0.8], np.float32) + rng.normal(0, 3, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _time_runs(run, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


@functools.cache   # one build (and one trace) per process; quick mode runs several cases in one process
def _build_kind(precision: str, jit: bool):
    import keras

    from kind_tf.inference import KinD
    from kind_tf.weights import build_stage

    keras.utils.set_random_seed(0)   # the same networks in every subprocess (outputs comparable)
    return KinD(build_stage("decom"), build_stage("restore"), build_stage("adjust"), precision=precision, jit=jit)


@functools.cache
def _build_kindpp(precision: str, jit: bool):
    """KinD++: KinD's DecomNet and adjust net with the MSIA restoration net (~11 MFLOP per pixel)."""
    import keras

    from kind_tf.kindpp import KinDPlusPlus
    from kind_tf.weights import build_stage

    keras.utils.set_random_seed(0)
    return KinDPlusPlus(build_stage("decom"), build_stage("restore", "MSIANet"), build_stage("adjust"),
                        precision=precision, jit=jit)


BUILDERS = {"kind": _build_kind, "kindpp": _build_kindpp}


@functools.cache
def _build_zero_dce(precision: str, jit: bool):
    import keras
    import numpy as np

    from kind_tf.inference import ZeroDCE
    from kind_tf.models.zero_dce import INFERENCE_SCALE_FACTOR, ZeroDCEPlusPlus

    keras.utils.set_random_seed(0)
    model = ZeroDCEPlusPlus(scale_factor=INFERENCE_SCALE_FACTOR)
    model(np.zeros((1, 24, 24, 3), np.float32))
    return ZeroDCE(model, precision=precision, jit=jit)


def work_inference(spec: dict[str, Any]) -> dict[str, Any]:
    """Latency (median of N) and peak RSS of one model × size × variant."""
    import numpy as np
    import tensorflow as tf

    from kind_tf.image_ops import to_float_image

    height, width = spec["size"]
    model = BUILDERS.get(spec["model"], _build_zero_dce)(spec["precision"], spec["jit"])
    if spec["variant"] == "tflite":   # enhance --runtime tflite: the same networks in TFLite/XNNPACK (cached)
        from kind_tf.tflite_runtime import TFLiteKinD

        model = TFLiteKinD(model, num_threads=spec.get("intra_op"))
    rss_idle = _current_rss_mb()
    image = _synthetic_image(height, width)
    if spec.get("batch"):
        # Same-size images: one batched forward pass vs one pass per image (tile=None: no tiling).
        images = np.stack([_synthetic_image(height, width, seed) for seed in range(spec["batch"])])
        if spec["variant"] == "batched":
            run = lambda: model.enhance(images, RATIO, tile=None)  # noqa: E731
        else:
            run = lambda: [model.enhance(one, RATIO, tile=None) for one in images]  # noqa: E731
        model.enhance(_synthetic_image(64, 96), RATIO)
    elif spec["variant"] == "eager":
        # The plain eager Keras call: the same pipeline code, no tf.function, no tiling.
        inputs = tf.constant(to_float_image(image)[None])
        if spec["model"] in BUILDERS:
            ratios = tf.constant([RATIO], tf.float32)
            run = lambda: model._forward(inputs, ratios)["enhanced"].numpy()  # noqa: E731
        else:
            run = lambda: np.clip(model.model(inputs).numpy(), 0, 1)  # noqa: E731
    else:
        options = {}
        if spec["model"] in BUILDERS:
            options = {"tile": spec.get("tile", "auto")}
            if spec.get("max_memory_mb"):
                options["max_memory_mb"] = spec["max_memory_mb"]
        run = lambda: model.enhance(image, RATIO, **options)  # noqa: E731
        model.enhance(_synthetic_image(64, 96), RATIO)      # trace the graph once (any size)
    repeats = spec["repeats"]
    if spec.get("warmup", True):
        run()   # first run at this size: oneDNN primitive creation, allocator growth
        # Millisecond cases repeat for about FAST_CASE_SECONDS: a median of 5 such runs is scheduler noise.
        min_seconds = spec.get("min_seconds", FAST_CASE_SECONDS)
        if min_seconds > 0:
            probe = _time_runs(run, 1)[0]
            repeats = max(repeats, min(FAST_CASE_MAX_REPEATS, int(min_seconds / max(probe, 1e-6))))
    times = _time_runs(run, repeats)
    result = {"times_s": times, "median_s": float(np.median(times)), "min_s": float(np.min(times)),
              "peak_rss_mb": _peak_rss_mb(), "rss_after_build_mb": rss_idle}
    if spec["model"] in BUILDERS and spec["variant"] != "eager":
        tile = spec.get("tile", "auto")
        if tile == "auto":
            kwargs = {"max_memory_mb": spec["max_memory_mb"]} if spec.get("max_memory_mb") else {}
            tile = getattr(model, "kind", model).auto_tile(height, width, **kwargs)   # TFLiteKinD wraps a KinD
        result["tile"] = tile
    return result


def work_folder(spec: dict[str, Any]) -> dict[str, Any]:
    """Images/second of enhancing a folder (decode → enhance → PNG) with one variant."""
    import tensorflow as tf

    from kind_tf.enhance_job import enhance_files
    from kind_tf.io import expand_inputs, load_image, save_png

    kind = _build_kind(spec["precision"], False)
    in_dir, out_dir = Path(spec["in_dir"]), Path(spec["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    kind.enhance(_synthetic_image(64, 96), RATIO)          # trace once, outside the timing
    paths, _ = expand_inputs([str(in_dir)])
    start = time.perf_counter()
    if spec["variant"] == "eager-sequential":
        ratios = tf.constant([RATIO], tf.float32)
        for path in paths:
            inputs = tf.constant(load_image(path)[None])
            enhanced = kind._forward(inputs, ratios)["enhanced"].numpy()[0]
            save_png(out_dir / f"{path.stem}.png", enhanced)
        errors = []
    else:
        report = enhance_files(kind, [str(in_dir)], out_dir, RATIO, io_workers=spec["io_workers"],
                               log=lambda message: None, options={"tile": "auto"},
                               batch_pixels=spec.get("batch_pixels", 0))
        errors = report.errors
    elapsed = time.perf_counter() - start
    return {"images": len(paths), "seconds": elapsed, "images_per_s": len(paths) / elapsed,
            "errors": errors, "peak_rss_mb": _peak_rss_mb(), "median_s": elapsed / len(paths)}


def _synthetic_batch(stage: str, batch: int, patch: int):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def maps(channels, low=0.0, high=1.0):
        return tf.constant(rng.uniform(low, high, (batch, patch, patch, channels)).astype(np.float32))

    if stage == "decom":
        return {"low": maps(3, 0, 0.2), "high": maps(3)}
    if stage == "restore":
        return {"reflectance_low": maps(3), "illumination_low": maps(1, 0, 0.2), "target": maps(3)}
    return {"illumination": maps(1), "ratio_map": maps(1, 0.2, 5.0), "target": maps(1)}


def work_train(spec: dict[str, Any]) -> dict[str, Any]:
    """Steps/second of one stage: the project's Trainer train step vs a plain eager GradientTape loop."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kind_tf.training.config import PRESETS, TrainConfig
    from kind_tf.training.tasks import make_task
    from kind_tf.training.trainer import ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON, Trainer

    stage = spec["stage"]
    recipe = PRESETS["original"][stage]
    batch_size, patch = recipe.batch_size, spec.get("patch") or recipe.patch_size
    steps = spec["steps"]
    batch = _synthetic_batch(stage, batch_size, patch)

    def adam():
        return keras.optimizers.Adam(1e-4, beta_1=ADAM_BETA_1, beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON)

    def measure(run_step) -> dict[str, Any]:
        for _ in range(2):
            run_step()                       # tracing / first-step allocations
        times = _time_runs(run_step, steps)
        return {"median_s": float(np.median(times)), "min_s": float(np.min(times)),
                "steps_per_s": 1.0 / float(np.median(times)), "times_s": times}

    results: dict[str, Any] = {"batch_size": batch_size, "patch_size": patch}
    for variant in spec["variants"]:
        keras.config.set_dtype_policy("mixed_bfloat16" if variant == "trainer-bf16" else "float32")
        task = make_task(stage)
        keras.utils.set_random_seed(0)
        model = task.build_model()
        optimizer = adam()
        optimizer.build(model.trainable_variables)
        variables = model.trainable_variables
        if variant == "eager-tape":
            def run_step():
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(task.compute_losses(model, batch, training=True)["total"])
                optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
                return float(loss)
        else:
            config = TrainConfig(stage=stage, data="-", progress=False, mixed_precision=variant == "trainer-bf16",
                                 jit=variant == "trainer-jit", strategy="default")
            trainer = Trainer(config, task=task)
            engine = trainer.engine   # the TensorFlow engine's own step (kind_tf.training.engines)
            engine.model, engine.optimizer = model, optimizer
            engine.step_variable = tf.Variable(0, dtype=tf.int64, trainable=False)
            train_step = engine._make_train_step(batch_size)
            iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())

            def run_step():
                return {name: float(value) for name, value in train_step(iterator).items()}
        results[variant] = measure(run_step)
    keras.config.set_dtype_policy("float32")
    return results


def work_psnr(spec: dict[str, Any]) -> dict[str, Any]:
    """PSNR against the ground truth of float32 vs bfloat16 on SICE eval pairs, and their speed."""
    import numpy as np

    from kind_tf.data.pairs import find_pairs
    from kind_tf.inference import KinD
    from kind_tf.io import load_image

    pairs = find_pairs(spec["data"])[: spec["pairs"]]
    images = [(load_image(pair.low), load_image(pair.high)) for pair in pairs]
    result: dict[str, Any] = {"pairs": len(images), "weights": spec["weights"]}
    outputs = {}
    for precision in ("float32", "bfloat16"):
        kind = KinD.from_weights(spec["weights"], precision=precision)
        result["restore"] = kind.restore is not None
        kind.enhance(images[0][0], RATIO)                     # trace + warm-up
        enhanced, seconds = [], 0.0
        for low, _ in images:
            start = time.perf_counter()
            enhanced.append(kind.enhance(low, RATIO))
            seconds += time.perf_counter() - start
        outputs[precision] = enhanced
        psnr = [10 * np.log10(1.0 / np.mean((out - high) ** 2)) for out, (_, high) in zip(enhanced, images)]
        result[precision] = {"psnr_db": float(np.mean(psnr)), "seconds_per_image": seconds / len(images),
                             "psnr_per_image": [float(v) for v in psnr]}
    diffs = [np.abs(a - b) for a, b in zip(outputs["float32"], outputs["bfloat16"])]
    result["psnr_change_db"] = result["bfloat16"]["psnr_db"] - result["float32"]["psnr_db"]
    result["max_abs_diff"] = float(max(d.max() for d in diffs))
    result["mean_abs_diff"] = float(np.mean([d.mean() for d in diffs]))
    result["bf16_vs_f32_psnr_db"] = float(np.mean([10 * np.log10(1.0 / max(np.mean(d ** 2), 1e-20)) for d in diffs]))
    result["speedup"] = result["float32"]["seconds_per_image"] / result["bfloat16"]["seconds_per_image"]
    return result


def work_auto_ratio(spec: dict[str, Any]) -> dict[str, Any]:
    """What ``ratio="auto"`` costs over a fixed ratio: one pipeline (float32 graph, as enhance.py runs it),
    per size a warm-up of both, then fixed and auto runs alternating, so both see the same load."""
    import numpy as np

    kind = _build_kind("float32", False)
    kind.enhance(_synthetic_image(64, 96), RATIO)                 # trace once (any size)
    sizes: dict[str, Any] = {}
    for label, (height, width) in spec["sizes"].items():
        image = _synthetic_image(height, width)
        runs = {name: (lambda image=image, ratio=ratio: kind.enhance(image, ratio))
                for name, ratio in (("fixed", RATIO), ("auto", "auto"))}
        for run in runs.values():
            run()
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(spec["repeats"]):
            for name, run in runs.items():
                times[name] += _time_runs(run, 1)
        fixed, auto = (float(np.median(times[name])) for name in ("fixed", "auto"))
        sizes[label] = {"size": [height, width], "fixed_times_s": times["fixed"], "auto_times_s": times["auto"],
                        "fixed_median_s": fixed, "auto_median_s": auto, "overhead": auto / fixed - 1.0,
                        "loadavg": os.getloadavg()[0]}
    return {"sizes": sizes, "peak_rss_mb": _peak_rss_mb()}


def run_enhance_memory(image_size: tuple[int, int], scratch: Path, extra: list[str],
                       timeout: float = 3600, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Peak RSS of ``python enhance.py IMAGE -o OUT`` (default recipe: the shipped weights, ratio auto) on a
    synthetic uint8 PNG of ``image_size``, in a process of its own (``os.wait4``'s ``ru_maxrss``)."""
    import numpy as np
    from PIL import Image

    height, width = image_size
    image_path = scratch / f"dark_{width}x{height}.png"
    if not image_path.exists():
        Image.fromarray(_synthetic_image(height, width)).save(image_path)
    command = [sys.executable, str(REPO / "enhance.py"), str(image_path), "-o", str(scratch / "out"), "--overwrite",
               *extra]
    context = {"size": [height, width], "command": " ".join(command[1:]), "loadavg_start": os.getloadavg()[0]}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=REPO,
                                   env={**os.environ, **(env or {})})
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        stderr.seek(0)
        error_tail = stderr.read().decode(errors="replace").strip().splitlines()[-3:]
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        return {"error": f"exit code {code}: " + " | ".join(error_tail), **context}
    written = np.asarray(Image.open(scratch / "out" / image_path.name))
    return {"peak_rss_mb": usage.ru_maxrss / 1024.0, "wall_s": time.perf_counter() - start,
            "output_shape": list(written.shape), **context}


def measure_enhance_memory(size: tuple[int, int], extra: list[str], scratch: Path,
                           window_too: bool = True, tflite_too: bool = True) -> dict[str, Any]:
    """Peak RSS of enhance.py on ``size`` and the two parts it is made of, each in a process of its own:
    the baseline (the same command on a 64×64 image: Python, TensorFlow, the weights, one traced call) and
    the largest tile's window enhanced whole (the baseline plus one tile's activations)."""
    from kind_tf.inference import BYTES_PER_PIXEL, DEFAULT_MAX_MEMORY_MB, TILE_CONTEXT, auto_tile_size

    height, width = size
    budget = float(extra[extra.index("--max-memory") + 1]) if "--max-memory" in extra else DEFAULT_MAX_MEMORY_MB
    tile = auto_tile_size(height, width, TILE_CONTEXT, budget, bytes_per_pixel=BYTES_PER_PIXEL, balance=True)
    window = (height, width) if tile is None else (min(tile + 2 * TILE_CONTEXT, height),
                                                   min(tile + 2 * TILE_CONTEXT, width))
    result: dict[str, Any] = {"tile": tile, "max_memory_mb": budget}
    for part, part_size in (("baseline", (64, 64)), ("window", window), ("total", size)):
        if part != "window" or window_too:
            result[part] = run_enhance_memory(part_size, scratch, extra)
    # The same command with --runtime tflite (issue 21 item 4's AVX2 path). Its first run converts the weights
    # into the cache (a scratch cache here, so a stale one cannot be read): that run is the baseline, the whole
    # image then loads the cached flatbuffer as every later run does.
    if tflite_too:
        tflite = [*extra, "--runtime", "tflite"]
        cache = {"KIND_TF_CACHE": str(scratch / "tflite_cache")}
        result["tflite_baseline"] = run_enhance_memory((64, 64), scratch, tflite, env=cache)
        result["tflite_total"] = run_enhance_memory(size, scratch, tflite, env=cache)
    # What the image's own arrays take: the uint8 input, the float32 output, its uint8 copy for the PNG.
    result["arrays_mb"] = height * width * 3 * (1 + 4 + 1) / 2**20
    return result


def _gemm_rates(n: int, repeats: int) -> dict[str, dict[str, float]]:
    """float32 and bfloat16 ``tf.linalg.matmul`` of two n×n matrices: the best case for any kernel of that
    precision on this CPU (bfloat16 is fast only with AVX512-BF16 / AMX; emulated elsewhere)."""
    import numpy as np
    import tensorflow as tf

    rates = {}
    matmul = tf.function(tf.linalg.matmul)
    for dtype in ("float32", "bfloat16"):
        a, b = (tf.cast(tf.random.normal([n, n], seed=seed), dtype) for seed in (1, 2))
        matmul(a, b).numpy()
        median = float(np.median(_time_runs(lambda: matmul(a, b).numpy(), repeats)))
        rates[dtype] = {"median_s": median, "gflops_per_s": 2 * n ** 3 / median / 1e9}
    return rates


def work_gemm(spec: dict[str, Any]) -> dict[str, Any]:
    """The machine line's GEMM rates, measured once at the start of every run."""
    return {"gemm_size": spec["gemm_size"], **_gemm_rates(spec["gemm_size"], spec["repeats"])}


def work_torch_zero_dce(spec: dict[str, Any]) -> dict[str, Any]:
    """The official Zero-DCE++ (``enhance_net_nopool``, scale factor 12) in PyTorch on this CPU: the same-run
    baseline of our Zero-DCE++. Rebuilt from shared/reference/zero_dce_official/RECIPE.md (seven CSDN
    blocks, bilinear down / align-corners up-sampling, 8 curve steps) with Epoch99.pth when present; like the
    released test script, the input is cropped to a multiple of the scale factor. Only runs where torch imports."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    scale = 12

    class CSDN(nn.Module):
        def __init__(self, cin: int, cout: int):
            super().__init__()
            self.depth_conv = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin)
            self.point_conv = nn.Conv2d(cin, cout, 1)

        def forward(self, x):
            return self.point_conv(self.depth_conv(x))

    class EnhanceNetNoPool(nn.Module):
        def __init__(self):
            super().__init__()
            f = 32
            self.e_conv1, self.e_conv2, self.e_conv3, self.e_conv4 = CSDN(3, f), CSDN(f, f), CSDN(f, f), CSDN(f, f)
            self.e_conv5, self.e_conv6, self.e_conv7 = CSDN(2 * f, f), CSDN(2 * f, f), CSDN(2 * f, 3)
            self.upsample = nn.UpsamplingBilinear2d(scale_factor=scale)

        def forward(self, x):
            down = F.interpolate(x, scale_factor=1 / scale, mode="bilinear")
            x1 = F.relu(self.e_conv1(down))
            x2 = F.relu(self.e_conv2(x1))
            x3 = F.relu(self.e_conv3(x2))
            x4 = F.relu(self.e_conv4(x3))
            x5 = F.relu(self.e_conv5(torch.cat([x3, x4], 1)))
            x6 = F.relu(self.e_conv6(torch.cat([x2, x5], 1)))
            curve = self.upsample(torch.tanh(self.e_conv7(torch.cat([x1, x6], 1))))
            for _ in range(8):
                x = x + curve * (torch.pow(x, 2) - x)
            return x, curve

    torch.manual_seed(0)
    model = EnhanceNetNoPool().eval()
    weights = Path(spec["weights"])
    if weights.is_file():
        model.load_state_dict(torch.load(weights, map_location="cpu"))
    height, width = (v // scale * scale for v in spec["size"])
    image = _synthetic_image(height, width).astype(np.float32) / 255.0
    inputs = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()

    def run():
        with torch.no_grad():
            return model(inputs)[0].numpy()

    run()
    probe = _time_runs(run, 1)[0]
    repeats = max(spec["repeats"], min(FAST_CASE_MAX_REPEATS, int(FAST_CASE_SECONDS / max(probe, 1e-6))))
    times = _time_runs(run, repeats)
    return {"times_s": times, "median_s": float(np.median(times)), "min_s": float(np.min(times)),
            "peak_rss_mb": _peak_rss_mb(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "weights": str(weights) if weights.is_file() else "random (Epoch99.pth missing)",
            "cropped_to": f"{width}x{height}"}


def work_ceiling(spec: dict[str, Any]) -> dict[str, Any]:
    """This CPU's float32 (and bfloat16) matrix-multiply rate, the FLOPs of KinD's three networks at the
    case's size and the rate each network reaches alone: how far from the arithmetic limit float32 is."""
    import numpy as np
    import tensorflow as tf

    from kind_tf.flops import count_flops
    from kind_tf.weights import build_model, build_stage

    n, (height, width), repeats = spec["gemm_size"], spec["size"], spec["repeats"]
    # The GEMM rates measured for the machine line at the start of the run are reused (spec["gemm"]).
    gemm = spec.get("gemm") or _gemm_rates(n, repeats)
    result: dict[str, Any] = {"gemm_size": n, "size": [height, width], "gemm": gemm, "networks": {}}
    for stage, channels in (("decom", (3,)), ("restore", (3, 1)), ("adjust", (1, 1))):
        model = build_stage(stage)
        build_model(model, stage)
        flops = count_flops(model, height, width, channels)
        inputs = [tf.random.uniform([1, height, width, c]) for c in channels]
        call = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False))
        run = lambda: [t.numpy() for t in tf.nest.flatten(call(*inputs))]   # noqa: E731
        run()
        median = float(np.median(_time_runs(run, repeats)))
        result["networks"][stage] = {"gflop": flops / 1e9, "median_s": median, "gflops_per_s": flops / median / 1e9}
    return result


WORKERS = {"inference": work_inference, "folder": work_folder, "train": work_train, "psnr": work_psnr,
           "auto_ratio": work_auto_ratio, "ceiling": work_ceiling, "gemm": work_gemm,
           "torch_zero_dce": work_torch_zero_dce}


def worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    if not any(case["kind"] == "train" for case in spec.get("specs", [spec])):
        from kind_tf._quiet import assume_frozen_weights

        assume_frozen_weights()   # as enhance.py does; never with a training case in the process
    from kind_tf.inference import configure_threads

    configure_threads(spec.get("intra_op"), spec.get("inter_op"))
    if spec["kind"] == "group":
        # Quick mode: several cases in one process, in order (one TensorFlow start-up and one trace per
        # network set instead of one per case); each case's peak RSS is then the process's so far.
        result: Any = []
        for case_spec in spec["specs"]:
            start = time.perf_counter()
            try:
                case_result = WORKERS[case_spec["kind"]](case_spec)
            except Exception as error:   # one failed case must not lose the group's other results
                case_result = {"error": f"{type(error).__name__}: {error}"}
            result.append({**case_result, "case_s": time.perf_counter() - start, "shared_process": True})
    else:
        result = WORKERS[spec["kind"]](spec)
    print("RESULT " + json.dumps(result), flush=True)


# ================================================================================================
# Orchestrator
# ================================================================================================
def run_worker(spec: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    """Run one case in a subprocess; record when, the load average and whether a training was running."""
    start = time.perf_counter()
    context = {"started": time.strftime("%H:%M:%S"), "loadavg_start": os.getloadavg()[0],
               "training_at_start": bool(shared_machine()["training_running"])}
    try:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                              capture_output=True, text=True, cwd=REPO, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", **context}
    context["training_at_end"] = bool(shared_machine()["training_running"])
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"exit code {done.returncode}: " + " | ".join(tail), **context}
    result = json.loads(lines[-1][len("RESULT "):])
    if isinstance(result, list):    # a group (quick mode): each case's own time, the group's wall time beside it
        wall = time.perf_counter() - start
        return [{**case, "wall_s": case.get("case_s"), "group_wall_s": wall, **context} for case in result]
    result["wall_s"] = time.perf_counter() - start
    return {**result, **context}


def run_workers(specs: list[dict[str, Any]], group: bool) -> list[dict[str, Any]]:
    """Each spec in a subprocess of its own, or (``group``, quick mode) all of them in one subprocess."""
    if not group:
        return [run_worker(spec) for spec in specs]
    if not specs:
        return []
    threads = {key: specs[0].get(key) for key in ("intra_op", "inter_op")}
    results = run_worker({"kind": "group", "specs": specs, **threads})
    if isinstance(results, dict):    # the whole group failed (start-up, timeout): every case gets the error
        return [dict(results) for _ in specs]
    return results


def _shared_mark(row: dict[str, Any]) -> str:
    """'†' when a training run was going at the start or end of this case (per-case record), else ''."""
    return "†" if row.get("training_at_start") or row.get("training_at_end") else ""


def run_original_kind(size: tuple[int, int], runs: int, timeout: float = 3600,
                      frozen_weights: bool = False) -> dict[str, Any]:
    """The original KinD graph (TF1 semantics, original checkpoints, original numpy/scikit-image
    post-processing) timed by ``shared/tools/tf1_kind_graph.py SHARED H W RUNS`` in a subprocess of its own.

    The tool prints one JSON line of per-stage medians (after one warm-up run); its ``total`` is the whole
    pipeline, post-processing included when scikit-image is importable (``post`` is null otherwise). The peak RSS
    comes from ``os.wait4``'s resource usage of that child alone. It runs as released: without
    ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS`` (kind-tf's inference processes set it, see kind_tf._quiet), unless
    ``frozen_weights``.
    """
    height, width = size
    context = {"started": time.strftime("%H:%M:%S"), "loadavg_start": os.getloadavg()[0],
               "training_at_start": bool(shared_machine()["training_running"])}
    if not TF1_KIND_TOOL.is_file():
        return {"error": f"not measured: {TF1_KIND_TOOL} missing", **context}
    command = [sys.executable, str(TF1_KIND_TOOL), str(SHARED), str(height), str(width), str(runs)]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        env = {key: value for key, value in os.environ.items() if key != FROZEN_WEIGHTS_ENV}
        if frozen_weights:
            env[FROZEN_WEIGHTS_ENV] = "1"
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO, env=env)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        stdout = process.stdout.read().decode()
        _, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
        stderr.seek(0)
        error_tail = stderr.read().decode(errors="replace").strip().splitlines()[-3:]
    context["training_at_end"] = bool(shared_machine()["training_running"])
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        if time.perf_counter() - start >= timeout:
            return {"error": f"timed out after {timeout:.0f} s", **context}
        return {"error": f"exit code {process.returncode}: " + " | ".join(error_tail), **context}
    measured = json.loads(lines[-1])
    stages = {name: measured[name] for name in ("decom", "restore", "adjust", "post")}
    return {"median_s": measured["total"], "min_s": None, "stages": stages, "runs": measured["runs"],
            "peak_rss_mb": usage.ru_maxrss / 1024.0, "wall_s": time.perf_counter() - start,
            "command": " ".join(command), **context}


def _cpu_info() -> tuple[str, int | None, set[str]]:
    """Model name, physical cores and flags from /proc/cpuinfo (first processor; Linux)."""
    cpu, cores, flags = "unknown", None, set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return cpu, cores, flags
    sockets = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and cpu == "unknown":
            cpu = value
        elif key == "cpu cores" and cores is None:
            cores = int(value)
        elif key == "physical id":
            sockets.add(value)
        elif key == "flags" and not flags:
            flags = set(value.split())
    return cpu, (cores * max(len(sockets), 1) if cores else None), flags


def machine_info() -> dict[str, Any]:
    """What a figure depends on: CPU model and cores, the ISA flags oneDNN's kernels need, library versions.
    The GEMM rates are added by main() (measured in a worker at the start of the run)."""
    import keras
    import tensorflow as tf

    cpu, cores, flags = _cpu_info()
    torch_version = None
    if importlib.util.find_spec("torch") is not None:   # not imported here: only its worker needs it
        try:
            torch_version = importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            torch_version = "unknown"
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "physical_cores": cores,
            "isa": {flag: flag in flags for flag in ISA_FLAGS}, "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__, "torch": torch_version,
            "amx_bf16": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")}


def has_bf16_instructions(machine: dict[str, Any]) -> bool:
    """Whether machine_info's CPU computes bfloat16 natively (AMX or AVX512-BF16); elsewhere oneDNN emulates it."""
    return bool(machine.get("amx_bf16") or machine.get("avx512_bf16"))


def shared_machine() -> dict[str, Any]:
    """Other training runs and the load average: the numbers are noisy when the machine is shared."""
    found = subprocess.run(["pgrep", "-af", "train.py"], capture_output=True, text=True).stdout
    trainings = [line for line in found.splitlines() if "pgrep" not in line and "benchmarks/run.py" not in line]
    return {"training_running": trainings, "loadavg": os.getloadavg(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def make_folder(directory: Path, count: int, sizes: list[tuple[int, int]]) -> None:
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        height, width = sizes[(index // 5) % len(sizes)]   # runs of 5 same-size images, as from one camera
        image = Image.fromarray(_synthetic_image(height, width, seed=index))
        suffix = ".jpg" if index % 3 == 2 else ".png"
        image.save(directory / f"img_{index:03d}{suffix}", quality=92)


def files_equal(a: Path, b: Path) -> bool:
    names_a = sorted(p.name for p in a.iterdir())
    names_b = sorted(p.name for p in b.iterdir())
    return names_a == names_b and all((a / n).read_bytes() == (b / n).read_bytes() for n in names_a)


def combined_weights(base: Path, restore: Path | None, scratch: Path) -> Path:
    """checkpoints/kind (decom + adjust) plus, if given, a restore stage from another weights folder (copied)."""
    if restore is None or not (restore / "restore.weights.h5").is_file():
        return base
    target = scratch / "weights"
    shutil.copytree(base, target, dirs_exist_ok=True)
    shutil.copy2(restore / "restore.weights.h5", target / "restore.weights.h5")
    from kind_tf.weights_config import read_config, write_config

    config, other = read_config(target), read_config(restore)
    config["stages"]["restore"] = other["stages"]["restore"]
    config["provenance"]["restore"] = other["provenance"].get("restore", {})
    step = config["provenance"]["restore"].get("step")
    write_config(target, config)
    print(f"  restore weights: {restore} (step {step}), copied", flush=True)
    return target


SIZE_KEYS = {"kind": "kind_sizes", "zero_dce": "zero_dce_sizes", "kindpp": "kindpp_sizes"}


def skip_cases(plan: dict[str, Any], entries: list[str], error) -> dict[str, Any]:
    """``plan`` without the inference cases named by ``entries`` ("SIZE" for every model, "MODEL:SIZE")."""
    plan = {**plan, **{key: dict(plan[key]) for key in SIZE_KEYS.values()}}
    for entry in entries:
        model, _, label = entry.rpartition(":")
        models = [model] if model else list(SIZE_KEYS)
        if model and model not in SIZE_KEYS:
            error(f"--skip {entry}: unknown model {model!r} (one of {', '.join(SIZE_KEYS)})")
            continue
        if not any(label in plan[SIZE_KEYS[name]] for name in models):
            error(f"--skip {entry}: no such case in this mode (sizes: "
                  f"{', '.join(sorted(set().union(*(plan[key] for key in SIZE_KEYS.values()))))})")
            continue
        for name in models:
            plan[SIZE_KEYS[name]].pop(label, None)
    plan["jit_cases"] = tuple((model, label) for model, label in plan["jit_cases"]
                              if label in plan[SIZE_KEYS[model]])
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (development)")
    parser.add_argument("--sections", default="inference,ceiling,threads,batching,folder,train,psnr,auto,memory",
                        help="comma-separated subset of: inference, ceiling, threads, batching, folder, "
                             "train, psnr, auto, memory")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case (median reported)")
    parser.add_argument("--skip", default=None, metavar="CASES",
                        help="inference cases to leave out: sizes (4000x3000) or MODEL:SIZE (kindpp:1200x900; "
                             "models kind, zero_dce, kindpp), comma-separated — e.g. on a slow CPU; the XLA rows "
                             "follow; the memory section keeps its photo. Default: every case of the mode")
    parser.add_argument("--intra-op-threads", type=int, default=None, help="for every case (default: TF's)")
    parser.add_argument("--inter-op-threads", type=int, default=None, help="for every case (default: TF's)")
    parser.add_argument("--weights", default=str(REPO / "checkpoints" / "kind"),
                        help="trained weights for the bf16-vs-float32 PSNR check (default checkpoints/kind)")
    parser.add_argument("--restore-weights", default=None,
                        help="a weights folder whose restore stage completes --weights for the PSNR check")
    parser.add_argument("--out", default=None, help="results name (default: full or quick)")
    parser.add_argument("--render", default=None, metavar="NAME",
                        help="only re-write results/NAME.md from results/NAME.json (no measurement)")
    parser.add_argument("--note", action="append", default=[],
                        help="with --render: add this line to the results' notes (kept in the JSON)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    if args.render:
        path = RESULTS / f"{args.render}.json"
        report = json.loads(path.read_text())
        report.setdefault("notes", []).extend(args.note)
        path.write_text(json.dumps(report, indent=2) + "\n")
        plan = QUICK if report["mode"] == "quick" else FULL
        report["targets"] = evaluate_targets(report, plan)   # re-judged by today's rules (same-run originals)
        path.write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / f"{args.render}.md").write_text(render_markdown(report, plan))
        print((RESULTS / f"{args.render}.md").read_text())
        return 0

    plan = QUICK if args.quick else FULL
    if args.skip:   # e.g. a run on a slow CPU without the minutes-long cases
        plan = skip_cases(plan, [entry.strip() for entry in args.skip.split(",") if entry.strip()], parser.error)
    repeats = args.repeats or plan["repeats"]
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    needs_600 = sorted({"ceiling", "threads", "batching"} & set(sections))
    if "600x400" not in plan["kind_sizes"] and needs_600:
        parser.error(f"--skip: the {', '.join(needs_600)} section(s) run at KinD's 600x400 case; keep it")
    threads = {"intra_op": args.intra_op_threads, "inter_op": args.inter_op_threads}
    name = args.out or ("quick" if args.quick else "full")
    report: dict[str, Any] = {"mode": "quick" if args.quick else "full", "name": name, "notes": [],
                              "machine": machine_info(), "shared_before": shared_machine(),
                              "threads": threads, "skipped": args.skip, "rows": [], "folder": [], "train": {},
                              "psnr": None,
                              "ceiling": None}
    started = time.perf_counter()
    rows = report["rows"]
    print(f"machine: GEMM {plan['gemm_size']}³ float32 / bfloat16 ...", end="", flush=True)
    gemm = run_worker({"kind": "gemm", "gemm_size": plan["gemm_size"], "repeats": repeats, **threads})
    report["machine"]["gemm"] = gemm
    print(f" {gemm['float32']['gflops_per_s']:.0f} / {gemm['bfloat16']['gflops_per_s']:.0f} GFLOP/s"
          if "error" not in gemm else f" FAILED: {gemm['error']}", flush=True)

    def original(model, label, size):
        """The original implementation at this case (same run): KinD's TF1 graph, Zero-DCE++ in PyTorch."""
        fallback = plan["original_fallback"].get(label) if model == "kind" else None
        measured = fallback or size
        size_label = f"{measured[1]}x{measured[0]}"
        print(f"  {model:8s} {label:10s} original {'TF1 graph' if model == 'kind' else 'PyTorch'} "
              f"@ {size_label} ...", end="", flush=True)
        if model == "kind":
            runs = 1 if label in plan["huge"] and not fallback else plan["original_runs"]
            result = run_original_kind(measured, runs)
        elif report["machine"].get("torch"):
            result = run_worker({"kind": "torch_zero_dce", "size": list(measured), "repeats": repeats,
                                 "weights": str(ZERO_DCE_PTH)})
        else:
            result = {"error": "not measured: torch is not importable here"}
        row = {"section": "inference", "model": model, "case": label, "variant": "original",
               "precision": "float32", "jit": False, "measured_size": size_label, **result}
        if fallback:
            row["note"] = f"runs untiled: measured at {size_label} and scaled by the pixel count"
        rows.append(row)
        print(f" {result['median_s']:.3f} s, peak RSS {result['peak_rss_mb']:.0f} MB"
              if "error" not in result else f" {result['error']}", flush=True)
        if model == "kind" and label not in plan["huge"] and not fallback and "error" not in result:
            # kind-tf's inference processes set TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1 (kind_tf._quiet); the same
            # setting given to the original shows how much of the difference is that setting alone.
            print(f"  {model:8s} {label:10s} original TF1 graph, {FROZEN_WEIGHTS_ENV}=1 ...", end="", flush=True)
            frozen = run_original_kind(measured, runs, frozen_weights=True)
            rows.append({**row, **frozen, "variant": "original_frozen"})
            print(f" {frozen['median_s']:.3f} s" if "error" not in frozen else f" {frozen['error']}", flush=True)
        return row

    group = bool(plan["group"])
    pending: list[tuple[dict[str, Any], dict[str, Any], str]] = []

    def flush() -> None:
        """Run the pending cases (quick mode: all in one subprocess) and record their rows."""
        if group and pending:
            print(f"  ({len(pending)} cases in one process)", flush=True)
        for (_, row, title), result in zip(pending, run_workers([spec for spec, _, _ in pending], group)):
            row.update(result)
            rows.append(row)
            print((title if group else "") + (f" {result['median_s']:.3f} s, peak RSS {result['peak_rss_mb']:.0f} MB"
                                              if "error" not in result else f" FAILED: {result['error']}"),
                  flush=True)
        pending.clear()

    def case(section, model, label, variant, precision, size_label, size, jit=False, **extra):
        huge = label in plan["huge"]
        spec = {"kind": "inference", "model": model, "variant": variant, "precision": precision, "jit": jit,
                "size": list(size), "repeats": plan["huge_repeats"] if huge else repeats,
                "warmup": not huge, **threads, **extra}
        if model == "kindpp":   # seconds per run: no repeat-until-a-second probe
            spec["min_seconds"] = 0
        if model == "kind" and variant != "eager" and plan["max_memory_mb"] and huge:
            spec["max_memory_mb"] = plan["max_memory_mb"]
        title = (f"  {model:8s} {label:10s} {variant:6s} {precision:8s}{' jit' if jit else ''} "
                 f"@ {size[1]}x{size[0]} ...")
        if not group:
            print(title, end="", flush=True)
        row = {"section": section, "model": model, "case": label, "variant": variant, "precision": precision,
               "jit": jit, "measured_size": size_label, **{k: v for k, v in extra.items()}}
        pending.append((spec, row, title))
        if not group:
            flush()

    if "inference" in sections:
        print("inference latency (median of N; each case in its own subprocess"
              + ("; quick mode: ours all in one)" if group else ")"), flush=True)
        for model, sizes in (("kind", plan["kind_sizes"]), ("zero_dce", plan["zero_dce_sizes"])):
            for label, size in sizes.items():
                size_label = f"{size[1]}x{size[0]}"
                if label in plan["huge"] and plan["huge_graph_only"]:
                    case("inference", model, label, "graph", "float32", size_label, size)   # tiling's row
                    continue
                original(model, label, size)
                fallback = plan["eager_fallback"].get(label) if model == "kind" else None
                if fallback:
                    case("inference", model, label, "eager", "float32", f"{fallback[1][1]}x{fallback[1][0]}",
                         fallback[1], note=f"eager cannot run {label} untiled (~11 GB of activations); "
                                           f"measured at {fallback[0]} and scaled by the pixel count")
                else:
                    case("inference", model, label, "eager", "float32", size_label, size)
                case("inference", model, label, "graph", "float32", size_label, size)
                case("inference", model, label, "graph", "bfloat16", size_label, size)
                if model == "kind":   # issue 21 item 4: the selectable AVX2 path, same run as the original's row
                    case("inference", model, label, "tflite", "float32", size_label, size)
        # KinD++ has no runnable original (TF1 + slim + tf.layers); its rows compare with KinD's, same run.
        for label, size in plan["kindpp_sizes"].items():
            for precision in ("float32", "bfloat16"):
                case("inference", "kindpp", label, "graph", precision, f"{size[1]}x{size[0]}", size,
                     repeats=plan["kindpp_repeats"])
        for model, label in plan["jit_cases"]:
            size = (plan["kind_sizes"] if model == "kind" else plan["zero_dce_sizes"])[label]
            case("inference", model, label, "graph", "float32", f"{size[1]}x{size[0]}", size, jit=True)
        if "batching" not in sections:    # else quick mode's group also takes the batching cases
            flush()

    if "ceiling" in sections:
        size = plan["kind_sizes"]["600x400"]
        print(f"float32 ceiling: GEMM {plan['gemm_size']}³ and each KinD network alone @ {size[1]}x{size[0]} ...",
              end="", flush=True)
        result = run_worker({"kind": "ceiling", "gemm_size": plan["gemm_size"], "size": list(size),
                             "repeats": repeats, "gemm": {k: gemm[k] for k in ("float32", "bfloat16")}
                             if "error" not in gemm else None, **threads})
        report["ceiling"] = result
        print(f" GEMM float32 {result['gemm']['float32']['gflops_per_s']:.0f} GFLOP/s" if "error" not in result
              else f" FAILED: {result['error']}", flush=True)

    if "batching" in sections:
        print("batching 4 same-size images (KinD graph, 600x400 case)", flush=True)
        size = plan["kind_sizes"]["600x400"]
        for precision in plan["batching_precisions"]:
            for variant in ("one-by-one", "batched"):   # medians are for the 4 images
                case("batching", "kind", "600x400", variant, precision, f"{size[1]}x{size[0]}", size, batch=4)
    flush()

    # After the flush: quick mode's default thread setting is then the inference group's own, measured case.
    if "threads" in sections:
        print("thread settings (KinD float32 graph, 600x400 case)", flush=True)
        size = plan["kind_sizes"]["600x400"]
        for intra, inter in plan["thread_settings"]:   # thread pools are set at start-up: a process each
            spec_threads = {"intra_op": intra, "inter_op": inter}
            label = f"intra={intra or 'default'} inter={inter or 'default'}"
            same = _find(rows, section="inference", model="kind", case="600x400", variant="graph",
                         precision="float32", jit=False)
            if group and (intra, inter) == (threads["intra_op"], threads["inter_op"]) and same:
                # Quick mode: the default setting is the inference group's own case (same spec): no new process.
                rows.append({**same, "section": "threads", "threads": label})
                print(f"  {label:28s} {same.get('median_s', float('nan')):.3f} s (the inference case)", flush=True)
                continue
            print(f"  {label:28s}", end="", flush=True)
            result = run_worker({"kind": "inference", "model": "kind", "variant": "graph", "precision": "float32",
                                 "jit": False, "size": list(size), "repeats": repeats, **spec_threads})
            rows.append({"section": "threads", "model": "kind", "case": "600x400", "variant": "graph",
                         "precision": "float32", "jit": False, "measured_size": f"{size[1]}x{size[0]}",
                         "threads": label, **result})
            print(f" {result.get('median_s', float('nan')):.3f} s" if "error" not in result
                  else f" FAILED: {result['error']}", flush=True)

    if "folder" in sections:
        print(f"folder throughput ({plan['folder_images']} mixed-size images)", flush=True)
        scratch = Path(tempfile.mkdtemp(prefix="kind_tf_bench_"))
        try:
            make_folder(scratch / "in", plan["folder_images"], plan["folder_sizes"])
            from kind_tf.enhance_job import DEFAULT_BATCH_PIXELS

            batching = DEFAULT_BATCH_PIXELS
            variants = [("eager-sequential", "float32", 0, 0), ("job-sequential", "float32", 0, 0),
                        ("job-overlap", "float32", 2, 0), ("job-overlap", "float32", 2, batching),
                        ("job-overlap", "bfloat16", 2, 0), ("job-overlap", "bfloat16", 2, batching)]
            variants = [v for v in variants if v[1] in plan["folder_precisions"]]
            specs = [{"kind": "folder", "variant": variant, "precision": precision, "io_workers": workers,
                      "batch_pixels": batch_pixels, "in_dir": str(scratch / "in"),
                      "out_dir": str(scratch / f"out-{variant}-{precision}-{batch_pixels}"), **threads}
                     for variant, precision, workers, batch_pixels in variants]
            for (variant, precision, workers, batch_pixels), result in zip(variants, run_workers(specs, group)):
                report["folder"].append({"variant": variant, "precision": precision, "io_workers": workers,
                                         "batch_pixels": batch_pixels, **result})
                print(f"  {variant:17s} {precision:8s} io_workers={workers} batch_pixels={batch_pixels}: "
                      + (f"{result['images_per_s']:.2f} images/s" if "error" not in result
                         else f"FAILED: {result['error']}"), flush=True)
            same = files_equal(scratch / "out-job-sequential-float32-0", scratch / "out-job-overlap-float32-0")
            report["folder_overlap_same_files"] = same
            print(f"  overlapped job wrote the same files as the sequential one: {same}", flush=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    if "train" in sections:
        print("training steps/second (default batch and patch sizes of the original recipe)", flush=True)
        stages = ("decom", "restore", "adjust")
        has_bf16 = has_bf16_instructions(report["machine"])
        variants = {stage: ["eager-tape", "trainer"]
                    + (["trainer-bf16"] if plan["train_bf16"] == "always" or has_bf16 else [])
                    + (["trainer-jit"] if stage != "restore" and plan["train_jit"] else []) for stage in stages}
        specs = [{"kind": "train", "stage": stage, "steps": plan["train_steps"][stage],
                  "patch": plan["train_patch"].get(stage), "variants": variants[stage], **threads} for stage in stages]
        for stage, result in zip(stages, run_workers(specs, group)):
            report["train"][stage] = result
            print(f"  {stage:8s} " + (", ".join(f"{v} {result[v]['steps_per_s']:.2f}/s" for v in variants[stage]
                                                if v in result)
                                      if "error" not in result else f"FAILED: {result['error']}"), flush=True)

    if "psnr" in sections:
        data = SHARED / "data" / "sice_pairs" / "eval"
        if data.is_dir() and (Path(args.weights) / "config.json").is_file():
            print(f"bfloat16 vs float32 on {plan['psnr_pairs']} SICE eval pairs", flush=True)
            scratch = Path(tempfile.mkdtemp(prefix="kind_tf_bench_w_"))
            try:
                weights = combined_weights(Path(args.weights), Path(args.restore_weights) if args.restore_weights
                                           else None, scratch)
                result = run_worker({"kind": "psnr", "data": str(data), "pairs": plan["psnr_pairs"],
                                     "weights": str(weights), **threads})
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            if "error" not in result:
                result["weights"] = args.weights + (f" + restore from {args.restore_weights}"
                                                    if result.get("restore") and args.restore_weights else "")
            report["psnr"] = result
            print(f"  PSNR change {result['psnr_change_db']:+.4f} dB, speedup {result['speedup']:.2f}x"
                  if "error" not in result else f"  FAILED: {result['error']}", flush=True)
        else:
            print(f"psnr: skipped ({data} or {args.weights} missing)", flush=True)

    if "auto" in sections:
        print("ratio auto vs fixed ratio (KinD float32 graph, alternating runs in one process)", end="", flush=True)
        result = run_worker({"kind": "auto_ratio", "sizes": {k: list(v) for k, v in plan["auto_sizes"].items()},
                             "repeats": plan["auto_repeats"], **threads})
        report["auto_ratio"] = result
        print(" " + ", ".join(f"{label} +{100 * r['overhead']:.1f} %" for label, r in result["sizes"].items())
              if "error" not in result else f" FAILED: {result['error']}", flush=True)

    if "memory" in sections:
        height, width = plan["memory_size"]
        print(f"peak RSS of python enhance.py @ {width}x{height} (own processes)", flush=True)
        scratch = Path(tempfile.mkdtemp(prefix="kind_tf_bench_m_"))
        try:
            memory = measure_enhance_memory(plan["memory_size"], plan["memory_args"], scratch, plan["memory_window"],
                                            plan["memory_tflite"])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        report["memory"] = memory
        for part in (p for p in ("baseline", "window", "total", "tflite_baseline", "tflite_total") if p in memory):
            row = memory[part]
            print(f"  {part:8s} {row['size'][1]}x{row['size'][0]}: " + (f"{row['peak_rss_mb']:.0f} MB"
                  if "error" not in row else f"FAILED: {row['error']}"), flush=True)

    report["shared_after"] = shared_machine()
    report["total_minutes"] = (time.perf_counter() - started) / 60
    report["targets"] = evaluate_targets(report, plan)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = render_markdown(report, plan)
    (RESULTS / f"{name}.md").write_text(markdown)
    print()
    print(markdown)
    print(f"saved {RESULTS / (name + '.json')} and {RESULTS / (name + '.md')}")
    return 0


# ================================================================================================
# Tables
# ================================================================================================
def _find(rows, **match):
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()) and "error" not in row:
            return row
    return None


def _pixels(size_label: str) -> int:
    width, height = (int(v) for v in size_label.split("x"))
    return width * height


def _variant_seconds(rows, model, label, size_label, variant: str) -> tuple[float | None, str]:
    """The median of ``variant`` ("eager": our baseline, "original": the original implementation) for this
    case in the same run, scaled by the pixel count when it ran at another size; None when not measured."""
    found = _find(rows, section="inference", model=model, case=label, variant=variant)
    if found is None:
        return None, ""
    seconds = found["median_s"]
    if found["measured_size"] != size_label:
        seconds *= _pixels(size_label) / _pixels(found["measured_size"])
        return seconds, f" (scaled from {found['measured_size']})"
    return seconds, ""


MODEL_NAMES = {"kind": "KinD", "kindpp": "KinD++", "zero_dce": "Zero-DCE++"}


def _original_label(model: str) -> str:
    return "original TF1 graph" if model == "kind" else "original PyTorch"


def inference_table(report, plan) -> list[str]:
    rows = report["rows"]
    lines = ["| model | case (measured W×H) | variant | median | min | vs eager baseline | vs float32 graph | "
             "peak RSS | vs original (same run) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if row["section"] != "inference":
            continue
        name = MODEL_NAMES[row["model"]]
        if row["variant"] == "original":
            variant = _original_label(row["model"])
        elif row["variant"] == "original_frozen":
            variant = f"{_original_label(row['model'])}, {FROZEN_WEIGHTS_ENV}=1 (as kind-tf's)"
        else:
            variant = row["variant"] if row["variant"] == "eager" else f"graph {row['precision']}"
            if row["variant"] == "tflite":
                variant = "TFLite float32 (XNNPACK, --runtime tflite)"
        if row.get("jit"):
            variant += " + XLA"
        if row["model"] in BUILDERS and row.get("tile"):
            variant += f", tile {row['tile']}"
        head = f"| {name} | {row['case']} ({row['measured_size']}){_shared_mark(row)} | {variant} |"
        if "error" in row:
            text = row["error"] if row["error"].startswith("not measured") else f"failed: {row['error'][:80]}"
            lines.append(f"{head} {text} | | | | | |")
            continue
        median, low = row["median_s"], row.get("min_s")
        vs_eager = vs_f32 = vs_original = ""
        if row["variant"] not in ("eager", "original", "original_frozen"):
            base, note = _variant_seconds(rows, row["model"], row["case"], row["measured_size"], "eager")
            if base:
                vs_eager = f"{base / median:.2f}× {'faster' if base >= median else '(slower)'}{note}"
            if row["precision"] != "float32" or row.get("jit") or row["variant"] == "tflite":
                f32 = _find(rows, section="inference", model=row["model"], case=row["case"], variant="graph",
                            precision="float32", jit=False)
                if f32:
                    vs_f32 = f"{f32['median_s'] / median:.2f}×"
        if row["variant"] != "original":
            reference, note = _variant_seconds(rows, row["model"], row["case"], row["measured_size"], "original")
            frozen = _find(rows, section="inference", model=row["model"], case=row["case"], variant="original_frozen")
            if reference:
                vs_original = f"{reference / median:.2f}× {'faster' if reference >= median else '(slower)'}{note}"
                if (frozen and "error" not in frozen and row["variant"] == "graph" and row["precision"] == "float32"
                        and not row.get("jit")):
                    vs_original += f"; {frozen['median_s'] / median:.2f}× the original with {FROZEN_WEIGHTS_ENV}=1"
            elif _has_original_row(rows, row["model"], row["case"]):
                vs_original = "not measured"
            elif row["model"] == "kindpp":
                kind = _find(rows, section="inference", model="kind", case=row["case"], variant="graph",
                             precision=row["precision"], jit=False, measured_size=row["measured_size"])
                vs_original = ("no runnable original" + (f"; {median / kind['median_s']:.1f}× KinD's time"
                                                         if kind else ""))
        lines.append(f"{head} {_fmt_s(median)} | {_fmt_s(low) if low is not None else '—'} | {vs_eager} | "
                     f"{vs_f32} | {row['peak_rss_mb']:.0f} MB | {vs_original} |")
    return lines


def _has_original_row(rows, model, label) -> bool:
    return any(r["section"] == "inference" and r["model"] == model and r["case"] == label
               and r["variant"] == "original" for r in rows)


def original_table(report) -> list[str]:
    """The original KinD TF1 graph per stage (same run): where its time goes, next to ours at the same size."""
    originals = [r for r in report["rows"] if r["section"] == "inference" and r["model"] == "kind"
                 and r["variant"] == "original" and "error" not in r]
    if not originals:
        return []
    lines = ["", "## The original KinD TF1 graph, per stage (same run)", "",
             "`shared/tools/tf1_kind_graph.py SHARED H W RUNS`: the original layer list restored from the original "
             "checkpoints (`tf.compat.v1` session, three `sess.run` calls as in the original `evaluate.py`), median "
             "of RUNS after one warm-up; post = the original numpy / scikit-image fusion.", "",
             "| case (measured W×H) | runs | DecomNet | RestorationNet | IlluminationAdjustNet | post | total | "
             "peak RSS |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in originals:
        stages = row["stages"]
        cells = " | ".join(_fmt_s(stages[n]) if stages.get(n) is not None else "—"
                           for n in ("decom", "restore", "adjust", "post"))
        lines.append(f"| {row['case']} ({row['measured_size']}){_shared_mark(row)} | {row['runs']} | {cells} | "
                     f"{_fmt_s(row['median_s'])} | {row['peak_rss_mb']:.0f} MB |")
    return lines


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def evaluate_targets(report, plan) -> list[dict[str, Any]]:
    rows = report["rows"]
    targets = []

    def add(name, ok, detail):
        targets.append({"target": name, "met": ok, "detail": detail})

    for model in ("kind", "zero_dce"):
        sizes = plan["kind_sizes"] if model == "kind" else plan["zero_dce_sizes"]
        for label in sizes:
            for precision in ("float32", "bfloat16"):
                row = _find(rows, section="inference", model=model, case=label, variant="graph",
                            precision=precision, jit=False)
                reference, note = (_variant_seconds(rows, model, label, row["measured_size"], "original") if row
                                   else (None, ""))
                if row and reference:
                    name = "KinD" if model == "kind" else "Zero-DCE++"
                    add(f"{name} {precision} {label} no slower than the {_original_label(model)} (same run{note})",
                        row["median_s"] <= reference,
                        f"{_fmt_s(row['median_s'])} vs {_fmt_s(reference)}: {reference / row['median_s']:.2f}×")
                frozen = _find(rows, section="inference", model=model, case=label, variant="original_frozen")
                if row and frozen and "error" not in frozen and precision == "float32":
                    # Not the issue's target (that is the original as released): the same oneDNN setting on both.
                    add(f"KinD float32 {label} no slower than the original TF1 graph with {FROZEN_WEIGHTS_ENV}=1 "
                        "too (figure; same run)", row["median_s"] <= frozen["median_s"],
                        f"{_fmt_s(row['median_s'])} vs {_fmt_s(frozen['median_s'])}: "
                        f"{frozen['median_s'] / row['median_s']:.2f}×")
    has_bf16 = has_bf16_instructions(report.get("machine", {}))
    for label in plan["kind_sizes"]:
        if label in plan["huge"]:
            continue
        if has_bf16:
            name, target = "KinD --precision bfloat16", BF16_VS_ORIGINAL_TARGET
            row = _find(rows, section="inference", model="kind", case=label, variant="graph", precision="bfloat16",
                        jit=False)
        else:
            name, target = "KinD --runtime tflite (CPU without bfloat16 instructions)", AVX2_PATH_VS_ORIGINAL_TARGET
            row = _find(rows, section="inference", model="kind", case=label, variant="tflite")
        reference, note = (_variant_seconds(rows, "kind", label, row["measured_size"], "original") if row
                           else (None, ""))
        if row and reference:
            add(f"{name} ≥ {target}× the original TF1 graph at {label} (same run{note})",
                reference / row["median_s"] >= target,
                f"{_fmt_s(row['median_s'])} vs {_fmt_s(reference)}: {reference / row['median_s']:.2f}×")
    for label in plan["kind_sizes"]:
        f32 = _find(rows, section="inference", model="kind", case=label, variant="graph", precision="float32",
                    jit=False)
        bf16 = _find(rows, section="inference", model="kind", case=label, variant="graph", precision="bfloat16")
        # Without bfloat16 instructions oneDNN emulates bfloat16 (no faster than float32): the target is for
        # the CPUs that have them; elsewhere the ratio stays in the inference table, a figure and not a target.
        if f32 and bf16 and has_bf16:
            speedup = f32["median_s"] / bf16["median_s"]
            add(f"KinD bfloat16 ≥ {BF16_SPEEDUP_TARGET}× float32 at {label}", speedup >= BF16_SPEEDUP_TARGET,
                f"{speedup:.2f}×")
    psnr = report.get("psnr")
    if psnr and "error" not in psnr:
        add(f"bfloat16 PSNR change ≤ {BF16_PSNR_TOLERANCE_DB} dB",
            abs(psnr["psnr_change_db"]) <= BF16_PSNR_TOLERANCE_DB,
            f"{psnr['psnr_change_db']:+.4f} dB over {psnr['pairs']} pairs")
    for precision in ("float32", "bfloat16"):
        row = _find(rows, section="inference", model="kind", case="4000x3000", variant="graph", precision=precision,
                    jit=False)
        if row and row["measured_size"] == "4000x3000":
            add(f"KinD 4000x3000 {precision} peak RSS < {RSS_LIMIT_MB} MB", row["peak_rss_mb"] < RSS_LIMIT_MB,
                f"{row['peak_rss_mb']:.0f} MB (tile {row.get('tile')})")
    auto = report.get("auto_ratio")
    if auto and "error" not in auto:
        for label, result in auto["sizes"].items():
            height, width = result["size"]
            add(f"ratio auto ≤ {100 * AUTO_OVERHEAD_LIMIT:.0f} % over a fixed ratio at {label} (same run)"
                + ("" if label == f"{width}x{height}" else f", measured at {width}x{height}"),
                result["overhead"] <= AUTO_OVERHEAD_LIMIT, f"{100 * result['overhead']:+.1f} %")
    memory = report.get("memory")
    if memory and "error" not in memory["total"]:
        height, width = memory["total"]["size"]
        add(f"enhance.py {width}x{height} float32 peak RSS ≤ {ENHANCE_RSS_LIMIT_MB} MB"
            + ("" if (height, width) == (3000, 4000) else f" (stand-in for 4000x3000, --max-memory "
               f"{memory['max_memory_mb']:.0f})"),
            memory["total"]["peak_rss_mb"] <= ENHANCE_RSS_LIMIT_MB, f"{memory['total']['peak_rss_mb']:.0f} MB")
    return targets


def ceiling_table(report) -> list[str]:
    """How close float32 KinD runs to this CPU's float32 matrix-multiply rate, next to the original TF1 graph
    timed in the same run at the same size."""
    ceiling = report.get("ceiling")
    if not ceiling:
        return []
    if "error" in ceiling:
        return ["", "## Float32 arithmetic ceiling", "", f"failed: {ceiling['error']}"]
    height, width = ceiling["size"]
    label = f"{width}x{height}"
    peak = ceiling["gemm"]["float32"]["gflops_per_s"]
    lines = ["", f"## Float32 arithmetic ceiling ({label})", "",
             f"GEMM {ceiling['gemm_size']}³ (`tf.linalg.matmul`, median of N): float32 **{peak:.0f} GFLOP/s**, "
             f"bfloat16 {ceiling['gemm']['bfloat16']['gflops_per_s']:.0f} GFLOP/s. FLOPs counted by "
             "`kind_tf.flops.count_flops` (a multiply-add = 2); each network timed alone in a "
             "`tf.function`, float32.", "",
             "| network | GFLOP | float32 time | GFLOP/s | of the float32 GEMM rate |", "|---|---:|---:|---:|---:|"]
    total_flop = total_s = 0.0
    for stage, net in ceiling["networks"].items():
        total_flop += net["gflop"]
        total_s += net["median_s"]
        lines.append(f"| {stage} | {net['gflop']:.1f} | {_fmt_s(net['median_s'])} | {net['gflops_per_s']:.0f} | "
                     f"{net['gflops_per_s'] / peak:.0%} |")
    lines.append(f"| all three | {total_flop:.1f} | {_fmt_s(total_s)} | {total_flop / total_s:.0f} | "
                 f"{total_flop / total_s / peak:.0%} |")
    bound = total_flop / peak
    lines += ["", f"At the float32 GEMM rate the three networks cannot take less than **{_fmt_s(bound)}** here."]
    original = _find(report["rows"], section="inference", model="kind", case="600x400", variant="original")
    ours = _find(report["rows"], section="inference", model="kind", case="600x400", variant="graph",
                 precision="float32", jit=False)
    if original and original["measured_size"] == label:
        implied = total_flop / original["median_s"]
        lines.append(f"The original TF1 graph, timed in this run at the same size ({_fmt_s(original['median_s'])} "
                     f"for the whole pipeline), runs the same {total_flop:.1f} GFLOP at ≥ {implied:.0f} GFLOP/s, "
                     f"{implied / peak:.0%} of this CPU's float32 GEMM rate"
                     + (f"; float32 kind-tf's whole pipeline: {_fmt_s(ours['median_s'])} "
                        f"({total_flop / ours['median_s'] / peak:.0%})." if ours else "."))
    return lines


def machine_lines(report) -> list[str]:
    """The machine every figure of this run belongs to: CPU, cores, ISA flags, GEMM rates, versions, load.
    Older results files lack some fields (flag set, GEMM line, Keras): those are said to be unrecorded."""
    machine, before, after = report["machine"], report["shared_before"], report.get("shared_after", {})
    cores = f"{machine['logical_cores']} logical"
    if machine.get("physical_cores"):
        cores += f" / {machine['physical_cores']} physical"
    if "isa" in machine:
        present = [flag for flag, has in machine["isa"].items() if has]
        absent = [flag for flag, has in machine["isa"].items() if not has]
        isa = f"ISA: {', '.join(present) or 'none of ' + ', '.join(ISA_FLAGS)}" + (
            f" (no {', '.join(absent)})" if absent else "")
    else:
        isa = (f"ISA: amx_bf16 {machine.get('amx_bf16')}, avx512_bf16 {machine.get('avx512_bf16')} "
               "(other flags not recorded)")
    gemm = machine.get("gemm") or (report.get("ceiling") or {}).get("gemm")
    size = (machine.get("gemm") or {}).get("gemm_size") or (report.get("ceiling") or {}).get("gemm_size")
    if gemm and "error" not in gemm:
        rates = (f"GEMM {size}³: float32 {gemm['float32']['gflops_per_s']:.0f} GFLOP/s, bfloat16 "
                 f"{gemm['bfloat16']['gflops_per_s']:.0f} GFLOP/s")
    else:
        rates = "GEMM rates not recorded"
    versions = (f"Python {machine['python']}, TensorFlow {machine['tensorflow']}, "
                f"Keras {machine.get('keras', 'not recorded')}, oneDNN {machine['onednn']}")
    if machine.get("torch"):
        versions += f", PyTorch {machine['torch']}"
    load = (f"load average (1 min) {before['loadavg'][0]:.2f} at start, "
            f"{after['loadavg'][0]:.2f} at end" if after else f"load average {before['loadavg'][0]:.2f} at start")
    return [f"- Machine: **{machine['cpu']}**, {cores} cores; {isa}; {rates}.",
            f"- Software: {versions}; {load}."]


def render_markdown(report, plan) -> str:
    before, after = report["shared_before"], report["shared_after"]
    lines = [f"# kind-tf benchmark ({report.get('name', report['mode'])})", "",
             *machine_lines(report),
             f"- Threads: intra-op {report['threads']['intra_op'] or 'TF default'}, "
             f"inter-op {report['threads']['inter_op'] or 'TF default'}.",
             f"- Run: {before['time']} → {after['time']} ({report['total_minutes']:.1f} min)."]
    if before["training_running"] or after["training_running"]:
        when = ("during the whole benchmark" if before["training_running"] and after["training_running"] else
                "when the benchmark started (not at its end)" if before["training_running"] else
                "at the end of the benchmark (not at its start)")
        lines.append(f"- **The machine was shared**: a training run (`train.py`) was running {when}, so absolute "
                     "numbers are noisy and pessimistic; ratios compare cases measured in the same run. Rows marked "
                     "† ran while a training was going (per-case record, where available).")
        for line in sorted(set(before["training_running"] + after["training_running"])):
            lines.append(f"  - `{line[:160]}`")
    for note in report.get("notes", []):
        lines.append(f"- {note}")
    if report["mode"] == "quick":
        lines.append("- **Quick mode**: small sizes (the case name is the full-size case it stands in for; the "
                     "measured size is in brackets), few repeats — for development, not for the record.")
    if any(row["section"] == "inference" for row in report["rows"]):
        lines += ["", "## Inference latency and peak memory", "",
                  "Median (and min) of N runs after a warm-up, float32 image in → float32 image out, fresh networks "
                  "(speed does not depend on the weights), ratio 5.0. Baseline: the plain eager Keras call of the same "
                  "pipeline (no tf.function, no tiling). Peak RSS: `ru_maxrss` of the case's own subprocess "
                  "(TensorFlow + networks + image + activations). \"vs original\": the original "
                  "implementation's median in this run ÷ this median (> 1: ours is faster) — KinD's TF1 graph, "
                  "Zero-DCE++ in PyTorch (\"not measured\" where torch is not importable).", ""]
        lines += inference_table(report, plan)
        lines += original_table(report)
    lines += ceiling_table(report)
    threads = [r for r in report["rows"] if r["section"] == "threads"]
    if threads:
        lines += ["", "## Thread settings (KinD float32 graph, 600x400 case)", "",
                  "| intra-op / inter-op threads | median | min |", "|---|---:|---:|"]
        for row in threads:
            lines.append(f"| {row['threads']} | {_fmt_s(row['median_s'])} | {_fmt_s(row['min_s'])} |"
                         if "error" not in row else f"| {row['threads']} | failed | |")
    batching = [r for r in report["rows"] if r["section"] == "batching"]
    if batching:
        lines += ["", "## Batching 4 same-size images (KinD graph, 600x400 case)", "",
                  "| precision | 4 calls of 1 image | 1 call of a batch of 4 | batched vs one-by-one |",
                  "|---|---:|---:|---:|"]
        for precision in ("float32", "bfloat16"):
            single = _find(batching, precision=precision, variant="one-by-one")
            batched = _find(batching, precision=precision, variant="batched")
            if single and batched:
                lines.append(f"| {precision} | {_fmt_s(single['median_s'])} | {_fmt_s(batched['median_s'])} | "
                             f"{single['median_s'] / batched['median_s']:.2f}× |")
    if report["folder"]:
        base = next((r for r in report["folder"] if r["variant"] == "eager-sequential" and "error" not in r), None)
        lines += ["", f"## Folder throughput ({plan['folder_images']} mixed-size images, PNG/JPEG in, PNG out)", "",
                  "| variant | precision | io workers | batch pixels | images/s | vs eager sequential | peak RSS |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for row in report["folder"]:
            head = f"| {row['variant']} | {row['precision']} | {row['io_workers']} | {row.get('batch_pixels', 0)} |"
            if "error" in row:
                lines.append(f"{head} failed | | |")
                continue
            ratio = f"{row['images_per_s'] / base['images_per_s']:.2f}×" if base else ""
            lines.append(f"{head} {row['images_per_s']:.2f} | {ratio} | {row['peak_rss_mb']:.0f} MB |")
        if "folder_overlap_same_files" in report:
            lines.append("")
            lines.append(f"Overlapped job wrote byte-identical files to the sequential job: "
                         f"{report['folder_overlap_same_files']}.")
    if report["train"]:
        lines += ["", "## Training steps/second (original recipe's batch and patch sizes)", "",
                  "| stage | batch × patch | plain eager GradientTape | Trainer train step | vs eager | "
                  "Trainer, mixed_bfloat16 | vs eager | Trainer + XLA | vs eager |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for stage, result in report["train"].items():
            if "error" in result:
                lines.append(f"| {stage} | failed: {result['error'][:80]} | | | | | | | |")
                continue
            base = result["eager-tape"]["steps_per_s"]
            cells = []
            for variant in ("trainer", "trainer-bf16", "trainer-jit"):
                if variant in result:
                    value = result[variant]["steps_per_s"]
                    cells += [f"{value:.2f}", f"{value / base:.2f}×"]
                else:
                    cells += ["—", ""]
            lines.append(f"| {stage} | {result['batch_size']} × {result['patch_size']}² | {base:.2f} | "
                         + " | ".join(cells) + " |")
    psnr = report.get("psnr")
    if psnr:
        lines += ["", "## bfloat16 vs float32 (full pipeline, trained weights, SICE eval pairs)", ""]
        if "error" in psnr:
            lines.append(f"failed: {psnr['error']}")
        else:
            restore = "included" if psnr["restore"] else "absent: R_restored = R_low"
            lines += [f"Weights: {psnr['weights']} (restoration stage {restore}); "
                      f"{psnr['pairs']} pairs (512×512), ratio 5.0.", "",
                      "| | float32 | bfloat16 | change |", "|---|---:|---:|---:|",
                      f"| PSNR vs ground truth | {psnr['float32']['psnr_db']:.4f} dB | "
                      f"{psnr['bfloat16']['psnr_db']:.4f} dB "
                      f"| {psnr['psnr_change_db']:+.4f} dB |",
                      f"| seconds / image | {psnr['float32']['seconds_per_image']:.3f} | "
                      f"{psnr['bfloat16']['seconds_per_image']:.3f} | {psnr['speedup']:.2f}× faster |",
                      "", f"bfloat16 output vs float32 output: PSNR {psnr['bf16_vs_f32_psnr_db']:.1f} dB, "
                          f"max |Δ| {psnr['max_abs_diff']:.4f}, mean |Δ| {psnr['mean_abs_diff']:.5f}."]
    auto = report.get("auto_ratio")
    if auto:
        lines += ["", "## Ratio auto vs a fixed ratio (KinD float32 graph)", ""]
        if "error" in auto:
            lines.append(f"failed: {auto['error']}")
        else:
            lines += ["One process, the same networks; per size a warm-up of both, then fixed-ratio (5.0) and "
                      "`ratio=\"auto\"` runs alternating (median of N each). Auto adds the ratio search: 8 adjust "
                      "passes on the decomposition downscaled to ≤ 128 px.", "",
                      "| case (measured) | fixed ratio | auto | auto overhead | load average |",
                      "|---|---:|---:|---:|---:|"]
            for label, result in auto["sizes"].items():
                height, width = result["size"]
                lines.append(f"| {label} ({width}×{height}) | {_fmt_s(result['fixed_median_s'])} | "
                             f"{_fmt_s(result['auto_median_s'])} | {100 * result['overhead']:+.1f} % | "
                             f"{result['loadavg']:.2f} |")
    memory = report.get("memory")
    if memory:
        height, width = memory["total"]["size"]
        lines += ["", f"## Peak memory of `python enhance.py` ({width}×{height}, float32, own processes)", "",
                  f"Default recipe (shipped weights, ratio auto), automatic tiling with a "
                  f"{memory['max_memory_mb']:.0f} MB activation budget: tile {memory['tile']}. Peak RSS "
                  "(`ru_maxrss` via `os.wait4`) of three processes: the same command on a 64×64 image (the "
                  "baseline: Python, TensorFlow, weights, one traced call), on one tile's window alone (baseline + "
                  "one tile's activations) and on the whole image.", "",
                  "| process | image | peak RSS | over the baseline | wall (start-up included) |",
                  "|---|---|---:|---:|---:|"]
        base = memory["baseline"].get("peak_rss_mb")
        tflite_base = memory.get("tflite_baseline", {}).get("peak_rss_mb")
        for part, name in (("baseline", "baseline"), ("window", "one tile's window"), ("total", "whole image"),
                           ("tflite_baseline", "`--runtime tflite` baseline (converts into an empty cache)"),
                           ("tflite_total", "`--runtime tflite` whole image (cached flatbuffer)")):
            if part not in memory:
                continue
            row = memory[part]
            size = f"{row['size'][1]}×{row['size'][0]}"
            if "error" in row:
                lines.append(f"| {name} | {size} | failed: {row['error'][:80]} | | |")
                continue
            reference = tflite_base if part.startswith("tflite") else base
            extra = f"{row['peak_rss_mb'] - reference:+.0f} MB" if reference and "baseline" not in part else ""
            wall = f"{row['wall_s']:.1f} s" if "wall_s" in row else ""
            lines.append(f"| {name} | {size} | {row['peak_rss_mb']:.0f} MB | {extra} | {wall} |")
        lines += ["", f"The image's own arrays (uint8 input, float32 output, its uint8 PNG copy): "
                      f"{memory['arrays_mb']:.0f} MB."]
    if report["targets"]:
        lines += ["", "## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
        for target in report["targets"]:
            lines.append(f"| {target['target']} | {target['detail']} | {'yes' if target['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
