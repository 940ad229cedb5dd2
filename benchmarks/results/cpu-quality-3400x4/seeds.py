"""The same bench-quality recipe trained from several seeds, side by side: how far one run's
mIoU can be trusted against the best baseline's (session 29).

    PYTHONPATH=. python benchmarks/results/cpu-quality-3400x4/seeds.py \
        benchmarks/results/cpu-quality-3400x4/fit-in-crop benchmarks/results/cpu-quality-3400x4/seed1 \
        benchmarks/results/cpu-quality-3400x4/seed2

Each folder holds one run's quality.json. The baselines do not depend on the seed (their
parameters are tuned on the dev images, their segments kept in the work folder), so the best of
them is read from the first run that scored the set and checked to be the same in the others. A
run beats it as bench-quality's own verdict says (a lead the two printed decimals cannot show is
a tie). A set that a run did not score (pascal58-unseen before session 30, pascal58-all before
session 31) shows `-` there and its mean is over the runs that did. A run made with `--ops-from`
names the model its OPS rows started from (session 32).
"""

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.quality import BASE, OPS, OPS_SPLIT, best_baseline, comparison, ops_start

MODELS = (BASE, OPS, OPS_SPLIT)


def bar_of(row: dict[str, dict[str, float]]) -> tuple[str, float]:
    """The best baseline of a row and its mIoU."""
    baseline = best_baseline(row)
    return baseline, row[baseline]["mIoU"]


def cells(runs: list[dict], key: str, value: Callable[[dict], float]) -> str:
    """One column per run: `value` of its row for `key`, or `-` where the run did not score it."""
    return " ".join(f"{value(run['main'][key]):11.2f}" if key in run["main"] else f"{'-':>11s}" for run in runs)


def described(run: dict) -> str:
    """Where the run's split fraction and its OPS came from: a run with `--ops-from` names the model."""
    start = ops_start(run)
    return f"split at {run['split_min_fraction']['chosen']}" + ("" if start == "base" else f", OPS from {start}")


def main() -> None:
    runs = [json.loads((Path(folder) / "quality.json").read_text()) for folder in sys.argv[1:]]
    names = [Path(folder).name for folder in sys.argv[1:]]
    print("runs: " + ", ".join(f"{name} ({described(run)})" for name, run in zip(names, runs, strict=True)))
    columns = " ".join(f"{name[:11]:>11s}" for name in names)
    print(f"{'set and masks':34s} {'method':28s} {columns} {'mean':>7s} {'sd':>5s} {'wins':>5s}")
    keys = list(dict.fromkeys(key for run in runs for key in run["main"]))
    for key in keys:
        scored = [(run["main"][key], name) for run, name in zip(runs, names, strict=True) if key in run["main"]]
        baseline, bar = bar_of(scored[0][0])
        for row, name in scored[1:]:
            if bar_of(row) != (baseline, bar):
                raise ValueError(f"{name}: {key} has another best baseline than {scored[0][1]}; the runs are not comparable")
        print(f"{key:34s} {'best baseline: ' + baseline:28s} {cells(runs, key, lambda row: bar_of(row)[1])}")
        for method in MODELS:
            scores = [row[method]["mIoU"] for row, _ in scored]
            spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
            wins = sum(comparison(score, bar) == "beats" for score in scores)
            each = cells(runs, key, lambda row, method=method: row[method]["mIoU"])
            print(f"{'':34s} {method[:28]:28s} {each} {statistics.mean(scores):7.2f} {spread:5.2f} {wins:2d}/{len(scores)}")


if __name__ == "__main__":
    main()
