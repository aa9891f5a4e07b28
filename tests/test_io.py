"""Image reading: EXIF orientation, colour modes, 16-bit, and one-line errors for bad files."""

import io

import numpy as np
import pytest
from PIL import Image

from kind_tf.image_ops import to_float_image, to_uint8
from kind_tf.io import ImageReadError, expand_inputs, load_image, load_image_native, save_png


def test_rgb_png_round_trip(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), pixels / np.float32(255))
    save_png(tmp_path / "b.png", pixels / np.float32(255))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "b.png")), pixels)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write leaves no temporary behind


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((2, 4, 3), np.uint8)
    pixels[0, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif, quality=100)
    image = load_image(tmp_path / "r.jpg")
    assert image.shape == (4, 2, 3)
    assert image[0, 1].mean() > 0.8  # the bright top-left corner moved to the top-right


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16"])
def test_colour_modes_become_rgb_float(tmp_path, mode):
    rgb = Image.fromarray(np.full((3, 4, 3), 200, np.uint8))
    if mode == "I;16":
        image = Image.fromarray(np.full((3, 4), 51400, np.uint16))
        expected = 51400 / 65535
    elif mode == "RGBA":
        image = rgb.convert("RGBA")
        image.putalpha(128)
        expected = 200 / 255 * 128 / 255
    else:
        image = rgb.convert(mode)
        expected = None
    suffix = ".tif" if mode == "CMYK" else ".png"
    image.save(tmp_path / f"x{suffix}")
    loaded = load_image(tmp_path / f"x{suffix}")
    assert loaded.shape == (3, 4, 3) and loaded.dtype == np.float32
    assert 0.0 <= loaded.min() and loaded.max() <= 1.0
    if expected is not None:
        np.testing.assert_allclose(loaded, expected, atol=1e-6)
    else:
        # L, CMYK and the web palette quantise 200 by a few levels.
        np.testing.assert_allclose(loaded, 200 / 255, atol=5 / 255)


def test_bad_files_raise_one_line_errors_naming_the_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buffer, format="JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[:200])
    for name, problem in [("empty.png", "empty"), ("text.png", "not an image"), ("cut.jpg", "cannot decode"),
                          ("missing.png", "no such file")]:
        with pytest.raises(ImageReadError) as error:
            load_image(tmp_path / name)
        assert name in str(error.value) and problem in str(error.value) and "\n" not in str(error.value)


def test_expand_inputs_handles_files_folders_and_globs(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "empty_dir").mkdir()
    for name in ("d/a.png", "d/b.jpg", "c.png"):
        Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / name)
    paths, errors = expand_inputs([str(tmp_path / "d"), str(tmp_path / "*.png"), str(tmp_path / "c.png"),
                                   str(tmp_path / "empty_dir"), str(tmp_path / "nope.png")])
    assert [p.name for p in paths] == ["a.png", "b.jpg", "c.png"]
    assert len(errors) == 2 and "no images" in errors[0] and "nope.png" in errors[1]


def test_outputs_get_the_usual_permissions_not_mkstemps_0600(tmp_path):
    """save_png / atomic_write: 0666 minus the umask (e.g. 0644 with umask 022), as any other tool's files."""
    import os
    import stat

    from kind_tf.io import atomic_write

    umask = os.umask(0o027)
    os.umask(umask)
    expected = 0o666 & ~umask
    path = save_png(tmp_path / "out.png", np.zeros((4, 4, 3), np.float32))
    assert stat.S_IMODE(path.stat().st_mode) == expected
    with atomic_write(tmp_path / "notes.txt", "w") as handle:
        handle.write("x")
    assert stat.S_IMODE((tmp_path / "notes.txt").stat().st_mode) == expected


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    from kind_tf.io import atomic_write

    (tmp_path / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "keep.txt", "w") as handle:
            handle.write("new, half")
            raise RuntimeError("disk full")
    assert (tmp_path / "keep.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_read_error_keeps_path_and_problem_and_pickles(tmp_path):
    import pickle

    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError) as error:
        load_image(tmp_path / "empty.png")
    assert (error.value.path, error.value.problem) == (tmp_path / "empty.png", "empty file (0 bytes)")
    copy = pickle.loads(pickle.dumps(error.value))  # e.g. raised in a data-loading worker process
    assert str(copy) == str(error.value) and copy.problem == error.value.problem


def test_native_decoding_keeps_8_bit_files_as_uint8_and_the_same_pixels(tmp_path):
    """enhance.py's decoder: 8-bit files as uint8 (36 MB for 4000×3000, not 144), whose float form is exactly
    load_image's; 16-bit and alpha files as load_image's float32."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    native = load_image_native(tmp_path / "rgb.png")
    assert native.dtype == np.uint8 and np.array_equal(native, rgb)
    assert np.array_equal(to_float_image(native), load_image(tmp_path / "rgb.png"))
    deep = rng.integers(0, 65536, (9, 13), dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    rgba = rng.integers(0, 256, (9, 13, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    for name in ("deep.png", "rgba.png"):
        native = load_image_native(tmp_path / name)
        assert native.dtype == np.float32 and np.array_equal(native, load_image(tmp_path / name))


def test_to_uint8_in_chunks_equals_the_one_shot_formula():
    """Large outputs convert in chunks (no full-size float temporaries): the same values as the formula."""
    image = np.random.default_rng(1).uniform(-0.1, 1.1, (1100, 1000, 3)).astype(np.float32)   # 3.3 M values
    image[0, :4, 0] = [0.0, 1.0, 0.5 / 255, 254.5 / 255]
    expected = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    assert np.array_equal(to_uint8(image), expected)
    assert to_uint8(image).shape == image.shape and to_uint8(image[:2, :2]).tolist() == expected[:2, :2].tolist()
