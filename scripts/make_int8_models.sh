#!/usr/bin/env bash
# The shipped models' int8 variants (models/int8/, `ddsp quantize`: weight-only, one scale per
# output channel) and ONNX Runtime's outputs for them on each model's reference input
# (models/reference/int8/NAME.out.csv), which `cli/tests/models.rs` holds the native runtime to.
# Run after the f32 models change (scripts/make_models.sh does): bash scripts/make_int8_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# onnxruntime: in .venv (scripts/setup.sh) and in .venv-train (scripts/setup_training.sh).
PY=.venv/bin/python
[ -x "$PY" ] || PY=.venv-train/bin/python
cargo build -q -p ddsp-cli --bin ddsp
mkdir -p models/int8 models/reference/int8
for model in models/*.onnx; do
  name=$(basename "$model" .onnx)
  target/debug/ddsp quantize "models/$name.onnx" -o "models/int8/$name.onnx"
  "$PY" scripts/onnxruntime_infer.py "models/int8/$name.onnx" "models/reference/$name.in.csv" \
    "models/reference/int8/$name.out.csv"
done
