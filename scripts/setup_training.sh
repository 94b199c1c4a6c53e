#!/usr/bin/env bash
# The trainer's environment on top of scripts/setup.sh: .venv-train (PyTorch and the trainer's
# requirements), then what making training data needs: fluidsynth and two General MIDI soundfonts
# (MuseScore General and FluidR3, both MIT) whose sampled instruments we render, and the Python
# package (the fidelity benchmark plays models through the real engine).
# `--venv-only`: just .venv-train (what the trainer's tests need; the test command passes it).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_ONLY=0
if [ "${1:-}" = "--venv-only" ]; then VENV_ONLY=1; shift; fi
bash scripts/setup.sh

# The trainer (training/, PyTorch). torch from PyPI is ~3 GB of CUDA wheels even for CPU use, so
# the wheels are kept in a download cache outside the checkout and the venv is only touched when
# training/requirements.txt changes.
WHEELS="${DDSP_WHEEL_CACHE:-$HOME/.cache/ddsp-instrument/wheels}"
stamp="$(sha256sum training/requirements.txt | cut -d' ' -f1)"
if [ "$(cat .venv-train/.requirements 2>/dev/null)" != "$stamp" ]; then
  [ -x .venv-train/bin/python ] || python3 -m venv .venv-train
  mkdir -p "$WHEELS"
  echo "== training venv: wheels into $WHEELS (cached between runs), then .venv-train"
  .venv-train/bin/pip download -q --disable-pip-version-check -d "$WHEELS" -r training/requirements.txt
  .venv-train/bin/pip install -q --disable-pip-version-check --no-index --find-links "$WHEELS" \
    -r training/requirements.txt
  echo "$stamp" > .venv-train/.requirements
fi

if [ "$VENV_ONLY" = 1 ]; then exit 0; fi

PACKAGES=(fluidsynth fluid-soundfont-gm musescore-general-soundfont libsndfile1 "$@")
bash scripts/debian_packages.sh "${PACKAGES[@]}"

# The fidelity benchmark plays models through the real engine (the Python package, a release build).
if ! .venv-train/bin/python -c "import ddsp_instrument" 2>/dev/null; then
  .venv-train/bin/pip install -q --disable-pip-version-check ./bindings/python
fi
