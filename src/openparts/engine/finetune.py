"""Joint fine-tuning (stage 2 of OPS): the base model adapted with unlabeled data.

Modes (Tables 3 and 4): ``st`` trains on labeled plus pseudo-labeled data with the supervised
loss alone; ``ss`` pairs labeled samples with pseudo-part samples under the supervised loss +
L_SS; ``ss+st`` pairs labeled and pseudo-labeled samples with pseudo-part samples. Every
batch in ss modes is half supervised, half pseudo parts. Checkpoints, exact resume and DDP
are the base trainer's. Several rounds of self-training regenerate the pseudo labels with the
model fine-tuned in the round before.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openparts.config import check
from openparts.data.torch_dataset import PartSegmentationDataset
from openparts.data.transforms import train_transforms
from openparts.engine.callbacks import TrainingCallback
from openparts.engine.data import PairedSamples, collate_pairs
from openparts.engine.joint import JointObjective
from openparts.engine.supervised import training_datasets
from openparts.engine.trainer import Trainer, TrainResult
from openparts.engine.unlabeled import generate_pseudo_labels
from openparts.losses import SelfSupervisedWeights
from openparts.model import load_model

log = logging.getLogger(__name__)


def finetune_config(config: dict[str, Any]) -> dict[str, Any]:
    """The training configuration of a fine-tuning run: `train` with `finetune`'s lr and length."""
    tuned = copy.deepcopy(config)
    section = tuned["finetune"]
    check("finetune.mode", section["mode"])
    check("finetune.clustering", section["clustering"])
    tuned["train"].update(
        learning_rate=section["learning_rate"], iterations=section["iterations"], warmup_iterations=section["warmup_iterations"]
    )
    return tuned


def finetune(
    base_model: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: dict[str, Any],
    labeled: Sequence[str | os.PathLike[str]] = (),
    pseudo_labeled: Sequence[str | os.PathLike[str]] = (),
    unlabeled: str | os.PathLike[str] | None = None,
    pseudo_parts: str | os.PathLike[str] | None = None,
    callback: TrainingCallback | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """One round of fine-tuning from `base_model` into `out_dir`."""
    tuned = finetune_config(config)
    section = tuned["finetune"]
    mode, online = section["mode"], section["clustering"] == "online"
    supervised_dirs = [*labeled, *(pseudo_labeled if "st" in mode else [])]
    if "st" in mode and not pseudo_labeled:
        raise ValueError(f"finetune.mode {mode} needs pseudo-labeled data (openparts pseudo-labels)")
    if not supervised_dirs:
        raise ValueError("fine-tuning needs labeled or pseudo-labeled data for the supervised loss")
    if "ss" in mode and unlabeled is None:
        raise ValueError(f"finetune.mode {mode} needs the unlabeled dataset for its pseudo parts")
    if "ss" in mode and not online and pseudo_parts is None:
        raise ValueError("offline clustering needs the pseudo parts (openparts cluster-features), or set finetune.clustering=online")
    model = load_model(base_model)
    model_config = model.model_config
    training_config = {**tuned, "model": model_config}
    class_names = model.description.get("part_classes", ["part"])
    _check_classes(model, class_names, supervised_dirs)
    supervised = training_datasets(supervised_dirs, training_config, class_names)
    description = {**model.description, "finetuned_from": str(Path(base_model)), "finetune": section}
    frozen = section["freeze_batchnorm"]
    if "ss" not in mode:
        return Trainer(
            model, supervised, training_config, out_dir, callback, description, checkpoint_dir=checkpoint_dir, freeze_batchnorm=frozen
        ).train()
    train = tuned["train"]
    pseudo = PartSegmentationDataset(
        unlabeled,
        train_transforms(train["crop_size"], tuple(train["scale_range"]), train["horizontal_flip"]),
        object_mask_channel=model.in_channels == 4,
        pseudo_parts=None if online else pseudo_parts,
    )
    weights = SelfSupervisedWeights(
        section["tau_contrast"], section["tau_affinity"], section["lambda_contrast"], section["lambda_affinity"]
    )
    objective = JointObjective(model, section["k"], weights, online)
    trainer = Trainer(
        model,
        PairedSamples(supervised, pseudo),
        training_config,
        out_dir,
        callback,
        description,
        objective=objective,
        collate=collate_pairs,
        samples_per_item=2,
        checkpoint_dir=checkpoint_dir,
        freeze_batchnorm=frozen,
    )
    return trainer.train()


def _check_classes(model, class_names: list[str], data_dirs: Sequence[str | os.PathLike[str]]) -> None:
    """A class-aware head can only learn the classes it was built with."""
    from openparts.data.dataset import PartDataset

    if model.num_classes != len(class_names):
        raise ValueError(f"the model's head has {model.num_classes} classes but its description lists {len(class_names)}")
    if model.num_classes == 1:
        return
    for data_dir in data_dirs:
        unknown = sorted(set(PartDataset.open(data_dir).part_classes) - set(class_names))
        if unknown:
            raise ValueError(f"{data_dir}: part classes {unknown[:10]} are not among the class-aware model's {len(class_names)} classes")


def self_training_rounds(
    base_model: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: dict[str, Any],
    labeled: Sequence[str | os.PathLike[str]],
    unlabeled: str | os.PathLike[str],
    first_pseudo_labels: str | os.PathLike[str] | None,
    pseudo_parts: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """`finetune.rounds` rounds: round r > 1 regenerates the pseudo labels with round r-1's model.

    Round r writes `<out_dir>.round<r>` (the last round writes `out_dir`), and its pseudo
    labels to `<out_dir>.round<r>-pseudo-labels`.
    """
    rounds = int(config["finetune"]["rounds"])
    if rounds < 1:
        raise ValueError(f"finetune.rounds must be at least 1, got {rounds}")
    if rounds > 1 and "st" in config["finetune"]["mode"] and unlabeled is None:
        raise ValueError("more than one round of self-training needs the unlabeled dataset to relabel")
    out = Path(out_dir)
    model_dir, labels_dir = Path(base_model), first_pseudo_labels
    result = None
    for round_number in range(1, rounds + 1):
        target = out if round_number == rounds else out.parent / f"{out.name}.round{round_number}"
        if round_number > 1 and "st" in config["finetune"]["mode"]:
            labels_dir = out.parent / f"{out.name}.round{round_number}-pseudo-labels"
            if not (labels_dir / "annotations.json").is_file():
                section = config["finetune"]
                generate_pseudo_labels(
                    load_model(model_dir),
                    unlabeled,
                    labels_dir,
                    config["predict"],
                    section["pseudo_label_score"],
                    masks=section["pseudo_label_masks"],
                )
        pseudo_labeled = [labels_dir] if labels_dir is not None else []
        result = finetune(model_dir, target, config, labeled, pseudo_labeled, unlabeled, pseudo_parts)
        model_dir = target
    assert result is not None
    return result
