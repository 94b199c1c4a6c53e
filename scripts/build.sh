#!/usr/bin/env bash
# Set-up, then the main job: release bundles (.clap, .vst3, standalone) in target/bundled/ (the
# shipped models are built into them), and a demo phrase rendered with the default model to
# target/demo.wav.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

cargo xtask bundle ddsp_plugin --release
cargo build --release --locked -p ddsp_plugin --bin ddsp-instrument --bin ddsp-effect -p ddsp-cli
cp target/release/ddsp-instrument target/release/ddsp-effect target/bundled/
cargo run --release --locked -q -p ddsp-cli -- demo -o target/demo.wav

echo
echo "Bundles in target/bundled/:"
ls -1 target/bundled/
echo "Install: cp -r 'target/bundled/DDSP Instrument.clap' ~/.clap/ ; cp -r 'target/bundled/DDSP Instrument.vst3' ~/.vst3/"
echo "Models:  built in (flute, violin, cello, trumpet: 'target/release/ddsp models'); add your own in ~/.local/share/ddsp-instrument/models/"
