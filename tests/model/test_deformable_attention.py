import torch
from transformers.models.mask2former import modeling_mask2former

from openparts.config import resolve
from openparts.model import build_model, deformable_attention

SHAPES = [(12, 16), (6, 8), (3, 4)]  # three levels, not square: height and width must not be swapped


def attention_inputs(batch: int = 2, heads: int = 4, channels: int = 8, points: int = 3) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    queries = sum(height * width for height, width in SHAPES)
    value = torch.randn(batch, queries, heads, channels, generator=generator)
    # some locations fall outside [0, 1]: zero padding must match there too
    locations = torch.rand(batch, queries, heads, len(SHAPES), points, 2, generator=generator) * 1.4 - 0.2
    weights = torch.rand(batch, queries, heads, len(SHAPES) * points, generator=generator).softmax(-1)
    return value, locations, weights.view(batch, queries, heads, len(SHAPES), points)


def test_it_computes_what_transformers_computes_forward_and_backward() -> None:
    ours_inputs = [tensor.clone().requires_grad_() for tensor in attention_inputs()]
    theirs_inputs = [tensor.clone().requires_grad_() for tensor in attention_inputs()]
    value, locations, weights = ours_inputs
    ours = deformable_attention.multi_scale_deformable_attention(value, SHAPES, locations, weights)
    value, locations, weights = theirs_inputs
    theirs = deformable_attention.transformers_attention(value, SHAPES, locations, weights)
    assert ours.shape == theirs.shape == (2, sum(h * w for h, w in SHAPES), 4 * 8)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(ours)
    (ours * upstream).sum().backward()
    (theirs * upstream).sum().backward()
    for mine, reference in zip(ours_inputs, theirs_inputs, strict=True):
        torch.testing.assert_close(mine.grad, reference.grad, rtol=1e-4, atol=1e-5)


def test_models_use_it_and_the_unoptimised_baseline_can_still_be_measured() -> None:
    assert modeling_mask2former.multi_scale_deformable_attention is deformable_attention.multi_scale_deformable_attention
    torch.manual_seed(0)
    model = build_model(resolve("tiny")["model"]).eval()
    pixels = torch.rand(1, 4, 64, 64)
    with torch.inference_mode():
        ours = model.mask2former(pixel_values=pixels).masks_queries_logits
        with deformable_attention.unoptimised():
            assert modeling_mask2former.multi_scale_deformable_attention is deformable_attention.transformers_attention
            theirs = model.mask2former(pixel_values=pixels).masks_queries_logits
    assert modeling_mask2former.multi_scale_deformable_attention is deformable_attention.multi_scale_deformable_attention
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_without_autograd_it_gathers_what_transformers_samples(monkeypatch) -> None:
    """Prediction takes the gathered path; it must agree with transformers' bilinear sampling,
    including zero padding outside the map and locations exactly on its edges."""
    value, locations, weights = attention_inputs()
    locations[0, :5, 0, :, 0] = torch.tensor([0.0, 1.0])  # a sample on the map's corners
    theirs = deformable_attention.transformers_attention(value, SHAPES, locations, weights)
    monkeypatch.setattr(deformable_attention, "sampled_attention", None)  # calling it would fail
    with torch.inference_mode():
        gathered = deformable_attention.multi_scale_deformable_attention(value, SHAPES, locations, weights)
        in_bf16 = deformable_attention.multi_scale_deformable_attention(value.bfloat16(), SHAPES, locations, weights)
    torch.testing.assert_close(gathered, theirs, rtol=1e-5, atol=1e-5)
    assert in_bf16.dtype == torch.bfloat16
    torch.testing.assert_close(in_bf16.float(), theirs, rtol=0.02, atol=0.05)


def test_training_samples_with_grid_sample(monkeypatch) -> None:
    """The gathered path's backward is slower: with autograd on, the sampled path must run."""
    value, locations, weights = (tensor.requires_grad_() for tensor in attention_inputs())
    monkeypatch.setattr(deformable_attention, "gathered_attention", None)
    output = deformable_attention.multi_scale_deformable_attention(value, SHAPES, locations, weights)
    assert output.requires_grad


def attention_layer() -> tuple[torch.nn.Module, dict]:
    """One pixel-decoder attention layer of the cpu preset's shape, and its inputs for three levels."""
    torch.manual_seed(0)
    layer = deformable_attention.AttentionLayer(embed_dim=32, num_heads=4, n_levels=3, n_points=4).eval()
    torch.nn.init.normal_(layer.sampling_offsets.weight, std=0.5)  # offsets of a few pixels, some off the map
    tokens = sum(height * width for height, width in SHAPES)
    hidden = torch.randn(2, tokens, 32)
    reference = torch.rand(2, tokens, 3, 2)
    return layer, {
        "hidden_states": hidden,
        "encoder_hidden_states": hidden,
        "position_embeddings": torch.randn(2, tokens, 32),
        "reference_points": reference,
        "spatial_shapes_list": SHAPES,
        "attention_mask": torch.rand(2, tokens) < 0.1,
    }


def test_the_attention_layer_without_autograd_matches_transformers_forward(monkeypatch) -> None:
    """Prediction's layer places each sample from its reference point and offset in pixels; it
    must land where transformers' normalised sampling locations do, and not sample through them."""
    layer, inputs = attention_layer()
    with torch.inference_mode(), deformable_attention.unoptimised():
        expected, expected_weights = layer(**inputs)
    monkeypatch.setattr(modeling_mask2former, "multi_scale_deformable_attention", None)  # calling it would fail
    with torch.inference_mode():
        output, weights = layer(**inputs)
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(weights, expected_weights)


def test_the_attention_layer_with_autograd_or_unoptimised_runs_transformers_forward(monkeypatch) -> None:
    layer, inputs = attention_layer()
    calls = []

    def counted(*args):
        calls.append(True)
        return deformable_attention.transformers_attention(*args)

    monkeypatch.setattr(modeling_mask2former, "multi_scale_deformable_attention", counted)
    output, _ = layer(**inputs)
    assert output.requires_grad and len(calls) == 1  # training: transformers' forward, which samples
    with torch.inference_mode():
        layer(**inputs)
    assert len(calls) == 1  # prediction: ours, which gathers
    with torch.inference_mode(), deformable_attention.unoptimised():
        modeling_mask2former.multi_scale_deformable_attention = counted  # unoptimised() put transformers' function there
        layer(**inputs)
    assert len(calls) == 2  # the baseline: transformers' forward again
    with torch.inference_mode():
        layer(**inputs)
    assert len(calls) == 2  # and ours after it


def test_row_numbers_are_int32_where_they_fit_and_gather_the_same_as_int64() -> None:
    assert deformable_attention.row_index_dtype(2**31 - 1) == torch.int32
    assert deformable_attention.row_index_dtype(2**31) == torch.int64
    value, locations, weights = attention_inputs()
    columns = [locations[:, :, :, level, :, 0] * width + 0.5 for level, (_, width) in enumerate(SHAPES)]
    lines = [locations[:, :, :, level, :, 1] * height + 0.5 for level, (height, _) in enumerate(SHAPES)]
    with torch.inference_mode():
        wide = deformable_attention.gather_at(value, SHAPES, columns, lines, weights, torch.int64)
        narrow = deformable_attention.gather_at(value, SHAPES, columns, lines, weights, torch.int32)
        chosen = deformable_attention.gather_at(value, SHAPES, columns, lines, weights)
    assert torch.equal(wide, narrow) and torch.equal(chosen, narrow)
