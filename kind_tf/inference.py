"""The KinD inference pipeline: decompose → restore reflectance → adjust illumination → fuse.

Exactly the original evaluate.py (see ../shared/reference/kind_official/TRAINING.md, Inference):

    R_low, I_low = DecomNet(x)                              x: per-image min-max normalised input
    R_restored   = RestorationNet(R_low, I_low)
    I_adjusted   = IlluminationAdjustNet(I_low, ratio map)
    w            = min(sqrt(2 · Gaussian_σ=3(gray(R_low))), 1)   "denoise weight"
    output       = I_low · x + (1 − I_low) · (R_restored · w · I_adjusted)

The fusion with the input keeps well-lit regions from over-exposing; ``w`` damps the restored
reflectance in very dark (noisy) regions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from kind_tf.backend import compile_function, require_tensorflow, to_numpy
from kind_tf.image_ops import (
    MINMAX_EPSILON,
    Tensor,
    as_rgb_batch,
    gaussian_blur,
    minmax_normalize,
    rgb_to_gray,
    shrink_to,
    to_float_image,
)
from kind_tf.weights import InferenceRecipe, has_stage, load_stage, read_recipe

DEFAULT_RATIO = 5.0
DENOISE_SIGMA = 3.0
# "auto" ratio: per image, the ratio in [AUTO_RATIO_MIN, AUTO_RATIO_MAX] whose enhanced output has the
# mean brightness AUTO_TARGET_BRIGHTNESS — like a camera's auto-exposure. The target is a property of
# well-exposed photos, never of an image's ground truth: 0.49 is the mean RGB of the 344 well-exposed
# targets of ../shared/data/sice_pairs/train (0.486). The search bisects log(ratio) AUTO_SEARCH_STEPS
# times (one adjust pass each; the ratio is then known to ±0.5 %), assuming the output brightens
# monotonically with the ratio (the adjust net is trained to brighten with it), on the decomposition
# the output itself uses — a whole image's, computed once for both. A tiled image has no whole-image
# decomposition: its ratio is searched on the pipeline run on a preview of at most AUTO_PREVIEW_SIDE
# px (≤ 2 % of a 4000×3000 image's cost). Not a preview for every large image: DecomNet/RestorationNet
# are not scale-invariant, so a preview's ratio is another image's (measured on SICE eval pairs, 512 px
# vs their 256-px previews, 10 pairs: up to 7.8 % apart), and at 1200×900 a 512-px preview pipeline
# is ~17 % of the pipeline's FLOPs (decom + restore at 18 % of the pixels).
AUTO_TARGET_BRIGHTNESS = 0.49
AUTO_RATIO_MIN = 1.0
AUTO_RATIO_MAX = 10.0
AUTO_PREVIEW_SIDE = 512
AUTO_SEARCH_STEPS = 8
# The bisection itself runs on the decomposition area-downscaled to at most AUTO_SEARCH_SIDE px: the
# adjust net is small and local and the target is a global mean, so the ratio it finds there is the
# full-size search's within 0.9 % (mean 0.2 %) on the 59 SICE eval pairs without fusion (64 px: 1.8 %,
# 256 px: 0.9 %), while its 8 adjust passes cost 16× less than at 512² — on CPUs without bfloat16 they
# were more than half of the pipeline's FLOPs.
AUTO_SEARCH_SIDE = 128
# Tiled inference. An output pixel depends on inputs up to TILE_CONTEXT px away: RestorationNet's
# receptive field is 217 px (radius 108; 4 SAME max-pools, two 3×3 convs per level, 2×2 deconvs),
# fed by DecomNet's (27 px, radius 13); the pooling grid can add up to 15 px of asymmetry, and the
# post-processing Gaussian has radius 12 on DecomNet's output. 108 + 13 + 15 = 136 < 160.
TILE_CONTEXT = 160
# Window offsets are multiples of 16 (= 2^4 pools) so every tile sees the untiled pooling grid.
TILE_ALIGN = 16
# Measured peak activation memory of the float32 pipeline: ~880 bytes per input pixel (CPU).
BYTES_PER_PIXEL = 900
DEFAULT_MAX_MEMORY_MB = 1500
# Activation budget of one tile (min with max_memory_mb), set by issue 21's target: enhance.py on a 4000×3000
# photo in float32 within 2.0 GB of peak RSS. Measured (python enhance.py, 2-core AMX Xeon, 2026-12-02, peak
# RSS of the process): the baseline (Python, TensorFlow, weights, one traced call) is ~930 MB, and the peak
# grows by ~1350 bytes per pixel of the largest tile window on this AVX-512 CPU (oneDNN's blocked layouts;
# ~900 on AVX2): 800-px tiles (windows 1120²) 2637 MB, 560-px (880²) 1989 MB. 650 MB gives 512-px tiles
# there (windows 832², 8 × 6 tiles): ~1.9 GB, at ~30 % more computed area than 800-px tiles (more context).
TILE_MAX_MEMORY_MB = 650
# Compute precisions of the networks. "bfloat16" builds them under Keras' mixed_bfloat16 policy
# (float32 weights, bfloat16 activations and matmuls/convolutions — oneDNN/AMX on CPUs with
# AVX512_BF16 / AMX_BF16); the pipeline's own arithmetic (normalisation, ratio, denoise weight,
# fusion) and every returned array stay float32. See benchmarks/README.md for speed and accuracy.
PRECISIONS = ("float32", "bfloat16")
# Peak activation memory of the bfloat16 pipeline per input pixel: ~445 measured (CPU, see benchmarks/), with margin.
BYTES_PER_PIXEL_BFLOAT16 = 600

RatioArg = float | str


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def with_precision(model: keras.Model, precision: str, build: Callable[[keras.Model], Any]) -> keras.Model:
    """``model`` itself for "float32"; for "bfloat16" a copy built under mixed_bfloat16 with its weights.

    The copy has the same class and config, float32 variables holding exactly ``model``'s weights,
    and computes in bfloat16 (Keras autocasts float32 inputs). ``build(copy)`` creates its variables.
    """
    if check_precision(precision) == "float32":
        return model
    config = {k: v for k, v in model.get_config().items() if k not in ("name", "trainable", "dtype")}
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")   # sub-layers take the global policy when created
    try:
        copy = type(model).from_config(config)
        build(copy)
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights(model.get_weights())
    return copy


def configure_threads(intra_op: int | None = None, inter_op: int | None = None) -> None:
    """Size TensorFlow's CPU thread pools (None keeps TF's default: one thread per logical core).

    ``intra_op``: threads one op (a convolution) is split over; ``inter_op``: independent ops run at
    once. Must be called before TensorFlow runs its first op (e.g. first thing in a script).
    TensorFlow backend only (JAX sizes its pools with XLA_FLAGS).
    """
    if intra_op is None and inter_op is None:
        return
    require_tensorflow("thread settings (--threads)")
    import tensorflow as tf

    try:
        if intra_op is not None:
            tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
        if inter_op is not None:
            tf.config.threading.set_inter_op_parallelism_threads(int(inter_op))
    except RuntimeError as error:
        raise RuntimeError(f"thread settings must be applied before TensorFlow runs any op ({error})") from None


def denoise_weight(reflectance: Tensor, sigma: float = DENOISE_SIGMA) -> Tensor:
    """The original post-processing weight w = min((2 · G_σ ∗ gray(R))^0.5, 1), [N, H, W, 1]."""
    return ops.minimum(ops.sqrt(2.0 * gaussian_blur(rgb_to_gray(reflectance), sigma)), 1.0)


def fuse(inputs: Tensor, illumination: Tensor, restored_reflectance: Tensor,
         adjusted_illumination: Tensor, weight: Tensor) -> Tensor:
    """output = I_low · x + (1 − I_low) · (R_restored · w · I_adjusted) (original evaluate.py)."""
    enhanced = restored_reflectance * weight * adjusted_illumination
    return illumination * inputs + (1.0 - illumination) * enhanced


def recompose(restored_reflectance: Tensor, adjusted_illumination: Tensor) -> Tensor:
    """The Retinex recomposition I = R ∘ L of the restored reflectance and adjusted illumination
    (no denoise weight, no fusion with the input)."""
    return restored_reflectance * adjusted_illumination


class KinD:
    """The whole KinD pipeline over three Keras networks.

    Args:
        decom, restore, adjust: the stage networks; ``restore=None`` skips restoration (R_restored = R_low),
            which is how the original release (decom + adjust only) can be run.
        normalize: apply the original's per-image min-max stretch to the input (default True).
        auto_target: mean output brightness (RGB in [0, 1]) that ``ratio="auto"`` aims for.
        precision: "float32" (default: the networks as given) or "bfloat16" (copies of the networks
            computing in bfloat16; the pipeline arithmetic and outputs stay float32).
        jit: compile the forward passes with XLA (off by default: slower on CPU, see benchmarks/).
        fusion: True (default) ends with the original evaluate.py's post-processing
            ``I_low·x + (1 − I_low)·(R̂·w·Î)`` (:func:`fuse`); False returns the plain Retinex
            recomposition ``R̂ · Î`` of the paper (:func:`recompose`), which is brighter when the
            DecomNet's low-light illumination is bright (see checkpoints/kind/README.md).
        adjustment: whether the fusion multiplies by the adjusted illumination Î. True (KinD's
            evaluate.py): ``I_low·x + (1 − I_low)·(R̂·w·Î)``; False (KinD++'s default evaluate.py):
            ``I_low·x + (1 − I_low)·(R̂·w)``, on which the ratio has no effect. Ignored with ``fusion=False``.
        tile_context: px of context a tile needs for exact tiled inference (the pipeline's
            receptive-field radius rounded up to the 16-px grid; KinD: TILE_CONTEXT, 160).
    """

    def __init__(self, decom: keras.Model, restore: keras.Model | None, adjust: keras.Model, *,
                 normalize: bool = True, auto_target: float = AUTO_TARGET_BRIGHTNESS,
                 precision: str = "float32", jit: bool = False, fusion: bool = True,
                 default_ratio: RatioArg = DEFAULT_RATIO, adjustment: bool = True,
                 tile_context: int = TILE_CONTEXT):
        from kind_tf.weights import build_model

        self.default_ratio = "auto" if parse_ratio(default_ratio) == 0.0 else float(default_ratio)
        self.precision = check_precision(precision)
        self.jit = bool(jit)
        self.decom = with_precision(decom, precision, lambda m: build_model(m, "decom"))
        self.restore = (None if restore is None
                        else with_precision(restore, precision, lambda m: build_model(m, "restore")))
        self.adjust = with_precision(adjust, precision, lambda m: build_model(m, "adjust"))
        self.normalize = normalize
        self.auto_target = auto_target
        self.fusion = bool(fusion)
        self.adjustment = bool(adjustment)
        if tile_context < 0 or tile_context % TILE_ALIGN:
            raise ValueError(f"tile_context must be a non-negative multiple of {TILE_ALIGN}, got {tile_context}")
        self.tile_context = int(tile_context)
        self.bytes_per_pixel = BYTES_PER_PIXEL_BFLOAT16 if precision == "bfloat16" else BYTES_PER_PIXEL
        self.tile_memory_mb = TILE_MAX_MEMORY_MB   # a tile window's activation budget (see TILE_MAX_MEMORY_MB)
        # On TensorFlow one concrete graph for every batch size and image size (no retracing per image);
        # on JAX one XLA program per input shape (see kind_tf.backend).
        signature = [[None, None, None, 3], [None]]
        # The pipeline on normalised inputs with positive ratios (also each tile of a tiled image); the
        # only part XLA compiles with jit=True on TensorFlow.
        self.forward_normalized = compile_function(self._pipeline, signature, jit_compile=self.jit)
        # The "auto" ratios of normalised images: a preview pipeline, so whole-image even when tiling.
        # Never XLA on TensorFlow: the preview's size is data-dependent there.
        self.auto_ratios = compile_function(self._auto_ratios, signature[:1])
        # The bisection alone, on a given decomposition (inputs, I_low, R_restored, denoise weight): for
        # pipelines that run the networks elsewhere (kind_tf.tflite_runtime). Never XLA, like auto_ratios.
        self.search_ratios = compile_function(self._search_ratios, [[None, None, None, 3], [None, None, None, 1],
                                                                    [None, None, None, 3], [None, None, None, 1]])
        # DecomNet alone on normalised inputs, (R, I) float32 (evaluate.py's gt-mean diagnostic).
        self.decompose = compile_function(lambda inputs: tuple(ops.cast(t, "float32") for t in self.decom(inputs)),
                                          signature[:1], jit_compile=self.jit)
        # Normalise, resolve "auto" (ratio ≤ 0), run forward_normalized: what enhance() and the SavedModel call.
        self.forward = compile_function(self._forward, signature)

    @classmethod
    def from_weights(cls, weights_dir: str | os.PathLike, *, fusion: bool | None = None,
                     ratio: RatioArg | None = None, normalize: bool | None = None,
                     adjustment: bool | None = None, **kwargs: Any) -> KinD:
        """Load the three stages from a kind-tf weights folder (see :mod:`kind_tf.weights`).

        ``fusion``, ``ratio`` (the default of :meth:`enhance`), ``normalize`` and ``adjustment`` default to
        the folder's inference recipe (:func:`kind_tf.weights.read_recipe`); pass them to override it.
        """
        recipe = read_recipe(weights_dir)
        restore = load_stage(weights_dir, "restore") if has_stage(weights_dir, "restore") else None
        kind = cls(load_stage(weights_dir, "decom"), restore, load_stage(weights_dir, "adjust"),
                   fusion=recipe.fusion if fusion is None else fusion,
                   default_ratio=recipe.ratio if ratio is None else ratio,
                   normalize=recipe.normalize if normalize is None else normalize,
                   adjustment=recipe.adjustment if adjustment is None else adjustment,
                   auto_target=kwargs.pop("auto_target", recipe.auto_target), **kwargs)
        kind.recipe = recipe
        return kind

    recipe: InferenceRecipe | None = None   # the weights folder's recipe (from_weights), for reports

    def describe(self) -> str:
        """What this pipeline's default call does, in words (for CLI output and reports)."""
        return InferenceRecipe(output="fusion" if self.fusion else "recompose", ratio=self.default_ratio,
                               auto_target=self.auto_target, normalize=self.normalize,
                               adjustment=self.adjustment or not self.fusion).describe()

    def _forward(self, images: Tensor, ratios: Tensor) -> dict[str, Tensor]:
        """images [N, H, W, 3] in [0, 1]; ratios [N], a value ≤ 0 meaning "auto" for that image."""
        inputs = self.normalize_input(images)
        # "auto" ratios of a whole image are searched inside the pipeline, on the decomposition its output
        # uses (no second, preview pipeline: see AUTO_*); only tiled images need the preview (enhance_tiled).
        shape = ops.shape(inputs)
        if isinstance(shape[1], int) and isinstance(shape[2], int):    # static sizes (JAX)
            # Inside jax.jit the pipeline is traced inline (a jitted function calling another is one program).
            return self._pipeline(inputs, ratios)
        return self.forward_normalized(inputs, ratios)

    def normalize_input(self, images: Tensor) -> Tensor:
        return minmax_normalize(images) if self.normalize else images

    def _pipeline(self, inputs: Tensor, ratios: Tensor) -> dict[str, Tensor]:
        """The pipeline on normalised ``inputs``; ratios ≤ 0 ("auto") are searched on ``inputs`` itself,
        i.e. only for whole images no larger than the preview (tiles always get resolved ratios)."""
        reflectance, illumination, restored, weight = self._decompose_and_restore(inputs)
        ratios = ops.cond(
            ops.any(ratios <= 0),
            lambda: ops.where(ratios > 0, ratios, self._search_ratios(inputs, illumination, restored, weight)),
            lambda: ratios)
        adjusted = self._adjust(illumination, ratios)
        enhanced = self._finish(inputs, illumination, restored, adjusted, weight)
        return {
            "enhanced": ops.clip(enhanced, 0.0, 1.0),
            "input": inputs,
            "reflectance": reflectance,
            "illumination": illumination,
            "restored_reflectance": restored,
            "adjusted_illumination": adjusted,
            "denoise_weight": weight,
            "ratio": ratios,
        }

    def _decompose_and_restore(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """(R_low, I_low, R_restored, denoise weight w), float32."""
        # Networks may compute in bfloat16 (mixed precision); the pipeline's arithmetic stays float32.
        reflectance, illumination = (ops.cast(t, "float32") for t in self.decom(inputs))
        if self.restore is not None:
            restored = ops.cast(self.restore([reflectance, illumination]), "float32")
        else:
            restored = reflectance
        return reflectance, illumination, restored, denoise_weight(reflectance)

    def _adjust(self, illumination: Tensor, ratios: Tensor) -> Tensor:
        ratio_map = ops.ones_like(illumination) * ops.reshape(ratios, (-1, 1, 1, 1))
        return ops.cast(self.adjust([illumination, ratio_map]), "float32")

    def _finish(self, inputs: Tensor, illumination: Tensor, restored: Tensor, adjusted: Tensor,
                weight: Tensor) -> Tensor:
        """The last step: the fusion with the input, with (KinD) or without (KinD++'s default) Î, or R̂·Î."""
        if not self.fusion:
            return recompose(restored, adjusted)
        if self.adjustment:
            return fuse(inputs, illumination, restored, adjusted, weight)
        return illumination * inputs + (1.0 - illumination) * (restored * weight)

    def _auto_ratios(self, inputs: Tensor) -> Tensor:
        """[N] ratios giving each (normalised) image the output brightness ``auto_target``, searched on
        a preview of at most AUTO_PREVIEW_SIDE px (see AUTO_*)."""
        preview = shrink_to(inputs, AUTO_PREVIEW_SIDE)
        _, illumination, restored, weight = self._decompose_and_restore(preview)
        return self._search_ratios(preview, illumination, restored, weight)

    def _search_ratios(self, inputs, illumination, restored, weight) -> Tensor:
        """Bisection of log(ratio) on one decomposition, downscaled to ≤ AUTO_SEARCH_SIDE px: one adjust
        pass per step, no other network."""
        if not self.jit:   # XLA has no ResizeArea kernel: with jit=True the search stays at full size
            inputs, illumination, restored, weight = (shrink_to(t, AUTO_SEARCH_SIDE)
                                                      for t in (inputs, illumination, restored, weight))
        zeros = ops.zeros_like(ops.mean(illumination, axis=(1, 2, 3)))   # [N]
        low = zeros + float(np.log(AUTO_RATIO_MIN))
        high = zeros + float(np.log(AUTO_RATIO_MAX))
        for _ in range(AUTO_SEARCH_STEPS):
            middle = (low + high) / 2.0
            enhanced = self._finish(inputs, illumination, restored, self._adjust(illumination, ops.exp(middle)), weight)
            too_dark = ops.mean(ops.clip(enhanced, 0.0, 1.0), axis=(1, 2, 3)) < self.auto_target
            low = ops.where(too_dark, middle, low)
            high = ops.where(too_dark, high, middle)
        return ops.exp((low + high) / 2.0)

    def enhance(self, image: np.ndarray, ratio: RatioArg | None = None,
                return_intermediates: bool = False, tile: int | None | str = "auto",
                tile_overlap: int | None = None,
                max_memory_mb: float = DEFAULT_MAX_MEMORY_MB) -> np.ndarray | dict[str, np.ndarray]:
        """Enhance one image [H, W, 3] or a batch [N, H, W, 3] (uint8, uint16 or float in [0, 1]).

        Args:
            ratio: brightening ratio (the adjust net's constant ratio map), or ``"auto"``; None: the
                pipeline's default (the weights' recipe with :meth:`from_weights`, else 5.0).
            return_intermediates: also return R, I, restored R, adjusted I, the denoise weight and
                the ratio used, as a dict of numpy arrays.
            tile: core tile size in pixels (a multiple of 16), ``None`` to never tile, or ``"auto"``
                to tile only when the whole image would need more than ``max_memory_mb``.
            tile_overlap: context added around each tile (multiple of 16); None: ``tile_context``, the
                least that keeps results exact (KinD 160 ≥ 136, see TILE_CONTEXT).

        Returns:
            The enhanced float32 image(s) in [0, 1] of the input's shape, or the dict of intermediates.
        """
        images = np.asarray(image)
        if images.dtype not in (np.uint8, np.uint16):
            # Float input is checked once here (to_float_image); 8/16-bit input stays as it is until it is
            # converted window by window when tiling (a 4000×3000 float32 copy is 144 MB).
            images = to_float_image(images)
        images, single = as_rgb_batch(images)
        ratios = np.full([images.shape[0]], parse_ratio(self.default_ratio if ratio is None else ratio), np.float32)
        overlap = self.tile_context if tile_overlap is None else int(tile_overlap)
        if tile == "auto":
            tile = self.auto_tile(images.shape[1], images.shape[2], overlap, max_memory_mb)
        if tile is None:
            result = self.forward(to_float_image(images) if images.dtype != np.float32 else images, ratios)
            if not return_intermediates:   # copy out only what is returned
                result = {"enhanced": result["enhanced"]}
            outputs = to_numpy(dict(result))
        else:
            # Without intermediates only the enhanced image is assembled (saves 12 of 15 full-size channels).
            keep = None if return_intermediates else ("enhanced",)
            per_image = [self.enhance_tiled(images[i:i + 1], ratios[i:i + 1], int(tile), overlap, keep=keep)
                         for i in range(images.shape[0])]
            # One image: its arrays as they are (a concatenation would copy them, doubling the output's memory).
            outputs = per_image[0] if len(per_image) == 1 else {
                name: np.concatenate([o[name] for o in per_image]) for name in per_image[0]}
        if single:
            outputs = {name: value[0] for name, value in outputs.items()}
        return outputs if return_intermediates else outputs["enhanced"]


    def auto_tile(self, height: int, width: int, overlap: int | None = None,
                  max_memory_mb: float = DEFAULT_MAX_MEMORY_MB) -> int | None:
        """``tile="auto"``'s tile for an H×W image: :func:`auto_tile_size` with this pipeline's activation
        cost per pixel and tile budget (balanced tiles); None: untiled. ``overlap`` None: ``tile_context``."""
        return auto_tile_size(height, width, self.tile_context if overlap is None else overlap, max_memory_mb,
                              bytes_per_pixel=self.bytes_per_pixel, balance=True, tile_memory_mb=self.tile_memory_mb)

    def enhance_tiled(self, images: np.ndarray, ratios: np.ndarray, tile: int,
                      overlap: int | None = None, keep: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Run the pipeline on one image [1, H, W, 3] (uint8, uint16 or float in [0, 1]) tile by tile with
        bounded memory; ``overlap`` None: ``tile_context``.

        Global quantities come from the whole image first: the min-max normalisation, and for
        ``ratio`` "auto" the ratio, searched on a ≤ AUTO_PREVIEW_SIDE px preview of the whole image (for
        images up to that size the image itself, as untiled; larger untiled images are searched on their
        own decomposition, so their ratio can differ slightly from the tiled one). Each tile's
        window adds ``overlap`` px of context on every side and starts on the 16-px pooling grid, so
        the kept core equals the untiled result (up to float summation order); cores are pasted
        without blending since there is nothing to blend. ``keep`` names the outputs to assemble
        (default: all); the others are dropped tile by tile, which bounds memory on huge images.
        No full-size float copy of the input is held while the tiles run: each window is converted
        and normalised on its own with the whole image's min and max (the same float32 operations as
        :func:`kind_tf.image_ops.minmax_normalize`, so the same values).
        """
        overlap = self.tile_context if overlap is None else overlap
        if tile % TILE_ALIGN or overlap % TILE_ALIGN or tile <= 0:
            raise ValueError(f"tile ({tile}) and overlap ({overlap}) must be positive multiples of {TILE_ALIGN}")
        height, width = images.shape[1:3]
        windows = list(tile_windows(height, width, tile, overlap))
        if self.normalize:
            # min / max commute with the monotone uint → float32 conversion: exactly to_float_image's extremes.
            low, high = (to_float_image(np.asarray(extreme, images.dtype)) for extreme in (images.min(), images.max()))
            span = np.maximum(high - low, np.float32(MINMAX_EPSILON))

        scale = {np.dtype(np.uint8): np.float32(255.0), np.dtype(np.uint16): np.float32(65535.0)}.get(images.dtype)

        def window_inputs(rows: slice, columns: slice) -> np.ndarray:
            # to_float_image's and minmax_normalize's float32 operations, in place on one fresh array (no
            # full-size temporaries when the window is the whole image, as for the "auto" preview).
            if scale is None:
                window = to_float_image(images[:, rows, columns])
            else:
                window = images[:, rows, columns].astype(np.float32)
                window /= scale
            if self.normalize:
                window -= low
                window /= span
            return window

        if np.any(ratios <= 0):
            # The preview search needs the whole normalised image once; it is freed before the tiles run.
            ratios = np.where(ratios > 0, ratios, to_numpy(self.auto_ratios(window_inputs(slice(None), slice(None)))))
        keep = None if keep is None else set(keep)
        outputs: dict[str, np.ndarray] = {}
        for core, window, offset in windows:
            result = self.forward_normalized(window_inputs(*window), ratios.astype(np.float32))
            for key, value in result.items():
                if keep is not None and key not in keep:
                    continue
                value = to_numpy(value)
                if value.ndim != 4:  # per-image values such as the ratio
                    outputs[key] = value
                    continue
                if key not in outputs:
                    outputs[key] = np.empty((1, height, width, value.shape[-1]), np.float32)
                outputs[key][:, core[0], core[1]] = value[:, offset[0], offset[1]]
            # Free this tile's outputs before the next window runs (else two tiles' outputs are alive).
            result = value = None
        return outputs


def tile_windows(height: int, width: int, tile: int, overlap: int):
    """Yield (core slices, window slices, core-within-window slices) covering an H×W image."""
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            core = (slice(top, min(top + tile, height)), slice(left, min(left + tile, width)))
            window = (slice(max(top - overlap, 0), min(top + tile + overlap, height)),
                      slice(max(left - overlap, 0), min(left + tile + overlap, width)))
            offset = (slice(core[0].start - window[0].start, core[0].stop - window[0].start),
                      slice(core[1].start - window[1].start, core[1].stop - window[1].start))
            yield core, window, offset


def auto_tile_size(height: int, width: int, overlap: int = TILE_CONTEXT,
                   max_memory_mb: float = DEFAULT_MAX_MEMORY_MB,
                   bytes_per_pixel: float = BYTES_PER_PIXEL, balance: bool = False,
                   tile_memory_mb: float = TILE_MAX_MEMORY_MB) -> int | None:
    """None when the whole image fits ``max_memory_mb`` of activations, else the largest aligned tile whose
    window fits ``min(max_memory_mb, tile_memory_mb)`` (see TILE_MAX_MEMORY_MB).

    ``balance``: instead, the smallest aligned tile that needs no more tiles than the largest one
    (e.g. 4000×3000 in float32: 800 instead of 960, 4×5 tiles either way). The computed area (cores
    plus context) is the same, the largest window and so the peak memory smaller.
    """
    if height * width <= max_memory_mb * 1e6 / bytes_per_pixel:
        return None
    window = int(np.sqrt(min(max_memory_mb, tile_memory_mb) * 1e6 / bytes_per_pixel))
    tile = max(TILE_ALIGN, (window - 2 * overlap) // TILE_ALIGN * TILE_ALIGN)
    if balance:
        rows, columns = -(-height // tile), -(-width // tile)
        needed = max(-(-height // rows), -(-width // columns))
        tile = min(tile, -(-needed // TILE_ALIGN) * TILE_ALIGN)
    return tile


def parse_ratio(ratio: RatioArg) -> float:
    """A positive number, or "auto" (encoded as 0 for the compiled forward pass)."""
    if isinstance(ratio, str):
        if ratio.strip().lower() == "auto":
            return 0.0
        try:
            ratio = float(ratio)
        except ValueError:
            raise ValueError(f"ratio must be a positive number or 'auto', got {ratio!r}") from None
    if not np.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"ratio must be a positive number or 'auto', got {ratio!r}")
    return float(ratio)


def default_weights_dir() -> Path:
    """The shipped KinD weights (preset kind-sice), wherever kind-tf is installed."""
    from kind_tf.presets import preset_dir

    return preset_dir("kind-sice")


class ZeroDCE:
    """Zero-DCE++ behind the same ``enhance`` interface as :class:`KinD` (for enhance.py / evaluate.py).

    Zero-DCE++ has no ratio: it estimates its own curves, so ``ratio`` is accepted and ignored.
    Any H×W works (see :mod:`kind_tf.models.zero_dce`); the forward pass is traced once.
    ``precision="bfloat16"`` runs DCE-Net (on the downsampled image) in bfloat16; the resizing, the
    full-resolution curve map and the curve iterations stay float32. ``jit`` compiles everything
    with XLA. ``fused_curve`` (default) applies the 8 curve iterations at full resolution as one
    XLA kernel instead of 3 TensorFlow ops per iteration (the curve is memory-bound and dominates
    the run time; the kernel is compiled once per image size, ~0.3 s; results differ from the unfused
    curve by float rounding only, ~1e-5).
    """

    def __init__(self, model: keras.Model, precision: str = "float32", jit: bool = False,
                 fused_curve: bool = True):
        self.precision = check_precision(precision)
        self.jit = bool(jit)
        self.fused_curve = bool(fused_curve)
        self.model = with_precision(model, precision, lambda m: m(np.zeros((1, 24, 24, 3), np.float32)))
        # The Zero-DCE++ curve (apply_curve: 8 iterations unrolled in Python) compiled by XLA into one
        # elementwise kernel that reads x and A once: 1.2 ms at 600×400, 60 ms at 4000×3000 (a
        # tf.while_loop of the same step stays one kernel per iteration and is 2.2–3× slower).
        self._curve = compile_function(_clipped_curve, jit_compile=True, static_argnums=(2,))
        self.forward = compile_function(self._forward, [[None, None, None, 3]], jit_compile=self.jit)

    @classmethod
    def from_weights(cls, weights_dir: str | os.PathLike, scale_factor: int | None = None,
                     **kwargs: Any) -> ZeroDCE:
        from kind_tf.convert.zero_dce_pth import load_zero_dce

        return cls(load_zero_dce(weights_dir, scale_factor), **kwargs)

    def _forward(self, images: Tensor) -> dict[str, Tensor]:
        # DCE-Net in the model's compute dtype on the downsampled image; A and the curve in float32.
        curve = self.model.curve_map(images)
        enhanced = (self._curve if self.fused_curve else _clipped_curve)(images, curve, self.model.iterations)
        return {"enhanced": enhanced, "input": images, "curve_map": curve}

    def enhance(self, image: np.ndarray, ratio: RatioArg | None = None, return_intermediates: bool = False,
                **_: Any) -> np.ndarray | dict[str, np.ndarray]:
        images = to_float_image(image)
        single = images.ndim == 3
        result = self.forward(images[None] if single else images)
        if not return_intermediates:   # copy out only what is returned
            result = {"enhanced": result["enhanced"]}
        outputs = to_numpy(dict(result))
        if single:
            outputs = {key: value[0] for key, value in outputs.items()}
        return outputs if return_intermediates else outputs["enhanced"]


def _clipped_curve(images: Tensor, curve_map: Tensor, iterations: int) -> Tensor:
    from kind_tf.models.zero_dce import apply_curve

    return ops.clip(apply_curve(images, curve_map, iterations), 0.0, 1.0)


def default_zero_dce_weights_dir() -> Path:
    """The shipped Zero-DCE++ weights (preset zero-dce-sice), wherever kind-tf is installed."""
    from kind_tf.presets import preset_dir

    return preset_dir("zero-dce-sice")
