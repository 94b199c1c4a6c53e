#!/usr/bin/env bash
# Makes the shipped instrument models from nothing, on CPU: renders the training phrases with
# fluidsynth, analyses them (CREPE tiny + loudness), trains, exports to models/, measures fidelity on
# the held-out phrases and writes models/README.md's table, the spectrograms and the model cards.
#
#   bash scripts/make_models.sh [INSTRUMENT...]     (default: all of training/phrases.py's INSTRUMENTS)
#
# Each instrument's phrases come from two soundfonts, 6.5 minutes each (MuseScore General and FluidR3
# GM: two players, two instrument bodies). On a CUDA machine, scripts/train_models_cuda.sh runs the
# analysis and training of all instruments at once from the same phrases.
#
# Work files go to ${DDSP_WORK:-target/training} (rendered audio, datasets, runs); every stage is
# cached or resumes, so an interrupted run continues where it stopped. Two instruments train at a
# time, one thread each. The recipe is `training/make.py`'s (the one `python -m training make` uses);
# STEPS (the spectral phase), LEVEL_STEPS, BATCH and CLIP_SECONDS override it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_training.sh
PY=.venv-train/bin/python
WORK="${DDSP_WORK:-target/training}"
read -r RECIPE_SPECTRAL RECIPE_LEVEL < <($PY -c 'from training.make import STEPS, LEVEL_STEPS as L; print(STEPS - L, L)')
STEPS="${STEPS:-$RECIPE_SPECTRAL}"
LEVEL_STEPS="${LEVEL_STEPS:-$RECIPE_LEVEL}"
INSTRUMENTS=("${@:-$($PY -c 'from training.phrases import INSTRUMENTS; print(*INSTRUMENTS)')}")
read -r -a INSTRUMENTS <<< "${INSTRUMENTS[*]}"

pipeline() {
  local name="$1"
  local dynamics recipe_flags
  dynamics=$($PY -c "from training.make import phrase_dynamics; print(phrase_dynamics('$name'))")
  read -r -a recipe_flags <<< "$($PY -c "from training.make import train_flags; print(train_flags(name='$name'))")"
  for soundfont in musescore fluidr3; do
    $PY -m training phrases "$name" -o "$WORK/phrases" --minutes 6.5 --soundfont "$soundfont" --dynamics "$dynamics"
  done
  $PY -m training dataset "$WORK/phrases/$name" -o "$WORK/datasets/$name" --crepe tiny --threads 1
  # Phase 1: the spectral loss alone; phase 2 (the recipe of the shipped models, found on the way):
  # with the A-weighted level loss too, which removed a 1.3-2.4 dB level deficit.
  local common=("${recipe_flags[@]}" ${BATCH:+--batch-size "$BATCH"} ${CLIP_SECONDS:+--clip-seconds "$CLIP_SECONDS"} --threads 1)
  $PY -m training train "$WORK/datasets/$name" "$WORK/runs/$name" --steps "$STEPS" --level-weight 0 \
    --checkpoint-every 250 "${common[@]}"
  $PY -m training train "$WORK/datasets/$name" "$WORK/runs/$name" --steps $((STEPS + LEVEL_STEPS)) \
    --level-weight 1 --checkpoint-every 200 "${common[@]}"
}

mkdir -p "$WORK"
running=0
for name in "${INSTRUMENTS[@]}"; do
  echo "== $name: phrases, dataset, training (log: $WORK/$name.log)"
  pipeline "$name" > "$WORK/$name.log" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge 2 ]; then wait -n; running=$((running - 1)); fi
done
wait

echo "== export to models/, fidelity on the held-out phrases, cards, models/README.md"
$PY -m training.release "${INSTRUMENTS[@]}" --work "$WORK"

echo "== against the sampled instruments: harmonic profile, high band, f0 vs pYIN (models/README.md)"
$PY -m training benchmark "${INSTRUMENTS[@]}" --phrases "$WORK/phrases" --work "$WORK" --readme models/README.md

echo "== int8 variants (models/int8/, ddsp quantize) and ONNX Runtime's outputs for them"
bash scripts/make_int8_models.sh
