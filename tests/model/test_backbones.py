import json
from pathlib import Path

import pytest
import torch

from openparts.config import resolve
from openparts.model import build_model, load_model, save_model
from openparts.model.backbones import BACKBONES, IMAGENET_MEAN, TF_LITE_MEAN
from openparts.model.checkpoint import OPENPARTS_FILE


@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"])
def test_each_efficientnet_feeds_mask2former_four_maps_of_its_channels(name: str) -> None:
    model = build_model(resolve("tiny", [f"model.backbone.name={name}"])["model"]).eval()
    encoder = model.mask2former.model.pixel_level_module.encoder
    with torch.inference_mode():
        maps = encoder(torch.rand(1, 4, 64, 64)).feature_maps
        output = model(torch.rand(2, 4, 64, 96))
    assert tuple(level.shape[1] for level in maps) == BACKBONES[name].channels
    assert [level.shape[-1] for level in maps] == [16, 8, 4, 2]  # strides 4, 8, 16, 32
    assert output.mask_logits.shape == (2, 8, 16, 24)
    assert model.pixel_mean.flatten()[:3].tolist() == pytest.approx(TF_LITE_MEAN)


def test_a_saved_efficientnet_model_reloads_without_its_weight_source(tmp_path: Path) -> None:
    model = build_model(resolve("tiny", ["model.backbone.name=efficientnet-lite0", "model.backbone.pretrained=package"])["model"]).eval()
    save_model(model, tmp_path / "model")
    reloaded = load_model(tmp_path / "model").eval()  # weights from the folder: no package, no hub
    inputs = torch.rand(1, 4, 64, 64)
    with torch.inference_mode():
        assert torch.equal(model(inputs).mask_logits, reloaded(inputs).mask_logits)
    assert torch.equal(model.pixel_std, reloaded.pixel_std)


def test_a_model_saved_before_backbones_had_names_loads_as_a_resnet(tmp_path: Path) -> None:
    model = build_model(resolve("tiny")["model"]).eval()
    save_model(model, tmp_path / "model")
    description = json.loads((tmp_path / "model" / OPENPARTS_FILE).read_text())
    del description["model"]["backbone"]["name"]
    (tmp_path / "model" / OPENPARTS_FILE).write_text(json.dumps(description))
    reloaded = load_model(tmp_path / "model").eval()
    assert reloaded.pixel_mean.flatten()[:3].tolist() == pytest.approx(IMAGENET_MEAN)
    inputs = torch.rand(1, 4, 64, 64)
    with torch.inference_mode():
        assert torch.equal(model(inputs).mask_logits, reloaded(inputs).mask_logits)
