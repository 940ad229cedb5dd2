import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openparts.data import images as image_io
from openparts.data.errors import DataError


def _save(path: Path, image: Image.Image, **options) -> Path:
    image.save(path, **options)
    return path


def test_zero_byte_image_is_rejected_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.jpg: image file is empty"):
        image_io.read_rgb(path)


def test_truncated_jpeg_is_rejected(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(DataError, match=r"cut.jpg: image data is corrupt or truncated"):
        image_io.read_rgb(path)


def test_not_an_image_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(DataError, match="not a readable image"):
        image_io.read_rgb(path)


def test_grayscale_becomes_three_equal_channels(tmp_path: Path) -> None:
    path = _save(tmp_path / "g.png", Image.fromarray(np.full((4, 5), 77, np.uint8), "L"))
    pixels = image_io.read_rgb(path)
    assert pixels.shape == (4, 5, 3) and (pixels == 77).all()


def test_rgba_is_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    path = _save(tmp_path / "a.png", Image.fromarray(rgba, "RGBA"))
    pixels = image_io.read_rgb(path)
    assert tuple(pixels[0, 0]) == (255, 0, 0)
    assert tuple(pixels[1, 1]) == (255, 255, 255)


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path: Path) -> None:
    path = _save(tmp_path / "c.jpg", Image.new("RGB", (8, 8), (200, 30, 30)).convert("CMYK"), quality=95)
    pixels = image_io.read_rgb(path)
    assert pixels.shape == (8, 8, 3)
    assert pixels[..., 0].mean() > 150 and pixels[..., 1].mean() < 90


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 32896, 65535]], dtype=np.uint16)
    path = _save(tmp_path / "d.png", Image.fromarray(values))
    pixels = image_io.read_rgb(path)
    assert pixels[0, :, 0].tolist() == [0, 128, 255]


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    array = np.zeros((10, 20, 3), np.uint8)
    array[:, :10] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = _save(tmp_path / "r.jpg", Image.fromarray(array), exif=exif, quality=95)
    pixels = image_io.read_rgb(path)
    assert pixels.shape == (20, 10, 3)
    assert image_io.image_size(path) == (10, 20)
    assert pixels[:10].mean() > 200 and pixels[10:].mean() < 50  # white half now on top
    assert image_io.needs_reencoding(path)


def test_image_over_the_pixel_limit_is_rejected(tmp_path: Path) -> None:
    path = _save(tmp_path / "big.png", Image.new("RGB", (100, 100)))
    with pytest.raises(DataError, match="over the limit of 5000"):
        image_io.read_rgb(path, max_pixels=5000)


def test_decompression_bomb_is_rejected(tmp_path: Path) -> None:
    path = _save(tmp_path / "bomb.png", Image.new("1", (12000, 12000)))  # tiny file, 144 Mpx
    with pytest.raises(DataError, match="bomb.png"):
        image_io.read_rgb(path)


@pytest.mark.parametrize("name", ["../outside.jpg", "a/../../outside.jpg", "/etc/passwd"])
def test_file_names_that_escape_the_folder_are_rejected(tmp_path: Path, name: str) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="absolute|escapes"):
        image_io.resolve_inside(tmp_path / "images", name)


def test_symlink_out_of_the_folder_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"x")
    os.symlink(tmp_path / "secret.jpg", tmp_path / "images" / "link.jpg")
    with pytest.raises(DataError, match="outside the images folder"):
        image_io.resolve_inside(tmp_path / "images", "link.jpg")


def test_relative_name_inside_the_folder_is_accepted(tmp_path: Path) -> None:
    assert image_io.resolve_inside(tmp_path, "sub/x.jpg") == tmp_path / "sub" / "x.jpg"
