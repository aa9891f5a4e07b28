"""Exceptions that several layers of kind-tf raise, in a module that imports nothing.

:class:`WeightsError` is defined here, not in :mod:`kind_tf.weights` (which re-exports it), so that code
below the networks — the perceptual loss, when its VGG weights are missing — can raise it without
importing the networks: ``kind_tf.models`` may import ``kind_tf.losses``, never the reverse.
"""

from __future__ import annotations


class WeightsError(RuntimeError):
    """A weights folder or file is missing, incomplete or does not fit the network it describes."""


__all__ = ["WeightsError"]
