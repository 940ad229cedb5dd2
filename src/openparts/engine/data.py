"""Deterministic, resumable data order: what step k sees never depends on restarts or workers.

Each global sample position p (step * global batch + rank * batch + i) maps to an image index
through a per-epoch permutation seeded by (seed, epoch) and to a sample seed (seed, p) that
seeds its augmentation. A run resumed at step k therefore sees exactly the batches an
uninterrupted run sees, whatever the number of data-loader workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from multiprocessing.context import BaseContext
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from openparts.cpus import fork_context
from openparts.data.torch_dataset import collate as collate_samples


class StepSampler(Sampler[tuple[int, int]]):
    """Yields (image index, sample seed) for this rank from `start_step` on, forever."""

    def __init__(self, size: int, batch_size: int, seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if size == 0:
            raise ValueError("cannot train on an empty dataset")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.start_step, self.rank, self.world_size = start_step, rank, world_size
        self._permutations: dict[int, np.ndarray] = {}

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._permutations:
            self._permutations = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.size)}
        return self._permutations[epoch]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        step = self.start_step
        global_batch = self.batch_size * self.world_size
        while True:
            for offset in range(self.batch_size):
                position = step * global_batch + self.rank * self.batch_size + offset
                epoch, within = divmod(position, self.size)
                sample_seed = int(np.random.default_rng([self.seed, position]).integers(2**31))
                yield int(self._permutation(epoch)[within]), sample_seed
            step += 1


class SeededSamples(Dataset):
    """Wraps a dataset so that each sample's random transforms are seeded by its sample seed."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, sample_seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed)
            return self.dataset[index]


def training_loader(
    dataset: Dataset,
    batch_size: int,
    seed: int,
    start_step: int,
    num_workers: int,
    rank: int = 0,
    world_size: int = 1,
    collate: Any = None,
) -> DataLoader:
    sampler = StepSampler(len(dataset), batch_size, seed, start_step, rank, world_size)
    return DataLoader(
        SeededSamples(dataset),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate or collate_samples,
        persistent_workers=num_workers > 0,
        multiprocessing_context=worker_context(num_workers),
        # the loader draws a base seed when iterated; from its own generator, not the global RNG
        # that the restored training state (and the loss's point sampling) depends on
        generator=torch.Generator().manual_seed(seed),
    )


def worker_context(num_workers: int) -> BaseContext | None:
    """The data loader's workers start by fork (cpus.fork_context); none without workers."""
    return fork_context() if num_workers > 0 else None


class PairedSamples(Dataset):
    """Items that pair a supervised sample with a pseudo-part sample: batches mixed evenly.

    Item i holds supervised[i mod S] and pseudo[(i * 7919) mod P] (a fixed stride coprime
    with most sizes, so the pairing is not the same in both lists' order); the length is the
    longer list's, so an epoch shows every sample of both at least once.
    """

    def __init__(self, supervised: Dataset, pseudo: Dataset) -> None:
        if len(supervised) == 0 or len(pseudo) == 0:
            raise ValueError("joint fine-tuning needs supervised samples and pseudo-part samples; one of them is empty")
        self.supervised, self.pseudo = supervised, pseudo

    def __len__(self) -> int:
        return max(len(self.supervised), len(self.pseudo))

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self.supervised[index % len(self.supervised)], self.pseudo[(index * 7919) % len(self.pseudo)]


def collate_pairs(batch: list[tuple[Any, Any]]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Supervised samples first, pseudo-part samples after: one input tensor, one target list."""
    supervised, pseudo = zip(*batch, strict=True)
    inputs, targets = collate_samples(list(supervised) + list(pseudo))
    return inputs, targets
