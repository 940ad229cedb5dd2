#!/bin/bash
# Device run 2: Table 2 (object awareness) on car-parts and Table 4 layout (base / SS / ST / SS+ST) on CCP.
# Prepared here, carried to the device machine (`.devdata/` is git-ignored):
#   openparts data convert car-parts ../shared/data/car-parts .devdata/cp
#   openparts data convert ccp ../shared/data/clothing-co-parsing /tmp/ccp
#   openparts data subset /tmp/ccp .devdata/ccp_adapt --start 0 --stop 300 --unlabeled
#   openparts data subset /tmp/ccp .devdata/ccp_test --start 900
#   openparts object-masks --data .devdata/cp/test --method salient --out .devdata/cp_salient/test
#   cp benchmarks/results/h200_eval_models.py .devdata/eval_models.py
#   pycocotools and faster-coco-eval wheels for Python 3.12 in .whl/ (the device image lacks them)
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=src:/tmp/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=3
ITERS=${ITERS:-1100}; BASE_MIN=${BASE_MIN:-2.7}; FT_ITERS=${FT_ITERS:-300}; FT_MIN=${FT_MIN:-1.2}; ADAPT=${ADAPT:-.devdata/ccp_adapt}; W=${W:-/tmp/w}
mkdir -p $W
T() { python3 -m openparts "$@"; }
COMMON="--set train.mixed_precision=false --set train.num_workers=3 --set train.log_every=100"
T train --data .devdata/cp/train --out $W/b4 --preset cpu --set train.iterations=$ITERS --set train.max_minutes=$BASE_MIN $COMMON > $OUT/b4.log 2>&1 &
T train --data .devdata/cp/train --out $W/b3 --preset cpu --set train.iterations=$ITERS --set train.max_minutes=$BASE_MIN --set model.object_mask_channel=false $COMMON > $OUT/b3.log 2>&1 &
wait
T pseudo-labels --model $W/b4 --data $ADAPT --out $W/pl >> $OUT/b4.log 2>&1
T cluster-features --model $W/b4 --data $ADAPT --out $W/pp >> $OUT/b4.log 2>&1
for mode in ss st ss+st; do
  T finetune --model $W/b4 --out $W/ft_$mode --preset cpu --labeled .devdata/cp/train --pseudo-labeled $W/pl --unlabeled $ADAPT --pseudo-parts $W/pp \
    --set finetune.mode=$mode --set finetune.iterations=$FT_ITERS --set train.max_minutes=$FT_MIN $COMMON > $OUT/ft_$mode.log 2>&1 &
done
T ablate --model $W/b4 --model $W/b3 --data .devdata/cp/test --imperfect-data .devdata/cp_salient/test --out $OUT/table2_carparts.json > $OUT/table2.log 2>&1
wait
python3 .devdata/eval_models.py .devdata/ccp_test $OUT/table4_ccp.json base=$W/b4 SS=$W/ft_ss ST=$W/ft_st SS+ST=$W/ft_ss+st > $OUT/table4.log 2>&1
cat $OUT/table2.log $OUT/table4.log
for f in $OUT/b4.log $OUT/ft_*.log; do tr '\r' '\n' < $f | grep -E "wrote|stopping|Error|error" | tail -3; done
