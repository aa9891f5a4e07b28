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
        method: a registered method (:func:`kind_tf.methods.names`: "kind", "zerodce", "kindpp", ...);
            default: the preset's, or for a folder the method that recognises its ``config.json``
            (:func:`kind_tf.methods.detect`), else the default method.
        **options: passed to the method's loader as given (e.g. ``precision="bfloat16"``, ``ratio=5.0``,
            ``fusion=True`` for KinD; one it does not take is its TypeError, as before).

    Returns:
        The method's pipeline (e.g. :class:`kind_tf.inference.KinD`, :class:`kind_tf.inference.ZeroDCE`,
        :class:`kind_tf.kindpp.KinDPlusPlus`), with ``enhance(image, ...)``.

    Raises:
        kind_tf.presets.UnknownPresetError: ``weights`` is neither a preset nor an existing path (one line
            listing the presets; a ValueError).
        FileNotFoundError: the folder has no ``config.json``.
        ValueError: an unknown ``method`` (one line listing the registered ones).
    """
    from kind_tf import methods
    from kind_tf.presets import preset_names, preset_of, resolve_weights

    folder = resolve_weights(weights)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: no config.json, not a kind-tf weights folder "
                                f"(presets: {', '.join(preset_names())})")
    preset = preset_of(weights)
    if method is None:
        if preset is not None:
            method = preset.method
        else:
            try:
                method = methods.detect(folder).name
            except ValueError:
                method = methods.names()[0]
    # The loader itself, not Method.load: that one drops the options a method lacks (for the command line's
    # shared flags); a Python caller's misspelt option should fail.
    return methods.get(method).loader(folder, **options)
