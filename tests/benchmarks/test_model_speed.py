import torch

from benchmarks import model_speed
from openparts.config import resolve


def test_ours_and_the_plain_forward_alternate_and_the_median_ratio_is_reported(monkeypatch) -> None:
    """Each round times ours, then the plain forward: the ratio of a round compares timings taken
    seconds apart, and the reported ratio is the median of the rounds'."""
    order: list[str] = []
    plain = iter([1.0, 4.0, 2.0])
    monkeypatch.setattr(model_speed, "plain_forward_images_per_second", lambda *args: order.append("plain") or next(plain))
    run_batch = model_speed.Predictor.predict_batch
    monkeypatch.setattr(model_speed.Predictor, "predict_batch", lambda self, *args: order.append("ours") or run_batch(self, *args))
    speed = model_speed.prediction_speed(resolve("tiny"), 64, 2, torch.device("cpu"), rounds=3)
    batches = -(-2 // resolve("tiny")["predict"]["batch_size"])
    assert order == ["ours"] + (["ours"] * batches + ["plain"]) * 3  # a warm-up call, then the rounds
    assert len(speed.ratios) == 3 and speed.plain == 2.0
    assert speed.ratio == sorted(speed.ratios)[1]
