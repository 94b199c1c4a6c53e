#!/usr/bin/env bash
# Runs every test: Rust unit/integration tests (dsp-core properties and references, the CLI), the
# host tests that load the built bundles (CLAP through clack-host, VST3 through pedalboard), and the
# trainer's Python tests (against the Rust runtime). One dev-profile build shared by everything
# (dependencies at opt-level 2); xtask is left out of it (it is built in release by `cargo xtask`,
# and its dependencies would change the feature set, forcing a second build of everything for the
# bundle).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# The build below needs several GB (dev target, bundles; the README's first screen has the figure). A linker
# killed by SIGBUS on a full disk says nothing about space, so say it here.
echo "== free disk where target/ goes: $(df -h --output=avail . | tail -1 | tr -d ' ')"

echo "== build (dev profile, shared by tests and bundles; --lib: libddsp.so/.a for the C and C++ examples)"
cargo build --workspace --exclude xtask --lib --bins --tests --locked

echo "== bundle the plugin with allocation assertions (an allocation in process() aborts the host)"
cargo xtask bundle ddsp_plugin --features assert_process_allocs

echo "== cargo tests"
cargo test --workspace --exclude xtask --locked --no-fail-fast

echo "== VST3 bundle in pedalboard (JUCE's VST3 host)"
.venv/bin/python -m pytest host-tests/python -q

echo "== Ardour 7 (Debian) plays the built .vst3: scan, record, export, reopen, export; the effect's MIDI out recorded"
bash scripts/setup_ardour.sh
.venv/bin/python host-tests/ardour/run.py

echo "== the standalones under Xvfb: --model, a bad --model, idle CPU, a click on the model library, Restart audio now (in the cargo tests above: plugin/tests/standalone.rs)"

echo "== Python package in a fresh venv: one wheel (dev profile, reusing the build above), installed, pytest"
rm -rf target/py-test-venv target/wheels
python3 -m venv target/py-test-venv
target/py-test-venv/bin/pip install -q --disable-pip-version-check -r bindings/python/requirements-test.txt
MATURIN_PEP517_ARGS="--profile dev --locked" \
  target/py-test-venv/bin/pip wheel -q --disable-pip-version-check --no-deps -w target/wheels ./bindings/python
target/py-test-venv/bin/pip install -q --disable-pip-version-check target/wheels/ddsp_instrument-*.whl
DDSP_BIN="$PWD/target/debug/ddsp" target/py-test-venv/bin/python -m pytest bindings/python/tests -q
# The trainer's environment (PyTorch; set up here, not by scripts/setup.sh: building needs none of it).
bash scripts/setup_training.sh --venv-only
# The trainer's evaluation plays models through the same engine.
.venv-train/bin/pip install -q --disable-pip-version-check --no-deps --force-reinstall target/wheels/ddsp_instrument-*.whl

echo "== trainer: loudness vs the A-weighting standard, dataset on bad files, synths, and the smoke test"
echo "   (train a tiny model, export it, the Rust runtime reproduces it within 1e-4)"
DDSP_BIN="$PWD/target/debug/ddsp" .venv-train/bin/python -m pytest training/tests -q
