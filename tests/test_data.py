"""Paired data discovery, decoding errors and the deterministic tf.data patch pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kind_tf.data import (
    ArraySource,
    DataError,
    ImagePairSource,
    Sampling,
    augment,
    find_pairs,
    load_pairs,
    normalize_uint8,
    patch_dataset,
)
from kind_tf.data.sampling import numpy_augment


def write_pairs(root, stems, size=(32, 32), seed=0, low_ext=".png", high_ext=".png"):
    rng = np.random.default_rng(seed)
    (root / "low").mkdir(parents=True, exist_ok=True)
    (root / "high").mkdir(parents=True, exist_ok=True)
    images = {}
    for stem in stems:
        high = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
        low = (high // 5).astype(np.uint8)
        Image.fromarray(low).save(root / "low" / f"{stem}{low_ext}")
        Image.fromarray(high).save(root / "high" / f"{stem}{high_ext}")
        images[stem] = (low, high)
    return images


def test_pairs_by_stem_not_sorted_order(tmp_path):
    images = write_pairs(tmp_path, ["b", "a", "c"], high_ext=".bmp")
    pairs = find_pairs(tmp_path)
    assert [p.stem for p in pairs] == ["a", "b", "c"]
    lows, highs = load_pairs(pairs)
    for pair, low, high in zip(pairs, lows, highs):
        np.testing.assert_array_equal(low, images[pair.stem][0])
        np.testing.assert_array_equal(high, images[pair.stem][1])


def test_unpaired_files_are_all_listed(tmp_path):
    write_pairs(tmp_path, ["a", "b"])
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "low" / "only_low.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "high" / "only_high.jpg")
    with pytest.raises(DataError) as error:
        find_pairs(tmp_path)
    message = str(error.value)
    assert "low/only_low.png" in message and "high/only_high.jpg" in message and "2 unpaired" in message
    assert "\n" not in message


def test_missing_folder_and_unreadable_and_small(tmp_path):
    with pytest.raises(DataError, match="low/ and high/"):
        find_pairs(tmp_path)
    write_pairs(tmp_path, ["a", "b"], size=(32, 32))
    write_pairs(tmp_path, ["small"], size=(12, 40))
    (tmp_path / "low" / "a.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"unreadable.*low/a\.png"):
        load_pairs(find_pairs(tmp_path), min_size=16)
    write_pairs(tmp_path, ["a"], size=(32, 32))
    with pytest.raises(DataError, match=r"smaller than the 16×16.*small \(40×12\)"):
        load_pairs(find_pairs(tmp_path), min_size=16)


def special_image(kind: str) -> tuple[Image.Image, dict]:
    """A 16-bit grey PNG (values above 255, which Pillow's 8-bit convert clips), a half-transparent RGBA PNG, or
    a JPEG whose EXIF orientation says "rotate 90°" (stored 20×36, displayed 36×20): what a plain convert("RGB")
    reads differently from inference."""
    rng = np.random.default_rng(3)
    if kind == "16-bit":
        return Image.fromarray(rng.integers(0, 65536, (20, 36), dtype=np.uint16)), {}
    if kind == "rgba":
        return Image.fromarray(rng.integers(0, 256, (20, 36, 4), dtype=np.uint8), "RGBA"), {}
    exif = Image.Exif()
    exif[0x0112] = 6
    return Image.fromarray(rng.integers(0, 256, (20, 36, 3), dtype=np.uint8)), {"exif": exif, "quality": 95}


@pytest.mark.parametrize("kind", ["16-bit", "rgba", "exif-rotated"])
def test_training_decodes_as_inference(tmp_path, kind):
    """Paired and unpaired training loaders give load_image's pixels (quantised to uint8), not a second reading."""
    from kind_tf.data.unpaired import find_images, load_images
    from kind_tf.image_ops import to_uint8
    from kind_tf.io import load_image

    image, options = special_image(kind)
    suffix = ".jpg" if kind == "exif-rotated" else ".png"
    for sub in ("low", "high"):
        (tmp_path / sub).mkdir()
        image.save(tmp_path / sub / f"a{suffix}", **options)
    expected = to_uint8(load_image(tmp_path / "low" / f"a{suffix}"))
    assert expected.shape == ((36, 20, 3) if kind == "exif-rotated" else (20, 36, 3))
    with Image.open(tmp_path / "low" / f"a{suffix}") as raw:
        assert not np.array_equal(np.asarray(raw.convert("RGB")), expected)  # the old reading differed
    (low,), (high,) = load_pairs(find_pairs(tmp_path))
    np.testing.assert_array_equal(low, expected)
    np.testing.assert_array_equal(high, expected)
    (unpaired,) = load_images(find_images(tmp_path / "low"))
    np.testing.assert_array_equal(unpaired, expected)


def test_ordinary_images_decode_as_before(tmp_path):
    """8-bit RGB PNG and JPEG: the training loaders' pixels are Pillow's convert("RGB"), bit for bit, and equal
    load_image's; the Zero-DCE++ resize is the original loader's."""
    from kind_tf.data.unpaired import read_resized
    from kind_tf.image_ops import to_uint8
    from kind_tf.io import load_image

    pixels = np.random.default_rng(4).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    for suffix in (".png", ".jpg"):
        path = tmp_path / f"a{suffix}"
        Image.fromarray(pixels).save(path)
        with Image.open(path) as raw:
            before = np.asarray(raw.convert("RGB"), dtype=np.uint8)
            resized = np.asarray(raw.convert("RGB").resize((16, 16), Image.LANCZOS), dtype=np.uint8)
        np.testing.assert_array_equal(read_resized(path), before)
        np.testing.assert_array_equal(to_uint8(load_image(path)), before)
        np.testing.assert_array_equal(read_resized(path, size=16), resized)


@pytest.mark.parametrize("mode", range(8))
def test_augment_matches_original_numpy(mode):
    patch = np.arange(4 * 4 * 2, dtype=np.float32).reshape(4, 4, 2)
    np.testing.assert_array_equal(augment(tf.constant(patch), tf.constant(mode)).numpy(),
                                  numpy_augment(patch, mode))


def test_image_source_crop_is_crop_of_normalised_image():
    rng = np.random.default_rng(3)
    low = rng.integers(10, 60, (20, 24, 3), dtype=np.uint8)
    high = rng.integers(40, 250, (20, 24, 3), dtype=np.uint8)
    source = ImagePairSource([low], [high])
    patch = source.crop(0, 3, 5, 8)
    np.testing.assert_array_equal(patch[..., :3], normalize_uint8(low)[3:11, 5:13])
    np.testing.assert_array_equal(patch[..., 3:], normalize_uint8(high)[3:11, 5:13])


def _source(n=5, size=20, channels=2):
    rng = np.random.default_rng(7)
    return ArraySource([rng.random((size, size + i, channels)).astype(np.float32) for i in range(n)])


def _take(dataset):
    return [batch["x"].numpy() for batch in dataset]


def _transform(patch, draws):
    return {"x": patch}


def test_pipeline_deterministic_resumable_and_replica_slices():
    source = _source()
    sampling = Sampling(seed=11, global_batch=4, patch_size=8, steps_per_epoch=1)
    full = _take(patch_dataset(source, sampling, _transform, start_step=0, total_steps=5))
    assert len(full) == 5 and full[0].shape == (4, 8, 8, 2)
    again = _take(patch_dataset(source, sampling, _transform, start_step=0, total_steps=5))
    np.testing.assert_array_equal(np.stack(full), np.stack(again))
    resumed = _take(patch_dataset(source, sampling, _transform, start_step=3, total_steps=5))
    np.testing.assert_array_equal(np.stack(full[3:]), np.stack(resumed))
    other_seed = _take(patch_dataset(source, Sampling(12, 4, 8, 1), _transform, start_step=0, total_steps=1))
    assert not np.array_equal(full[0], other_seed[0])
    # Two replicas on one pipeline: per-replica batches in order; two pipelines: one replica each.
    local = _take(patch_dataset(source, sampling, _transform, start_step=0, total_steps=5, replica_batch=2,
                                local_replicas=2))
    np.testing.assert_array_equal(np.concatenate(local[0:2]), full[0])
    second = _take(patch_dataset(source, sampling, _transform, start_step=0, total_steps=5, replica_batch=2,
                                 first_replica=1))
    np.testing.assert_array_equal(second[4], full[4][2:])
    # Static shapes for compiled steps.
    spec = patch_dataset(source, sampling, _transform, start_step=0, total_steps=5).element_spec
    assert spec["x"].shape == (4, 8, 8, 2)


def test_each_epoch_visits_every_image_once():
    n = 6
    source = ArraySource([np.full((8, 8, 1), i, np.float32) for i in range(n)])
    sampling = Sampling(seed=5, global_batch=3, patch_size=4, steps_per_epoch=2)
    batches = _take(patch_dataset(source, sampling, _transform, start_step=0, total_steps=4))
    ids = np.concatenate([b[:, 0, 0, 0] for b in batches]).astype(int)
    assert sorted(ids[:6]) == list(range(n)) and sorted(ids[6:]) == list(range(n))
    assert list(ids[:6]) != list(ids[6:])  # a new permutation each epoch
