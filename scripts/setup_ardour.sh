#!/usr/bin/env bash
# What the Ardour host test needs: Debian's Ardour 7 (bookworm ships 7.3), whose `ardour7-lua` runs a
# session headless on the dummy backend, and its VST3 scanner. No recommends: the test needs no JACK,
# no desktop integration and no plugin collections.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PACKAGES=(ardour "$@")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
