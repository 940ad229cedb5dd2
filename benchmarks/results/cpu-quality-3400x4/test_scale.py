"""The test-time scale, side by side: each model's AP and oracle mIoU on each evaluation set of a
bench-quality work folder, with the given (perfect) and salient (imperfect) object masks, at
several (predict.shortest_edge, predict.max_size) pairs; post-aware, no split (session 25).

    python benchmarks/results/cpu-quality-3400x4/test_scale.py outputs/q3400 base ops
"""

import logging
import sys
from pathlib import Path

from openparts.config import resolve
from openparts.data.dataset import PartDataset
from openparts.engine.predict import Predictor
from openparts.evaluation.instance_ap import evaluate_instances
from openparts.evaluation.semantic import evaluate_semantic
from openparts.model import load_model
from openparts.stages.manifest import artifact

SETS = ("carparts-test", "pascal58-person", "pascal58-nonperson")
SCALES = ((256, 1024), (256, 256))  # the cpu preset before session 25, and after
TRIED = ((192, 1024), (160, 1024), (128, 1024))  # shorter edges alone, tried on the Pascal-Part sets


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    work, names = Path(sys.argv[1]), sys.argv[2:]
    print(f"{'model':6s} {'set':20s} {'masks':9s} {'edge':>4s} {'max':>5s} {'AP':>6s} {'mIoU':>6s} {'segments':>8s}", flush=True)
    for name in names:
        model = load_model(artifact(work / "stages" / name, "model"))
        for set_name in SETS:
            truth = PartDataset.open(work / "data" / "eval" / set_name)
            for masks, suffix in (("perfect", ""), ("imperfect", "-salient")):
                given = PartDataset.open(work / "data" / "eval" / f"{set_name}{suffix}")
                scales = SCALES + (TRIED if set_name != "carparts-test" and masks == "perfect" and name == "ops" else ())
                for edge, longest in scales:
                    config = {**resolve("cpu")["predict"], "post_aware": True, "shortest_edge": edge, "max_size": longest}
                    predictions = Predictor(model, config).predict_dataset(given, progress=False)
                    metrics = evaluate_semantic(truth, predictions)
                    average_precision = evaluate_instances(truth, predictions)["AP"]
                    print(
                        f"{name:6s} {set_name:20s} {masks:9s} {edge:4d} {longest:5d} {average_precision:6.2f} "
                        f"{metrics['mIoU']:6.2f} {metrics['segments_per_object']:8.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
