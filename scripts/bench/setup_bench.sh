#!/usr/bin/env bash
# Installs what the accuracy benchmarks need (not the tests): the training set-up (fluidsynth, two
# General MIDI soundfonts, .venv-train with torch + torchcrepe) and espeak-ng (a voice).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/setup_training.sh espeak-ng
