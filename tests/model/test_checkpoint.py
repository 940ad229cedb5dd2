import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import ResNetConfig, ResNetModel

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


def _resnet_file(tmp_path: Path, prefix: str = "") -> Path:
    backbone = tiny()["backbone"]
    resnet = ResNetModel(
        ResNetConfig(
            num_channels=3,
            embedding_size=backbone["embedding_size"],
            hidden_sizes=backbone["hidden_sizes"],
            depths=backbone["depths"],
            layer_type="basic",
        )
    )
    path = tmp_path / "resnet.safetensors"
    save_file({prefix + k: v.contiguous() for k, v in resnet.state_dict().items()}, path)
    return path


def test_pretrained_rgb_stem_gets_a_zero_object_channel(tmp_path: Path) -> None:
    path = _resnet_file(tmp_path, prefix="resnet.")
    from safetensors.torch import load_file

    stem = load_file(path)["resnet.embedder.embedder.convolution.weight"]
    model = build_model(tiny(f"model.backbone.pretrained={path}"))
    loaded = model.mask2former.model.pixel_level_module.encoder.embedder.embedder.convolution.weight
    assert torch.equal(loaded[:, :3], stem)
    assert torch.count_nonzero(loaded[:, 3]) == 0


def test_pretrained_weights_of_another_shape_are_rejected(tmp_path: Path) -> None:
    path = _resnet_file(tmp_path)
    with pytest.raises(CheckpointError, match="do not fit the configured backbone"):
        build_model(tiny(f"model.backbone.pretrained={path}", "model.backbone.hidden_sizes=[8, 16, 32, 128]"))
