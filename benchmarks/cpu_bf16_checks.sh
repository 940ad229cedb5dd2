#!/bin/bash
# Issue 8's CPU prediction target on a processor with native bf16 (AMX-BF16 / AVX512-BF16), as a
# GPU machine's host processor has: our prediction vs the plain fp32 transformers forward at 256 and
# 512 px (bf16, then our path in fp32 to split bf16's share from the rest), where the time goes, and
# the AP of our bf16 prediction vs the unoptimised fp32 one on car-parts test, with a base model
# trained there on the GPU (a model file is too large for the 64 MiB transfer to that machine).
# Inputs, made where ../shared/data is (the GPU machine has neither it nor a package registry):
#   .devdata/cp/train, .devdata/cp/test   car-parts train and test as benchmarks/quality.py converts
#                                         them (its data/carparts/train and data/eval/carparts-test)
#   .whl/                                 wheels the machine's Python lacks (pycocotools, faster-coco-eval)
# Usage: OUT=outputs/cpu-bf16 bash benchmarks/cpu_bf16_checks.sh
#        COMPILE=1 OUT=outputs/cpu-bf16 bash benchmarks/cpu_bf16_checks.sh   (torch.compile's prediction alone)
# Everything it prints is also under $OUT: cpu.txt, speed.log, speed_fp32.log, profile.log, train.log, accuracy.log.
set -u -o pipefail
OUT=${OUT:-outputs/cpu-bf16}
PY=${PY:-python3}
SIZES=${SIZES:-256 512}
IMAGES=${IMAGES:-16}          # prediction images per size (batches of 4)
ITERS=${ITERS:-600}           # base-model steps on the GPU at batch $BATCH
BATCH=${BATCH:-16}
WHEELS=${WHEELS:-.whl}        # a folder of wheels to install first; "none" to skip
mkdir -p "$OUT"
if [ -d "$WHEELS" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/openparts-site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=src:/tmp/openparts-site${PYTHONPATH:+:$PYTHONPATH}
else
  export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1 OPENPARTS_TRACKING=off TQDM_DISABLE=1
{
  grep -m1 "model name" /proc/cpuinfo
  echo "processors: $(nproc)"
  echo "bf16 flags: $(grep -m1 -o -w 'amx_bf16\|amx_tile\|avx512_bf16\|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  "$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'threads', torch.get_num_threads())"
} 2>&1 | tee "$OUT/cpu.txt"

if [ "${COMPILE:-0}" = 1 ]; then
  # COMPILE=1: only prediction under torch.compile (inductor, frozen weights, static shapes: the upper
  # bound of what compiling gives) vs ours and the plain forward, the larger size first
  # shellcheck disable=SC2086  # SIZES is a list
  timeout "${COMPILE_SECONDS:-420}" "$PY" benchmarks/model_speed.py --device cpu --sizes $(echo $SIZES | tr ' ' '\n' | sort -rn) \
    --steps 0 --images "$IMAGES" --compile 2>&1 | tee "$OUT/compile.log"
  exit
fi

# in order of need, each capped so that the whole fits a 10-minute call
# shellcheck disable=SC2086  # SIZES is a list
timeout 150 "$PY" benchmarks/model_speed.py --device cpu --sizes $SIZES --steps 1 --images "$IMAGES" >"$OUT/speed.log" 2>&1
MODEL=/tmp/openparts-cpu-bf16/base
timeout 200 "$PY" -m openparts train --data .devdata/cp/train --out "$MODEL" --preset cpu --set train.iterations="$ITERS" \
  --set train.batch_size="$BATCH" --set train.num_workers=6 --set train.max_minutes=2.5 --set train.log_every=100 >"$OUT/train.log" 2>&1
timeout 120 "$PY" benchmarks/model_speed.py --device cpu --sizes --accuracy "$MODEL" .devdata/cp/test >"$OUT/accuracy.log" 2>&1
timeout 60 "$PY" benchmarks/model_speed.py --device cpu --sizes ${SIZES##* } --steps 1 --images "$IMAGES" \
  --set predict.precision=fp32 >"$OUT/speed_fp32.log" 2>&1
timeout 60 "$PY" benchmarks/model_speed.py --device cpu --sizes ${SIZES##* } --steps 1 --images 8 --profile >"$OUT/profile.log" 2>&1

for f in "$OUT"/speed.log "$OUT"/train.log "$OUT"/accuracy.log "$OUT"/speed_fp32.log; do
  [ -f "$f" ] && echo "== $f" && grep -v "^\s*$" "$f" | tail -n 4 | cut -c1-400
done
echo "== $OUT/profile.log" && head -n 40 "$OUT/profile.log"
