import pickle
from pathlib import Path

import pytest
import torch

from openparts.config import resolve
from openparts.model import CheckpointError, build_model, load_model, save_model
from openparts.model.checkpoint import load_train_state, save_train_state


def tiny(*overrides: str) -> dict:
    return resolve("tiny", list(overrides))["model"]


def test_saved_model_reloads_to_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(tiny()).eval()
    save_model(model, tmp_path / "model", {"part_classes": ["part"]})
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "model.safetensors", "openparts.json"]
    reloaded = load_model(tmp_path / "model").eval()
    inputs = torch.rand(1, 4, 64, 64)
    with torch.inference_mode():
        assert torch.equal(model(inputs).mask_logits, reloaded(inputs).mask_logits)
    assert reloaded.description["part_classes"] == ["part"]


def test_checkpoint_of_another_architecture_names_the_differences(tmp_path: Path) -> None:
    save_model(build_model(tiny("model.hidden_dim=64", "model.mask_feature_size=64")), tmp_path / "small")
    model = build_model(tiny())
    from openparts.model.checkpoint import load_weights

    with pytest.raises(CheckpointError, match=r"another architecture or preset: \d+ shape mismatches, e\.g\. .*: file \(.*\) vs model \("):
        load_weights(model, tmp_path / "small")
    save_model(build_model(tiny("model.decoder_layers=3")), tmp_path / "deeper")
    with pytest.raises(CheckpointError, match=r"unexpected keys, e\.g\. .*decoder\.layers"):
        load_weights(model, tmp_path / "deeper")


def test_truncated_weights_give_a_clear_error(tmp_path: Path) -> None:
    save_model(build_model(tiny()), tmp_path / "model")
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="model.safetensors: corrupted or truncated weights"):
        load_model(tmp_path / "model")


def test_folder_without_description_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="openparts.json: missing"):
        load_model(tmp_path)


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_training_state_never_unpickles_arbitrary_objects(tmp_path: Path) -> None:
    path = tmp_path / "train_state.pt"
    torch.save({"step": 3, "evil": Payload()}, path)
    with pytest.raises(CheckpointError, match="unsafe training state"):
        load_train_state(path)
    save_train_state(path, {"step": 3, "rng": {"torch": torch.get_rng_state()}})
    assert load_train_state(path)["step"] == 3
    path.write_bytes(pickle.dumps("x")[:3])
    with pytest.raises(CheckpointError, match="corrupted, truncated or unsafe"):
        load_train_state(path)
