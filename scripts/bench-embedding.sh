#!/usr/bin/env bash
# The embedding layer's cost, measured in one run on this machine: the bare engine and the Rust
# pipeline (engine/examples/speed.rs), the C example through libddsp.so, and Python's
# Pipeline.process — the same held Violin note, 48 kHz, 256-sample blocks, release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p ddsp-engine --lib --example speed
cc -O2 -std=c99 -D_POSIX_C_SOURCE=199309L -Iinclude examples/c/pipeline.c -Ltarget/release -lddsp -lm -o target/release/pipeline-c
rm -rf target/bench-venv target/wheels-release
python3 -m venv target/bench-venv
target/bench-venv/bin/pip install -q --disable-pip-version-check -r bindings/python/requirements-test.txt
MATURIN_PEP517_ARGS="--locked" target/bench-venv/bin/pip wheel -q --no-deps -w target/wheels-release ./bindings/python
target/bench-venv/bin/pip install -q target/wheels-release/ddsp_instrument-*.whl
for round in 1 2; do
  echo "== round $round"
  target/release/examples/speed
  LD_LIBRARY_PATH=target/release target/release/pipeline-c Violin | grep speed
  target/bench-venv/bin/python - <<'PY'
import time, math
import ddsp_instrument as ddsp
best = 1e9
for _ in range(5):
    p = ddsp.Pipeline(48000, 256, offline=False)
    info = p.load_model("Violin")
    p.set_f0_hz(math.sqrt(info["f0_min_hz"] * info["f0_max_hz"]))
    p.set_loudness_norm(0.7)
    t = time.perf_counter()
    for _ in range(48000 * 10 // 256):
        p.process(256)
    best = min(best, time.perf_counter() - t)
print(f"Python Pipeline.process(256):   {10 / best:7.1f}x real time")
PY
done
