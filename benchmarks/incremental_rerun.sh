#!/bin/bash
# The rerun after new unlabeled data, on the demo budget, with the baselines the last evaluation
# kept (evaluate.baseline_store) vs with the store emptied first: what keeping them saves a user
# whose pipeline reruns each time pictures land.
#
# Each side runs in a scratch git worktree of HEAD holding a copy of the workspace's pipeline
# outputs (so `make run` must be current: `dvc status` clean) and a DVC cache of its own without
# the run cache (DVC would otherwise restore the second side's stages from the first's runs), with
# tracking off. Three of scikit-image's bundled photos land in data/unlabeled/, and
# `python -m pipelines watch --once` reruns what depends on them. The workspace is not touched.
#
# Usage: bash benchmarks/incremental_rerun.sh        (from the repository root; about 6 minutes here)
set -euo pipefail
REPO=$(git rev-parse --show-toplevel)
BIN="$REPO/.venv/bin"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/openparts-incremental-XXXXXX")
OUTPUTS="outputs/unlabeled_pool outputs/object_masks outputs/configs outputs/train outputs/pseudo_labels
         outputs/cluster_features outputs/finetune outputs/evaluate outputs/baseline_store outputs/metrics.json data/demo"

cleanup() {
  for side in kept emptied; do git -C "$REPO" worktree remove --force "$SCRATCH/$side" 2>/dev/null || true; done
  git -C "$REPO" worktree prune
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

if [ -n "$(cd "$REPO" && "$BIN/dvc" status -q 2>&1)" ]; then
  echo "the workspace's pipeline is not current: run make run first" >&2
  exit 1
fi

rerun() {  # $1: kept | emptied; prints the seconds the rerun took
  local side=$1 tree="$SCRATCH/$1"
  git -C "$REPO" worktree add -q --detach "$tree" HEAD
  for path in $OUTPUTS; do
    mkdir -p "$tree/$(dirname "$path")"
    cp -a "$REPO/$path" "$tree/$path"
  done
  cp -al "$REPO/.dvc/cache" "$SCRATCH/cache-$side" && rm -rf "$SCRATCH/cache-$side/runs"
  (cd "$tree" && "$BIN/dvc" cache dir --local "$SCRATCH/cache-$side" >/dev/null)
  [ "$side" = emptied ] && rm -rf "$tree/outputs/baseline_store"/*
  (cd "$tree" && "$BIN/python" - <<'PY'
from PIL import Image
from skimage import data

for name, picture in (("astronaut", data.astronaut()), ("coffee", data.coffee()), ("chelsea", data.chelsea())):
    Image.fromarray(picture).save(f"data/unlabeled/{name}.png")
PY
  )
  local started ended
  started=$(date +%s.%N)
  (cd "$tree" && PATH="$BIN:$PATH" OPENPARTS_TRACKING=off "$BIN/python" -m pipelines watch --once --workdir "$tree" \
    --drop "$tree/data/unlabeled" --state "$tree/outputs/watch.json" >"$SCRATCH/$side.log" 2>&1)
  ended=$(date +%s.%N)
  echo "$ended - $started" | bc
}

kept=$(rerun kept)
emptied=$(rerun emptied)
made=$(grep -c "baseline_store: .* made in" "$SCRATCH/emptied.log" || true)
remade=$(grep -c "baseline_store: .* made in" "$SCRATCH/kept.log" || true)
same=$("$BIN/python" -c "
import json, sys
kept, emptied = (json.load(open(f'$SCRATCH/{side}/outputs/metrics.json')) for side in ('kept', 'emptied'))
baseline = [key for key in kept if key.split('/')[1].split('@')[0] in ('slic', 'felzenszwalb', 'ncut')]
print(f'{sum(kept[key] == emptied[key] for key in baseline)} of {len(baseline)}')")
printf 'rerun after 3 new unlabeled pictures: %.1f s with the kept baselines vs %.1f s with the store emptied (%.2fx)\n' \
  "$kept" "$emptied" "$(echo "$emptied / $kept" | bc -l)"
echo "baseline results made: $remade with the kept store, $made with it emptied; baseline metrics equal: $same"
