"""kind_tf.plotting: the notebooks' image figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kind_tf.plotting import image_figure  # noqa: E402


def test_image_figure_lays_out_rows_clips_and_draws_maps_in_gray():
    rgb = np.full((20, 40, 3), 1.5, np.float32)             # over 1: clipped
    illumination = np.linspace(-1.0, 2.0, 800, dtype=np.float32).reshape(20, 40, 1)
    figure = image_figure([rgb, illumination, rgb], titles=["input", "I"], cols=2, width=10.0)
    try:
        axes = figure.axes
        assert len(axes) == 4                                 # 2 rows × 2 columns, the last one empty
        assert [ax.get_title() for ax in axes[:3]] == ["input", "I", ""]
        assert not axes[3].images
        first, second = axes[0].images[0], axes[1].images[0]
        assert first.get_array().shape == (20, 40, 3) and float(first.get_array().max()) == 1.0
        assert second.get_array().shape == (20, 40)          # one channel drawn as a 2-D map
        assert second.get_cmap().name == "gray"
        assert float(second.get_array().min()) == 0.0 and float(second.get_array().max()) == 1.0
        # Height from the first image's aspect ratio (1:2), 0.35 in a row for titles: 2 × (5 × 0.5 + 0.35).
        assert figure.get_size_inches() == pytest.approx((10.0, 5.7))
    finally:
        plt.close(figure)


def test_image_figure_needs_images():
    with pytest.raises(ValueError, match="no images"):
        image_figure([])
