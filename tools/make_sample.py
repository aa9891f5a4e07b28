"""Make the bundled sample: a dark, noisy version of scikit-image's "coffee" photo.

Source: ``skimage.data.coffee()`` — photograph by Rachel Michetti, released by its author under
CC0 (no rights reserved), shipped with scikit-image. Degradation (documented, seeded):

    dark = clip(SCALE · x^GAMMA + N(0, NOISE_STD²), 0, 1),  x = RGB / 255

GAMMA > 1 crushes the shadows more than the highlights, like an under-exposed camera response;
the Gaussian noise stands in for sensor read noise. Run:  python tools/make_sample.py
"""

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

SCALE, GAMMA, NOISE_STD, SEED = 0.35, 2.0, 0.01, 20261125
OUT = Path(__file__).resolve().parents[1] / "kind_tf" / "assets" / "sample_dark.png"


def main() -> None:
    photo = data.coffee().astype(np.float64) / 255.0
    rng = np.random.default_rng(SEED)
    dark = np.clip(SCALE * photo**GAMMA + rng.normal(0.0, NOISE_STD, photo.shape), 0.0, 1.0)
    Image.fromarray((dark * 255.0 + 0.5).astype(np.uint8)).save(OUT)
    print(f"wrote {OUT} (mean {dark.mean():.3f})")


if __name__ == "__main__":
    main()
