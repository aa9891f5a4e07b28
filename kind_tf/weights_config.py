"""The weights folders' config.json: read (any version, as version 2) and written, without importing Keras.

The schema is :mod:`kind_tf.weights`' (which re-exports these); it lives here so that
:func:`kind_tf.methods.detect` and ``--help`` can read a folder's method without loading the networks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kind_tf.errors import WeightsError, one_line

FORMAT = "kind_tf.weights"
VERSION = 2
CONFIG_FILE = "config.json"
# What version-1 folders said instead of the format.
LEGACY_KIND_FORMAT = "kind_tf.kind"
LEGACY_ZERO_DCE_MODEL = "zero_dce"
LEGACY_KINDPP_PIPELINE = "kind_tf.kindpp.KinDPlusPlus"


def stage_file(stage: str) -> str:
    return f"{stage}.weights.h5"


def new_config(method: str) -> dict[str, Any]:
    """An empty version-2 config of ``method``."""
    return {"format": FORMAT, "version": VERSION, "method": method, "stages": {}, "provenance": {}}


def write_config(weights_dir: str | os.PathLike, config: Mapping[str, Any]) -> None:
    """Write ``config`` as the folder's config.json (atomically, as version 2)."""
    from kind_tf.io import atomic_write

    payload = {**config, "format": FORMAT, "version": VERSION}
    with atomic_write(Path(weights_dir) / CONFIG_FILE, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.write("\n")


def read_config(weights_dir: str | os.PathLike) -> dict[str, Any]:
    """The folder's config.json as a version-2 config (older folders are read as their version-2 form).

    Raises:
        WeightsError: no config.json, unreadable JSON, not a kind-tf weights config, or a newer version.
    """
    path = Path(weights_dir) / CONFIG_FILE
    if not path.is_file():
        raise WeightsError(f"{weights_dir}: not a kind-tf weights folder (no {CONFIG_FILE})")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise WeightsError(f"{path}: unreadable weights config ({one_line(error)})") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: not a kind-tf weights config (not a JSON object)")
    if config.get("format") == FORMAT:
        version = config.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise WeightsError(f"{path}: format version {version!r} is newer than this kind-tf reads ({VERSION}); "
                               "upgrade kind-tf")
        for key in ("method", "stages"):
            if key not in config:
                raise WeightsError(f"{path}: no {key!r} entry")
        config.setdefault("provenance", {})
        return config
    if config.get("format") == LEGACY_KIND_FORMAT:
        return _from_legacy_kind(config)
    if config.get("model") == LEGACY_ZERO_DCE_MODEL:
        return _from_legacy_zero_dce(config)
    raise WeightsError(f"{path}: format {config.get('format')!r} is not {FORMAT!r}")


def _from_legacy_kind(config: dict[str, Any]) -> dict[str, Any]:
    """A version-1 KinD / KinD++ folder (``"format": "kind_tf.kind"``, ``metadata``) as version 2."""
    provenance = dict(config.get("metadata") or {})
    pipeline = provenance.pop("pipeline", None)
    stages = {stage: {**entry, "file": entry.get("file", stage_file(stage))}
              for stage, entry in (config.get("stages") or {}).items()}
    restore_class = stages.get("restore", {}).get("class")
    method = "kindpp" if pipeline == LEGACY_KINDPP_PIPELINE or restore_class == "MSIANet" else "kind"
    upgraded = {**new_config(method), "stages": stages, "provenance": provenance}
    if "recipe" in config:
        upgraded["recipe"] = config["recipe"]
    return upgraded


def _from_legacy_zero_dce(config: dict[str, Any]) -> dict[str, Any]:
    """A version-1 Zero-DCE++ folder (``"model": "zero_dce"``, ``model.weights.h5``) as version 2."""
    network = {key: config[key] for key in ("iterations", "filters") if key in config}
    return {**new_config("zerodce"),
            "stages": {"zerodce": {"class": config.get("class", "ZeroDCEPlusPlus"), "config": network,
                                   "file": config.get("weights", "model.weights.h5")}},
            "recipe": {"scale_factor": config.get("scale_factor", 12)},
            "provenance": {"source": config["source"]} if "source" in config else {}}


def read_method(weights_dir: str | os.PathLike) -> str:
    """The method a weights folder is for (its config's ``method``)."""
    return read_config(weights_dir)["method"]
