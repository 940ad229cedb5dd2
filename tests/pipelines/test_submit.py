"""`python -m pipelines submit | schedule | watch --host` against a local stand-in of the KFP API."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml

from openparts.data import synth
from openparts.fingerprint import content_hash
from pipelines.__main__ import main
from pipelines.submit import SubmitError, check_reachable, data_hash
from tests.pipelines.kfp_stub import KfpStub

PARAMS = {"preset": "tiny", "overrides": {"train.iterations": 2}, "evaluate": {"baselines": ["felzenszwalb"]}}


@pytest.fixture
def sets(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    return {
        "labeled": synth.generate(tmp_path / "train", count=2, seed=0, size=48),
        "unlabeled": synth.generate(tmp_path / "unlabeled", count=2, split="unseen", seed=1, size=48),
        "test": synth.generate(tmp_path / "test", count=2, split="unseen", seed=2, size=48),
        "dev": synth.generate(tmp_path / "dev", count=2, seed=3, size=48),
        "params": tmp_path / "params.yaml",
    }


def data_flags(sets: dict[str, Path]) -> list[str]:
    return [item for role in ("labeled", "unlabeled", "test", "dev", "params") for item in (f"--{role}", str(sets[role]))]


def test_submit_posts_the_compiled_pipeline_with_data_hashes(sets: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("KFP_TOKEN", "token-that-must-be-sent")
    with KfpStub() as stub:
        flags = ["--experiment", "nightly", "--run-name", "r1", "--gpus", "2", "--baseline-store-claim", "openparts-baselines"]
        code = main(["submit", "--host", stub.url, *data_flags(sets), *flags])
    assert code == 0 and capsys.readouterr().out.strip() == "run-1"
    assert stub.posted("/apis/v2beta1/experiments")[0]["display_name"] == "nightly"
    (run,) = stub.posted("/apis/v2beta1/runs")
    assert run["experiment_id"] == "exp-1" and run["display_name"] == "r1"
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "openparts-ops"
    assert "kubernetes" in run["pipeline_spec"]["platform_spec"]["platforms"]  # GPUs, secrets, tolerations travel
    parameters = run["runtime_config"]["parameters"]
    for role in ("labeled", "unlabeled", "test", "dev"):
        assert parameters[f"{role}_uri"] == str(sets[role].resolve())
        assert parameters[f"{role}_hash"] == content_hash(sets[role])
    assert parameters["baseline_store_claim"] == "openparts-baselines"
    assert parameters["gpus"] == 2 and json.loads(parameters["train_params"])["config"]["train"]["iterations"] == 2
    assert set(json.loads(parameters["train_params"])["config"]) == {"model", "train"}  # KFP's cache keys on what train reads
    authorized = [request for request in stub.requests if request["path"] == "/apis/v2beta1/runs"]
    assert authorized[0]["headers"].get("authorization") == "Bearer token-that-must-be-sent"


def test_schedule_creates_a_cron_recurring_run_without_cache(sets: dict[str, Path], capsys) -> None:
    with KfpStub() as stub:
        code = main(["schedule", "--host", stub.url, *data_flags(sets), "--cron", "0 0 3 * * *", "--name", "nightly-ops"])
    assert code == 0 and capsys.readouterr().out.strip() == "recurring-1"
    (recurring,) = stub.posted("/apis/v2beta1/recurringruns")
    assert recurring["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert recurring["display_name"] == "nightly-ops" and recurring["mode"] == "ENABLE" and int(recurring["max_concurrency"]) == 1
    tasks = recurring["pipeline_spec"]["pipeline_spec"]["root"]["dag"]["tasks"]
    assert tasks and all(task["cachingOptions"].get("enableCache", False) is False for task in tasks.values())


def test_a_five_field_cron_is_refused_before_anything_is_sent(sets: dict[str, Path], caplog) -> None:
    with KfpStub() as stub:
        assert main(["schedule", "--host", stub.url, *data_flags(sets), "--cron", "0 3 * * *"]) == 2
    assert "6 fields" in caplog.text and not stub.posted("/apis/v2beta1/recurringruns")


def test_watch_submits_a_run_only_when_the_drop_zone_changes(sets: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    flags = [*data_flags(sets), "--drop", str(sets["unlabeled"]), "--state", str(state)]
    with KfpStub() as stub:
        assert main(["watch", "--host", stub.url, "--once", *flags]) == 0
        assert main(["watch", "--host", stub.url, "--once", *flags]) == 0  # nothing new: no second run
        first = stub.posted("/apis/v2beta1/runs")
        synth.generate(sets["unlabeled"], count=3, split="unseen", seed=1, size=48, overwrite=True)
        assert main(["watch", "--host", stub.url, "--max-polls", "1", *flags]) == 0
        runs = stub.posted("/apis/v2beta1/runs")
    assert len(first) == 1 and len(runs) == 2
    hashes = [run["runtime_config"]["parameters"]["unlabeled_hash"] for run in runs]
    assert hashes[0] != hashes[1] and hashes[1] == data_hash(str(sets["unlabeled"]))
    assert json.loads(state.read_text())["hash"] == hashes[1]


def test_an_unreachable_host_fails_fast_with_its_name() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SubmitError, match=f"127.0.0.1:{port}: cannot reach the Kubeflow Pipelines API"):
        check_reachable(f"http://127.0.0.1:{port}", timeout=2)


def test_a_refused_token_is_explained() -> None:
    with KfpStub(refuse_with=401) as stub, pytest.raises(SubmitError, match=r"refused the request \(HTTP 401\): check the token"):
        check_reachable(stub.url)


def test_a_missing_dataset_is_named(sets: dict[str, Path], tmp_path: Path, caplog) -> None:
    sets = {**sets, "test": tmp_path / "nowhere"}
    with KfpStub() as stub:
        assert main(["submit", "--host", stub.url, *data_flags(sets)]) == 2
    assert "nowhere: dataset not found" in caplog.text and not stub.posted("/apis/v2beta1/runs")
