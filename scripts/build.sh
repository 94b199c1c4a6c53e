#!/usr/bin/env bash
# Set-up, then the main job: release bundles (.clap, .vst3, standalone) and the shipped models in
# target/bundled/, and a demo phrase rendered with the embedded default model to target/demo.wav.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

cargo xtask bundle ddsp_plugin --release
cargo build --release --locked -p ddsp_plugin --bin ddsp-instrument --bin ddsp-effect -p ddsp-cli
cp target/release/ddsp-instrument target/release/ddsp-effect target/bundled/
# The shipped instrument models and their cards (the best one is also embedded in the plugin).
mkdir -p target/bundled/models
cp models/*.onnx models/*.md target/bundled/models/
cargo run --release --locked -q -p ddsp-cli -- demo -o target/demo.wav

echo
echo "Bundles in target/bundled/:"
ls -1 target/bundled/
echo "Install: cp -r 'target/bundled/DDSP Instrument.clap' ~/.clap/ ; cp -r 'target/bundled/DDSP Instrument.vst3' ~/.vst3/"
echo "Models:  mkdir -p ~/.local/share/ddsp-instrument/models && cp target/bundled/models/*.onnx ~/.local/share/ddsp-instrument/models/"
