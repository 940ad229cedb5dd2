"""params.yaml -> what a stage's `run` receives: the resolved configuration plus its own group.

params.yaml: `preset` (tiny | cpu | paper), `overrides` (a mapping of `--set` keys), one
group per stage (`object_masks`, `evaluate`, ...), `datasets` (what DVC feeds the pipeline)
and `experiment` (name and variant of a paper-table run: every stage gets it, so that its
MLflow run lands in that table's experiment). Unknown top-level keys are rejected, so a typo
cannot silently fall back to a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from openparts import atomic
from openparts.config import PRESETS, ConfigError, resolve

KNOWN = {
    "preset", "overrides", "data", "datasets", "experiment",
    "object_masks", "train", "pseudo_labels", "cluster_features", "finetune", "evaluate",
}  # fmt: skip
STAGE_GROUPS = ("object_masks", "train", "pseudo_labels", "cluster_features", "finetune", "evaluate")
# Prediction settings that shape only evaluated predictions: the unlabeled-data stages take the
# score threshold and the part map from finetune.pseudo_label_score and pseudo_label_masks, and
# never split parts (the paper's pseudo labels are the base model's parts), so these rerun
# evaluate alone. Every other `predict` key reaches pseudo labels, a key added later included.
EVALUATION_ONLY_PREDICT = ("score_threshold", "partition", "split_min_fraction")
PSEUDO_LABEL_PREDICT = tuple(f"predict.{key}" for key in PRESETS["cpu"]["predict"] if key not in EVALUATION_ONLY_PREDICT)
FEATURE_PREDICT = ("predict.shortest_edge", "predict.max_size", "predict.batch_size")
# The configuration each stage reads (sections, or single keys as section.key). A stage is handed
# and records only these, and DVC and KFP key their caches on them, so a setting reruns only the
# stages that read it: a fine-tuning mode never retrains the base model. A stage that reads a key
# outside its list fails with a KeyError, so the list cannot silently fall behind the code.
READS: dict[str, tuple[str, ...]] = {
    "object_masks": (),
    "train": ("model", "train"),
    "pseudo_labels": (*PSEUDO_LABEL_PREDICT, "finetune.pseudo_label_score", "finetune.pseudo_label_masks"),
    "cluster_features": (*FEATURE_PREDICT, "finetune.k", "train.seed"),
    "finetune": ("train", "finetune", *PSEUDO_LABEL_PREDICT),  # later rounds make pseudo labels again
    "evaluate": ("predict",),
}


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    file = Path(path)
    try:
        payload = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML ({error})") from error
    if not isinstance(payload, dict):
        raise ConfigError(f"{file}: the top level must be a mapping")
    unknown = sorted(set(payload) - KNOWN)
    if unknown:
        raise ConfigError(f"{file}: unknown top-level keys {unknown}; valid: {', '.join(sorted(KNOWN))}")
    return payload


def stage_params(path: str | os.PathLike[str], stage: str) -> dict[str, Any]:
    payload = load(path)
    return {"config": resolved_config(path, payload), stage: payload.get(stage) or {}, "experiment": experiment_group(path, payload)}


def resolved_config(path: str | os.PathLike[str], payload: dict[str, Any]) -> dict[str, Any]:
    """The preset with params.yaml's `overrides` applied (`payload`: the file as `load` gave it)."""
    overrides = payload.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"{path}: overrides must be a mapping of configuration keys to values")
    try:
        return resolve(payload.get("preset", "cpu"), {str(k): v for k, v in overrides.items()})
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def experiment_group(path: str | os.PathLike[str], payload: dict[str, Any]) -> dict[str, str]:
    """`experiment: {name, variant}` without the unset keys; names go into MLflow, so plain words only."""
    group = payload.get("experiment") or {}
    if not isinstance(group, dict) or set(group) - {"name", "variant"}:
        raise ConfigError(f"{path}: experiment must be a mapping with `name` and `variant`, got {group!r}")
    for key, value in group.items():
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", str(value)):
            raise ConfigError(f"{path}: experiment.{key} {value!r}: use letters, digits and _ . + - only")
    return {key: str(value) for key, value in group.items() if value is not None}


def stage_config(config: dict[str, Any], stage: str) -> dict[str, Any]:
    """The part of a resolved configuration that `stage` reads (READS); a slice gives itself back."""
    if stage not in READS:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(READS)}")
    sliced: dict[str, Any] = {}
    for entry in READS[stage]:
        section, _, key = entry.partition(".")
        if key:
            sliced.setdefault(section, {})[key] = config[section][key]
        else:
            sliced[section] = config[section]
    return sliced


def write_stage_configs(path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[Path]:
    """`<stage>.json` per stage that reads configuration: what DVC keys each stage on, so that a
    changed setting reruns the stages that read it and no others."""
    config = resolved_config(path, load(path))
    written = []
    for stage, reads in READS.items():
        if reads:
            target = Path(out_dir) / f"{stage}.json"
            atomic.write_json(target, stage_config(config, stage))
            written.append(target)
    return written


def component_params(path: str | os.PathLike[str], stage: str) -> dict[str, Any]:
    """What the Kubeflow component of `stage` receives. KFP keys its cache on a component's
    inputs, so each gets only what its stage reads, and the experiment's variant only at
    evaluate: the variants of a table that agree on training share one base model. evaluate
    gets the whole configuration, because its MLflow run holds the metrics that runs are
    compared on, and it re-executes whenever anything upstream changes anyway."""
    params = stage_params(path, stage)
    if stage != "evaluate":
        params["config"] = stage_config(params["config"], stage)
        params["experiment"] = {key: value for key, value in params["experiment"].items() if key == "name"}
    return params


def pipeline_params(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Every stage's params at once (the resolved config plus all groups), to check a file in one go."""
    payload = load(path)
    groups = {group: payload.get(group) or {} for group in STAGE_GROUPS}
    return {"config": resolved_config(path, payload), **groups, "experiment": experiment_group(path, payload)}
