"""Base-model quality on real data under a CPU budget: train on car-parts, score car-parts test.

    python -m benchmarks.carparts_quality --work outputs/carparts --minutes 45
    python -m benchmarks.carparts_quality --work outputs/carparts --minutes 45 \\
        --variant "lite2=model.backbone.name=efficientnet-lite2 model.backbone.pretrained=package"
    python -m benchmarks.carparts_quality --work outputs/carparts --evaluate-only

Converts ../shared/data/car-parts (object masks derived hole-free, source `approx`), then trains
each variant of the `cpu` preset in turn under the same wall-clock budget and schedule, and
scores every final model at the original image resolution (class-agnostic COCO AP). By default
the variants are the preset's backbone with its pretrained weights and the same network from
random initialisation, so every pretrained row has its random-init row from the same run. A
variant whose model folder exists is only scored again (a killed training resumes from its
checkpoints). The baseline printed beside them is Felzenszwalb's graph segmentation inside the
object mask, the classical segmenter of the paper's Table 5 (parameters tuned for AP on 40
images of car-parts train, so the test data chooses nothing). --results writes the table as
Markdown and JSON.
"""

from __future__ import annotations

import argparse
import logging
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.quality import RANDOM_INIT
from openparts import __version__, atomic
from openparts.config import resolve
from openparts.cpus import keep_freed_memory
from openparts.data.adapters import convert
from openparts.data.dataset import PartDataset
from openparts.engine.predict import Predictor
from openparts.engine.supervised import train_supervised
from openparts.evaluation import baselines
from openparts.evaluation.instance_ap import evaluate_instances
from openparts.model import load_model

log = logging.getLogger("benchmarks.carparts_quality")
REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "car-parts"


def default_variants() -> dict[str, list[str]]:
    """The cpu preset's backbone as it ships (pretrained) and the same network from random weights."""
    backbone = resolve("cpu")["model"]["backbone"]
    if not backbone["pretrained"]:
        return {f"{backbone['name']} random init": []}
    return {f"{backbone['name']} {backbone['pretrained']}": [], f"{backbone['name']} random init": RANDOM_INIT}


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, separator, overrides = text.partition("=")
    if not separator or not name.strip():
        raise SystemExit(f"--variant {text!r}: expected NAME=KEY=VALUE [KEY=VALUE ...]")
    return name.strip(), overrides.split()


def evaluate_model(model_dir: Path, dataset: PartDataset) -> dict[str, float]:
    """At the preset's test size: each image fitted into the training crop, as the pipeline predicts."""
    predictions = Predictor(load_model(model_dir), resolve("cpu")["predict"]).predict_dataset(dataset, progress=False)
    return evaluate_instances(dataset, predictions)


def train_variant(data: Path, model_dir: Path, overrides: list[str], args: argparse.Namespace) -> dict[str, Any]:
    budget = [f"train.iterations={args.iterations}", f"train.max_minutes={args.minutes}", *args.overrides, *overrides]
    config = resolve("cpu", budget)
    started = time.perf_counter()
    result = train_supervised([data / "train"], model_dir, config)
    minutes = (time.perf_counter() - started) / 60
    log.info("%s: %d steps in %.1f minutes", model_dir.name, result.steps, minutes)
    return {"steps": result.steps, "minutes": round(minutes, 2), "resumed_from": result.resumed_from}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="outputs/carparts", help="folder for the converted data and the models")
    parser.add_argument("--minutes", type=float, default=45.0, help="training budget per variant (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=1400, help="schedule length (default: %(default)s)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=KEY=VALUE ...",
        help="a model to train (default: pretrained, random init)",
    )
    parser.add_argument("--evaluate-only", action="store_true", help="score the variants' existing models")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a key for every variant"
    )
    parser.add_argument("--source", type=Path, default=SOURCE, help="car-parts as distributed (default: %(default)s)")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True, help="also tune and score Felzenszwalb")
    parser.add_argument("--results", type=Path, help="write the table here (.md and .json)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    keep_freed_memory()  # as the openparts command does
    work = Path(args.work)
    data = work / "data"
    if not (data / "test" / "annotations.json").is_file():
        if not args.source.is_dir():
            log.error("needs %s (see its README.md)", args.source)
            return 1
        convert("car-parts", args.source, data, overwrite=True)
    variants = dict(map(parse_variant, args.variant)) if args.variant else default_variants()
    test = PartDataset.open(data / "test")
    rows: dict[str, dict[str, Any]] = {}
    for name, overrides in variants.items():
        model_dir = work / "models" / name.replace(" ", "-")
        training = {}
        if not args.evaluate_only and not (model_dir / "model.safetensors").is_file():
            training = train_variant(data, model_dir, overrides, args)
        rows[name] = {**evaluate_model(model_dir, test), **training, "overrides": overrides}
        log.info("%s: AP %.1f AP50 %.1f", name, rows[name]["AP"], rows[name]["AP50"])
    if args.baseline:
        params, _ = baselines.tune(PartDataset.open(data / "train"), "felzenszwalb", list(range(40)))
        rows[f"felzenszwalb {params}"] = evaluate_instances(test, baselines.predict_baseline(test, "felzenszwalb", params, progress=False))
    table = format_table(rows)
    sys.stdout.write(table)
    if args.results:
        write_results(args.results, rows, table, args)
    return 0


def format_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| model | AP | AP50 | steps | minutes |", "|---|---|---|---|---|"]
    for name, row in rows.items():
        steps, minutes = row.get("steps", "-"), row.get("minutes", "-")
        lines.append(f"| {name} | {row['AP']:.1f} | {row['AP50']:.1f} | {steps} | {minutes} |")
    return "\n".join(lines) + "\n"


def write_results(path: Path, rows: dict[str, dict[str, Any]], table: str, args: argparse.Namespace) -> None:
    command = shlex.join(["python", "-m", "benchmarks.carparts_quality", *sys.argv[1:]])
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    atomic.write_text(path.with_suffix(".md"), f"`{command}`\n\nopenparts {__version__}; {machine}\n\n{table}")
    atomic.write_json(path.with_suffix(".json"), {"command": command, "machine": machine, "rows": rows, "minutes": args.minutes})


if __name__ == "__main__":
    sys.exit(main())
