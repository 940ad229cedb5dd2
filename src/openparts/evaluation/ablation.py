"""The object-awareness ablation of Table 2: none, post-aware, pre-aware, and both.

A setting is (input channels, where the object mask comes from, post-aware filtering):

| setting             | model     | object mask given to the model | post-aware filter with |
|---------------------|-----------|--------------------------------|------------------------|
| none                | 3-channel | -                              | -                      |
| post-imperfect      | 3-channel | -                              | predicted mask         |
| post-perfect        | 3-channel | -                              | given mask             |
| pre-imperfect       | 4-channel | predicted mask                 | -                      |
| pre+post-imperfect  | 4-channel | predicted mask                 | predicted mask         |
| pre-perfect         | 4-channel | given mask                     | -                      |
| pre+post-perfect    | 4-channel | given mask                     | given mask             |

As in the paper, "none" and "post" belong to a model trained without the object-mask channel
and "pre" to one trained with it, so a model fills the rows of its kind; pass one of each to
fill the table. "Perfect" masks are the dataset's own; "imperfect" ones come from a copy of the
same dataset whose object masks a model predicted (`openparts object-masks`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from openparts.data.dataset import PartDataset
from openparts.engine.predict import Predictor
from openparts.evaluation.instance_ap import evaluate_instances
from openparts.model.segmenter import PartSegmenter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setting:
    name: str
    pre_aware: bool
    masks: str | None  # "perfect", "imperfect" or None (no object mask used at all)
    post_aware: bool


SETTINGS = (
    Setting("none", False, None, False),
    Setting("post-imperfect", False, "imperfect", True),
    Setting("post-perfect", False, "perfect", True),
    Setting("pre-imperfect", True, "imperfect", False),
    Setting("pre+post-imperfect", True, "imperfect", True),
    Setting("pre-perfect", True, "perfect", False),
    Setting("pre+post-perfect", True, "perfect", True),
)


def object_awareness(
    models: list[PartSegmenter],
    perfect: PartDataset,
    imperfect: PartDataset | None,
    predict_config: dict[str, Any],
    device: str | None = None,
    known: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, dict[str, float]]:
    """{setting: instance metrics} for every setting one of `models` can run.

    `imperfect` must be the same images and parts as `perfect` with predicted object masks;
    without it the imperfect rows are skipped. `known` holds COCO results a caller already
    made for some settings ({setting name: results}): scored as given, not predicted again.
    """
    if imperfect is not None:
        _check_same_images(perfect, imperfect)
    rows: dict[str, dict[str, float]] = {}
    for setting in SETTINGS:
        model = next((m for m in models if (m.in_channels == 4) == setting.pre_aware), None)
        if model is None:
            log.info("%s: skipped (needs a %d-channel model)", setting.name, 4 if setting.pre_aware else 3)
            continue
        dataset = imperfect if setting.masks == "imperfect" else perfect
        if dataset is None:
            log.info("%s: skipped (no dataset with predicted object masks)", setting.name)
            continue
        if known and setting.name in known:
            predictions = known[setting.name]
        else:
            predictor = Predictor(model, {**predict_config, "post_aware": setting.post_aware}, device)
            predictions = predictor.predict_dataset(dataset, use_object_masks=setting.masks is not None, progress=False)
        rows[setting.name] = evaluate_instances(perfect, predictions)
        log.info("%-20s AP %6.2f  AP50 %6.2f", setting.name, rows[setting.name]["AP"], rows[setting.name]["AP50"])
    return rows


def _check_same_images(perfect: PartDataset, imperfect: PartDataset) -> None:
    same = len(perfect) == len(imperfect) and all(
        (a["id"], a["width"], a["height"]) == (b["id"], b["width"], b["height"])
        for a, b in zip(perfect.images, imperfect.images, strict=True)
    )
    if not same or len(perfect.annotations) != len(imperfect.annotations):
        raise ValueError(f"{imperfect.root} is not {perfect.root} with other object masks: images or parts differ")
