#!/usr/bin/env bash
# Set-up, then the main job: release bundles (.clap, .vst3) and the two standalones in
# target/bundled/, the `ddsp` CLI in target/release/ (the shipped models are built into all of
# them), and a demo phrase rendered with the default model to target/demo.wav.
#
# One release build of the dependency tree: the plugin library, the standalones and the CLI are
# built by one cargo invocation (one feature set, so nothing is compiled twice), the bundles are
# made from that library (the same layout `cargo xtask bundle` makes), and the demo runs the built
# binary. Nothing for training is installed (scripts/setup_training.sh does that).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { printf '\n== [%dm%02ds] %s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "$*"; }

step "set-up: Debian packages for linking (scripts/setup.sh --build-only)"
bash scripts/setup.sh --build-only

step "release build: plugin library, standalones, CLI (~8 min on 2 cores from nothing; cargo shows each crate)"
cargo build --release --locked -p ddsp_plugin -p ddsp-cli --lib --bins

step "bundles in target/bundled/"
bundled=target/bundled
mkdir -p "$bundled"
lib=target/release/libddsp_plugin.so
name="$(sed -n 's/^name = "\(.*\)"/\1/p' bundler.toml | head -1)"   # "DDSP Instrument"
# CLAP on Linux: the library itself, renamed. VST3: a folder with the library per architecture.
cp "$lib" "$bundled/$name.clap"
rm -rf "$bundled/$name.vst3"
mkdir -p "$bundled/$name.vst3/Contents/$(uname -m)-linux"
cp "$lib" "$bundled/$name.vst3/Contents/$(uname -m)-linux/$name.so"
cp target/release/ddsp-instrument target/release/ddsp-effect "$bundled/"

step "demo: target/release/ddsp demo -o target/demo.wav"
target/release/ddsp demo -o target/demo.wav

step "done"
echo "Bundles in target/bundled/:"
ls -1 "$bundled"
echo "Install: cp -r 'target/bundled/$name.clap' ~/.clap/ ; cp -r 'target/bundled/$name.vst3' ~/.vst3/"
echo "Standalones: target/bundled/ddsp-instrument --help ; target/bundled/ddsp-effect --help"
echo "CLI: target/release/ddsp --help   Models: built in (flute, violin, cello, trumpet, sax, clarinet, horn, choir: 'target/release/ddsp models'); add your own in ~/.local/share/ddsp-instrument/models/"
