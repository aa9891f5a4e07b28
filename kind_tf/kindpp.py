"""The KinD++ inference pipeline (Zhang et al., "Beyond Brightening Low-light Images", IJCV 2021).

KinD++'s evaluate.py (../shared/reference/kindpp_official/RECIPE.md, Inference) is KinD's pipeline with
the MSIA restoration net (:class:`kind_tf.models.MSIANet`) and another last step::

    R_low, I_low = DecomNet(x)                          x: per-image min-max normalised input
    R_restored   = MSIANet(R_low, I_low)                 batch norm with its moving statistics
    I_adjusted   = IlluminationAdjustNet(I_low, ratio map)
    w            = min(sqrt(2 · Gaussian_σ=3(gray(R_low))), 1)
    output       = I_low · x + (1 − I_low) · (R_restored · w)                default (no --adjustment)
    output       = I_low · x + (1 − I_low) · (R_restored · w · I_adjusted)   --adjustment (KinD's fusion)

Its ``--adjustment`` flag is off by default, so the default output does not use the adjusted
illumination at all (the adjust net runs, its result is unused): where the input is dark (I_low small)
the output is the restored, denoise-weighted reflectance R_restored · w — the reflectance being the
scene's brightness-free colour, this is what brightens — and where it is bright, the input itself.
``adjustment=True`` selects the adjusted variant; ``fusion=False`` the plain Retinex recomposition
R_restored · I_adjusted (what evaluate_LOLdataset.py outputs, with a ratio from the ground truth).

The original crops every image to a multiple of 4 (its restoration net needs it); here any size works
(see kind_tf.models.msia_net) and multiples of 4 give the original's result exactly.
"""

from __future__ import annotations

from typing import Any

import keras

from kind_tf.inference import KinD

# Context a tile needs for exact tiled inference: the pipeline's receptive-field radius is 32 px
# (MSIANet 19 px on DecomNet's outputs, DecomNet 13 px; the denoise weight's Gaussian, radius 12 on
# DecomNet's output, and the adjust net, 4 px, reach less far), rounded up to the tiling grid of 16.
# KinD needs 160 (kind_tf.inference.TILE_CONTEXT).
KINDPP_TILE_CONTEXT = 32
# Peak activation memory per input pixel, for automatic tiling (KinD's is ~900): the MSIA net keeps up to 512
# channels at full resolution and concatenates four 256-channel scales. Measured (benchmarks/run.py, AMX
# Xeon, 2026-12-02, untiled): float32 600×400 3.4 GB and 1200×900 16.6 GB peak RSS (~14.4 KB per pixel above
# the ~1 GB process), bfloat16 1200×900 8.7 GB (~7.1 KB). With KinD's default budget (1500 MB) images above
# ~0.1 MP run in tiles; their windows get the whole budget (KINDPP_TILE_MEMORY_MB; KinD's 650 MB would mean
# 208² windows, doubling the computed area with 32 px of context): ≤ 316² px in float32, ~2.5 GB at most.
KINDPP_BYTES_PER_PIXEL = 15_000
KINDPP_BYTES_PER_PIXEL_BFLOAT16 = 8_000
KINDPP_TILE_MEMORY_MB = 1500


class KinDPlusPlus(KinD):
    """KinD++ over three Keras networks: DecomNet, MSIANet (or None: R_restored = R_low) and the adjust net.

    Everything but the last step is :class:`kind_tf.inference.KinD`'s (decomposition, restoration of
    R_low guided by I_low, the denoise weight, the ratio map and "auto" ratios, tiling, precision,
    and the last step, which :class:`KinD` selects by its ``adjustment`` attribute): only two of the
    pipeline's values differ — ``adjustment`` defaults to False (KinD++'s evaluate.py) and
    ``tile_context`` to KINDPP_TILE_CONTEXT (:meth:`from_weights`, KinD's, reads the recipe's ``adjustment``).

    Args:
        adjustment: False (default, the original evaluate.py): ``I_low·x + (1 − I_low)·(R̂·w)``, on
            which the ratio has no effect; True: ``I_low·x + (1 − I_low)·(R̂·w·Î)``. Ignored when
            ``fusion=False`` (``R̂·Î``).
        Other arguments: as :class:`kind_tf.inference.KinD`.
    """

    def __init__(self, decom: keras.Model, restore: keras.Model | None, adjust: keras.Model, *,
                 adjustment: bool = False, tile_context: int = KINDPP_TILE_CONTEXT, **kwargs: Any):
        super().__init__(decom, restore, adjust, adjustment=adjustment, tile_context=tile_context, **kwargs)
        if restore is not None:   # without the MSIA net the pipeline is KinD's networks and memory
            self.bytes_per_pixel = (KINDPP_BYTES_PER_PIXEL_BFLOAT16 if self.precision == "bfloat16"
                                    else KINDPP_BYTES_PER_PIXEL)
            self.tile_memory_mb = KINDPP_TILE_MEMORY_MB

