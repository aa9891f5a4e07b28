"""KinD++'s three training stages (its decomposition / illumination / restoration scripts), as stages of the
shared trainer: KinD's tasks with KinD++'s losses, recipes and restoration network.

../shared/reference/kindpp_official/RECIPE.md. All three write the run's ``weights_kindpp`` folder (method
``kindpp``, stages decom / adjust / restore), which ``KinDPlusPlus.from_weights`` and ``kind-tf enhance
--method kindpp --weights RUN/weights_kindpp`` load; ``kindpp_illu`` and ``kindpp_restore`` train on the
decompositions of that folder's (frozen) DecomNet, as the original's scripts restore theirs. Differences
from the original, besides the data (the SICE pairs: LOL's ``our485``, ``add_sys`` and ``dark`` are not here):
the illumination stage draws all 8 augmentation modes (the original's ``randint(0, 7)`` never draws mode 7)
and its samples are shuffled like the other stages' (the original visits the maps in sorted order).
"""

from __future__ import annotations

from kind_tf.losses import kindpp as kindpp_losses
from kind_tf.training.config import ConfigError, StageRecipe
from kind_tf.training.tasks.base import TASKS
from kind_tf.training.tasks.kind import AdjustTask, DecomTask, RestoreTask
from kind_tf.weights import KINDPP_RECIPE

WEIGHTS_FOLDER = "weights_kindpp"
RESTORE_NETWORK = "MSIANet"

# RECIPE.md: decom batch 10 / patch 48 / 2500 epochs at 1e-4; illumination 10 / 48 / 2000 epochs at 1e-4;
# restoration 10 / 48 / 2400 epochs, lr 1e-4 → 5e-5 → 2.5e-5 → 1.25e-5 from epoch 301 / 501 / 1501 on
# (its "e ≤ 300: 1e-4" with 0-based epochs e).
RECIPES = {
    "original": {
        "kindpp_decom": StageRecipe(batch_size=10, patch_size=48, epochs=2500),
        "kindpp_illu": StageRecipe(batch_size=10, patch_size=48, epochs=2000),
        "kindpp_restore": StageRecipe(batch_size=10, patch_size=48, epochs=2400, lr_decay_epochs=(301, 501, 1501),
                                      lr_decay_factors=(0.5, 0.25, 0.125)),
    },
    # 2 CPU cores: decom and illumination as KinD's cpu preset (the same networks and patch sizes); the
    # MSIA restoration (~11 MFLOP per pixel, ~14 s per batch of 10 × 48² on an AVX2 core pair) only as a
    # smoke run — its full schedule is for the accelerator (tools/accelerator.py).
    "cpu": {
        "kindpp_decom": StageRecipe(batch_size=10, patch_size=48, steps=5000),
        "kindpp_illu": StageRecipe(batch_size=10, patch_size=48, steps=10000),
        "kindpp_restore": StageRecipe(batch_size=10, patch_size=48, steps=100, lr_decay_fractions=(0.8,),
                                      lr_decay_factors=(0.5,)),
    },
}


def _recipes(name: str) -> dict[str, StageRecipe]:
    return {preset: table[name] for preset, table in RECIPES.items()}


class KinDPPFolder:
    """What the three KinD++ stages share: the run's weights_kindpp folder, method kindpp, and (for a new
    folder) the original evaluate.py's default recipe (fusion without the adjusted illumination)."""

    method = "kindpp"
    weights_folder = WEIGHTS_FOLDER

    def inference_recipe(self):
        return KINDPP_RECIPE


class KinDPPDecomTask(KinDPPFolder, DecomTask):
    """KinD++ stage 1: KinD's DecomNet and decomposition loss with equal_R weighted 0.009."""

    name = "kindpp_decom"
    stage = "decom"
    recipes = _recipes(name)
    decom_loss = staticmethod(kindpp_losses.decom_losses)


class KinDPPIlluminationTask(KinDPPFolder, AdjustTask):
    """KinD++ stage 2 (``I_enhance_Net``): KinD's adjust net and samples, the signed-gradient loss."""

    name = "kindpp_illu"
    stage = "adjust"
    recipes = _recipes(name)
    loss_original = None      # the signed-gradient loss is not a registered (y_true, y_pred) loss
    adjust_loss = staticmethod(kindpp_losses.illumination_losses)


class KinDPPRestoreTask(KinDPPFolder, RestoreTask):
    """KinD++ stage 3: the MSIA restoration net (``Denoise_Net``), MSE + (1 − SSIM) to (0.99·R_high)^1.2, batch
    norm in training mode (batch statistics over the 10 × 48² patches; moving averages updated)."""

    name = "kindpp_restore"
    stage = "restore"
    recipes = _recipes(name)
    loss_original = None
    restore_loss = staticmethod(kindpp_losses.restore_losses)
    target_scale = kindpp_losses.RESTORE_TARGET_SCALE
    target_gamma = kindpp_losses.RESTORE_TARGET_GAMMA

    def prepare(self, context):
        if context.config.backbone not in ("kind", RESTORE_NETWORK):
            raise ConfigError(f"--backbone: the {self.name} stage trains KinD++'s {RESTORE_NETWORK} only")
        self.backbone = (RESTORE_NETWORK, dict(context.config.backbone_config or {}))
        return super(RestoreTask, self).prepare(context)

    def build_model(self):
        self.backbone = getattr(self, "backbone", (RESTORE_NETWORK, {}))
        return super().build_model()


for _task in (KinDPPDecomTask, KinDPPIlluminationTask, KinDPPRestoreTask):
    TASKS.register(_task.name, _task)
del _task
