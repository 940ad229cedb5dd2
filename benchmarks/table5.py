"""Table 5 of the paper on our real data: baselines vs the model, given and predicted object masks.

    python benchmarks/table5.py --model outputs/carparts/model --work outputs/table5

On car-parts test and on the Pascal-Part samples (Pascal-Part-58 part grouping, object crops;
their categories other than cars are unseen by a car-parts model), each with its given
("perfect") object masks and with masks predicted by the bundled salient-object model
("imperfect"), prints the oracle semantic metrics (mIoU, fwIoU, mACC) of SLIC, normalized cut,
Felzenszwalb and the model, with AP, AP50 and segments per object beside them, and the same
for every method limited to the model's number of segments per object (@matched). Baseline
parameters are tuned for AP on 20 car-parts train images, never on the evaluated sets.
The object-awareness ablation (Table 2) is `openparts ablate` on the same folders. Writes the report
folder (report.html, metrics.json, overlays) under --work and the table as markdown to
benchmarks/results/table5.md with versions and hardware.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from pathlib import Path

import torch

from openparts import __version__, atomic
from openparts.data.adapters import convert
from openparts.data.dataset import PartDataset
from openparts.engine.predict import Predictor
from openparts.evaluation.report import dataset_key, write_report
from openparts.model import load_model
from openparts.objects import make_masker
from openparts.objects.apply import write_with_object_masks

log = logging.getLogger("benchmarks.table5")
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
METHODS = (("slic", "SLIC"), ("ncut", "NC"), ("felzenszwalb", "Fel."), ("model", "model"))
COLUMNS = ("mIoU", "fwIoU", "mACC", "AP", "AP50", "segments_per_object")


def prepare(work: Path) -> dict[str, Path]:
    """Converted sets and their salient-mask copies (made once, reused on later runs)."""
    sets = {}
    if not (work / "carparts" / "test" / "annotations.json").is_file():
        convert("car-parts", SHARED / "car-parts", work / "carparts", overwrite=True)
    if not (work / "pascalpart58" / "samples" / "annotations.json").is_file():
        convert("pascal-part", SHARED / "pascal-part-samples", work / "pascalpart58" / "samples", grouping="58", overwrite=True)
    sets["carparts-test"] = work / "carparts" / "test"
    sets["pascalpart58-samples"] = work / "pascalpart58" / "samples"
    masker = None
    for name, folder in list(sets.items()):
        copy = work / f"{folder.parent.name}-salient" / folder.name
        if not (copy / "annotations.json").is_file():
            masker = masker or make_masker("salient")
            write_with_object_masks(folder, copy, masker, "salient", overwrite=True)
        sets[name.replace("-", "-salient-", 1)] = copy
    return sets


def table(metrics: dict[str, float], keys: list[str], suffix: str = "") -> list[str]:
    lines = []
    for key in keys:
        lines.append(f"\n**{key}**\n")
        lines.append("| method | " + " | ".join(COLUMNS) + " |")
        lines.append("|---" * (len(COLUMNS) + 1) + "|")
        for method, label in METHODS:
            name = method if method == "model" else method + suffix
            values = [metrics.get(f"{key}/{name}/{column}") for column in COLUMNS]
            if all(v is None for v in values):
                continue
            lines.append(f"| {label}{suffix} | " + " | ".join("" if v is None else f"{v:.2f}" for v in values) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="the base model (4-channel, pre-aware)")
    parser.add_argument("--work", type=Path, default=Path("outputs/table5"))
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "table5.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not SHARED.is_dir():
        log.error("needs %s (see ../shared/data/README.md)", SHARED)
        return 1
    sets = prepare(args.work)
    model = load_model(args.model)
    predictor = Predictor(model, model.description["config"]["predict"])
    datasets = [PartDataset.open(folder) for folder in sets.values()]
    predictions = {dataset_key(d): predictor.predict_dataset(d) for d in datasets}
    dev = PartDataset.open(args.work / "carparts" / "train")
    metrics = write_report(args.work / "report", datasets, predictions, dev=dev)
    keys = [dataset_key(d) for d in datasets]
    lines = [
        "# Table 5 on our data",
        "",
        f"openparts {__version__}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads; model `{args.model.name}`; command: `python benchmarks/table5.py`",
        "",
        "Oracle semantic metrics as in the paper's Table 5 (each predicted segment takes the class of the",
        "ground-truth part it overlaps most); AP/AP50 class-agnostic; `salient` sets use predicted object masks.",
        *table(metrics, keys),
        "",
        "## Each method limited to the model's number of segments per object",
        *table(metrics, keys, "@matched"),
    ]
    text = "\n".join(lines) + "\n"
    atomic.write_text(args.results, text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
