import subprocess
from pathlib import Path

import pytest

from openparts.fingerprint import MANIFEST, content_hash
from openparts.stages import manifest
from openparts.stages.manifest import (
    IncompleteInputError,
    artifact,
    git_revision,
    is_current,
    read_manifest,
    stage_output,
)


def test_manifest_records_params_inputs_and_output_hash(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("data")
    with stage_output("demo", tmp_path / "out", {"data": source}, {"k": 3}) as staging:
        (staging / "result").mkdir()
        (staging / "result" / "a.txt").write_text("a")
    manifest = read_manifest(tmp_path / "out")
    assert manifest["stage"] == "demo" and manifest["params"] == {"k": 3}
    assert manifest["inputs"]["data"]["sha256"] == content_hash(source)
    assert manifest["output_sha256"] == content_hash(tmp_path / "out")  # the manifest itself is not hashed
    assert artifact(tmp_path / "out", "result") == tmp_path / "out" / "result"


def test_a_failed_stage_leaves_nothing_and_keeps_the_previous_output(tmp_path: Path) -> None:
    with stage_output("demo", tmp_path / "out", {}, {}) as staging:
        (staging / "result").write_text("first")
    with pytest.raises(RuntimeError), stage_output("demo", tmp_path / "out", {}, {}) as staging:
        (staging / "result").write_text("half")
        raise RuntimeError("killed")
    assert (tmp_path / "out" / "result").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_folder_without_manifest_is_not_accepted_as_input(tmp_path: Path) -> None:
    (tmp_path / "half" / "dataset").mkdir(parents=True)
    with pytest.raises(IncompleteInputError, match=f"no {MANIFEST}; the stage that writes it did not finish"):
        artifact(tmp_path / "half", "dataset")
    with stage_output("demo", tmp_path / "done", {}, {}):
        pass
    with pytest.raises(IncompleteInputError, match="has no 'model'"):
        artifact(tmp_path / "done", "model")


def test_checkpoints_resume_the_same_work_only_and_go_when_it_is_done(tmp_path: Path) -> None:
    from openparts.stages.manifest import resumable_checkpoints

    data = tmp_path / "data.txt"
    data.write_text("v1")
    out = tmp_path / "train"
    with pytest.raises(RuntimeError), resumable_checkpoints(out, {"data": data}, {"lr": 1}) as first:
        first.mkdir(parents=True)
        (first / "step_0000002").mkdir()
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError), resumable_checkpoints(out, {"data": data}, {"lr": 1}) as again:
        assert again == first and (again / "step_0000002").is_dir()  # same work: resume
        raise RuntimeError("killed again")
    data.write_text("v2")
    with resumable_checkpoints(out, {"data": data}, {"lr": 1}) as changed:
        assert changed != first and not first.exists()  # new data: start afresh, stale ones gone
    assert not (tmp_path / "train.checkpoints").exists()


def test_an_output_is_current_only_for_the_same_params_and_input_content(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("data")
    inputs, params = {"data": source}, {"config": {"k": 3, "sizes": (1, 2)}, "other": "not recorded by this stage"}
    assert not is_current(tmp_path / "out", inputs, params)  # never run
    with stage_output("demo", tmp_path / "out", inputs, {"config": params["config"]}) as staging:
        (staging / "result").write_text("r")
    assert is_current(tmp_path / "out", inputs, params)  # groups the stage did not record do not matter
    assert not is_current(tmp_path / "out", inputs, {"config": {"k": 4, "sizes": (1, 2)}})
    assert not is_current(tmp_path / "out", {"data": source, "data_2": source}, params)
    source.write_text("new data")
    assert not is_current(tmp_path / "out", inputs, params)


def test_a_stage_stays_current_when_only_a_setting_it_does_not_read_changes(tmp_path: Path) -> None:
    from openparts.config import resolve
    from openparts.stages.params import stage_config

    source = tmp_path / "in.txt"
    source.write_text("data")
    config = resolve("tiny")
    retuned = resolve("tiny", ["finetune.learning_rate=0.5"])
    with stage_output("train", tmp_path / "train", {"data": source}, {"config": stage_config(config, "train")}) as staging:
        (staging / "model").mkdir()
    with stage_output("finetune", tmp_path / "finetune", {"data": source}, {"config": stage_config(config, "finetune")}) as staging:
        (staging / "model").mkdir()
    assert is_current(tmp_path / "train", {"data": source}, {"config": retuned})
    assert is_current(tmp_path / "finetune", {"data": source}, {"config": config})
    assert not is_current(tmp_path / "finetune", {"data": source}, {"config": retuned})
    # a manifest from before stages recorded only what they read holds the whole configuration
    with stage_output("train", tmp_path / "older", {"data": source}, {"config": config}) as staging:
        (staging / "model").mkdir()
    assert is_current(tmp_path / "older", {"data": source}, {"config": retuned})
    assert not is_current(tmp_path / "older", {"data": source}, {"config": resolve("tiny", ["train.iterations=9"])})


def test_the_revision_is_the_running_sources_wherever_the_stage_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    revision = git_revision()
    if revision is None:
        pytest.skip("openparts is not running from a git checkout")
    package = Path(manifest.__file__).resolve().parent.parent
    head = subprocess.run(["git", "-C", str(package), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert revision.removesuffix("+dirty") == head
    monkeypatch.chdir(tmp_path)  # not a git checkout: the working directory does not decide
    assert git_revision() == revision


def test_uncommitted_changes_to_the_source_mark_the_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"rev-parse": "abc123", "status": " M src/openparts/config.py"}
    monkeypatch.setattr(manifest, "_git", lambda folder, command, *rest: answers[command])
    assert git_revision() == "abc123+dirty"
    answers["status"] = None  # nothing to report
    assert git_revision() == "abc123"
