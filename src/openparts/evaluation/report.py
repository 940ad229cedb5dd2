"""`openparts evaluate`: metrics.json, predictions, overlay PNGs and a self-contained report.html.

Key scheme of metrics.json (flat, the same across runs so that MLflow compares them):
``<dataset>/<method>/<metric>``, e.g. ``carparts-test/model/AP50``,
``carparts-test/felzenszwalb/mIoU``, ``carparts-test/felzenszwalb@matched/mIoU``, where
`<dataset>` is the dataset folder's name with its parent (``carparts-test`` for
``data/carparts/test``), `<method>` is ``model`` (or ``predictions``), a baseline name, or a
baseline limited to the model's number of segments per object (``@matched``), and
`<metric>` is one of AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl, mIoU,
fwIoU, mACC, segments_per_object.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from openparts import atomic
from openparts.data import masks as mask_io
from openparts.data.dataset import OBJECT_MASK_SOURCES_FROM_DATA, PartDataset, dataset_key
from openparts.data.inspect import overlay
from openparts.evaluation.baseline_store import BaselineStore
from openparts.evaluation.instance_ap import DEFAULT_BACKEND, evaluate_instances
from openparts.evaluation.paper import TABLE2, paper_setting, table5_rows
from openparts.evaluation.semantic import evaluate_semantic, segments_per_image

log = logging.getLogger(__name__)

WORST_IMAGES = 10
TABLE_METRICS = ("AP", "AP50", "mIoU", "fwIoU", "mACC", "segments_per_object")


def score_predictions(dataset: PartDataset, predictions: list[dict[str, Any]], coco_backend: str = DEFAULT_BACKEND) -> dict[str, float]:
    return {**evaluate_instances(dataset, predictions, backend=coco_backend), **evaluate_semantic(dataset, predictions)}


def mask_quality(dataset: PartDataset) -> str:
    """ "perfect" when every object mask is the dataset's own, "imperfect" when a model made any."""
    sources = {str(record.get("object_mask_source")) for record in dataset.images}
    return "perfect" if sources <= set(OBJECT_MASK_SOURCES_FROM_DATA) else "imperfect"


def paper_rows(dataset: PartDataset, method_name: str) -> dict[str, dict[str, float]]:
    """The paper's rows for the setting of `dataset`: Table 5 (baselines and OPS, oracle
    metrics) and Table 2 (the pre-aware base model, AP) where the dataset and masks match."""
    setting = paper_setting(dataset.info)
    masks = mask_quality(dataset)
    rows = {f"{name} (Table 5)": values for name, values in table5_rows(setting, masks).items()}
    if setting in TABLE2 and method_name == "model":
        rows[f"pre-{masks} base model (Table 2)"] = TABLE2[setting][f"pre-{masks}"]
    return rows


def keep_top(predictions: list[dict[str, Any]], limits: dict[int, int]) -> list[dict[str, Any]]:
    """The highest-scoring `limits[image_id]` predictions of each image (all where unlisted).

    For a baseline, whose score is the segment's share of the object, these are its largest
    segments: the same as rerunning it with `max_segments`, without segmenting twice.
    """
    ranked = sorted(predictions, key=lambda p: (p["image_id"], -p["score"]))
    kept, seen = [], Counter()
    for prediction in ranked:
        image_id = prediction["image_id"]
        if image_id not in limits or seen[image_id] < limits[image_id]:
            kept.append(prediction)
            seen[image_id] += 1
    return kept


def best_iou_per_image(dataset: PartDataset, predictions: list[dict[str, Any]]) -> dict[int, float]:
    """Mean over ground-truth parts of the best IoU any prediction reaches: for ranking images."""
    by_image: dict[int, list[dict[str, Any]]] = {}
    for prediction in predictions:
        by_image.setdefault(prediction["image_id"], []).append(prediction)
    quality = {}
    for record in dataset.images:
        truths = [p["segmentation"] for p in dataset.parts(record["id"])]
        guesses = [p["segmentation"] for p in by_image.get(record["id"], [])]
        if not truths:
            continue
        if not guesses:
            quality[record["id"]] = 0.0
            continue
        quality[record["id"]] = float(mask_io.iou(guesses, truths).max(axis=0).mean())
    return quality


def _masks_for(predictions: list[dict[str, Any]], image_id: int, shape: tuple[int, int], limit: int = 30) -> np.ndarray:
    """The highest-scored parts; a model's part-map segments where it has them, so the picture
    shows the segmentation its oracle metrics score."""
    chosen = sorted((p for p in predictions if p["image_id"] == image_id), key=lambda p: -p["score"])[:limit]
    masks = [mask_io.map_segment(p) for p in chosen]
    return np.stack(masks) if masks else np.zeros((0, *shape), bool)


def overlay_panel(dataset: PartDataset, index: int, columns: dict[str, list[dict[str, Any]]]) -> np.ndarray:
    """Ground truth | each method's parts, side by side, with the object outlined."""
    sample = dataset[index]
    panels = [overlay(sample.image, sample.part_masks, sample.object_mask)]
    for predictions in columns.values():
        panels.append(overlay(sample.image, _masks_for(predictions, sample.image_id, sample.image.shape[:2]), sample.object_mask))
    return np.concatenate(panels, axis=1)


def _png_data_uri(picture: np.ndarray, max_width: int = 1200) -> str:
    image = Image.fromarray(picture)
    if image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)  # atomic-ok: into memory, for the inline report
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(metrics: dict[str, float], sections: list[dict[str, Any]]) -> str:
    rows = []
    for section in sections:
        key = section["key"]
        methods = sorted({name.split("/")[1] for name in metrics if name.startswith(key + "/")}, key=lambda m: (m != "model", m))
        header = "".join(f"<th>{m}</th>" for m in TABLE_METRICS)
        body = "".join(
            "<tr><td>{}</td>{}</tr>".format(
                html.escape(method), "".join(f"<td>{metrics.get(f'{key}/{method}/{m}', float('nan')):.2f}</td>" for m in TABLE_METRICS)
            )
            for method in methods
        )
        for name, values in section.get("paper", {}).items():
            body += (
                f"<tr class='paper'><td>paper: {html.escape(name)}</td>"
                + "".join(f"<td>{values[m]:.2f}</td>" if m in values else "<td></td>" for m in TABLE_METRICS)
                + "</tr>"
            )
        images = "".join(
            f"<figure><img src='{uri}'><figcaption>{html.escape(caption)}</figcaption></figure>" for caption, uri in section["pictures"]
        )
        rows.append(
            f"<h2>{html.escape(key)} ({section['images']} images, {section['masks']} object masks)</h2>"
            f"<table><tr><th>method</th>{header}</tr>{body}</table>"
            f"<p>Panels: ground truth | {' | '.join(html.escape(c) for c in section['columns'])}. "
            f"The last {WORST_IMAGES} are the worst images by mean best IoU.</p>{images}"
        )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px;"
        "text-align:right}td:first-child{text-align:left}tr.paper{color:#666;font-style:italic}img{max-width:100%}"
        "figure{margin:1em 0}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>openparts evaluation</title><style>{style}</style></head>"
        f"<body><h1>openparts evaluation</h1>{''.join(rows)}</body></html>"
    )


def write_report(
    out_dir: str | os.PathLike[str],
    datasets: list[PartDataset],
    predictions: dict[str, list[dict[str, Any]]],
    method_name: str = "model",
    baseline_methods: tuple[str, ...] = ("slic", "felzenszwalb", "ncut"),
    dev: PartDataset | None = None,
    dev_images: int = 20,
    overlays: int = 6,
    coco_backend: str = DEFAULT_BACKEND,
    others: dict[str, dict[str, list[dict[str, Any]]]] | None = None,
    truth: dict[str, PartDataset] | None = None,
    store: BaselineStore | None = None,
) -> dict[str, float]:
    """Score predictions and baselines on every dataset, write everything, return metrics.

    `others`: more methods' predictions ({method: {dataset key: predictions}}, e.g. the base
    model beside the fine-tuned one). `truth`: the dataset a key is scored against when it is
    not the dataset itself (a copy with predicted object masks is scored inside the real object).
    `store`: where the baselines' parameters and segments are kept from run to run."""
    out = Path(out_dir)
    metrics: dict[str, float] = {}
    sections = []
    tuned = {}
    store = store or BaselineStore()
    if baseline_methods and dev is None:
        raise ValueError("baselines need a dev dataset to choose their parameters on (never the test data)")
    for method in baseline_methods:
        tuning_set = dev
        indices = list(range(min(dev_images, len(tuning_set))))
        tuned[method] = store.tuned(tuning_set, method, indices)
        log.info("%s: parameters %s chosen on %s (%d dev images)", method, tuned[method], tuning_set.root, len(indices))
    for dataset in datasets:
        key = dataset_key(dataset)
        own = predictions[key]
        reference = (truth or {}).get(key, dataset)
        columns = {method_name: own}
        for name, value in score_predictions(reference, own, coco_backend).items():
            metrics[f"{key}/{method_name}/{name}"] = value
        for other, by_key in (others or {}).items():
            for name, value in score_predictions(reference, by_key[key], coco_backend).items():
                metrics[f"{key}/{other}/{name}"] = value
        counts = segments_per_image(reference, own)  # as segments_per_object counts them: the part map's
        for method in baseline_methods:
            result = store.predictions(dataset, method, tuned[method])
            columns[method] = result
            for name, value in score_predictions(reference, result, coco_backend).items():
                metrics[f"{key}/{method}/{name}"] = value
            matched = keep_top(result, {i: max(1, c) for i, c in counts.items()})
            for name, value in score_predictions(reference, matched, coco_backend).items():
                metrics[f"{key}/{method}@matched/{name}"] = value
        atomic.write_json(out / f"predictions-{key}.json", own, indent=None)
        best_baseline = max(baseline_methods, key=lambda m: metrics[f"{key}/{m}/AP"]) if baseline_methods else None
        shown = {method_name: own, **({best_baseline: columns[best_baseline]} if best_baseline else {})}
        quality = best_iou_per_image(dataset, own)
        worst = sorted(quality, key=quality.get)[:WORST_IMAGES]
        chosen = [dataset.index_of(i) for i in [r["id"] for r in dataset.images[:overlays]] + worst]
        pictures = []
        for index in dict.fromkeys(chosen):
            panel = overlay_panel(dataset, index, shown)
            name = f"overlay-{key}-{dataset.images[index]['id']}.png"
            atomic.save_image(out / "overlays" / name, Image.fromarray(panel))
            caption = f"image {dataset.images[index]['id']}"
            if dataset.images[index]["id"] in quality:
                caption += f", mean best IoU {quality[dataset.images[index]['id']]:.2f}"
            pictures.append((caption, _png_data_uri(panel)))
        sections.append(
            {
                "key": key,
                "images": len(dataset),
                "masks": mask_quality(dataset),
                "columns": list(shown),
                "pictures": pictures,
                "paper": paper_rows(dataset, method_name),
            }
        )
    atomic.write_json(out / "metrics.json", dict(sorted(metrics.items())))
    atomic.write_text(out / "report.html", render_html(metrics, sections))
    atomic.write_json(out / "baseline_parameters.json", {m: tuned[m] for m in baseline_methods})
    if baseline_methods and store.folder is not None:
        log.info("baseline store %s: %d results read, %d made", store.folder, store.counts["read"], store.counts["made"])
    return metrics
