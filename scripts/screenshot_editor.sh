#!/usr/bin/env bash
# Screenshots the editor of a standalone (dummy audio back-end) under Xvfb into a PNG, for the
# README: scripts/screenshot_editor.sh [ddsp-instrument|ddsp-effect] [out.png]
# SIZE=820x560 resizes the window first (as the corner grip or a host would), to check the layout
# at the editor's minimum size or any other. Needs a built standalone (scripts/build.sh puts them
# in target/bundled/).
set -euo pipefail
cd "$(dirname "$0")/.."
APP="${1:-ddsp-instrument}"
OUT="${2:-docs/editor-${APP#ddsp-}.png}"
# The newest build of the standalone: the release bundle or a debug build.
BIN="$(ls -t "target/bundled/$APP" "target/release/$APP" "target/debug/$APP" 2>/dev/null | head -1 || true)"
[ -n "$BIN" ] || { echo "build $APP first (scripts/build.sh or cargo build -p ddsp_plugin --bins)"; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
for p in xvfb x11-apps netpbm xdotool; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="${missing:-} $p"
done
if [ -n "${missing:-}" ]; then
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

DISPLAY_NUM=:97
SIZE="${SIZE:-}"
SCREEN="${SIZE:-1040x700}"
Xvfb "$DISPLAY_NUM" -screen 0 "${SCREEN}x24" >/dev/null 2>&1 &
XVFB=$!
trap 'kill $APP_PID $XVFB 2>/dev/null || true' EXIT
sleep 1
DISPLAY="$DISPLAY_NUM" "$BIN" --backend dummy >/dev/null 2>&1 &
APP_PID=$!
sleep "${SETTLE_S:-6}"
if [ -n "$SIZE" ]; then
  WINDOW="$(DISPLAY="$DISPLAY_NUM" xdotool search --name "DDSP" | head -1)"
  DISPLAY="$DISPLAY_NUM" xdotool windowsize "$WINDOW" "${SIZE%x*}" "${SIZE#*x}"
  sleep 2
fi
mkdir -p "$(dirname "$OUT")"
xwd -root -display "$DISPLAY_NUM" -silent | xwdtopnm 2>/dev/null | pnmtopng > "$OUT"
echo "wrote $OUT"
