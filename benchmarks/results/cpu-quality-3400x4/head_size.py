"""How tall a head is in the model's input: the Pascal-Part persons at the test scale against
CCP's persons at training's middle scale (session 27). Both fit the image into the 256 px crop
(`predict.max_size` null; training's scale jitter at factor 1), so a head that fills more of
the object box than a standing person's head reaches a size training rarely showed.

CCP has no head part: the head is the skin component that starts highest (the face) and the
hair. Every fourth CCP photo is read (251 of 1,003), which is plenty for quartiles.

    python benchmarks/results/cpu-quality-3400x4/head_size.py outputs/q3400s1
"""

import sys
from pathlib import Path

import numpy as np

from openparts.data.dataset import PartDataset, PartSample

CROP = 256


def height_at_crop(mask: np.ndarray) -> float:
    """Rows the mask spans once its image is fitted into the crop's square."""
    rows = np.flatnonzero(mask.any(axis=1))
    return (rows[-1] - rows[0] + 1) * CROP / max(mask.shape)


def pascal_head(sample: PartSample) -> np.ndarray:
    head = np.zeros(sample.object_mask.shape, bool)
    for mask, name in zip(sample.part_masks, sample.part_classes, strict=True):
        if name.endswith("/head"):
            head |= mask
    return head


def ccp_head(sample: PartSample) -> np.ndarray:
    named = list(zip(sample.part_masks, sample.part_classes, strict=True))
    skin = [mask for mask, name in named if name == "skin"]
    head = np.zeros(sample.object_mask.shape, bool)
    if skin:
        head |= min(skin, key=lambda mask: np.flatnonzero(mask.any(axis=1))[0])
    for mask, name in named:
        if name == "hair":
            head |= mask
    return head


def describe(name: str, heights: list[float]) -> None:
    quantiles = np.quantile(heights, [0.1, 0.25, 0.5, 0.75, 0.9])
    print(f"{name:<34} n={len(heights):>3}  10/25/50/75/90 %: " + " ".join(f"{value:7.2f}" for value in quantiles))


def main() -> None:
    work = Path(sys.argv[1])
    for label, folder, head_of, step in (
        ("Pascal-Part persons", work / "data" / "eval" / "pascal58-person", pascal_head, 1),
        ("CCP", work / "data" / "ccp", ccp_head, 4),
    ):
        dataset = PartDataset.open(folder)
        heads, people, shares = [], [], []
        for index in range(0, len(dataset), step):
            sample = dataset[index]
            person = height_at_crop(sample.object_mask)
            people.append(person)
            head = head_of(sample)
            if head.any():  # a person seen from behind or cut off at the neck has none
                heads.append(height_at_crop(head))
                shares.append(heads[-1] / person)
        describe(f"{label}: head height (px)", heads)
        describe(f"{label}: person height (px)", people)
        describe(f"{label}: head / person", shares)


if __name__ == "__main__":
    main()
