"""Training and prediction speed of each backbone, beside the preset's ResNet (ResNet-18 in `cpu`).

    python -m benchmarks.backbone_speed                       # every backbone, 256 and 512 px
    python -m benchmarks.backbone_speed --data outputs/carparts/data/train --sizes 256

For each backbone (`openparts.model.backbones`; `resnet` is shaped as the preset says) the rest of the
model is the preset's. Training: seconds per step at the preset's batch (synthetic 256 px batches,
or the trainer's own crops of --data), under the trainer's precision. Prediction: images/s of the
Predictor at each size. The backbones take turns within each of --rounds rounds and the median per
backbone is printed with its ratio to the ResNet's median: timings taken minutes apart on a shared
2-core machine moved by a fifth, turns within a round much less.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.model_speed import chosen_device, dataset_batches, device_name, synthetic_batches, training_step_seconds
from openparts.config import resolve
from openparts.cpus import keep_freed_memory
from openparts.engine.predict import Predictor
from openparts.model import build_model, input_channels
from openparts.model.backbones import NAMES

log = logging.getLogger("benchmarks.backbone_speed")
REFERENCE = "resnet"


def backbone_config(preset: str, name: str, overrides: list[str]) -> dict:
    """The preset with `name` as its backbone, random weights: speed does not depend on them."""
    return resolve(preset, [*overrides, f"model.backbone.name={name}", "model.backbone.pretrained=null"])


def prediction_images_per_second(config: dict, size: int, images: int, device: torch.device) -> float:
    model = build_model(config["model"]).to(device).eval()
    pictures = [torch.randint(0, 255, (size, size, 3), dtype=torch.uint8).numpy() for _ in range(images)]
    objects = [None] * images
    predictor = Predictor(model, {**config["predict"], "shortest_edge": size, "max_size": size}, device)
    batch = config["predict"]["batch_size"]
    predictor.predict_batch(pictures[:batch], objects[:batch])  # warm-up
    start = time.perf_counter()
    for offset in range(0, images, batch):
        predictor.predict_batch(pictures[offset : offset + batch], objects[offset : offset + batch])
    return images / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a preset key")
    parser.add_argument("--backbones", nargs="+", choices=NAMES, default=list(NAMES))
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="prediction sizes (training: the crop size)")
    parser.add_argument("--steps", type=int, default=5, help="training steps timed per backbone and round")
    parser.add_argument("--images", type=int, default=8, help="images predicted per backbone, size and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, help="time training on the trainer's crops of this dataset")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    keep_freed_memory()
    device = chosen_device(args.device)
    names = [REFERENCE, *(name for name in args.backbones if name != REFERENCE)]
    configs = {name: backbone_config(args.preset, name, args.overrides) for name in names}
    crop = configs[REFERENCE]["train"]["crop_size"]
    log.info("preset %s on %s, %d threads, %d rounds", args.preset, device_name(device), torch.get_num_threads(), args.rounds)
    training: dict[str, list[float]] = {name: [] for name in names}
    prediction: dict[tuple[str, int], list[float]] = {(name, size): [] for name in names for size in args.sizes}
    for round_index in range(args.rounds):
        for name, config in configs.items():
            if args.steps:
                batches = (
                    dataset_batches(config, args.data, device)
                    if args.data
                    else synthetic_batches(config, input_channels(config["model"]), crop, device)
                )
                training[name].append(training_step_seconds(config, batches, args.steps, device))
            for size in args.sizes:
                prediction[(name, size)].append(prediction_images_per_second(config, size, args.images, device))
        log.info("round %d of %d done", round_index + 1, args.rounds)
    report(names, training, prediction, args, crop, configs[REFERENCE]["train"]["batch_size"])
    return 0


def report(names, training, prediction, args, crop: int, batch: int) -> None:
    header = [f"train s/step ({crop} px, batch {batch})", *(f"predict img/s {size} px" for size in args.sizes)]
    lines = ["| backbone | " + " | ".join(header) + " |", "|---" * (1 + len(header)) + "|"]
    for name in names:
        cells = [name + (" (the preset's ResNet)" if name == REFERENCE else "")]
        if args.steps:
            ours, reference = statistics.median(training[name]), statistics.median(training[REFERENCE])
            cells.append(f"{ours:.2f} ({reference / ours:.2f}x)")
        else:
            cells.append("-")
        for size in args.sizes:
            ours, reference = statistics.median(prediction[(name, size)]), statistics.median(prediction[(REFERENCE, size)])
            cells.append(f"{ours:.2f} ({ours / reference:.2f}x)")
        lines.append("| " + " | ".join(cells) + " |")
    sys.stdout.write("speed relative to the preset's ResNet, measured in the same run (above 1x: faster)\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
