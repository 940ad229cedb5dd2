#!/bin/bash
# Issue 8's GPU checks, in two parts that each fit one 10-minute call on an H100:
#   SPEED=1 QUALITY=0 (about 3 minutes):
#   1. the speed benchmark on the GPU: prediction images/s vs the plain transformers forward at
#      256 and 512 px, training images/s at 512 px with bf16 autocast (cpu and paper presets);
#   2. K-means on the GPU vs scikit-learn;
#   the default, SPEED=0 QUALITY=1 (8 minutes, benchmarks/results/h100-quality-2000x4):
#   3. bench-quality: the base model 2,000 steps at batch 4 (275 s), pseudo labels and clusters
#      (13 s), OPS 300 steps (53 s), scoring every set (2 minutes). Steps count more than batch
#      size: 450 steps at batch 16 (135 s) gave OPS mIoU 36.3 on car-parts test, 2,000 at batch 4 52.8.
# Inputs, made where ../shared/data is (the GPU machine has neither it nor a package registry):
#   .devdata/quality.tar.gz  a bench-quality work folder, `python -m benchmarks.pack_quality --work W`:
#                            data/carparts/train, data/ccp (its first images, as many as fit: the
#                            transfer to the GPU machine is capped at 64 MiB), data/eval/*, and the
#                            baselines.json and baseline_store/ of an earlier run (baseline
#                            scores and segments are keyed by the evaluation sets' content and reused;
#                            without the segments, every set is segmented again on the CPU for the
#                            @matched rows, which did not fit a 10-minute call)
#   .whl/                    wheels the GPU machine's Python lacks (pycocotools, faster-coco-eval)
# A call cut off by QUALITY_SECONDS keeps its finished stages in $WORK: the same command, run again
# while the machine is still warm, goes on from them.
# Usage: OUT=outputs/gpu-checks bash benchmarks/gpu_checks.sh             (the quality part)
#        SPEED=1 QUALITY=0 OUT=outputs/gpu-checks bash benchmarks/gpu_checks.sh   (the speed part)
# Everything it prints is also under $OUT: speed_*.log, kmeans.log, cuda_tests.log, quality.log, quality/.
set -u -o pipefail
OUT=${OUT:-outputs/gpu-checks}
PY=${PY:-python3}
# relative to the repository, as the results are written: their header quotes the command, and so
# names no folder of the machine it ran on ($OUT, a lent machine's, gets a copy)
WORK=${WORK:-outputs/quality-gpu}
RESULTS=outputs/gpu-checks/quality
PRESET=${PRESET:-cpu}          # the quality run's preset
MODELS=${MODELS:-base}         # the base models bench-quality trains; "base base-3ch" adds the awareness comparison (side by side)
ITERS=${ITERS:-2000}           # base-model steps at batch $BATCH: 275 s on an H100 (CPU runs: 2,000 at batch 2)
FT_ITERS=${FT_ITERS:-300}      # OPS fine-tuning steps
BATCH=${BATCH:-4}
CAP=${CAP:-4.8}                # minutes: a safety cap per training stage
QUALITY_SECONDS=${QUALITY_SECONDS:-550}
SPEED_SECONDS=${SPEED_SECONDS:-70}
WHEELS=${WHEELS:-.whl}        # a folder of wheels to install first; "none" to skip
mkdir -p "$OUT" "$WORK"
if [ -d "$WHEELS" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/openparts-site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=src:/tmp/openparts-site${PYTHONPATH:+:$PYTHONPATH}
else
  export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1 OPENPARTS_TRACKING=off TQDM_DISABLE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
# files already in $WORK stay: a second call keeps the baseline scores the first one added to baselines.json
tar xf .devdata/quality.tar.gz -C "$WORK" --skip-old-files || exit 1
nvidia-smi -L 2>/dev/null
# the kept baselines are keyed by scikit-image's version too: another version here than the pack's
# (packed with 0.26.0) segments every set again: 276 s with 2 workers here, so about a minute there (not measured)
"$PY" -c "import torch, transformers, skimage; print('torch', torch.__version__, 'transformers', transformers.__version__,
  'scikit-image', skimage.__version__, 'cuda', torch.cuda.is_available())"

if [ "${SPEED:-0}" = 1 ]; then
  timeout "$SPEED_SECONDS" "$PY" benchmarks/model_speed.py --preset "${SPEED_PRESET:-cpu}" --sizes 256 512 --steps 3 --images 16 >"$OUT/speed_cpu.log" 2>&1
  timeout "$SPEED_SECONDS" "$PY" benchmarks/model_speed.py --preset "${SPEED_PRESET:-paper}" --set model.backbone.pretrained=null \
    --sizes 512 --steps 3 --images 16 >"$OUT/speed_paper.log" 2>&1
  timeout 45 "$PY" benchmarks/kmeans_speed.py >"$OUT/kmeans.log" 2>&1
  timeout 60 "$PY" -m pytest -q -p no:cacheprovider tests/test_clustering.py -k cuda >"$OUT/cuda_tests.log" 2>&1
fi

if [ "${QUALITY:-1}" = 1 ]; then
  # shellcheck disable=SC2086  # MODELS is a list
  timeout "$QUALITY_SECONDS" "$PY" benchmarks/quality.py --work "$WORK" --preset "$PRESET" --models $MODELS --parallel \
    --iterations "$ITERS" --finetune-iterations "$FT_ITERS" --set train.batch_size="$BATCH" --set train.num_workers=6 \
    --set train.max_minutes="$CAP" --set train.log_every=100 --results "$RESULTS" >"$OUT/quality.log" 2>&1
  echo "quality exit status $?"
  if [ -d "$RESULTS" ] && [ "$(realpath -m "$RESULTS")" != "$(realpath -m "$OUT/quality")" ]; then
    mkdir -p "$OUT/quality" && cp -r "$RESULTS"/. "$OUT/quality/"
  fi
fi
for f in "$OUT"/speed_*.log "$OUT"/kmeans.log "$OUT"/cuda_tests.log; do [ -f "$f" ] && echo "== $f" && grep -v "^\s*$" "$f" | tail -n 8; done
if [ -f "$OUT/quality.log" ]; then
  echo "== quality"; grep -E "done in|current, kept|Error|error|Traceback|beats|baseline" "$OUT/quality.log" | tail -n 20
fi
