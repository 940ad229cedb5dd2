"""`openparts` with a fault injected, for the kill tests: the process SIGKILLs itself at a chosen
point, as the OOM killer or a preempted node would, with no chance to clean up.

  OPENPARTS_KILL_AT_STEP=k         after the k-th optimizer step of this process
  OPENPARTS_KILL_IN_CHECKPOINT=1   while a training checkpoint is being written (files there, not yet renamed)
  OPENPARTS_KILL_AT_WRITE=n        just before the n-th file write (any stage: images, masks, JSON)
"""

import os
import signal
import sys

import torch

from openparts import atomic, cli
from openparts.model import checkpoint


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_at_step(step: int) -> None:
    original = torch.optim.AdamW.step
    done = {"steps": 0}

    def step_then_maybe_die(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        done["steps"] += 1
        if done["steps"] == step:
            die()
        return result

    torch.optim.AdamW.step = step_then_maybe_die


def kill_in_checkpoint() -> None:
    original = checkpoint.save_train_state

    def save_then_die(path, state):
        original(path, state)
        die()

    checkpoint.save_train_state = save_then_die


def kill_at_write(count: int) -> None:
    original = atomic.atomic_open
    seen = {"writes": 0}

    def open_or_die(path, mode="wb"):
        seen["writes"] += 1
        if seen["writes"] == count:
            die()
        return original(path, mode)

    atomic.atomic_open = open_or_die


if __name__ == "__main__":
    if os.environ.get("OPENPARTS_KILL_AT_STEP"):
        kill_at_step(int(os.environ["OPENPARTS_KILL_AT_STEP"]))
    if os.environ.get("OPENPARTS_KILL_IN_CHECKPOINT"):
        kill_in_checkpoint()
    if os.environ.get("OPENPARTS_KILL_AT_WRITE"):
        kill_at_write(int(os.environ["OPENPARTS_KILL_AT_WRITE"]))
    sys.exit(cli.main(sys.argv[1:]))
