from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional

from openparts.config import resolve
from openparts.data import masks as mask_io
from openparts.data.dataset import DatasetWriter, Part, PartDataset
from openparts.engine.predict import (
    PartMap,
    Predictor,
    pixel_budget_groups,
    post_aware_filter,
    resized_shape,
    select_parts,
    upsample_parts,
)
from openparts.model import build_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(resolve("tiny")["model"])


@pytest.fixture
def odd_sized_dataset(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / "odd", source="test") as writer:
        for index, (height, width) in enumerate([(90, 130), (77, 61)]):
            image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            obj = np.zeros((height, width), bool)
            obj[10:-10, 10:-10] = True
            part = obj.copy()
            part[: height // 2] = False
            writer.add(image, f"{index}.png", [Part(part)], object_mask=obj, object_mask_source="gt")
    return tmp_path / "odd"


def predict_config(**changes) -> dict:
    return {**resolve("tiny")["predict"], **changes}


def test_masks_come_back_at_the_original_resolution(model, odd_sized_dataset: Path) -> None:
    dataset = PartDataset.open(odd_sized_dataset)
    results = Predictor(model, predict_config(batch_size=2), "cpu").predict_dataset(dataset, progress=False)
    sizes = {r["image_id"]: tuple(r["segmentation"]["size"]) for r in results}
    assert sizes == {1: (90, 130), 2: (77, 61)}
    assert all(r["category_id"] == 1 and 0.0 <= r["score"] <= 1.0 for r in results)
    per_image = [sum(r["image_id"] == i for r in results) for i in (1, 2)]
    assert max(per_image) <= predict_config()["top_k"]


def test_batch_size_does_not_change_what_each_image_gets(model, odd_sized_dataset: Path) -> None:
    """Batching pads images to a common size; each image's masks still come back at its own size."""
    dataset = PartDataset.open(odd_sized_dataset)
    batched = Predictor(model, predict_config(batch_size=2), "cpu").predict_dataset(dataset, progress=False)
    single = Predictor(model, predict_config(batch_size=1), "cpu").predict_dataset(dataset, progress=False)
    for results in (batched, single):
        assert {r["image_id"]: tuple(r["segmentation"]["size"]) for r in results} == {1: (90, 130), 2: (77, 61)}
        assert all(sum(r["image_id"] == i for r in results) <= predict_config()["top_k"] for i in (1, 2))


def test_pixel_budget_groups_keep_each_padded_batch_within_the_budget() -> None:
    budget = 512 * 512
    assert pixel_budget_groups([(512, 512), (512, 512), (256, 256), (256, 256), (256, 256), (256, 256)], budget) == [[0], [1], [2, 3, 4, 5]]
    assert pixel_budget_groups([(256, 256), (512, 256)], budget) == [[0, 1]]  # 2 x 512 x 256, the padded batch
    assert pixel_budget_groups([(256, 256), (256, 256), (512, 256)], budget) == [[0, 1], [2]]  # the third would make 3 x 512 x 256
    assert pixel_budget_groups([(250, 250)] * 5, budget) == [[0, 1, 2, 3], [4]]  # each padded to 256 x 256
    assert pixel_budget_groups([(1024, 1024), (64, 64)], budget) == [[0], [1]]  # over the budget: alone
    assert pixel_budget_groups([(512, 512)] * 3, 0) == [[0, 1, 2]]
    assert pixel_budget_groups([], budget) == []


def test_on_cpu_images_over_the_pixel_budget_run_one_at_a_time(model, odd_sized_dataset: Path) -> None:
    """A budget below two padded images makes a batch of two predict exactly as batches of one."""
    dataset = PartDataset.open(odd_sized_dataset)
    grouped = Predictor(model, predict_config(batch_size=2, cpu_batch_pixels=1), "cpu").predict_dataset(dataset, progress=False)
    single = Predictor(model, predict_config(batch_size=1), "cpu").predict_dataset(dataset, progress=False)
    together = Predictor(model, predict_config(batch_size=2, cpu_batch_pixels=0), "cpu").predict_dataset(dataset, progress=False)
    assert grouped == single
    assert together != single  # padding to a common size changes the outputs: the test can tell the two apart


def test_post_aware_removes_pixels_outside_the_object_and_small_leftovers() -> None:
    masks = torch.zeros((4, 10, 10), dtype=torch.bool)
    masks[0, 2:6, 2:6] = True  # inside
    masks[1, 0:2, :] = True  # entirely outside
    masks[2, 3:10, 3:5] = True  # 8 of 14 pixels inside
    masks[3, 1:3, 1:9] = True  # 6 of 16 inside: under the kept fraction
    obj = torch.zeros((10, 10), dtype=torch.bool)
    obj[2:7, 2:8] = True
    keep, areas = post_aware_filter(masks, obj, min_area=2, min_kept_fraction=0.5)
    assert keep.tolist() == [True, False, True, False]
    assert areas.tolist() == [16, 0, 8, 6]
    assert not (masks & ~obj).any()  # filtered in place


def test_post_aware_keeps_a_part_with_exactly_the_minimum_fraction_inside() -> None:
    """15 of 50 pixels is 0.3 exactly in Python's float; in float32, 0.3 x 50 is 15.000001."""
    masks = torch.zeros((1, 10, 10), dtype=torch.bool)
    masks[0, :5] = True  # 50 pixels
    obj = torch.zeros((10, 10), dtype=torch.bool)
    obj[:3, :5] = True  # 15 of them
    keep, areas = post_aware_filter(masks, obj, min_area=1, min_kept_fraction=0.3)
    assert areas.tolist() == [15] and keep.tolist() == [True]


def test_post_aware_prediction_never_leaves_the_object(model, odd_sized_dataset: Path) -> None:
    dataset = PartDataset.open(odd_sized_dataset)
    results = Predictor(model, predict_config(post_aware=True, post_aware_min_area=1), "cpu").predict_dataset(dataset, progress=False)
    from openparts.data import masks as mask_io

    for result in results:
        outside = mask_io.decode(result["segmentation"]) & ~dataset.object_mask(result["image_id"] - 1)
        assert not outside.any()


def test_empty_object_mask_still_gets_predictions(model, caplog) -> None:
    image = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    predictor = Predictor(model, predict_config(post_aware=True), "cpu")
    parts = predictor.predict_batch([image], [np.zeros((64, 64), bool)])[0]
    assert parts and "post-aware filtering skipped" in caplog.text


def test_score_is_class_probability_times_mask_quality() -> None:
    class_logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])  # query 0 likely a part, query 1 likely nothing
    mask_logits = torch.full((2, 4, 4), -5.0)
    mask_logits[0, :2, :2] = 5.0
    mask_logits[1, :, :] = 5.0
    scores, labels, queries, probabilities = select_parts(class_logits, mask_logits, top_k=2)
    probability = torch.softmax(torch.tensor([2.0, 0.0]), 0)[0]
    quality = torch.sigmoid(torch.tensor(5.0))
    assert scores[0] == pytest.approx(float(probability * quality), rel=1e-5)
    assert labels.tolist() == [0, 0] and queries.tolist() == [0, 1]
    assert probabilities[0] == pytest.approx(float(probability), rel=1e-5)


def test_a_query_picked_for_two_classes_scores_its_one_mask_quality_for_each() -> None:
    """Quality is measured once per picked query, on a cropped (non-contiguous) view too."""
    generator = torch.Generator().manual_seed(0)
    class_logits = torch.tensor([[3.0, 2.5, -4.0], [-3.0, -3.0, 4.0], [0.0, 1.0, 0.0]])  # query 0 is both classes
    padded = torch.randn(3, 6, 9, generator=generator) * 3
    mask_logits = padded[:, :5, :7]
    scores, labels, queries, probabilities = select_parts(class_logits, mask_logits, top_k=3)
    binary = (mask_logits > 0).float()
    quality = (mask_logits.sigmoid() * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    assert queries.tolist() == [0, 2, 0] and labels.tolist() == [0, 1, 1]
    torch.testing.assert_close(scores, probabilities * quality[queries])


def test_resize_keeps_the_shortest_edge_and_caps_the_longest() -> None:
    assert resized_shape(100, 200, 50, None) == (50, 100)
    assert resized_shape(100, 400, 50, 150) == (38, 150)


def test_channels_last_gives_the_same_scores(model, odd_sized_dataset: Path) -> None:
    """A memory-layout change: the numbers it gives must match the plain layout's."""
    dataset = PartDataset.open(odd_sized_dataset)
    plain = Predictor(model, predict_config(channels_last=False, precision="fp32"), "cpu").predict_dataset(dataset, progress=False)
    nhwc = Predictor(model, predict_config(channels_last=True, precision="fp32"), "cpu").predict_dataset(dataset, progress=False)
    assert len(plain) == len(nhwc)
    np.testing.assert_allclose([r["score"] for r in plain], [r["score"] for r in nhwc], atol=1e-4)
    model.to(memory_format=torch.contiguous_format)


def test_bf16_prediction_runs_and_keeps_the_output_format(model, odd_sized_dataset: Path) -> None:
    dataset = PartDataset.open(odd_sized_dataset)
    results = Predictor(model, predict_config(precision="bf16"), "cpu").predict_dataset(dataset, progress=False)
    assert results and all(isinstance(r["score"], float) and 0.0 <= r["score"] <= 1.0 for r in results)
    model.to(memory_format=torch.contiguous_format)


def test_part_map_gives_each_pixel_to_the_most_confident_part() -> None:
    """A confident small part keeps its pixels inside a less confident large one, where painting
    binary masks by score would let the large one cover it."""
    logits = torch.full((2, 8, 8), -4.0)
    logits[0] = 2.0  # the whole object, at class probability 0.6: 0.6 x 0.88 = 0.53
    logits[1, 2:5, 2:5] = 6.0  # a small part, at class probability 0.55: 0.55 x 0.998 = 0.55
    region = np.zeros((8, 8), bool)
    region[1:7, 1:7] = True
    given = logits.clone()
    parts = upsample_parts(logits, torch.tensor([0, 1]), torch.tensor([0.6, 0.55]), (8, 8), region, partition=True, chunk=1)
    torch.testing.assert_close(logits, given)  # at the original size already: read, not upsampled in place
    owners = parts.owners
    assert parts.kept.tolist() == [0, 1]
    assert (owners[~region] == -1).all()
    assert (owners[2:5, 2:5] == 1).all()
    assert (owners[region] >= 0).all() and (owners[region] == 0).sum() == 36 - 9


def test_part_map_is_the_argmax_over_the_parts_post_aware_filtering_keeps() -> None:
    """Chunked and fused with the mask upsampling, the map still equals the plain argmax over the
    kept parts: a confident part that the filter drops owns nothing."""
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(10, 6, 7, generator=generator) * 2 - 3
    logits[:, 2:5, 1:5] += 5.0  # most parts lie mostly on the object
    logits[4] = 8.0  # confident everywhere, so mostly outside the object: dropped
    weights = torch.rand(10, generator=generator)
    weights[4] = 1.0
    obj = np.zeros((13, 11), bool)
    obj[3:11, 2:8] = True
    parts = upsample_parts(logits, torch.arange(10), weights, obj.shape, obj, min_area=2, min_kept_fraction=0.5, partition=True, chunk=3)

    full = functional.interpolate(logits[None], size=obj.shape, mode="bilinear", align_corners=False)[0]
    filtered = full > 0
    keep, areas = post_aware_filter(filtered, torch.from_numpy(obj), 2, 0.5)
    expected_kept = np.flatnonzero((keep & (areas > 0)).numpy())
    assert 4 not in expected_kept and len(expected_kept) >= 2
    expected = (full[expected_kept].sigmoid() * weights[expected_kept, None, None]).argmax(0).numpy()
    expected[~obj] = -1
    np.testing.assert_array_equal(parts.kept, expected_kept)
    np.testing.assert_array_equal(parts.masks, filtered[expected_kept].numpy())
    np.testing.assert_array_equal(parts.owners, expected)


def test_parts_without_a_positive_logit_are_left_out_as_if_upsampled() -> None:
    """Parts with no logit above 0 are skipped before upsampling; the result must be the one the
    plain argmax over every part gives, and the masks column-major, as RLE encoding reads them."""
    generator = torch.Generator().manual_seed(4)
    logits = torch.randn(6, 5, 6, generator=generator) * 2
    logits[1] = -torch.rand(5, 6, generator=generator)  # below 0 everywhere
    logits[3] = 0.0  # exactly 0: not above it
    logits[4, 2, 3] = 1e-3  # one faint pixel: kept
    weights = torch.rand(6, generator=generator)
    size = (11, 13)
    parts = upsample_parts(logits, torch.arange(6), weights, size, partition=True, chunk=2)

    full = functional.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0]
    expected_kept = np.flatnonzero((full > 0).flatten(1).any(1).numpy())
    assert 1 not in expected_kept and 3 not in expected_kept and 4 in expected_kept
    expected = (full[expected_kept].sigmoid() * weights[expected_kept, None, None]).argmax(0).numpy()
    union = (full[expected_kept] > 0).any(0).numpy()
    np.testing.assert_array_equal(parts.kept, expected_kept)
    np.testing.assert_array_equal(parts.masks, (full[expected_kept] > 0).numpy())
    np.testing.assert_array_equal(parts.owners, np.where(union, expected, -1))
    np.testing.assert_array_equal(parts.segments(), parts.owners[None] == np.arange(len(expected_kept))[:, None, None])
    assert all(mask.flags.f_contiguous for mask in parts.masks)
    assert all(segment.flags.f_contiguous for segment in parts.segments())


def test_part_map_keeps_the_argmax_except_between_values_within_its_precision() -> None:
    """The part index travels in the values' lowest bits: 300 parts take 9, so only values within
    2^-14 of each other may swap; exact ties go to the first part; negative values own nothing."""
    generator = torch.Generator().manual_seed(5)
    values = torch.rand(300, 16, 16, generator=generator)
    values[7, 0, 0] = values[3, 0, 0] = 2.0  # a tie: part 3 comes first
    values[:, 1, 1] = -0.5  # every part left out here
    part_map = PartMap((16, 16), 300, values.device)
    for first in range(0, 300, 64):
        part_map.add(values[first : first + 64].clone(), torch.arange(first, min(first + 64, 300)))
    owners = part_map.owners()
    assert owners[0, 0] == 3 and owners[1, 1] == -1
    top_two = values.topk(2, dim=0).values
    clear = (top_two[0] - top_two[1]) > top_two[0] * 2.0**-14
    clear[0, 0] = clear[1, 1] = False
    assert clear.float().mean() > 0.95
    assert torch.equal(owners[clear], values.argmax(0)[clear])
    chosen = values.gather(0, owners.clamp(min=0)[None])[0]
    torch.testing.assert_close(chosen, values.amax(0), rtol=2.0**-14, atol=0.0)


def test_an_image_without_parts_gets_an_empty_part_map() -> None:
    """No query passed the score threshold: no masks, and no pixel has an owner."""
    obj = np.ones((6, 5), bool)
    parts = upsample_parts(torch.zeros(3, 4, 4), torch.zeros(0, dtype=torch.long), torch.zeros(0), obj.shape, obj, partition=True)
    assert parts.masks.shape == (0, 6, 5) and len(parts.kept) == 0
    np.testing.assert_array_equal(parts.owners, np.full(obj.shape, -1))


def test_part_map_refuses_more_parts_than_its_bits_can_number() -> None:
    with pytest.raises(ValueError, match="2\\*\\*16"):
        PartMap((4, 4), 2**16 + 1, torch.device("cpu"))


def test_partition_segments_are_disjoint_and_cover_the_object(model, odd_sized_dataset: Path) -> None:
    dataset = PartDataset.open(odd_sized_dataset)
    results = Predictor(model, predict_config(post_aware=True, partition=True), "cpu").predict_dataset(dataset, progress=False)
    for index, record in enumerate(dataset.images):
        segments = np.stack([mask_io.decode(r["partition"]) for r in results if r["image_id"] == record["id"]])
        assert segments.sum(axis=0).max() == 1  # disjoint
        np.testing.assert_array_equal(segments.any(axis=0), dataset.object_mask(index))  # the whole object, nothing else


def test_without_partition_predictions_carry_masks_only(model, odd_sized_dataset: Path) -> None:
    dataset = PartDataset.open(odd_sized_dataset)
    results = Predictor(model, predict_config(partition=False), "cpu").predict_dataset(dataset, progress=False)
    assert results and all("partition" not in r for r in results)
