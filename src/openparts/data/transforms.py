"""Training and test-time transforms on (image, object mask, part masks), kept aligned.

torchvision.transforms.v2 applies one random draw to every tv_tensor in a call: the image
is resampled bilinearly, masks by nearest neighbour, so the object mask and the part masks
stay pixel-aligned with the image under flips, scale jitter, crops and padding.
"""

from __future__ import annotations

from torchvision.transforms import v2

DEFAULT_CROP_SIZE = 512
DEFAULT_SCALE_RANGE = (0.1, 2.0)
"""Large-scale jitter as in the paper (Sec. 4.2, after Ghiasi et al.): min 0.1, max 2.0."""
DEFAULT_TEST_SHORTEST_EDGE = 512


def train_transforms(
    crop_size: int = DEFAULT_CROP_SIZE,
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE,
    horizontal_flip: bool = True,
) -> v2.Compose:
    """Flip, large-scale jitter, then crop (or zero-pad) to a crop_size square.

    `ScaleJitter` scales the image to fit crop_size x crop_size times a factor drawn from
    `scale_range`; `RandomCrop` with padding makes every sample exactly crop_size square, so
    batches stack without a pixel mask (padding reads as background: object mask 0, no part).
    """
    steps: list[v2.Transform] = [v2.RandomHorizontalFlip(p=0.5)] if horizontal_flip else []
    steps += [
        v2.ScaleJitter(target_size=(crop_size, crop_size), scale_range=scale_range, antialias=True),
        v2.RandomCrop(size=crop_size, pad_if_needed=True, fill=0),
    ]
    return v2.Compose(steps)


def test_transforms(shortest_edge: int = DEFAULT_TEST_SHORTEST_EDGE, max_size: int | None = None) -> v2.Transform:
    """Resize so the shortest edge is `shortest_edge` (longest capped at `max_size`)."""
    return v2.Resize(size=shortest_edge, max_size=max_size, antialias=True)
