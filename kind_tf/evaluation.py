"""The evaluation behind ``evaluate.py``: methods × images → per-image metrics, summaries and grids.

Data:

- a folder with ``low/`` and ``high/`` is a paired set, paired by file stem (``kind_tf.data.pairs``;
  unpaired files are an error that lists them). Metrics: PSNR and SSIM against the ground truth
  (``high``), LOE and NIQE.
- any other folder is a plain set of images: only the no-reference metrics, NIQE and LOE.

Metrics (``kind_tf.metrics``), all on RGB floats in [0, 1]:

- PSNR (dB) and SSIM (``tf.image.ssim``: 11×11 Gaussian window, σ 1.5), enhanced vs ground truth;
- LOE (lightness order error, Wang et al. 2013): the convention of the reference values in
  ``../shared/reference/metrics`` — the reference image is the method's INPUT (the low-light image),
  so LOE measures how much the enhancement scrambles the input's lightness order. The same in both
  modes, so paired and plain numbers are comparable; it is never computed against the ground truth;
- NIQE of the enhanced image (MATLAB release, 96×96 blocks): NaN for images too small for two blocks.

Ratio protocols (the methods with a ratio, ``Method.accepts_ratio``: KinD, KinD++; every other method's
protocol is ``"n/a"``): ``fixed`` (one ratio for every image, e.g. 5), ``auto`` (per image, the ratio whose
output has a fixed mean brightness, found on the input alone, never the ground truth: see
:class:`kind_tf.inference.KinD`) and ``gt-mean``: mean illumination of the ground truth over that of the
input, both from the same DecomNet on min-max normalised images (as KinD's training decomposes pairs) — a
DIAGNOSTIC that uses the ground truth, flagged as such in every output.

Timing (``seconds``): wall time of the method's ``enhance`` call on one image, after one untimed
warm-up call per learned method (tracing); metrics, file reading and the gt-mean decomposition are
not included.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kind_tf.baselines import BASELINES, get_baseline
from kind_tf.data.pairs import DataError, find_pairs
from kind_tf.enhance_job import check_output_dir
from kind_tf.image_ops import to_uint8
from kind_tf.io import ImageReadError, atomic_write, expand_inputs, load_image, save_png


def learned_methods() -> tuple[str, ...]:
    """The registered enhancement methods (:mod:`kind_tf.methods`): the ones that load weights."""
    from kind_tf import methods

    return methods.names()


def method_choices() -> tuple[str, ...]:
    """Every ``--method`` name: the registered methods, then the baselines (read now, so a method
    registered after import is offered too)."""
    return (*learned_methods(), *BASELINES)


def ratio_methods() -> tuple[str, ...]:
    """The registered methods whose ``enhance(ratio=)`` means something (they get ratio protocols)."""
    from kind_tf import methods

    return tuple(name for name in methods.names() if methods.get(name).accepts_ratio)


# Snapshots at import, kept for callers of the old constants; the functions above are what the job reads.
LEARNED_METHODS = learned_methods()
METHODS = method_choices()
RATIO_METHODS = ratio_methods()
FIXED, AUTO, GT_MEAN, NO_RATIO = "fixed", "auto", "gt-mean", "n/a"
DEFAULT_RATIO = "5.0"
DEFAULT_GRID = 4
GRID_TILE_SIZE = 384  # longest side of a grid tile in pixels (tiles are downscaled, never upscaled)
SSIM_MIN_SIZE = 11  # tf.image.ssim's window
MIN_MEAN_ILLUMINATION = 1e-4  # guards gt-mean's division

FULL_REFERENCE = ("psnr", "ssim")
NO_REFERENCE = ("loe", "niqe", "brightness", "color_cast", "blockiness")
METRIC_INFO = {
    "psnr": ("PSNR", "dB, higher is better; enhanced vs ground truth, RGB in [0, 1] (tf.image.psnr, max_val 1)"),
    "ssim": ("SSIM", "higher is better; enhanced vs ground truth, RGB in [0, 1] (tf.image.ssim, 11x11 Gaussian, "
                     "sigma 1.5, K1 0.01, K2 0.03)"),
    "loe": ("LOE", "lower is better; lightness order error of the enhanced image w.r.t. the INPUT (low-light) "
                   "image (Wang et al. 2013, MATLAB reference computation, 50-px short side)"),
    "niqe": ("NIQE", "lower is better; of the enhanced image (Mittal et al. 2013, MATLAB release, 96x96 blocks)"),
    "brightness": ("brightness", "mean of RGB in [0, 1] over the enhanced image (well-exposed photos: ~0.4-0.6)"),
    "color_cast": ("colour cast", "lower is better; max - min of the enhanced image's R, G, B means (grey world)"),
    "blockiness": ("blockiness", "lower is better (compare with the ground truth's); JPEG block-grid artefacts: excess "
                                 "power of the 8-px harmonics of |luma differences| in units of the mean AC power "
                                 "(Wang, Bovik & Evans, ICIP 2000, normalised; kind_tf.metrics.blocking)"),
}
# Input-brightness bands (mean RGB of the low-light input in [0, 1]): every metric is also reported per band,
# since the darkest inputs are where enhancement fails first (SICE eval pairs: 6 / 20 / 33 images).
BANDS = (("input < 0.05", 0.0, 0.05), ("input 0.05-0.1", 0.05, 0.1), ("input >= 0.1", 0.1, math.inf))


def band_of(input_brightness: float) -> str:
    for name, low, high in BANDS:
        if low <= input_brightness < high:
            return name
    return BANDS[0][0]


class EvaluationError(ValueError):
    """A user-facing problem (bad argument, data layout, weights, unreadable file): one line."""


@dataclass(frozen=True)
class Sample:
    """One image to evaluate: its low-light input and, in a paired set, its ground truth."""

    name: str
    low: Path
    high: Path | None = None


@dataclass(frozen=True)
class Run:
    """One evaluated configuration: a method and, for KinD, a ratio protocol."""

    method: str
    protocol: str = NO_RATIO
    ratio: float | None = None  # the fixed ratio
    output: str | None = None   # KinD's last step: "fusion" or "recompose" (None: the method has one)

    @property
    def uses_ground_truth(self) -> bool:
        return self.protocol == GT_MEAN

    @property
    def label(self) -> str:
        if self.protocol == NO_RATIO:
            return self.method
        suffix = ", no fusion" if self.output == "recompose" else ""
        if self.protocol == FIXED:
            return f"{self.method} (ratio {self.ratio:g}{suffix})"
        if self.protocol == GT_MEAN:
            return f"{self.method} (ratio gt-mean, uses ground truth{suffix})"
        return f"{self.method} (ratio {self.protocol}{suffix})"

    @property
    def protocol_description(self) -> str:
        if self.protocol == FIXED:
            return f"fixed: {self.ratio:g} for every image"
        if self.protocol == AUTO:
            from kind_tf.inference import AUTO_RATIO_MAX, AUTO_RATIO_MIN, AUTO_TARGET_BRIGHTNESS

            return (f"auto: per image, the ratio in [{AUTO_RATIO_MIN:g}, {AUTO_RATIO_MAX:g}] whose output has mean "
                    f"brightness {AUTO_TARGET_BRIGHTNESS:g}, from the input only")
        return {
            NO_RATIO: "n/a (method has no ratio)",
            GT_MEAN: "gt-mean: mean(I_high) / mean(I_low) from the same DecomNet - DIAGNOSTIC, uses the ground truth",
        }[self.protocol]


@dataclass
class Evaluation:
    """What :func:`evaluate` measured: one row per (image, run), and notes for the reports."""

    paired: bool
    runs: list[Run]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Per ground-truth image (paired sets): its own no-reference statistics, the level an output should match.
    references: list[dict[str, Any]] = field(default_factory=list)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return (FULL_REFERENCE + NO_REFERENCE) if self.paired else NO_REFERENCE


# --------------------------------------------------------------------------------------------- arguments


def split_list(values: Sequence[str] | None) -> list[str]:
    """Repeatable and/or comma-separated option values → a flat list without duplicates, order kept."""
    items = [item.strip() for value in values or () for item in str(value).split(",")]
    return list(dict.fromkeys(item for item in items if item))


def parse_methods(values: Sequence[str] | None) -> list[str]:
    methods = split_list(values)
    choices = method_choices()
    if not methods:
        raise EvaluationError(f"--method: give at least one of {', '.join(choices)}")
    unknown = [m for m in methods if m not in choices]
    if unknown:
        raise EvaluationError(f"--method: unknown method(s) {', '.join(unknown)}; expected {', '.join(choices)}")
    return methods


def parse_ratio_protocols(values: Sequence[str] | None) -> list[tuple[str, float | None]]:
    """``5.0`` / ``auto`` / ``gt-mean`` (repeatable or comma list) → [(protocol, fixed ratio or None)].

    No values: [] — each ratio method then runs its own default (the weights' recipe, see
    :func:`default_protocol`)."""
    protocols: list[tuple[str, float | None]] = []
    for value in split_list(values):
        lowered = value.lower()
        if lowered in (AUTO, GT_MEAN):
            protocol = (lowered, None)
        else:
            try:
                ratio = float(value)
            except ValueError:
                ratio = float("nan")
            if not math.isfinite(ratio) or ratio <= 0:
                raise EvaluationError(f"--ratio: expected a positive number, 'auto' or 'gt-mean', got {value!r}")
            protocol = (FIXED, ratio)
        if protocol not in protocols:
            protocols.append(protocol)
    return protocols


def default_protocol(model: Any) -> tuple[str, float | None]:
    """The ratio protocol a ratio method runs by default: its weights' recipe (5.0 if it has none)."""
    ratio = getattr(model, "default_ratio", float(DEFAULT_RATIO))
    return (AUTO, None) if ratio == AUTO else (FIXED, float(ratio))


def make_runs(methods: Sequence[str], protocols: Sequence[tuple[str, float | None]],
              models: dict[str, Any] | None = None) -> list[Run]:
    """One run per (method, ratio protocol); with no protocols a ratio method runs its default."""
    runs = []
    with_ratio = ratio_methods()
    for method in methods:
        if method in with_ratio:
            model = (models or {}).get(method)
            chosen = protocols or [default_protocol(model)]
            fusion = getattr(model, "fusion", None)
            output = None if fusion is None else ("fusion" if fusion else "recompose")
            runs.extend(Run(method, protocol, ratio, output) for protocol, ratio in chosen)
        else:
            runs.append(Run(method))
    return runs


def parse_weights(values: Sequence[str] | None, methods: Sequence[str]) -> dict[str, Path]:
    """``--weights DIR`` (the one learned method asked for) or ``--weights kind=DIR --weights zerodce=DIR``.

    A DIR may also be a preset name (``kind-sice``; :mod:`kind_tf.presets`), resolved to its shipped folder.
    """
    registered = learned_methods()
    learned = [m for m in methods if m in registered]
    weights: dict[str, Path] = {}
    for value in values or ():
        method, sep, path = value.partition("=")
        if sep and method in registered:
            weights[method] = _weights_folder(path)
        elif len(learned) == 1:
            weights[learned[0]] = _weights_folder(value)
        elif not learned:
            raise EvaluationError(f"--weights {value}: no learned method ({', '.join(registered)}) requested")
        else:
            raise EvaluationError(f"--weights {value}: several learned methods requested, say which with "
                                  + " ".join(f"--weights {m}=DIR" for m in learned))
    return weights


def _weights_folder(value: str) -> Path:
    from kind_tf.presets import UnknownPresetError, resolve_weights

    try:
        return resolve_weights(value)
    except UnknownPresetError as error:
        raise EvaluationError(f"--weights: {error}") from None


# -------------------------------------------------------------------------------------------------- data


def find_samples(data: str | os.PathLike, limit: int | None = None) -> tuple[list[Sample], bool]:
    """The images under ``data`` and whether they are paired (``low/`` + ``high/``), first ``limit`` by name."""
    data = Path(data)
    if not data.exists():
        raise EvaluationError(f"{data}: no such folder")
    if not data.is_dir():
        raise EvaluationError(f"{data}: not a folder (expected a folder with low/ and high/, or of images)")
    paired = (data / "low").is_dir() or (data / "high").is_dir()
    if paired:
        try:
            samples = [Sample(pair.low.name, pair.low, pair.high) for pair in find_pairs(data)]
        except DataError as error:
            raise EvaluationError(str(error)) from None
    else:
        paths, errors = expand_inputs([str(data)])
        if errors:
            raise EvaluationError(errors[0])
        samples = [Sample(path.name, path) for path in sorted(paths, key=lambda p: p.name)]
    if limit is not None:
        if limit < 1:
            raise EvaluationError(f"--limit: expected a positive number of images, got {limit}")
        samples = samples[:limit]
    return samples, paired


def _oriented_size(path: Path) -> tuple[int, int]:
    """(width, height) as :func:`kind_tf.io.load_image` will return it (EXIF orientation applied)."""
    with Image.open(path) as image:
        width, height = image.size
        if image.getexif().get(0x0112) in (5, 6, 7, 8):  # transposed orientations swap the axes
            width, height = height, width
    return width, height


def check_samples(samples: Sequence[Sample]) -> None:
    """Fail before any work when a file cannot be opened or a pair's two images differ in size (all listed)."""
    unreadable, mismatched = [], []
    for sample in samples:
        sizes = []
        for path in (sample.low, sample.high):
            if path is None:
                continue
            try:
                sizes.append(_oriented_size(path))
            except Exception as error:  # PIL raises many types for broken files
                unreadable.append(f"{path} ({type(error).__name__})")
        if len(sizes) == 2 and sizes[0] != sizes[1]:
            (lw, lh), (hw, hh) = sizes
            mismatched.append(f"{sample.name} (low {lw}x{lh}, high {hw}x{hh})")
    if unreadable:
        raise EvaluationError(f"{len(unreadable)} unreadable image file(s): {', '.join(unreadable[:10])}"
                              + (f" (and {len(unreadable) - 10} more)" if len(unreadable) > 10 else ""))
    if mismatched:
        raise EvaluationError(f"{len(mismatched)} pair(s) whose low and high images differ in size: "
                              f"{', '.join(mismatched[:10])}" + (" ..." if len(mismatched) > 10 else ""))


# ----------------------------------------------------------------------------------------------- methods


def load_method(method: str, weights: Path | None = None, precision: str = "float32", fusion: bool | None = None):
    """An object with ``enhance(image, ratio=..., return_intermediates=...)`` for ``method``.

    ``precision`` ("float32" or "bfloat16") is the learned networks' compute precision and ``fusion``
    KinD's final step (see :class:`kind_tf.inference.KinD`; None: the weights' recipe); the others
    ignore what they do not use.
    """
    if method in BASELINES:
        baseline = get_baseline(method)
        try:
            baseline.check_available()
        except ImportError as error:
            raise EvaluationError(f"--method {method}: {error}") from None
        return baseline
    from kind_tf import methods
    from kind_tf.weights import WeightsError

    try:
        entry = methods.get(method)
    except methods.UnknownNameError:
        raise EvaluationError(f"unknown method {method!r}; expected one of {', '.join(method_choices())}") from None
    weights = weights or _default_weights(method)
    if not (Path(weights) / "config.json").is_file():
        raise EvaluationError(f"{weights}: no {method} weights found (no config.json); {entry.weights_hint}")
    try:
        return entry.load(weights, precision=precision, fusion=fusion)
    except (WeightsError, ValueError, OSError) as error:
        raise EvaluationError(f"{weights}: cannot load {method} weights ({error})") from None


def mean_illumination(model, image: np.ndarray) -> float:
    """Mean of KinD's DecomNet illumination of ``image`` (normalised as KinD's enhance does), tiled if large."""
    import tensorflow as tf

    from kind_tf.inference import TILE_CONTEXT, auto_tile_size, tile_windows

    inputs = model.normalize_input(tf.constant(image[None], tf.float32)).numpy()
    height, width = inputs.shape[1:3]
    tile = auto_tile_size(height, width)
    if tile is None:
        _, illumination = model.decompose(inputs)
        return float(np.mean(illumination.numpy(), dtype=np.float64))
    total = 0.0
    for _, window, offset in tile_windows(height, width, tile, TILE_CONTEXT):
        _, illumination = model.decompose(inputs[:, window[0], window[1]])
        total += float(np.sum(illumination.numpy()[:, offset[0], offset[1]], dtype=np.float64))
    return total / (height * width)


def gt_mean_ratio(model, low: np.ndarray, high: np.ndarray) -> float:
    """The ``gt-mean`` ratio: mean(I_high) / mean(I_low) from the model's DecomNet (uses the ground truth)."""
    return mean_illumination(model, high) / max(mean_illumination(model, low), MIN_MEAN_ILLUMINATION)


# ----------------------------------------------------------------------------------------------- metrics


def image_metrics(low: np.ndarray, enhanced: np.ndarray, high: np.ndarray | None) -> dict[str, float]:
    """PSNR / SSIM vs ``high`` (when given), LOE vs ``low`` (the input), NIQE (NaN if too small),
    brightness, colour cast and blockiness of ``enhanced``."""
    from kind_tf.metrics import blockiness, brightness, color_cast, loe, psnr, ssim

    values: dict[str, float] = {}
    if high is not None:
        values["psnr"] = float(psnr(high, enhanced))
        values["ssim"] = float(ssim(high, enhanced)) if min(high.shape[:2]) >= SSIM_MIN_SIZE else math.nan
    values["loe"] = float(loe(low, enhanced))
    values["niqe"] = niqe_or_nan(enhanced)
    values["brightness"] = float(brightness(enhanced))
    values["color_cast"] = float(color_cast(enhanced))
    values["blockiness"] = float(blockiness(enhanced))
    return values


REFERENCE_METRICS = ("brightness", "color_cast", "blockiness")


def reference_metrics(high: np.ndarray) -> dict[str, float]:
    """The ground truth's own brightness, colour cast and blockiness (what an enhanced image should match)."""
    from kind_tf.metrics import blockiness, brightness, color_cast

    return {"brightness": float(brightness(high)), "color_cast": float(color_cast(high)),
            "blockiness": float(blockiness(high))}


def niqe_or_nan(image: np.ndarray) -> float:
    from kind_tf.metrics import niqe
    from kind_tf.metrics.naturalness import NIQE_BLOCK_SIZE

    height, width = image.shape[:2]
    if (height // NIQE_BLOCK_SIZE) * (width // NIQE_BLOCK_SIZE) < 2:
        return math.nan
    return float(niqe(image))


# -------------------------------------------------------------------------------------------- evaluation


def evaluate(samples: Sequence[Sample], runs: Sequence[Run], models: dict[str, Any], paired: bool,
             grid_dir: Path | None = None, grid: int = 0, progress: bool = True) -> Evaluation:
    """Enhance every sample with every run, measure it, and draw comparison grids for the first ``grid`` samples.

    Raises:
        EvaluationError: an image file that cannot be decoded (one line naming it).
    """
    from tqdm import tqdm

    result = Evaluation(paired=paired, runs=list(runs))
    if not samples:
        return result
    _warm_up(samples[0], runs, models)
    small_niqe = []
    bar = tqdm(total=len(samples) * len(runs), desc="evaluating", unit="run", disable=not progress or None,
               file=sys.stderr)
    try:
        for index, sample in enumerate(samples):
            low = _load(sample.low)
            high = _load(sample.high) if paired else None
            if high is not None and high.shape != low.shape:
                raise EvaluationError(f"{sample.high}: size {high.shape[1]}x{high.shape[0]} differs from "
                                      f"{sample.low} ({low.shape[1]}x{low.shape[0]})")
            input_brightness = float(np.mean(low, dtype=np.float64))
            if high is not None:
                result.references.append({"name": sample.name, "band": band_of(input_brightness),
                                          **reference_metrics(high)})
            outputs = []
            for run_index, run in enumerate(runs):
                bar.set_postfix_str(f"{sample.name} {run.label}", refresh=False)
                enhanced, ratio, seconds = _enhance(models[run.method], run, low, high)
                metrics = image_metrics(low, enhanced, high)
                if math.isnan(metrics["niqe"]) and sample.name not in small_niqe:
                    small_niqe.append(sample.name)
                result.rows.append({"run": run_index, "name": sample.name, "method": run.method,
                                    "input_brightness": input_brightness, "band": band_of(input_brightness),
                                    "ratio_protocol": run.protocol, "ratio": ratio,
                                    "uses_ground_truth": run.uses_ground_truth, **metrics, "seconds": seconds})
                outputs.append((run, enhanced, metrics))
                bar.update(1)
            if grid_dir is not None and index < grid:
                save_png(grid_dir / f"{index:03d}_{Path(sample.name).stem}.png",
                         comparison_grid(sample, low, high, outputs))
    finally:
        bar.close()
    if small_niqe:
        result.notes.append(f"NIQE needs two 96x96 blocks: NaN for {len(small_niqe)} smaller image(s) "
                            f"({', '.join(small_niqe[:5])}{' ...' if len(small_niqe) > 5 else ''})")
    return result


def _load(path: Path) -> np.ndarray:
    try:
        return load_image(path)
    except ImageReadError as error:
        raise EvaluationError(str(error)) from None


def _ratio_argument(run: Run, model, low: np.ndarray, high: np.ndarray | None) -> float | str | None:
    if run.protocol == FIXED:
        return run.ratio
    if run.protocol == AUTO:
        return AUTO
    if run.protocol == GT_MEAN:
        if high is None:
            raise EvaluationError("--ratio gt-mean needs ground truth: a data folder with low/ and high/")
        return gt_mean_ratio(model, low, high)
    return None


def _enhance(model, run: Run, low: np.ndarray, high: np.ndarray | None) -> tuple[np.ndarray, float | None, float]:
    ratio = _ratio_argument(run, model, low, high)
    start = time.perf_counter()
    outputs = model.enhance(low, ratio=ratio, return_intermediates=True)
    seconds = time.perf_counter() - start
    used = None
    if run.protocol == FIXED:
        used = run.ratio
    elif run.protocol != NO_RATIO:
        used = float(np.asarray(outputs["ratio"]).reshape(-1)[0]) if "ratio" in outputs else float(ratio)
    return np.clip(outputs["enhanced"], 0.0, 1.0).astype(np.float32), used, seconds


def _warm_up(sample: Sample, runs: Sequence[Run], models: dict[str, Any]) -> None:
    """One untimed call per run on a small crop of the first image (traces graphs, loads OpenCV)."""
    crop = _load(sample.low)[:64, :64]
    for run in runs:
        model = models[run.method]
        model.enhance(crop, ratio=AUTO if run.protocol == AUTO else 1.0, return_intermediates=True)
        if run.protocol == GT_MEAN:
            mean_illumination(model, crop)


# ------------------------------------------------------------------------------------------------- grids


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow < 10.1 or no FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _format_metrics(metrics: dict[str, float]) -> str:
    parts = []
    for name in ("psnr", "ssim", "loe", "niqe"):
        if name in metrics and not math.isnan(metrics[name]):
            value = metrics[name]
            parts.append(f"{METRIC_INFO[name][0]} {value:.2f}" if name != "ssim" else f"SSIM {value:.3f}")
    return "  ".join(parts)


def _tile(image: np.ndarray, title: str, caption: str, size: int) -> Image.Image:
    tile = Image.fromarray(to_uint8(image))
    scale = min(1.0, size / max(tile.size))
    if scale < 1.0:
        tile = tile.resize((max(1, round(tile.width * scale)), max(1, round(tile.height * scale))), Image.BOX)
    draw = ImageDraw.Draw(tile, "RGBA")
    font = _font(max(10, min(18, tile.width // 22)))
    lines = [line for line in (title, caption) if line]
    boxes = [draw.textbbox((0, 0), line, font=font) for line in lines]
    line_height = max(box[3] - box[1] for box in boxes) + 4
    width = max(box[2] - box[0] for box in boxes) + 8
    draw.rectangle((0, 0, width, line_height * len(lines) + 4), fill=(0, 0, 0, 170))
    for i, line in enumerate(lines):
        draw.text((4, 2 + i * line_height), line, fill=(255, 255, 255, 255), font=font)
    return tile


def comparison_grid(sample: Sample, low: np.ndarray, high: np.ndarray | None,
                    outputs: Sequence[tuple[Run, np.ndarray, dict[str, float]]],
                    tile_size: int = GRID_TILE_SIZE) -> np.ndarray:
    """input | each run | ground truth, side by side, each tile captioned with its numbers (uint8 RGB)."""
    input_metrics = image_metrics(low, low, high)
    input_metrics.pop("loe")  # 0 by definition
    tiles = [_tile(low, f"input {sample.name}", _format_metrics(input_metrics), tile_size)]
    for run, enhanced, metrics in outputs:
        tiles.append(_tile(enhanced, run.label, _format_metrics(metrics), tile_size))
    if high is not None:
        tiles.append(_tile(high, "ground truth", _format_metrics({"niqe": niqe_or_nan(high)}), tile_size))
    canvas = Image.new("RGB", (sum(t.width for t in tiles), max(t.height for t in tiles)))
    left = 0
    for tile in tiles:
        canvas.paste(tile, (left, 0))
        left += tile.width
    return np.asarray(canvas)


# ----------------------------------------------------------------------------------------------- reports


CSV_FLOAT_FORMATS = {"psnr": ".6f", "ssim": ".6f", "loe": ".6f", "niqe": ".6f", "brightness": ".6f",
                     "color_cast": ".6f", "blockiness": ".6f", "input_brightness": ".6f", "ratio": ".6g",
                     "seconds": ".4f"}


def csv_columns(paired: bool) -> list[str]:
    metrics = list(FULL_REFERENCE + NO_REFERENCE) if paired else list(NO_REFERENCE)
    return ["name", "input_brightness", "band", "method", "ratio_protocol", "ratio", "uses_ground_truth", *metrics,
            "seconds"]


def _csv_value(key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in CSV_FLOAT_FORMATS:
        return "nan" if math.isnan(value) else format(value, CSV_FLOAT_FORMATS[key])
    return str(value)


def per_image_csv(result: Evaluation) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = csv_columns(result.paired)
    writer.writerow(columns)
    for row in result.rows:
        writer.writerow([_csv_value(key, row.get(key)) for key in columns])
    return buffer.getvalue()


def _stats(values: Sequence[float]) -> dict[str, float | int | None]:
    """mean and population std (ddof 0) over the non-NaN values, and how many there were."""
    array = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if array.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(array)), "std": float(np.std(array)), "n": int(array.size)}


def summarize(result: Evaluation) -> list[dict[str, Any]]:
    """Per run: mean ± std of every metric and of the seconds (and of the ratio where it varies)."""
    summary = []
    for index, run in enumerate(result.runs):
        rows = [row for row in result.rows if row["run"] == index]
        entry: dict[str, Any] = {
            "label": run.label, "method": run.method, "output": run.output, "ratio_protocol": run.protocol,
            "ratio_protocol_description": run.protocol_description, "uses_ground_truth": run.uses_ground_truth,
            "images": len(rows),
            "metrics": {name: _stats([row[name] for row in rows]) for name in result.metric_names},
            "seconds": _stats([row["seconds"] for row in rows]),
            "bands": band_stats(rows, result.metric_names),
        }
        if run.protocol == FIXED:
            entry["ratio"] = run.ratio
        elif run.protocol != NO_RATIO:
            entry["ratio"] = _stats([row["ratio"] for row in rows])
        summary.append(entry)
    return summary


def environment() -> dict[str, str]:
    import keras
    import tensorflow as tf

    import kind_tf

    versions = {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
                "numpy": np.__version__, "pillow": Image.__version__, "kind_tf": kind_tf.__version__}
    try:
        import cv2

        versions["opencv"] = cv2.__version__
    except ImportError:
        pass
    gpus = tf.config.list_physical_devices("GPU")
    device = ", ".join(tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus)
    return {**versions, "device": f"GPU: {device}" if gpus else f"CPU ({platform.processor() or platform.machine()})"}


def summary_json(result: Evaluation, data: Path, command: str, weights: dict[str, Path],
                 date: str, versions: dict[str, str]) -> dict[str, Any]:
    return {
        "command": command,
        "date": date,
        "versions": versions,
        "data": {"path": str(data), "mode": "paired" if result.paired else "no-reference",
                 "images": len({row["name"] for row in result.rows})},
        "metrics": {name: METRIC_INFO[name][1] for name in result.metric_names},
        "loe_reference": "input (the low-light image given to the method)",
        "std": "population standard deviation (ddof 0) over images; NaN values (metric undefined) excluded",
        "seconds": "wall time of the method's enhance call per image, after an untimed warm-up",
        "weights": {method: str(path) for method, path in weights.items()},
        "notes": result.notes,
        "methods": summarize(result),
        **({"ground_truth": summarize_references(result.references)} if result.references else {}),
    }


def summarize_references(references: list[dict[str, Any]]) -> dict[str, Any]:
    """The ground truths' own statistics, overall and per input-brightness band."""
    return {"images": len(references),
            "metrics": {name: _stats([r[name] for r in references]) for name in REFERENCE_METRICS},
            "bands": band_stats(references, REFERENCE_METRICS)}


def band_stats(rows: list[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """Per input-brightness band: how many rows fall in it and the statistics of each metric."""
    grouped = {band: [row for row in rows if row["band"] == band] for band, _, _ in BANDS}
    return {band: {"images": len(members), "metrics": {name: _stats([row[name] for row in members]) for name in names}}
            for band, members in grouped.items()}


def _mean_std(stats: dict[str, Any], digits: int) -> str:
    if stats["mean"] is None:
        return "n/a"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def summary_markdown(summary: dict[str, Any]) -> str:
    """summary.md: data, command, date, versions, the results table and what each number means."""
    names = list(summary["metrics"])
    lines = [
        "# Evaluation summary", "",
        f"- data: `{summary['data']['path']}` ({summary['data']['mode']}, {summary['data']['images']} images)",
        f"- command: `{summary['command']}`",
        f"- date: {summary['date']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in summary["versions"].items() if k != "device"),
        f"- device: {summary['versions'].get('device', '?')}", "",
        *markdown_table(summary), "",
        "Per input-brightness band (mean of the low-light input):", "",
        *band_table(summary),
    ]
    lines += ["", "Mean ± population std over images.", ""]
    lines += [f"- {METRIC_INFO[n][0]}: {summary['metrics'][n]}" for n in names]
    for entry in summary["methods"]:
        if entry["ratio_protocol"] != NO_RATIO:
            lines.append(f"- {entry['label']}: ratio protocol {entry['ratio_protocol_description']}")
    lines.append(f"- seconds: {summary['seconds']}")
    lines += [f"- note: {note}" for note in summary["notes"]]
    return "\n".join(lines) + "\n"


def markdown_table(summary: dict[str, Any]) -> list[str]:
    """The results table (one row per run: mean ± std of each metric and of the seconds) as Markdown lines."""
    names = list(summary["metrics"])
    header = ["method", "ratio protocol", "images", *_metric_headers(names), "s / image"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|",
    ]
    for entry in summary["methods"]:
        cells = [_method_cell(entry), _protocol_cell(entry), str(entry["images"])]
        cells += [_mean_std(entry["metrics"][n], TABLE_DIGITS[n]) for n in names]
        cells.append(_mean_std(entry["seconds"], 3))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


TABLE_DIGITS = {"psnr": 2, "ssim": 3, "loe": 1, "niqe": 2, "brightness": 3, "color_cast": 3, "blockiness": 2}
TABLE_ARROWS = {"psnr": "↑", "ssim": "↑", "loe": "↓", "niqe": "↓", "brightness": "", "color_cast": "↓",
                "blockiness": "↓"}


def _metric_headers(names: Sequence[str]) -> list[str]:
    return [f"{METRIC_INFO[n][0]} {TABLE_ARROWS[n]}".rstrip() for n in names]


def _method_cell(entry: dict[str, Any]) -> str:
    return entry["method"] + (" (no fusion)" if entry.get("output") == "recompose" else "")


def _protocol_cell(entry: dict[str, Any]) -> str:
    protocol = entry["ratio_protocol"]
    if protocol == FIXED:
        return f"fixed {entry['ratio']:g}"
    if protocol == GT_MEAN:
        return "**gt-mean (uses ground truth)**"
    return protocol


def band_table(summary: dict[str, Any]) -> list[str]:
    """Per run and input-brightness band: the mean of each metric (Markdown lines)."""
    names = list(summary["metrics"])
    header = ["method", "ratio protocol", "band", "images", *_metric_headers(names)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|"]
    for entry in summary["methods"]:
        for band, values in entry["bands"].items():
            if not values["images"]:
                continue
            cells = [_method_cell(entry), _protocol_cell(entry), band, str(values["images"])]
            cells += [_mean_cell(values["metrics"].get(n), n) for n in names]
            lines.append("| " + " | ".join(cells) + " |")
    reference = summary.get("ground_truth")
    if reference:
        for band, values in [("all", reference), *reference["bands"].items()]:
            if values["images"]:
                cells = ["ground truth", "", band, str(values["images"])]
                cells += [_mean_cell(values["metrics"].get(n), n) for n in names]
                lines.append("| " + " | ".join(cells) + " |")
    return lines


def _mean_cell(stats: dict[str, Any] | None, name: str) -> str:
    return "" if stats is None else "n/a" if stats["mean"] is None else f"{stats['mean']:.{TABLE_DIGITS[name]}f}"


def _write_text_atomic(path: Path, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def write_reports(result: Evaluation, out: Path, data: Path, command: str, weights: dict[str, Path]) -> dict:
    """per_image.csv, summary.json and summary.md in ``out``; returns the summary."""
    date = datetime.now(UTC).isoformat(timespec="seconds")
    summary = summary_json(result, data, command, weights, date, environment())
    _write_text_atomic(out / "per_image.csv", per_image_csv(result))
    _write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _write_text_atomic(out / "summary.md", summary_markdown(summary))
    return summary


# ----------------------------------------------------------------------------------------------- the job


def run_evaluation(methods: Sequence[str], data: str | os.PathLike, weights: Sequence[str] | None = None,
                   ratio: Sequence[str] | None = None, out: str | os.PathLike = "evaluation",
                   grid: int = DEFAULT_GRID, limit: int | None = None, command: str = "",
                   progress: bool = True, log: Callable[[str], None] | None = None,
                   precision: str = "float32", fusion: bool | None = None) -> dict[str, Any]:
    """The whole evaluate.py job. Returns the summary (as written to summary.json).

    Raises:
        EvaluationError: any user-facing problem, as one line naming the file or argument.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    method_names = parse_methods(methods)
    protocols = parse_ratio_protocols(ratio)
    weight_dirs = parse_weights(weights, method_names)
    if grid < 0:
        raise EvaluationError(f"--grid: expected a number of images >= 0, got {grid}")
    samples, paired = find_samples(data, limit)
    if not paired and any(protocol == GT_MEAN for protocol, _ in protocols):
        raise EvaluationError(f"{data}: --ratio gt-mean needs ground truth (a folder with low/ and high/)")
    check_samples(samples)
    out = Path(out)
    problem = check_output_dir(out)
    if problem:
        raise EvaluationError(problem)
    grid_dir = None
    if grid:
        grid_dir = out / "grids"
        grid_dir.mkdir(exist_ok=True)
    from kind_tf.inference import PRECISIONS

    if precision not in PRECISIONS:
        raise EvaluationError(f"--precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    models = {method: load_method(method, weight_dirs.get(method), precision, fusion) for method in method_names}
    runs = make_runs(method_names, protocols, models)
    used_weights = {m: weight_dirs.get(m) or _default_weights(m) for m in method_names if m in learned_methods()}
    log(f"evaluating {len(runs)} method run(s) on {len(samples)} {'paired' if paired else 'unpaired'} image(s) "
        f"from {data}")
    result = evaluate(samples, runs, models, paired, grid_dir, grid, progress)
    summary = write_reports(result, out, Path(data), command, used_weights)
    log(f"wrote {out / 'per_image.csv'}, {out / 'summary.json'}, {out / 'summary.md'}"
        + (f" and {min(grid, len(samples))} grid(s) in {grid_dir}" if grid_dir else ""))
    return summary


def _default_weights(method: str) -> Path:
    """The method's shipped preset (kind-sice, zero-dce-sice), found wherever kind-tf is installed."""
    from kind_tf import methods
    from kind_tf.presets import preset_dir

    presets = methods.get(method).presets
    if not presets:
        raise EvaluationError(f"--method {method} has no shipped weights; pass --weights {method}=DIR")
    return preset_dir(presets[0])


def main(methods: Sequence[str], data: str, command: str, **options: Any) -> int:
    """Run :func:`run_evaluation` for the CLI: one ``error:`` line and exit code 2 for user errors, no traceback."""
    try:
        summary = run_evaluation(methods, data, command=command, **options)
    except EvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print("\n".join(markdown_table(summary)))
    return 0
