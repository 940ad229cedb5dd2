"""Training and prediction speed of a preset on this machine.

    python benchmarks/model_speed.py --preset cpu --sizes 256 512

Prints seconds per training step (batch of the preset) and images per second of prediction
at each size, beside the baseline measured in the same run: the plain transformers forward
pass (fp32, autograd on, one image at a time), which our Predictor replaces with batched,
inference-mode, channels-last execution in bf16 where the hardware has it natively
(`predict.precision: auto`). On CUDA it also reports peak GPU memory.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import torch

from openparts.config import resolve
from openparts.engine.predict import Predictor, inference_dtype, native_bf16
from openparts.model import build_model

log = logging.getLogger("benchmarks.model_speed")


def training_step_seconds(config: dict, size: int, steps: int, device: torch.device) -> float:
    model = build_model(config["model"]).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = config["train"]["batch_size"]
    inputs = torch.rand(batch, model.in_channels, size, size, device=device)
    masks = torch.zeros(6, size, size, dtype=torch.bool)
    for index in range(6):
        masks[index, index * size // 8 : (index + 2) * size // 8, size // 4 : 3 * size // 4] = True
    targets = [{"masks": masks, "labels": torch.zeros(6, dtype=torch.long)} for _ in range(batch)]
    use_amp = device.type == "cuda" and config["train"]["mixed_precision"]
    timings = []
    for step in range(steps + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = model(inputs, targets).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= 2:  # the first steps warm up allocators and kernels
            timings.append(time.perf_counter() - start)
    return sum(timings) / len(timings)


def prediction_images_per_second(config: dict, size: int, images: int, device: torch.device) -> tuple[float, float]:
    model = build_model(config["model"]).to(device).eval()
    pictures = [torch.randint(0, 255, (size, size, 3), dtype=torch.uint8).numpy() for _ in range(images)]
    objects = [None] * images
    predictor = Predictor(model, {**config["predict"], "shortest_edge": size, "max_size": size, "batch_size": 4}, device)
    predictor.predict_batch(pictures[:2], objects[:2])
    start = time.perf_counter()
    for offset in range(0, images, 4):
        predictor.predict_batch(pictures[offset : offset + 4], objects[offset : offset + 4])
    ours = images / (time.perf_counter() - start)
    plain = torch.rand(1, model.in_channels, size, size, device=device)
    model.mask2former(pixel_values=plain)
    start = time.perf_counter()
    for _ in range(images):
        model.mask2former(pixel_values=plain)
    if device.type == "cuda":
        torch.cuda.synchronize()
    baseline = images / (time.perf_counter() - start)
    return ours, baseline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a preset key")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = resolve(args.preset, args.overrides)
    log.info(
        "preset %s on %s (%d threads; native bf16: %s)",
        args.preset,
        torch.cuda.get_device_name() if device.type == "cuda" else "CPU",
        torch.get_num_threads(),
        native_bf16(device),
    )
    for size in args.sizes:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        step = training_step_seconds(config, size, args.steps, device)
        memory = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.type == "cuda" else ""
        log.info(
            "%d px: training %.2f s/step (batch %d, %.2f images/s)%s",
            size,
            step,
            config["train"]["batch_size"],
            config["train"]["batch_size"] / step,
            memory,
        )
        ours, baseline = prediction_images_per_second(config, size, args.images, device)
        dtype = inference_dtype(device, config["predict"]["precision"])
        log.info(
            "%d px: prediction %.2f images/s (%s, channels-last %s); plain transformers forward %.2f images/s; ratio %.2fx",
            size,
            ours,
            str(dtype).removeprefix("torch."),
            config["predict"]["channels_last"],
            baseline,
            ours / baseline,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
