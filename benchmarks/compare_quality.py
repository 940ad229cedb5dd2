"""Side by side: the base model and OPS of several quality runs (`benchmarks/quality.py` outputs).

    python -m benchmarks.compare_quality "lr 1e-5=benchmarks/results/quality-1000-partmap/quality.json" \
        "lr 1e-6=benchmarks/results/finetune-variants-1000/lr-1e-6.json"

Each argument is LABEL=PATH to a `quality.json`. The runs should fine-tune one base model, so
the base column comes from the first run; a run whose base numbers differ from it is named in
a warning, since its OPS column would then not compare. Prints a Markdown table: per set and
mask kind, the base model's AP / mIoU, each run's OPS AP / mIoU, and the best classical baseline's mIoU.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from benchmarks.quality import BASE, BASELINES, OPS  # the row names quality.py writes

log = logging.getLogger("compare_quality")


def load_runs(arguments: list[str]) -> dict[str, dict[str, Any]]:
    runs = {}
    for argument in arguments:
        label, separator, path = argument.partition("=")
        if not separator or not label or not path:
            raise SystemExit(f"{argument!r}: expected LABEL=PATH to a quality.json")
        file = Path(path)
        try:
            runs[label] = json.loads(file.read_text(encoding="utf-8"))["main"]
        except (OSError, json.JSONDecodeError, KeyError) as error:
            raise SystemExit(f"{file}: not a quality.json with a `main` section ({error})") from error
    return runs


def compare(runs: dict[str, dict[str, Any]]) -> str:
    """The Markdown table; the base model's row of each set is taken from the first run."""
    labels = list(runs)
    first = runs[labels[0]]
    for label in labels[1:]:
        differing = [name for name in first if runs[label].get(name, {}).get(BASE) != first[name].get(BASE)]
        if differing:
            log.warning("%s: its base model scores differ from %s's on %s; its OPS column does not compare", label, labels[0], differing)
    header = ["set", "base AP / mIoU", *(f"OPS, {label}: AP / mIoU" for label in labels), "best baseline mIoU"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, rows in first.items():
        cells = [name, _pair(rows.get(BASE))]
        cells += [_pair(runs[label].get(name, {}).get(OPS)) for label in labels]
        best = max((method for method in BASELINES if method in rows), key=lambda method: rows[method]["mIoU"], default=None)
        cells.append(f"{rows[best]['mIoU']:.2f} ({best})" if best else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pair(metrics: dict[str, float] | None) -> str:
    return "-" if metrics is None else f"{metrics['AP']:.2f} / {metrics['mIoU']:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="LABEL=PATH", help="a quality.json and its label; the first gives the base column")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    sys.stdout.write(compare(load_runs(args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
