"""The paper's tables as named experiments (`experiments/<name>.yaml`), each variant one pipeline run.

An experiment file names the datasets, the params.yaml entries every variant changes, and the
variants. Locally each variant is a `dvc exp run` named `<name>-<variant>-<time>` inside an
MLflow parent run, all in the MLflow experiment `openparts-<name>` (the stages find it in
params' `experiment` group, as KFP components do); on a cluster each variant is a KFP run in
the KFP experiment `<name>`. `openparts report tables` puts the results beside the paper's.
"""

from __future__ import annotations

import copy
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from openparts import atomic, storage
from openparts.config import ConfigError
from openparts.stages.params import pipeline_params
from pipelines import local

log = logging.getLogger("pipelines.experiment")
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
ROLES = ("train", "dev", "unlabeled", "test")
_PARAMS_GROUPS = ("preset", "overrides", "object_masks", "evaluate")  # params.yaml groups a variant may change
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
HOW_TO_GET = {
    "partimagenet": "openparts data convert partimagenet <PartImageNet folder> data/partimagenet",
    "pascal-part": "openparts data convert pascal-part <Pascal-Part split folder> data/pascal-part-58/<split> --grouping 58 (or 108)",
}


class ExperimentError(ValueError):
    """An experiment file or its data is not usable; the message names the file and the problem."""


def available(folder: Path = EXPERIMENTS) -> list[str]:
    return sorted(path.stem for path in folder.glob("*.yaml"))


def load(name: str, folder: Path = EXPERIMENTS) -> dict[str, Any]:
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise ExperimentError(f"no experiment {name!r} ({path} does not exist); known: {', '.join(available(folder))}")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ExperimentError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(spec, dict) or set(spec) - {"table", "title", "datasets", "params", "variants"}:
        raise ExperimentError(f"{path}: expected the keys table, title, datasets, params, variants")
    if set(spec.get("datasets") or {}) != set(ROLES):
        raise ExperimentError(f"{path}: datasets must name exactly {', '.join(ROLES)}")
    variants = spec.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise ExperimentError(f"{path}: needs at least one variant")
    for variant, changes in variants.items():
        if not NAME.fullmatch(str(variant)):
            raise ExperimentError(f"{path}: variant name {variant!r}: use letters, digits and _ . + - only")
        unknown = set(changes or {}) - {"datasets"} - set(_PARAMS_GROUPS)
        if unknown or set((changes or {}).get("datasets") or {}) - set(ROLES):
            raise ExperimentError(f"{path}: variant {variant!r} changes unknown entries {sorted(unknown) or 'in datasets'}")
    return {**spec, "name": name, "path": path}


def variant_payload(spec: dict[str, Any], variant: str, base: dict[str, Any], demo: bool = False, sets: list[str] = ()) -> dict[str, Any]:
    """params.yaml for one variant: `base` (the checkout's params.yaml), then the experiment's
    params, the variant's, and `sets` (`group.key=value`, YAML values) last. `demo` tries the
    machinery on the checkout's own datasets and preset, with the bundled salient-object model
    for imperfect masks (no download): the variants' differences stay, the paper's scale goes."""
    if variant not in spec["variants"]:
        raise ExperimentError(f"{spec['path']}: no variant {variant!r}; variants: {', '.join(spec['variants'])}")
    payload = copy.deepcopy(base)
    changes = spec["variants"][variant] or {}
    for layer in (spec.get("params") or {}, {k: v for k, v in changes.items() if k != "datasets"}):
        _merge(payload, layer)
    if demo:
        payload["preset"] = base.get("preset", payload["preset"])
        if (payload.get("evaluate") or {}).get("imperfect_masks"):
            payload["evaluate"] = {**payload["evaluate"], "imperfect_masks": "salient", "imperfect_checkpoint": None}
    else:
        payload["datasets"] = {**spec["datasets"], **(changes.get("datasets") or {})}
    for item in sets:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ExperimentError(f"--set expects KEY=VALUE, got {item!r}")
        group, _, rest = key.partition(".")
        _merge(payload, {group: {rest: yaml.safe_load(value)} if rest else yaml.safe_load(value)})
    payload["experiment"] = {"name": spec["name"], "variant": variant}
    return payload


def _merge(payload: dict[str, Any], layer: dict[str, Any]) -> None:
    """Groups merge key by key (overrides keep their dotted keys flat); scalars replace."""
    for group, value in layer.items():
        if isinstance(value, dict) and isinstance(payload.get(group), dict):
            payload[group] = {**payload[group], **value}
        else:
            payload[group] = copy.deepcopy(value)


def check_params(payload: dict[str, Any], where: str) -> None:
    """Resolve the variant's configuration now: a wrong key fails before hours of training."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "params.yaml"
        atomic.write_text(path, yaml.safe_dump(payload))
        try:
            pipeline_params(path)
        except ConfigError as error:
            raise ExperimentError(f"{where}: {str(error).replace(str(path), 'params')}") from None


def missing_datasets(payload: dict[str, Any], root: Path) -> list[str]:
    """Datasets that are neither in `root` nor made by one of its DVC stages (the demo data are)."""
    problems = []
    produced = _stage_outputs(root)
    for role, folder in payload["datasets"].items():
        if not (root / folder / "annotations.json").is_file() and Path(folder) not in produced:
            source = next((hint for prefix, hint in HOW_TO_GET.items() if prefix in str(folder)), "see README.md, The dataset format")
            problems.append(f"{role}: {folder} is not a dataset here ({source})")
    return problems


def _stage_outputs(root: Path) -> set[Path]:
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {Path(out.fs_path).resolve().relative_to(root.resolve()) for out in repo.index.outs}


def run_local(spec: dict[str, Any], workdir: Path, variants: list[str], demo: bool = False, sets: list[str] = ()) -> list[str]:
    """One `dvc exp run` per variant in `workdir`; params.yaml and dvc.lock are put back afterwards.
    Returns the DVC experiment names."""
    params_file, lock_file = workdir / "params.yaml", workdir / "dvc.lock"
    base = yaml.safe_load(params_file.read_text(encoding="utf-8")) or {}
    payloads = {variant: variant_payload(spec, variant, base, demo, sets) for variant in variants}
    problems = []
    for variant, payload in payloads.items():
        check_params(payload, f"{spec['path']} variant {variant}")
        problems += [f"{variant}: {problem}" for problem in missing_datasets(payload, workdir)]
    if problems:
        raise ExperimentError(f"{spec['path']}: datasets missing in {workdir}:\n  " + "\n  ".join(dict.fromkeys(problems)))
    original_params = params_file.read_text(encoding="utf-8")
    original_lock = lock_file.read_text(encoding="utf-8") if lock_file.is_file() else None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    names = []
    try:
        for variant, payload in payloads.items():
            name = f"{spec['name']}-{variant}-{stamp}"
            atomic.write_text(params_file, yaml.safe_dump(payload))
            local.dvc(workdir, ["exp", "run", "--name", name], f"{spec['name']}/{variant}", payload)
            names.append(name)
            log.info("%s: done (DVC experiment %s)", variant, name)
    finally:
        atomic.write_text(params_file, original_params)
        if original_lock is not None:
            atomic.write_text(lock_file, original_lock)
        subprocess.run([str(Path(sys.executable).parent / "dvc"), "checkout", "--quiet"], cwd=workdir, check=False)
    return names


def submit_cluster(
    spec: dict[str, Any],
    variants: list[str],
    base: dict[str, Any],
    data_root: str,
    submit: Callable[[dict[str, str], Path, str], str],
    sets: list[str] = (),
) -> dict[str, str]:
    """One KFP run per variant: `submit(uris, params file, run name)` gives its run id. Dataset
    paths starting with `data/` are looked up under `data_root` (an s3:// prefix or a folder)."""
    runs = {}
    with tempfile.TemporaryDirectory() as scratch:
        for variant in variants:
            payload = variant_payload(spec, variant, base, False, sets)
            check_params(payload, f"{spec['path']} variant {variant}")
            params_file = Path(scratch) / f"{variant}.yaml"
            atomic.write_text(params_file, yaml.safe_dump(payload))
            uris = {("labeled" if role == "train" else role): _under(data_root, path) for role, path in payload["datasets"].items()}
            runs[variant] = submit(uris, params_file, f"{spec['name']}-{variant}")
    return runs


def _under(root: str, path: str) -> str:
    relative = path.removeprefix("data/")
    if storage.is_s3(root):
        return root.rstrip("/") + "/" + relative
    return str(Path(root) / relative)
