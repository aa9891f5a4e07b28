"""The enhance job behind ``enhance.py``: many files in, PNGs out, one clear line per bad file."""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from kind_tf.image_ops import to_float_image
from kind_tf.io import ImageReadError, expand_inputs, load_image_native, save_png

SAMPLE_IMAGE = Path(__file__).resolve().parent / "assets" / "sample_dark.png"
# enhance.py's default ``batch_pixels``: same-size images are batched up to 0.5 MP per call (e.g.
# 4 × 512×256 or 2 × 600×400; nothing at 1200×900 and above): batching pays on small images only,
# and this keeps a batch's activations around 0.5 GB (benchmarks/README.md).
DEFAULT_BATCH_PIXELS = 2 ** 19
INTERMEDIATES = ("reflectance", "illumination", "restored_reflectance", "adjusted_illumination")


class Enhancer(Protocol):
    # image: uint8 (plain 8-bit files, see io.load_image_native) or float32 in [0, 1]
    def enhance(self, image: np.ndarray, ratio: float | str | None = ..., return_intermediates: bool = ...): ...


@dataclass
class JobReport:
    written: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)     # --skip-existing: outputs already there

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


def output_names(paths: list[Path], out_dir: Path) -> list[Path]:
    """The output PNG of each input. The naming rule: ``<stem>.png``; when several inputs of one run
    share a stem (a.png and a.jpg, or photos/a.jpg and more/a.jpg), each of them is written as
    ``<stem>_<extension>.png`` (a_png.png, a_jpg.png), numbered ``_2``, ``_3`` … in input order
    where even that repeats. Intermediates take the output's name plus ``_<what>``."""
    stems: dict[str, int] = {}
    for path in paths:
        stems[path.stem] = stems.get(path.stem, 0) + 1
    names: list[Path] = []
    taken: set[str] = set()
    for path in paths:
        base = path.stem if stems[path.stem] == 1 else f"{path.stem}_{path.suffix.lstrip('.').lower()}"
        name, count = base, 1
        while name in taken:
            count += 1
            name = f"{base}_{count}"
        taken.add(name)
        names.append(out_dir / f"{name}.png")
    return names


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
    tiles = [to_float_image(image)]
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
                written.append(save_png(destination.with_name(f"{destination.stem}_{name}.png"), outputs[name]))
        if len(outputs) > 2:  # more than the enhanced image and its input: worth a grid
            written.append(save_png(destination.with_name(f"{destination.stem}_grid.png"),
                                    decomposition_grid(image, outputs)))
    return written


class _Reader:
    """Decodes ``paths[index]`` on request; with ``workers`` > 0 a thread pool also decodes the next
    ``prefetch`` images ahead, so decoding overlaps the model."""

    def __init__(self, paths: list[Path], workers: int, prefetch: int):
        self.paths = paths
        self.prefetch = prefetch
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="enhance-read") if workers else None
        self.decodes: dict[int, Future] = {}    # index in paths → decode (queued, running or done)
        self.next_load = 0

    def read_ahead(self, index: int) -> None:
        """Queue the decodes of ``index`` and the ``prefetch`` images after it (no-op without a pool:
        a sequential job decodes a file only once it is known to be wanted)."""
        if self.pool is not None:
            self.decode(index)

    def decode(self, index: int) -> Future:
        if self.pool is None:
            if index not in self.decodes:
                self.decodes[index] = future = Future()
                try:
                    future.set_result(load_image_native(self.paths[index]))
                except ImageReadError as error:
                    future.set_exception(error)
            return self.decodes[index]
        while self.next_load < len(self.paths) and self.next_load <= index + self.prefetch:
            self.decodes[self.next_load] = self.pool.submit(load_image_native, self.paths[self.next_load])
            self.next_load += 1
        return self.decodes[index]

    def release(self, index: int) -> None:
        self.decodes.pop(index, None)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class _Writer:
    """Writes each image's outputs — in order, on one background thread with at most ``workers``
    images waiting, or at once when ``workers`` is 0 — and records in ``report`` what was written and
    what failed, and in ``claimed`` which source wrote each output name."""

    def __init__(self, report: JobReport, log: Callable[[str], None], out_dir: Path, save_intermediates: bool,
                 workers: int):
        self.report = report
        self.log = log
        self.out_dir = out_dir
        self.save_intermediates = save_intermediates
        self.workers = workers
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="enhance-write") if workers else None
        # (source, destination, paths written so far, write) per image, in input order
        self.pending: deque[tuple[Path, Path, list[Path], Future]] = deque()
        self.claimed: dict[Path, Path] = {}

    def is_pending(self, destination: Path) -> bool:
        return any(pending == destination for _, pending, _, _ in self.pending)

    def settle(self, destination: Path) -> None:
        """Wait until no earlier image is still writing ``destination`` (its outcome decides a later one)."""
        while self.is_pending(destination):
            self.finish_oldest()

    def write(self, source: Path, destination: Path, image: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
        written: list[Path] = []
        if self.pool is None:
            try:
                _write_outputs(written, source, destination, self.out_dir, image, outputs, self.save_intermediates)
            except OSError as error:
                self._failed(destination, error)
            finally:
                self._record(source, destination, written)
            return
        while len(self.pending) >= self.workers:
            self.finish_oldest()
        self.pending.append((source, destination, written, self.pool.submit(
            _write_outputs, written, source, destination, self.out_dir, image, outputs, self.save_intermediates)))

    def finish_oldest(self) -> None:
        """Wait for the oldest background write and record its outcome."""
        source, destination, written, future = self.pending.popleft()
        try:
            future.result()
        except OSError as error:
            self._failed(destination, error)
        finally:
            self._record(source, destination, written)

    def finish_all(self) -> None:
        while self.pending:
            self.finish_oldest()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _failed(self, destination: Path, error: OSError) -> None:
        message = f"{destination}: cannot write output ({error.strerror or error})"
        self.report.errors.append(message)
        self.log(f"error: {message}")

    def _record(self, source: Path, destination: Path, written: list[Path]) -> None:
        self.report.written.extend(written)
        if written:   # the enhanced image itself was written
            self.claimed[destination] = source


def enhance_files(model: Enhancer, inputs: list[str], out_dir: Path, ratio: float | str | None = None,
                  overwrite: bool = False, save_intermediates: bool = False, skip_existing: bool = False,
                  log: Callable[[str], None] | None = None, options: dict | None = None,
                  io_workers: int = 2, prefetch: int = 2, batch_pixels: int = 0) -> JobReport:
    """Enhance every image named by ``inputs`` (files, folders, globs) into ``out_dir`` as PNG.

    Bad inputs are reported (one line each, via ``log``) and skipped; the rest are still processed.
    Output names follow :func:`output_names`. ``skip_existing``: inputs whose output PNG already
    exists are skipped (not errors), so an interrupted folder run resumes where it stopped — every
    output is written atomically, so an existing one is complete.
    Outputs are written atomically and never over an input file unless ``overwrite``. ``options``
    are passed on to ``model.enhance`` (e.g. tiling settings); ``ratio`` None is the model's default
    (for KinD, its weights' recipe).

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
    destinations = output_names(paths, out_dir)
    io_workers = max(int(io_workers), 0)
    reader = _Reader(paths, io_workers, prefetch)
    writer = _Writer(report, log, out_dir, save_intermediates, io_workers)

    def problem_with(source: Path, destination: Path) -> str | None:
        if destination.resolve() in input_set and not overwrite:
            return f"{source}: output {destination} would overwrite an input (use --overwrite)"
        if destination in writer.claimed:
            return f"{source}: output {destination} already written for {writer.claimed[destination]} (same file name)"
        return None

    def same_size_followers(index: int, image: np.ndarray, destination: Path) -> list[tuple[Path, Path, np.ndarray]]:
        """Images after ``index`` that can join its batch: same size, readable, no output-name problem."""
        limit = batch_pixels // max(image.shape[0] * image.shape[1], 1)
        group: list[tuple[Path, Path, np.ndarray]] = []
        names = {destination}
        while 1 + len(group) < limit and index + 1 + len(group) < len(paths):
            following = index + 1 + len(group)
            source = paths[following]
            target = destinations[following]
            if skip_existing and target.exists():
                break
            if target in names or problem_with(source, target) or writer.is_pending(target):
                break   # reported (or decided) when the loop gets there
            future = reader.decode(following)
            if future.exception() is not None or future.result().shape != image.shape:
                break
            group.append((source, target, future.result()))
            names.add(target)
            reader.release(following)
        return group

    def skip(index: int, message: str) -> None:
        reader.release(index)
        bar.update(1)
        report.errors.append(message)
        log(f"error: {message}")

    bar = tqdm(total=len(paths), desc="enhancing", unit="img", disable=None)
    index = 0
    try:
        while index < len(paths):
            source = paths[index]
            reader.read_ahead(index)
            destination = destinations[index]
            if skip_existing and destination.exists():
                reader.release(index)
                bar.update(1)
                report.skipped.append(source)
                index += 1
                continue
            writer.settle(destination)
            message = problem_with(source, destination)
            if message:
                skip(index, message)
                index += 1
                continue
            try:
                image = reader.decode(index).result()
            except ImageReadError as error:
                skip(index, str(error))
                index += 1
                continue
            reader.release(index)
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
                writer.write(member_source, member_destination, member_image, outputs)
            bar.update(len(group))
        writer.finish_all()
    finally:
        bar.close()
        reader.close()
        writer.close()
    return report
