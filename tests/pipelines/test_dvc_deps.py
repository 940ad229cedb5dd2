"""DVC sees only the deps dvc.yaml lists, not imports: a module a stage runs but does not list
changes without the stage rerunning, and `make run` then serves its stale output as current."""

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

# packages and modules whose code shapes what a stage writes
SHAPING = ("openparts.model", "openparts.engine", "openparts.clustering", "openparts.losses", "openparts.evaluation", "openparts.objects")
# imported by a stage (any: "*") without shaping its output, a module or a package and all in it
# (".*"): why each may be left out of the stage's deps
NOT_SHAPING = {
    ("*", "openparts.engine"): "the package's docstring only",
    ("*", "openparts.engine.callbacks"): "the protocol training reports metrics through",
    ("pseudo_labels", "openparts.clustering"): "unlabeled.py's pseudo parts, not its pseudo labels",
}


def _excused(stage: str, module: str) -> bool:
    for where, excused in NOT_SHAPING:
        package = excused.removesuffix(".*")
        if where in ("*", stage) and (module == package or (excused.endswith(".*") and module.startswith(package + "."))):
            return True
    return False


@pytest.fixture(scope="module")
def imported() -> dict[str, list[str]]:
    """{stage: the openparts modules importing its stage module loads}, each in a fresh
    interpreter, all started at once (each spends seconds importing torch)."""
    code = (
        "import importlib, json, sys; importlib.import_module('openparts.stages.' + sys.argv[1]); "
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith('openparts.'))))"
    )
    runs = {stage: subprocess.Popen([sys.executable, "-c", code, stage], stdout=subprocess.PIPE, text=True, cwd=REPO) for stage in STAGES}
    found = {}
    for stage, run in runs.items():
        output, _ = run.communicate(timeout=300)
        assert run.returncode == 0, f"importing openparts.stages.{stage} failed"
        found[stage] = json.loads(output)
    return found


def _covered(module: str, deps: list[str]) -> bool:
    path = "src/" + module.replace(".", "/")
    return any(path == dep or path + ".py" == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


DVC_STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
STAGES = {  # the pipeline's stages by the name of their openparts.stages module (object_masks: one per set)
    "object_masks": DVC_STAGES["object_masks"]["do"],
    **{name: spec for name, spec in DVC_STAGES.items() if str(spec.get("cmd", "")).startswith("openparts stage ")},
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_module_that_shapes_a_stage_output_is_one_of_its_deps(stage: str, imported: dict[str, list[str]]) -> None:
    deps = [dep for dep in STAGES[stage]["deps"] if dep.startswith("src/")]
    missing = [
        module for module in imported[stage] if module.startswith(SHAPING) and not _excused(stage, module) and not _covered(module, deps)
    ]
    assert not missing, f"dvc.yaml stage {stage} runs {missing} but does not list them in its deps"
