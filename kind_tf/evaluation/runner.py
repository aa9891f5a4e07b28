"""The evaluation job: find the images, check them, enhance each with every run, measure, then write the
reports and grids.

Data:

- a folder with ``low/`` and ``high/`` is a paired set, paired by file stem (``kind_tf.data.pairs``;
  unpaired files are an error that lists them). Metrics: PSNR and SSIM against the ground truth
  (``high``), LOE and NIQE.
- any other folder is a plain set of images: only the no-reference metrics, NIQE and LOE.

Timing (``seconds``): wall time of the method's ``enhance`` call on one image, after one untimed
warm-up call per learned method (tracing); metrics, file reading and the gt-mean decomposition are
not included.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kind_tf.data.pairs import DataError, find_pairs
from kind_tf.enhance_job import check_output_dir
from kind_tf.evaluation import protocols
from kind_tf.evaluation.grids import comparison_grid
from kind_tf.evaluation.metrics import FULL_REFERENCE, NO_REFERENCE, band_of, image_metrics, reference_metrics
from kind_tf.evaluation.protocols import AUTO, FIXED, GT_MEAN, NO_RATIO, EvaluationError, Run
from kind_tf.evaluation.reports import write_reports
from kind_tf.io import ImageReadError, expand_inputs, load_image, save_png

DEFAULT_GRID = 4


@dataclass(frozen=True)
class Sample:
    """One image to evaluate: its low-light input and, in a paired set, its ground truth."""

    name: str
    low: Path
    high: Path | None = None


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
        return protocols.gt_mean_ratio(model, low, high)
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
            protocols.mean_illumination(model, crop)


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
    method_names = protocols.parse_methods(methods)
    ratio_protocols = protocols.parse_ratio_protocols(ratio)
    weight_dirs = protocols.parse_weights(weights, method_names)
    if grid < 0:
        raise EvaluationError(f"--grid: expected a number of images >= 0, got {grid}")
    samples, paired = find_samples(data, limit)
    if not paired and any(protocol == GT_MEAN for protocol, _ in ratio_protocols):
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
    models = {method: protocols.load_method(method, weight_dirs.get(method), precision, fusion)
              for method in method_names}
    runs = protocols.make_runs(method_names, ratio_protocols, models)
    learned = protocols.learned_methods()
    used_weights = {m: weight_dirs.get(m) or protocols.default_weights(m) for m in method_names if m in learned}
    log(f"evaluating {len(runs)} method run(s) on {len(samples)} {'paired' if paired else 'unpaired'} image(s) "
        f"from {data}")
    result = evaluate(samples, runs, models, paired, grid_dir, grid, progress)
    summary = write_reports(result, out, Path(data), command, used_weights)
    log(f"wrote {out / 'per_image.csv'}, {out / 'summary.json'}, {out / 'summary.md'}"
        + (f" and {min(grid, len(samples))} grid(s) in {grid_dir}" if grid_dir else ""))
    return summary

