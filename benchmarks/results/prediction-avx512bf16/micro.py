"""The micro-measurements behind this folder's README and the docstrings that cite them.

    python benchmarks/results/prediction-avx512bf16/micro.py > benchmarks/results/prediction-avx512bf16/micro.log

Each line: the best of 9 timed calls after a warm-up, in ms, on the machine it runs on.
- deformable attention sampling at the cpu preset's shapes (8 heads x 32 channels, 3 levels,
  4 points): grid_sample per level (training path) vs embedding_bag (inference path), forward
  alone and forward + backward;
- mask quality of 50 masks: the old product with the binary mask in one piece vs `mask_quality`
  in one piece and in `rows_per_chunk` pieces; a boolean sum vs sign on relu;
- the first upsampling of 50 stride-4 masks to 512 px in one call vs in chunks;
- `part-map` (alone with that argument): the part map's pieces, 4 masks of 512 px: `max(0)` with
  indices vs `amax(0)`, rows taken by `[ ]` vs `index_select`; and `upsample_parts` of 50 masks
  with the map and post-aware filtering, as the tree on the path has it (run it with
  `PYTHONPATH=<older checkout>/src` for the older code), and how many of the object's pixels its
  map gives another owner than the exact argmax;
- `post-aware` (alone with that argument): post-aware filtering of one mask at the size of
  car-parts test's largest photos (861 x 1024) against an object mask stored column-major, as
  COCO RLE decodes it, and row-major: the steps in numpy (the code before) and in torch
  (`post_aware_filter`); and `upsample_parts` of 50 stride-4 masks of a 256 x 304 input to that
  size with the map and the column-major object, as the tree on the path has it (run it with
  `PYTHONPATH=<older checkout>/src` for the older code);
- `fpn` (alone with that argument): the pixel decoder's upsampling of its finest encoder level
  (64 x 64 at 512 px, bf16) to 128 x 128, on the view transformers makes of the encoder's output,
  for a batch of one image and of two;
- `decoder-masks` (alone with that argument): shrinking 4 bf16 mask-feature maps of 128 x 128
  (512 px), channels-first and channels-last, to the attention's sizes by `interpolate` and by
  slicing (`decoder_masks.sliced_shrink`); and
  per forward pass of a batch of 4 (cpu preset, random weights, bf16 autocast, channels-last,
  inference mode), the time in the transformer decoder and in its mask predictor's calls,
  transformers' predictor (`decoder_masks.unoptimised`) against ours, alternating;
- `offsets` (alone with that argument): at 512 px, a group of two images (5,376 tokens, 8 heads,
  3 levels, 4 points, bf16 offsets): transformers' sampling locations (offsets divided by the
  level's size, plus the reference points) against our pixel positions (reference x size, plus
  offsets); and one pixel-decoder attention layer (cpu preset's width, random weights, bf16
  autocast, inference mode) by transformers' forward (with our gathered attention) and by ours;
- `index-width` (alone with that argument): `gather_at` at 512 px for a group of two images
  with the table's rows numbered in int64 and in int32, alternating;
- `photos` (alone with that argument; needs the car-parts model and test set in `outputs/carparts/`,
  see this folder's README): `Predictor.predict_dataset` on 24 of car-parts test's photos (their
  own sizes, cpu preset), once, in ms per image: all of it, and inside it the model's forward,
  `upsample_parts`, the part map's segments and the RLE encoding, as the tree on the path has
  them (run it with `PYTHONPATH=<older checkout>/src` for the older code). One timed pass, not
  the best of 9: it measures the share of each step, not a speed to compare across runs.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional

from openparts.config import resolve
from openparts.engine import predict
from openparts.engine.predict import mask_quality, rows_per_chunk, upsample_parts
from openparts.model import build_model, decoder_masks, deformable_attention
from openparts.model.deformable_attention import gathered_attention, sampled_attention


def best_ms(work: Callable[[], object]) -> float:
    work()
    timings = []
    for _ in range(9):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return 1000 * min(timings)


def attention(batch: int, size: int) -> None:
    generator = torch.Generator().manual_seed(0)
    shapes = [(size // 8, size // 8), (size // 16, size // 16), (size // 32, size // 32)]
    tokens = sum(height * width for height, width in shapes)
    inputs = (
        torch.randn(batch, tokens, 8, 32, generator=generator),
        torch.rand(batch, tokens, 8, 3, 4, 2, generator=generator) * 1.2 - 0.1,
        torch.rand(batch, tokens, 8, 3, 4, generator=generator).softmax(-1),
    )
    upstream = torch.randn(batch, tokens, 256, generator=generator)

    def forward_backward(path: Callable[..., torch.Tensor]) -> None:
        value, locations, weights = (tensor.clone().requires_grad_() for tensor in inputs)
        (path(value, shapes, locations, weights) * upstream).sum().backward()

    with torch.inference_mode():
        forward = {
            path.__name__: best_ms(lambda path=path: path(inputs[0], shapes, *inputs[1:]))
            for path in (sampled_attention, gathered_attention)
        }
    backward = {path.__name__: best_ms(lambda path=path: forward_backward(path)) for path in (sampled_attention, gathered_attention)}
    sampled, gathered = forward["sampled_attention"], forward["gathered_attention"]
    print(f"attention {size} px batch {batch}: forward sampled {sampled:.1f} gathered {gathered:.1f}; ", end="")
    print(f"forward+backward sampled {backward['sampled_attention']:.1f} gathered {backward['gathered_attention']:.1f}")


def quality(size: int) -> None:
    logits = torch.randn(50, size, size, generator=torch.Generator().manual_seed(0)) * 3

    def product() -> torch.Tensor:
        binary = (logits > 0).float()
        return (logits.sigmoid() * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)

    def chunked() -> torch.Tensor:
        return torch.cat([mask_quality(rows) for rows in logits.split(rows_per_chunk(size, size))])

    flat = logits[:4].flatten(1)
    with torch.inference_mode():
        torch.testing.assert_close(chunked(), product())
        timings = {
            "product": best_ms(product),
            "mask_quality whole": best_ms(lambda: mask_quality(logits)),
            f"in chunks of {rows_per_chunk(size, size)}": best_ms(chunked),
            "count of 4 masks, bool sum": best_ms(lambda: (flat > 0).sum(1)),
            "sign of relu": best_ms(lambda: flat.relu().sign().sum(1)),
        }
    print(f"mask quality {size} px, 50 masks: " + ", ".join(f"{name} {ms:.1f}" for name, ms in timings.items()))


def first_upsampling(size: int) -> None:
    low = torch.randn(1, 50, size // 4, size // 4)
    rows = rows_per_chunk(size, size)
    with torch.inference_mode():
        whole = best_ms(lambda: functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False))
        pieces = best_ms(
            lambda: [
                functional.interpolate(low[:, start : start + rows], size=(size, size), mode="bilinear", align_corners=False)
                for start in range(0, 50, rows)
            ]
        )
    print(f"upsampling 50 masks to {size} px: one call {whole:.1f}, chunks of {rows} {pieces:.1f}")


def part_map() -> None:
    generator = torch.Generator().manual_seed(0)
    chunk = torch.rand(4, 512, 512, generator=generator)
    logits = torch.randn(50, 512, 512, generator=generator) * 3
    rows = torch.tensor([7, 3, 21, 9])
    with torch.inference_mode():
        timings = {
            "max(0) of 4 masks": best_ms(lambda: chunk.max(0)),
            "amax(0)": best_ms(lambda: chunk.amax(0)),
            "4 rows of 50 by [ ]": best_ms(lambda: logits[rows]),
            "by index_select": best_ms(lambda: logits.index_select(0, rows)),
        }
    print("part map pieces, 512 px: " + ", ".join(f"{name} {ms:.2f}" for name, ms in timings.items()))
    for size in (256, 512):
        arguments = (
            torch.randn(50, size, size, generator=generator) * 3,
            torch.randperm(50, generator=generator),
            torch.rand(50, generator=generator),
            (size, size),
            np.pad(np.ones((size - size // 4, size - size // 4), dtype=bool), size // 8),  # the object: a centred box
            16,
            0.3,
        )
        with torch.inference_mode():
            took = best_ms(lambda arguments=arguments: upsample_parts(*arguments, partition=True))
            parts = upsample_parts(*arguments, partition=True)
            logits, queries, weights, _, box = arguments[:5]
            kept = torch.from_numpy(parts.kept)  # positions in `queries`, and in `weights` beside them
            exact = (logits[queries[kept]].sigmoid() * weights[kept, None, None]).argmax(0).numpy()
        changed = int((parts.owners[box] != exact[box]).sum())
        print(
            f"upsample_parts of 50 masks at {size} px with the part map, post-aware: {took:.1f}; "
            f"owners unlike the exact argmax over the kept parts: {changed} of {int(box.sum())} pixels"
        )


def post_aware() -> None:
    generator = torch.Generator().manual_seed(0)
    size = (861, 1024)
    box = np.zeros(size, dtype=bool)
    box[100:760, 80:940] = True
    column_major = np.asfortranarray(box)
    mask_logits = functional.interpolate(torch.randn(1, 50, 64, 76, generator=generator) * 3, size=(256, 304), mode="bilinear")[0]
    block = functional.interpolate(mask_logits[None, :1], size=size, mode="bilinear")[0]

    def numpy_steps(obj: np.ndarray) -> np.ndarray:
        binary = (block > 0).numpy()
        before = binary.sum(axis=(1, 2))
        filtered = binary & obj[None]
        after = filtered.sum(axis=(1, 2))
        return filtered[(after >= 16) & (after >= 0.3 * np.maximum(before, 1))]

    timings = {}
    with torch.inference_mode():
        for order, obj in (("column-major", column_major), ("row-major", box)):
            timings[f"numpy, {order} object"] = best_ms(lambda obj=obj: numpy_steps(obj))
            if hasattr(predict, "pixel_counts"):  # the torch version
                inside = torch.from_numpy(obj)
                timings[f"torch, {order} object"] = best_ms(lambda inside=inside: predict.post_aware_filter(block > 0, inside, 16, 0.3))
        queries, weights = torch.randperm(50, generator=generator), torch.rand(50, generator=generator)
        whole = best_ms(lambda: upsample_parts(mask_logits, queries, weights, size, column_major, 16, 0.3, partition=True))
    print(f"post-aware filtering of one {size[0]} x {size[1]} mask: " + ", ".join(f"{name} {ms:.2f}" for name, ms in timings.items()))
    print(f"upsample_parts of 50 masks 256 x 304 -> {size[0]} x {size[1]}, the map, a column-major object: {whole:.1f}")


def fpn_upsampling() -> None:
    """transformers splits the encoder's [batch, tokens, channels] output by level and views each
    as [batch, channels, height, width]; for one image the view's batch stride is the channels',
    which torch does not take for channels-last, so the upsampling takes its generic path."""
    for batch in (1, 2):
        encoded = torch.randn(batch, 64 * 64 + 32 * 32 + 16 * 16, 256).bfloat16()
        level = encoded.split([64 * 64, 32 * 32, 16 * 16], 1)[0].transpose(1, 2).view(batch, -1, 64, 64)
        with torch.inference_mode():
            took = best_ms(lambda level=level: functional.interpolate(level, size=(128, 128), mode="bilinear", align_corners=False))
        output = functional.interpolate(level, size=(128, 128), mode="bilinear", align_corners=False)
        layout = "channels-last" if output.is_contiguous(memory_format=torch.channels_last) else "channels-first"
        print(f"FPN upsampling 64 -> 128 px, 256 channels, bf16, batch {batch}: {took:.1f} ms, {took / batch:.1f} per image, out {layout}")


def decoder_mask_prediction() -> None:
    channels_first = torch.randn(4, 256, 128, 128).bfloat16()
    for layout, features in (
        ("channels-first", channels_first),
        ("channels-last", channels_first.contiguous(memory_format=torch.channels_last)),
    ):
        for side in (64, 32, 16):
            size = (side, side)
            interpolated = best_ms(
                lambda size=size, features=features: functional.interpolate(features, size=size, mode="bilinear", align_corners=False)
            )
            sliced = best_ms(lambda size=size, features=features: decoder_masks.sliced_shrink(features, size))
            print(f"shrinking 4 x 256 x 128 x 128 bf16 {layout} to {side} x {side}: interpolate {interpolated:.2f}, slices {sliced:.2f}")
    torch.manual_seed(0)
    model = build_model(resolve("cpu")["model"]).eval().to(memory_format=torch.channels_last)
    decoder = model.mask2former.model.transformer_module.decoder
    seconds = {"decoder": 0.0, "mask predictor": 0.0}

    def add_time(module: torch.nn.Module, args: tuple, output: object, name: str) -> None:
        seconds[name] += time.perf_counter() - module.started

    for name, module in (("decoder", decoder), ("mask predictor", decoder.mask_predictor)):
        module.register_forward_pre_hook(lambda module, args: setattr(module, "started", time.perf_counter()))
        module.register_forward_hook(lambda module, args, output, name=name: add_time(module, args, output, name))
    for size in (256, 512):
        inputs = torch.rand(4, 4, size, size).contiguous(memory_format=torch.channels_last)
        for _ in range(2):
            for label, predictor in (("transformers", decoder_masks.unoptimised), ("ours", contextlib.nullcontext)):
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), predictor():
                    model(inputs)
                    best = {name: float("inf") for name in seconds}
                    for _ in range(5):
                        seconds.update(dict.fromkeys(seconds, 0.0))
                        model(inputs)
                        best = {name: min(best[name], 1000 * seconds[name]) for name in seconds}
                decoder_ms, predictor_ms = best["decoder"], best["mask predictor"]
                print(f"{size} px, batch of 4, {label}: decoder {decoder_ms:.1f} ms, of it mask predictor {predictor_ms:.1f}")


def sample_positions() -> None:
    generator = torch.Generator().manual_seed(0)
    shapes = [(64, 64), (32, 32), (16, 16)]
    tokens = sum(height * width for height, width in shapes)
    offsets = torch.randn(2, tokens, 8 * 3 * 4 * 2, generator=generator).bfloat16().view(2, tokens, 8, 3, 4, 2)
    reference = torch.rand(2, tokens, 3, 2, generator=generator)
    normaliser = torch.tensor([[width, height] for height, width in shapes])
    with torch.inference_mode():
        theirs = best_ms(lambda: reference[:, :, None, :, None, :] + offsets / normaliser[None, None, None, :, None, :])
        ours = best_ms(
            lambda: (
                [
                    offsets[:, :, :, level, :, 0] + (reference[:, :, level, 0, None, None] * width + 0.5)
                    for level, (_, width) in enumerate(shapes)
                ]
                + [
                    offsets[:, :, :, level, :, 1] + (reference[:, :, level, 1, None, None] * height + 0.5)
                    for level, (height, _) in enumerate(shapes)
                ]
            )
        )
    print(f"sampling positions, 512 px, 2 images: transformers' locations (divide, add) {theirs:.2f}, our pixels (add) {ours:.2f}")
    torch.manual_seed(0)
    layer = deformable_attention.AttentionLayer(embed_dim=256, num_heads=8, n_levels=3, n_points=4).eval()
    hidden = torch.randn(2, tokens, 256)
    inputs = {"hidden_states": hidden, "encoder_hidden_states": hidden, "position_embeddings": torch.randn(2, tokens, 256)}
    inputs.update(reference_points=reference, spatial_shapes_list=shapes, attention_mask=torch.zeros(2, tokens, dtype=torch.bool))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for _ in range(2):
            theirs = best_ms(lambda: deformable_attention.transformers_layer_forward(layer, **inputs))
            ours = best_ms(lambda: layer(**inputs))
            print(f"attention layer, 512 px, 2 images, bf16: transformers' forward {theirs:.1f}, ours {ours:.1f}")


def index_width() -> None:
    generator = torch.Generator().manual_seed(0)
    shapes = [(64, 64), (32, 32), (16, 16)]
    tokens = sum(height * width for height, width in shapes)
    value = torch.randn(2, tokens, 8, 32, generator=generator).bfloat16()
    locations = torch.rand(2, tokens, 8, 3, 4, 2, generator=generator) * 1.2 - 0.1
    weights = torch.rand(2, tokens, 8, 3, 4, generator=generator).softmax(-1)
    columns = [locations[:, :, :, level, :, 0] * width + 0.5 for level, (_, width) in enumerate(shapes)]
    lines = [locations[:, :, :, level, :, 1] * height + 0.5 for level, (height, _) in enumerate(shapes)]
    with torch.inference_mode():
        for _ in range(3):
            took = {
                dtype: best_ms(lambda dtype=dtype: deformable_attention.gather_at(value, shapes, columns, lines, weights, dtype))
                for dtype in (torch.int64, torch.int32)
            }
            print(f"gather_at, 512 px, 2 images, bf16 values: int64 rows {took[torch.int64]:.1f}, int32 rows {took[torch.int32]:.1f}")


def photos() -> None:
    from pathlib import Path

    from openparts.data.dataset import PartDataset
    from openparts.model import load_model

    model_dir, data_dir = Path("outputs/carparts/model"), Path("outputs/carparts/data/test")
    if not model_dir.is_dir() or not data_dir.is_dir():
        sys.exit(f"photos: needs {model_dir} and {data_dir} (this folder's README says how they were made)")
    seconds: dict[str, float] = {}

    def timed(owner: object, name: str, label: str) -> None:
        work = getattr(owner, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = work(*args, **kwargs)
            seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - start
            return result

        setattr(owner, name, wrapper)

    dataset = PartDataset.open(data_dir)
    predictor = predict.Predictor(load_model(model_dir), resolve("cpu")["predict"], "cpu")
    predictor.predict_batch([dataset.read_image(0)], [dataset.object_mask(0)])  # warm-up
    timed(predictor.model, "forward", "model forward")
    timed(predict, "upsample_parts", "upsample_parts")
    counted = predict.upsample_parts
    queries_given = [0, 0]  # all, and those with a logit above 0

    def counting(mask_logits, queries, *args, **kwargs):
        queries_given[0] += len(queries)
        queries_given[1] += int((mask_logits.amax(dim=(1, 2))[queries] > 0).sum())
        return counted(mask_logits, queries, *args, **kwargs)

    predict.upsample_parts = counting
    if hasattr(predict, "UpsampledParts") and hasattr(predict.UpsampledParts, "segments"):
        timed(predict.UpsampledParts, "segments", "part-map segments")
    timed(predict.mask_io, "encode", "RLE encoding")
    images = 24
    start = time.perf_counter()
    results = predictor.predict_dataset(dataset, progress=False, indices=range(images))
    total = time.perf_counter() - start
    per_image = 1000 * total / images
    print(f"predict_dataset, {images} car-parts test photos, {len(results) / images:.1f} parts per image: {per_image:.1f} ms per image")
    for label, spent in seconds.items():
        print(f"  {label}: {1000 * spent / images:.1f}")
    given, positive = (count / images for count in queries_given)
    print(f"parts given to upsample_parts per image: {given:.1f}, with a logit above 0: {positive:.1f}")


def default_sections() -> None:
    attention(1, 512)
    attention(4, 256)
    for size in (256, 512):
        quality(size)
    first_upsampling(512)


SECTIONS = {
    "part-map": part_map,
    "post-aware": post_aware,
    "fpn": fpn_upsampling,
    "decoder-masks": decoder_mask_prediction,
    "offsets": sample_positions,
    "index-width": index_width,
    "photos": photos,
}

if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}")
    chosen = sys.argv[1:]
    if len(chosen) > 1 or (chosen and chosen[0] not in SECTIONS):
        sys.exit(f"usage: micro.py [{' | '.join(SECTIONS)}]")
    SECTIONS.get(chosen[0] if chosen else "", default_sections)()
