"""Peak memory of evaluating a large set: `openparts evaluate` on a synthetic set of 5,000
images with predictions for every part must stay under 2 GB (issue 7: evaluation streams its
inputs). Prints the peak RSS at 1,000 and 5,000 images beside the bare import of the same code
(the baseline, measured in the same run), so growth per image is visible.

    python benchmarks/evaluation_memory.py [--images 1000 5000] [--work outputs/bench-memory]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from openparts import atomic
from openparts.data import synth

log = logging.getLogger("bench")
LIMIT_MB = 2048


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """Run `command`; return (its peak resident memory in MB, seconds)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, seconds  # Linux reports KiB


def predictions_from_parts(dataset: Path, out: Path) -> Path:
    """Every annotated part as a prediction (score 0.9): a full-size results file."""
    annotations = json.loads((dataset / "annotations.json").read_text())["annotations"]
    results = [{"image_id": a["image_id"], "category_id": 1, "segmentation": a["segmentation"], "score": 0.9} for a in annotations]
    atomic.write_json(out, results, indent=None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--work", type=Path, default=Path("outputs/bench-memory"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    openparts = str(Path(sys.executable).parent / "openparts")
    baseline, _ = peak_rss_mb([sys.executable, "-c", "import openparts.cli, openparts.evaluation.report, openparts.evaluation.instance_ap"])
    rows = []
    for count in args.images:
        data = args.work / f"synth-{count}"
        if not (data / "annotations.json").is_file():
            synth.generate(data, count=count, split="unseen", seed=7, size=64, overwrite=True)
        predictions = predictions_from_parts(data, args.work / f"predictions-{count}.json")
        command = [openparts, "evaluate", "--predictions", str(predictions), "--data", str(data), "--out", str(args.work / f"eval-{count}")]
        peak, seconds = peak_rss_mb([*command, "--baselines", "none"])
        rows.append((count, peak, seconds))
    log.info("baseline: importing the evaluation code            %7.0f MB", baseline)
    for count, peak, seconds in rows:
        log.info(
            "evaluate %5d images (all parts predicted)         %7.0f MB  (%.1fx baseline, %4.1f s)  limit %d MB: %s",
            count,
            peak,
            peak / baseline,
            seconds,
            LIMIT_MB,
            "ok" if peak < LIMIT_MB else "OVER",
        )
    if len(rows) > 1:
        (small, small_peak, _), (large, large_peak, _) = rows[0], rows[-1]
        log.info("growth: %.1f KB per image", (large_peak - small_peak) * 1024 / (large - small))


if __name__ == "__main__":
    main()
