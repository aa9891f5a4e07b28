"""The reports of an evaluation: per_image.csv, summary.json and summary.md (with its Markdown tables)."""

from __future__ import annotations

import csv
import io
import json
import math
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from kind_tf.evaluation.metrics import BANDS, FULL_REFERENCE, METRIC_INFO, NO_REFERENCE, REFERENCE_METRICS
from kind_tf.evaluation.protocols import FIXED, GT_MEAN, NO_RATIO
from kind_tf.io import atomic_write

if TYPE_CHECKING:  # the runner imports this module to write its reports
    from kind_tf.evaluation.runner import Evaluation

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

