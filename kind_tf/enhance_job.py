"""The enhance job behind ``enhance.py``: many files in, PNGs out, one clear line per bad file."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from tqdm import tqdm

from kind_tf.io import ImageReadError, expand_inputs, load_image, save_png

SAMPLE_IMAGE = Path(__file__).resolve().parent / "assets" / "sample_dark.png"
INTERMEDIATES = ("reflectance", "illumination", "restored_reflectance", "adjusted_illumination")


class Enhancer(Protocol):
    def enhance(self, image: np.ndarray, ratio: float | str = ..., return_intermediates: bool = ...): ...


@dataclass
class JobReport:
    written: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


def output_path_for(source: Path, out_dir: Path, suffix: str = "") -> Path:
    return out_dir / f"{source.stem}{suffix}.png"


def check_output_dir(out_dir: Path) -> str | None:
    """Create ``out_dir`` if needed; return a one-line problem if it cannot be written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"{out_dir}: cannot create output folder ({error.strerror or error})"
    if not out_dir.is_dir():
        return f"{out_dir}: output path exists and is not a folder"
    if not os.access(out_dir, os.W_OK | os.X_OK):
        return f"{out_dir}: output folder is not writable"
    return None


def decomposition_grid(image: np.ndarray, outputs: dict[str, np.ndarray]) -> np.ndarray:
    """input | R | I | restored R | adjusted I | output, side by side (single-channel maps as gray)."""
    tiles = [image]
    for name in (*INTERMEDIATES, "enhanced"):
        if name in outputs:
            tile = outputs[name]
            tiles.append(np.repeat(tile, 3, axis=-1) if tile.shape[-1] == 1 else tile)
    return np.concatenate(tiles, axis=1)


def enhance_files(model: Enhancer, inputs: list[str], out_dir: Path, ratio: float | str,
                  overwrite: bool = False, save_intermediates: bool = False,
                  log: Callable[[str], None] | None = None, options: dict | None = None) -> JobReport:
    """Enhance every image named by ``inputs`` (files, folders, globs) into ``out_dir`` as PNG.

    Bad inputs are reported (one line each, via ``log``) and skipped; the rest are still processed.
    Outputs are written atomically and never over an input file unless ``overwrite``. ``options``
    are passed on to ``model.enhance`` (e.g. tiling settings).
    """
    log = log or (lambda message: tqdm.write(message, file=sys.stderr))
    report = JobReport()
    paths, report.errors = expand_inputs(inputs)
    for message in report.errors:
        log(f"error: {message}")
    problem = check_output_dir(out_dir)
    if problem:
        report.errors.append(problem)
        log(f"error: {problem}")
        return report
    input_set = {p.resolve() for p in paths}
    claimed: dict[Path, Path] = {}
    for source in tqdm(paths, desc="enhancing", unit="img", disable=None):
        destination = output_path_for(source, out_dir)
        message = None
        if destination.resolve() in input_set and not overwrite:
            message = f"{source}: output {destination} would overwrite an input (use --overwrite)"
        elif destination in claimed:
            message = f"{source}: output {destination} already written for {claimed[destination]} (same file name)"
        if message:
            report.errors.append(message)
            log(f"error: {message}")
            continue
        try:
            image = load_image(source)
            outputs = model.enhance(image, ratio=ratio, return_intermediates=True, **(options or {}))
            report.written.append(save_png(destination, outputs["enhanced"]))
            claimed[destination] = source
            if save_intermediates:
                for name in INTERMEDIATES:
                    if name in outputs:
                        report.written.append(save_png(output_path_for(source, out_dir, f"_{name}"), outputs[name]))
                if len(outputs) > 2:  # more than the enhanced image and its input: worth a grid
                    grid = decomposition_grid(image, outputs)
                    report.written.append(save_png(output_path_for(source, out_dir, "_grid"), grid))
        except ImageReadError as error:
            report.errors.append(str(error))
            log(f"error: {error}")
        except OSError as error:
            message = f"{destination}: cannot write output ({error.strerror or error})"
            report.errors.append(message)
            log(f"error: {message}")
    return report
