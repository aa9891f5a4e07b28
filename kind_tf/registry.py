"""One name → entry registry, shared by every pluggable kind of thing in kind-tf.

    from kind_tf.registry import Registry
    STAGES = Registry("stage")

    @STAGES.register("decom")              # as a decorator (returns the entry unchanged) ...
    class DecomTask(Task): ...

    STAGES.register("zerodce", ZeroDCETask)   # ... or as a call
    STAGES.get("decom")                    # the entry; UnknownNameError listing the names otherwise
    STAGES.names()                         # ("decom", "zerodce"), registration order

Methods (:mod:`kind_tf.methods`), training stages (``kind_tf.training.tasks.TASKS``), restore backbones
(``RestoreTask.BACKBONES``) and baselines (``kind_tf.baselines.BASELINES``) are each one ``Registry``, so
a new one is added in one place (its own module) and every entry point that lists or looks them up sees
it, with the same one-line error everywhere. The loss registry (:mod:`kind_tf.losses.registry`) has the
same shape (``register``, ``names``, ``get`` raising a ValueError that lists the names) with loss-specific
extras (aliases, name rules, bound parameters).

A Registry also reads like the plain dict it replaces (``reg[name]``, ``name in reg``, ``sorted(reg)``,
``reg.items()``), so code written against the old dicts keeps working. This module imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name that is not registered; its message lists the registered names.

    Both a KeyError (``reg[name]`` behaves like the dict it replaces) and a ValueError (the command lines
    already turn ValueErrors into one ``error:`` line). ``str()`` is the plain message, not KeyError's repr.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Registry(Generic[T]):
    """Name → entry, in registration order.

    Args:
        kind: what an entry is, for messages ("method", "stage", "baseline", ...).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, entry: T, *, overwrite: bool = ...) -> T: ...

    def register(self, name: str, entry: Any = None, *, overwrite: bool = False) -> Any:
        """Add ``entry`` under ``name``; without ``entry``, a decorator that registers what it decorates.

        A name is registered once: a second registration raises ValueError unless ``overwrite`` (so two
        modules cannot silently shadow each other; tests that re-register pass ``overwrite=True``).
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if entry is None:
            def decorator(item: T) -> T:
                self.register(name, item, overwrite=overwrite)
                return item
            return decorator
        if name in self._entries and not overwrite and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests that register a throw-away entry)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry called ``name``; :class:`UnknownNameError` (one line listing the names) otherwise."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(f"unknown {self.kind} {name!r}; expected one of {', '.join(self._entries)}"
                                   ) from None

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order (the first is a default where one is needed)."""
        return tuple(self._entries)

    # --- the dict-like reading the registries replaced ---------------------------------------------
    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self):
        return self._entries.keys()

    def values(self):
        return self._entries.values()

    def items(self):
        return self._entries.items()

    def __setitem__(self, name: str, entry: T) -> None:
        """``reg[name] = entry``: the old dicts' way of adding one (replaces an existing entry)."""
        self.register(name, entry, overwrite=True)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
