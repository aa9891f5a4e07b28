"""Import the original KinD++ TF1 checkpoints (github.com/zhangyhuaee/KinD_plus) into kind-tf's networks.

KinD++ ships a DecomNet and an illumination-adjustment checkpoint (its restoration net was never
released; ``--restore`` takes one trained or filled elsewhere, e.g. ../shared/reference/kindpp_official/
restoration_random). Two of its three networks are KinD's: the DecomNet has KinD's code, names and
shapes (other weights), the adjust net is KinD's ``Illumination_adjust_net`` under other names
(``I_enhance_Net/conv_k`` for ``Illumination_adjust_net/en_conv_k``). The restoration net
(``Denoise_Net``) is :class:`kind_tf.models.MSIANet`, whose layers carry the original scopes, so the
import is again a name mapping plus the strict check of :func:`kind_tf.convert.kind_tf1.load_tf1_checkpoint`
(every missing, unexpected and mis-shaped variable in one :class:`kind_tf.weights.WeightsError`).

Variable layouts: slim convs store ``weights`` [kh, kw, in, out] and ``biases``; slim.conv2d_transpose
stores [2, 2, out, in] (= :class:`kind_tf.models.msia_net.UpConvReLU`'s kernel); the attention conv is a
``tf.layers.conv2d`` without bias (``conv/kernel``); batch norm is ``tf.layers.batch_normalization``
(``gamma``, ``beta``, ``moving_mean``, ``moving_variance``; the moving statistics are what inference uses).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from kind_tf.convert.kind_tf1 import expected_tf1_variables, load_tf1_checkpoint
from kind_tf.models import DecomNet, IlluminationAdjustNet, MSIANet
from kind_tf.weights import KINDPP_RECIPE, build_stage, save_weights

# The variable scope each stage was built under in KinD++'s model.py (kind-tf stage → scope).
TF1_SCOPES = {"decom": "DecomNet", "restore": "Denoise_Net", "adjust": "I_enhance_Net"}


def expected_illumination_variables(model: IlluminationAdjustNet) -> dict[str, keras.Variable]:
    """KinD's adjust net under KinD++'s names: ``I_enhance_Net/conv_k`` fills layer ``en_conv_k``."""
    scope = TF1_SCOPES["adjust"]
    return {name.replace(f"{scope}/en_conv_", f"{scope}/conv_"): variable
            for name, variable in expected_tf1_variables(model, scope).items()}


def expected_msia_variables(model: MSIANet) -> dict[str, keras.Variable]:
    """Each ``Denoise_Net/...`` variable of the original Restoration_net → the MSIANet variable it fills."""
    scope = TF1_SCOPES["restore"]
    mapping = expected_tf1_variables(model, scope)   # the chain's slim convs de_conv1_1 … de_conv10
    for msia in model.msia_modules:
        mapping[f"{scope}/{msia.name}/conv/kernel"] = msia.conv.kernel
        for branch in msia.branches:
            prefix = f"{scope}/{branch.name}"
            mapping[f"{prefix}/pu_conv/weights"] = branch.pu_conv.kernel
            mapping[f"{prefix}/pu_conv/biases"] = branch.pu_conv.bias
            norm = branch.batch_normalization
            for name in ("gamma", "beta", "moving_mean", "moving_variance"):
                mapping[f"{prefix}/batch_normalization/{name}"] = getattr(norm, name)
            for up in branch.ups:
                mapping[f"{prefix}/{up.name}/weights"] = up.kernel
                mapping[f"{prefix}/{up.name}/biases"] = up.bias
        fusion = msia.multi_scale_feature
        mapping[f"{scope}/{fusion.name}/weights"] = fusion.kernel
        mapping[f"{scope}/{fusion.name}/biases"] = fusion.bias
    return mapping


def load_kindpp_stage(stage: str, checkpoint: str | os.PathLike) -> keras.Model:
    """The kind-tf network of ``stage`` ("decom", "restore", "adjust") filled from a KinD++ TF1 checkpoint.

    Raises:
        kind_tf.convert.CheckpointMismatchError (a WeightsError): every missing, unexpected and
            mis-shaped variable at once.
    """
    model = build_stage(stage, {"decom": "DecomNet", "restore": "MSIANet", "adjust": "IlluminationAdjustNet"}[stage])
    if isinstance(model, DecomNet):
        expected = expected_tf1_variables(model, TF1_SCOPES[stage])
    elif isinstance(model, MSIANet):
        expected = expected_msia_variables(model)
    else:
        expected = expected_illumination_variables(model)
    load_tf1_checkpoint(model, checkpoint, TF1_SCOPES[stage], expected=expected)
    return model


def convert_kindpp_tf1(out_dir: str | os.PathLike, decom: str | os.PathLike, illu: str | os.PathLike,
                       restore: str | os.PathLike | None = None) -> Path:
    """Convert KinD++'s TF1 checkpoints into a kind-tf weights folder run by :class:`kind_tf.kindpp.KinDPlusPlus`.

    Args:
        decom, illu: folders (or ckpt prefixes) of the released DecomNet and illumination checkpoints.
        restore: a ``Denoise_Net`` checkpoint (none was released; without it the pipeline uses R_low).

    The folder's recipe is the original evaluate.py's default run (:data:`kind_tf.weights.KINDPP_RECIPE`:
    fusion with the input, without the adjusted illumination, ratio 5 for the adjusted variant).
    """
    sources = {"decom": decom, "restore": restore, "adjust": illu}
    models = {stage: load_kindpp_stage(stage, checkpoint) for stage, checkpoint in sources.items()
              if checkpoint is not None}
    provenance = {stage: f"converted from KinD++ TF1 checkpoint {Path(src).resolve()}"
                  for stage, src in sources.items() if src is not None}
    out = save_weights(out_dir, models, {"source": provenance}, method="kindpp", recipe=KINDPP_RECIPE)
    return out
