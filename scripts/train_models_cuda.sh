#!/usr/bin/env bash
# The shipped models' analysis and training on one CUDA machine, every instrument at once (one
# process each; on an H200 the eight together take minutes): what `scripts/make_models.sh` does on
# a CPU, from phrases rendered elsewhere (fluidsynth need not be installed there).
#
#   PHRASES=target/training/phrases bash scripts/train_models_cuda.sh [INSTRUMENT...]
#
# Then, back where fluidsynth and the engine are: `python -m training.release INSTRUMENT... --work
# $WORK` exports, measures fidelity and writes the cards. Needs python3 with torch (CUDA) and the
# trainer's requirements (training/requirements.txt). The recipe is `training/make.py`'s CUDA_RECIPE:
# a 4x larger batch than the CPU recipe, for more steps.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
WORK="${DDSP_WORK:-target/training}"
PHRASES="${PHRASES:-$WORK/phrases}"
INSTRUMENTS=("${@:-violin cello flute trumpet sax clarinet horn choir}")
read -r -a INSTRUMENTS <<< "${INSTRUMENTS[*]}"
read -r STEPS LEVEL_STEPS < <($PY -c 'from training.make import CUDA_STEPS as S, CUDA_LEVEL_STEPS as L; print(S, L)')

pipeline() {
  local name="$1" flags
  read -r -a flags <<< "$($PY -c "from training.make import train_flags, CUDA_RECIPE; print(train_flags(CUDA_RECIPE, '$name'))")"
  $PY -m training dataset "$PHRASES/$name" -o "$WORK/datasets/$name" --crepe tiny --device cuda --threads 2
  $PY -m training train "$WORK/datasets/$name" "$WORK/runs/$name" --steps $((STEPS - LEVEL_STEPS)) \
    --level-weight 0 --checkpoint-every 500 --device cuda --threads 2 "${flags[@]}"
  $PY -m training train "$WORK/datasets/$name" "$WORK/runs/$name" --steps "$STEPS" \
    --level-weight 1 --checkpoint-every 500 --device cuda --threads 2 "${flags[@]}"
  echo "== $name done"
}

mkdir -p "$WORK"
pids=()
for name in "${INSTRUMENTS[@]}"; do
  echo "== $name (log: $WORK/$name.log)"
  pipeline "$name" > "$WORK/$name.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { echo "${INSTRUMENTS[$i]} failed: $WORK/${INSTRUMENTS[$i]}.log"; failed=1; }
done
exit $failed
