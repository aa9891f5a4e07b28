"""Figures for notebooks and reports: images side by side, and the notebooks' compact figure style.

matplotlib is imported on first use, so ``import kind_tf`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The committed notebooks keep well under 1 MB each with JPEG figures at 80 dpi.
NOTEBOOK_RC = {"figure.dpi": 80, "figure.facecolor": "white", "savefig.facecolor": "white", "axes.titlesize": 10}
NOTEBOOK_JPEG_QUALITY = 85


def notebook_style() -> None:
    """Compact inline figures for notebooks: JPEG at 80 dpi on white (no effect outside IPython's inline
    backend beyond the rcParams)."""
    import matplotlib.pyplot as plt

    plt.rcParams.update(NOTEBOOK_RC)
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # not in a notebook environment: the rcParams are all there is to set
        return
    set_matplotlib_formats("jpeg", pil_kwargs={"quality": NOTEBOOK_JPEG_QUALITY})


def image_figure(images: Sequence[Any], titles: Sequence[str] = (), cols: int | None = None, width: float = 15.0,
                 cmap: str = "gray") -> Figure:
    """Images side by side in rows of ``cols``, each clipped to [0, 1]; one-channel maps (gray reflectance,
    illumination, attention maps) drawn with ``cmap``. The figure's height follows the first image's aspect
    ratio."""
    import matplotlib.pyplot as plt

    if not images:
        raise ValueError("image_figure: no images")
    cols = cols or len(images)
    rows = -(-len(images) // cols)
    height, image_width = np.asarray(images[0]).shape[:2]
    # 0.35 inch a row for the title above each image.
    figsize = (width, rows * (width / cols * height / image_width + 0.35))
    figure, axes = plt.subplots(rows, cols, figsize=figsize, squeeze=False)
    titles = list(titles) + [""] * (len(images) - len(titles))
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap=cmap if image.ndim == 2 else None, vmin=0.0, vmax=1.0)
        ax.set_title(title)
    figure.tight_layout(pad=0.4)
    return figure


def show(images: Sequence[Any], titles: Sequence[str] = (), cols: int | None = None, width: float = 15.0,
         cmap: str = "gray") -> None:
    """``image_figure(...)``, shown. Returns nothing, so a notebook cell ending in ``show(...)`` draws the
    figure once."""
    import matplotlib.pyplot as plt

    image_figure(images, titles, cols, width, cmap)
    plt.show()
