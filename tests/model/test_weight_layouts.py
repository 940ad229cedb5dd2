import pytest
import torch
import torchvision
from transformers import ResNetBackbone, ResNetConfig

from openparts.model.weight_layouts import LayoutError, to_timm_efficientnet, to_transformers_resnet


@pytest.mark.parametrize(
    ("factory", "layer_type", "depths", "hidden_sizes"),
    [
        (torchvision.models.resnet18, "basic", [2, 2, 2, 2], [64, 128, 256, 512]),
        (torchvision.models.resnet50, "bottleneck", [3, 4, 6, 3], [256, 512, 1024, 2048]),
    ],
)
def test_a_torchvision_resnet_computes_the_same_features_as_transformers_resnet(factory, layer_type, depths, hidden_sizes) -> None:
    torch.manual_seed(0)
    source = factory().eval()
    for module in source.modules():  # non-trivial statistics, so that a BatchNorm mapped wrongly shows
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    config = ResNetConfig(
        layer_type=layer_type, depths=depths, hidden_sizes=hidden_sizes, out_features=["stage1", "stage2", "stage3", "stage4"]
    )
    target = ResNetBackbone(config).eval()
    state = to_transformers_resnet({f"module.{k}": v for k, v in source.state_dict().items()})  # a DDP-saved file
    assert sorted(k for k in state if k.startswith("fc.")) == ["fc.bias", "fc.weight"]
    target.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, strict=True)
    pixels = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        stem = source.maxpool(source.relu(source.bn1(source.conv1(pixels))))
        expected = []
        for layer in (source.layer1, source.layer2, source.layer3, source.layer4):
            stem = layer(stem)
            expected.append(stem)
        produced = target(pixels).feature_maps
    for ours, theirs in zip(produced, expected, strict=True):
        torch.testing.assert_close(ours, theirs)


def test_a_transformers_resnet_state_keeps_its_names() -> None:
    state = {"resnet.embedder.embedder.convolution.weight": torch.zeros(1), "classifier.1.weight": torch.zeros(1)}
    assert set(to_transformers_resnet(state)) == {"embedder.embedder.convolution.weight", "classifier.1.weight"}


def test_state_dicts_of_other_networks_are_named_as_such() -> None:
    with pytest.raises(LayoutError, match="not a ResNet state dict"):
        to_transformers_resnet({"_conv_stem.weight": torch.zeros(1)})
    with pytest.raises(LayoutError, match="not an EfficientNet state dict"):
        to_timm_efficientnet({"conv1.weight": torch.zeros(1)}, [])
    with pytest.raises(LayoutError, match="squeeze-and-excitation"):
        to_timm_efficientnet(
            {"_conv_stem.weight": torch.zeros(1), "_blocks.0._se_reduce.weight": torch.zeros(1)}, ["blocks.0.0.conv_dw.weight"]
        )
    with pytest.raises(LayoutError, match="beyond the 1 blocks of the model"):
        to_timm_efficientnet({"_conv_stem.weight": torch.zeros(1), "_blocks.1._bn1.weight": torch.zeros(1)}, ["blocks.0.0.conv_dw.weight"])


def test_flat_blocks_go_to_the_targets_stages_in_order() -> None:
    state = {
        "_conv_stem.weight": torch.zeros(1),
        "_blocks.0._depthwise_conv.weight": torch.zeros(1),  # no expansion: a depthwise-separable block
        "_blocks.1._expand_conv.weight": torch.zeros(1),
        "_blocks.1._bn0.weight": torch.zeros(1),
        "_blocks.2._project_conv.weight": torch.zeros(1),
        "_blocks.2._expand_conv.weight": torch.zeros(1),
        "_fc.weight": torch.zeros(1),
    }
    target = ["blocks.0.0.x", "blocks.1.0.x", "blocks.1.1.x"]
    assert set(to_timm_efficientnet(state, target)) == {
        "conv_stem.weight",
        "blocks.0.0.conv_dw.weight",
        "blocks.1.0.conv_pw.weight",
        "blocks.1.0.bn1.weight",
        "blocks.1.1.conv_pwl.weight",
        "blocks.1.1.conv_pw.weight",
        "classifier.weight",
    }
