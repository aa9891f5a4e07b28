"""Named presets for the weights kind-tf ships, found wherever kind-tf is installed.

    kind_tf.load("kind-sice")                       # Python
    kind-tf enhance photo.jpg --weights kind-sice   # command line (a weights folder path still works)

The shipped weights live in the repository's top-level ``checkpoints/`` folder. A wheel carries them as
``kind_tf/_checkpoints/`` (setup.cfg maps the package ``kind_tf._checkpoints`` onto ``checkpoints/`` and
lists the files as its package data), because a path relative to the source tree
(``<package>/../checkpoints``) points into ``site-packages`` after a regular install, where nothing is.
:func:`checkpoints_dir` therefore asks importlib.resources for ``kind_tf/_checkpoints`` first (a wheel
install) and falls back to the checkout's ``checkpoints/`` (a source checkout, an editable install), so
one name resolves the same in all three.

This module imports nothing heavy (no TensorFlow, no Keras): the command line resolves and lists presets
before it starts the backend.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["PRESETS", "Preset", "UnknownPresetError", "checkpoints_dir", "default_preset", "describe_presets",
           "method_names", "preset_dir", "preset_names", "preset_of", "resolve_weights"]


@dataclass(frozen=True)
class Preset:
    """A shipped weights folder under a stable name.

    Attributes:
        name: what users type (``kind_tf.load(name)``, ``--weights name``).
        method: the registered method (:mod:`kind_tf.methods`) that runs these weights.
        folder: the folder's name under ``checkpoints/`` (its model card is ``checkpoints/<folder>/README.md``).
        summary: one line for ``--help`` listings: what was trained on what, and how it scores.
    """

    name: str
    method: str
    folder: str
    summary: str


# The first preset of a method is that method's default weights (what enhance runs without --weights).
PRESETS: dict[str, Preset] = {preset.name: preset for preset in (
    Preset("kind-sice", "kind", "kind",
           "KinD trained by kind-tf on the SICE pairs, restore stage fine-tuned on JPEG-degraded inputs "
           "(19.79 dB / 0.734 on the 59 SICE eval pairs)"),
    Preset("zero-dce-sice", "zerodce", "zero_dce",
           "Zero-DCE++ trained by kind-tf on SICE Part 1 without targets (17.08 dB / 0.656 on the SICE eval pairs)"),
    Preset("kindpp-sice", "kindpp", "kindpp",
           "KinD++ decom + illumination trained by kind-tf on the SICE pairs (3000 CPU steps each), no restoration "
           "net yet (12.91 dB / 0.531 on the SICE eval pairs; KinD's kind-sice is better)"),
)}


def method_names() -> tuple[str, ...]:
    """The registered methods (:mod:`kind_tf.methods`; ``--method``'s choices), default first.

    Kept for callers of the placeholder it replaced; the registry is the one place methods are listed.
    """
    from kind_tf.methods import names

    return names()


class UnknownPresetError(ValueError):
    """A ``--weights`` / :func:`kind_tf.load` value that is neither a preset nor an existing folder.

    A ValueError so that callers which already turn ValueErrors into one ``error:`` line need no new case.
    """

    def __init__(self, value: str):
        self.value = value
        super().__init__(f"unknown preset {value!r} (and no folder of that name); presets: "
                         f"{', '.join(preset_names())}, or a weights folder path")


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def describe_presets() -> str:
    """One line per preset (name, method, summary), for ``--help`` epilogues."""
    width = max(map(len, PRESETS))
    lines = (textwrap.fill(f"{p.name:<{width}}  --method {p.method}: {p.summary}", 100, initial_indent="  ",
                           subsequent_indent=" " * (width + 4)) for p in PRESETS.values())
    return "\n".join(lines)


def default_preset(method: str) -> Preset:
    """The preset a method runs when no weights are given (the first preset of that method)."""
    for preset in PRESETS.values():
        if preset.method == method:
            return preset
    raise ValueError(f"no shipped weights for method {method!r}; methods with presets: "
                     f"{', '.join(sorted({p.method for p in PRESETS.values()}))}")


def checkpoints_dir() -> Path:
    """The folder holding the shipped weights folders (``kind/``, ``zero_dce/``, ...).

    ``kind_tf/_checkpoints`` inside the installed package when it exists (a wheel), else the checkout's
    top-level ``checkpoints/`` beside the package (a source checkout or an editable install, where the
    package directory is the checkout's ``kind_tf/`` and has no ``_checkpoints``).
    """
    installed = resources.files("kind_tf") / "_checkpoints"
    if installed.is_dir():
        # A wheel installs as plain files, so the Traversable is a real path (a zipped install would not be,
        # and is not supported: Keras loads .weights.h5 files by file name).
        return Path(str(installed))
    return Path(__file__).resolve().parents[1] / "checkpoints"


def preset_dir(name: str) -> Path:
    """The shipped folder of preset ``name``; :class:`UnknownPresetError` (one line listing them) otherwise."""
    try:
        preset = PRESETS[name]
    except KeyError:
        raise UnknownPresetError(name) from None
    return checkpoints_dir() / preset.folder


def resolve_weights(weights: str | os.PathLike) -> Path:
    """``--weights`` / :func:`kind_tf.load`'s argument as a folder: a preset name, or a path as given.

    An existing path wins over a preset of the same name (a folder the user made and named is what they
    mean). A bare name (no path separator) that is neither a
    preset nor an existing path raises :class:`UnknownPresetError`, so a misspelt preset gets the list of
    presets rather than "no weights found"; a path with a separator is returned as given, and the caller's
    own "no weights at PATH" message applies.
    """
    text = os.fspath(weights)
    if Path(text).exists():
        return Path(text)
    if text in PRESETS:
        return preset_dir(text)
    separators = {os.sep, os.altsep or os.sep}
    if not any(sep in text for sep in separators):
        raise UnknownPresetError(text)
    return Path(text)


def preset_of(weights: str | os.PathLike) -> Preset | None:
    """The preset a ``--weights`` value names (None for a path), so the command line can pick its method."""
    text = os.fspath(weights)
    return None if Path(text).exists() else PRESETS.get(text)
