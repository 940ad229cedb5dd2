"""The classical baselines of evaluation (SLIC, Felzenszwalb, NCut): images segmented side by side
in worker processes vs one after another, same images, same run.

    python benchmarks/baseline_speed.py [--images 8] [--workers N] [--data DATASET]

Evaluation segments every evaluation set with each baseline, and NCut takes seconds per image on
one core, so on a set of thousands of images it is the slowest part of the evaluation stage.
Data: the first `--images` of car-parts test as bench-quality converts it
(outputs/quality/data/eval/carparts-test) when there, else synthetic objects. Prints each
method's seconds both ways, the speed-up, and whether the results are identical.
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
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--workers", type=int, default=available_cpus(), help="worker processes (default: the CPUs available, %(default)s)")
    parser.add_argument("--data", type=Path, default=REAL, help="a dataset folder (default: %(default)s, else synthetic objects)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as scratch:
        if args.data.is_dir():
            dataset = PartDataset.open(args.data)
        else:
            log.info("%s not found: synthetic objects instead", args.data)
            dataset = PartDataset.open(synth.generate(Path(scratch) / "objects", args.images, seed=0, size=256))
        indices = list(range(min(args.images, len(dataset))))
        log.info("%d images of %s, %d workers", len(indices), dataset.root, args.workers)
        for method in METHODS:
            alone, expected = timed(dataset, method, indices, 1)
            side_by_side, results = timed(dataset, method, indices, args.workers)
            log.info(
                "%-12s one process %6.1f s, %d workers %6.1f s: %.2fx; results %s",
                method,
                alone,
                args.workers,
                side_by_side,
                alone / side_by_side,
                "identical" if results == expected else "DIFFER",
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
