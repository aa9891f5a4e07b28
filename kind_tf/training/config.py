"""Typed training configuration (saved with every run) and the recipe type of a stage.

The recipes themselves live with their stages (``Task.recipes``: preset name → :class:`StageRecipe`, in
each method's task module, kind_tf.training.tasks.*): ``original`` is the paper's code's schedule, ``cpu``
a short one for a 2-core CPU. :data:`PRESETS` is the same table seen per preset (``PRESETS["cpu"]["decom"]``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A user-facing problem with the training options (one line)."""


@dataclass(frozen=True)
class StageRecipe:
    """Batch, patch and schedule of one stage.

    Args:
        batch_size: global batch (samples per optimisation step over all replicas).
        patch_size: square training patch side in pixels.
        epochs: run length in epochs of ``len(pairs) // batch_size`` steps (original scripts), or
        steps: run length in steps (takes precedence when set).
        lr: base Adam learning rate.
        lr_decay_epochs: epoch boundaries after which the lr is multiplied by ``lr_decay_factors``.
        lr_decay_fractions: the same boundaries as fractions of the run's total steps (what
            ``--steps`` turns a preset's epoch boundaries into; ``--epochs`` keeps them in epochs).
        lr_decay_factors: the lr multiplier from each boundary on (relative to ``lr``).
        optimizer: ``adam`` (Keras Adam, TF1's AdamOptimizer: KinD) or ``torch_adam``
            (torch.optim.Adam after clip_grad_norm_: Zero-DCE++; kind_tf.training.optimizers).
        weight_decay: torch_adam's L2 weight decay λ, added to the gradient (NOT decoupled / AdamW).
        grad_clip_norm: torch_adam's global-norm gradient clipping (max norm); None: no clipping.
        scale_factor: ``zerodce`` only: DCE-Net's downsampling factor while training (the original
            trains at 1; inference uses 12). The losses always see the full-resolution images.

    For the ``zerodce`` stage ``patch_size`` is the side every training image is resized to
    (no crop: the original resizes whole images to 512×512).
    """

    batch_size: int
    patch_size: int
    epochs: int | None = None
    steps: int | None = None
    lr: float = 1e-4
    lr_decay_epochs: tuple[int, ...] = ()
    lr_decay_fractions: tuple[float, ...] = ()
    lr_decay_factors: tuple[float, ...] = ()
    optimizer: str = "adam"
    weight_decay: float = 0.0
    grad_clip_norm: float | None = None
    scale_factor: int = 1


def presets() -> dict[str, dict[str, StageRecipe]]:
    """preset → stage → recipe, over every registered stage (kind_tf.training.tasks.TASKS)."""
    from kind_tf.training.tasks import TASKS

    table: dict[str, dict[str, StageRecipe]] = {}
    for stage, task in TASKS.items():
        for preset, recipe in task.recipes.items():
            table.setdefault(preset, {})[stage] = recipe
    return table


def __getattr__(name: str) -> Any:
    # PRESETS is computed on use (the stages register when kind_tf.training.tasks is imported, which
    # imports this module), so a stage registered later is in it too.
    if name == "PRESETS":
        return presets()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class TrainConfig:
    """Everything one ``train.py`` invocation needs. ``None`` fields take the preset's value."""

    stage: str
    data: str
    run_dir: str = "runs/kind"
    eval_data: str | None = None
    preset: str = "original"
    steps: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    patch_size: int | None = None
    lr: float | None = None
    scale_factor: int | None = None
    seed: int = 0
    strategy: str = "auto"
    mixed_precision: bool = False
    jit: bool = False
    decom_weights: str | None = None
    init_weights: str | None = None   # fine-tune: a weights folder whose stage weights start a fresh run
    degrade: str | None = None        # restore: degraded copies of the low images (kind_tf.data.degrade)
    loss: str | None = None         # --loss SPEC (kind_tf.losses.parse_spec); None / "original": the recipe's
    backbone: str = "kind"          # restore stage network: "kind" (RestorationNet) or "improved_unet"
    command: str | None = None      # the command line that started the run (recorded in the weights' provenance)
    backbone_config: dict | None = None   # constructor arguments of the backbone (e.g. {"fpn": false})
    save_every: int = 500
    log_every: int = 10
    eval_every: int = 500
    image_every: int | None = None
    eval_images: int = 4
    eval_size: int = 256
    eval_ratios: tuple[float, ...] = (1.0, 3.0, 5.0)
    keep_checkpoints: int = 3
    progress: bool = True
    # Stop (saving a checkpoint, status "time_limit") once this many seconds of training have passed:
    # runs on a machine lent for minutes at a time, resumed by re-running the same command.
    time_limit: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def recipe(self) -> StageRecipe:
        """The preset's recipe of this stage with the command-line overrides applied."""
        from kind_tf.training.tasks import TASKS, preset_names

        if self.stage not in TASKS:
            raise ConfigError(f"unknown stage {self.stage!r}; expected one of {', '.join(TASKS.names())}")
        recipes = TASKS[self.stage].recipes
        if self.preset not in recipes:
            known = preset_names()
            problem = (f"the {self.stage} stage has no {self.preset!r} recipe" if self.preset in known
                       else f"unknown preset {self.preset!r}")
            raise ConfigError(f"{problem}; expected one of {', '.join(recipes) or 'none'}")
        recipe = recipes[self.preset]
        overrides = {}
        if self.batch_size is not None:
            overrides["batch_size"] = self.batch_size
        if self.patch_size is not None:
            overrides["patch_size"] = self.patch_size
        if self.lr is not None:
            overrides["lr"] = self.lr
        if self.scale_factor is not None:
            overrides["scale_factor"] = self.scale_factor
        if self.steps is not None:
            overrides.update(steps=self.steps, epochs=None)
            if recipe.lr_decay_epochs and recipe.epochs:
                # Epoch boundaries are meaningless for a run measured in steps (restore's "÷2 after epoch
                # 800" is step 68,800 on SICE: a shorter run would never decay). Keep the schedule's
                # shape instead: the same boundaries as fractions of the run (800 / 1000 → 80 %).
                overrides.update(lr_decay_epochs=(), lr_decay_fractions=tuple(
                    epoch / recipe.epochs for epoch in recipe.lr_decay_epochs))
        elif self.epochs is not None:
            overrides.update(epochs=self.epochs, steps=None)
        recipe = dataclasses.replace(recipe, **overrides)
        for name in ("batch_size", "patch_size", "scale_factor"):
            if getattr(recipe, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(recipe, name)}")
        if recipe.steps is not None and recipe.steps < 1 or recipe.epochs is not None and recipe.epochs < 1:
            raise ConfigError("--steps / --epochs must be ≥ 1")
        if not recipe.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {recipe.lr}")
        for name in ("save_every", "log_every", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be ≥ 1")
        return recipe

    def to_json(self) -> dict[str, Any]:
        payload = dataclasses.asdict(self)
        payload["recipe"] = dataclasses.asdict(self.recipe())
        return payload

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True, default=str) + "\n")
