#!/usr/bin/env python3
"""Does a model follow its instrument's brightness through a held note? The share of energy above
4 kHz (2048-point Hann frames at the frame ends), model minus recording in dB, per window after
the onset (0.05-0.2, 0.2-0.4, 0.4-1.0, 1.0-2.2 s), on two sets of material:

1. the benchmark's sustained notes (`python -m training benchmark`: one soundfont, every note and
   velocity it renders), resynthesised from their analysis as the benchmark does;
2. the model's own training phrases from that soundfont: every held note (>= 1 s on one key;
   onsets where the voice starts or the nearest key changes and stays 20 ms), its frames pooled.

The benchmark's high-band column measures 0.4-2.2 s; a model that plays the recordings' average
over a note (README, "A fifth cause": the flute) reads right early and wrong later, on the notes and
on the phrases alike.

Run: .venv-train/bin/python scripts/bench/onset_brightness.py flute [--model models/flute.onnx]
     [--soundfont musescore] [--work target/training]
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from training import HOP, SAMPLE_RATE  # noqa: E402
from training.benchmark import HIGH_HZ, cached_analysis, render_notes  # noqa: E402
from training.dataset import Clip, SkipFile  # noqa: E402
from training.fidelity import VOICED, resynthesise  # noqa: E402

WINDOWS_S = ((0.05, 0.2), (0.2, 0.4), (0.4, 1.0), (1.0, 2.2))
N_FFT = 2048
HELD_S, KEY_STAYS = 1.0, 5  # a held note's length; frames a new key must stay to be a note


class Power:
    """Power spectra summed per window, for the recording and the model."""

    def __init__(self):
        self.freqs = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
        self.window = np.hanning(N_FFT)
        self.sums = {w: [np.zeros(len(self.freqs)), np.zeros(len(self.freqs)), 0] for w in WINDOWS_S}

    def add(self, window, audio, model_out, frames):
        for i in frames:
            end = (i + 1) * HOP
            if end < N_FFT or end > len(audio):
                continue
            acc = self.sums[window]
            acc[0] += np.abs(np.fft.rfft(audio[end - N_FFT:end] * self.window)) ** 2
            acc[1] += np.abs(np.fft.rfft(model_out[end - N_FFT:end] * self.window)) ** 2
            acc[2] += 1

    def high_db(self, power):
        return 10 * np.log10(max(power[self.freqs > HIGH_HZ].sum(), 1e-30) / max(power.sum(), 1e-30))

    def rows(self):
        """(window, frames, recording dB, model dB) for every window in WINDOWS_S order (NaN where
        no frame fell in it), so rows line up across notes."""
        return [(w, n, self.high_db(rec) if n else np.nan, self.high_db(mod) if n else np.nan)
                for w, (rec, mod, n) in self.sums.items()]


def window_frames(onset, end, window):
    a, b = (int(s * SAMPLE_RATE / HOP) for s in window)
    return range(onset + a, min(onset + b, end))


def held_notes(clip):
    """(onset, end) frames of every note held HELD_S or longer on one key."""
    voiced = clip.periodicity > VOICED
    key = np.where(voiced, np.round(69 + 12 * np.log2(np.maximum(clip.f0_hz, 1.0) / 440)), -1)
    notes, onset, current = [], None, -1
    for i in range(len(key) + 1):
        changed = i == len(key) or (key[i] != current and (key[i] == -1 or np.all(key[i:i + KEY_STAYS] == key[i])))
        if not changed:
            continue
        if onset is not None and (i - onset) * HOP / SAMPLE_RATE >= HELD_S:
            notes.append((onset, i))
        if i < len(key):
            current, onset = key[i], (i if key[i] != -1 else None)
    return notes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("instrument")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--soundfont", default="musescore")
    parser.add_argument("--work", type=Path, default=Path("target/training"))
    args = parser.parse_args()
    model = args.model or Path("models") / f"{args.instrument}.onnx"

    # Per note, then the mean of the notes' differences (as the benchmark's high-band column).
    per_note = []
    for (note, velocity), path in render_notes(args.instrument, args.soundfont, args.work / "benchmark" / "notes"):
        try:
            clip = cached_analysis(path, args.work / "benchmark" / "analysis")
        except SkipFile:
            continue
        out, power = resynthesise(model, clip), Power()
        for w in WINDOWS_S:
            power.add(w, clip.audio, out, window_frames(0, len(clip.f0_hz), w))
        per_note.append(((note, velocity), power.rows()))

    phrases, dataset = Power(), args.work / "datasets" / args.instrument
    manifest = json.loads((dataset / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        if entry["status"] != "ok" or not name.startswith(f"{args.soundfont}/"):
            continue
        clip = Clip.load(dataset / entry["clip"])
        out = resynthesise(model, clip)
        for onset, end in held_notes(clip):
            for w in WINDOWS_S:
                phrases.add(w, clip.audio, out, window_frames(onset, end, w))

    print(f"{model} ({args.soundfont}): energy above {HIGH_HZ / 1000:g} kHz, share of the total, "
          "by time after the onset")
    print("| material | window (s) | frames | recording (dB) | model (dB) | model − recording (dB) |")
    print("|---|---|---|---|---|---|")
    for i, (a, b) in enumerate(WINDOWS_S):
        rows = [r[i] for _, r in per_note]
        print(f"| benchmark notes ({len(rows)}, mean of each note's) | {a}–{b} | {sum(r[1] for r in rows)} | "
              f"{np.mean([r[2] for r in rows]):.1f} | {np.mean([r[3] for r in rows]):.1f} | "
              f"{np.mean([r[3] - r[2] for r in rows]):+.2f} |")
    for (a, b), n, rec, mod in phrases.rows():
        print(f"| training phrases, held notes (pooled) | {a}–{b} | {n} | {rec:.1f} | {mod:.1f} | {mod - rec:+.2f} |")
    print("\nper note (model − recording, dB, by window): " + "; ".join(
        f"{note}/{velocity} " + " ".join(f"{r[3] - r[2]:+.1f}" for r in rows) for (note, velocity), rows in per_note))


if __name__ == "__main__":
    main()
