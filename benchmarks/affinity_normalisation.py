"""What reading Eq. 2 as the paper writes it changes: SS and SS+ST fine-tuned both ways, side by side.

    python -m benchmarks.affinity_normalisation --work outputs/quality --finetune-iterations 300

Eq. 2's inner sum runs over the pixels of cluster i, so L_a is the mean over the K clusters of
each cluster's mean (`openparts.losses.affinity_loss`). The earlier reading divided the sum over
all assigned pixels by N x K: K times weaker, and big clusters weighed over small ones. This
fine-tunes the base model of a bench-quality --work (its pseudo labels and pseudo parts, its
labelled sources) in SS and SS+ST mode with each reading, the earlier one swapped in for the
run, and scores the four models and the base model on the evaluation sets as bench-quality does.
The paper's reading reuses bench-quality's own `ops-ss` and `ops` stage folders when they are current.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

from benchmarks.quality import BASELINES, Scorer, adapt, best_baseline, configure_process, stage_inputs
from benchmarks.quality_data import SETS, prepare_data
from openparts import losses
from openparts.config import resolve
from openparts.data.dataset import PartDataset
from openparts.model import load_model
from openparts.stages.manifest import artifact

log = logging.getLogger("benchmarks.affinity_normalisation")
MODES = ("ss", "ss+st")


def affinity_over_all_pixels(
    features: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor, present: torch.Tensor, tau: float = 1.0
) -> torch.Tensor:
    """The earlier reading of Eq. 2: the sum over all assigned pixels divided by (pixels x clusters)."""
    assigned = labels >= 0
    pixels = features[assigned]
    own = torch.nn.functional.one_hot(labels[assigned], centers.shape[0]).to(centers.dtype) @ centers
    distance = ((pixels - own) ** 2).sum(-1)
    return torch.exp(distance / tau).sum() / (pixels.shape[0] * int(present.sum()))


@contextlib.contextmanager
def earlier_reading() -> Iterator[None]:
    paper = losses.affinity_loss
    losses.affinity_loss = affinity_over_all_pixels  # self_supervised_loss looks it up at each call
    try:
        yield
    finally:
        losses.affinity_loss = paper


def fine_tune(work: Path, sources: dict[str, Path], preset: str, iterations: int, overrides: list[str]) -> dict[str, Path]:
    """{label: model stage folder} for each mode under each reading (the earlier one in folders of its own)."""
    base = ("base", work / "stages" / "base")
    models = {}
    for mode in MODES:
        (paper,) = adapt(work, sources, base, preset, iterations, overrides, [mode]).values()
        with earlier_reading():
            (earlier,) = adapt(work, sources, base, preset, iterations, overrides, [mode], variant="-affinity-over-all-pixels").values()
        models[f"{mode}, per cluster (paper)"] = paper
        models[f"{mode}, over all pixels / K (earlier)"] = earlier
    return models


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("outputs/quality"), help="a bench-quality work folder with its base model")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--finetune-iterations", type=int, default=300)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    configure_process()
    if not (args.work / "stages" / "base" / "manifest.json").is_file():
        log.error("%s has no base model: run bench-quality with this --work first", args.work)
        return 1
    paths = prepare_data(args.work, 0)
    sources = stage_inputs(args.work, paths, ["base"], held_out=False)
    folders = {
        "base": args.work / "stages" / "base",
        **fine_tune(args.work, sources, args.preset, args.finetune_iterations, args.overrides),
    }
    scorer = Scorer(paths, resolve(args.preset)["predict"], args.work)
    dev = PartDataset.open(paths["carparts-train"])  # where bench-quality chooses the baselines' parameters
    tuned = {method: scorer.tuned(method, dev) for method in BASELINES}
    lines = ["| set, masks | best baseline mIoU | " + " | ".join(f"{name}: AP / mIoU" for name in folders) + " |"]
    lines.append("|---" * (len(folders) + 2) + "|")
    loaded = {name: load_model(artifact(folder, "model")) for name, folder in folders.items()}
    for set_name in SETS:
        for masks in ("imperfect", "perfect"):
            baselines = {method: scorer.baseline(method, tuned[method], set_name, masks) for method in BASELINES}
            best = best_baseline(baselines)
            cells = [f"{set_name}, {masks}", f"{baselines[best]['mIoU']:.2f} ({best})"]
            for name, model in loaded.items():
                scores = scorer.model(model, name, set_name, masks)
                cells.append(f"{scores['AP']:.2f} / {scores['mIoU']:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
