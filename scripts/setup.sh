#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine (run as root or with sudo).
# Idempotent: packages already present are skipped by apt; Python test tools go into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

DEBIAN_PACKAGES=(
  # linking the plugin: audio back-ends of the standalone, X11/GL for the editor
  pkg-config libasound2-dev libjack-jackd2-dev libx11-dev libx11-xcb-dev libxcursor-dev
  libxcb1-dev libxcb-icccm4-dev libxcb-dri2-0-dev libgl-dev
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Python tools used only by tests (a real VST3 host) and by the reference-data scripts.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-test.txt

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
