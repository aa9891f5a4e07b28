"""Comparison grids: input | each run | ground truth side by side, each tile captioned with its numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kind_tf.evaluation.metrics import METRIC_INFO, image_metrics, niqe_or_nan
from kind_tf.evaluation.protocols import Run
from kind_tf.image_ops import to_uint8

if TYPE_CHECKING:  # the runner imports this module to draw its grids
    from kind_tf.evaluation.runner import Sample

GRID_TILE_SIZE = 384  # longest side of a grid tile in pixels (tiles are downscaled, never upscaled)


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

