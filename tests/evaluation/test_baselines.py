import numpy as np
import pytest

from openparts.data import synth
from openparts.data.dataset import PartDataset
from openparts.evaluation import baselines
from openparts.evaluation.baselines import METHODS, predict_baseline, segment_object, tune


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> PartDataset:
    return PartDataset.open(synth.generate(tmp_path_factory.mktemp("b") / "d", count=3, seed=2, size=96))


@pytest.mark.parametrize("method", sorted(METHODS))
def test_segments_never_leave_the_object(objects: PartDataset, method: str) -> None:
    for index in range(len(objects)):
        object_mask = objects.object_mask(index)
        segments = segment_object(method, objects.read_image(index), object_mask)
        assert segments
        for segment in segments:
            assert not (segment.mask & ~object_mask).any()
        assert [s.score for s in segments] == sorted((s.score for s in segments), reverse=True)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_segments_are_the_same_on_every_run(objects: PartDataset, method: str) -> None:
    """The stage contract: deterministic on CPU. NCut's eigen-solver starts from a random vector."""
    runs = [segment_object(method, objects.read_image(i), objects.object_mask(i)) for _ in range(3) for i in range(len(objects))]
    first, second, third = (runs[k * len(objects) : (k + 1) * len(objects)] for k in range(3))
    for a, b, c in zip(first, second, third, strict=True):
        assert [s.score for s in a] == [s.score for s in b] == [s.score for s in c]
        assert all(np.array_equal(x.mask, y.mask) and np.array_equal(x.mask, z.mask) for x, y, z in zip(a, b, c, strict=True))


def test_matched_segment_count_keeps_the_largest(objects: PartDataset) -> None:
    image, object_mask = objects.read_image(0), objects.object_mask(0)
    everything = segment_object("felzenszwalb", image, object_mask, scale=50.0)
    limited = segment_object("felzenszwalb", image, object_mask, max_segments=2, scale=50.0)
    assert len(limited) == min(2, len(everything)) and limited[0].score == everything[0].score


def test_empty_object_gives_no_segments() -> None:
    assert segment_object("slic", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool)) == []


def test_tuning_uses_only_the_given_dev_images(objects: PartDataset) -> None:
    best, scores = tune(objects, "slic", [0, 1])
    assert best in [{"n_segments": n} for n in (4, 8, 12, 16, 24, 32)]
    assert len(scores) == 6
    predictions = predict_baseline(objects, "slic", best, [2], progress=False)
    assert {p["image_id"] for p in predictions} == {objects.images[2]["id"]}


def test_unknown_baseline_is_rejected() -> None:
    with pytest.raises(ValueError, match="choose one of slic, felzenszwalb, ncut"):
        segment_object("watershed", np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), bool))


@pytest.mark.parametrize("method", sorted(METHODS))
def test_images_segmented_side_by_side_give_the_results_of_one_process(objects: PartDataset, method: str) -> None:
    alone = predict_baseline(objects, method, progress=False, workers=1)
    side_by_side = predict_baseline(objects, method, progress=False, workers=2)
    assert {p["image_id"] for p in alone} == {image["id"] for image in objects.images}
    assert side_by_side == alone  # same segments, scores and order: image by image, in the dataset's order


def test_an_unknown_baseline_is_rejected_before_any_worker_starts(objects: PartDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started for an unknown baseline")

    monkeypatch.setattr(baselines, "ProcessPoolExecutor", no_pool)
    with pytest.raises(ValueError, match="unknown baseline 'watershed'"):
        predict_baseline(objects, "watershed", progress=False, workers=2)
