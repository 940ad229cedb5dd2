from pathlib import Path

import pytest
import torch
import torchvision

from openparts.config import resolve
from openparts.model.backbones import BACKBONES
from openparts.model.imagenet import PHOTOS, check_photos, imagenet_classifier, photo, preprocess


def backbone(name: str, pretrained: str | None) -> dict:
    return resolve("cpu", [f"model.backbone.name={name}", f"model.backbone.pretrained={pretrained or 'null'}"])["model"]["backbone"]


@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"])
def test_bundled_weights_rank_each_photos_classes_in_the_top_five(name: str) -> None:
    results = check_photos(backbone(name, "package"))
    assert set(results) == set(PHOTOS)
    wrong = {photo: ranked for photo, (ranked, right) in results.items() if not right}
    assert not wrong, f"{name}: expected classes missing from the top five: {wrong}"


def test_the_same_network_from_random_weights_fails_the_check() -> None:
    torch.manual_seed(0)
    results = check_photos(backbone("efficientnet-lite0", None))
    assert not any(right for _, right in results.values())


def test_a_torchvision_resnet_file_classifies_as_torchvision_does(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().eval()
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    ours = imagenet_classifier({**backbone("resnet", None), "pretrained": str(tmp_path / "resnet18.pth")})
    pixels = preprocess(photo("coffee"), BACKBONES["resnet"], 224)
    with torch.inference_mode():
        torch.testing.assert_close(ours(pixels), reference(pixels))
