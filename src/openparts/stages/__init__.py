"""The six stages of OPS, each `run(inputs, params, out_dir)` (see `../shared/DESIGN.md`).

`inputs` maps a role to a path; `params` holds `config` (the resolved preset) and the stage's
own group from params.yaml. The stage itself gets only the part of `config` it reads
(`openparts.stages.params.READS`) and records only that in its manifest; its MLflow run logs
all it was given (the whole configuration from the CLI and DVC, so that runs compare on every
setting; a Kubeflow component is given its stage's part). Every stage writes its folder
atomically with a manifest (`openparts.stages.manifest`); the CLI (`openparts stage NAME`),
DVC and KFP all call `run`.
Artifacts inside a stage folder: `dataset/` (object_masks, pseudo_labels), `model/` (train,
finetune), `pseudo_parts/` (cluster_features), report files (evaluate).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

STAGES = ("object_masks", "train", "pseudo_labels", "cluster_features", "finetune", "evaluate")


def run(stage: str, inputs: dict[str, str | os.PathLike[str]], params: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
    from openparts import tracking
    from openparts.stages.params import stage_config

    module = importlib.import_module(f"openparts.stages.{stage}")
    paths = {role: Path(path) for role, path in inputs.items()}
    own = {**params, "config": stage_config(params["config"], stage)} if "config" in params else params
    with tracking.stage_run(stage, params, paths):
        out = module.run(paths, own, Path(out_dir))
        tracking.log_outputs(out)
    return out
