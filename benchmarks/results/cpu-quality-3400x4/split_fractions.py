"""mIoU of one run's OPS at every split fraction bench-quality chooses from, on the sets named:
whether a fraction tuned on car-parts dev images suits the Pascal-Part ones (session 33).

    PYTHONPATH=. python benchmarks/results/cpu-quality-3400x4/split_fractions.py outputs/q3400s4 ops \
        pascal58-person pascal58-nonperson

Post-aware, salient (imperfect) and given (perfect) masks, the cpu preset's prediction settings:
what bench-quality's `OPS SS+ST split` rows score, one row per fraction (`None`: not split).
"""

import logging
import sys
from pathlib import Path

from benchmarks.quality import SPLIT_FRACTIONS, Scorer
from benchmarks.quality_data import SETS, prepare_data
from openparts.config import resolve
from openparts.model import load_model
from openparts.stages.manifest import artifact


def main(work: Path, stage: str, set_names: list[str]) -> None:
    unknown = sorted(set(set_names) - set(SETS))
    if unknown:
        raise SystemExit(f"unknown sets {unknown}: bench-quality scores {list(SETS)}")
    scorer = Scorer(prepare_data(work, 0), resolve("cpu")["predict"], work)
    model = load_model(artifact(work / "stages" / stage, "model"))
    print(f"{work}/stages/{stage}: mIoU at each split fraction")
    for set_name in set_names:
        for masks in ("imperfect", "perfect"):
            scores = {"None": scorer.model(model, stage, set_name, masks)["mIoU"]}
            scores |= {str(f): scorer.split(stage, set_name, masks, f)["mIoU"] for f in SPLIT_FRACTIONS}
            print(f"{set_name:20s} {masks:9s} " + "  ".join(f"{f} {v:.2f}" for f, v in scores.items()))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:])
