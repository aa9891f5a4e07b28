"""The enhance job behind ``enhance.py``: many files in, PNGs out, one clear line per bad file."""

from __future__ import annotations

import os
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from tqdm import tqdm

from kind_tf.io import ImageReadError, expand_inputs, load_image, save_png

SAMPLE_IMAGE = Path(__file__).resolve().parent / "assets" / "sample_dark.png"
# enhance.py's default ``batch_pixels``: same-size images are batched up to 0.5 MP per call (e.g.
# 4 × 512×256 or 2 × 600×400; nothing at 1200×900 and above): batching pays on small images only,
# and this keeps a batch's activations around 0.5 GB (benchmarks/README.md).
DEFAULT_BATCH_PIXELS = 2 ** 19
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


def _as_outputs(result) -> dict[str, np.ndarray]:
    return result if isinstance(result, dict) else {"enhanced": result}


def _write_outputs(written: list[Path], source: Path, destination: Path, out_dir: Path, image: np.ndarray,
                   outputs: dict[str, np.ndarray], save_intermediates: bool) -> list[Path]:
    """Write the enhanced PNG (and the intermediates and grid), appending each path to ``written``."""
    written.append(save_png(destination, outputs["enhanced"]))
    if save_intermediates:
        for name in INTERMEDIATES:
            if name in outputs:
                written.append(save_png(output_path_for(source, out_dir, f"_{name}"), outputs[name]))
        if len(outputs) > 2:  # more than the enhanced image and its input: worth a grid
            written.append(save_png(output_path_for(source, out_dir, "_grid"), decomposition_grid(image, outputs)))
    return written


def enhance_files(model: Enhancer, inputs: list[str], out_dir: Path, ratio: float | str,
                  overwrite: bool = False, save_intermediates: bool = False,
                  log: Callable[[str], None] | None = None, options: dict | None = None,
                  io_workers: int = 2, prefetch: int = 2, batch_pixels: int = 0) -> JobReport:
    """Enhance every image named by ``inputs`` (files, folders, globs) into ``out_dir`` as PNG.

    Bad inputs are reported (one line each, via ``log``) and skipped; the rest are still processed.
    Outputs are written atomically and never over an input file unless ``overwrite``. ``options``
    are passed on to ``model.enhance`` (e.g. tiling settings).

    Speed (measured in benchmarks/README.md):

    * ``io_workers`` > 0: a thread pool decodes the next ``prefetch`` images while the current one
      is enhanced, and a writer thread encodes and writes finished outputs in the background (at most
      ``io_workers`` images waiting). ``io_workers=0`` does everything in order in the calling
      thread. Both write the same files and report the same problems; with workers a write error is
      reported when the write finishes, i.e. possibly after the next image's problems.
    * ``batch_pixels`` > 0: consecutive images of the same size are enhanced in one call (a batch
      [N, H, W, 3], which ``model.enhance`` must accept) while N·H·W ≤ ``batch_pixels``. It pays for
      small images, where per-op overhead dominates; 0 (default) enhances one image per call.

    The model always runs in the calling thread.
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
    io_workers = max(int(io_workers), 0)
    readers = ThreadPoolExecutor(io_workers, thread_name_prefix="enhance-read") if io_workers else None
    writer = ThreadPoolExecutor(1, thread_name_prefix="enhance-write") if io_workers else None
    decodes: dict[int, Future] = {}      # index in paths → decode (queued, running or done)
    # (source, destination, paths written so far, write) per image, in input order
    writes: deque[tuple[Path, Path, list[Path], Future]] = deque()
    next_load = 0

    def write_error(destination: Path, error: OSError) -> None:
        message = f"{destination}: cannot write output ({error.strerror or error})"
        report.errors.append(message)
        log(f"error: {message}")

    def finish_write() -> None:
        """Wait for the oldest background write and record its outcome."""
        source, destination, written, future = writes.popleft()
        try:
            future.result()
        except OSError as error:
            write_error(destination, error)
        finally:
            report.written.extend(written)
            if written:   # the enhanced image itself was written
                claimed[destination] = source

    def decode(index: int) -> Future:
        """The decode of ``paths[index]``; with readers, the next ``prefetch`` decodes are queued too."""
        nonlocal next_load
        if readers is None:
            if index not in decodes:
                decodes[index] = future = Future()
                try:
                    future.set_result(load_image(paths[index]))
                except ImageReadError as error:
                    future.set_exception(error)
            return decodes[index]
        while next_load < len(paths) and next_load <= index + prefetch:
            decodes[next_load] = readers.submit(load_image, paths[next_load])
            next_load += 1
        return decodes[index]

    def problem_with(source: Path, destination: Path) -> str | None:
        if destination.resolve() in input_set and not overwrite:
            return f"{source}: output {destination} would overwrite an input (use --overwrite)"
        if destination in claimed:
            return f"{source}: output {destination} already written for {claimed[destination]} (same file name)"
        return None

    def write(source: Path, destination: Path, image: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        if writer is None:
            written = len(report.written)
            try:
                _write_outputs(report.written, source, destination, out_dir, image, outputs, save_intermediates)
            except OSError as error:
                write_error(destination, error)
            finally:
                if len(report.written) > written:
                    claimed[destination] = source
            return
        while len(writes) >= io_workers:
            finish_write()
        written_here: list[Path] = []
        writes.append((source, destination, written_here, writer.submit(
            _write_outputs, written_here, source, destination, out_dir, image, outputs, save_intermediates)))

    def same_size_followers(index: int, image: np.ndarray, destination: Path) -> list[tuple[Path, Path, np.ndarray]]:
        """Images after ``index`` that can join its batch: same size, readable, no output-name problem."""
        limit = batch_pixels // max(image.shape[0] * image.shape[1], 1)
        group: list[tuple[Path, Path, np.ndarray]] = []
        names = {destination}
        while 1 + len(group) < limit and index + 1 + len(group) < len(paths):
            following = index + 1 + len(group)
            source = paths[following]
            target = output_path_for(source, out_dir)
            if (target in names or problem_with(source, target)
                    or any(pending == target for _, pending, _, _ in writes)):
                break   # reported (or decided) when the loop gets there
            future = decode(following)
            if future.exception() is not None or future.result().shape != image.shape:
                break
            group.append((source, target, future.result()))
            names.add(target)
            decodes.pop(following)
        return group

    bar = tqdm(total=len(paths), desc="enhancing", unit="img", disable=None)
    index = 0
    try:
        while index < len(paths):
            source = paths[index]
            future = decode(index) if readers is not None else None   # keep the prefetch queue ahead
            destination = output_path_for(source, out_dir)
            while any(pending == destination for _, pending, _, _ in writes):
                finish_write()   # an earlier image writes the same name: its outcome decides this one
            message = problem_with(source, destination)
            if message:
                decodes.pop(index, None)
                index += 1
                bar.update(1)
                report.errors.append(message)
                log(f"error: {message}")
                continue
            try:
                image = (future or decode(index)).result()
            except ImageReadError as error:
                report.errors.append(str(error))
                log(f"error: {error}")
                decodes.pop(index, None)
                index += 1
                bar.update(1)
                continue
            decodes.pop(index, None)
            group = [(source, destination, image)]
            if batch_pixels > 0:
                group += same_size_followers(index, image, destination)
            index += len(group)
            if len(group) == 1:
                results = [_as_outputs(model.enhance(image, ratio=ratio, return_intermediates=save_intermediates,
                                                     **(options or {})))]
            else:
                batch = _as_outputs(model.enhance(np.stack([member[2] for member in group]), ratio=ratio,
                                                  return_intermediates=save_intermediates, **(options or {})))
                results = [{name: value[i] for name, value in batch.items()} for i in range(len(group))]
            for (member_source, member_destination, member_image), outputs in zip(group, results):
                write(member_source, member_destination, member_image, outputs)
            bar.update(len(group))
        while writes:
            finish_write()
    finally:
        bar.close()
        for pool in (readers, writer):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    return report
