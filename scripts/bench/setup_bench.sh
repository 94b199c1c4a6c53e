#!/usr/bin/env bash
# Installs what the accuracy benchmarks need (not the tests): fluidsynth with two General MIDI
# soundfonts (sampled instruments), espeak-ng (a voice), and a Python venv with torch + torchcrepe.
set -euo pipefail
cd "$(dirname "$0")/../.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PACKAGES=(fluidsynth fluid-soundfont-gm musescore-general-soundfont espeak-ng libsndfile1)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
fi
.venv-bench/bin/pip install -q --disable-pip-version-check -r scripts/bench/requirements-bench.txt
