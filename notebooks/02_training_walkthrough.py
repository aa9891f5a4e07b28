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
#     - data/sice_pairs/train
#     - data/sice_pairs/eval
# ---

# %% [markdown]
# # 02 · Training walkthrough: the three KinD stages
#
# KinD is trained on **paired** images (the same scene under low and normal light), one stage at a time,
# each later stage using the DecomNet trained before it, frozen:
#
# | stage | network | trained to | losses |
# |---|---|---|---|
# | `decom` | DecomNet (low and high, shared weights) | split each image into R ∘ I | reconstruction R·I ≈ image (both exposures), **reflectance consistency** R_low ≈ R_high, illumination smoothness guided by the image gradients (`mutual_i`, `mutual_input_*`) |
# | `restore` | RestorationNet(R_low, I_low) | clean the low-light reflectance | MSE + gradient + (1 − SSIM) against R_high^1.2 |
# | `adjust` | IlluminationAdjustNet(I, ratio map) | turn I_low into I_high (and back) | MSE + gradient, with the **ratio** α = mean(I_high) / mean(I_low) of the pair as its input |
#
# `train.py` is a thin command line over the library function `kind_tf.training.train(TrainConfig)`; this
# notebook calls the library directly. To keep it to about a minute on two CPU cores it trains a *toy*
# run: 8 SICE pairs downscaled to 128 px, 48 px patches, a few dozen steps per stage. That shows the
# mechanics — data folder, run folder, TensorBoard logs, exported weights — and the first thing the
# networks learn, not the quality of a real run (the shipped weights took thousands of steps per stage on
# all 344 pairs; see `checkpoints/kind/README.md`).

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
_workdir = tempfile.TemporaryDirectory(prefix="kind_tf_02_training_")
WORK = Path(_workdir.name)

# %%
# This notebook needs the project's reference material (the SICE training and evaluation pairs). CI has it at ../shared;
# elsewhere set KIND_TF_SHARED to its location.
for _path in (SHARED / "data/sice_pairs/train", SHARED / "data/sice_pairs/eval",):
    if not _path.exists():
        raise FileNotFoundError(
            f"{_path} not found: this notebook reads ../shared (the SICE training and evaluation pairs); "
            "put the reference material beside the checkout or set KIND_TF_SHARED")
print("reference material:", SHARED)

# %% [markdown]
# ## A tiny paired dataset
#
# A training folder holds `low/` and `high/`; the two images of a pair share their file name (pairs are
# matched by name, never by sorted order). We take 8 pairs spread over the training set's scenes and
# downscale them to 128 px into the temporary folder.

# %%
from PIL import Image

TRAIN = SHARED / "data" / "sice_pairs" / "train"
DATA = WORK / "data"
SIZE = 128

lows = {p.stem: p for p in (TRAIN / "low").iterdir()}
highs = {p.stem: p for p in (TRAIN / "high").iterdir()}
stems = sorted(set(lows) & set(highs))
stems = stems[:: len(stems) // 8][:8]               # spread over the set's scenes

def downscaled(path, size=SIZE):
    with Image.open(path) as img:
        img = img.convert("RGB")
        scale = size / max(img.size)
        return img.resize((round(img.width * scale), round(img.height * scale)), Image.BOX)

for folder, sources in (("low", lows), ("high", highs)):
    (DATA / folder).mkdir(parents=True)
    for stem in stems:
        downscaled(sources[stem]).save(DATA / folder / f"{stem}.png")
print(f"{len(stems)} pairs in {DATA}: {', '.join(stems)}")
thumbs = [np.asarray(Image.open(DATA / f / f"{s}.png"), np.float32) / 255 for f in ("low", "high") for s in stems]
show(thumbs, [f"low {s}" for s in stems] + [f"high {s}" for s in stems], cols=8, width=13)

# %% [markdown]
# ## Before training: a random DecomNet
#
# We decompose one held-out image (a low-light frame of the evaluation split, whose scenes never appear in
# training) with a freshly initialised DecomNet (seed 0, the trainer's default seed). The network input
# is the min-max normalised image, as in the pipeline and in training.

# %%
import keras
import tensorflow as tf

from kind_tf.image_ops import minmax_normalize
from kind_tf.weights import build_stage

EVAL = SHARED / "data" / "sice_pairs" / "eval"
probe_name = sorted(p.name for p in (EVAL / "low").iterdir())[0]
probe = np.asarray(downscaled(EVAL / "low" / probe_name, 256), np.float32) / 255
probe_input = minmax_normalize(tf.constant(probe[None]))

def decompose(decom):
    reflectance, illumination = decom(probe_input)
    recon_error = float(tf.reduce_mean(tf.abs(reflectance * illumination - probe_input)))
    return reflectance[0].numpy(), illumination[0].numpy(), recon_error

def report(label, decomposition):
    R, I, err = decomposition
    print(f"{label:18s} reconstruction error |R*I - x| = {err:.4f}; illumination mean {I.mean():.3f}, "
          f"std {I.std():.4f}")

keras.utils.set_random_seed(0)
decompositions = {"random init": decompose(build_stage("decom"))}
R, I, _ = decompositions["random init"]
report("random init", decompositions["random init"])
show([probe, probe_input[0], R, I], ["input " + probe_name, "x (min-max stretched)", "R (random init)",
                                      "I (random init)"], width=12)

# %% [markdown]
# ## Train the three stages
#
# Each call below is what `python train.py --stage STAGE --data DATA --run-dir RUN --preset cpu --steps N
# --batch-size B --patch-size 48 --log-every 2 [--lr ...]` runs. `preset="cpu"` is the short CPU schedule
# (same losses, data and Adam optimiser as the original recipe); the keyword overrides shrink it further,
# and the toy DecomNet gets a 30× learning rate (3e-3 instead of 1e-4) so that 60 steps visibly move it.
# The `restore` and `adjust` stages first decompose the training set with the frozen DecomNet from
# `RUN/weights` (cached in `RUN/cache`), then train on patches of those maps. Re-running a call would
# resume from `RUN/<stage>/ckpt`.

# %%
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")   # tqdm without ipywidgets
from kind_tf.training import TrainConfig, train

RUN = WORK / "run"
SCHEDULE = {"decom": dict(steps=60, batch_size=10, lr=3e-3),   # batch 10 / patch 48: the original's
            "restore": dict(steps=30, batch_size=4),           # batch 4 (patch 48 instead of 384)
            "adjust": dict(steps=40, batch_size=10)}
results = {}
for stage, schedule in SCHEDULE.items():
    config = TrainConfig(stage=stage, data=str(DATA), run_dir=str(RUN), preset="cpu", patch_size=48,
                         log_every=2, save_every=schedule["steps"], progress=False, **schedule)
    start = time.perf_counter()
    results[stage] = result = train(config)
    losses = ", ".join(f"{k} {v:.4f}" for k, v in result.losses.items())
    print(f"{stage:8s} {result.status} {result.final_step}/{result.total_steps} steps in "
          f"{time.perf_counter() - start:4.1f} s ({result.steps_per_second:.1f} steps/s): {losses}")
print()
for path in sorted(RUN.glob("*/*")):
    if path.parent.name != "cache":
        print(path.relative_to(WORK))


# %% [markdown]
# ## Loss curves from the TensorBoard logs
#
# The trainer logs every loss term (and the learning rate, steps/s and evaluation metrics when
# `eval_data` is given) to `RUN/<stage>/tb`. Point TensorBoard at the run (`tensorboard --logdir RUN`), or
# read the event files directly as below. Each scalar is a serialized tensor in a `tf.compat.v1.Event`.

# %%
def read_scalars(tb_dir):
    """{tag: (steps, values)} from the TensorBoard event files in tb_dir."""
    scalars = {}
    for path in sorted(Path(tb_dir).glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    scalars.setdefault(value.tag, []).append((event.step, float(tf.make_ndarray(value.tensor))))
    return {tag: tuple(np.array(v) for v in zip(*sorted(points))) for tag, points in scalars.items()}

fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
for ax, stage in zip(axes, SCHEDULE):
    scalars = read_scalars(RUN / stage / "tb")
    for tag, (steps, values) in sorted(scalars.items()):
        if tag.startswith("loss/"):
            name = tag.split("/", 1)[1]
            ax.plot(steps, values, label=name, lw=2.5 if name == "total" else 1.2)
    ax.set_yscale("log")
    ax.set_title(f"{stage}: loss terms")
    ax.set_xlabel("step")
    ax.legend(fontsize=7, ncol=2, loc="upper right")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## After training: the decomposition again
#
# The trained stages are exported to `RUN/weights` (the same folder format as `checkpoints/kind`, so
# `KinD.from_weights(RUN / "weights")` runs them). Columns: the random network, the toy run, and the
# shipped DecomNet (thousands of steps on all 344 pairs) for reference; top R, bottom I.
#
# What a few dozen steps learn first is the **reconstruction** R·I ≈ x: the error drops, but with an
# almost uniform illumination, so R is little more than a rescaled copy of the image. Separating lighting
# from reflectance — an I that follows the light and an R that matches the normal-light image's R — is
# the work of the reflectance-consistency and smoothness terms over thousands of steps (third column).

# %%
from kind_tf.inference import KinD, default_weights_dir
from kind_tf.weights import has_stage, load_stage

trained = RUN / "weights"
steps = results["decom"].final_step
decompositions[f"after {steps} steps"] = decompose(load_stage(trained, "decom"))
shipped = default_weights_dir()
if has_stage(shipped, "decom"):
    decompositions["shipped weights"] = decompose(load_stage(shipped, "decom"))

for label, decomposition in decompositions.items():
    report(label, decomposition)
labels = list(decompositions)
show([probe] + [decompositions[k][0] for k in labels] + [probe_input[0]] + [decompositions[k][1] for k in labels],
     ["input"] + [f"R, {k}" for k in labels] + ["x (network input)"] + [f"I, {k}" for k in labels],
     cols=1 + len(labels), width=12)

# %% [markdown]
# The whole toy pipeline (all three stages just trained) next to the shipped one, at ratio 5:

# %%
toy = KinD.from_weights(trained).enhance(probe, ratio=5.0)
panels, titles = [probe, toy], ["input", "toy run (this notebook)"]
if has_stage(shipped, "decom") and has_stage(shipped, "adjust"):
    panels.append(KinD.from_weights(shipped).enhance(probe, ratio=5.0))
    titles.append("shipped weights")
show(panels, titles, width=3 * len(panels))

# %% [markdown]
# ## Real training
#
# ```bash
# python train.py --stage decom   --data ../shared/data/sice_pairs/train --eval-data ../shared/data/sice_pairs/eval --run-dir runs/kind --preset cpu
# python train.py --stage restore --data ../shared/data/sice_pairs/train --eval-data ../shared/data/sice_pairs/eval --run-dir runs/kind --preset cpu
# python train.py --stage adjust  --data ../shared/data/sice_pairs/train --eval-data ../shared/data/sice_pairs/eval --run-dir runs/kind --preset cpu
# tensorboard --logdir runs/kind
# ```
#
# `--preset original` is the paper's recipe (thousands of epochs; for a GPU). With `--eval-data` the
# trainer also logs PSNR/SSIM of each stage and of the whole pipeline, and image summaries.

# %%
_workdir.cleanup()
print("removed", WORK)
