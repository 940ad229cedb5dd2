"""The same bench-quality recipe trained from several seeds, side by side: how far one run's
mIoU can be trusted against the best baseline's (session 29).

    PYTHONPATH=. python benchmarks/results/cpu-quality-3400x4/seeds.py \
        benchmarks/results/cpu-quality-3400x4/fit-in-crop benchmarks/results/cpu-quality-3400x4/seed1 \
        benchmarks/results/cpu-quality-3400x4/seed2

Each folder holds one run's quality.json. The baselines do not depend on the seed (their
parameters are tuned on the dev images, their segments kept in the work folder), so the best of
them is read from the first run and checked to be the same in the others. A run beats it as
bench-quality's own verdict says (a lead the two printed decimals cannot show is a tie).
"""

import json
import statistics
import sys
from pathlib import Path

from benchmarks.quality import BASE, BASELINES, OPS, OPS_SPLIT, comparison

MODELS = (BASE, OPS, OPS_SPLIT)


def best_baseline(row: dict[str, dict[str, float]]) -> tuple[str, float]:
    return max(((name, row[name]["mIoU"]) for name in BASELINES), key=lambda pair: pair[1])


def main() -> None:
    runs = [json.loads((Path(folder) / "quality.json").read_text()) for folder in sys.argv[1:]]
    names = [Path(folder).name for folder in sys.argv[1:]]
    print("runs: " + ", ".join(f"{name} (split at {run['split_min_fraction']['chosen']})" for name, run in zip(names, runs, strict=True)))
    columns = " ".join(f"{name[:11]:>11s}" for name in names)
    print(f"{'set and masks':34s} {'method':28s} {columns} {'mean':>7s} {'sd':>5s} {'wins':>5s}")
    for key, row in runs[0]["main"].items():
        baseline, bar = best_baseline(row)
        for run, name in zip(runs[1:], names[1:], strict=True):
            if best_baseline(run["main"][key]) != (baseline, bar):
                raise ValueError(f"{name}: {key} has another best baseline than {names[0]}; the runs are not comparable")
        print(f"{key:34s} {'best baseline: ' + baseline:28s} " + " ".join(f"{bar:11.2f}" for _ in runs))
        for method in MODELS:
            scores = [run["main"][key][method]["mIoU"] for run in runs]
            spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
            wins = sum(comparison(score, bar) == "beats" for score in scores)
            print(
                f"{'':34s} {method[:28]:28s} "
                + " ".join(f"{score:11.2f}" for score in scores)
                + f" {statistics.mean(scores):7.2f} {spread:5.2f} {wins:2d}/{len(scores)}"
            )


if __name__ == "__main__":
    main()
