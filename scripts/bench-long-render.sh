#!/usr/bin/env bash
# Peak memory and speed of `ddsp render` on a long piece: one hour of music, 100,000 notes (four
# voices of 16th notes and chords at 140 BPM, velocities and pedal), rendered to 24-bit FLAC with
# the default mastering. Memory must not depend on the length (the renderer streams); the figure
# goes in the README. Usage: scripts/bench-long-render.sh [path/to/ddsp] (default: the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
DDSP="${1:-target/release/ddsp}"
[ -x "$DDSP" ] || { echo "no $DDSP: cargo build --release -p ddsp-cli" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 - "$WORK/long.mid" <<'PY'
import struct, sys, random
random.seed(7)
TPB, NOTES, SECONDS = 480, 100_000, 3600
def vlq(n):
    out = [n & 0x7F]; n >>= 7
    while n: out.append(0x80 | (n & 0x7F)); n >>= 7
    return bytes(reversed(out))
events = []  # (tick, order, bytes)
tick_per_s = TPB * 140 / 60
span = SECONDS * tick_per_s
step = span / NOTES
for i in range(NOTES):
    on = int(i * step)
    key = 48 + (i * 7) % 36
    events.append((on, 1, bytes([0x90, key, 40 + random.randrange(80)])))
    events.append((on + int(step * 3.5), 0, bytes([0x80, key, 0])))
for bar in range(0, int(span), TPB * 4):
    events.append((bar, 0, bytes([0xB0, 64, 127]))); events.append((bar + TPB * 3, 0, bytes([0xB0, 64, 0])))
events.sort()
body, last = bytearray(b"\x00\xff\x51\x03" + struct.pack(">I", 428571)[1:]), 0
for tick, _, data in events:
    body += vlq(tick - last) + data; last = tick
body += b"\x00\xff\x2f\x00"
open(sys.argv[1], "wb").write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, TPB) + b"MTrk" + struct.pack(">I", len(body)) + body)
PY
python3 - "$DDSP" "$WORK" <<'PY'
import resource, subprocess, sys, time
ddsp, work = sys.argv[1], sys.argv[2]
start = time.time()
out = subprocess.run([ddsp, "render", f"{work}/long.mid", "-o", f"{work}/long.flac"], check=True,
                     capture_output=True, text=True).stdout.strip()
wall = time.time() - start
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(out)
print(f"long render: 1 h, 100,000 notes -> FLAC: peak RSS {peak_mb:.1f} MB, {wall:.0f} s wall")
PY
