"""The optimiser of a stage recipe: Keras Adam (KinD), or PyTorch's Adam + clip_grad_norm_ (Zero-DCE++).

KinD's recipe is TF1's ``tf.train.AdamOptimizer``: :class:`keras.optimizers.Adam` with ε = 1e-8.

Zero-DCE++'s ``lowlight_train.py`` does, every step::

    loss.backward()
    torch.nn.utils.clip_grad_norm(net.parameters(), 0.1)                 # global norm over ALL parameters
    torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=1e-4).step()

:class:`TorchAdam` reproduces that order and arithmetic:

1. **Global-norm clipping**, torch's formula: ``n = ‖(g_1, …, g_k)‖₂`` over every gradient;
   ``c = max_norm / (n + 1e-6)``; the gradients are multiplied by ``c`` when ``c < 1``. (Keras'
   ``global_clipnorm`` has no 1e-6 and, under a ``tf.distribute`` strategy, clips each replica's
   partial gradient; here ``n`` is the norm of the all-reduced gradient, so distributed runs clip
   the same gradient as a single device.)
2. **Weight decay as L2 in the gradient** (torch.optim.Adam's ``weight_decay``: ``g ← g + λ·θ``,
   applied after the clipping, inside the optimiser step), NOT decoupled AdamW decay (Keras'
   ``weight_decay`` argument, ``θ ← θ − lr·λ·θ``). The decay therefore passes through Adam's
   normalisation: it is not ``lr·λ·θ``.
3. **Adam** as torch 1.0.0 (the version the original's README names): ``m ← β₁m + (1−β₁)g``,
   ``v ← β₂v + (1−β₂)g²``, ``θ ← θ − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε)`` — which is exactly Keras'
   Adam update (ε outside the bias correction), reused as is. Later torch releases divide √v by
   √(1−β₂ᵗ) before adding ε; the two differ only where |g| is comparable to ε = 1e-8.

β₁ = 0.9, β₂ = 0.999, ε = 1e-8 are torch's defaults (and the trainer's ADAM_* constants).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kind_tf.training.config import ConfigError, StageRecipe

#: ``torch.nn.utils.clip_grad_norm_``'s guard added to the total norm.
TORCH_CLIP_EPSILON = 1e-6
OPTIMIZERS = ("adam", "torch_adam")


def torch_clip_coefficient(grads: list[Any], max_norm: float) -> Any:
    """``min(max_norm / (‖grads‖₂ + 1e-6), 1)`` as torch's clip_grad_norm_ (float32 scalar).

    In a replica context of a multi-replica strategy the norm is that of the SUM over replicas (the
    gradient the optimiser applies: the trainer scales each replica's loss by 1 / global batch).
    """
    grads = [ops.cast(g, "float32") for g in grads if g is not None]
    if keras.backend.backend() == "tensorflow":   # tf.distribute exists only there
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    total = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))
    return ops.minimum(max_norm / (total + TORCH_CLIP_EPSILON), 1.0)


@keras.saving.register_keras_serializable(package="kind_tf")
class TorchAdam(keras.optimizers.Adam):
    """``torch.optim.Adam(weight_decay=l2)`` after ``clip_grad_norm_(params, clip_global_norm)``.

    See the module docstring for the exact arithmetic. Same slot variables as Keras' Adam (so
    checkpoints look alike); ``amsgrad`` and Keras' own (decoupled) ``weight_decay`` / clipping
    arguments are refused, to leave one meaning of "weight decay" per optimiser.

    Args:
        learning_rate: float or schedule.
        l2_weight_decay: λ of torch's ``weight_decay`` (added to the gradient); 0 disables it.
        clip_global_norm: torch's ``max_norm`` over all gradients; None disables clipping.
        beta_1, beta_2, epsilon: Adam's (torch defaults).
    """

    def __init__(self, learning_rate: Any = 1e-4, l2_weight_decay: float = 0.0,
                 clip_global_norm: float | None = None, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, name: str = "torch_adam", **kwargs: Any) -> None:
        for key in ("amsgrad", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
            if kwargs.get(key):
                raise ValueError(f"TorchAdam does not take {key!r} (use l2_weight_decay / clip_global_norm)")
            kwargs.pop(key, None)
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=False, name=name, **kwargs)
        if l2_weight_decay < 0:
            raise ValueError(f"l2_weight_decay must be ≥ 0, got {l2_weight_decay}")
        if clip_global_norm is not None and not clip_global_norm > 0:
            raise ValueError(f"clip_global_norm must be > 0, got {clip_global_norm}")
        self.l2_weight_decay = float(l2_weight_decay)
        self.clip_global_norm = None if clip_global_norm is None else float(clip_global_norm)

    def apply(self, grads, trainable_variables=None):
        # Runs in the replica context, on this replica's (not yet all-reduced) gradients: scaling them
        # all by the coefficient of the all-reduced gradient clips the sum the update step will see.
        grads = list(grads)
        if self.clip_global_norm is not None and grads:
            coefficient = torch_clip_coefficient(grads, self.clip_global_norm)
            grads = [None if g is None else g * ops.cast(coefficient, g.dtype) for g in grads]
        return super().apply(grads, trainable_variables)

    def update_step(self, gradient, variable, learning_rate):
        # Per variable, after the all-reduce: torch's `grad = grad.add(p, alpha=weight_decay)`.
        if self.l2_weight_decay:
            gradient = ops.cast(gradient, variable.dtype) + ops.cast(self.l2_weight_decay, variable.dtype) * variable
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("amsgrad", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
            config.pop(key, None)
        config.update(l2_weight_decay=self.l2_weight_decay, clip_global_norm=self.clip_global_norm)
        return config


def build_optimizer(recipe: StageRecipe, learning_rate: Any, beta_1: float, beta_2: float,
                    epsilon: float) -> keras.optimizers.Optimizer:
    """The recipe's optimiser: ``adam`` (Keras Adam) or ``torch_adam`` (:class:`TorchAdam`)."""
    if recipe.optimizer == "adam":
        if recipe.weight_decay or recipe.grad_clip_norm is not None:
            raise ConfigError("weight_decay / grad_clip_norm need optimizer 'torch_adam' in the recipe")
        return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    if recipe.optimizer == "torch_adam":
        return TorchAdam(learning_rate=learning_rate, l2_weight_decay=recipe.weight_decay,
                         clip_global_norm=recipe.grad_clip_norm, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    raise ConfigError(f"unknown optimizer {recipe.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")


__all__ = ["TorchAdam", "torch_clip_coefficient", "build_optimizer", "OPTIMIZERS", "TORCH_CLIP_EPSILON"]
