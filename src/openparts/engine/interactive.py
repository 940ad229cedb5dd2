"""The interactive use the paper motivates: a user draws the object, the model splits it into parts."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from openparts import atomic
from openparts.data import images as image_io
from openparts.data.errors import DataError
from openparts.data.inspect import overlay
from openparts.engine.predict import Predictor


def read_object_mask(path: str | os.PathLike[str], size: tuple[int, int]) -> np.ndarray:
    """A user-drawn mask PNG: any non-zero (or opaque, for RGBA) pixel belongs to the object."""
    with Image.open(path) as picture:
        if picture.size != (size[1], size[0]):
            raise DataError(path, f"mask is {picture.size[0]}x{picture.size[1]}, the image is {size[1]}x{size[0]}")
        if picture.mode in ("RGBA", "LA"):
            return np.asarray(picture.getchannel("A")) > 127
        return np.asarray(picture.convert("L")) > 127


def predict_picture(
    predictor: Predictor, image_path: str | os.PathLike[str], mask_path: str | os.PathLike[str] | None, out_png: str | os.PathLike[str]
) -> int:
    """Predict the parts of one picture and write an overlay PNG; returns the number of parts."""
    image = image_io.read_rgb(image_path)
    object_mask = read_object_mask(mask_path, image.shape[:2]) if mask_path else None
    parts = predictor.predict_batch([image], [object_mask])[0]
    # the part map where the predictor makes one: disjoint segments read better than stacked masks
    masks = [part.map_segment for part in parts]
    masks = np.stack(masks) if masks else np.zeros((0, *image.shape[:2]), bool)
    picture = np.concatenate([image, overlay(image, masks, object_mask)], axis=1)
    atomic.save_image(out_png, Image.fromarray(picture))
    return len(parts)
