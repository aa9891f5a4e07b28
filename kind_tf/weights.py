"""kind-tf's one weights format and its one loader: every method's weights folder looks the same.

    WEIGHTS_DIR/
      config.json           the schema below
      decom.weights.h5      one Keras ``.weights.h5`` file per stage network
      restore.weights.h5    (absent for the original KinD release, which never shipped one)
      adjust.weights.h5

config.json (format version 2)::

    {"format": "kind_tf.weights", "version": 2,
     "method": "kind",                                   # a kind_tf.methods name: which pipeline runs it
     "stages": {"decom": {"class": "DecomNet", "config": {...}, "file": "decom.weights.h5"}, ...},
     "recipe": {...},                                    # how the method runs these weights (see below)
     "provenance": {"decom": {"command": "...", "data": "...", "step": 5000, "metrics": {...}, ...},
                    "source": {...}}}                    # converted originals: file names and hashes

Every weights folder has this schema — KinD, KinD++ and Zero-DCE++, converted originals and training
runs — so there is one reader (:func:`read_config`), one network loader (:func:`load_stage`) and one error
(:class:`WeightsError`, one line naming the file and the problem). Each stage records its network class
(a :data:`NETWORKS` entry) and that network's constructor config, so enhance.py, evaluate.py and export
build the right network without extra flags. The ``recipe`` belongs to the method: KinD and KinD++ read
an :class:`InferenceRecipe`::

    "recipe": {"output": "fusion" | "recompose", "ratio": 5.0 | "auto", "auto_target": 0.49,
               "normalize": true[, "adjustment": false]}

(a folder without one gets the original evaluate.py's: fusion with the input at ratio 5; ``"adjustment":
false``, written only when false, is KinD++'s default fusion, which leaves the adjusted illumination out);
Zero-DCE++ reads ``{"scale_factor": 12}`` (its DCE-Net runs on the input downsampled 12×).

Folders written before version 2 (``"format": "kind_tf.kind"`` for KinD / KinD++, ``"model": "zero_dce"``
for Zero-DCE++) are read as the version-2 config they correspond to, so older runs and converted folders
keep working; anything they are saved into again is written as version 2.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kind_tf.errors import WeightsError, one_line  # noqa: F401  (there so that the losses need not import this)
from kind_tf.models import DecomNet, IlluminationAdjustNet, ImprovedUNet, MSIANet, RestorationNet
from kind_tf.models.zero_dce import ZeroDCEPlusPlus
from kind_tf.registry import Registry, UnknownNameError
from kind_tf.weights_config import (  # noqa: F401  (the format's reader, without Keras: kind_tf.methods uses it)
    CONFIG_FILE,
    FORMAT,
    VERSION,
    new_config,
    read_config,
    read_method,
    stage_file,
    write_config,
)

# KinD's three stages (KinD and KinD++ folders hold them); other methods name their own stages.
STAGES = ("decom", "restore", "adjust")


@dataclass(frozen=True)
class Network:
    """A network class a weights folder can name, and the channels of each of its inputs.

    ``inputs`` lets :func:`build_model` create the variables with one tiny forward pass of zeros
    (Keras builds subclassed models on their first call): (3,) an RGB image, (3, 1) RGB + one map, ...
    """

    cls: type[keras.Model]
    inputs: tuple[int, ...] = (3,)


# Class name (what config.json records) → Network. A method with a network of its own registers it here
# (``NETWORKS.register("GammaNet", Network(GammaNet))``), and its folders load through load_stage.
NETWORKS: Registry[Network] = Registry("network")
for _cls, _inputs in ((DecomNet, (3,)), (RestorationNet, (3, 1)), (ImprovedUNet, (3, 1)), (MSIANet, (3, 1)),
                      (IlluminationAdjustNet, (1, 1)), (ZeroDCEPlusPlus, (3,))):
    NETWORKS.register(_cls.__name__, Network(_cls, _inputs))
del _cls, _inputs
# The network of a stage whose entry names no class (and build_stage's default).
DEFAULT_CLASSES = {"decom": "DecomNet", "restore": "RestorationNet", "adjust": "IlluminationAdjustNet",
                   "zerodce": "ZeroDCEPlusPlus"}
# Side of the zero input that builds a network: a multiple of 4 (KinD++'s MSIA net pools by 4).
_BUILD_SIDE = 16


OUTPUTS = ("fusion", "recompose")


@dataclass(frozen=True)
class InferenceRecipe:
    """How a weights folder's networks are meant to be run (see the module docstring).

    Args:
        output: "fusion" — the original evaluate.py's ``I_low·x + (1 − I_low)·(R̂·w·L̂)``; "recompose" —
            the paper's Retinex recomposition ``R̂·L̂``.
        ratio: the adjust net's brightening ratio, a positive number or "auto" (per image, the ratio
            whose output has mean brightness ``auto_target``).
        auto_target: the mean output brightness "auto" aims for.
        normalize: the original's per-image min-max stretch of the input.
        adjustment: whether the fusion multiplies by the adjusted illumination L̂. True: KinD's
            evaluate.py (and KinD++'s with ``--adjustment``); False: KinD++'s default evaluate.py,
            ``I_low·x + (1 − I_low)·(R̂·w)``, where the ratio has no effect. Only "fusion" can leave L̂ out
            (a recomposition without it would be R̂ alone). Pipelines that do not know the option (KinD)
            ignore it; :class:`kind_tf.kindpp.KinDPlusPlus` follows it.
    """

    output: str = "fusion"
    ratio: float | str = 5.0
    auto_target: float = 0.49
    normalize: bool = True
    adjustment: bool = True

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise WeightsError(f"recipe: output must be one of {OUTPUTS}, got {self.output!r}")
        if isinstance(self.ratio, str):
            if self.ratio != "auto":
                raise WeightsError(f"recipe: ratio must be a positive number or 'auto', got {self.ratio!r}")
        elif not (isinstance(self.ratio, (int, float)) and self.ratio > 0):
            raise WeightsError(f"recipe: ratio must be a positive number or 'auto', got {self.ratio!r}")
        if not 0 < float(self.auto_target) < 1:
            raise WeightsError(f"recipe: auto_target must be in (0, 1), got {self.auto_target!r}")
        if not isinstance(self.adjustment, bool):
            raise WeightsError(f"recipe: adjustment must be true or false, got {self.adjustment!r}")
        if not self.adjustment and not self.fusion:
            raise WeightsError(f"recipe: adjustment false needs output 'fusion', got {self.output!r}")

    @property
    def fusion(self) -> bool:
        return self.output == "fusion"

    def to_json(self) -> dict[str, Any]:
        payload = dataclasses.asdict(self)
        if self.adjustment:   # the default is not written: KinD's folders stay as older versions read them
            del payload["adjustment"]
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> InferenceRecipe:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise WeightsError(f"recipe: unknown key(s) {unknown}; expected {sorted(known)}")
        return cls(**payload)

    def describe(self) -> str:
        output = "the original fusion with the input" if self.fusion else "the recomposition R̂·L̂ (no fusion)"
        ratio = (f"auto ratio (mean brightness {self.auto_target:g})" if self.ratio == "auto"
                 else f"ratio {float(self.ratio):g}")
        if not self.adjustment:
            return "KinD++'s fusion with the input without the adjusted illumination (the ratio is unused)"
        return f"{output}, {ratio}"


# The original KinD evaluate.py: fusion with the input at ratio 5, min-max normalised input.
ORIGINAL_RECIPE = InferenceRecipe()
# The original KinD++ evaluate.py run without --adjustment (its default): I_low·x + (1 − I_low)·(R̂·w).
KINDPP_RECIPE = InferenceRecipe(adjustment=False)


def build_stage(stage: str, class_name: str | None = None, config: dict[str, Any] | None = None) -> keras.Model:
    """Create the network of ``stage`` (class ``class_name``, default: the stage's), built so it has weights."""
    class_name = class_name or DEFAULT_CLASSES.get(stage)
    if class_name is None:
        raise WeightsError(f"stage {stage!r} names no network class and has no default one")
    try:
        network = NETWORKS.get(class_name)
    except UnknownNameError as error:
        raise WeightsError(f"stage {stage!r}: {error}") from None
    model = network.cls.from_config(dict(config or {}))
    build_model(model)
    return model


def build_model(model: keras.Model, stage: str | None = None) -> None:
    """Create a network's variables by calling it once on small zero inputs (its :data:`NETWORKS` entry's
    input channels; ``stage`` is only a fallback for a class that is not registered)."""
    name = type(model).__name__
    if name in NETWORKS:
        inputs = NETWORKS[name].inputs
    else:
        inputs = NETWORKS[DEFAULT_CLASSES[stage]].inputs if stage in DEFAULT_CLASSES else (3,)
    zeros = [np.zeros((1, _BUILD_SIDE, _BUILD_SIDE, channels), np.float32) for channels in inputs]
    model(zeros[0] if len(zeros) == 1 else zeros)


def stage_class_name(model: keras.Model) -> str:
    return type(model).__name__


def save_weights(out_dir: str | os.PathLike, models: Mapping[str, keras.Model],
                 metadata: Mapping[str, Any] | None = None, *, method: str | None = None,
                 recipe: InferenceRecipe | Mapping[str, Any] | None = None) -> Path:
    """Write ``models`` ({stage: network}) into ``out_dir`` and record them in its config.json.

    Args:
        out_dir: the weights folder (created; stages already in it are kept, so training stage by stage
            fills one folder).
        models: stage name → built network.
        metadata: provenance entries merged into ``provenance`` (a training stage's ``{stage: {command,
            data, step, metrics, ...}}``, a converter's ``{"source": {...}}``).
        method: the method these weights are for (default: the folder's, or "kind" for a new folder).
        recipe: the folder's inference recipe (default: keep the folder's).

    Each file is written to a temporary name and renamed, so an interrupted save never leaves a
    half-written weights file in place of a good one.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = read_config(out_dir) if (out_dir / CONFIG_FILE).exists() else new_config(method or "kind")
    if method is not None:
        config["method"] = method
    for stage, model in models.items():
        filename = stage_file(stage)
        tmp = out_dir / f".{stage}.tmp.weights.h5"
        model.save_weights(tmp)
        os.replace(tmp, out_dir / filename)
        # Without the base config: the training precision (e.g. mixed_bfloat16) is not the network's; the
        # inference precision is chosen when loading (KinD(precision=...)).
        config["stages"][stage] = {"class": stage_class_name(model), "config": _strip_base_config(model.get_config()),
                                   "file": filename}
    if metadata:
        config["provenance"].update(metadata)
    if recipe is not None:
        config["recipe"] = recipe.to_json() if isinstance(recipe, InferenceRecipe) else dict(recipe)
    write_config(out_dir, config)
    return out_dir


def read_recipe(weights_dir: str | os.PathLike) -> InferenceRecipe:
    """The folder's KinD / KinD++ inference recipe; the original evaluate.py's when the folder records none."""
    config = read_config(weights_dir)
    if "recipe" not in config:
        return ORIGINAL_RECIPE
    try:
        return InferenceRecipe.from_json(dict(config["recipe"]))
    except (TypeError, ValueError, WeightsError) as error:
        raise WeightsError(f"{Path(weights_dir) / CONFIG_FILE}: {error}") from None


def write_recipe(weights_dir: str | os.PathLike, recipe: InferenceRecipe | Mapping[str, Any]) -> None:
    """Record ``recipe`` in the folder's config.json (atomically)."""
    config = read_config(weights_dir)
    config["recipe"] = recipe.to_json() if isinstance(recipe, InferenceRecipe) else dict(recipe)
    write_config(weights_dir, config)


def has_stage(weights_dir: str | os.PathLike, stage: str) -> bool:
    """Whether the folder records ``stage`` and its weights file exists."""
    try:
        entry = read_config(weights_dir)["stages"].get(stage)
    except WeightsError:
        return False
    return entry is not None and (Path(weights_dir) / entry.get("file", stage_file(stage))).is_file()


def load_stage(weights_dir: str | os.PathLike, stage: str, **overrides: Any) -> keras.Model:
    """Build the network recorded for ``stage`` in ``weights_dir`` and load its weights.

    Args:
        overrides: constructor arguments that replace the recorded ones (e.g. Zero-DCE++'s ``scale_factor``).
    """
    weights_dir = Path(weights_dir)
    config = read_config(weights_dir)
    entry = config["stages"].get(stage)
    path = weights_dir / (entry or {}).get("file", stage_file(stage))
    if entry is None or not path.is_file():
        recorded = ", ".join(config["stages"]) or "none"
        raise WeightsError(f"{weights_dir}: no weights for the {stage!r} stage (stages here: {recorded})")
    try:
        model = build_stage(stage, entry.get("class"), {**_strip_base_config(entry.get("config", {})), **overrides})
    except (TypeError, ValueError) as error:
        if isinstance(error, WeightsError):
            raise
        raise WeightsError(f"{weights_dir / CONFIG_FILE}: the {stage} stage's network config does not fit "
                           f"{entry.get('class')}: {one_line(error)}") from None
    try:
        with warnings.catch_warnings():   # Keras warns once per layer before it raises; the error says it all
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except Exception as error:  # h5py / keras raise many types for corrupt or mismatched files
        raise WeightsError(f"{path}: cannot load {stage} weights: {one_line(error)} — is it a corrupt file, or "
                           f"not a {type(model).__name__} of the {stage} stage?") from None
    return model


def _strip_base_config(config: dict[str, Any]) -> dict[str, Any]:
    # keras.Model's base config (name, trainable, dtype) must not pin the layer name on reload.
    return {k: v for k, v in config.items() if k not in ("name", "trainable", "dtype")}
