#!/usr/bin/env bash
# Installs what building and testing the plugin, the CLI and the libraries needs on a fresh Debian
# machine (run as root or with sudo). Idempotent: packages already present are skipped by apt;
# Python test tools go into .venv. The trainer's environment (PyTorch, ~8 GB with its wheel cache)
# is scripts/setup_training.sh, run by the test command and by whoever trains.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  # linking the plugin: audio back-ends of the standalone, X11/GL for the editor
  pkg-config libasound2-dev libjack-jackd2-dev libx11-dev libx11-xcb-dev libxcursor-dev
  libxcb1-dev libxcb-icccm4-dev libxcb-dri2-0-dev libgl-dev
)

# The tests also run the standalones' windows under Xvfb and click in them with xdotool, and play
# the effect standalone through a JACK server of their own (jackd2: its MIDI out recorded)
# (plugin/tests/standalone.rs).
if [ "${1:-}" != "--build-only" ]; then
  DEBIAN_PACKAGES+=(xvfb xauth xdotool jackd2)
fi

bash scripts/debian_packages.sh "${DEBIAN_PACKAGES[@]}"

# `--build-only` (scripts/build.sh): the packages above are all that building needs.
if [ "${1:-}" = "--build-only" ]; then exit 0; fi

# Python tools used only by tests (a real VST3 host) and by the reference-data scripts.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
