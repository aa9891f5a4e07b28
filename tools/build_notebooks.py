#!/usr/bin/env python
"""Generate the walkthrough notebooks in notebooks/ from the cell sources below, execute them, save them.

    python tools/build_notebooks.py                 # write + execute every notebook, save with outputs
    python tools/build_notebooks.py 02 04           # only these (by number or name prefix)
    python tools/build_notebooks.py --no-execute    # write the sources only (no outputs)
    python tools/build_notebooks.py --check         # exit 1 if notebooks/*.ipynb differ from this script

This script is the source of truth: edit the cells here, never the .ipynb files, and re-run it (e.g.
after new weights land in checkpoints/kind). Executing uses nbclient with the ``python3`` kernel, the
notebooks' folder as working directory and a time limit per cell; a failing cell leaves the old file
untouched and makes the script exit with status 1. Every notebook writes only into a temporary
directory, never into the checkout. tests/test_notebooks.py executes the notebooks the same way.

Outputs are kept small: figures are JPEG at 80 dpi, and TensorFlow's C++ start-up log lines
(``I0000 ...``/``E0000 ...`` on stderr, e.g. "could not find cuda drivers") are dropped from the
saved outputs — they describe the machine that built the notebook, not the walkthrough.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO / "notebooks"
CELL_TIMEOUT = 300          # seconds per cell (nbclient), as in tests/test_notebooks.py
KERNEL = "python3"


def md(text: str) -> tuple[str, str]:
    return "markdown", textwrap.dedent(text).strip("\n")


def code(text: str) -> tuple[str, str]:
    return "code", textwrap.dedent(text).strip("\n")


@dataclass(frozen=True)
class Notebook:
    """One notebook: its file name, cells, and the ../shared paths it reads (it is skipped without them)."""

    name: str
    title: str
    cells: list[tuple[str, str]]
    needs_shared: tuple[str, ...] = ()
    # The notebook needs ``needs_shared`` only when none of these (repo-relative) paths exists.
    unless_repo_has: tuple[str, ...] = field(default=())

    @property
    def path(self) -> Path:
        return NOTEBOOKS_DIR / self.name

    def missing_requirements(self, shared: Path, repo: Path = REPO) -> list[str]:
        """The ../shared paths this notebook needs and that are absent (empty: it can run here)."""
        if any((repo / p).exists() for p in self.unless_repo_has):
            return []
        return [str(shared / p) for p in self.needs_shared if not (shared / p).exists()]


# ------------------------------------------------------------------------------------------------ shared code

SETUP = '''
%matplotlib inline
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # quieter TensorFlow start-up

import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib_inline.backend_inline import set_matplotlib_formats

import kind_tf

set_matplotlib_formats("jpeg", pil_kwargs={"quality": 85})    # small notebooks: JPEG figures, 80 dpi
plt.rcParams.update({"figure.dpi": 80, "figure.facecolor": "white", "savefig.facecolor": "white",
                     "axes.titlesize": 10})

REPO = Path(kind_tf.__file__).resolve().parents[1]                     # this kind-tf checkout
SHARED = Path(os.environ.get("KIND_TF_SHARED", REPO.parent / "shared"))  # reference material: ../shared
'''

TEMP = '''
# Everything this notebook writes goes into a temporary folder (removed at the end), never the checkout.
_workdir = tempfile.TemporaryDirectory(prefix="{prefix}")
WORK = Path(_workdir.name)
'''

SHOW = '''

def show(images, titles=(), cols=None, width=15.0):
    """Images side by side in rows of `cols`; one-channel maps (R, I, ...) in gray, all on [0, 1]."""
    cols = cols or len(images)
    rows = -(-len(images) // cols)
    height, w = np.asarray(images[0]).shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(width, rows * (width / cols * height / w + 0.35)), squeeze=False)
    titles = list(titles) + [""] * (len(images) - len(titles))
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0)
        ax.set_title(title)
    fig.tight_layout(pad=0.4)
    plt.show()
'''


def setup(prefix: str | None = None, show: bool = True) -> tuple[str, str]:
    source = SETUP + (TEMP.format(prefix=prefix) if prefix else "") + (SHOW if show else "")
    return code(source)


def require_shared(*parts: str, why: str) -> tuple[str, str]:
    paths = ", ".join(f'SHARED / "{p}"' for p in parts)
    return code(f'''
        # This notebook needs the project's reference material ({why}). CI has it at ../shared;
        # elsewhere set KIND_TF_SHARED to its location.
        for _path in ({paths},):
            if not _path.exists():
                raise FileNotFoundError(
                    f"{{_path}} not found: this notebook reads ../shared ({why}); "
                    "put the reference material beside the checkout or set KIND_TF_SHARED")
        print("reference material:", SHARED)
    ''')


CLEANUP = code('''
    _workdir.cleanup()
    print("removed", WORK)
''')

# ------------------------------------------------------------------------------------------- 01 quick start

QUICKSTART = Notebook("01_quickstart.ipynb", "Quick start", [
    md('''
        # 01 · Quick start: enhance a dark photo with KinD

        **KinD** ("Kindling the Darkness", Zhang, Zhang & Guo, ACM MM 2019) builds on the Retinex model: an
        image is the product of a **reflectance** R (the scene's colours and textures, ideally the same under
        any lighting) and an **illumination** I (a one-channel map of how much light falls on each pixel):

        $$\\text{image} = R \\circ I$$

        Three networks, trained stage by stage:

        1. **DecomNet** splits the image into R and I;
        2. **RestorationNet** cleans the reflectance (low light means noise and colour casts in R), guided by I;
        3. **IlluminationAdjustNet** brightens I. Its second input is the **ratio** α: a constant map that says
           how much brighter (α > 1) or darker (α < 1) the illumination should become — the user's knob.

        The original post-processing then fuses the brightened Retinex image with the input:
        `output = I·x + (1 − I)·(R_restored · w · I_adjusted)`, where x is the (min-max normalised) input and
        w = min(√(2·G₃ ∗ gray(R)), 1) a *denoise weight* that damps R in the darkest, noisiest regions.
        Well-lit pixels (I ≈ 1) keep their input value; dark pixels take the enhanced one.

        This notebook enhances the bundled sample photo with the shipped weights (`checkpoints/kind`).
        It runs in a few seconds on a CPU and writes no files.
    '''),
    setup(),
    md('''
        ## Load the shipped weights

        `KinD.from_weights` reads a kind-tf weights folder: `config.json` plus one `<stage>.weights.h5` per
        stage. A folder without a restoration stage (like the original release, which never shipped one) is
        allowed: the pipeline then uses R_low itself as the "restored" reflectance.
    '''),
    code('''
        import json

        from kind_tf.inference import KinD, default_weights_dir
        from kind_tf.weights import has_stage

        weights = default_weights_dir()
        kind = KinD.from_weights(weights)
        metadata = json.loads((weights / "config.json").read_text()).get("metadata", {})
        print("weights:", weights.relative_to(REPO))
        for stage in ("decom", "restore", "adjust"):
            if has_stage(weights, stage):
                steps = metadata.get(f"{stage}_training", {}).get("step", "?")
                print(f"  {stage:8s} loaded   (trained {steps} steps)")
            else:
                print(f"  {stage:8s} absent   -> restored reflectance = R_low (as the original release)")
    '''),
    md('''
        ## Enhance the sample and look inside

        `enhance(image, ratio, return_intermediates=True)` returns every intermediate of the pipeline as numpy
        arrays. The input is any RGB image (uint8 or float in [0, 1]); `load_image` reads files robustly
        (EXIF orientation, grayscale, 16-bit, ...). Without a `ratio` (or `fusion`) argument it runs the weights'
        own recipe, recorded in their `config.json`: for the shipped weights the paper's recomposition R̂·L̂ at
        the auto ratio (their best measured recipe); converted original weights keep the original evaluate.py's
        fusion at ratio 5.
    '''),
    code('''
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
    '''),
    code('''
        restored_title = "restored R" if kind.restore is not None else "restored R (= R, no restore stage)"
        show([image, parts["reflectance"], parts["illumination"],
              parts["restored_reflectance"], parts["adjusted_illumination"], parts["enhanced"]],
             ["input", "reflectance R", "illumination I", restored_title,
              f"adjusted I (ratio {float(parts['ratio']):g})", "output"], cols=3, width=13)
    '''),
    md('''
        Reading the panels: **R** looks like a flat, evenly lit (and noisy) version of the scene — the lighting
        has been divided out; **I** is a smooth gray map, dark where the scene is dark. The adjust net maps I to
        the **adjusted I**, brighter for a ratio above 1 (at high ratios it saturates towards uniform full
        light). The output multiplies restored R by it — colours come from R, brightness from the adjusted
        illumination (the recomposition R̂·L̂, the shipped recipe); the original evaluate.py's fusion
        (`fusion=True`) also blends that with the input x wherever I says the input was already well lit.
        Part of the brightening is the min-max stretch of the input itself (printed above), as in the original.

        ## The ratio: how bright?

        The same image at several ratios: the output (top) and the adjusted illumination (bottom).
        `ratio="auto"` picks, for each image alone, the ratio in [1, 10] whose output has mean brightness 0.49
        (like auto-exposure, searched on a small preview; the title shows the ratio it chose). With the
        original fusion the shipped weights often cannot reach it and auto ends at the largest ratio.
    '''),
    code('''
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
    '''),
    md('''
        ## Next

        - From the command line: `python enhance.py photo.jpg --ratio auto --save-intermediates -o out/`
          (large photos are tiled automatically; see the README).
        - `02_training_walkthrough.ipynb` trains the three stages; `03_evaluation.ipynb` measures them against
          baselines; `04_zero_dce.ipynb` looks at Zero-DCE++; `05_export_and_serve.ipynb` exports a SavedModel.
    '''),
])

# ------------------------------------------------------------------------------------------------ 02 training

TRAINING = Notebook("02_training_walkthrough.ipynb", "Training walkthrough", [
    md('''
        # 02 · Training walkthrough: the three KinD stages

        KinD is trained on **paired** images (the same scene under low and normal light), one stage at a time,
        each later stage using the DecomNet trained before it, frozen:

        | stage | network | trained to | losses |
        |---|---|---|---|
        | `decom` | DecomNet (low and high, shared weights) | split each image into R ∘ I | reconstruction R·I ≈ image (both exposures), **reflectance consistency** R_low ≈ R_high, illumination smoothness guided by the image gradients (`mutual_i`, `mutual_input_*`) |
        | `restore` | RestorationNet(R_low, I_low) | clean the low-light reflectance | MSE + gradient + (1 − SSIM) against R_high^1.2 |
        | `adjust` | IlluminationAdjustNet(I, ratio map) | turn I_low into I_high (and back) | MSE + gradient, with the **ratio** α = mean(I_high) / mean(I_low) of the pair as its input |

        `train.py` is a thin command line over the library function `kind_tf.training.train(TrainConfig)`; this
        notebook calls the library directly. To keep it to about a minute on two CPU cores it trains a *toy*
        run: 8 SICE pairs downscaled to 128 px, 48 px patches, a few dozen steps per stage. That shows the
        mechanics — data folder, run folder, TensorBoard logs, exported weights — and the first thing the
        networks learn, not the quality of a real run (the shipped weights took thousands of steps per stage on
        all 344 pairs; see `checkpoints/kind/README.md`).
    '''),
    setup(prefix="kind_tf_02_training_"),
    require_shared("data/sice_pairs/train", "data/sice_pairs/eval", why="the SICE training and evaluation pairs"),
    md('''
        ## A tiny paired dataset

        A training folder holds `low/` and `high/`; the two images of a pair share their file name (pairs are
        matched by name, never by sorted order). We take 8 pairs spread over the training set's scenes and
        downscale them to 128 px into the temporary folder.
    '''),
    code('''
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
    '''),
    md('''
        ## Before training: a random DecomNet

        We decompose one held-out image (a low-light frame of the evaluation split, whose scenes never appear in
        training) with a freshly initialised DecomNet (seed 0, the trainer's default seed). The network input
        is the min-max normalised image, as in the pipeline and in training.
    '''),
    code('''
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
    '''),
    md('''
        ## Train the three stages

        Each call below is what `python train.py --stage STAGE --data DATA --run-dir RUN --preset cpu --steps N
        --batch-size B --patch-size 48 --log-every 2 [--lr ...]` runs. `preset="cpu"` is the short CPU schedule
        (same losses, data and Adam optimiser as the original recipe); the keyword overrides shrink it further,
        and the toy DecomNet gets a 30× learning rate (3e-3 instead of 1e-4) so that 60 steps visibly move it.
        The `restore` and `adjust` stages first decompose the training set with the frozen DecomNet from
        `RUN/weights` (cached in `RUN/cache`), then train on patches of those maps. Re-running a call would
        resume from `RUN/<stage>/ckpt`.
    '''),
    code('''
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
    '''),
    md('''
        ## Loss curves from the TensorBoard logs

        The trainer logs every loss term (and the learning rate, steps/s and evaluation metrics when
        `eval_data` is given) to `RUN/<stage>/tb`. Point TensorBoard at the run (`tensorboard --logdir RUN`), or
        read the event files directly as below. Each scalar is a serialized tensor in a `tf.compat.v1.Event`.
    '''),
    code('''
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
    '''),
    md('''
        ## After training: the decomposition again

        The trained stages are exported to `RUN/weights` (the same folder format as `checkpoints/kind`, so
        `KinD.from_weights(RUN / "weights")` runs them). Columns: the random network, the toy run, and the
        shipped DecomNet (thousands of steps on all 344 pairs) for reference; top R, bottom I.

        What a few dozen steps learn first is the **reconstruction** R·I ≈ x: the error drops, but with an
        almost uniform illumination, so R is little more than a rescaled copy of the image. Separating lighting
        from reflectance — an I that follows the light and an R that matches the normal-light image's R — is
        the work of the reflectance-consistency and smoothness terms over thousands of steps (third column).
    '''),
    code('''
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
    '''),
    md('''
        The whole toy pipeline (all three stages just trained) next to the shipped one, at ratio 5:
    '''),
    code('''
        toy = KinD.from_weights(trained).enhance(probe, ratio=5.0)
        panels, titles = [probe, toy], ["input", "toy run (this notebook)"]
        if has_stage(shipped, "decom") and has_stage(shipped, "adjust"):
            panels.append(KinD.from_weights(shipped).enhance(probe, ratio=5.0))
            titles.append("shipped weights")
        show(panels, titles, width=3 * len(panels))
    '''),
    md('''
        ## Real training

        ```bash
        python train.py --stage decom   --data ../shared/data/sice_pairs/train --eval-data ../shared/data/sice_pairs/eval --run-dir runs/kind --preset cpu
        python train.py --stage restore --data ../shared/data/sice_pairs/train --eval-data ../shared/data/sice_pairs/eval --run-dir runs/kind --preset cpu
        python train.py --stage adjust  --data ../shared/data/sice_pairs/train --eval-data ../shared/data/sice_pairs/eval --run-dir runs/kind --preset cpu
        tensorboard --logdir runs/kind
        ```

        `--preset original` is the paper's recipe (thousands of epochs; for a GPU). With `--eval-data` the
        trainer also logs PSNR/SSIM of each stage and of the whole pipeline, and image summaries.
    '''),
    CLEANUP,
], needs_shared=("data/sice_pairs/train", "data/sice_pairs/eval"))

# ---------------------------------------------------------------------------------------------- 03 evaluation

EVALUATION = Notebook("03_evaluation.ipynb", "Evaluation", [
    md('''
        # 03 · Evaluation: KinD against classical baselines

        `kind_tf.evaluation` (behind `evaluate.py`) enhances every image with every method, measures it and
        draws comparison grids. On a **paired** set (`low/` + `high/`, paired by file name) it reports:

        - **PSNR** and **SSIM** of the enhanced image against the normal-light ground truth (higher is better);
        - **LOE**, the lightness order error of the enhanced image with respect to its *input*: how much the
          method scrambles which pixels are brighter than which (lower is better);
        - **NIQE**, a no-reference naturalness score of the enhanced image (lower is better).

        Methods here: `identity` (the dark input itself: the floor), `gamma` (x^(1/2.2)), `he` (histogram
        equalisation of V in HSV) and `kind` at its weights' own recipe (for the shipped weights: the recomposition
        R̂·L̂ with the **auto** ratio protocol — per image, the ratio reaching a fixed output brightness, from the
        input alone; `--fusion --ratio 5` gives the original evaluate.py's fusion at the **fixed** ratio 5, the
        former default, see docs/results.md). A third protocol, `gt-mean`, takes the ratio
        from the ground truth's illumination; it is a diagnostic that uses the answer, and is flagged wherever
        it is reported. We evaluate the first 4 pairs of the SICE evaluation split (512×512, scenes never seen
        in training); a full run is `python evaluate.py --method identity,gamma,he,kind
        --data ../shared/data/sice_pairs/eval --out evaluation/`. Every metric is also reported per
        input-brightness band, beside the ground truth's own brightness, colour cast and blockiness.
    '''),
    setup(prefix="kind_tf_03_evaluation_", show=False),
    require_shared("data/sice_pairs/eval", why="the SICE evaluation pairs"),
    code('''
        from kind_tf.evaluation import markdown_table, run_evaluation

        EVAL = SHARED / "data" / "sice_pairs" / "eval"
        OUT = WORK / "evaluation"
        start = time.perf_counter()
        summary = run_evaluation(["identity", "gamma", "he", "kind"], EVAL, out=OUT,
                                 limit=4, grid=2, progress=False, log=print,
                                 command="python evaluate.py --method identity,gamma,he,kind "
                                         "--data ../shared/data/sice_pairs/eval --limit 4 --grid 2")
        print(f"{time.perf_counter() - start:.1f} s; files: {sorted(p.name for p in OUT.iterdir())}")
    '''),
    md('''
        ## The summary table

        One row per method run: mean ± population standard deviation over the images (the same table
        `evaluate.py` prints and writes to `summary.md`; `summary.json` has the numbers, `per_image.csv` every
        image). `s / image` is the wall time of one `enhance` call after a warm-up.
    '''),
    code('''
        import html
        from IPython.display import display


        def table(rows, header):
            """Show a table as HTML in the notebook (plain text elsewhere)."""
            cells = lambda row, tag: "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)
            markup = ("<table><thead><tr>" + cells(header, "th") + "</tr></thead><tbody>"
                      + "".join("<tr>" + cells(r, "td") + "</tr>" for r in rows) + "</tbody></table>")
            widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
            text = "\\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in [header, *rows])
            display({"text/html": markup, "text/plain": text}, raw=True)


        lines = markdown_table(summary)
        split = lambda line: [cell.strip() for cell in line.strip().strip("|").split("|")]
        table([split(line) for line in lines[2:]], split(lines[0]))
        for entry in summary["methods"]:
            if entry["ratio_protocol"] == "auto":
                print(f"{entry['label']}: ratios used {entry['ratio']['mean']:.2f} ± {entry['ratio']['std']:.2f}")
    '''),
    md('''
        ## Per image

        PSNR / SSIM of every run on every image, from `per_image.csv`. Averages over four images hide a lot:
        the right brightness differs from scene to scene, which is what the ratio protocols are about.
    '''),
    code('''
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
    '''),
    md('''
        ## Comparison grids

        For the first `grid` images the evaluation writes `grids/NNN_<name>.png`: the input, every method and the
        ground truth side by side, each tile captioned with its numbers. Shown here in rows of four tiles.
    '''),
    code('''
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
    '''),
    md('''
        Things to look for: `identity` scores the input itself — its PSNR and SSIM are the floor every method
        should beat, and its LOE is 0 by definition (LOE grows as a method remaps pixels differently from place
        to place). PSNR and SSIM reward matching the ground truth's exposure, so the cheap global baselines can
        be competitive on them; KinD's brightness follows the ratio, and fixed vs auto can change its PSNR a lot
        on the same image. If the weights folder has no restoration stage (the interim weights), KinD's output
        keeps the noise of R_low.
    '''),
    CLEANUP,
], needs_shared=("data/sice_pairs/eval",))

# ------------------------------------------------------------------------------------------------ 04 Zero-DCE

ZERO_DCE = Notebook("04_zero_dce.ipynb", "Zero-DCE++", [
    md('''
        # 04 · Zero-DCE++: light enhancement as curve estimation

        **Zero-DCE++** (Li, Guo & Loy, TPAMI 2021) takes a different road from KinD: no decomposition, no
        paired data. A tiny network, DCE-Net (10,561 parameters), looks at a 12× downscaled copy of the image and
        estimates a per-pixel, per-channel **curve parameter map** A. The full-resolution image is then brightened
        by applying a quadratic **light-enhancement (LE) curve** 8 times:

        $$LE_{n}(x) = LE_{n-1}(x) + \\alpha\\, LE_{n-1}(x)\\,\\big(1 - LE_{n-1}(x)\\big), \\qquad LE_0(x) = x$$

        The released code writes it as `x ← x + A·(x² − x)`, i.e. **A = −α**; kind-tf keeps the code's sign so the
        released weights give the released A. With α ∈ [−1, 1] each step maps [0, 1] onto [0, 1] monotonically, so
        the curve brightens (α > 0) or darkens (α < 0) without clipping and keeps the order of neighbouring
        pixels. Training is *zero-reference*: losses on spatial consistency, exposure, colour constancy and
        smoothness of A, no ground truth.
    '''),
    setup(prefix="kind_tf_04_zero_dce_"),
    md('''
        ## Weights

        kind-tf ships its own Zero-DCE++ weights in `checkpoints/zero_dce`, trained by `train.py --stage zerodce`
        (see the model card there); they are used here. Without them the official PyTorch release
        (`../shared/reference/zero_dce_official/Epoch99.pth`) is converted without torch into the temporary
        folder.
    '''),
    code('''
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
        print({k: config[k] for k in ("scale_factor", "iterations", "param_count") if k in config})
    '''),
    md('''
        ## The curve map A

        `enhance(..., return_intermediates=True)` also returns the full-resolution curve map (`curve_map`, the
        code's A), one map per colour channel. It is smooth — estimated on the 12× downscaled image, then
        upsampled — and where it is negative (α = −A > 0) the curve brightens; the more negative, the stronger.
        The colour scale below spans this image's range of A.
    '''),
    code('''
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
    '''),
    md('''
        ## LE curves of a few pixels

        Each pixel gets its own curve. Below: the 8-iteration curve LE₈(x) for the α of four pixels of increasing
        input brightness (green channel), with the pixel's own input value marked — the dot is exactly where
        that pixel's output lands. Right: how the 8 iterations compound for the darkest of the four.
        `kind_tf.models.zero_dce.apply_curve` is the same function the model uses.
    '''),
    code('''
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
    '''),
    md('''
        ## Zero-DCE++ vs KinD on the same image

        KinD needs a ratio (its weights' recipe: `auto` with the recomposition R̂·L̂; and, for comparison, the
        original evaluate.py's fusion at ratio 5); Zero-DCE++ decides its brightness itself. The
        no-reference numbers come from the evaluation library: LOE (lightness order error w.r.t. the input,
        lower is better) and NIQE (naturalness, lower is better).
    '''),
    code('''
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
    '''),
    CLEANUP,
], needs_shared=("reference/zero_dce_official/Epoch99.pth",), unless_repo_has=("checkpoints/zero_dce/config.json",))

# -------------------------------------------------------------------------------------------------- 05 export

EXPORT = Notebook("05_export_and_serve.ipynb", "Export and serve", [
    md('''
        # 05 · Export the KinD pipeline as a SavedModel and serve it

        `kind_tf.export.export_kind` writes the whole pipeline — decomposition, restoration, illumination
        adjustment and the fusion — as one TensorFlow SavedModel with the signature **`enhance`**:

        | | name | dtype / shape | meaning |
        |---|---|---|---|
        | in | `image` | float32 `[N, H, W, 3]` | RGB in [0, 1] |
        | in | `ratio` | float32 `[N]` | one brightening **ratio** per image; ≤ 0 means auto |
        | out | `enhanced` | float32 `[N, H, W, 3]` | the result |
        | out | `illumination` | float32 `[N, H, W, 1]` | the adjusted illumination |
        | out | `reflectance` | float32 `[N, H, W, 3]` | the restored reflectance |

        Any batch, height and width (traced once). TensorFlow alone loads it — kind-tf need not be installed
        where it is served (TF Serving, a plain Python service, ...). Command line equivalent:
        `python -m kind_tf.export kind --weights checkpoints/kind --out export/kind`.
    '''),
    setup(prefix="kind_tf_05_export_"),
    code('''
        import tensorflow as tf

        from kind_tf.export import export_kind
        from kind_tf.inference import KinD, default_weights_dir

        tf.get_logger().setLevel("ERROR")          # no "INFO: Assets written to ..." lines
        kind = KinD.from_weights(default_weights_dir())
        EXPORT = WORK / "kind_savedmodel"
        start = time.perf_counter()
        export_kind(kind, EXPORT)
        size = sum(p.stat().st_size for p in EXPORT.rglob("*") if p.is_file())
        print(f"exported in {time.perf_counter() - start:.1f} s: {size / 1e6:.1f} MB")
        for path in sorted(EXPORT.rglob("*")):
            print("  ", path.relative_to(EXPORT), "" if path.is_dir() else f"({path.stat().st_size:,} bytes)")
    '''),
    md('''
        ## Reload it with plain TensorFlow

        `tf.saved_model.load` gives back the signature as a concrete function; inputs are passed by name.
        Keras also registers the first endpoint under the alias `serving_default`, the one TF Serving uses when a
        request names no signature.
    '''),
    code('''
        loaded = tf.saved_model.load(str(EXPORT))
        enhance = loaded.signatures["enhance"]
        print("signatures:", list(loaded.signatures))
        print("inputs: ", enhance.structured_input_signature[1])
        print("outputs:", enhance.structured_outputs)
    '''),
    md('''
        ## Two ratios in one batch

        The sample twice in one batch, brightened by 2 and by 5: one call, one ratio per image.
    '''),
    code('''
        from kind_tf.enhance_job import SAMPLE_IMAGE
        from kind_tf.io import load_image

        image = load_image(SAMPLE_IMAGE)
        ratios = np.array([2.0, 5.0], np.float32)
        batch = np.stack([image, image])
        start = time.perf_counter()
        served = {name: value.numpy() for name, value in enhance(image=tf.constant(batch), ratio=tf.constant(ratios)).items()}
        print(f"one call, batch of {len(batch)} at {image.shape[1]}x{image.shape[0]}: {time.perf_counter() - start:.2f} s")
        for name, value in served.items():
            print(f"  {name:13s} {value.shape}")
        show([image, served["enhanced"][0], served["enhanced"][1], served["illumination"][0], served["illumination"][1]],
             ["input", "enhanced, ratio 2", "enhanced, ratio 5", "adjusted I, ratio 2", "adjusted I, ratio 5"], width=16)
    '''),
    md('''
        ## Same numbers as the Keras pipeline

        The SavedModel runs the very graph of `KinD.enhance` (untiled). The maximum absolute differences should
        be at float32 round-off level.
    '''),
    code('''
        pairs = {"enhanced": "enhanced", "illumination": "adjusted_illumination", "reflectance": "restored_reflectance"}
        worst = 0.0
        for i, ratio in enumerate(ratios):
            reference = kind.enhance(image, ratio=float(ratio), return_intermediates=True, tile=None)
            diffs = {out: float(np.max(np.abs(served[out][i] - reference[ref]))) for out, ref in pairs.items()}
            worst = max(worst, *diffs.values())
            print(f"ratio {ratio:g}: max |SavedModel - Keras| " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
        assert worst < 1e-4, worst
    '''),
    md('''
        Any size, and the automatic ratio (`ratio` ≤ 0), through the same signature without retracing:
    '''),
    code('''
        crop = image[100:300, 150:450]
        out = enhance(image=tf.constant(crop[None]), ratio=tf.constant([0.0]))
        keras_auto = kind.enhance(crop, ratio="auto", return_intermediates=True, tile=None)
        print(f"crop {crop.shape[1]}x{crop.shape[0]}, auto ratio {float(keras_auto['ratio']):.2f}: "
              f"max |SavedModel - Keras| {np.max(np.abs(out['enhanced'][0].numpy() - keras_auto['enhanced'])):.2e}")
        show([crop, out["enhanced"][0].numpy()], ["crop", "enhanced, ratio auto"], width=8)
    '''),
    md('''
        ## Serving

        With TF Serving, place the export in a numbered version folder (`/models/kind/1/`) and start
        `tensorflow_model_server --model_name=kind --model_base_path=/models/kind`; the REST request is

        ```
        POST /v1/models/kind:predict
        {"signature_name": "enhance",
         "inputs": {"image": [[[[0.02, 0.03, 0.01], ...]]], "ratio": [5.0]}}
        ```

        A batch holds images of one size. The pipeline needs about 0.9 KB of activations per pixel, so tile
        large photos on the client side (as `enhance.py` does) or use the uint8 export
        (`export_kind(kind, out, dtype="uint8")`: uint8 in and out, 4× less data over the wire).
        `python -m kind_tf.export zerodce --tflite zero_dce.tflite` exports Zero-DCE++ for mobile.
    '''),
    CLEANUP,
])

NOTEBOOKS = [QUICKSTART, TRAINING, EVALUATION, ZERO_DCE, EXPORT]

# --------------------------------------------------------------------------------------------------- machinery

# TensorFlow / absl C++ log lines ("I0000 00:00:1795647249.139951   28318 port.cc:153] ...") and absl's
# pre-initialisation notice: written to stderr by the runtime, about the build machine.
_NOISE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] .*|WARNING: All log messages before "
                    r"absl::InitializeLog\(\) is called are written to STDERR)$")


def build(notebook: Notebook):
    """The nbformat notebook of ``notebook`` (sources only, no outputs), with deterministic cell ids."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": KERNEL, "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "kind_tf": {"generated_by": "tools/build_notebooks.py"},
    }
    stem = notebook.name.split("_")[0]
    for index, (kind, source) in enumerate(notebook.cells):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(source, id=f"nb{stem}-{index:02d}"))
    return nb


def clean_outputs(nb) -> None:
    """Drop the TF C++ log lines from stderr outputs (and streams left empty), and per-cell timing metadata."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = [line for line in output["text"].splitlines(keepends=True) if not _NOISE.match(line.rstrip("\n"))]
                output["text"] = "".join(lines)
                if not output["text"].strip():
                    continue
            kept.append(output)
        cell["outputs"] = kept


def execute(nb, timeout: int = CELL_TIMEOUT, cwd: Path = NOTEBOOKS_DIR):
    """Run ``nb`` top to bottom in a fresh ``python3`` kernel (raises nbclient's CellExecutionError on a failure)."""
    from nbclient import NotebookClient

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def write(nb, path: Path) -> None:
    import nbformat

    nbformat.validate(nb)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        nbformat.write(nb, handle)
    os.replace(tmp, path)


def sources(nb) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def select(names: list[str]) -> list[Notebook]:
    if not names:
        return NOTEBOOKS
    chosen = []
    for name in names:
        matches = [nb for nb in NOTEBOOKS if nb.name.startswith(name) or nb.name == name]
        if not matches:
            raise SystemExit(f"build_notebooks.py: no notebook matches {name!r} "
                             f"(known: {', '.join(nb.name for nb in NOTEBOOKS)})")
        chosen += [nb for nb in matches if nb not in chosen]
    return chosen


def check(notebooks: list[Notebook]) -> int:
    """0 when every notebooks/*.ipynb has exactly this script's cells (and outputs), else 1 (listed)."""
    import nbformat

    problems = []
    for notebook in notebooks:
        if not notebook.path.is_file():
            problems.append(f"{notebook.path.name}: missing")
            continue
        saved = nbformat.read(notebook.path, as_version=4)
        if sources(saved) != sources(build(notebook)):
            problems.append(f"{notebook.path.name}: cells differ from tools/build_notebooks.py")
        elif any(c.cell_type == "code" and c.execution_count is None for c in saved.cells):
            problems.append(f"{notebook.path.name}: not executed (no outputs)")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("run: python tools/build_notebooks.py", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="notebooks to build (number or name prefix; default: all)")
    parser.add_argument("--no-execute", action="store_true", help="write the sources without executing them")
    parser.add_argument("--check", action="store_true", help="only check notebooks/ against this script")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help=f"seconds per cell (default {CELL_TIMEOUT})")
    args = parser.parse_args(argv)
    notebooks = select(args.names)
    if args.check:
        return check(notebooks)
    from nbclient.exceptions import CellExecutionError

    failed = 0
    for notebook in notebooks:
        nb = build(notebook)
        start = time.perf_counter()
        if not args.no_execute:
            try:
                execute(nb, args.timeout)
            except CellExecutionError as error:
                print(f"{notebook.name}: FAILED after {time.perf_counter() - start:.0f} s (file left unchanged)\n{error}",
                      file=sys.stderr)
                failed += 1
                continue
            clean_outputs(nb)
        write(nb, notebook.path)
        seconds = time.perf_counter() - start
        print(f"{notebook.name:32s} {'executed in %5.1f s' % seconds if not args.no_execute else 'written':20s} "
              f"{notebook.path.stat().st_size / 1024:7.0f} KB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
