"""Reading and writing user images: robust decoding, sensible colour conversion, atomic writes."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kind_tf.image_ops import to_uint8

#: The image file extensions kind-tf reads, everywhere: input folders, evaluation sets and training data.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
_HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


# The process umask, read once at import (os.umask can only be read by setting it, which is not thread-safe).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Write ``path`` atomically: a temporary file in the same folder, renamed over ``path`` once complete.

    A crash, a full disk or an exception never leaves a half-written file under the final name (the
    temporary file is removed). The file gets the usual permissions of a new file (0666 minus the
    umask), not mkstemp's private 0600, so outputs are as readable as any other tool's.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ImageReadError(ValueError):
    """A user-supplied path is not a readable image; ``str(error)`` names the file and the problem.

    ``path`` and ``problem`` are kept apart too, for callers that list many files in one line.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem

    def __reduce__(self):  # the default would call __init__ with the one formatted message
        return type(self), (self.path, self.problem)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as float32 RGB [H, W, 3] in [0, 1].

    EXIF orientation is applied. Grayscale and palette images become RGB; RGBA / LA are composited
    over black (the enhancer works on light, and transparent pixels carry none); CMYK is converted
    by Pillow; 16-bit images keep their precision (/65535).

    Raises:
        ImageReadError: missing, empty, truncated or non-image files.
    """
    return _decode(path, _to_rgb_float)


def load_image_native(path: str | os.PathLike) -> np.ndarray:
    """:func:`load_image`'s pixels in the smallest exact form: uint8 RGB for plain 8-bit files, else (16-bit,
    alpha) float32 in [0, 1]. The pipelines convert uint8 to float32 themselves (``x / 255``, the same
    values), tile by tile when tiling, so a 4000×3000 photo is held as 36 MB instead of 144 MB."""
    return _decode(path, _to_rgb_native)


def load_image_uint8(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 RGB [H, W, 3]: :func:`load_image`'s pixels, quantised to 8 bits.

    The same decoding as :func:`load_image` (EXIF orientation, alpha over black, 16-bit, CMYK), so
    training sees what inference sees; equal to ``to_uint8(load_image(path))``. Ordinary 8-bit files
    give exactly Pillow's ``convert("RGB")`` pixels.

    Raises:
        ImageReadError: missing, empty, truncated or non-image files.
    """
    return _decode(path, _to_rgb_uint8)


def _decode(path: str | os.PathLike, convert: Callable[[Image.Image], np.ndarray]) -> np.ndarray:
    """``convert`` of the image at ``path`` with its EXIF orientation applied; every failure an ImageReadError
    (the conversion's too: Pillow reports some broken files only when the pixels are converted)."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(path, "no such file")
    if path.is_dir():
        raise ImageReadError(path, "is a folder, not an image")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return convert(ImageOps.exif_transpose(image))
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ImageReadError(path, f"cannot decode image ({error})") from None


def _to_rgb_float(image: Image.Image) -> np.ndarray:
    special = _high_depth_or_alpha(image)
    if special is not None:
        return special
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    return rgb / np.float32(255.0)


def _to_rgb_uint8(image: Image.Image) -> np.ndarray:
    special = _high_depth_or_alpha(image)
    if special is not None:
        return to_uint8(special)
    # 8-bit images skip the float round trip: to_uint8(v / 255) == v for every 8-bit v.
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _to_rgb_native(image: Image.Image) -> np.ndarray:
    special = _high_depth_or_alpha(image)
    return special if special is not None else np.asarray(image.convert("RGB"), dtype=np.uint8)


def _high_depth_or_alpha(image: Image.Image) -> np.ndarray | None:
    """float32 RGB for the modes that Pillow's 8-bit ``convert("RGB")`` would get wrong (16-bit and float
    grayscale lose precision or clip; alpha is dropped, not composited); None for plain 8-bit images."""
    mode = image.mode
    if mode in _HIGH_DEPTH_MODES:
        # 16-bit (and 32-bit integer) grayscale: keep precision instead of Pillow's 8-bit conversion.
        gray = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if mode != "I" or gray.max(initial=0) > 255 else 255.0
        gray = np.clip(gray / scale, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "F":
        gray = np.clip(np.nan_to_num(np.asarray(image, dtype=np.float32)), 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=-1)
    if (mode == "P" and "transparency" in image.info) or mode in ("LA", "PA", "La"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        return (rgba[..., :3] * rgba[..., 3:4]).astype(np.float32)
    return None


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write float [0, 1] (or uint8) RGB/gray image as PNG atomically: temp file in the same folder + rename.

    A crash or a full disk never leaves a half-written PNG under the final name.
    """
    path = Path(path)
    array = image if image.dtype == np.uint8 else to_uint8(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    with atomic_write(path) as handle:
        Image.fromarray(array).save(handle, format="PNG")
    return path


def expand_inputs(specs: list[str]) -> tuple[list[Path], list[str]]:
    """Files, folders (their images, sorted, not recursive) and glob patterns → (image paths, errors).

    Each error is one line naming the offending argument. Duplicates are dropped.
    """
    paths: list[Path] = []
    errors: list[str] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                errors.append(f"{path}: folder contains no images ({', '.join(IMAGE_SUFFIXES)})")
            paths.extend(found)
        elif path.exists():
            paths.append(path)
        elif glob.has_magic(spec):
            matches = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
            if not matches:
                errors.append(f"{spec}: pattern matches no files")
            paths.extend(matches)
        else:
            errors.append(f"{path}: no such file or folder")
    unique = list(dict.fromkeys(p.resolve() for p in paths))
    return unique, errors
