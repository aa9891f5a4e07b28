"""Reading and writing user images: robust decoding, sensible colour conversion, atomic writes."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kind_tf.image_ops import to_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")


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
    """A user-supplied path is not a readable image; ``str(error)`` names the file and the problem."""


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as float32 RGB [H, W, 3] in [0, 1].

    EXIF orientation is applied. Grayscale and palette images become RGB; RGBA / LA are composited
    over black (the enhancer works on light, and transparent pixels carry none); CMYK is converted
    by Pillow; 16-bit images keep their precision (/65535).

    Raises:
        ImageReadError: missing, empty, truncated or non-image files.
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                return _to_rgb_float(image)
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ImageReadError(f"{path}: cannot decode image ({error})") from None


def _to_rgb_float(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (and 32-bit integer) grayscale: keep precision instead of Pillow's 8-bit conversion.
        gray = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if mode != "I" or gray.max(initial=0) > 255 else 255.0
        gray = np.clip(gray / scale, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "F":
        gray = np.clip(np.nan_to_num(np.asarray(image, dtype=np.float32)), 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "PA", "La"):
        image = image.convert("RGBA")
    if image.mode == "RGBA" or image.mode == "RGBa":
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        return (rgba[..., :3] * rgba[..., 3:4]).astype(np.float32)
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    return rgb / np.float32(255.0)


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
