import pytest
import torch

from openparts.config import resolve
from openparts.model import build_model


def tiny(*overrides: str) -> dict:
    return resolve("tiny", list(overrides))["model"]


def targets(count: int = 2, size: int = 64) -> list[dict]:
    masks = torch.zeros(count, size, size, dtype=torch.bool)
    masks[0, :20, :20] = True
    masks[-1, 30:, 30:] = True
    return [{"masks": masks, "labels": torch.zeros(count, dtype=torch.long)}]


def test_four_channel_model_takes_the_object_mask() -> None:
    model = build_model(tiny())
    assert model.mask2former.model.pixel_level_module.encoder.embedder.embedder.convolution.weight.shape[1] == 4
    output = model(torch.rand(1, 4, 64, 64))
    assert output.mask_logits.shape == (1, 8, 16, 16)
    with pytest.raises(ValueError, match="expects 4 input channels, got 3"):
        model(torch.rand(1, 3, 64, 64))


def test_three_channel_model_has_no_object_awareness() -> None:
    model = build_model(tiny("model.object_mask_channel=false"))
    assert model.in_channels == 3
    assert model(torch.rand(1, 3, 64, 64)).class_logits.shape == (1, 8, 2)


def test_class_agnostic_has_one_part_class_and_class_aware_has_the_datasets() -> None:
    agnostic = build_model(tiny())
    aware = build_model(tiny("model.class_agnostic=false"), num_classes=18)
    assert agnostic.mask2former.class_predictor.out_features == 2  # part + no-object
    assert aware.mask2former.class_predictor.out_features == 19
    with pytest.raises(ValueError, match="one class, not 18"):
        build_model(tiny(), num_classes=18)


def test_loss_and_matcher_use_the_configured_weights() -> None:
    official = build_model(tiny("model.train_num_points=12544"))
    assert official.loss_weights == {
        "class_weight": 2.0,
        "mask_weight": 5.0,
        "dice_weight": 5.0,
        "matcher_class_weight": 2.0,
        "matcher_mask_weight": 5.0,
        "matcher_dice_weight": 5.0,
        "no_object_weight": 0.1,
        "train_num_points": 12544,
        "matcher_num_points": 12544,
        "oversample_ratio": 3.0,
        "importance_sample_ratio": 0.75,
        "auxiliary_loss": True,
    }
    changed = build_model(tiny("model.dice_weight=3.0", "model.class_weight=1.5"))
    assert changed.loss_weights["dice_weight"] == 3.0 and changed.loss_weights["matcher_dice_weight"] == 3.0
    assert changed.loss_weights["class_weight"] == 1.5


def test_one_forward_gives_predictions_losses_and_mask_features() -> None:
    torch.manual_seed(0)
    model = build_model(tiny())
    output = model(torch.rand(1, 4, 64, 64), targets())
    assert output.mask_features.shape == (1, 32, 16, 16)
    assert output.mask_features.requires_grad  # the self-supervised losses backpropagate through them
    assert output.loss.requires_grad and torch.isfinite(output.loss)
    assert set(output.losses) == {"loss_class", "loss_mask", "loss_dice", "loss_auxiliary"}
    assert output.loss.item() == pytest.approx(sum(output.losses.values()), rel=1e-4)


def test_auxiliary_losses_can_be_switched_off() -> None:
    torch.manual_seed(0)
    model = build_model(tiny("model.auxiliary_loss=false"))
    assert model(torch.rand(1, 4, 64, 64), targets()).losses["loss_auxiliary"] == 0.0


def test_image_without_parts_trains() -> None:
    model = build_model(tiny())
    empty = [{"masks": torch.zeros(0, 64, 64, dtype=torch.bool), "labels": torch.zeros(0, dtype=torch.long)}]
    output = model(torch.rand(1, 4, 64, 64), empty)
    assert torch.isfinite(output.loss)


def test_the_transformer_decoder_reads_contiguous_features() -> None:
    """transformers hands its decoder permuted views; with several channels-last images, reading
    them copied the attention weights per pixel. Our hook must still find and fix its inputs."""
    model = build_model(tiny()).eval().to(memory_format=torch.channels_last)
    seen = {}
    decoder = model.mask2former.model.transformer_module.decoder
    decoder.register_forward_pre_hook(lambda module, args, kwargs: seen.update(kwargs), with_kwargs=True)
    with torch.inference_mode():
        model(torch.rand(2, 4, 64, 64).contiguous(memory_format=torch.channels_last))
    features = [*seen["encoder_hidden_states"], *seen["multi_stage_positional_embeddings"]]
    assert all(tensor.is_contiguous() for tensor in features)
    assert seen["pixel_embeddings"].is_contiguous(memory_format=torch.channels_last)  # where decoder_masks shrinks them fastest
