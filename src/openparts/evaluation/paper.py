"""The paper's published numbers (Tables 1-5), to print beside ours where the setting matches.

Keys follow our metric names. A dataset matches a paper setting through its `info.source`
and, for Pascal-Part, its part grouping: the paper evaluates on PartImageNet (val/test) and
on Pascal-Part-58/108; car-parts, CCP and the demo data have no published counterpart.
"""

from __future__ import annotations

from typing import Any

# Table 2: object awareness. Rows: none, post, pre, pre+post with imperfect / perfect masks.
TABLE2 = {
    "partimagenet": {
        "none": {"AP": 40.01, "AP50": 70.38},
        "post-imperfect": {"AP": 42.48, "AP50": 71.03},
        "post-perfect": {"AP": 47.10, "AP50": 75.25},
        "pre-imperfect": {"AP": 41.94, "AP50": 73.17},
        "pre+post-imperfect": {"AP": 45.40, "AP50": 74.45},
        "pre-perfect": {"AP": 85.88, "AP50": 96.08},
        "pre+post-perfect": {"AP": 87.61, "AP50": 96.19},
    },
    "pascal-part-58": {
        "none": {"AP": 9.48, "AP50": 19.90},
        "post-imperfect": {"AP": 12.44, "AP50": 24.40},
        "post-perfect": {"AP": 13.06, "AP50": 24.97},
        "pre-imperfect": {"AP": 20.27, "AP50": 44.24},
        "pre+post-imperfect": {"AP": 23.02, "AP50": 47.21},
        "pre-perfect": {"AP": 25.24, "AP50": 45.62},
        "pre+post-perfect": {"AP": 25.26, "AP50": 45.67},
    },
}

# Table 1: class-agnostic vs class-aware training, PartImageNet val.
TABLE1 = {
    "agnostic": {"none": {"AP": 40.01, "AP50": 70.38}, "imperfect": {"AP": 41.94, "AP50": 73.17}, "perfect": {"AP": 85.88, "AP50": 96.08}},
    "aware": {"none": {"AP": 39.71, "AP50": 69.99}, "imperfect": {"AP": 41.45, "AP50": 72.97}, "perfect": {"AP": 84.74, "AP50": 95.50}},
}

# Tables 3 and 4: fine-tuning with self-supervision (SS) and self-training (ST).
TABLE3 = {  # PartImageNet, fine-tuned on val, evaluated on val and test
    "imperfect": {
        "base": {"val": (41.94, 73.17), "test": (38.96, 69.07)},
        "SS": {"val": (42.78, 74.62), "test": (40.17, 70.70)},
        "ST": {"val": (43.12, 75.03), "test": (40.38, 71.10)},
        "OPS": {"val": (43.16, 74.96), "test": (40.43, 71.18)},
    },
    "perfect": {
        "base": {"val": (85.88, 96.08), "test": (83.52, 94.66)},
        "SS": {"val": (86.09, 96.35), "test": (83.81, 94.94)},
        "ST": {"val": (86.28, 96.37), "test": (83.97, 95.12)},
        "OPS": {"val": (86.19, 96.43), "test": (83.86, 95.05)},
    },
}
TABLE4 = {  # Pascal-Part val, fine-tuned on Pascal-Part train (AP, AP50)
    "imperfect": {
        "base": {"pascal-part-58": (20.27, 44.24), "pascal-part-108": (16.36, 30.16)},
        "SS": {"pascal-part-58": (20.53, 44.91), "pascal-part-108": (17.95, 33.03)},
        "ST": {"pascal-part-58": (23.25, 48.81), "pascal-part-108": (17.75, 32.64)},
        "OPS": {"pascal-part-58": (24.02, 50.10), "pascal-part-108": (18.23, 33.72)},
    },
    "perfect": {
        "base": {"pascal-part-58": (25.24, 45.62), "pascal-part-108": (13.40, 29.32)},
        "SS": {"pascal-part-58": (27.13, 49.08), "pascal-part-108": (13.75, 29.76)},
        "ST": {"pascal-part-58": (27.23, 48.58), "pascal-part-108": (15.85, 33.66)},
        "OPS": {"pascal-part-58": (27.69, 49.75), "pascal-part-108": (16.40, 34.60)},
    },
}

# Table 5: oracle semantic metrics on PartImageNet test.
TABLE5 = {
    "imperfect": {
        "slic": {"mIoU": 38.15, "fwIoU": 65.10, "mACC": 75.61},
        "ncut": {"mIoU": 40.80, "fwIoU": 76.87, "mACC": 54.99},
        "felzenszwalb": {"mIoU": 47.97, "fwIoU": 83.82, "mACC": 67.70},
        "OPS": {"mIoU": 64.71, "fwIoU": 89.41, "mACC": 82.61},
    },
    "perfect": {
        "slic": {"mIoU": 41.19, "fwIoU": 68.09, "mACC": 78.12},
        "ncut": {"mIoU": 43.11, "fwIoU": 77.44, "mACC": 55.17},
        "felzenszwalb": {"mIoU": 59.73, "fwIoU": 88.90, "mACC": 76.10},
        "OPS": {"mIoU": 91.89, "fwIoU": 97.97, "mACC": 95.81},
    },
}


def paper_setting(info: dict[str, Any]) -> str | None:
    """The paper's name for a dataset's setting, or None where the paper has no such setting."""
    source = info.get("source")
    if source == "partimagenet":
        return "partimagenet"
    if source == "pascal-part" and info.get("part_grouping") in ("58", "108"):
        return f"pascal-part-{info['part_grouping']}"
    return None


def table5_rows(setting: str | None, masks: str) -> dict[str, dict[str, float]]:
    """Table 5's rows for a report section (PartImageNet only; `masks` is perfect or imperfect)."""
    return dict(TABLE5[masks]) if setting == "partimagenet" else {}
