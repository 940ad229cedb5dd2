"""The supervised training loop: AdamW, warm-up and step decay, clipping, AMP, checkpoints, DDP.

Checkpoints go to `<out>.checkpoints/step_NNNNNNN/`, each a complete model folder plus
`train_state.pt` (optimizer, scheduler, step, RNG states), written atomically. Rerunning the
same command resumes from the newest complete checkpoint; together with the step-seeded data
order (engine/data.py) a resumed CPU run ends with the same weights as an uninterrupted one.
When training ends, the final model folder is written atomically at `<out>`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from openparts import atomic
from openparts.engine import distributed
from openparts.engine.callbacks import NoTracking, TrainingCallback
from openparts.engine.data import training_loader
from openparts.engine.precision import training_autocast
from openparts.engine.schedule import build_scheduler
from openparts.model import checkpoint
from openparts.model.segmenter import PartSegmenter

log = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^step_(\d{7})$")
TRAIN_STATE_FILE = "train_state.pt"


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; training stops at once instead of corrupting weights."""


@dataclass
class TrainResult:
    model_dir: Path
    steps: int
    seconds: float
    resumed_from: int | None
    history: list[dict[str, float]] = field(default_factory=list)


TIMING_KEYS = frozenset({"seconds_per_step", "images_per_second", "peak_gpu_memory_gib"})


def checkpoint_dir_for(out_dir: Path) -> Path:
    return out_dir.parent / f"{out_dir.name}.checkpoints"


def latest_checkpoint(out_dir: Path, folder: Path | None = None) -> tuple[int, Path] | None:
    folder = folder or checkpoint_dir_for(out_dir)
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name)) and p.is_dir()]
    return max(found) if found else None


def parameter_groups(model: PartSegmenter, train_config: dict[str, Any]) -> list[dict[str, Any]]:
    """Backbone at lr x multiplier; no weight decay on normalisation layers and query embeddings
    (as the official Mask2Former solver does)."""
    backbone = model.mask2former.model.pixel_level_module.encoder
    backbone_ids = {id(p) for p in backbone.parameters()}
    no_decay_ids = set()
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.Embedding)):
            no_decay_ids.update(id(p) for p in module.parameters(recurse=False))
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for parameter in model.parameters():
        if parameter.requires_grad:
            groups.setdefault((id(parameter) in backbone_ids, id(parameter) in no_decay_ids), []).append(parameter)
    learning_rate = train_config["learning_rate"]
    return [
        {
            "params": params,
            "lr": learning_rate * (train_config["backbone_lr_multiplier"] if in_backbone else 1.0),
            "weight_decay": 0.0 if no_decay else train_config["weight_decay"],
        }
        for (in_backbone, no_decay), params in sorted(groups.items())
    ]


def freeze_backbone_batchnorm(model: PartSegmenter) -> None:
    """Pretrained backbones keep their BatchNorm statistics (detectron2's FrozenBN)."""
    for module in model.mask2former.model.pixel_level_module.encoder.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
            for parameter in module.parameters():
                parameter.requires_grad_(False)


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Runs `iterations` optimisation steps of `model` on `dataset` and writes the model folder."""

    def __init__(
        self,
        model: PartSegmenter,
        dataset: Dataset,
        config: dict[str, Any],
        out_dir: str | os.PathLike[str],
        callback: TrainingCallback | None = None,
        description: dict[str, Any] | None = None,
        objective: nn.Module | None = None,
        collate: Any = None,
        samples_per_item: int = 1,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        freeze_batchnorm: bool = False,
    ) -> None:
        """`objective` (a module holding `model`) replaces the model's own loss, e.g. the joint
        fine-tuning loss; `collate` and `samples_per_item` describe datasets whose items hold
        several samples (a supervised and a pseudo-part one), so that a batch still has
        `train.batch_size` images. `checkpoint_dir` defaults to `<out_dir>.checkpoints`; a
        caller that builds `out_dir` in a temporary folder passes a stable one, so that a rerun
        after a kill still finds them. `freeze_batchnorm` keeps the backbone's BatchNorm as it
        is (statistics and weights), as `model.backbone.freeze_batchnorm` does for a whole training."""
        self.objective = objective
        self.collate = collate
        self.samples_per_item = samples_per_item
        self.model = model
        self.dataset = dataset
        self.config = config
        self.train_config = config["train"]
        self.out_dir = Path(out_dir)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else checkpoint_dir_for(self.out_dir)
        self.callback = callback or NoTracking()
        self.description = description or {}
        self.history: list[dict[str, float]] = []
        # .get: a model saved before the key existed trained without freezing
        self.freeze_batchnorm = freeze_batchnorm or bool(model.model_config["backbone"].get("freeze_batchnorm"))

    def train(self) -> TrainResult:
        device = distributed.setup_from_environment()
        if self.train_config["threads"]:
            torch.set_num_threads(self.train_config["threads"])
        torch.manual_seed(self.train_config["seed"])
        model = self.model.to(device)
        optimizer = torch.optim.AdamW(parameter_groups(model, self.train_config), lr=self.train_config["learning_rate"])
        scheduler = build_scheduler(optimizer, self.train_config)
        start_step, resumed_from = 0, None
        found = latest_checkpoint(self.out_dir, self.checkpoint_dir)
        if found is not None:
            start_step = resumed_from = self._resume(found[1], optimizer, scheduler)
        engine = self.objective.to(device) if self.objective is not None else model
        if distributed.world_size() > 1:
            engine = nn.parallel.DistributedDataParallel(engine, device_ids=[device.index] if device.type == "cuda" else None)
        self.callback.on_train_start(self.config)
        started = time.perf_counter()
        try:
            step = self._loop(engine, model, optimizer, scheduler, start_step, device, started)
        except BaseException:
            self.callback.on_train_end("FAILED")
            raise
        seconds = time.perf_counter() - started
        distributed.broadcast_buffers(model)
        if distributed.is_main_process():
            # only what the run's inputs determine: a resumed run writes the same bytes as an uninterrupted one
            # (wall times and throughput go to the log, MLflow and the stage's manifest)
            history = [{k: v for k, v in entry.items() if k not in TIMING_KEYS} for entry in self.history]
            extra = {**self.description, "config": self.config, "training": {"steps": step, "history": history}}
            checkpoint.save_model(model, self.out_dir, extra)
            log.info("wrote %s after %d steps in %.0f s", self.out_dir, step, seconds)
        distributed.barrier()
        self.callback.on_train_end("FINISHED")
        return TrainResult(self.out_dir, step, seconds, resumed_from, self.history)

    def _loop(self, engine, model, optimizer, scheduler, start_step: int, device: torch.device, started: float) -> int:
        cfg = self.train_config
        iterations = cfg["iterations"]
        if cfg["batch_size"] % self.samples_per_item:
            raise ValueError(f"train.batch_size {cfg['batch_size']} must be a multiple of {self.samples_per_item} (samples per item)")
        loader = training_loader(
            self.dataset,
            cfg["batch_size"] // self.samples_per_item,
            cfg["seed"],
            start_step,
            cfg["num_workers"],
            distributed.rank(),
            distributed.world_size(),
            collate=self.collate,
        )
        use_amp = training_autocast(device, cfg["mixed_precision"])
        model.train()
        if self.freeze_batchnorm:
            freeze_backbone_batchnorm(model)
        parameters = [p for p in model.parameters() if p.requires_grad]
        # a terminal gets the bar; a log (a KFP pod, CI, nohup) gets a line every log_every steps
        # instead of redraws that pile up into one endless line (tqdm's disable=None: off without a TTY)
        progress = tqdm(
            total=iterations, initial=start_step, desc="train", unit="step", disable=True if not distributed.is_main_process() else None
        )
        step = start_step
        window_start, window_steps = time.perf_counter(), 0
        batches = iter(loader)
        while step < iterations:
            if cfg["max_minutes"] and (time.perf_counter() - started) > 60 * cfg["max_minutes"]:
                log.warning("stopping at step %d: the time budget of %.1f minutes is spent", step, cfg["max_minutes"])
                break
            inputs, targets = next(batches)
            inputs = inputs.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                output = engine(inputs, targets)
            loss = output.loss
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"loss is {loss.item()} at step {step}: stopping before the weights are corrupted")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg["clip_gradient_norm"] > 0:
                nn.utils.clip_grad_norm_(parameters, cfg["clip_gradient_norm"])
            optimizer.step()
            scheduler.step()
            step += 1
            window_steps += 1
            progress.update(1)
            if step % cfg["log_every"] == 0 or step == iterations:
                elapsed = time.perf_counter() - window_start
                metrics = {
                    "loss": float(loss.detach()),
                    **(output.losses or {}),
                    "learning_rate": max(group["lr"] for group in optimizer.param_groups),
                    "seconds_per_step": elapsed / window_steps,
                    "images_per_second": window_steps * inputs.shape[0] * distributed.world_size() / elapsed,
                }
                if device.type == "cuda":
                    metrics["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
                progress.set_postfix(loss=f"{metrics['loss']:.3f}", img_s=f"{metrics['images_per_second']:.2f}")
                if progress.disable and distributed.is_main_process():
                    log.info(
                        "train step %d/%d: loss %.3f, %.2f images/s, about %.0f min left",
                        step,
                        iterations,
                        metrics["loss"],
                        metrics["images_per_second"],
                        (iterations - step) * metrics["seconds_per_step"] / 60,
                    )
                self.history.append({"step": step, **{k: round(v, 6) for k, v in metrics.items()}})
                self.callback.on_metrics(step, metrics)
                window_start, window_steps = time.perf_counter(), 0
            if step % cfg["checkpoint_every"] == 0 and step < iterations:
                self._save_checkpoint(model, optimizer, scheduler, step)
        progress.close()
        return step

    def _save_checkpoint(self, model, optimizer, scheduler, step: int) -> None:
        if distributed.is_main_process():
            folder = self.checkpoint_dir
            with atomic.atomic_directory(folder / f"step_{step:07d}", overwrite=True) as staging:
                checkpoint.write_model_files(model, staging, {**self.description, "config": self.config})
                state = {
                    "step": step,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": _rng_state(),
                    "history": [{k: int(v) if k == "step" else float(v) for k, v in entry.items()} for entry in self.history],
                }
                checkpoint.save_train_state(staging / TRAIN_STATE_FILE, state)
            keep = max(1, self.train_config["keep_checkpoints"])
            for old in sorted(p for p in folder.iterdir() if CHECKPOINT_PATTERN.match(p.name))[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
            atomic.remove_stale_temporaries(folder)
        distributed.barrier()

    def _resume(self, folder: Path, optimizer, scheduler) -> int:
        description = checkpoint.read_description(folder)
        saved_model = description.get("config", {}).get("model")
        if saved_model is not None and _comparable(saved_model) != _comparable(self.config["model"]):
            raise checkpoint.CheckpointError(
                folder, "was written with another model configuration; delete the checkpoints folder to start afresh"
            )
        # the scheduler's state carries its milestones: resuming a run of other length or learning
        # rate would silently go on with the old schedule
        saved_train = description.get("config", {}).get("train")
        if saved_train is not None:
            changed = sorted(k for k in _schedule(self.train_config) if _schedule(saved_train).get(k) != self.train_config[k])
            if changed:
                differences = ", ".join(f"{k}: {saved_train.get(k)!r} -> {self.train_config[k]!r}" for k in changed)
                raise checkpoint.CheckpointError(
                    folder, f"was written with other training settings ({differences}); delete the checkpoints folder to start afresh"
                )
        # a fine-tuning's own settings (its losses' weights, frozen BatchNorm, ...) are in its description
        saved_finetune, finetune = description.get("finetune"), self.description.get("finetune")
        if saved_finetune is not None and finetune is not None and saved_finetune != finetune:
            changed = sorted(k for k in finetune if saved_finetune.get(k) != finetune[k])
            differences = ", ".join(f"{k}: {saved_finetune.get(k)!r} -> {finetune[k]!r}" for k in changed)
            raise checkpoint.CheckpointError(
                folder, f"was written with other fine-tuning settings ({differences}); delete the checkpoints folder to start afresh"
            )
        checkpoint.load_weights(self.model, folder)
        state = checkpoint.load_train_state(folder / TRAIN_STATE_FILE)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _restore_rng(state["rng"])
        self.history = [dict(entry) for entry in state.get("history", [])]
        log.info("resuming from %s (step %d)", folder, state["step"])
        return int(state["step"])


# train keys that only say how the run is operated, not what it computes
_OPERATIONAL = frozenset({"checkpoint_every", "keep_checkpoints", "log_every", "num_workers", "threads", "max_minutes"})


def _schedule(train_config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in train_config.items() if k not in _OPERATIONAL}


def _comparable(model_config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a model configuration that change the weights' shapes or meaning."""
    config = dict(model_config)
    config["backbone"] = {k: v for k, v in config["backbone"].items() if k != "pretrained"}
    return config
