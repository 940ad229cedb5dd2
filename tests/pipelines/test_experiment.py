"""The paper's tables as named experiments: files that resolve, runs that land in one MLflow
experiment per table, and `openparts report tables` that reads them back."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from openparts.evaluation import tables
from pipelines import experiment
from pipelines.scratch import make_project
from tests.conftest import REPO

BASE = yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize("name", experiment.available())
def test_every_variant_resolves_and_the_report_reads_only_variants_that_exist(name: str) -> None:
    spec = experiment.load(name)
    for variant in spec["variants"]:
        payload = experiment.variant_payload(spec, variant, BASE)
        experiment.check_params(payload, variant)
        assert payload["experiment"] == {"name": name, "variant": variant}
        assert set(payload["datasets"]) == set(experiment.ROLES)
    _, sections = tables.TABLES[spec["table"]]
    read = {row.variant for section in sections() for row in section.rows}
    assert read <= set(spec["variants"]), f"{name}: the report reads variants the experiment does not run: {read - set(spec['variants'])}"


def test_every_paper_table_is_an_experiment() -> None:
    assert sorted(experiment.load(name)["table"] for name in experiment.available()) == sorted(tables.TABLES)


def test_variants_layer_over_params_yaml_and_sets_come_last() -> None:
    spec = experiment.load("table2")
    payload = experiment.variant_payload(spec, "pascal-part-58-3ch", BASE, sets=["overrides.train.iterations=7", "preset=cpu"])
    assert payload["preset"] == "cpu" and payload["overrides"]["train.iterations"] == 7
    assert payload["overrides"]["model.object_mask_channel"] is False and payload["overrides"]["finetune.iterations"] == 0
    assert payload["datasets"]["test"] == "data/pascal-part-58/val" and payload["datasets"]["train"] == "data/partimagenet/train"
    assert payload["object_masks"] == BASE["object_masks"] and payload["evaluate"]["ablation"] is True
    demo = experiment.variant_payload(spec, "partimagenet-3ch", BASE, demo=True)
    assert demo["datasets"] == BASE["datasets"] and demo["preset"] == BASE["preset"] and demo["evaluate"]["imperfect_masks"] == "salient"
    assert demo["overrides"]["model.object_mask_channel"] is False


def test_mistakes_are_named_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(experiment.ExperimentError, match=r"no experiment 'table9'.*known: table1"):
        experiment.load("table9")
    bad = {"table": 2, "datasets": dict.fromkeys(experiment.ROLES, "d"), "variants": {"a": {"trian": {}}}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(experiment.ExperimentError, match=r"bad.yaml: variant 'a' changes unknown entries \['trian'\]"):
        experiment.load("bad", tmp_path)
    spec = experiment.load("table3")
    with pytest.raises(experiment.ExperimentError, match="model.num_quries"):
        experiment.check_params(experiment.variant_payload(spec, "SS", BASE, sets=["overrides.model.num_quries=5"]), "SS")
    project = make_project(tmp_path / "project")
    with pytest.raises(experiment.ExperimentError, match=r"train: data/partimagenet/train is not a dataset here \(openparts data convert"):
        experiment.run_local(spec, project, ["SS"])
    assert yaml.safe_load((project / "params.yaml").read_text())["experiment"] == {"name": None, "variant": None}


def test_a_table_runs_as_a_dvc_experiment_into_its_mlflow_experiment_and_the_report_reads_it(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", commit=True)
    before = (project / "params.yaml").read_bytes()
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    environment = {"MLFLOW_TRACKING_URI": store, "OPENPARTS_TRACKING": "on"}
    sets = ["evaluate.ablation=true", "evaluate.baselines=[felzenszwalb]", "evaluate.dev_images=2"]
    command = [sys.executable, "-m", "pipelines", "experiment", "table5", "--demo", "--workdir", str(project)]
    command += [item for pair in (("--set", s) for s in sets) for item in pair]
    result = subprocess.run(command, cwd=REPO, env={**_environment(), **environment}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (project / "params.yaml").read_bytes() == before  # the workspace's params are put back
    dvc = str(Path(sys.executable).parent / "dvc")
    listed = subprocess.run([dvc, "exp", "list", "--name-only"], cwd=project, capture_output=True, text=True)
    assert any(line.startswith("table5-OPS-") for line in listed.stdout.split()), listed.stdout + listed.stderr

    import mlflow

    mlflow.set_tracking_uri(store)
    assert {e.name for e in mlflow.search_experiments()} == {"Default", "openparts-table5"}  # the table's runs and nothing else
    runs, _ = tables.evaluate_runs(5)
    metrics = runs["OPS"]
    assert {"demo-test/model/AP", "demo-test/base/AP", "demo-test-salient/model/mIoU"} <= set(metrics)
    assert "demo-test-salient/felzenszwalb/mIoU" in metrics
    assert "demo-test/ablation/pre.plus.post-perfect/AP" in metrics and "demo-test/ablation/pre-imperfect/AP" in metrics
    pipeline_runs = "tags.`openparts.pipeline` = 'true'"
    parent = mlflow.search_runs(experiment_names=["openparts-table5"], filter_string=pipeline_runs, output_format="list")
    assert [(r.info.run_name, r.info.status, r.data.tags["openparts.variant"]) for r in parent] == [("table5/OPS", "FINISHED", "OPS")]
    out = tmp_path / "tables.md"
    shown = subprocess.run(
        [sys.executable, "-m", "openparts", "report", "tables", "--table", "5", "--out", str(out)],
        env={**_environment(), **environment},
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    perfect_ops = next(line for line in out.read_text().splitlines() if line.startswith("| OPS | 91.89 "))
    assert f"| {metrics['demo-test/model/mIoU']:.2f} |" in perfect_ops


def _environment() -> dict[str, str]:
    import os

    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO)}


def test_on_a_cluster_each_variant_is_a_kfp_run_with_its_params_and_data(tmp_path: Path, capsys) -> None:
    import json

    from openparts.data import synth
    from pipelines.__main__ import main
    from tests.pipelines.kfp_stub import KfpStub

    root = tmp_path / "data"
    for split, seed in (("train", 0), ("val", 1), ("test", 2)):
        synth.generate(root / "partimagenet" / split, count=2, seed=seed, size=48)
    with KfpStub() as stub:
        code = main(
            [
                "experiment",
                "table3",
                "--host",
                stub.url,
                "--data-root",
                str(root),
                "--workdir",
                str(REPO),
                "--variant",
                "SS",
                "--variant",
                "OPS",
            ]
        )
    printed = capsys.readouterr().out.split()
    assert code == 0 and printed[0::2] == ["SS", "OPS"] and all(run_id.startswith("run-") for run_id in printed[1::2])
    assert stub.posted("/apis/v2beta1/experiments")[0]["display_name"] == "table3"
    runs = stub.posted("/apis/v2beta1/runs")
    assert [run["display_name"] for run in runs] == ["table3-SS", "table3-OPS"]
    for run, mode in zip(runs, ("ss", "ss+st"), strict=True):
        parameters = run["runtime_config"]["parameters"]
        params = json.loads(parameters["evaluate_params"])
        assert params["experiment"] == {"name": "table3", "variant": run["display_name"].split("-")[1]}
        assert params["config"]["finetune"]["mode"] == mode and params["config"]["model"]["backbone"]["layer_type"] == "bottleneck"
        assert json.loads(parameters["finetune_params"])["config"]["finetune"]["mode"] == mode
    # the variants differ only in fine-tuning: KFP's cache gives them one base model, its pseudo labels and parts
    for stage in ("object_masks", "train", "pseudo_labels", "cluster_features"):
        assert runs[0]["runtime_config"]["parameters"][f"{stage}_params"] == runs[1]["runtime_config"]["parameters"][f"{stage}_params"]
        assert parameters["labeled_uri"] == str((root / "partimagenet" / "train").resolve())
        assert parameters["unlabeled_uri"] == str((root / "partimagenet" / "val").resolve())
        assert parameters["test_uri"] == str((root / "partimagenet" / "test").resolve())
