"""K-means for pseudo parts: openparts' batched torch K-means vs scikit-learn, same CPU, same run;
on a machine with a GPU, ours on the GPU too (the copy to it timed), against the same baseline.

    python benchmarks/kmeans_speed.py [--images 64 --pixels 4096 --dims 256 --k 10]

Data: per image, L2-normalised features drawn around 12 random directions (what mask
features inside an object look like to K-means: a few part-like modes plus noise).
scikit-learn runs KMeans(k, init="k-means++", n_init=1) image by image, as a per-image
reference must; ours clusters all images in one call. Prints both times, the speed-up and
the ratio of total inertia (ours / scikit-learn; below 1.01 means no worse than 1% above).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time

import torch

from openparts.clustering import kmeans

log = logging.getLogger("benchmarks.kmeans_speed")


def features(images: int, pixels: int, dims: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    modes = torch.nn.functional.normalize(torch.randn(images, 12, dims, generator=generator), dim=-1)
    which = torch.randint(0, 12, (images, pixels), generator=generator)
    noise = torch.randn(images, pixels, dims, generator=generator) / dims**0.5
    return torch.nn.functional.normalize(modes[torch.arange(images)[:, None], which] + noise, dim=-1)


def main() -> int:
    from sklearn.cluster import KMeans

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--pixels", type=int, default=4096)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    points = features(args.images, args.pixels, args.dims)
    devices = [torch.device("cpu"), *([torch.device("cuda")] if torch.cuda.is_available() else [])]
    for device in devices:
        kmeans(points[:2].to(device), args.k)  # warm-up (on CUDA: its context and kernels)
    ours_times: dict[torch.device, list[float]] = {device: [] for device in devices}
    ours: dict[torch.device, float] = {}
    reference_times = []
    for _ in range(args.repeats):  # the median of a few runs: this machine's timings wander by 20%
        for device in devices:
            start = time.perf_counter()
            on_device = points.to(device)
            ours[device] = kmeans(on_device, args.k, generator=torch.Generator(device=device).manual_seed(0)).inertia.sum().item()
            ours_times[device].append(time.perf_counter() - start)  # .item() waits for the GPU
        start = time.perf_counter()
        reference = sum(
            KMeans(args.k, init="k-means++", n_init=1, random_state=index).fit(points[index].numpy()).inertia_
            for index in range(args.images)
        )
        reference_times.append(time.perf_counter() - start)
    reference_seconds = statistics.median(reference_times)
    log.info("%d images x %d pixels x %d dims, K = %d, %d threads", args.images, args.pixels, args.dims, args.k, torch.get_num_threads())
    log.info("scikit-learn KMeans (baseline)  %.2f s", reference_seconds)
    for device in devices:
        seconds, name = statistics.median(ours_times[device]), torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
        log.info(
            "openparts kmeans on %s: %.3f s  (%.1fx faster; inertia ratio %.4f)",
            name,
            seconds,
            reference_seconds / seconds,
            ours[device] / reference,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
