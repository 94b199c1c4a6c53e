#!/usr/bin/env bash
# What making training data needs on top of scripts/setup.sh: fluidsynth and two General MIDI
# soundfonts (MuseScore General and FluidR3, both MIT) whose sampled instruments we render.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PACKAGES=(fluidsynth fluid-soundfont-gm musescore-general-soundfont libsndfile1 "$@")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The fidelity benchmark plays models through the real engine (the Python package, a release build).
if ! .venv-train/bin/python -c "import ddsp_instrument" 2>/dev/null; then
  .venv-train/bin/pip install -q --disable-pip-version-check ./bindings/python
fi
