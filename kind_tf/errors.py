"""Exceptions that several layers of kind-tf raise, in a module that imports nothing.

:class:`WeightsError` is defined here, not in :mod:`kind_tf.weights` (which re-exports it), so that code
below the networks — the perceptual loss, when its VGG weights are missing — can raise it without
importing the networks: ``kind_tf.models`` may import ``kind_tf.losses``, never the reverse.
"""

from __future__ import annotations


class WeightsError(RuntimeError):
    """A weights folder or file is missing, incomplete or does not fit the network it describes."""


def one_line(error: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (Keras' load errors run to dozens of lines), shortened."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0].strip()
    if first.endswith(":"):
        first = first[:-1]
    return first if len(first) <= limit else first[: limit - 1] + "…"


__all__ = ["WeightsError", "one_line"]
