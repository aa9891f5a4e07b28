"""kind-tf: low-light image enhancement (KinD, Zero-DCE++) in TensorFlow 2 / Keras 3.

    import kind_tf
    kind = kind_tf.load("kind-sice")          # a shipped preset (kind_tf.presets), or a weights folder path
    enhanced = kind.enhance(image_uint8)      # float32 [H, W, 3] in [0, 1]

``import kind_tf`` stays cheap (no TensorFlow): :func:`load` imports the pipelines when it is called.
"""

from __future__ import annotations

import os
from typing import Any

__version__ = "0.1.0"


def load(weights: str | os.PathLike = "kind-sice", method: str | None = None, **options: Any) -> Any:
    """The enhancement pipeline for a preset name (``"kind-sice"``, ``"zero-dce-sice"``) or a weights folder.

    Args:
        weights: a preset (:data:`kind_tf.presets.PRESETS`) or the path of a kind-tf weights folder.
        method: "kind" or "zerodce"; default: the preset's, or for a folder what its ``config.json``
            describes (Zero-DCE++ folders say ``"model": "zero_dce"``, KinD folders ``"format": "kind_tf.kind"``).
        **options: passed to the pipeline's ``from_weights`` (e.g. ``precision="bfloat16"``, ``ratio=5.0``,
            ``fusion=True`` for KinD).

    Returns:
        A :class:`kind_tf.inference.KinD` or :class:`kind_tf.inference.ZeroDCE`, both with
        ``enhance(image, ...)``.

    Raises:
        kind_tf.presets.UnknownPresetError: ``weights`` is neither a preset nor an existing path (one line
            listing the presets; a ValueError).
        FileNotFoundError: the folder has no ``config.json``.
    """
    import json

    from kind_tf.presets import method_names, preset_names, preset_of, resolve_weights

    folder = resolve_weights(weights)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder}: no config.json, not a kind-tf weights folder "
                                f"(presets: {', '.join(preset_names())})")
    preset = preset_of(weights)
    if method is None:
        if preset is not None:
            method = preset.method
        else:
            method = "zerodce" if json.loads(config_path.read_text()).get("model") == "zero_dce" else "kind"
    if method not in method_names():
        raise ValueError(f"method must be one of {', '.join(method_names())}, got {method!r}")
    from kind_tf.inference import KinD, ZeroDCE

    pipeline = ZeroDCE if method == "zerodce" else KinD
    return pipeline.from_weights(folder, **options)
