from __future__ import annotations

from pathlib import Path

import torch

from openparts.config import resolve
from openparts.engine.supervised import training_datasets


def test_training_data_jitters_the_object_channel_only_when_configured(tiny_dataset: Path) -> None:
    plain = training_datasets([tiny_dataset], resolve("tiny"), ["part"]).datasets[0]
    assert plain.object_mask_jitter is None
    config = resolve("tiny", ["train.object_mask_jitter=1.0", "train.scale_range=[1.0, 1.0]", "train.horizontal_flip=false"])
    jittered = training_datasets([tiny_dataset], config, ["part"]).datasets[0]
    assert jittered.object_mask_jitter is not None and jittered.object_mask_jitter.probability == 1.0
    torch.manual_seed(0)
    inputs, target = jittered[0]
    assert not torch.equal(inputs[3].bool(), target["object_mask"])
