"""kind-tf's own weights format: one folder per model, one ``.weights.h5`` file per KinD stage.

    WEIGHTS_DIR/
      config.json           {"format": "kind_tf.kind", "stages": {stage: {"class": ..., "config": {...}}}, ...}
      decom.weights.h5
      restore.weights.h5    (absent for the original release, which never shipped one)
      adjust.weights.h5

``config.json`` records which network each stage uses (e.g. the restore stage's backbone and its
config), so enhance.py, evaluate.py and export build the right network without extra flags, and
how the weights are meant to be used — their inference ``recipe`` (:class:`InferenceRecipe`):

    "recipe": {"output": "fusion" | "recompose", "ratio": 5.0 | "auto", "auto_target": 0.49,
               "normalize": true[, "adjustment": false]}

enhance.py, evaluate.py, the export and ``KinD.from_weights`` follow it unless the user overrides it
(``--fusion/--no-fusion``, ``--ratio``). A folder without a recipe (converted original weights,
older folders) gets the original evaluate.py's: fusion with the input at ratio 5. ``"adjustment": false``
(written only when false) is KinD++'s default fusion, which leaves the adjusted illumination out.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kind_tf.errors import WeightsError  # noqa: F401  (defined there so that the losses need not import this)
from kind_tf.models import DecomNet, IlluminationAdjustNet, ImprovedUNet, MSIANet, RestorationNet

FORMAT = "kind_tf.kind"
STAGES = ("decom", "restore", "adjust")

# Name → class of every network a KinD stage can use (the restore stage: either backbone, or KinD++'s MSIA net).
STAGE_CLASSES: dict[str, type[keras.Model]] = {
    "DecomNet": DecomNet,
    "RestorationNet": RestorationNet,
    "ImprovedUNet": ImprovedUNet,
    "MSIANet": MSIANet,
    "IlluminationAdjustNet": IlluminationAdjustNet,
}
DEFAULT_CLASSES = {"decom": "DecomNet", "restore": "RestorationNet", "adjust": "IlluminationAdjustNet"}


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
    """Create the (unbuilt) network of ``stage``, built with one tiny forward pass so it has weights."""
    if stage not in STAGES:
        raise ValueError(f"unknown KinD stage {stage!r}; expected one of {STAGES}")
    class_name = class_name or DEFAULT_CLASSES[stage]
    if class_name not in STAGE_CLASSES:
        raise WeightsError(f"unknown network class {class_name!r} for stage {stage!r}; known: {sorted(STAGE_CLASSES)}")
    model = STAGE_CLASSES[class_name].from_config(dict(config or {}))
    build_model(model, stage)
    return model


def build_model(model: keras.Model, stage: str) -> None:
    """Create a stage network's variables by calling it once on a small zero input."""
    image = np.zeros((1, 8, 8, 3), np.float32)
    single = np.zeros((1, 8, 8, 1), np.float32)
    if stage == "decom":
        model(image)
    elif stage == "restore":
        model([image, single])
    else:
        model([single, single])


def stage_class_name(model: keras.Model) -> str:
    return type(model).__name__


def save_weights(out_dir: str | os.PathLike, models: dict[str, keras.Model],
                 metadata: dict[str, Any] | None = None) -> Path:
    """Write ``models`` ({stage: network}) and a config.json into ``out_dir``.

    Each file is written to a temporary name and renamed, so an interrupted save never leaves a
    half-written weights file in place of a good one.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "config.json"
    config = read_config(out_dir) if config_path.exists() else {"format": FORMAT, "stages": {}}
    for stage, model in models.items():
        if stage not in STAGES:
            raise ValueError(f"unknown KinD stage {stage!r}; expected one of {STAGES}")
        final = out_dir / f"{stage}.weights.h5"
        tmp = out_dir / f".{stage}.tmp.weights.h5"
        model.save_weights(tmp)
        os.replace(tmp, final)
        # Without the base config: the training precision (e.g. mixed_bfloat16) is not the network's; the
        # inference precision is chosen when loading (KinD(precision=...)).
        config["stages"][stage] = {"class": stage_class_name(model), "config": _strip_base_config(model.get_config())}
    if metadata:
        config.setdefault("metadata", {}).update(metadata)
    _write_json_atomic(config_path, config)
    return out_dir


def read_config(weights_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(weights_dir) / "config.json"
    if not path.is_file():
        raise WeightsError(f"{weights_dir}: not a kind-tf weights folder (no config.json)")
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise WeightsError(f"{path}: unreadable weights config ({error})") from None
    if config.get("format") != FORMAT:
        raise WeightsError(f"{path}: format {config.get('format')!r} is not {FORMAT!r}")
    return config


def read_recipe(weights_dir: str | os.PathLike) -> InferenceRecipe:
    """The folder's inference recipe; the original evaluate.py's when the folder records none."""
    config = read_config(weights_dir)
    if "recipe" not in config:
        return ORIGINAL_RECIPE
    try:
        return InferenceRecipe.from_json(dict(config["recipe"]))
    except (TypeError, ValueError, WeightsError) as error:
        raise WeightsError(f"{Path(weights_dir) / 'config.json'}: {error}") from None


def write_recipe(weights_dir: str | os.PathLike, recipe: InferenceRecipe) -> None:
    """Record ``recipe`` in the folder's config.json (atomically)."""
    config = read_config(weights_dir)
    config["recipe"] = recipe.to_json()
    _write_json_atomic(Path(weights_dir) / "config.json", config)


def has_stage(weights_dir: str | os.PathLike, stage: str) -> bool:
    return (Path(weights_dir) / f"{stage}.weights.h5").is_file()


def load_stage(weights_dir: str | os.PathLike, stage: str) -> keras.Model:
    """Build the network recorded for ``stage`` in ``weights_dir`` and load its weights."""
    weights_dir = Path(weights_dir)
    config = read_config(weights_dir)
    entry = config["stages"].get(stage)
    path = weights_dir / f"{stage}.weights.h5"
    if entry is None or not path.is_file():
        raise WeightsError(f"{weights_dir}: no weights for the {stage!r} stage")
    model = build_stage(stage, entry.get("class"), _strip_base_config(entry.get("config", {})))
    try:
        with warnings.catch_warnings():   # Keras warns once per layer before it raises; the error says it all
            warnings.simplefilter("ignore")
            model.load_weights(path)
    except Exception as error:  # h5py / keras raise many types for corrupt or mismatched files
        raise WeightsError(f"{path}: cannot load {stage} weights: {one_line(error)} — is it a corrupt file, or "
                           f"not a {type(model).__name__} of the {stage} stage?") from None
    return model


def one_line(error: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (Keras' load errors run to dozens of lines), shortened."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0].strip()
    if first.endswith(":"):
        first = first[:-1]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _strip_base_config(config: dict[str, Any]) -> dict[str, Any]:
    # keras.Model's base config (name, trainable, dtype) must not pin the layer name on reload.
    return {k: v for k, v in config.items() if k not in ("name", "trainable", "dtype")}


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    from kind_tf.io import atomic_write

    with atomic_write(path, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.write("\n")
