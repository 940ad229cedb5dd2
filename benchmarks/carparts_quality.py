"""Quality of the base model on real data: train the `cpu` preset on car-parts, score car-parts test.

    python benchmarks/carparts_quality.py --work outputs/carparts --minutes 45
    python benchmarks/carparts_quality.py --work outputs/carparts --evaluate-only

Converts ../shared/data/car-parts (object masks derived hole-free, source `approx`), trains
under a wall-clock budget, then evaluates the final model and every kept checkpoint at the
original image resolution (class-agnostic COCO AP), printing the training curve. The
baseline printed beside it is Felzenszwalb's graph segmentation inside the object mask, the
classical segmenter of the paper's Table 5 (parameters tuned for AP on 40 images of car-parts
train, so the test data chooses nothing).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from openparts.config import resolve
from openparts.cpus import keep_freed_memory
from openparts.data.adapters import convert
from openparts.data.dataset import PartDataset
from openparts.engine.predict import Predictor
from openparts.engine.supervised import train_supervised
from openparts.engine.trainer import checkpoint_dir_for
from openparts.evaluation import baselines
from openparts.evaluation.instance_ap import evaluate_instances
from openparts.model import load_model

log = logging.getLogger("benchmarks.carparts_quality")
REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "car-parts"


def evaluate_model(model_dir: Path, dataset: PartDataset, shortest_edge: int) -> dict[str, float]:
    model = load_model(model_dir)
    config = {**resolve("cpu")["predict"], "shortest_edge": shortest_edge}
    predictions = Predictor(model, config).predict_dataset(dataset, progress=False)
    return evaluate_instances(dataset, predictions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="outputs/carparts", help="folder for the converted data and the model")
    parser.add_argument("--minutes", type=float, default=45.0, help="training budget (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=1400, help="schedule length (default: %(default)s)")
    parser.add_argument("--evaluate-only", action="store_true", help="score an existing model and its checkpoints")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a `cpu` preset key")
    parser.add_argument("--source", type=Path, default=SOURCE, help="car-parts as distributed (default: %(default)s)")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True, help="also tune and score Felzenszwalb")
    parser.add_argument("--shortest-edge", type=int, nargs="+", default=[256], help="test-time sizes to score")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    keep_freed_memory()  # as the openparts command does
    if not args.source.is_dir() and not (Path(args.work) / "data" / "test" / "annotations.json").is_file():
        log.error("needs %s (see ../shared/data/README.md)", args.source)
        return 1
    work = Path(args.work)
    data = work / "data"
    if not (data / "test" / "annotations.json").is_file():
        convert("car-parts", args.source, data, overwrite=True)
    model_dir = work / "model"
    if not args.evaluate_only:
        budget = [f"train.iterations={args.iterations}", f"train.max_minutes={args.minutes}", "train.keep_checkpoints=20"]
        config = resolve("cpu", [*budget, *args.overrides])
        started = time.perf_counter()
        train_supervised([data / "train"], model_dir, config)
        log.info("trained in %.1f minutes", (time.perf_counter() - started) / 60)
    test = PartDataset.open(data / "test")
    log.info("%-28s %8s %8s", "model (shortest edge)", "AP", "AP50")
    checkpoints = sorted(checkpoint_dir_for(model_dir).glob("step_*")) if checkpoint_dir_for(model_dir).is_dir() else []
    for folder in [*checkpoints, model_dir]:
        for edge in args.shortest_edge:
            metrics = evaluate_model(folder, test, edge)
            log.info("%-28s %8.1f %8.1f", f"{folder.name} ({edge})", metrics["AP"], metrics["AP50"])
    if not args.baseline:
        return 0
    dev = PartDataset.open(data / "train")
    params, _ = baselines.tune(dev, "felzenszwalb", list(range(40)))
    baseline = evaluate_instances(test, baselines.predict_baseline(test, "felzenszwalb", params, progress=False))
    log.info("%-28s %8.1f %8.1f", f"felzenszwalb {params}", baseline["AP"], baseline["AP50"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
