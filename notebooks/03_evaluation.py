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
#     - data/sice_pairs/eval
# ---

# %% [markdown]
# # 03 · Evaluation: KinD against classical baselines
#
# `kind_tf.evaluation` (behind `evaluate.py`) enhances every image with every method, measures it and
# draws comparison grids. On a **paired** set (`low/` + `high/`, paired by file name) it reports:
#
# - **PSNR** and **SSIM** of the enhanced image against the normal-light ground truth (higher is better);
# - **LOE**, the lightness order error of the enhanced image with respect to its *input*: how much the
#   method scrambles which pixels are brighter than which (lower is better);
# - **NIQE**, a no-reference naturalness score of the enhanced image (lower is better).
#
# Methods here: `identity` (the dark input itself: the floor), `gamma` (x^(1/2.2)), `he` (histogram
# equalisation of V in HSV) and `kind` at its weights' own recipe (for the shipped weights: the recomposition
# R̂·L̂ with the **auto** ratio protocol — per image, the ratio reaching a fixed output brightness, from the
# input alone; `--fusion --ratio 5` gives the original evaluate.py's fusion at the **fixed** ratio 5, the
# former default, see docs/results.md). A third protocol, `gt-mean`, takes the ratio
# from the ground truth's illumination; it is a diagnostic that uses the answer, and is flagged wherever
# it is reported. We evaluate the first 4 pairs of the SICE evaluation split (512×512, scenes never seen
# in training); a full run is `python evaluate.py --method identity,gamma,he,kind
# --data ../shared/data/sice_pairs/eval --out evaluation/`. Every metric is also reported per
# input-brightness band, beside the ground truth's own brightness, colour cast and blockiness.

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
from kind_tf.plotting import notebook_style

notebook_style()    # small notebooks: JPEG figures, 80 dpi

REPO = Path(kind_tf.__file__).resolve().parents[1]                     # this kind-tf checkout
SHARED = Path(os.environ.get("KIND_TF_SHARED", REPO.parent / "shared"))  # reference material: ../shared

# Everything this notebook writes goes into a temporary folder (removed at the end), never the checkout.
_workdir = tempfile.TemporaryDirectory(prefix="kind_tf_03_evaluation_")
WORK = Path(_workdir.name)

# %%
# This notebook needs the project's reference material (the SICE evaluation pairs). CI has it at ../shared;
# elsewhere set KIND_TF_SHARED to its location.
for _path in (SHARED / "data/sice_pairs/eval",):
    if not _path.exists():
        raise FileNotFoundError(
            f"{_path} not found: this notebook reads ../shared (the SICE evaluation pairs); "
            "put the reference material beside the checkout or set KIND_TF_SHARED")
print("reference material:", SHARED)

# %%
from kind_tf.evaluation import markdown_table, run_evaluation

EVAL = SHARED / "data" / "sice_pairs" / "eval"
OUT = WORK / "evaluation"
start = time.perf_counter()
summary = run_evaluation(["identity", "gamma", "he", "kind"], EVAL, out=OUT,
                         limit=4, grid=2, progress=False, log=print,
                         command="python evaluate.py --method identity,gamma,he,kind "
                                 "--data ../shared/data/sice_pairs/eval --limit 4 --grid 2")
print(f"{time.perf_counter() - start:.1f} s; files: {sorted(p.name for p in OUT.iterdir())}")

# %% [markdown]
# ## The summary table
#
# One row per method run: mean ± population standard deviation over the images (the same table
# `evaluate.py` prints and writes to `summary.md`; `summary.json` has the numbers, `per_image.csv` every
# image). `s / image` is the wall time of one `enhance` call after a warm-up.

# %%
import html
from IPython.display import display


def table(rows, header):
    """Show a table as HTML in the notebook (plain text elsewhere)."""
    cells = lambda row, tag: "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)
    markup = ("<table><thead><tr>" + cells(header, "th") + "</tr></thead><tbody>"
              + "".join("<tr>" + cells(r, "td") + "</tr>" for r in rows) + "</tbody></table>")
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    text = "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in [header, *rows])
    display({"text/html": markup, "text/plain": text}, raw=True)


lines = markdown_table(summary)
split = lambda line: [cell.strip() for cell in line.strip().strip("|").split("|")]
table([split(line) for line in lines[2:]], split(lines[0]))
for entry in summary["methods"]:
    if entry["ratio_protocol"] == "auto":
        print(f"{entry['label']}: ratios used {entry['ratio']['mean']:.2f} ± {entry['ratio']['std']:.2f}")

# %% [markdown]
# ## Per image
#
# PSNR / SSIM of every run on every image, from `per_image.csv`. Averages over four images hide a lot:
# the right brightness differs from scene to scene, which is what the ratio protocols are about.

# %%
import csv

from kind_tf.evaluation import Run

with open(OUT / "per_image.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))
labels = [m["label"] for m in summary["methods"]]
names = list(dict.fromkeys(row["name"] for row in rows))
outputs = {m["method"]: m.get("output") for m in summary["methods"]}   # kind: fusion or recompose
by_key = {}
for row in rows:
    fixed = float(row["ratio"]) if row["ratio_protocol"] == "fixed" else None
    label = Run(row["method"], row["ratio_protocol"], fixed, outputs[row["method"]]).label  # as in the summary
    by_key[row["name"], label] = f"{float(row['psnr']):.2f} / {float(row['ssim']):.3f}"
table([[name] + [by_key.get((name, label), "") for label in labels] for name in names],
      ["image (PSNR / SSIM)"] + labels)

# %% [markdown]
# ## Comparison grids
#
# For the first `grid` images the evaluation writes `grids/NNN_<name>.png`: the input, every method and the
# ground truth side by side, each tile captioned with its numbers. Shown here in rows of four tiles.

# %%
from PIL import Image

for path in sorted((OUT / "grids").glob("*.png")):
    grid = np.asarray(Image.open(path))
    tiles = 2 + len(summary["methods"])                # input, every run, ground truth
    width = grid.shape[1] // tiles
    pieces = [grid[:, i * width:(i + 1) * width] for i in range(tiles)]
    cols = 4
    fig, axes = plt.subplots(-(-tiles // cols), cols, figsize=(15, 15 / cols * grid.shape[0] / width * -(-tiles // cols)))
    for ax in axes.flat:
        ax.axis("off")
    for ax, piece in zip(axes.flat, pieces):
        ax.imshow(piece)
    print(path.name)
    fig.tight_layout(pad=0.3)
    plt.show()

# %% [markdown]
# Things to look for: `identity` scores the input itself — its PSNR and SSIM are the floor every method
# should beat, and its LOE is 0 by definition (LOE grows as a method remaps pixels differently from place
# to place). PSNR and SSIM reward matching the ground truth's exposure, so the cheap global baselines can
# be competitive on them; KinD's brightness follows the ratio, and fixed vs auto can change its PSNR a lot
# on the same image. If the weights folder has no restoration stage (the interim weights), KinD's output
# keeps the noise of R_low.

# %%
_workdir.cleanup()
print("removed", WORK)
