"""Per-class oracle IoU, and where each ground-truth class's pixels went, for the tuned SLIC and
NCut and the given models on one evaluation set of a bench-quality work folder (session 25).

    PYTHONPATH=. python benchmarks/results/cpu-quality-3400x4/per_class.py outputs/q3400 pascal58-person MAX_SIZE \
        outputs/q3400/stages/base outputs/q3400/stages/ops

It predicts as bench-quality scores (post-aware, no split) at shortest edge 256 and longest at most
MAX_SIZE (1024: the cpu preset before session 25; 256 since). The baselines' parameters and
segments come from the work folder's store.
"""

import logging
import sys
from pathlib import Path

from benchmarks.quality import DEV_IMAGES  # the images bench-quality tunes the baselines on
from openparts.config import resolve
from openparts.data.dataset import PartDataset
from openparts.engine.predict import Predictor
from openparts.evaluation.baseline_store import BaselineStore
from openparts.evaluation.semantic import accumulate_semantic
from openparts.model import load_model
from openparts.stages.manifest import artifact


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    work, set_name, model_folders = Path(sys.argv[1]), sys.argv[2], [Path(f) for f in sys.argv[4:]]
    store = BaselineStore(work / "baseline_store")
    dev = PartDataset.open(work / "data" / "carparts" / "train")
    predict_config = {**resolve("cpu")["predict"], "post_aware": True, "shortest_edge": 256, "max_size": int(sys.argv[3])}
    truth = PartDataset.open(work / "data" / "eval" / set_name)
    models = {folder.name: load_model(artifact(folder, "model")) for folder in model_folders}
    for masks, given in (("perfect", truth), ("imperfect", PartDataset.open(work / "data" / "eval" / f"{set_name}-salient"))):
        results = {}
        for method in ("slic", "ncut"):
            params = store.tuned(dev, method, list(range(DEV_IMAGES)))
            results[method] = accumulate_semantic(truth, store.predictions(given, method, params, progress=False))
        for name, model in models.items():
            results[name] = accumulate_semantic(truth, Predictor(model, predict_config).predict_dataset(given, progress=False))
        names = next(iter(results.values())).class_names
        pixels = next(iter(results.values())).confusion.sum(1)
        ious = {name: accumulator.class_iou() for name, accumulator in results.items()}
        lines = [f"\n== {set_name}, {masks} masks: IoU per class", f"{'class':24s} {'pixels':>8s} " + " ".join(f"{n:>8s}" for n in results)]
        for i, name in enumerate(names):
            if pixels[i]:
                lines.append(f"{name:24s} {int(pixels[i]):8d} " + " ".join(f"{100 * ious[n][i]:8.1f}" for n in results))
        for label, key in (("mIoU", "mIoU"), ("segments per object", "segments_per_object")):
            lines.append(f"{label:24s} {'':8s} " + " ".join(f"{a.metrics()[key]:8.2f}" for a in results.values()))
        short = [name.split("/")[-1][:10] for name in names]
        for name, accumulator in results.items():
            lines.append(f"\n{name}, {masks}: % of each ground-truth class's pixels (rows) named as each class (columns)")
            lines.append(" " * 11 + " ".join(f"{s:>10s}" for s in short))
            for i, row in enumerate(accumulator.confusion):
                lines.append(f"{short[i]:10s} " + " ".join(f"{100 * v / max(row.sum(), 1):10.1f}" for v in row))
        sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
