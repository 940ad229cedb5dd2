#!/bin/bash
# The base model in fp32 and in bf16 autocast, seeds 1 and 2, on the demo (after `make run`):
# 150 steps on outputs/object_masks/train, AP / AP50 / oracle mIoU on outputs/object_masks/test
# with post-aware filtering. bash benchmarks/results/training-bf16-cpu/seeds.sh > benchmarks/results/training-bf16-cpu/seeds.log
set -e
mkdir -p outputs/bf16-seeds
source .venv/bin/activate
for seed in 1 2; do for amp in false true; do
  out=outputs/bf16-seeds/s$seed-$amp
  rm -rf $out $out.checkpoints
  openparts train --data outputs/object_masks/train/dataset --out $out --set train.iterations=150 --set train.checkpoint_every=50 --set train.seed=$seed --set train.mixed_precision=$amp > $out.log 2>&1
  python - $out <<'PY'
import sys
from pathlib import Path
from openparts.config import resolve
from openparts.model import load_model
from openparts.data.dataset import PartDataset
from openparts.engine.predict import Predictor
from openparts.evaluation.report import score_predictions
ds = PartDataset.open(Path("outputs/object_masks/test/dataset"))
cfg = resolve("cpu")["predict"]
m = score_predictions(ds, Predictor(load_model(Path(sys.argv[1])), {**cfg, "post_aware": True}, "cpu").predict_dataset(ds, progress=False))
print(sys.argv[1], {k: round(m[k], 2) for k in ("AP", "AP50", "mIoU")}, flush=True)
PY
done; done
