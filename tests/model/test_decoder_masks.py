import pytest
import torch
from torch.nn import functional
from transformers import Mask2FormerForUniversalSegmentation

from openparts.config import resolve
from openparts.model import build_model, decoder_masks, unoptimised
from openparts.model.segmenter import mask2former_config


def tiny_model(*overrides: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(resolve("tiny", ["model.decoder_layers=5", *overrides])["model"]).eval()


def predicted_mask_shapes(model: torch.nn.Module) -> tuple[list[tuple[int, ...]], torch.utils.hooks.RemovableHandle]:
    shapes: list[tuple[int, ...]] = []
    predictor = model.mask2former.model.transformer_module.decoder.mask_predictor
    handle = predictor.register_forward_hook(lambda module, args, output: shapes.append(tuple(output[0].shape[-2:])))
    return shapes, handle


@pytest.mark.parametrize("size", [(48, 80), (24, 40), (12, 20), (32, 32), (96, 160)])
def test_shrinking_by_slices_is_bilinear_interpolation(size: tuple[int, int]) -> None:
    features = torch.randn(2, 5, 96, 160)
    expected = functional.interpolate(features, size=size, mode="bilinear", align_corners=False)
    torch.testing.assert_close(decoder_masks.sliced_shrink(features, size), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(decoder_masks.shrink(features, size), expected, rtol=0, atol=1e-6)
    channels_last = features.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(decoder_masks.shrink(channels_last, size), expected, rtol=0, atol=1e-6)


def test_a_shrink_by_a_fraction_interpolates_and_slicing_refuses_it() -> None:
    features = torch.randn(1, 3, 96, 160)
    expected = functional.interpolate(features, size=(7, 13), mode="bilinear", align_corners=False)
    torch.testing.assert_close(decoder_masks.shrink(features, (7, 13)), expected)
    with pytest.raises(ValueError, match="96 x 160 does not shrink to 7 x 13 by whole factors"):
        decoder_masks.sliced_shrink(features, (7, 13))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_prediction_matches_transformers_mask_predictor_with_less_work(layout: torch.memory_format) -> None:
    model = tiny_model().to(memory_format=layout)
    inputs = torch.rand(2, 4, 96, 128).contiguous(memory_format=layout)
    shapes, handle = predicted_mask_shapes(model)
    with torch.inference_mode():
        ours = model(inputs)
        ours_shapes, shapes[:] = list(shapes), []
        with unoptimised():
            theirs = model(inputs)
    handle.remove()
    torch.testing.assert_close(ours.mask_logits, theirs.mask_logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours.class_logits, theirs.class_logits, rtol=0, atol=1e-5)
    assert shapes == [(24, 32)] * 5  # transformers: every layer's masks at 1/4 (decoder_layers counts the first prediction)
    assert ours_shapes == [(3, 4), (6, 8), (12, 16), (3, 4), (24, 32)]  # ours: the attention's sizes, the last at 1/4


def test_training_keeps_every_layers_full_size_masks_for_the_auxiliary_losses() -> None:
    model = tiny_model().train()
    shapes, handle = predicted_mask_shapes(model)
    model(torch.rand(1, 4, 64, 64))
    with torch.no_grad():  # no autograd, but a model in training mode (e.g. batch-norm statistics) keeps them too
        model(torch.rand(1, 4, 64, 64))
    handle.remove()
    assert shapes == [(16, 16)] * 10


def test_every_pass_counts_its_own_calls_even_after_an_interrupted_one() -> None:
    model = tiny_model()
    inputs = torch.rand(1, 4, 64, 64)
    with torch.inference_mode():
        expected = model(inputs).mask_logits
        predictor = model.mask2former.model.transformer_module.decoder.mask_predictor
        predictor(torch.rand(8, 1, 32), torch.rand(1, 32, 16, 16), (2, 2))  # a pass that stopped after one call
        shapes, handle = predicted_mask_shapes(model)
        again = model(inputs).mask_logits
        model(inputs)
    handle.remove()
    assert shapes == [(2, 2), (4, 4), (8, 8), (2, 2), (16, 16)] * 2
    torch.testing.assert_close(again, expected, rtol=0, atol=0)


def test_checkpoints_keep_transformers_parameter_names() -> None:
    config = resolve("tiny")["model"]
    ours = build_model(config).mask2former.state_dict().keys()
    theirs = Mask2FormerForUniversalSegmentation(mask2former_config(config, num_classes=1)).state_dict().keys()
    assert list(ours) == list(theirs)


def test_losses_without_autograd_read_every_layers_full_size_masks() -> None:
    """A validation loss (targets, no autograd) must equal the training loss on the same batch."""
    model = tiny_model()
    inputs = torch.rand(1, 4, 64, 64)
    masks = torch.zeros(2, 64, 64, dtype=torch.bool)
    masks[0, :20, :20] = masks[1, 30:, 30:] = True
    targets = [{"masks": masks, "labels": torch.zeros(2, dtype=torch.long)}]
    torch.manual_seed(1)  # the point-sampled losses draw random points
    with_autograd = model(inputs, targets).losses
    torch.manual_seed(1)
    with torch.no_grad():
        without = model(inputs, targets).losses
    assert without == pytest.approx(with_autograd, rel=1e-5)


def test_a_model_computing_losses_leaves_other_models_predicting_at_the_attentions_size() -> None:
    """Losses switch their own model's predictor only: a model predicting meanwhile (another thread) keeps its speed."""
    training, predicting = tiny_model(), tiny_model()
    shapes, handle = predicted_mask_shapes(predicting)
    with training.mask2former.model.transformer_module.decoder.mask_predictor.every_layer_at_full_size(), torch.inference_mode():
        predicting(torch.rand(1, 4, 64, 64))
    handle.remove()
    assert shapes == [(2, 2), (4, 4), (8, 8), (2, 2), (16, 16)]
