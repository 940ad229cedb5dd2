import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from openparts.cli import main
from openparts.config import resolve
from openparts.engine.callbacks import MetricsRecorder
from openparts.engine.finetune import finetune, self_training_rounds
from openparts.engine.trainer import latest_checkpoint
from openparts.engine.unlabeled import cluster_features, generate_pseudo_labels
from openparts.model import load_model
from openparts.model.checkpoint import CheckpointError
from tests.conftest import REPO
from tests.engine.test_trainer import StopAt


@pytest.fixture(scope="module")
def adaptation(base: dict[str, Path]) -> dict[str, Path]:
    model = load_model(base["model"])
    predict = resolve("tiny")["predict"]
    root = base["root"]
    if not (root / "pseudo-labels").exists():
        generate_pseudo_labels(model, base["unlabeled"], root / "pseudo-labels", predict, score_threshold=0.0)
        cluster_features(model, base["unlabeled"], root / "pseudo-parts", predict, k=3)
    return {**base, "pseudo_labels": root / "pseudo-labels", "pseudo_parts": root / "pseudo-parts"}


def tiny(*overrides: str) -> dict:
    return resolve("tiny", ["train.batch_size=2", "finetune.iterations=3", "train.checkpoint_every=1", *overrides])


def changed(before: Path, after: Path) -> bool:
    old, new = load_file(before / "model.safetensors"), load_file(after / "model.safetensors")
    return any(not torch.equal(old[key], new[key]) for key in old)


@pytest.mark.parametrize("mode", ["ss", "st", "ss+st"])
def test_each_mode_fine_tunes_the_base_model(adaptation: dict[str, Path], tmp_path: Path, mode: str) -> None:
    recorder = MetricsRecorder()
    finetune(
        adaptation["model"],
        tmp_path / "tuned",
        tiny(f"finetune.mode={mode}"),
        labeled=[adaptation["labeled"]],
        pseudo_labeled=[adaptation["pseudo_labels"]],
        unlabeled=adaptation["unlabeled"],
        pseudo_parts=adaptation["pseudo_parts"],
        callback=recorder,
    )
    assert changed(adaptation["model"], tmp_path / "tuned")
    has_ss = "loss_contrast" in recorder.history[0]
    assert has_ss == ("ss" in mode)
    if has_ss:  # Eq. 1 keeps its i = j terms (L_c >= 1); each term of Eq. 2 is >= 1, so L_a >= 1/K (K = 3)
        assert recorder.history[0]["loss_contrast"] >= 1.0 and recorder.history[0]["loss_affinity"] >= 1 / 3
    assert load_model(tmp_path / "tuned").description["finetuned_from"] == str(adaptation["model"])


def backbone_batchnorm(model_dir: Path) -> dict[str, torch.Tensor]:
    """Statistics and affine weights of every BatchNorm in the backbone."""
    model = load_model(model_dir)
    encoder = model.mask2former.model.pixel_level_module.encoder
    return {
        f"{name}.{key}": value.clone()
        for name, module in encoder.named_modules()
        if isinstance(module, torch.nn.BatchNorm2d)
        for key, value in module.state_dict().items()
        if key != "num_batches_tracked"
    }


@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_batchnorm_keeps_the_base_models_statistics(adaptation: dict[str, Path], tmp_path: Path, frozen: bool) -> None:
    config = tiny("finetune.mode=ss+st", f"finetune.freeze_batchnorm={str(frozen).lower()}")
    finetune(
        adaptation["model"],
        tmp_path / "tuned",
        config,
        labeled=[adaptation["labeled"]],
        pseudo_labeled=[adaptation["pseudo_labels"]],
        unlabeled=adaptation["unlabeled"],
        pseudo_parts=adaptation["pseudo_parts"],
    )
    before, after = backbone_batchnorm(adaptation["model"]), backbone_batchnorm(tmp_path / "tuned")
    assert before and before.keys() == after.keys()
    kept = all(torch.equal(before[key], after[key]) for key in before)
    assert kept == frozen
    assert changed(adaptation["model"], tmp_path / "tuned")  # the rest of the model still learns


def test_online_clustering_needs_no_pseudo_parts(adaptation: dict[str, Path], tmp_path: Path) -> None:
    recorder = MetricsRecorder()
    config = tiny("finetune.mode=ss", "finetune.clustering=online")
    finetune(
        adaptation["model"], tmp_path / "online", config, [adaptation["labeled"]], unlabeled=adaptation["unlabeled"], callback=recorder
    )
    assert recorder.history[-1]["loss_contrast"] > 0


def test_resumed_fine_tuning_ends_with_the_same_weights(adaptation: dict[str, Path], tmp_path: Path) -> None:
    arguments = {
        "labeled": [adaptation["labeled"]],
        "pseudo_labeled": [adaptation["pseudo_labels"]],
        "unlabeled": adaptation["unlabeled"],
        "pseudo_parts": adaptation["pseudo_parts"],
    }
    config = tiny("finetune.iterations=4", "train.checkpoint_every=2")
    finetune(adaptation["model"], tmp_path / "straight", config, **arguments)
    with pytest.raises(KeyboardInterrupt):
        finetune(adaptation["model"], tmp_path / "resumed", config, callback=StopAt(3), **arguments)
    assert latest_checkpoint(tmp_path / "resumed")[0] == 2
    assert finetune(adaptation["model"], tmp_path / "resumed", config, **arguments).resumed_from == 2
    assert not changed(tmp_path / "straight", tmp_path / "resumed")


def test_resuming_with_other_fine_tuning_settings_is_refused(adaptation: dict[str, Path], tmp_path: Path) -> None:
    arguments = {"labeled": [adaptation["labeled"]], "pseudo_labeled": [adaptation["pseudo_labels"]]}
    config = tiny("finetune.mode=st", "finetune.iterations=4", "train.checkpoint_every=2")
    with pytest.raises(KeyboardInterrupt):
        finetune(adaptation["model"], tmp_path / "tuned", config, callback=StopAt(3), **arguments)
    other = tiny("finetune.mode=st", "finetune.iterations=4", "train.checkpoint_every=2", "finetune.freeze_batchnorm=true")
    with pytest.raises(CheckpointError, match=r"other fine-tuning settings \(freeze_batchnorm: False -> True\)"):
        finetune(adaptation["model"], tmp_path / "tuned", other, **arguments)


def test_missing_inputs_are_named(adaptation: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs pseudo-labeled data"):
        finetune(adaptation["model"], tmp_path / "m", tiny("finetune.mode=st"), [adaptation["labeled"]])
    with pytest.raises(ValueError, match="offline clustering needs the pseudo parts"):
        finetune(adaptation["model"], tmp_path / "m", tiny("finetune.mode=ss"), [adaptation["labeled"]], unlabeled=adaptation["unlabeled"])
    with pytest.raises(ValueError, match="finetune.mode must be one of ss, st, ss\\+st, got 'both'"):
        finetune(adaptation["model"], tmp_path / "m", tiny("finetune.mode=both"), [adaptation["labeled"]])


def test_second_round_relabels_with_the_first_rounds_model(adaptation: dict[str, Path], tmp_path: Path) -> None:
    config = tiny("finetune.mode=st", "finetune.rounds=2", "finetune.pseudo_label_score=0.0")
    self_training_rounds(
        adaptation["model"], tmp_path / "tuned", config, [adaptation["labeled"]], adaptation["unlabeled"], adaptation["pseudo_labels"]
    )
    assert (tmp_path / "tuned.round1" / "model.safetensors").is_file()
    assert (tmp_path / "tuned.round2-pseudo-labels" / "annotations.json").is_file()
    assert load_model(tmp_path / "tuned").description["finetuned_from"] == str(tmp_path / "tuned.round1")


def test_finetune_command(adaptation: dict[str, Path], tmp_path: Path) -> None:
    command = ["finetune", "--model", str(adaptation["model"]), "--out", str(tmp_path / "cli"), "--preset", "tiny"]
    command += ["--labeled", str(adaptation["labeled"]), "--pseudo-labeled", str(adaptation["pseudo_labels"])]
    command += ["--unlabeled", str(adaptation["unlabeled"]), "--pseudo-parts", str(adaptation["pseudo_parts"])]
    assert main([*command, "--set", "finetune.iterations=2", "--set", "train.batch_size=2"]) == 0
    assert (tmp_path / "cli" / "model.safetensors").is_file()


RANK_SCRIPT = textwrap.dedent(
    """
    import hashlib, os, sys
    from openparts.config import resolve
    from openparts.engine.finetune import finetune
    from openparts.model import load_model

    model, labeled, pseudo_labeled, unlabeled, parts, out, report = sys.argv[1:8]
    config = resolve("tiny", ["train.batch_size=2", "finetune.iterations=2", "train.checkpoint_every=100"])
    finetune(model, out + os.environ["RANK"], config, [labeled], [pseudo_labeled], unlabeled, parts)
    digest = hashlib.sha256()
    if os.environ["RANK"] == "0":
        for key, value in sorted(load_model(out + "0").state_dict().items()):
            digest.update(key.encode())
            digest.update(value.numpy().tobytes())
        open(report, "w").write(digest.hexdigest())
    """
)


def test_two_process_ddp_fine_tuning(adaptation: dict[str, Path], tmp_path: Path) -> None:
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    paths = [adaptation[k] for k in ("model", "labeled", "pseudo_labels", "unlabeled", "pseudo_parts")]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    command += [*map(str, paths), str(tmp_path / "m"), str(tmp_path / "report")]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert changed(adaptation["model"], tmp_path / "m0")


def test_a_class_aware_head_rejects_classes_it_does_not_have(base: dict[str, Path], tmp_path: Path) -> None:
    from openparts.engine.supervised import train_supervised

    aware = tmp_path / "aware"
    train_supervised([base["labeled"]], aware, resolve("tiny", ["train.iterations=1", "model.class_agnostic=false"]))
    other = tmp_path / "other"
    from openparts.data import synth

    synth.generate(other, count=2, split="unseen", seed=3, size=64)
    with pytest.raises(ValueError, match="are not among the class-aware model's"):
        finetune(aware, tmp_path / "m", tiny("finetune.mode=st"), [base["labeled"]], [other])
