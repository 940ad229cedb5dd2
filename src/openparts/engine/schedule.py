"""Learning-rate schedule: linear warm-up, then x`decay_factor` at fractions of training.

The paper decays by 10 at 60k and 80k of 90k iterations, i.e. at 2/3 and 8/9 of training;
expressing the steps as fractions keeps that shape for any number of iterations.
"""

from __future__ import annotations

import torch


def lr_factor(step: int, iterations: int, warmup_iterations: int, decay_at: list[float], decay_factor: float) -> float:
    factor = 1.0
    if warmup_iterations > 0 and step < warmup_iterations:
        factor = 0.1 + 0.9 * step / warmup_iterations
    for fraction in decay_at:
        if step >= int(fraction * iterations):
            factor *= decay_factor
    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, train_config: dict) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(
            step,
            train_config["iterations"],
            train_config["warmup_iterations"],
            list(train_config["lr_decay_at"]),
            train_config["lr_decay_factor"],
        ),
    )
