"""Which prediction settings are fastest on this machine, against the plain forward.

    python -m benchmarks.prediction_settings --sizes 256 512 --threads 8 16 --device cpu

`benchmarks/model_speed.py` times the preset's prediction settings; this times every
combination of thread count, batch size, channels-last, precision (bf16 only where it is native)
and deformable attention (ours or transformers'), each as images/s over the plain transformers
forward (fp32, channels-first, one image at a time, the machine's default threads). The plain
forward is timed before and after the settings, and the ratios are over the mean of the two, so
a machine whose speed drifts during the run shows it. Each row's batch runs whole
(`predict.cpu_batch_pixels` off). A deployment reads its best row off the table and sets
`predict.batch_size` or `predict.cpu_batch_pixels`, `predict.channels_last` and
`predict.precision` (and the process's threads) to match.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import sys
import time
from dataclasses import dataclass

import torch

from benchmarks.model_speed import add_preset_arguments, chosen_device, device_name, plain_forward_images_per_second
from openparts.config import resolve
from openparts.cpus import keep_freed_memory
from openparts.engine.precision import native_bf16
from openparts.engine.predict import Predictor
from openparts.model import build_model, deformable_attention

log = logging.getLogger("benchmarks.prediction_settings")


@dataclass(frozen=True)
class Setting:
    threads: int
    batch_size: int
    channels_last: bool
    precision: str
    attention: str  # "ours" or "transformers"

    def cells(self) -> list[str]:
        return [str(self.threads), str(self.batch_size), "yes" if self.channels_last else "no", self.precision, self.attention]


def settings(threads: list[int], batch_sizes: list[int], device: torch.device) -> list[Setting]:
    precisions = ("bf16", "fp32") if native_bf16(device) else ("fp32",)  # emulated bf16 is tens of times slower
    combinations = itertools.product(threads, batch_sizes, (True, False), precisions, ("ours", "transformers"))
    return [Setting(*combination) for combination in combinations]


def images_per_second(
    model: torch.nn.Module, predict_config: dict, setting: Setting, size: int, images: int, device: torch.device
) -> float:
    """Our Predictor under `setting`, on random images of `size` px, after a warm-up batch."""
    config = {**predict_config, "shortest_edge": size, "max_size": size, "batch_size": setting.batch_size}
    config.update(channels_last=setting.channels_last, precision=setting.precision, cpu_batch_pixels=0)  # the row's batch runs whole
    pictures = [torch.randint(0, 255, (size, size, 3), dtype=torch.uint8).numpy() for _ in range(images)]
    objects = [None] * images
    attention = deformable_attention.unoptimised() if setting.attention == "transformers" else contextlib.nullcontext()
    default_threads = torch.get_num_threads()
    torch.set_num_threads(setting.threads)
    try:
        with attention:
            predictor = Predictor(model, config, device)
            predictor.predict_batch(pictures[: setting.batch_size], objects[: setting.batch_size])
            start = time.perf_counter()
            for offset in range(0, images, setting.batch_size):
                predictor.predict_batch(pictures[offset : offset + setting.batch_size], objects[offset : offset + setting.batch_size])
            return images / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(default_threads)


def table(size: int, baseline: float, timed: list[tuple[Setting, float]]) -> str:
    header = ["threads", "batch", "channels-last", "precision", "attention", "images/s", "ratio"]
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    for setting, speed in sorted(timed, key=lambda pair: -pair[1]):
        lines.append(f"| {' | '.join([*setting.cells(), f'{speed:.2f}', f'{speed / baseline:.2f}x'])} |")
    return f"{size} px, over the plain forward's {baseline:.2f} images/s:\n" + "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_preset_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--images", type=int, default=8, help="images timed per setting and for the plain forward")
    parser.add_argument("--threads", type=int, nargs="+", help="thread counts to try (default: torch's, this machine's cores)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    keep_freed_memory()  # as the openparts command does: both sides of each ratio run with it
    device = chosen_device(args.device)
    config = resolve(args.preset, args.overrides)
    threads = args.threads or [torch.get_num_threads()]
    log.info(
        "preset %s on %s (default %d threads; native bf16: %s)",
        args.preset,
        device_name(device),
        torch.get_num_threads(),
        native_bf16(device),
    )
    for size in args.sizes:
        torch.manual_seed(0)
        model = build_model(config["model"]).to(device).eval()
        before = plain_forward_images_per_second(model, size, args.images, device)
        timed = [
            (setting, images_per_second(model, config["predict"], setting, size, args.images, device))
            for setting in settings(threads, args.batch_sizes, device)
        ]
        after = plain_forward_images_per_second(model, size, args.images, device)
        log.info("%d px: plain forward %.2f images/s before the settings, %.2f after", size, before, after)
        log.info("%s", table(size, (before + after) / 2, timed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
