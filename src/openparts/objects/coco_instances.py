"""Object masks from a Mask2Former COCO instance-segmentation checkpoint (transformers)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from openparts.objects.components import largest_component

log = logging.getLogger(__name__)

SCORE_THRESHOLD = 0.5


class CocoInstanceMasker:
    """The most salient COCO instance: the largest of those scoring >= 0.5 (else the best-scoring one).

    Part datasets show one main object per image, usually the largest thing in view, so size
    among confident detections picks it better than the score alone (a small, sharp detection
    in the background often outscores a large object). `checkpoint` is a folder written by
    `save_pretrained` or a hub name where a hub is reachable.
    """

    def __init__(self, checkpoint: str, device: str | None = None) -> None:
        from transformers import AutoImageProcessor, Mask2FormerForUniversalSegmentation

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.processor = AutoImageProcessor.from_pretrained(checkpoint)
        self.model = Mask2FormerForUniversalSegmentation.from_pretrained(checkpoint).to(self.device).eval()

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        inputs = self.processor(images=image, return_tensors="pt").to(self.device)
        outputs = self.model(**inputs)
        result = self.processor.post_process_instance_segmentation(
            outputs, threshold=0.0, target_sizes=[image.shape[:2]], return_binary_maps=True
        )[0]
        if result["segmentation"] is None or not result["segments_info"]:
            return np.zeros(image.shape[:2], bool)
        maps = result["segmentation"].cpu().numpy().astype(bool)
        scores = np.array([segment["score"] for segment in result["segments_info"]])
        areas = maps.reshape(len(maps), -1).sum(1)
        confident = np.flatnonzero(scores >= SCORE_THRESHOLD)
        chosen = confident[areas[confident].argmax()] if confident.size else int(scores.argmax())
        return largest_component(maps[chosen])
