#!/usr/bin/env python
"""Before / after / ground-truth strips of SICE eval pairs for the README (docs/figures/).

    python tools/make_figures.py [--data ../shared/data/sice_pairs/eval] [--weights checkpoints/kind] \
        [--label TEXT] [--extra "LABEL=DIR" ...] [--out docs/figures]

Rows: the six darkest eval inputs (mean < 0.05) in one figure, three ordinary ones (the 25th, 50th
and 75th percentile of the inputs with mean ≥ 0.1) in another. Columns: the input, the previous
default (the original fusion at ratio 5), the weights' own default recipe, each ``--extra`` weights
folder at its default recipe, and the ground truth; each tile carries its PSNR / SSIM and blockiness.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TILE = 224
LABEL_HEIGHT = 30


def pick(files: list[Path], means: list[float]) -> tuple[list[Path], list[Path]]:
    order = np.argsort(means)
    dark = [files[i] for i in order if means[i] < 0.05]
    ordinary = [i for i in order if means[i] >= 0.1]
    chosen = [ordinary[int(round(q * (len(ordinary) - 1)))] for q in (0.25, 0.5, 0.75)]
    return dark, [files[i] for i in chosen]


def tile(image: np.ndarray, caption: str) -> Image.Image:
    picture = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
    picture = picture.resize((TILE, round(TILE * picture.height / picture.width)), Image.LANCZOS)
    canvas = Image.new("RGB", (TILE, picture.height + LABEL_HEIGHT), "white")
    canvas.paste(picture, (0, LABEL_HEIGHT))
    ImageDraw.Draw(canvas).multiline_text((4, 2), caption, fill="black", spacing=1)
    return canvas


def strip(rows: list[list[Image.Image]]) -> Image.Image:
    height = sum(max(t.height for t in row) for row in rows)
    width = max(sum(t.width for t in row) for row in rows)
    canvas = Image.new("RGB", (width, height), "white")
    top = 0
    for row in rows:
        left = 0
        for t in row:
            canvas.paste(t, (left, top))
            left += t.width
        top += max(t.height for t in row)
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "sice_pairs" / "eval"))
    parser.add_argument("--weights", default=str(REPO / "checkpoints" / "kind"))
    parser.add_argument("--label", default="default", help="caption of the --weights folder's default column")
    parser.add_argument("--extra", action="append", default=[], metavar="LABEL=DIR")
    parser.add_argument("--out", default=str(REPO / "docs" / "figures"))
    args = parser.parse_args(argv)

    from kind_tf.inference import KinD
    from kind_tf.io import load_image, save_png
    from kind_tf.metrics import blockiness, psnr, ssim

    data = Path(args.data)
    files = sorted((data / "low").glob("*.jpg"))
    lows = {f: load_image(f) for f in files}
    dark, ordinary = pick(files, [float(lows[f].mean()) for f in files])
    shipped = KinD.from_weights(args.weights)
    columns = [("previous default: fusion, ratio 5", KinD.from_weights(args.weights, fusion=True, ratio=5.0)),
               (f"{args.label}: {'fusion' if shipped.fusion else 'R·L'}, ratio {shipped.default_ratio}", shipped)]
    for extra in args.extra:
        label, _, folder = extra.partition("=")
        columns.append((label, KinD.from_weights(folder)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, chosen in (("sice_darkest", dark), ("sice_ordinary", ordinary)):
        rows = []
        for low_file in chosen:
            low = lows[low_file]
            high = load_image(data / "high" / low_file.name)
            row = [tile(low, f"input {low_file.stem} (mean {low.mean():.3f})")]
            for label, model in columns:
                enhanced = np.clip(model.enhance(low), 0, 1)
                row.append(tile(enhanced, f"{label}\n{float(psnr(high, enhanced)):.2f} dB "
                                          f"SSIM {float(ssim(high, enhanced)):.3f} block {blockiness(enhanced):.2f}"))
            row.append(tile(high, f"ground truth\nblock {blockiness(high):.2f}"))
            rows.append(row)
        path = save_png(out / f"{name}.png", np.asarray(strip(rows)).astype(np.float32) / 255.0)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
