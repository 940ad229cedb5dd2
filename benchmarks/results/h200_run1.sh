#!/bin/bash
# GPU checks for issue 3: paper preset on real data + cpu-preset learning-rate / schedule investigation.
# Prepared here, carried to the device machine (`.devdata/` is git-ignored):
#   openparts data convert car-parts ../shared/data/car-parts .devdata/cp
#   openparts data convert ccp ../shared/data/clothing-co-parsing /tmp/ccp
#   openparts data subset /tmp/ccp .devdata/ccp_adapt --start 0 --stop 300 --unlabeled
#   openparts data subset /tmp/ccp .devdata/ccp_test --start 900
#   openparts object-masks --data .devdata/cp/test --method salient --out .devdata/cp_salient/test
#   cp benchmarks/results/h200_eval_models.py .devdata/eval_models.py
#   pycocotools and faster-coco-eval wheels for Python 3.12 in .whl/ (the device image lacks them)
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=src:/tmp/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=3 TQDM_DISABLE=1
nvidia-smi -L; python3 -c "import torch,transformers,pycocotools;print(torch.__version__, transformers.__version__)"
for run in A:0.0001:1400 B:0.0002:1400 C:0.0001:2800 D:0.0003:1400; do
  IFS=: read name lr iters <<<"$run"
  mkdir -p /tmp/w$name && cp -r .devdata/cp /tmp/w$name/data
  python3 benchmarks/carparts_quality.py --work /tmp/w$name --iterations $iters --minutes 4.0 --no-baseline \
    --set train.learning_rate=$lr --set train.mixed_precision=false --set train.checkpoint_every=350 --set train.log_every=100 \
    --set train.num_workers=2 > $OUT/cpu_$name.log 2>&1 &
done
python3 -m openparts train --data .devdata/cp/train --out /tmp/m_paper --preset paper --set model.backbone.pretrained=null \
  --set train.iterations=300 --set train.max_minutes=3.5 --set train.log_every=25 --set train.num_workers=4 > $OUT/paper_train.log 2>&1
wait
python3 -c "import json;h=json.load(open('/tmp/m_paper/openparts.json'))['training'];print(h['steps'],h['seconds']);[print(e) for e in h['history']]" >> $OUT/paper_train.log
python3 benchmarks/model_speed.py --preset paper --set model.backbone.pretrained=null --sizes 512 --steps 5 --images 16 > $OUT/speed_paper.log 2>&1
python3 benchmarks/model_speed.py --preset cpu --sizes 256 512 --steps 5 --images 16 > $OUT/speed_cpu.log 2>&1
tail -n 12 $OUT/*.log
