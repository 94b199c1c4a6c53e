#!/usr/bin/env bash
# Installs what the accuracy benchmarks need (not the tests): the training set-up (fluidsynth, two
# General MIDI soundfonts, .venv-train with torch + torchcrepe), espeak-ng (a voice), and the published
# pitch trackers the tracker benchmark runs beside ours: SwiftF0 (ONNX Runtime) and PESTO (torch), both
# shipping their weights; and mir_eval, whose note metrics score the effect's MIDI out
# (scripts/bench/midi_notes.py). `--no-deps` with their small dependencies pinned, so that nothing
# can move the venv's torch==torchaudio pin.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup_training.sh espeak-ng
TRACKERS=(swift-f0==0.3.0 pesto-pitch==2.0.1 omegaconf==2.4.0 PyYAML==6.0.4 mir_eval==0.8.2 decorator==5.2.1)
.venv-train/bin/pip install -q --disable-pip-version-check --no-deps "${TRACKERS[@]}"
