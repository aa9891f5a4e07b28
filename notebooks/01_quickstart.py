# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# # 01 · Quick start: enhance a dark photo with KinD
#
# **KinD** ("Kindling the Darkness", Zhang, Zhang & Guo, ACM MM 2019) builds on the Retinex model: an
# image is the product of a **reflectance** R (the scene's colours and textures, ideally the same under
# any lighting) and an **illumination** I (a one-channel map of how much light falls on each pixel):
#
# $$\text{image} = R \circ I$$
#
# Three networks, trained stage by stage:
#
# 1. **DecomNet** splits the image into R and I;
# 2. **RestorationNet** cleans the reflectance (low light means noise and colour casts in R), guided by I;
# 3. **IlluminationAdjustNet** brightens I. Its second input is the **ratio** α: a constant map that says
#    how much brighter (α > 1) or darker (α < 1) the illumination should become — the user's knob.
#
# The original post-processing then fuses the brightened Retinex image with the input:
# `output = I·x + (1 − I)·(R_restored · w · I_adjusted)`, where x is the (min-max normalised) input and
# w = min(√(2·G₃ ∗ gray(R)), 1) a *denoise weight* that damps R in the darkest, noisiest regions.
# Well-lit pixels (I ≈ 1) keep their input value; dark pixels take the enhanced one.
#
# This notebook enhances the bundled sample photo with the shipped weights (`checkpoints/kind`).
# It runs in a few seconds on a CPU and writes no files.

# %%
# %matplotlib inline
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # quieter TensorFlow start-up

import tempfile
import time
from pathlib import Path

import numpy as np

import kind_tf
from kind_tf.plotting import notebook_style, show

notebook_style()    # small notebooks: JPEG figures, 80 dpi

REPO = Path(kind_tf.__file__).resolve().parents[1]                     # this kind-tf checkout
SHARED = Path(os.environ.get("KIND_TF_SHARED", REPO.parent / "shared"))  # reference material: ../shared

# %% [markdown]
# ## Load the shipped weights
#
# `KinD.from_weights` reads a kind-tf weights folder: `config.json` plus one `<stage>.weights.h5` per
# stage. A folder without a restoration stage (like the original release, which never shipped one) is
# allowed: the pipeline then uses R_low itself as the "restored" reflectance.

# %%
import json

from kind_tf.inference import KinD, default_weights_dir
from kind_tf.weights import has_stage

weights = default_weights_dir()
kind = KinD.from_weights(weights)
provenance = json.loads((weights / "config.json").read_text())["provenance"]   # how each stage was trained
print("weights:", weights.relative_to(REPO))
for stage in ("decom", "restore", "adjust"):
    if has_stage(weights, stage):
        steps = provenance.get(stage, {}).get("step", "?")
        print(f"  {stage:8s} loaded   (trained {steps} steps)")
    else:
        print(f"  {stage:8s} absent   -> restored reflectance = R_low (as the original release)")

# %% [markdown]
# ## Enhance the sample and look inside
#
# `enhance(image, ratio, return_intermediates=True)` returns every intermediate of the pipeline as numpy
# arrays. The input is any RGB image (uint8 or float in [0, 1]); `load_image` reads files robustly
# (EXIF orientation, grayscale, 16-bit, ...). Without a `ratio` (or `fusion`) argument it runs the weights'
# own recipe, recorded in their `config.json`: for the shipped weights the paper's recomposition R̂·L̂ at
# the auto ratio (their best measured recipe); converted original weights keep the original evaluate.py's
# fusion at ratio 5.

# %%
from kind_tf.enhance_job import SAMPLE_IMAGE
from kind_tf.io import load_image

image = load_image(SAMPLE_IMAGE)                  # float32 RGB [H, W, 3] in [0, 1]
parts = kind.enhance(image, return_intermediates=True)   # the weights' recipe
print("recipe:", kind.describe())
print(f"{SAMPLE_IMAGE.name}: {image.shape[1]}x{image.shape[0]}, mean brightness {image.mean():.3f} "
      f"(after the min-max stretch, the network input x: {parts['input'].mean():.3f})")
for name, value in parts.items():
    value = np.asarray(value)
    print(f"  {name:22s} shape {str(value.shape):15s} range [{value.min():.3f}, {value.max():.3f}]"
          f"  mean {value.mean():.3f}")

# %%
restored_title = "restored R" if kind.restore is not None else "restored R (= R, no restore stage)"
show([image, parts["reflectance"], parts["illumination"],
      parts["restored_reflectance"], parts["adjusted_illumination"], parts["enhanced"]],
     ["input", "reflectance R", "illumination I", restored_title,
      f"adjusted I (ratio {float(parts['ratio']):g})", "output"], cols=3, width=13)

# %% [markdown]
# Reading the panels: **R** looks like a flat, evenly lit (and noisy) version of the scene — the lighting
# has been divided out; **I** is a smooth gray map, dark where the scene is dark. The adjust net maps I to
# the **adjusted I**, brighter for a ratio above 1 (at high ratios it saturates towards uniform full
# light). The output multiplies restored R by it — colours come from R, brightness from the adjusted
# illumination (the recomposition R̂·L̂, the shipped recipe); the original evaluate.py's fusion
# (`fusion=True`) also blends that with the input x wherever I says the input was already well lit.
# Part of the brightening is the min-max stretch of the input itself (printed above), as in the original.
#
# ## The ratio: how bright?
#
# The same image at several ratios: the output (top) and the adjusted illumination (bottom).
# `ratio="auto"` picks, for each image alone, the ratio in [1, 10] whose output has mean brightness 0.49
# (like auto-exposure, searched on a small preview; the title shows the ratio it chose). With the
# original fusion the shipped weights often cannot reach it and auto ends at the largest ratio.

# %%
ratios = [1, 2, 3, 5, 8, "auto"]
outputs, maps, titles = [], [], []
for ratio in ratios:
    result = kind.enhance(image, ratio=ratio, return_intermediates=True)
    label = f"ratio {ratio}" if ratio != "auto" else f"auto (= {float(result['ratio']):.2f})"
    outputs.append(result["enhanced"])
    maps.append(result["adjusted_illumination"])
    titles.append(f"{label}: mean {result['enhanced'].mean():.2f}")
    print(f"{label:16s} mean adjusted illumination {result['adjusted_illumination'].mean():.3f}, "
          f"output mean {result['enhanced'].mean():.3f}")
show(outputs + maps, titles + [f"adjusted I, mean {m.mean():.2f}" for m in maps], cols=6, width=16)

# %% [markdown]
# ## Next
#
# - From the command line: `python enhance.py photo.jpg --ratio auto --save-intermediates -o out/`
#   (large photos are tiled automatically; see the README).
# - `02_training_walkthrough.ipynb` trains the three stages; `03_evaluation.ipynb` measures them against
#   baselines; `04_zero_dce.ipynb` looks at Zero-DCE++; `05_export_and_serve.ipynb` exports a SavedModel.
