"""Stage 1: one object mask per image: the dataset's own (`gt`) or a model's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openparts.data.dataset import PartDataset, dataset_key
from openparts.data.subset import write_subset
from openparts.data.validate import validate
from openparts.objects import make_masker
from openparts.objects.apply import write_with_object_masks
from openparts.stages.manifest import stage_output


def run(inputs: dict[str, Path], params: dict[str, Any], out_dir: Path) -> Path:
    """inputs: data (a dataset folder). params: object_masks.method (gt | salient | mask2former-coco),
    .checkpoint, .fallback (with gt: the method for images that have no mask, e.g. new pictures
    from the drop zone; without it such images are an error)."""
    group = params.get("object_masks", {})
    method, fallback = group.get("method", "gt"), group.get("fallback")
    source = inputs["data"]
    validate(source, require_object_masks=method == "gt" and not fallback, decode_images=False)
    name = dataset_key(source)  # how metrics name this set, in DVC and KFP runs alike
    missing = sum(record.get("object_mask") is None for record in PartDataset.open(source).images)
    with stage_output("object_masks", out_dir, inputs, {"object_masks": group}) as staging:
        if method == "gt" and not missing:  # validate() above has checked the masks
            write_subset(source, staging / "dataset", name=name)
        elif method == "gt":
            masker = make_masker(fallback, group.get("checkpoint"))
            write_with_object_masks(source, staging / "dataset", masker, fallback, name=name, keep_given=True)
        else:
            masker = make_masker(method, group.get("checkpoint"))
            write_with_object_masks(source, staging / "dataset", masker, method, name=name)
    return out_dir
