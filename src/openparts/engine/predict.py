"""Prediction with our own post-processing, at the original image resolution.

transformers' `post_process_instance_segmentation` resizes masks to a fixed 384x384 canvas;
here each image is resized (shortest edge, test-time transform), padded to a multiple of 32,
and its masks are brought back to the original size. As in Mask2Former's instance inference:

    score = class probability x mask quality,
    mask quality = mean sigmoid over the pixels the mask keeps (logit > 0),

the top `top_k` (query, class) pairs per image are kept, then those under `score_threshold`
dropped. Class-agnostic models have one class, so this is the top-k queries.

With `partition`, each kept part also gets its segment of the image's part map: the pixels
where its class probability x mask probability is the largest of all kept parts (Mask2Former's
panoptic assignment), inside the object mask (post-aware) or the union of the parts' masks.
Instance masks overlap, and AP scores them as they are; the part map is the non-overlapping
segmentation that the oracle semantic metrics and the report's picture read.

With `split_min_fraction` (off by default), a part whose segment falls into pieces becomes one
part per piece (`openparts.engine.pieces`).

Post-aware filtering (Sec. 3.2 of the paper): pixels outside the object mask are removed, and
a part is dropped if fewer than `post_aware_min_area` pixels or less than
`post_aware_min_kept_fraction` of its area remain. An image whose object mask is empty gets
an all-zero object channel and no post-aware filtering (there is no object to filter by);
its predictions are still returned and a warning is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional
from tqdm import tqdm

from openparts.config import check
from openparts.data import masks as mask_io
from openparts.data.dataset import PartDataset
from openparts.engine.pieces import split_part
from openparts.engine.precision import inference_dtype
from openparts.model.segmenter import SIZE_DIVISIBILITY, PartSegmenter, pad_to_divisible

log = logging.getLogger(__name__)

CHUNK_PIXELS = 1 << 20
"""Post-processing works on masks a few at a time, about this many pixels: glibc maps a temporary
over 32 MB afresh, and page-faults it in, at every allocation. The quality of 50 masks at 512 px
took 47-63 ms in one piece on a 2-core CPU, 6.5-7.1 ms in pieces of 1 M pixels
(benchmarks/results/prediction-avx512bf16/micro.py); bounded memory besides."""


@dataclass
class PartPrediction:
    mask: np.ndarray  # HxW bool at the original resolution (`Predictor` makes it column-major, see `UpsampledParts`)
    score: float
    label: int  # class index (0 for class-agnostic models)
    segment: np.ndarray | None = None  # HxW bool: the pixels it owns in the part map (`partition`)

    @property
    def map_segment(self) -> np.ndarray:
        """Its pixels in the part map where there is one, else its mask (as `masks.map_segment`)."""
        return self.mask if self.segment is None else self.segment


def resized_shape(height: int, width: int, shortest_edge: int, max_size: int | None) -> tuple[int, int]:
    scale = shortest_edge / min(height, width)
    if max_size is not None and max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def model_input(image: np.ndarray, object_mask: np.ndarray | None, with_object: bool, size: tuple[int, int]) -> torch.Tensor:
    tensor = torch.from_numpy(image).permute(2, 0, 1).float().div(255.0)
    if with_object:
        channel = torch.zeros(image.shape[:2]) if object_mask is None else torch.from_numpy(object_mask.astype(np.float32))
        tensor = torch.cat([tensor, channel[None]], dim=0)
    resized = functional.interpolate(tensor[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    if with_object:
        resized[3] = (resized[3] > 0.5).float()
    return resized


def batch_inputs(
    images: list[np.ndarray], object_masks: list[np.ndarray | None], with_object: bool, predict_config: dict[str, Any]
) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Images resized to the prediction size, zero-padded to one divisible size and stacked;
    with each image's resized (height, width), which the padding must not hide."""
    shapes = [resized_shape(*image.shape[:2], predict_config["shortest_edge"], predict_config["max_size"]) for image in images]
    tensors = [model_input(image, mask, with_object, shape) for image, mask, shape in zip(images, object_masks, shapes, strict=True)]
    height = max(t.shape[1] for t in tensors)
    width = max(t.shape[2] for t in tensors)
    batch = torch.stack([functional.pad(t, (0, width - t.shape[2], 0, height - t.shape[1])) for t in tensors])
    return pad_to_divisible(batch), shapes


def pixel_budget_groups(shapes: list[tuple[int, int]], budget: int) -> list[list[int]]:
    """Consecutive images grouped so that each group, padded to its largest height and width
    (rounded up to the model's stride), has at most `budget` pixels; an image over the budget
    forms a group alone. A budget of 0 puts all images in one group."""
    if budget <= 0:
        return [list(range(len(shapes)))] if shapes else []
    groups: list[list[int]] = []
    height = width = 0
    for index, shape in enumerate(shapes):
        padded_height, padded_width = (-(-side // SIZE_DIVISIBILITY) * SIZE_DIVISIBILITY for side in shape)
        grown_height, grown_width = max(height, padded_height), max(width, padded_width)
        if groups and (len(groups[-1]) + 1) * grown_height * grown_width <= budget:
            groups[-1].append(index)
            height, width = grown_height, grown_width
        else:
            groups.append([index])
            height, width = padded_height, padded_width
    return groups


def select_parts(
    class_logits: torch.Tensor, mask_logits: torch.Tensor, top_k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scores, class labels, queries (rows of `mask_logits`) and class probabilities of the top-k
    (query, class) pairs of one image.

    class_logits: [Q, C + 1]; mask_logits: [Q, H, W] at the network's input resolution. The masks
    are not gathered here: at 512 px that copy, and a second one after the score threshold, were
    two 50 MB copies per image; `upsample_parts` reads its rows chunk by chunk.
    """
    num_classes = class_logits.shape[1] - 1
    class_scores = class_logits.softmax(-1)[:, :-1]  # drop the no-object class
    flat = class_scores.flatten()
    k = min(top_k, flat.numel())
    top_scores, top_indices = flat.topk(k)
    queries = torch.div(top_indices, num_classes, rounding_mode="floor")
    labels = top_indices % num_classes
    picked, slot = torch.unique(queries, return_inverse=True)  # a query picked with several classes is measured once
    logits = mask_logits if len(picked) == len(mask_logits) else mask_logits.index_select(0, picked)
    quality = torch.cat([mask_quality(rows) for rows in logits.split(rows_per_chunk(*logits.shape[-2:]))])
    return top_scores * quality[slot], labels, queries, top_scores


def mask_quality(logits: torch.Tensor) -> torch.Tensor:
    """Mean probability over each mask's pixels (logit > 0). On relu(x), sign counts those pixels
    without a boolean tensor (0.1 against 0.3 ms for 4 masks at 512 px) and sigmoid is the
    probability there and 0.5 elsewhere."""
    kept = logits.flatten(1).relu()
    positives = kept.sign().sum(1)
    return (kept.sigmoid_().sum(1) - 0.5 * (kept.shape[1] - positives)) / (positives + 1e-6)


def rows_per_chunk(height: int, width: int) -> int:
    """How many masks of this size to process at once: about CHUNK_PIXELS pixels."""
    return max(1, CHUNK_PIXELS // (height * width))


def post_aware_filter(
    masks: torch.Tensor, object_mask: torch.Tensor, min_area: int, min_kept_fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove part pixels outside the object, in place in the bool `masks` [N, H, W]; returns
    which masks keep enough of themselves inside it, and each one's pixels left.

    In torch, on the chunk as upsampled: one 861 x 1024 mask (car-parts test's largest photos)
    took 0.33-0.37 ms against 0.74-1.09 for the same steps in numpy, both on a row-major object
    mask (benchmarks/results/prediction-avx512bf16/micro.py post-aware)."""
    before = pixel_counts(masks)
    masks &= object_mask
    after = pixel_counts(masks)
    # the fraction in float64, as Python's float is: float32 rounds some products onto the integer
    return (after >= min_area) & (after >= min_kept_fraction * before.clamp(min=1).double()), after


def pixel_counts(masks: torch.Tensor) -> torch.Tensor:
    """Each bool mask's true pixels, summed as bytes (a bool sum widens every pixel to int64 first)."""
    return masks.view(torch.uint8).flatten(1).sum(1, dtype=torch.int32)


@dataclass
class UpsampledParts:
    """Masks and map laid out column-major (each HxW mask Fortran-ordered), as COCO's run-length
    encoding reads them: `mask_io.encode` then copies nothing. Made row-major, each mask cost a
    transposing copy at encoding: on car-parts test photos (cpu preset, 2 cores) encoding took
    25.8-26.7 ms an image, and 6.9-7.1 column-major (benchmarks/results/prediction-avx512bf16/
    micro.py photos)."""

    masks: np.ndarray  # [N, H, W] bool: the parts kept, at the original resolution
    kept: np.ndarray  # [N]: their indices among the parts given
    owners: np.ndarray | None  # HxW: index into `masks` of the part owning each pixel, -1 for none

    def segments(self) -> np.ndarray:
        """[N, H, W] bool, column-major as the masks: each kept part's pixels of the map."""
        if self.owners is None:
            raise ValueError("no part map: upsample_parts ran without partition")
        transposed = self.owners.T[None] == np.arange(len(self.kept))[:, None, None]
        return transposed.transpose(0, 2, 1)


def upsample_parts(
    mask_logits: torch.Tensor,
    queries: torch.Tensor,
    weights: torch.Tensor,
    size: tuple[int, int],
    object_mask: np.ndarray | None = None,
    min_area: int = 0,
    min_kept_fraction: float = 0.0,
    partition: bool = False,
    chunk: int | None = None,
) -> UpsampledParts:
    """The binary masks at the original size of the parts whose logits are the rows `queries` of
    `mask_logits` (`weights` beside them), post-aware filtered by `object_mask` where given, empty
    ones dropped; with `partition`, also the part map over the parts kept.

    One pass, `chunk` masks at a time (default: `rows_per_chunk`): each chunk of logits is
    upsampled once (not at all where the sizes already agree) and serves both the masks and the
    running argmax of weight x mask probability (`PartMap`). The map covers the object
    (post-aware), else the union of the kept masks. The work runs on the transposed logits, so
    that the masks come out column-major (`UpsampledParts`).
    """
    count = len(queries)
    width_first = (size[1], size[0])
    transposed_logits = mask_logits.transpose(-2, -1)
    # a mask with no logit above 0 stays empty at any size (bilinear weights are >= 0), and an empty
    # part is dropped: only the others are upsampled. On car-parts test photos 19 of the 50 queries
    # an image had none (micro.py photos).
    candidates = torch.nonzero(mask_logits.amax(dim=(1, 2))[queries] > 0)[:, 0]
    masks = torch.empty((len(candidates), *width_first), dtype=torch.bool)  # the kept masks, filled in order: no concatenation
    filled = 0
    kept: list[np.ndarray] = []
    part_map = PartMap(width_first, count, mask_logits.device) if partition else None
    # contiguous in the transposed layout: filtering against a mask of the other layout took
    # 0.75-1.04 ms per 861 x 1024 mask against 0.33-0.37 (prediction-avx512bf16/micro.py post-aware)
    region = None if object_mask is None else np.ascontiguousarray(object_mask.T)
    inside = None if region is None else torch.from_numpy(region).to(mask_logits.device)
    chunk = chunk or rows_per_chunk(*size)
    for start in range(0, len(candidates), chunk):
        positions = candidates[start : start + chunk]  # in `queries`
        block = transposed_logits.index_select(0, queries[positions])  # a copy, which the map may overwrite; [ ] took 6x longer
        if tuple(block.shape[-2:]) != width_first:
            block = functional.interpolate(block[None], size=width_first, mode="bilinear", align_corners=False)[0]
        binary = block > 0
        if inside is None:
            kept_here = pixel_counts(binary) > 0
        else:
            keep, areas = post_aware_filter(binary, inside, min_area, min_kept_fraction)
            kept_here = keep & (areas > 0)
        rows = torch.nonzero(kept_here)[:, 0]
        masks[filled : filled + len(rows)] = binary.index_select(0, rows)
        filled += len(rows)
        kept.append(positions[rows].cpu().numpy())
        if part_map is not None and len(rows):
            # a dropped part's value, -sigmoid, loses to every kept one (>= 0); no gather of the kept rows
            weight = torch.full((len(block),), -1.0, device=block.device)
            weight[rows] = weights[positions[rows]].float()
            part_map.add(block.sigmoid_().mul_(weight[:, None, None]), positions)
    numbers = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
    stacked = masks[:filled].numpy()
    owners = None
    if part_map is not None:
        region = stacked.any(axis=0) if region is None else region
        number_of = np.full(count + 1, -1)  # a part's index among the kept ones; the last, -1, for owner -1
        number_of[numbers] = np.arange(len(numbers))
        owners = np.where(region, number_of[part_map.owners().cpu().numpy()], -1).T
    return UpsampledParts(stacked.transpose(0, 2, 1), numbers, owners)


class PartMap:
    """Each pixel's part of highest value, built chunk by chunk of parts.

    `max(0)` with indices took 1.95-2.19 ms per chunk of 4 masks at 512 px (13 chunks an image)
    against 0.04-0.07 ms for the values alone (`amax`; benchmarks/results/prediction-avx512bf16/
    micro.py part-map), so the index travels inside the value: for
    values >= 0 the int32 view of a float32 orders as the float does, and its lowest bits are
    replaced by the part's rank from the top. One `amax` then keeps the largest value and, among
    values equal in the remaining bits (within 2^-(23 - bits) of each other, relatively), the
    first part. Negative values (parts left out) never own a pixel.
    """

    def __init__(self, size: tuple[int, int], parts: int, device: torch.device) -> None:
        bits = max(1, (parts - 1).bit_length())
        if bits > 16:
            raise ValueError(f"a part map over {parts} parts: at most 2**16, so that values keep 7 bits of precision")
        self.low = (1 << bits) - 1  # the bits that carry the rank
        self.best = torch.full(size, -1, dtype=torch.int32, device=device)

    def add(self, values: torch.Tensor, parts: torch.Tensor) -> None:
        """`values` [n, H, W] float32, overwritten, of the parts numbered `parts` [n]; a tie goes to
        the lowest number, whatever the order of the calls."""
        keys = values.view(torch.int32).bitwise_and_(~self.low)
        ranks = self.low - parts.to(device=values.device, dtype=torch.int32)
        torch.maximum(self.best, keys.bitwise_or_(ranks[:, None, None]).amax(0), out=self.best)

    def owners(self) -> torch.Tensor:
        """Each pixel's part, -1 where no value was >= 0."""
        return torch.where(self.best >= 0, self.low - (self.best & self.low), -1).long()


class Predictor:
    """Runs a model over images or datasets: batched, in inference mode, channels-last, in bf16
    where the hardware has it (`predict.precision`), on CPU or CUDA."""

    def __init__(self, model: PartSegmenter, predict_config: dict[str, Any], device: str | torch.device | None = None) -> None:
        self.model = model.eval()
        self.config = predict_config
        self.device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.memory_format = torch.channels_last if predict_config.get("channels_last") else torch.contiguous_format
        self.model.to(self.device, memory_format=self.memory_format)
        self.dtype = inference_dtype(self.device, predict_config["precision"])
        self.split_min_fraction = check("predict.split_min_fraction", predict_config.get("split_min_fraction"))
        self.with_object = model.in_channels == 4

    def predict_batch(self, images: list[np.ndarray], object_masks: list[np.ndarray | None]) -> list[list[PartPrediction]]:
        """Each image's parts. On CPU the images run in groups of at most `predict.cpu_batch_pixels`
        padded pixels (`pixel_budget_groups`): on a 16-core Xeon, 512 px images ran at 3.1-3.3
        images/s four at a time and at 3.9 one at a time, while at 256 px four at a time was the
        fastest (`benchmarks/results/cpu-amx/`). A group of one image is not free either: the
        pixel decoder's view of its encoder output has a batch stride that torch does not take
        for channels-last, so its upsampling ran the generic path, 10.2-10.5 ms against 0.9 per
        image for two, and handed a channels-first tensor to the channels-last convolutions
        (`benchmarks/results/prediction-avx512bf16/`, where two 512 px images at once were the
        fastest on 2 cores)."""
        budget = self.config["cpu_batch_pixels"] if self.device.type == "cpu" else 0
        shapes = [resized_shape(*image.shape[:2], self.config["shortest_edge"], self.config["max_size"]) for image in images]
        results: list[list[PartPrediction]] = []
        for group in pixel_budget_groups(shapes, budget):
            results.extend(self._predict_group([images[i] for i in group], [object_masks[i] for i in group]))
        return results

    @torch.inference_mode()
    def _predict_group(self, images: list[np.ndarray], object_masks: list[np.ndarray | None]) -> list[list[PartPrediction]]:
        batch, shapes = batch_inputs(images, object_masks, self.with_object, self.config)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            output = self.model(batch.to(self.device, memory_format=self.memory_format))
        results = []
        for index, image in enumerate(images):
            mask_logits = functional.interpolate(
                output.mask_logits[index : index + 1].float(), size=batch.shape[-2:], mode="bilinear", align_corners=False
            )[0]
            mask_logits = mask_logits[:, : shapes[index][0], : shapes[index][1]]
            scores, labels, queries, probabilities = select_parts(output.class_logits[index].float(), mask_logits, self.config["top_k"])
            keep = scores >= self.config["score_threshold"]
            scores, labels, queries, probabilities = scores[keep], labels[keep], queries[keep], probabilities[keep]
            parts = upsample_parts(
                mask_logits,
                queries,
                probabilities,
                image.shape[:2],
                self._post_aware_object(object_masks[index]),
                self.config["post_aware_min_area"],
                self.config["post_aware_min_kept_fraction"],
                partition=self.config["partition"],
            )
            masks, kept = parts.masks, parts.kept
            segments = None if parts.owners is None else parts.segments()
            scores, labels = scores.cpu().numpy()[kept], labels.cpu().numpy()[kept]
            predictions = [
                PartPrediction(mask, float(score), int(label), None if segments is None else segments[number])
                for number, (mask, score, label) in enumerate(zip(masks, scores, labels, strict=True))
            ]
            if self.split_min_fraction is not None:
                predictions = [
                    PartPrediction(piece_mask, part.score, part.label, piece_segment)
                    for part in predictions
                    for piece_mask, piece_segment in split_part(part.mask, part.segment, self.split_min_fraction)
                ]
            results.append(predictions)
        return results

    def _post_aware_object(self, object_mask: np.ndarray | None) -> np.ndarray | None:
        """The object mask that post-aware filtering keeps parts inside, or None for no filtering."""
        if not self.config["post_aware"]:
            return None
        if object_mask is None or not object_mask.any():
            log.warning("empty object mask: post-aware filtering skipped for this image")
            return None
        return object_mask

    def predict_dataset(
        self, dataset: PartDataset, use_object_masks: bool = True, progress: bool = True, indices: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """COCO results (RLE masks) for every image of `dataset`, or for the images at `indices`."""
        class_names = getattr(self.model, "description", {}).get("part_classes")
        chosen = list(range(len(dataset))) if indices is None else list(indices)
        results: list[dict[str, Any]] = []
        batches = [[chosen[i] for i in positions] for positions in chunks(len(chosen), self.config["batch_size"])]
        for batch in tqdm(batches, desc="predict", unit="batch", disable=not progress):
            images = [dataset.read_image(i) for i in batch]
            objects = [dataset.object_mask(i) if use_object_masks else None for i in batch]
            for index, parts in zip(batch, self.predict_batch(images, objects), strict=True):
                image_id = dataset.images[index]["id"]
                for part in parts:
                    result = {"image_id": image_id, "category_id": 1, "segmentation": mask_io.encode(part.mask), "score": part.score}
                    if part.segment is not None:
                        result["partition"] = mask_io.encode(part.segment)
                    if self.model.num_classes > 1 and class_names:
                        result["part_class"] = class_names[part.label]
                    results.append(result)
        return results


def chunks(count: int, size: int) -> Iterator[list[int]]:
    for start in range(0, count, size):
        yield list(range(start, min(count, start + size)))
