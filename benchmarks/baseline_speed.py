"""The classical baselines of evaluation (SLIC, Felzenszwalb, NCut): images segmented side by side
in worker processes vs one after another, same images, same run.

    python benchmarks/baseline_speed.py [--images 8] [--workers N] [--data DATASET ...]
    python benchmarks/baseline_speed.py --images 0 --data outputs/quality/data/eval/*   # bench-quality's six sets, whole

Evaluation segments every evaluation set with each baseline, and NCut takes seconds per image on
one core, so on a set of thousands of images it is the slowest part of the evaluation stage.
Data: the first `--images` (0: all) of each dataset given, by default car-parts test as
bench-quality converts it (outputs/quality/data/eval/carparts-test) when there, else synthetic
objects. Prints each method's seconds both ways per dataset, the speed-up, whether the results
are identical, and the totals.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from openparts.cpus import available_cpus
from openparts.data import synth
from openparts.data.dataset import PartDataset
from openparts.evaluation.baselines import METHODS, predict_baseline

log = logging.getLogger("benchmarks.baseline_speed")
REAL = Path("outputs/quality/data/eval/carparts-test")
PARAMS = {"slic": {"n_segments": 8}, "felzenszwalb": {"scale": 1600.0}, "ncut": {"threshold": 0.01}}  # bench-quality's tuned ones


def timed(dataset: PartDataset, method: str, indices: list[int], workers: int) -> tuple[float, list]:
    start = time.perf_counter()
    results = predict_baseline(dataset, method, PARAMS[method], indices, progress=False, workers=workers)
    return time.perf_counter() - start, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8, help="images of each dataset, from its first; 0: all (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=available_cpus(), help="worker processes (default: the CPUs available, %(default)s)")
    parser.add_argument("--data", type=Path, nargs="+", default=[REAL], help="dataset folders (default: %(default)s, else synthetic)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    totals = {"one process": 0.0, "workers": 0.0}
    with tempfile.TemporaryDirectory() as scratch:
        datasets = [PartDataset.open(folder) for folder in args.data if folder.is_dir()]
        if not datasets:
            log.info("%s not found: synthetic objects instead", ", ".join(map(str, args.data)))
            datasets = [PartDataset.open(synth.generate(Path(scratch) / "objects", args.images or 8, seed=0, size=256))]
        for dataset in datasets:
            indices = list(range(len(dataset) if args.images == 0 else min(args.images, len(dataset))))
            log.info("%d images of %s, %d workers", len(indices), dataset.root, args.workers)
            for index in indices:  # read once, so that the first timing does not pay for the disk cache alone
                dataset.read_image(index)
                dataset.object_mask(index)
            for method in METHODS:
                alone, expected = timed(dataset, method, indices, 1)
                side_by_side, results = timed(dataset, method, indices, args.workers)
                totals["one process"] += alone
                totals["workers"] += side_by_side
                log.info(
                    "  %-12s one process %6.1f s, %d workers %6.1f s: %.2fx; results %s",
                    method,
                    alone,
                    args.workers,
                    side_by_side,
                    alone / side_by_side,
                    "identical" if results == expected else "DIFFER",
                )
    log.info(
        "all: one process %.2f min, %d workers %.2f min: %.2fx",
        totals["one process"] / 60,
        args.workers,
        totals["workers"] / 60,
        totals["one process"] / totals["workers"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
