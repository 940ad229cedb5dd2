"""Quality on real data, every method side by side in one run (`make bench-quality`).

    python -m benchmarks.quality --work outputs/quality --iterations 2000   # hours on 2 CPU cores
    python -m benchmarks.quality --work outputs/quality --iterations 300    # a quick look
    python -m benchmarks.quality --parallel --set train.batch_size=16 --iterations 600   # minutes on a GPU

The data (`benchmarks.quality_data`): trained on car-parts train and Clothing Co-Parsing
(persons); evaluated on car-parts test and the Pascal-Part samples (all of them, persons, the
other categories, and the categories no training source shows), each set with its own
("perfect") object masks and with the bundled salient-object model's ("imperfect"); scores
always against the set's own parts.

Trains the base models on the same schedule (iterations, not minutes, so contention on the
machine cannot favour one): class-agnostic with the object-mask channel (`base`), the same from
random weights (`base-random`, when the preset's backbone is pretrained), without the channel
(`base-3ch`, for the none/post rows), class-aware (`class-aware`), and with the synthetic
categories of `openparts data synth` added (`with-synthetic`). OPS fine-tunes the first
--ops-from start (`with-synthetic` when trained, else `base`) with SS+ST on the evaluation
images without their labels (salient masks), as the paper's Table 3 fine-tunes on PartImageNet
val, and each further start (`base-random` when trained) the same way, in stage folders of their
own. With --held-out (the default) it also adapts OPS on half of the evaluation images and
scores it on the other half, beside the OPS that saw them. `--finetune-modes st ss ss+st` adds
Table 3's self-training-only and self-supervised-only fine-tunings. Baseline parameters are tuned
on 20 car-parts train images, and so is OPS's `predict.split_min_fraction` (its parts cut at
their gaps), whose row stands beside OPS's own when it beats off there. Models are made by the
pipeline's own stages (object masks, train, pseudo labels, feature clustering, fine-tuning), each
output under --work/stages with its manifest: a rerun keeps what is current (same params, same
inputs' content), resumes a killed training and redoes what changed.
Writes benchmarks/results/quality.md and quality.json with versions and hardware.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from benchmarks.quality_data import HELD_OUT, SETS, prepare_data
from openparts import __version__, atomic, evaluation, stages
from openparts.config import resolve
from openparts.cpus import keep_freed_memory
from openparts.data.dataset import PartDataset
from openparts.engine.pieces import split_results
from openparts.engine.predict import Predictor
from openparts.evaluation.ablation import object_awareness
from openparts.evaluation.baseline_store import BaselineStore
from openparts.evaluation.instance_ap import evaluate_instances
from openparts.evaluation.report import keep_top, score_predictions
from openparts.evaluation.semantic import segments_per_image
from openparts.fingerprint import content_hash
from openparts.model import load_model
from openparts.stages.manifest import artifact, is_current, read_manifest

log = logging.getLogger("benchmarks.quality")
REPO = Path(__file__).resolve().parents[1]
UNSEEN = ("pascal58-nonperson", "pascal58-unseen")  # the categories training calls unseen, and those with cars left out
BASELINES = ("slic", "felzenszwalb", "ncut")
COLUMNS = ("AP", "AP50", "mIoU", "fwIoU", "mACC", "segments_per_object")  # the oracle metrics favour more segments
BASE = "base (pre+post)"
OPS = "OPS SS+ST (pre+post)"
MATCHED = "@matched"  # a baseline cut, image by image, to OPS's number of segments: its largest ones
DEV_IMAGES = 20  # car-parts train images the baselines' parameters are chosen on
OPS_SPLIT = "OPS SS+ST split (pre+post)"  # OPS with predict.split_min_fraction chosen on the dev images
MATCHED_SPLIT = "@matched-split"  # a baseline cut to the split OPS's number of segments
SPLIT_FRACTIONS = (0.3, 0.2, 0.1, 0.05)  # predict.split_min_fraction candidates, beside off
# random weights, and batch norm that learns its statistics: frozen, a random network's are meaningless
RANDOM_INIT = ["model.backbone.pretrained=null", "model.backbone.freeze_batchnorm=false"]
# name -> (trained on the synthetic categories too, configuration overrides)
MODELS = {
    "base": (False, []),
    "base-random": (False, RANDOM_INIT),  # the same network from random weights: what pretraining buys
    "base-3ch": (False, ["model.object_mask_channel=false"]),
    "class-aware": (False, ["model.class_agnostic=false"]),
    "with-synthetic": (True, []),
}
BASE_RANDOM = "base random init (pre+post)"
# fine-tuning mode (Table 3) -> the model's name and stage folder; `ops` is the paper's OPS
OPS_MODELS = {"st": "ops-st", "ss": "ops-ss", "ss+st": "ops"}
# OPS may start from a model of the default architecture (class-agnostic, object-mask channel)
OPS_BASES = ("base", "with-synthetic", "base-random")
OPS_HELD_OUT = "OPS SS+ST adapted on the other half (pre+post)"


def run_stage(stage: str, inputs: dict[str, Path], params: dict[str, Any], out_dir: Path) -> Path:
    """One pipeline stage through the entry point DVC and KFP use (tracked in MLflow under
    `openparts-bench-quality`), skipped when its output is current (same recorded params, same
    inputs' content); a killed training stage resumes."""
    if is_current(out_dir, inputs, params):
        log.info("%s: current, kept", out_dir.name)
        return out_dir
    started = time.perf_counter()
    stages.run(stage, inputs, {**params, "experiment": {"name": "bench-quality"}}, out_dir)
    log.info("%s: done in %.1f minutes", out_dir.name, (time.perf_counter() - started) / 60)
    return out_dir


def stage_inputs(work: Path, paths: dict[str, Path], chosen: list[str], held_out: bool) -> dict[str, Path]:
    """The sources as the pipeline's stage 1 hands them on (their own object masks); the
    synthetic categories only when a chosen model trains on them, the half pool only for `held_out`."""
    given = {"object_masks": {"method": "gt"}}
    synthetic = any(MODELS[name][0] for name in chosen)
    names = ("carparts-train", "ccp", "unlabeled", *(("synthetic",) if synthetic else ()), *(("unlabeled-half",) if held_out else ()))
    return {name: run_stage("object_masks", {"data": paths[name]}, given, work / "stages" / name) for name in names}


def train_models(
    work: Path, sources: dict[str, Path], preset: str, iterations: int, chosen: list[str], overrides: list[str], parallel: bool
) -> dict[str, Path]:
    """The chosen base models; with `parallel`, side by side in one process each (one GPU holds
    them all at once, and a batch of 2 leaves it mostly idle), else one after another."""
    jobs = {}
    for name, (synthetic, model_overrides) in MODELS.items():
        if name not in chosen:
            log.info("%s: left out (--models)", name)
            continue
        config = resolve(preset, [f"train.iterations={iterations}", "train.checkpoint_every=100", *model_overrides, *overrides])
        inputs = {"data": sources["carparts-train"], "data_2": sources["ccp"], **({"data_3": sources["synthetic"]} if synthetic else {})}
        jobs[name] = ("train", inputs, {"config": config}, work / "stages" / name)
    if not parallel:
        return {name: run_stage(*job) for name, job in jobs.items()}
    spawn = multiprocessing.get_context("spawn")  # CUDA does not survive a fork
    with ProcessPoolExecutor(len(jobs), mp_context=spawn, initializer=configure_process) as pool:
        futures = {name: pool.submit(run_stage, *job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def adapt(
    work: Path,
    sources: dict[str, Path],
    base: tuple[str, Path],
    preset: str,
    iterations: int,
    overrides: list[str],
    modes: list[str],
    pool: str = "unlabeled",
    variant: str = "",
) -> dict[str, Path]:
    """OPS and its ablations (Table 3): pseudo labels (for ST) and pseudo parts (for SS) from the
    base model (its name and stage folder) on the unlabeled `pool`, then one fine-tuning per mode,
    each in its own stage folder. Fine-tuning keeps every source the base model learnt from as
    labelled data; a base other than `base` gets folders of its own (`ops-from-with-synthetic`), and
    so do the half pool (`ops-heldout`) and a named `variant` of the method, so no OPS overwrites another."""
    base_name, base_folder = base
    suffix = ("" if base_name == "base" else f"-from-{base_name}") + (HELD_OUT if pool == "unlabeled-half" else "") + variant
    labeled = {"labeled": sources["carparts-train"], "labeled_2": sources["ccp"]}
    if MODELS[base_name][0]:
        labeled["labeled_3"] = sources["synthetic"]
    folder = work / "stages"
    configs = {
        mode: resolve(preset, [f"finetune.iterations={iterations}", f"finetune.mode={mode}", "train.checkpoint_every=50", *overrides])
        for mode in modes
    }
    shared = {"config": configs["ss+st"]}  # pseudo labels and parts: made once, under OPS's params, for every mode
    unlabeled = {"model": base_folder, "data": sources[pool]}
    adapted = {}
    for mode, config in configs.items():
        inputs = {"model": base_folder, **labeled, "unlabeled": sources[pool]}
        if "st" in mode:
            inputs["pseudo_labels"] = run_stage("pseudo_labels", unlabeled, shared, folder / f"pseudo_labels{suffix}")
        if "ss" in mode:
            inputs["pseudo_parts"] = run_stage("cluster_features", unlabeled, shared, folder / f"pseudo_parts{suffix}")
        name = OPS_MODELS[mode]
        adapted[name] = run_stage("finetune", inputs, {"config": config}, folder / f"{name}{suffix}")
    return adapted


def scoring_code() -> str:
    """sha256 of the evaluation package's source: the kept scores (baselines.json) depend on how
    every metric is counted, not only on what the baseline store's results depend on."""
    digest = hashlib.sha256()
    for source in sorted(Path(evaluation.__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


class Scorer:
    """Predictions and scores, each made once: the tables share many of them.

    Baselines do not depend on any model, so their parameters and segments (the evaluation
    package's BaselineStore, `baseline_store/`) and their scores (baselines.json) are kept in
    `--work`, keyed by the datasets' content and the code (the scores by the whole evaluation
    package's, `scoring_code`): a run with a new model spends its time on the model, not on
    segmenting the sets again to cut the baselines to the model's segment count (`@matched`; NCut
    takes minutes per set), and a change to how baselines segment or score makes them anew.
    """

    def __init__(self, paths: dict[str, Path], predict_config: dict[str, Any], work: Path) -> None:
        self.paths, self.predict_config = paths, predict_config
        self.datasets = {name: PartDataset.open(path) for name, path in paths.items() if name.startswith(SETS)}
        self.hashes = {name: content_hash(path) for name, path in paths.items() if name.startswith(SETS)}
        self.store = BaselineStore(work / "baseline_store")
        self.scoring_code = scoring_code()
        # keyed (model, set, masks, post_aware, split fraction or None), as are their scores
        self.predictions: dict[tuple, list[dict[str, Any]]] = {}
        self.cache: dict[tuple, dict[str, float]] = {}
        self.baseline_file = work / "baselines.json"
        kept = json.loads(self.baseline_file.read_text()) if self.baseline_file.is_file() else {}
        # scores counted by other evaluation code can never be asked for again: left out of the next write
        self.baseline_cache: dict[str, Any] = {key: value for key, value in kept.items() if self.scoring_code in json.loads(key)}

    def model(self, model, model_name: str, set_name: str, masks: str, post_aware: bool = True) -> dict[str, float]:
        key = (model_name, set_name, masks, post_aware, None)
        if key not in self.cache:
            given = self.datasets[set_name if masks == "perfect" else f"{set_name}-salient"]
            predictor = Predictor(model, {**self.predict_config, "post_aware": post_aware})
            self.predictions[key] = predictor.predict_dataset(given, progress=False)
            self.cache[key] = score_predictions(self.datasets[set_name], self.predictions[key])
        return self.cache[key]

    def baseline(
        self, method: str, params: dict[str, Any], set_name: str, masks: str, segments: dict[int, int] | None = None
    ) -> dict[str, float]:
        """A baseline's scores; with `segments` ({image id: count}), of its largest segments only,
        as many per image as given (the oracle metrics favour more segments: a comparison at the
        model's count shows how much of a gap is segment count)."""
        given_name = set_name if masks == "perfect" else f"{set_name}-salient"
        identity = [method, params, set_name, masks, self.hashes[given_name], self.hashes[set_name], self.scoring_code]
        if segments is not None:
            identity.append(hashlib.sha256(json.dumps(sorted(segments.items())).encode()).hexdigest())
        key = json.dumps(identity, sort_keys=True)
        if key not in self.baseline_cache:
            predictions = self.store.predictions(self.datasets[given_name], method, params, progress=False)
            if segments is not None:
                predictions = keep_top(predictions, segments)
            self.baseline_cache[key] = score_predictions(self.datasets[set_name], predictions)
            atomic.write_json(self.baseline_file, self.baseline_cache)
        return self.baseline_cache[key]

    def split(self, model_name: str, set_name: str, masks: str, fraction: float | None) -> dict[str, float]:
        """The scores of the model's predictions (scored first by `model`) with each part split
        at its gaps (`predict.split_min_fraction`), as the predictor would give them."""
        key = (model_name, set_name, masks, True, fraction)
        if key not in self.cache:
            self.predictions[key] = split_results(self.predictions[(model_name, set_name, masks, True, None)], fraction)
            self.cache[key] = score_predictions(self.datasets[set_name], self.predictions[key])
        return self.cache[key]

    def segments(self, model_name: str, set_name: str, masks: str, fraction: float | None = None) -> dict[int, int]:
        """The model's segments per image inside the object, as `segments_per_object` counts them."""
        return segments_per_image(self.datasets[set_name], self.predictions[(model_name, set_name, masks, True, fraction)])

    def split_fraction(self, model, dev: PartDataset) -> tuple[float | None, dict[str, float]]:
        """`predict.split_min_fraction` with the best AP on the dev images, as the baselines'
        parameters are chosen (None: splitting does not help there), and each candidate's AP."""
        indices = list(range(DEV_IMAGES))
        image_ids = [dev.images[i]["id"] for i in indices]
        whole = Predictor(model, {**self.predict_config, "post_aware": True}).predict_dataset(dev, progress=False, indices=indices)
        scores = {str(f): evaluate_instances(dev, split_results(whole, f), image_ids)["AP"] for f in (None, *SPLIT_FRACTIONS)}
        best = max((None, *SPLIT_FRACTIONS), key=lambda fraction: scores[str(fraction)])  # off wins a tie
        return best, scores

    def tuned(self, method: str, dev: PartDataset) -> dict[str, Any]:
        return self.store.tuned(dev, method, list(range(DEV_IMAGES)))


def ops_from_row(start: str) -> str:
    """The main table's row of an OPS fine-tuned from a start other than the run's first (`--ops-from`)."""
    return f"OPS SS+ST from {start} (pre+post)"


def evaluate(
    paths: dict[str, Path], models: dict[str, Path], preset: str, work: Path, ops_from: str = "base", other_starts: tuple[str, ...] = ()
) -> dict[str, Any]:
    predict_config = resolve(preset)["predict"]
    scorer = Scorer(paths, predict_config, work)
    loaded = {name: load_model(artifact(folder, "model")) for name, folder in models.items()}
    dev = PartDataset.open(paths["carparts-train"])
    tuned = {method: scorer.tuned(method, dev) for method in BASELINES}
    log.info("baseline parameters (%d car-parts train images): %s", DEV_IMAGES, tuned)
    fraction, fraction_scores = scorer.split_fraction(loaded[OPS_MODELS["ss+st"]], dev)
    log.info("OPS split_min_fraction %s (dev AP of each: %s)", fraction, fraction_scores)
    results: dict[str, Any] = {
        "ops_from": ops_from,
        "other_ops_starts": list(other_starts),
        "baseline_parameters": tuned,
        "split_min_fraction": {"chosen": fraction, "dev_AP": fraction_scores},
        "main": {},
        "ablation": {},
        "class_aware": {},
        "synthetic": {},
        "held_out": {},
    }
    for set_name in SETS:
        for masks in ("imperfect", "perfect"):
            row = {method: scorer.baseline(method, tuned[method], set_name, masks) for method in BASELINES}
            row[BASE] = scorer.model(loaded["base"], "base", set_name, masks)
            if "base-random" in loaded:
                row[BASE_RANDOM] = scorer.model(loaded["base-random"], "base-random", set_name, masks)
            for mode, name in OPS_MODELS.items():
                if name in loaded:
                    row[f"OPS {mode.upper()} (pre+post)"] = scorer.model(loaded[name], name, set_name, masks)
            for start in other_starts:
                row[ops_from_row(start)] = scorer.model(loaded[f"ops-from-{start}"], f"ops-from-{start}", set_name, masks)
            counts = scorer.segments(OPS_MODELS["ss+st"], set_name, masks)
            for method in BASELINES:
                row[method + MATCHED] = scorer.baseline(method, tuned[method], set_name, masks, counts)
            if fraction is not None:
                row[OPS_SPLIT] = scorer.split(OPS_MODELS["ss+st"], set_name, masks, fraction)
                split_counts = scorer.segments(OPS_MODELS["ss+st"], set_name, masks, fraction)
                for method in BASELINES:
                    row[method + MATCHED_SPLIT] = scorer.baseline(method, tuned[method], set_name, masks, split_counts)
            results["main"][f"{set_name} {masks}"] = row
            log.info("%s %s: %s", set_name, masks, {m: round(v["mIoU"], 2) for m, v in row.items()})
            for name, table in (("class-aware", "class_aware"), ("with-synthetic", "synthetic")):
                if name not in loaded:
                    continue
                results[table][f"{set_name} {masks}"] = {
                    "base": scorer.model(loaded["base"], "base", set_name, masks),
                    name: scorer.model(loaded[name], name, set_name, masks),
                }
        perfect, imperfect = scorer.datasets[set_name], scorer.datasets[f"{set_name}-salient"]
        # the base model's pre+post rows are its main-table predictions
        known = {f"pre+post-{masks}": scorer.predictions[("base", set_name, masks, True, None)] for masks in ("imperfect", "perfect")}
        ablation_models = [loaded[name] for name in ("base-3ch", "base") if name in loaded]
        results["ablation"][set_name] = object_awareness(ablation_models, perfect, imperfect, predict_config, known=known)
    if "ops-heldout" in loaded:
        results["held_out"] = held_out_rows(scorer, loaded, tuned)
    return results


def held_out_rows(scorer: Scorer, loaded: dict[str, Any], tuned: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """On the halves no adaptation saw: the baselines, the base model, OPS adapted on every evaluation
    image (these included) and OPS adapted on the other halves only."""
    rows = {}
    for set_name in SETS:
        held = f"{set_name}{HELD_OUT}"
        for masks in ("imperfect", "perfect"):
            row = {method: scorer.baseline(method, tuned[method], held, masks) for method in BASELINES}
            row[BASE] = scorer.model(loaded["base"], "base", held, masks)
            row[OPS] = scorer.model(loaded["ops"], "ops", held, masks)
            row[OPS_HELD_OUT] = scorer.model(loaded["ops-heldout"], "ops-heldout", held, masks)
            rows[f"{held} {masks}"] = row
    return rows


def verdicts(results: dict[str, Any]) -> list[str]:
    """The targets, checked on this run's numbers."""
    lines = []
    ops = ops_name(results)
    for set_name in SETS:
        for masks in ("imperfect", "perfect"):
            row = results["main"][f"{set_name} {masks}"]
            lines.append(_miou_verdict(f"{set_name}, {masks} masks: {ops}", row, OPS, MATCHED))
            if OPS_SPLIT in row:  # absent where splitting did not help on the dev images, and from older runs
                chosen = results["split_min_fraction"]["chosen"]
                lines.append(_miou_verdict(f"{set_name}, {masks} masks: {ops} split at {chosen}", row, OPS_SPLIT, MATCHED_SPLIT))
    lines += pretrained_verdicts(results)
    for set_name in UNSEEN:
        ablation = results["ablation"][set_name]
        if "none" not in ablation:
            lines.append(f"- {set_name} (unseen categories): pre+post vs no awareness not measured (`--models` left base-3ch out)")
            continue
        for masks in ("imperfect", "perfect"):
            both, none = ablation[f"pre+post-{masks}"]["AP"], ablation["none"]["AP"]
            verdict = comparison(both, none)
            lines.append(f"- {set_name} (unseen categories): pre+post ({masks}) AP {both:.2f} {verdict} no awareness AP {none:.2f}")
    return lines


UNSEEN_AP_TARGET = 5.0  # AP on the categories no training source shows, with their own object masks
UNSEEN_MIOU_LEAD = 5.0  # OPS mIoU over the best classical baseline there, with salient masks, parts not cut at gaps


def pretrained_verdicts(results: dict[str, Any]) -> list[str]:
    """The targets a pretrained backbone must reach on the unseen categories, and OPS adapted on other images."""
    lines = []
    ops = ops_name(results)
    perfect, imperfect = results["main"].get("pascal58-unseen perfect"), results["main"].get("pascal58-unseen imperfect")
    if perfect is not None:
        for label, method in (("the base model", BASE), (ops, OPS)):
            if method not in perfect:  # rows of older runs
                continue
            ap = perfect[method]["AP"]
            reached = "reaches" if ap >= UNSEEN_AP_TARGET else "does NOT reach"
            lines.append(f"- pascal58-unseen, perfect masks: {label} AP {ap:.2f} {reached} {UNSEEN_AP_TARGET:g}")
    if imperfect is not None and OPS in imperfect:
        best = best_baseline(imperfect)
        lead = imperfect[OPS]["mIoU"] - imperfect[best]["mIoU"]
        reached = "reaches" if lead >= UNSEEN_MIOU_LEAD else "does NOT reach"
        lines.append(
            f"- pascal58-unseen, imperfect masks: {ops} (parts not cut at gaps) mIoU {imperfect[OPS]['mIoU']:.2f} leads the best baseline "
            f"({best} {imperfect[best]['mIoU']:.2f}) by {lead:+.2f}: {reached} +{UNSEEN_MIOU_LEAD:g}"
        )
    for key, row in results.get("held_out", {}).items():
        lines.append(_miou_verdict(f"{key} masks: OPS adapted on the other half", row, OPS_HELD_OUT, MATCHED))
    return lines


def ops_start(results: dict[str, Any]) -> str:
    """The model OPS was fine-tuned from (results of older runs do not record it: they fine-tuned `base`)."""
    return results.get("ops_from", "base")


def ops_name(results: dict[str, Any]) -> str:
    """OPS as the targets name it: with the model it was fine-tuned from when that is not `base`."""
    start = ops_start(results)
    return "OPS" if start == "base" else f"OPS from {start}"


def comparison(ours: float, theirs: float) -> str:
    """A lead the printed two decimals cannot show is a tie: 45.782 against 45.777 over 41 objects
    is no win for either, and "45.78 beats 45.78" reads as a bug."""
    if round(ours, 2) == round(theirs, 2):
        return "ties"
    return "beats" if ours > theirs else "does NOT beat"


def best_baseline(row: dict[str, dict[str, float]]) -> str:
    """The classical baseline with the highest mIoU in a row of the main table: the bar OPS is held to."""
    return max(BASELINES, key=lambda method: row[method]["mIoU"])


def _miou_verdict(label: str, row: dict[str, dict[str, float]], method: str, matched_suffix: str) -> str:
    best = best_baseline(row)
    ours, theirs = row[method]["mIoU"], row[best]["mIoU"]
    verdict = comparison(ours, theirs)
    line = f"- {label} mIoU {ours:.2f} {verdict} the best baseline ({best} {theirs:.2f})"
    matched = [m + matched_suffix for m in BASELINES if m + matched_suffix in row]  # absent from results of older runs
    if matched:
        at_count = max(matched, key=lambda m: row[m]["mIoU"])
        line += f"; at its segment count the best is {at_count} {row[at_count]['mIoU']:.2f}"
    return line


def render(results: dict[str, Any], header: list[str]) -> str:
    lines = ["# Quality benchmark on real data", "", *header, ""]
    lines += [
        "## Baselines, base model and OPS",
        "",
        "Post-aware filtering with the same masks the model was given.",
        *_random_init_lines(results),
        f"`<baseline>{MATCHED}`: the baseline cut, image by image, to as many segments as OPS shows in the object (its largest).",
        *_ops_from_lines(ops_start(results)),
        *_split_lines(results.get("split_min_fraction")),
        "",
    ]
    for key, row in results["main"].items():
        lines += _table(key, row, COLUMNS)
    lines += ["## Object awareness (Table 2): AP / AP50", ""]
    for set_name, rows in results["ablation"].items():
        lines += _table(set_name, rows, ("AP", "AP50"))
    lines += ["## Adaptation scored on images it did not see", ""]
    if results.get("held_out"):
        lines += [
            f"Each set's held-out half (`{HELD_OUT}`: odd positions in car-parts test and in the Pascal-Part crops). `{OPS}` adapted on",
            f"every evaluation image, these included (the protocol above); `{OPS_HELD_OUT}` on the other halves only.",
            "",
        ]
        for key, row in results["held_out"].items():
            lines += _table(key, row, COLUMNS)
    else:
        lines += ["Not run (`--no-held-out`).", ""]
    for title, table in (("Class-aware vs class-agnostic training", "class_aware"), ("Adding the synthetic categories", "synthetic")):
        lines += [f"## {title} (pre+post)", ""]
        for key, row in results[table].items():
            lines += _table(key, row, COLUMNS)
        if not results[table]:
            lines += ["Not run (`--models` left its model out).", ""]
    lines += ["## Targets", "", *verdicts(results), ""]
    return "\n".join(lines)


def _random_init_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    if any(BASE_RANDOM in row for row in results["main"].values()):
        lines.append(f"`{BASE_RANDOM}`: `base`'s network and schedule from random weights (`{' '.join(RANDOM_INIT)}`).")
    return lines + [
        f"`{ops_from_row(start)}`: OPS fine-tuned from `{start}` as the first OPS is." for start in results.get("other_ops_starts", [])
    ]


def _ops_from_lines(start: str) -> list[str]:
    if start == "base":
        return []
    return [
        f"The OPS rows (`{OPS}` and its split and fine-tuning ablations) are fine-tuned from `{start}`, with its labelled data;",
        f"`{BASE}` is still `base`, and `{start}` itself stands in its own table below.",
    ]


def _split_lines(split: dict[str, Any] | None) -> list[str]:
    if split is None:  # results of older runs
        return []
    tried = ", ".join(f"{fraction} {ap:.2f}" for fraction, ap in split["dev_AP"].items())
    if split["chosen"] is None:
        return [f"OPS split at its gaps (`predict.split_min_fraction`): no fraction beat off on AP on the dev images ({tried}); not shown."]
    return [
        f"`{OPS_SPLIT}`: OPS with each part split at its gaps, `predict.split_min_fraction` {split['chosen']}, chosen by AP",
        f"on the {DEV_IMAGES} dev images as the baselines' parameters are (AP of off and each fraction: {tried});",
        f"`<baseline>{MATCHED_SPLIT}`: the baseline cut to its number of segments.",
    ]


def _table(title: str, rows: dict[str, dict[str, float]], columns: tuple[str, ...]) -> list[str]:
    lines = [f"**{title}**", "", "| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{values[c]:.2f}" for c in columns) + " |" for name, values in rows.items()]
    return [*lines, ""]


def default_ops_start(models: list[str]) -> str:
    """with-synthetic when it is trained: the split OPS from it beat the best baseline on both evaluation sets
    in 3 of 3 seeds, from base in 2 of 3 (benchmarks/results/cpu-quality-3400x4/README.md)."""
    return "with-synthetic" if "with-synthetic" in models else "base"


def default_ops_starts(models: list[str]) -> list[str]:
    """The first start (`default_ops_start`), then the random-init base when it is trained: an OPS row from each."""
    return [default_ops_start(models), *(["base-random"] if "base-random" in models else [])]


def training_data(paths: dict[str, Path], synthetic_images: int, ops_from: str) -> str:
    """The labelled sources and their sizes, and which models the synthetic images went into."""
    text = f"car-parts train ({len(PartDataset.open(paths['carparts-train'])):,}) + CCP ({len(PartDataset.open(paths['ccp'])):,})"
    if "synthetic" in paths:
        users = "with-synthetic" + (" and the OPS from it" if ops_from == "with-synthetic" else "")
        text += f" + synthetic categories ({synthetic_images:,}, {users} only)"
    return text


def model_made(stage_folder: Path) -> str:
    """Steps a model really trained (a `train.max_minutes` cap can stop it before --iterations),
    the minutes its stage took and the revision that made it: a rerun keeps current stages, so
    the run's own minutes may not include them."""
    record = json.loads((artifact(stage_folder, "model") / "openparts.json").read_text())
    manifest = read_manifest(stage_folder)
    revision = manifest.get("git_revision") or "unknown"
    short = revision[:7] + ("+dirty" if revision.endswith("+dirty") else "")
    return f"{record['training']['steps']} steps ({manifest['seconds'] / 60:.1f} min at {short})"


def configure_process() -> None:
    """Logging and the allocator, in this process and in each worker it spawns."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    keep_freed_memory()  # as the openparts command does


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("outputs/quality"))
    parser.add_argument("--preset", default="cpu", help="configuration preset (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=2000, help="training steps of each base model (default: %(default)s)")
    parser.add_argument("--finetune-iterations", type=int, default=300, help="OPS fine-tuning steps (default: %(default)s)")
    parser.add_argument("--synthetic-images", type=int, default=400, help="synthetic images added for `with-synthetic`")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="base models to train (default: all)")
    parser.add_argument(
        "--finetune-modes",
        nargs="+",
        choices=list(OPS_MODELS),
        default=["ss+st"],
        help="fine-tunings of the base model (Table 3): ss+st is OPS; add st and ss for the ablation (default: %(default)s)",
    )
    parser.add_argument(
        "--ops-from",
        nargs="+",
        choices=OPS_BASES,
        help="the base models OPS is fine-tuned from, the first for the targets and the split; with-synthetic keeps its synthetic "
        "images as labelled data (default: with-synthetic when --models trains it, else base; then base-random when trained)",
    )
    parser.add_argument(
        "--held-out",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also adapt OPS on half of the evaluation images and score it on the other half (default: %(default)s)",
    )
    parser.add_argument("--parallel", action="store_true", help="train the base models side by side (for a GPU)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="configuration override for every training stage, e.g. train.max_minutes=3 or train.num_workers=3",
    )
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results", help="folder for quality.md / quality.json")
    args = parser.parse_args()
    configure_process()
    if "base" not in args.models:
        parser.error("--models needs base (scored beside OPS, and OPS's start when with-synthetic is left out)")
    if "base-random" in args.models and not resolve(args.preset, args.overrides)["model"]["backbone"]["pretrained"]:
        log.info("base-random: left out (the preset's backbone starts from random weights already, so it would be base)")
        args.models.remove("base-random")
    args.ops_from = args.ops_from or default_ops_starts(args.models)
    missing = [start for start in args.ops_from if start not in args.models]
    if missing:
        parser.error(f"--ops-from {' '.join(missing)} needs {' '.join(missing)} in --models")
    if "ss+st" not in args.finetune_modes:
        parser.error("--finetune-modes needs ss+st (OPS, which the targets are about)")
    started = time.perf_counter()
    paths = prepare_data(args.work, args.synthetic_images if "with-synthetic" in args.models else 0)
    sources = stage_inputs(args.work, paths, args.models, args.held_out)
    models = train_models(args.work, sources, args.preset, args.iterations, args.models, args.overrides, args.parallel)
    first, *others = args.ops_from
    finetune = (args.preset, args.finetune_iterations, args.overrides)
    models |= adapt(args.work, sources, (first, models[first]), *finetune, args.finetune_modes)
    for start in others:
        models[f"ops-from-{start}"] = adapt(args.work, sources, (start, models[start]), *finetune, ["ss+st"])["ops"]
    if args.held_out:
        models["ops-heldout"] = adapt(args.work, sources, (first, models[first]), *finetune, ["ss+st"], pool="unlabeled-half")["ops"]
    results = evaluate(paths, models, args.preset, args.work, first, tuple(others))
    minutes = (time.perf_counter() - started) / 60
    import transformers

    header = [
        f"openparts {__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}",
        f"command: `python {shlex.join(sys.argv)}` ({minutes:.0f} minutes in this run)",
        f"Trained on {training_data(paths, args.synthetic_images, first)}; "
        "of the Pascal-Part categories persons are seen (CCP) and cars (car-parts), pascal58-unseen holds the others.",
        "Models: " + ", ".join(f"{name} {model_made(folder)}" for name, folder in models.items()) + ".",
        f"OPS adapts {'' if first == 'base' else '`' + first + '` '}on the evaluation images without labels "
        "(salient masks), as the paper's Table 3 on PartImageNet val.",
        "`perfect`: the sets' own object masks; `imperfect`: the salient-object model's. AP/AP50 class-agnostic;",
        "mIoU/fwIoU/mACC are the oracle semantic metrics inside the object (Table 5).",
    ]
    text = render(results, header)
    atomic.write_json(args.results / "quality.json", {"header": header, **results})
    atomic.write_text(args.results / "quality.md", text + "\n")
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
