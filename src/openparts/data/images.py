"""Reading images safely: every picture that enters openparts goes through `read_rgb`.

Photos in the wild come rotated by EXIF tags, in grayscale, palette, RGBA, CMYK or 16-bit
modes, truncated by interrupted downloads, or as decompression bombs. A model needs an
upright 8-bit RGB array, so this module converts what is convertible and names the file and
the problem for what is not.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from openparts.data.errors import DataError

DEFAULT_MAX_PIXELS = 64_000_000
"""Refuse images above this many pixels (about 8000x8000): bigger ones are bombs or scans."""

# PIL's own guard stays on as a second line (it raises at twice this limit).
Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS

_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}


def resolve_inside(root: str | os.PathLike[str], file_name: str) -> Path:
    """Join `file_name` to `root`, refusing names that reach outside it.

    Rejects absolute paths, `..` components and symlinks whose target lies outside `root`,
    so an annotation file cannot make openparts read or overwrite arbitrary files.
    """
    if not isinstance(file_name, str) or not file_name:
        raise DataError(root, f"file_name {file_name!r} is not a non-empty string")
    pure = PurePosixPath(file_name.replace("\\", "/"))
    if pure.is_absolute() or Path(file_name).is_absolute():
        raise DataError(root, f"file_name {file_name!r} is absolute; it must be relative to the images folder")
    if any(part == ".." for part in pure.parts):
        raise DataError(root, f"file_name {file_name!r} escapes the images folder with '..'")
    root_path = Path(root).resolve()
    candidate = Path(root).joinpath(*pure.parts)
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root_path):
        raise DataError(candidate, f"resolves to {resolved}, outside the images folder (symlink?)")
    return candidate


def _open(path: Path, max_pixels: int) -> Image.Image:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(path, "image file does not exist") from None
    if size == 0:
        raise DataError(path, "image file is empty (0 bytes)")
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as error:
        raise DataError(path, f"image is too large (decompression bomb guard): {error}") from None
    except UnidentifiedImageError:
        raise DataError(path, "not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(path, f"image data is corrupt or truncated ({error})") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise DataError(path, f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}")
    return image


def image_size(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) as `read_rgb` will return it, from the header alone (EXIF rotation applied)."""
    with _open(Path(path), max_pixels) as image:
        width, height = image.size
        try:
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        except Exception:  # a broken EXIF block is ignored here as it is by exif_transpose
            orientation = 1
    return (height, width) if orientation in _SWAPS_AXES else (width, height)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB without clipping high-bit-depth data."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16"):
            top = 65535.0
        else:
            top = 65535.0 if values.max(initial=0) <= 65535 and values.min(initial=0) >= 0 else None
        if top is None:
            low, high = values.min(), values.max()
            values = (values - low) / max(high - low, 1e-12) * 255.0
        else:
            values = values / top * 255.0
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(np.stack([gray] * 3, axis=-1))
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def read_rgb(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image as an upright HxWx3 uint8 array.

    EXIF orientation is applied; grayscale, palette, CMYK and 16-bit images are converted;
    transparent pixels are composited over white. Truncated, empty, unreadable or oversized
    files raise `DataError` naming the file.
    """
    file_path = Path(path)
    image = _open(file_path, max_pixels)
    try:
        with image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = _to_rgb(upright)
            return np.asarray(rgb, dtype=np.uint8).copy()
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(file_path, f"image data is corrupt or truncated ({error})") from None


def needs_reencoding(path: str | os.PathLike[str]) -> bool:
    """True unless the file is already a plain upright RGB JPEG or PNG that can be copied as is."""
    with Image.open(path) as image:
        if image.format not in ("JPEG", "PNG") or image.mode != "RGB":
            return True
        try:
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        except Exception:
            return True
        return orientation not in (None, 1)
