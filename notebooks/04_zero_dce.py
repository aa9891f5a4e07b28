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
#   kind_tf:
#     needs_shared:
#     - reference/zero_dce_official/Epoch99.pth
#     unless_repo_has:
#     - checkpoints/zero_dce/config.json
# ---

# %% [markdown]
# # 04 · Zero-DCE++: light enhancement as curve estimation
#
# **Zero-DCE++** (Li, Guo & Loy, TPAMI 2021) takes a different road from KinD: no decomposition, no
# paired data. A tiny network, DCE-Net (10,561 parameters), looks at a 12× downscaled copy of the image and
# estimates a per-pixel, per-channel **curve parameter map** A. The full-resolution image is then brightened
# by applying a quadratic **light-enhancement (LE) curve** 8 times:
#
# $$LE_{n}(x) = LE_{n-1}(x) + \alpha\, LE_{n-1}(x)\,\big(1 - LE_{n-1}(x)\big), \qquad LE_0(x) = x$$
#
# The released code writes it as `x ← x + A·(x² − x)`, i.e. **A = −α**; kind-tf keeps the code's sign so the
# released weights give the released A. With α ∈ [−1, 1] each step maps [0, 1] onto [0, 1] monotonically, so
# the curve brightens (α > 0) or darkens (α < 0) without clipping and keeps the order of neighbouring
# pixels. Training is *zero-reference*: losses on spatial consistency, exposure, colour constancy and
# smoothness of A, no ground truth.

# %%
# %matplotlib inline
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # quieter TensorFlow start-up

import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import kind_tf
from kind_tf.plotting import notebook_style, show

notebook_style()    # small notebooks: JPEG figures, 80 dpi

REPO = Path(kind_tf.__file__).resolve().parents[1]                     # this kind-tf checkout
SHARED = Path(os.environ.get("KIND_TF_SHARED", REPO.parent / "shared"))  # reference material: ../shared

# Everything this notebook writes goes into a temporary folder (removed at the end), never the checkout.
_workdir = tempfile.TemporaryDirectory(prefix="kind_tf_04_zero_dce_")
WORK = Path(_workdir.name)

# %% [markdown]
# ## Weights
#
# kind-tf ships its own Zero-DCE++ weights in `checkpoints/zero_dce`, trained by `train.py --stage zerodce`
# (see the model card there); they are used here. Without them the official PyTorch release
# (`../shared/reference/zero_dce_official/Epoch99.pth`) is converted without torch into the temporary
# folder.

# %%
import json

from kind_tf.convert.zero_dce_pth import convert_zero_dce_pth
from kind_tf.inference import ZeroDCE, default_zero_dce_weights_dir

zero_dce_weights = default_zero_dce_weights_dir()
if not (zero_dce_weights / "config.json").is_file():
    PTH = SHARED / "reference" / "zero_dce_official" / "Epoch99.pth"
    if not PTH.is_file():
        raise FileNotFoundError(
            f"no checkpoints/zero_dce and {PTH} not found: this notebook converts the official release from "
            "../shared (CI has it); put the reference material beside the checkout or set KIND_TF_SHARED")
    zero_dce_weights = convert_zero_dce_pth(PTH, WORK / "zero_dce")
    print(f"converted {PTH.name} -> {zero_dce_weights}")
zero_dce = ZeroDCE.from_weights(zero_dce_weights)
config = json.loads((zero_dce_weights / "config.json").read_text())
print({"method": config["method"], **config["recipe"], **config["stages"]["zerodce"]["config"],
       "parameters": zero_dce.model.count_params()})

# %% [markdown]
# ## The curve map A
#
# `enhance(..., return_intermediates=True)` also returns the full-resolution curve map (`curve_map`, the
# code's A), one map per colour channel. It is smooth — estimated on the 12× downscaled image, then
# upsampled — and where it is negative (α = −A > 0) the curve brightens; the more negative, the stronger.
# The colour scale below spans this image's range of A.

# %%
from kind_tf.enhance_job import SAMPLE_IMAGE
from kind_tf.io import load_image

image = load_image(SAMPLE_IMAGE)
result = zero_dce.enhance(image, return_intermediates=True)
A = result["curve_map"]
print(f"A: shape {A.shape}, range [{A.min():.3f}, {A.max():.3f}], mean per channel (R, G, B) "
      f"{np.round(A.mean(axis=(0, 1)), 3)}")

fig, axes = plt.subplots(1, 5, figsize=(16, 2.6), layout="constrained")
axes[0].imshow(image); axes[0].set_title("input")
axes[1].imshow(np.clip(result["enhanced"], 0, 1)); axes[1].set_title("Zero-DCE++ output")
for ax, channel, name in zip(axes[2:], range(3), ("R", "G", "B")):
    mapped = ax.imshow(A[..., channel], cmap="viridis", vmin=A.min(), vmax=A.max())
    ax.set_title(f"A, channel {name}")
for ax in axes:
    ax.axis("off")
fig.colorbar(mapped, ax=axes[2:], shrink=0.9, label="A = −α")
plt.show()

# %% [markdown]
# ## LE curves of a few pixels
#
# Each pixel gets its own curve. Below: the 8-iteration curve LE₈(x) for the α of four pixels of increasing
# input brightness (green channel), with the pixel's own input value marked — the dot is exactly where
# that pixel's output lands. Right: how the 8 iterations compound for the darkest of the four.
# `kind_tf.models.zero_dce.apply_curve` is the same function the model uses.

# %%
import tensorflow as tf

from kind_tf.models.zero_dce import apply_curve

gray = image.mean(axis=-1)
order = np.argsort(gray, axis=None)
picks = [np.unravel_index(order[int(q * (order.size - 1))], gray.shape) for q in (0.05, 0.35, 0.65, 0.95)]
x = np.linspace(0.0, 1.0, 201, dtype=np.float32)
channel = 1                                             # green

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
left.plot(x, x, "k:", lw=1, label="identity")
for (row, col), color in zip(picks, ("C0", "C1", "C2", "C3")):
    a = A[row, col, channel]
    curve = apply_curve(tf.constant(x), tf.constant(a), 8).numpy()
    x0 = image[row, col, channel]
    y0 = float(apply_curve(tf.constant(x0), tf.constant(a), 8))
    assert abs(y0 - result["enhanced"][row, col, channel]) < 1e-4   # the model's own output
    left.plot(x, curve, color=color, label=f"pixel ({row}, {col}): α = {-a:.2f}")
    left.plot([x0], [y0], "o", color=color)
left.set(xlabel="input x", ylabel="LE₈(x)", title="8-iteration LE curves (green channel)", xlim=(0, 1), ylim=(0, 1))
left.legend(fontsize=8)

row, col = picks[0]
a = A[row, col, channel]
right.plot(x, x, "k:", lw=1)
for n in range(1, 9):
    right.plot(x, apply_curve(tf.constant(x), tf.constant(a), n).numpy(), color=plt.cm.viridis(n / 9), label=f"n = {n}")
right.set(xlabel="input x", ylabel="LEₙ(x)", title=f"iterations for α = {-a:.2f}", xlim=(0, 1), ylim=(0, 1))
right.legend(fontsize=8, ncol=2)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Zero-DCE++ vs KinD on the same image
#
# KinD needs a ratio (its weights' recipe: `auto` with the recomposition R̂·L̂; and, for comparison, the
# original evaluate.py's fusion at ratio 5); Zero-DCE++ decides its brightness itself. The
# no-reference numbers come from the evaluation library: LOE (lightness order error w.r.t. the input,
# lower is better) and NIQE (naturalness, lower is better).

# %%
from kind_tf.evaluation import image_metrics
from kind_tf.inference import KinD, default_weights_dir

kind = KinD.from_weights(default_weights_dir())
auto = kind.enhance(image, ratio="auto", return_intermediates=True)
candidates = {"Zero-DCE++": result["enhanced"],
              f"KinD, ratio auto (= {float(auto['ratio']):.2f})": auto["enhanced"],
              "KinD, fusion, ratio 5": KinD.from_weights(default_weights_dir(), fusion=True).enhance(image, 5.0)}
for label, output in candidates.items():
    metrics = image_metrics(image, np.clip(output, 0, 1), None)
    print(f"{label:28s} mean {output.mean():.3f}  LOE {metrics['loe']:6.1f}  NIQE {metrics['niqe']:.2f}")
params = sum(m.count_params() for m in (kind.decom, kind.restore, kind.adjust) if m is not None)
print(f"parameters: Zero-DCE++ {zero_dce.model.count_params():,}, KinD {params:,}")
show([image, *candidates.values()], ["input", *candidates], cols=2, width=11)

# %%
_workdir.cleanup()
print("removed", WORK)
