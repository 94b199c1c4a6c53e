#!/usr/bin/env bash
# What the Ardour host test needs: Debian's Ardour 7 (bookworm ships 7.3), whose `ardour7-lua` runs a
# session headless on the dummy backend, and its VST3 scanner. No recommends: the test needs no JACK,
# no desktop integration and no plugin collections.
set -euo pipefail
PACKAGES=(ardour "$@")
bash "$(dirname "$0")/debian_packages.sh" "${PACKAGES[@]}"
