#!/usr/bin/env python3
"""What int8 weights change in the sound, in the fidelity benchmark's own metric (DDSP's
multi-scale spectral distance, `training.fidelity.spectral_distance`): each shipped model plays
the first of its seeded training phrases (rendered dry by fluidsynth from MuseScore General, as
the training data is) by timbre transfer (`ddsp render PHRASE.flac --master off`: our tracker's
pitch and loudness drive the model), with its f32 weights, with f16 weights (`--precision auto`)
and from its int8 file (`models/int8/`, `ddsp quantize`). Prints a markdown table: each render's
distance to the recording, and the f16 and int8 renders' distance to the f32 render (a second f32
render's is 0: renders are deterministic).

Run: .venv-train/bin/python scripts/bench/int8_fidelity.py [INSTRUMENT...]
(scripts/setup_training.sh makes .venv-train; `ddsp` from target/release or target/debug)
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from training.fidelity import spectral_distance  # noqa: E402
from training.phrases import render  # noqa: E402

DDSP = next((p for p in (ROOT / "target/release/ddsp", ROOT / "target/debug/ddsp") if p.exists()), None)


def play(source, out, model, precision):
    subprocess.run([str(DDSP), "--precision", precision, "render", str(source), "-o", str(out), "--model",
                    str(model), "--master", "off"], check=True, stdout=subprocess.DEVNULL)
    audio, _ = sf.read(out, dtype="float32", always_2d=True)
    return audio.mean(1)


def main(instruments):
    if DDSP is None:
        raise SystemExit("build ddsp first: cargo build -p ddsp-cli")
    print("| model | phrase | f32 vs recording | f16 vs recording | int8 vs recording | f16 vs f32 | int8 vs f32 |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in instruments:
            render(name, tmp, minutes=0.4)
            source = sorted((tmp / name / "musescore").glob(f"{name}_*.flac"))[0]
            recording, _ = sf.read(source, dtype="float32")
            f32 = play(source, tmp / "f32.wav", ROOT / f"models/{name}.onnx", "f32")
            again = play(source, tmp / "again.wav", ROOT / f"models/{name}.onnx", "f32")
            assert np.array_equal(f32, again), "two f32 renders differ: the comparison would measure noise"
            f16 = play(source, tmp / "f16.wav", ROOT / f"models/{name}.onnx", "auto")
            int8 = play(source, tmp / "int8.wav", ROOT / f"models/int8/{name}.onnx", "auto")
            n = min(len(recording), len(f32), len(f16), len(int8))
            d = lambda a, b: spectral_distance(np.ascontiguousarray(a[:n]), b[:n])
            print(f"| {name} | {source.name}, {n / 48000:.1f} s | {d(recording, f32):.3f} | {d(recording, f16):.3f} | "
                  f"{d(recording, int8):.3f} | {d(f32, f16):.3f} | {d(f32, int8):.3f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or [p.stem for p in sorted((ROOT / "models").glob("*.onnx"))])
