"""What is evaluated: the methods (from :mod:`kind_tf.methods` and :mod:`kind_tf.baselines`), their
ratio protocols and weights, as :class:`Run` objects; and the one-line :class:`EvaluationError`.

Ratio protocols (the methods with a ratio, ``Method.accepts_ratio``: KinD, KinD++; every other method's
protocol is ``"n/a"``): ``fixed`` (one ratio for every image, e.g. 5), ``auto`` (per image, the ratio whose
output has a fixed mean brightness, found on the input alone, never the ground truth: see
:class:`kind_tf.inference.KinD`) and ``gt-mean``: mean illumination of the ground truth over that of the
input, both from the same DecomNet on min-max normalised images (as KinD's training decomposes pairs) — a
DIAGNOSTIC that uses the ground truth, flagged as such in every output.

The ``parse_*`` functions read the method, ratio and weights *specs* that :func:`run_evaluation` accepts
(comma lists, ``METHOD=DIR``), so the library and the command line take the same strings; the command
line's options, help and exit codes are :mod:`kind_tf.cli.evaluate`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kind_tf.baselines import BASELINES, get_baseline


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
MIN_MEAN_ILLUMINATION = 1e-4  # guards gt-mean's division


class EvaluationError(ValueError):
    """A user-facing problem (bad argument, data layout, weights, unreadable file): one line."""


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


def load_method(method: str, weights: Path | None = None, precision: str = "float32",
                fusion: bool | None = None) -> Any:
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
    weights = weights or default_weights(method)
    if not (Path(weights) / "config.json").is_file():
        raise EvaluationError(f"{weights}: no {method} weights found (no config.json); {entry.weights_hint}")
    try:
        return entry.load(weights, precision=precision, fusion=fusion)
    except (WeightsError, ValueError, OSError) as error:
        raise EvaluationError(f"{weights}: cannot load {method} weights ({error})") from None


def mean_illumination(model: Any, image: np.ndarray) -> float:
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


def gt_mean_ratio(model: Any, low: np.ndarray, high: np.ndarray) -> float:
    """The ``gt-mean`` ratio: mean(I_high) / mean(I_low) from the model's DecomNet (uses the ground truth)."""
    return mean_illumination(model, high) / max(mean_illumination(model, low), MIN_MEAN_ILLUMINATION)


def default_weights(method: str) -> Path:
    """The method's shipped preset (kind-sice, zero-dce-sice), found wherever kind-tf is installed."""
    from kind_tf import methods
    from kind_tf.presets import preset_dir

    presets = methods.get(method).presets
    if not presets:
        raise EvaluationError(f"--method {method} has no shipped weights; pass --weights {method}=DIR")
    return preset_dir(presets[0])

