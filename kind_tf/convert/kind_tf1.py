"""Import the original KinD TF1 (slim) checkpoints into kind-tf's Keras networks.

The checkpoints are read with ``tf.train.load_checkpoint`` (no tf.compat.v1 graph). slim stores a
conv as ``<scope>/<layer>/weights`` [kh, kw, in, out] and ``.../biases``; ``upsample_and_concat``
stores only ``<scope>/<layer>/weights`` [2, 2, out, in] — exactly Keras' Conv2D / Conv2DTranspose
kernel layouts, so the import is a name mapping plus a strict shape check.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kind_tf.models.layers import ConvLReLU, UpsampleAndConcat
from kind_tf.weights import ORIGINAL_RECIPE, WeightsError, build_stage, save_weights

# The variable scope each KinD stage was built under in the original model.py.
TF1_SCOPES = {"decom": "DecomNet", "restore": "Restoration_net", "adjust": "Illumination_adjust_net"}


class CheckpointMismatchError(WeightsError, ValueError):
    """The TF1 checkpoint's variables do not match the network (missing, unexpected or mis-shaped).

    A :class:`kind_tf.weights.WeightsError` (weights that do not fit their network) and, as before, a
    ValueError.
    """


def expected_tf1_variables(model: keras.Model, scope: str) -> dict[str, keras.Variable]:
    """Map each TF1 variable name the original would create to the Keras variable it fills."""
    mapping: dict[str, keras.Variable] = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, ConvLReLU):
            mapping[f"{scope}/{layer.name}/weights"] = layer.conv.kernel
            mapping[f"{scope}/{layer.name}/biases"] = layer.conv.bias
        elif isinstance(layer, UpsampleAndConcat):
            mapping[f"{scope}/{layer.name}/weights"] = layer.deconv.kernel
    return mapping


def load_tf1_checkpoint(model: keras.Model, checkpoint: str | os.PathLike, scope: str,
                        expected: dict[str, keras.Variable] | None = None) -> None:
    """Fill ``model`` from a TF1 checkpoint (a folder with a ``checkpoint`` file, or a ckpt prefix).

    Args:
        scope: the original variable scope; the checkpoint's variables under it must be exactly ``expected``.
        expected: TF1 variable name → Keras variable; default :func:`expected_tf1_variables` (KinD's
            networks). Other importers (kind_tf.convert.kindpp_tf1) pass their own name mapping.

    Raises:
        CheckpointMismatchError: listing every missing, unexpected and mis-shaped variable at once.
    """
    prefix = _checkpoint_prefix(checkpoint)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise CheckpointMismatchError(
            f"{checkpoint}: not a readable TF1 checkpoint ({error.__class__.__name__})") from None
    stored = {name: shape for name, shape in reader.get_variable_to_shape_map().items()
              if name.startswith(scope + "/")}
    if expected is None:
        expected = expected_tf1_variables(model, scope)
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    misshaped = sorted(f"{name} {list(stored[name])} (expected {list(expected[name].shape)})"
                       for name in set(expected) & set(stored)
                       if tuple(stored[name]) != tuple(expected[name].shape))
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    if misshaped:
        problems.append(f"mis-shaped {misshaped}")
    if problems:
        raise CheckpointMismatchError(f"{checkpoint}: checkpoint does not match {scope}: " + "; ".join(problems))
    for name, variable in expected.items():
        variable.assign(reader.get_tensor(name).astype(np.float32))


def _checkpoint_prefix(checkpoint: str | os.PathLike) -> str:
    path = Path(checkpoint)
    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest is None:
            candidates = sorted(path.glob("*.index"))
            if not candidates:
                raise CheckpointMismatchError(f"{checkpoint}: no TF1 checkpoint (*.index) in this folder")
            latest = str(candidates[0])[: -len(".index")]
        return latest
    if not Path(str(path) + ".index").exists():
        raise CheckpointMismatchError(f"{checkpoint}: no such checkpoint ({path}.index not found)")
    return str(path)


def convert_kind_tf1(out_dir: str | os.PathLike, decom: str | os.PathLike | None = None,
                     adjust: str | os.PathLike | None = None,
                     restore: str | os.PathLike | None = None) -> Path:
    """Convert whichever original TF1 stage checkpoints are given into a kind-tf weights folder."""
    sources = {"decom": decom, "restore": restore, "adjust": adjust}
    models = {}
    for stage, checkpoint in sources.items():
        if checkpoint is None:
            continue
        model = build_stage(stage)
        load_tf1_checkpoint(model, checkpoint, TF1_SCOPES[stage])
        models[stage] = model
    if not models:
        raise ValueError("give at least one of --decom, --adjust, --restore")
    provenance = {stage: f"converted from TF1 checkpoint {Path(src).resolve()}"
                  for stage, src in sources.items() if src is not None}
    # Converted originals run as the original evaluate.py.
    out = save_weights(out_dir, models, {"source": provenance}, method="kind", recipe=ORIGINAL_RECIPE)
    return out
