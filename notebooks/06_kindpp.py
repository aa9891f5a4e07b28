# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kind_tf
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · KinD++: restoration guided by multi-scale illumination attention
#
# **KinD++** ("Beyond Brightening Low-light Images", Zhang, Guo, Ma et al., IJCV 2021) keeps KinD's
# decomposition I = R ∘ L and its illumination adjustment, and replaces the U-Net that restores R_low by a
# full-resolution chain of convolutions with four **multi-scale illumination attention** (MSIA) modules.
# Each module first weights its features by an attention map computed from the illumination alone,
#
# $$A_k = \sigma\big(\mathrm{conv}^{3\times 3}_k(I_{low})\big), \qquad F' = F \odot A_k,$$
#
# then fuses F' with three scales of it (full, ½ and ¼ resolution) by a 1×1 convolution. The degradation of
# R_low (noise amplified by the division by a small I, colour shifts) is worst where the scene is dark, so
# the attention tells the restoration *where* to work harder. This notebook runs the shipped KinD++ weights
# (`checkpoints/kindpp`, trained by kind-tf; model card there) on the bundled sample and shows the four
# attention maps.

# %%
# %matplotlib inline
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # quieter TensorFlow start-up

import time

import numpy as np

import kind_tf
from kind_tf.enhance_job import SAMPLE_IMAGE
from kind_tf.image_ops import shrink_to
from kind_tf.io import load_image
from kind_tf.plotting import notebook_style, show

notebook_style()    # small notebooks: JPEG figures, 80 dpi

# %% [markdown]
# ## The shipped KinD++ weights
#
# `kind_tf.load("kindpp-sice")` reads the folder's `config.json`: the three networks (KinD's DecomNet and
# illumination net, KinD++'s MSIA restoration net) and the recipe they were measured with. The MSIA net
# costs about 11 MFLOP per pixel (~20× KinD's U-Net), so this notebook works on the sample downscaled to
# at most 256 px.

# %%
kindpp = kind_tf.load("kindpp-sice")
print("recipe:", kindpp.describe())
restore = kindpp.restore
print("restoration net:", type(restore).__name__ if restore is not None else "none (R_restored = R_low)",
      f"{sum(int(np.prod(w.shape)) for w in restore.trainable_weights):,} parameters" if restore is not None else "")

image = np.asarray(shrink_to(load_image(SAMPLE_IMAGE)[None], 256))[0]
start = time.perf_counter()
parts = kindpp.enhance(image, return_intermediates=True)
print(f"{SAMPLE_IMAGE.name} at {image.shape[1]}x{image.shape[0]}: {time.perf_counter() - start:.1f} s on this CPU"
      f" (first call: includes tracing); ratio {float(parts['ratio']):.2f}")

# %%
show([image, parts["reflectance"], parts["illumination"], parts["restored_reflectance"],
      parts["adjusted_illumination"], parts["enhanced"]],
     ["input", "R_low", "I_low", "R restored (MSIA net)", f"adjusted I (ratio {float(parts['ratio']):.2f})",
      "output"], cols=3, width=13)

# %% [markdown]
# ## The four attention maps
#
# `MSIANet.attention_maps(I_low)` returns A_1 … A_4, one per MSIA module (after de_conv1_2, 2_2, 3_2 and
# 4_2). Each is one 3×3 convolution of the illumination and a sigmoid, so it is a smooth function of how
# dark each region is; what each module does with it is learnt: a map can be high in the dark (boost the
# features there) or low (suppress them), and the four modules need not agree. The shipped restoration
# net was trained for 3,108 steps (about 4 % of the original schedule, see its model card): its maps are
# still close to the sigmoid's 0.5, so each is shown stretched to its own range.

# %%
if restore is None:
    print("these weights have no restoration net: no attention maps to show")
else:
    maps = [np.asarray(a)[0] for a in restore.attention_maps(parts["illumination"][None])]
    for k, attention in enumerate(maps, start=1):
        dark = parts["illumination"][..., 0] < np.median(parts["illumination"])
        print(f"A_{k}: range [{attention.min():.3f}, {attention.max():.3f}], mean in the darker half "
              f"{attention[dark].mean():.3f}, in the brighter half {attention[~dark].mean():.3f}")
    # Each map stretched to its own range (the title gives it): after a short training they stay near 0.5.
    stretched = [(a - a.min()) / max(float(a.max() - a.min()), 1e-6) for a in maps]
    show([parts["illumination"], *stretched],
         ["I_low", *(f"A_{k} [{a.min():.2f}, {a.max():.2f}]" for k, a in enumerate(maps, start=1))],
         width=15, cmap="magma")

# %% [markdown]
# ## KinD++ beside KinD
#
# The same image through the shipped KinD weights (`kind-sice`), each with its own recipe. On the 59 SICE
# evaluation pairs the numbers are in `docs/results.md` and the KinD++ model card.

# %%
kind = kind_tf.load("kind-sice")
kind_output = kind.enhance(image)
show([image, kind_output, parts["enhanced"]], ["input", "KinD (kind-sice)", "KinD++ (kindpp-sice)"], width=13)
