"""Zero-DCE++'s training stage (``--stage zerodce``): its lowlight_train.py on a folder of unpaired images."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kind_tf.data.unpaired import (
    find_images,
    load_images,
    load_training_images,
    to_float,
    unpaired_dataset,
    unpaired_sample,
)
from kind_tf.image_ops import Tensor
from kind_tf.losses.zero_reference import EXPOSURE_PATCH_SIZE, zero_dce_loss_terms
from kind_tf.models.zero_dce import INFERENCE_SCALE_FACTOR, ZeroDCEPlusPlus, apply_curve
from kind_tf.training.config import ConfigError, StageRecipe
from kind_tf.training.tasks.base import TASKS, EvalResult, MeanScores, Task, image_row, stack_rows
from kind_tf.weights import WeightsError

RECIPES = {
    # Zero-DCE++ lowlight_train.py: images resized to 512, batch 8, 100 epochs, Adam lr 1e-4 with
    # torch weight_decay 1e-4 (L2) and clip_grad_norm 0.1 (scale_factor 1 while training).
    "original": StageRecipe(batch_size=8, patch_size=512, epochs=100, lr=1e-4, optimizer="torch_adam",
                            weight_decay=1e-4, grad_clip_norm=0.1),
    # The original's losses, optimiser, lr, batch and 512-px images, with DCE-Net run on the image
    # downsampled 12× (--scale-factor 12: what it sees at inference; the losses stay at 512 px), 750
    # steps (≈ 7 epochs; 1.9 steps/s, ≈ 7 min on 2 CPU cores). The original's scale factor 1 at 512
    # runs at 0.05 steps/s there. Measured on the 59 SICE eval pairs (checkpoints/zero_dce/README.md):
    # the output brightens steadily with steps (mean 0.27 at 125 → 0.51 at 1000; ground truth
    # 0.475), PSNR peaks at 750 (17.08 dB; official Epoch99 15.55). The former 128-px / 3000-step
    # preset scored 14.71 dB (too dark: 0.31).
    "cpu": StageRecipe(batch_size=8, patch_size=512, steps=750, lr=1e-4, optimizer="torch_adam",
                       weight_decay=1e-4, grad_clip_norm=0.1, scale_factor=12),
}


class ZeroDCETask(Task):
    """Zero-DCE++ (lowlight_train.py) on unpaired images: DCE-Net at the recipe's scale_factor (the
    original: 1), zero-reference loss on the full-resolution images.

    Inputs: every image under ``--data`` resized to ``recipe.patch_size``² (512 in the original
    recipe; kind_tf.data.unpaired), batches ``{"images": [b, S, S, 3]}``, no augmentation.
    Loss: :func:`kind_tf.losses.zero_reference.zero_dce_loss_terms` with the original weights
    (1600·L_TV + L_spa + 5·L_col + 10·L_exp). Initialisation: PyTorch's default for Conv2d
    (the original's ``weights_init`` is commented out). Optimiser: the recipe's ``torch_adam``.
    Evaluation (TensorBoard): the loss terms and brightness of the first ``--eval-images`` images of
    ``--eval-data`` (any folder of images) or, without it, of the training folder, downscaled to
    ``--eval-size``; image summary ``input | enhanced | curve map`` with the curve map A shown as
    ``(1 − A) / 2`` (white: strongest brightening, mid-grey: identity, black: darkening).
    Export: ``RUN/weights_zero_dce`` (:mod:`kind_tf.weights`, method ``zerodce``) with the recipe
    ``scale_factor`` 12 (the original's inference setting), i.e. what ``load_zero_dce`` /
    ``enhance.py --method zerodce --weights DIR`` load.
    """

    name = "zerodce"
    method = "zerodce"
    weights_folder = "weights_zero_dce"
    recipes = RECIPES

    def __init__(self):
        super().__init__()
        self.images: np.ndarray | None = None      # [N, S, S, 3] uint8, resized training images
        self.seed = 0
        self.scale_factor = 1

    def prepare(self, context):
        self.configure_loss(getattr(context.config, "loss", None))
        size = context.recipe.patch_size
        if size < EXPOSURE_PATCH_SIZE:
            raise ConfigError(f"--patch-size {size}: Zero-DCE++ trains on whole images resized to that side, "
                              f"which must be ≥ {EXPOSURE_PATCH_SIZE} (the exposure loss's patch)")
        self.seed = context.config.seed
        self.scale_factor = context.recipe.scale_factor
        self.images = load_training_images(
            context.config.data, size,
            progress=lambda items: context.progress(items, desc=f"reading training images (resized to {size})"))
        config = context.config
        if config.eval_images > 0:
            root = config.eval_data or config.data
            paths = find_images(root)[: config.eval_images]
            # (input, no reference): Zero-DCE++ has no target; the trainer evaluates while eval_pairs is non-empty.
            self.eval_pairs = [(image, None) for image in
                               load_images(paths, max_side=config.eval_size, root=root)]
        return len(self.images)

    def build_model(self) -> keras.Model:
        model = ZeroDCEPlusPlus(scale_factor=self.scale_factor)
        model.build((None, None, None, 3))
        torch_default_init(model, np.random.default_rng(self.seed))
        return model

    def sample_fn(self, sampling):
        return unpaired_sample(self.images, sampling)

    def build_inputs(self, sampling, *, start_step, total_steps, replica_batch, first_replica=0,
                     local_replicas=1):
        return unpaired_dataset(self.images, sampling, start_step=start_step, total_steps=total_steps,
                                replica_batch=replica_batch, first_replica=first_replica,
                                local_replicas=local_replicas)

    @staticmethod
    def forward(model: keras.Model, images: Tensor, training: bool = False) -> tuple[Tensor, Tensor]:
        """(enhanced, A), both float32. Under mixed precision DCE-Net runs in the compute dtype but the
        curve iterations are redone in float32 (as the losses and the inference path use them)."""
        images = ops.cast(images, "float32")
        enhanced, curve = model(images, training=training, return_curve=True)
        if enhanced.dtype != images.dtype:
            curve = ops.cast(curve, "float32")
            enhanced = apply_curve(images, curve, model.iterations)
        return enhanced, curve

    def compute_losses(self, model, batch, training=True):
        images = batch["images"]
        enhanced, curve = self.forward(model, images, training=training)
        terms = zero_dce_loss_terms(images, enhanced, curve)
        # Every term of the original is a mean over the batch of per-image values of equal weight, so
        # the batch mean repeated per example is exact: the trainer's compute_average_loss (sum / global
        # batch) then gives this replica's share, and the replicas' sum is the global batch's mean.
        zeros = ops.zeros_like(ops.mean(images, axis=(1, 2, 3)))   # [rows]
        return {name: zeros + value for name, value in terms.items()}

    def evaluate(self, model, ratios):
        result = EvalResult()
        scores = MeanScores()
        rows = []
        for image, _ in self.eval_pairs:
            images = ops.convert_to_tensor(to_float(image[None]))
            enhanced, curve = self.forward(model, images)
            terms = zero_dce_loss_terms(images, enhanced, curve)
            for name, value in terms.items():
                scores.add(f"loss/{name}", value)
            clipped = ops.clip(enhanced, 0.0, 1.0)
            scores.add("brightness/input", ops.mean(images))
            scores.add("brightness/enhanced", ops.mean(clipped))
            rows.append(image_row(images, clipped, (1.0 - curve) / 2.0))
        result.metrics = scores.means()
        if rows:
            result.images = {"zerodce/input|enhanced|curve_map": stack_rows(rows)}
        return result

    def initialize(self, model, weights_dir):
        from kind_tf.convert.zero_dce_pth import load_zero_dce

        try:
            source = load_zero_dce(weights_dir)
        except (WeightsError, OSError, ValueError) as error:
            raise ConfigError(f"--init-weights: {error}") from None
        model.set_weights(source.get_weights())

    def inference_recipe(self):
        return {"scale_factor": INFERENCE_SCALE_FACTOR}


def torch_default_init(model: keras.Model, rng: np.random.Generator) -> None:
    """PyTorch's default ``nn.Conv2d`` initialisation for every conv of a built ZeroDCEPlusPlus.

    ``kaiming_uniform_(a=√5)`` for the weight and U(−b, b) for the bias, both with
    ``b = 1/√fan_in``, ``fan_in = in_channels / groups · kh · kw`` (9 for DCE-Net's depthwise 3×3,
    ``in_channels`` for its pointwise 1×1). Values are drawn in the Keras layout from ``rng``.
    """
    for block in model.blocks:
        for conv in (block.depth_conv, block.point_conv):
            kh, kw, channels_in = conv.kernel.shape[:3]
            # Depthwise (groups = in_channels): torch weight [in·m, 1, kh, kw], fan_in = kh·kw.
            fan_in = kh * kw * (1 if isinstance(conv, keras.layers.DepthwiseConv2D) else channels_in)
            bound = 1.0 / np.sqrt(fan_in)
            for variable in (conv.kernel, conv.bias):
                variable.assign(rng.uniform(-bound, bound, size=tuple(variable.shape)).astype(np.float32))




TASKS.register(ZeroDCETask.name, ZeroDCETask)
