"""Enhancement methods as registered entries: a method is one :class:`Method` in :data:`METHODS`.

    from kind_tf import methods
    methods.names()                        # ("kind", "zerodce", "kindpp"), the default first
    method = methods.get("kind")           # one-line UnknownNameError listing the names otherwise
    pipeline = method.load(folder, precision="bfloat16")    # has .enhance(image, ratio=..., ...)
    methods.detect(folder)                 # the method a weights folder is for (its config.json says)

Every entry point (``kind-tf enhance --method``, ``evaluate --method``, ``export <method>``,
``convert <importer>``, :func:`kind_tf.load`) takes its choices from this registry and names no method
itself, so a method is added in one module of its own (:mod:`kind_tf.methods.kind`, ``zero_dce``,
``kindpp``, or a module outside kind-tf) that calls :func:`register`. Those modules import nothing heavy
at import time (the pipelines load inside ``load``), so ``import kind_tf.methods`` stays cheap enough for
``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kind_tf.errors import WeightsError
from kind_tf.registry import Registry, UnknownNameError

__all__ = ["METHODS", "Exporter", "Importer", "Method", "UnknownNameError", "detect", "get", "names", "register"]


@dataclass(frozen=True)
class Importer:
    """A ``kind-tf convert NAME`` sub-command: original weights → a kind-tf weights folder.

    Attributes:
        help: one line for ``convert --help``.
        add_arguments: adds the sub-command's own arguments to its parser.
        run: ``run(args)`` → the folder written (raises ValueError/OSError/RuntimeError for user errors).
        needs_tensorflow: what needs TensorFlow (for the one-line error on another backend), or None.
    """

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Any]
    needs_tensorflow: str | None = None


@dataclass(frozen=True)
class Exporter:
    """A ``kind-tf export NAME`` sub-command over a method's weights folder.

    Attributes:
        help: one line for ``export --help``.
        add_arguments: the sub-command's arguments besides ``--weights`` (which the entry point adds).
        run: ``run(args, weights_dir)`` → what it wrote, as text for the ``wrote ...`` line.
        needs_tensorflow: what needs TensorFlow (SavedModel/TFLite do), or None for a backend-free export.
    """

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Path], Any]
    needs_tensorflow: str | None = "SavedModel / TFLite export"


@dataclass(frozen=True)
class Method:
    """One enhancement method: how to load it, train it, import, export and recognise its weights.

    Attributes:
        name: what users type (``--method NAME``).
        description: one line for listings.
        loader: ``loader(weights_dir, **options)`` → a pipeline with ``enhance(image, ratio=...,
            return_intermediates=...)``; called through :meth:`load`, which passes only ``options``.
        label: the name shown in messages ("KinD", "Zero-DCE++").
        options: the keyword options ``loader`` takes (of enhance's: ``precision``, ``jit``, ``ratio``,
            ``fusion``, ``normalize``, ...); :meth:`load` drops the others, so one entry point can offer
            every method the same flags.
        stages: the training stages (``kind_tf.training.tasks.TASKS`` names) that produce its weights.
        backbones: ``train.py --backbone`` name → network class name, for stages with a choice of network.
        importers: ``kind-tf convert`` sub-command name → :class:`Importer`.
        exports: ``kind-tf export`` sub-command name → :class:`Exporter` (the method's own under its name;
            empty: no export).
        accepts_ratio: whether ``enhance(..., ratio=)`` means something (evaluate's ratio protocols).
        missing_weights: enhance's ``error:`` text when a weights folder has no config.json (``{path}``
            filled in): where to get such weights.
        weights_hint: the same advice in a few words, for evaluate's "no NAME weights found; HINT" line.
    """

    name: str
    description: str
    loader: Callable[..., Any]
    label: str = ""
    options: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    backbones: Mapping[str, str] = field(default_factory=dict)
    importers: Mapping[str, Importer] = field(default_factory=dict)
    exports: Mapping[str, Exporter] = field(default_factory=dict)
    accepts_ratio: bool = False
    missing_weights: str = ""
    weights_hint: str = "pass --weights DIR"

    @property
    def title(self) -> str:
        return self.label or self.name

    @property
    def presets(self) -> tuple[str, ...]:
        """The shipped presets (:mod:`kind_tf.presets`) that run this method, its default first."""
        from kind_tf.presets import PRESETS

        return tuple(preset.name for preset in PRESETS.values() if preset.method == self.name)

    @property
    def export(self) -> Exporter | None:
        """The method's own export (``kind-tf export NAME``), or None."""
        return self.exports.get(self.name)

    def load(self, weights_dir: str | os.PathLike, **options: Any) -> Any:
        """The pipeline for ``weights_dir``, with the ``options`` this method takes (the rest are ignored)."""
        accepted = {key: value for key, value in options.items() if key in self.options}
        return self.loader(Path(weights_dir), **accepted)

    def missing_weights_message(self, path: str | os.PathLike) -> str:
        return (self.missing_weights or f"no {self.title} weights found at {{path}} (no config.json)").format(
            path=path)


METHODS: Registry[Method] = Registry("method")


def register(method: Method, *, overwrite: bool = False) -> Method:
    """Add ``method`` under its name; also checks that its stages and importers do not clash with others'."""
    for other in METHODS.values():
        if other.name == method.name:
            continue
        clash = set(other.importers) & set(method.importers) or set(other.exports) & set(method.exports)
        if clash:
            raise ValueError(f"method {method.name!r}: {', '.join(sorted(clash))} already belongs to {other.name!r}")
    return METHODS.register(method.name, method, overwrite=overwrite)


def get(name: str) -> Method:
    """The method ``name``; :class:`UnknownNameError` (a ValueError, one line listing them) otherwise."""
    return METHODS.get(name)


def names() -> tuple[str, ...]:
    """The registered methods, the default (the first registered) first."""
    return METHODS.names()


def importers() -> dict[str, Importer]:
    """Every registered method's importers: ``kind-tf convert``'s sub-commands."""
    return {name: importer for method in METHODS.values() for name, importer in method.importers.items()}


def stages() -> tuple[str, ...]:
    """Every registered method's training stages (``train.py --stage`` choices), in registration order."""
    return tuple(dict.fromkeys(stage for method in METHODS.values() for stage in method.stages))


def backbones() -> tuple[str, ...]:
    """Every registered method's backbone names (``train.py --backbone`` choices)."""
    return tuple(dict.fromkeys(name for method in METHODS.values() for name in method.backbones))


def exports() -> dict[str, tuple[Method, Exporter]]:
    """Every registered export sub-command → (its method, the exporter): ``kind-tf export``'s sub-commands."""
    return {name: (method, exporter) for method in METHODS.values() for name, exporter in method.exports.items()}


def detect(weights_dir: str | os.PathLike) -> Method:
    """The method a weights folder is for: its config.json's ``method`` (:mod:`kind_tf.weights_config`).

    So ``--weights DIR`` alone runs the right method (a converted KinD++ folder runs KinD++). Raises
    ValueError (one line) when the folder has no readable config.json or names a method that is not
    registered.
    """
    from kind_tf.weights_config import read_method

    try:
        name = read_method(weights_dir)
    except WeightsError as error:
        raise ValueError(str(error)) from None
    if name not in METHODS:
        raise ValueError(f"{weights_dir}: its weights are for method {name!r}, which is not registered "
                         f"(methods: {', '.join(names())})")
    return METHODS.get(name)


# The library's methods, each registered in its own module (registration order = listing order; the
# first is the default, so the order here is meaningful). Imported last: they use the names above.
for _module in ("kind", "zero_dce", "kindpp"):
    importlib.import_module(f"kind_tf.methods.{_module}")
del _module
