#!/usr/bin/env python3
"""Pitch-tracker accuracy against CREPE (full model, torchcrepe) on real sampled instruments and a
voice: raw pitch accuracy (within 50 cents), raw chroma accuracy, voicing recall, voicing false
alarm, and the tracking delay against the reference.

Material (rendered here, not committed): six General MIDI instruments that our models are not
trained on (viola, oboe, clarinet, alto sax, French horn, bassoon), rendered by fluidsynth from
MuseScore_General (or FluidR3_GM) playing generated expressive phrases (legato lines, leaps,
vibrato by pitch bend, crescendi by CC11, repeated notes, rests), and two espeak-ng voices reading
text. Our tracker runs exactly as in the effect plugin, through `ddsp track` (`time_s` = when the
real-time path has the estimate); CREPE sees the whole file at once (non-causal, 10 ms hop).

Set-up: scripts/bench/setup_bench.sh. Run:
    .venv-train/bin/python scripts/bench/tracker_accuracy.py [--ddsp target/release/ddsp] [--out DIR]
Prints a Markdown table (and writes it to DIR/tracker-accuracy.md).
"""
import argparse
import csv
import random
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import soundfile as sf
import torch
import torchaudio
import torchcrepe

ROOT = Path(__file__).resolve().parents[2]
SOUNDFONTS = [
    Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
    Path("/usr/share/sounds/sf2/MuseScore_General.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
]
# name, GM program (0-based), lowest and highest MIDI note played.
INSTRUMENTS = [
    ("viola", 41, 48, 84),
    ("oboe", 68, 58, 89),
    ("clarinet", 71, 50, 86),
    ("alto sax", 65, 49, 80),
    ("french horn", 60, 41, 74),
    ("bassoon", 70, 34, 70),
]
VOICES = [("voice (espeak-ng, male)", "en-us"), ("voice (espeak-ng, female)", "en-us+f3")]
TEXT = (
    "The quick brown fox jumps over the lazy dog. A violin sings when the bow moves slowly, "
    "and the melody rises and falls like a voice. Seven silver swans swam silently southward."
)
CREPE_SR = 16_000
HOP_S = 0.010
VOICED_PERIODICITY = 0.5
SILENCE_DB = -60.0
MAX_LAG_MS = 60


def phrase(program: int, low: int, high: int, seed: int, seconds: float = 24.0) -> mido.MidiFile:
    """Expressive phrases: legato lines, leaps, vibrato, crescendi, repeated notes and rests."""
    rng = random.Random(seed)
    tpb = 480
    mid = mido.MidiFile(ticks_per_beat=tpb)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(96), time=0))
    track.append(mido.Message("program_change", program=program, time=0))
    events = []  # (tick, message)
    beat = tpb
    t = 0
    note = rng.randint(low + 4, high - 4)
    while t < seconds * 96 / 60 * beat:
        kind = rng.choice(["legato", "leap", "vibrato", "crescendo", "repeated", "rest"])
        if kind == "rest":
            t += rng.choice([beat // 2, beat])
            continue
        if kind == "legato":
            for _ in range(rng.randint(3, 6)):
                length = rng.choice([beat // 2, beat])
                events += [(t, mido.Message("note_on", note=note, velocity=rng.randint(60, 100)))]
                nxt = min(high, max(low, note + rng.choice([-2, -1, 1, 2, 3, -3])))
                # Overlap by a little: legato.
                events += [(t + length + 20, mido.Message("note_off", note=note, velocity=0))]
                t += length
                note = nxt
        elif kind == "leap":
            for _ in range(2):
                events += [(t, mido.Message("note_on", note=note, velocity=rng.randint(70, 110)))]
                events += [(t + beat - 30, mido.Message("note_off", note=note, velocity=0))]
                t += beat
                note = min(high, max(low, note + rng.choice([-9, -7, 7, 9, 12, -12])))
        elif kind == "vibrato":
            length = 2 * beat
            events += [(t, mido.Message("note_on", note=note, velocity=90))]
            for k in range(0, length, 30):
                depth = min(1.0, k / beat) * 0.15  # up to ±30 cents with the GM ±2 st range
                value = int(8191 * depth * np.sin(2 * np.pi * 5.5 * k / beat * 60 / 96))
                events += [(t + k, mido.Message("pitchwheel", pitch=value))]
            events += [(t + length, mido.Message("pitchwheel", pitch=0))]
            events += [(t + length - 20, mido.Message("note_off", note=note, velocity=0))]
            t += length
        elif kind == "crescendo":
            length = 2 * beat
            events += [(t, mido.Message("note_on", note=note, velocity=80))]
            for k in range(0, length, 40):
                events += [(t + k, mido.Message("control_change", control=11, value=int(30 + 97 * k / length)))]
            events += [(t + length - 20, mido.Message("note_off", note=note, velocity=0))]
            events += [(t + length, mido.Message("control_change", control=11, value=127))]
            t += length
        elif kind == "repeated":
            for _ in range(4):
                events += [(t, mido.Message("note_on", note=note, velocity=rng.randint(70, 100)))]
                events += [(t + beat // 2 - 60, mido.Message("note_off", note=note, velocity=0))]
                t += beat // 2
    events.sort(key=lambda e: e[0])
    last = 0
    for tick, message in events:
        track.append(message.copy(time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=beat * 2))
    return mid


def render_instruments(out: Path) -> list[tuple[str, Path]]:
    soundfont = next((s for s in SOUNDFONTS if s.exists()), None)
    if soundfont is None:
        sys.exit("no General MIDI soundfont: run scripts/bench/setup_bench.sh")
    files = []
    for i, (name, program, low, high) in enumerate(INSTRUMENTS):
        mid_path = out / f"{name.replace(' ', '_')}.mid"
        wav_path = mid_path.with_suffix(".wav")
        files.append((f"{name} ({soundfont.stem})", wav_path))
        if wav_path.exists():
            continue  # rendered by an earlier run (the phrases are seeded); delete to re-render
        phrase(program, low, high, seed=100 + i).save(mid_path)
        # Dry (no fluidsynth reverb or chorus): a tail of reverb is no one's pitch to judge.
        subprocess.run(
            ["fluidsynth", "-ni", "-R", "0", "-C", "0", "-g", "0.8", "-r", "48000", "-F", str(wav_path),
             str(soundfont), str(mid_path)],
            check=True,
            capture_output=True,
        )
        normalise(wav_path)
    for name, voice in VOICES:
        wav_path = out / f"{voice.replace('+', '_')}.wav"
        files.append((name, wav_path))
        if wav_path.exists():
            continue
        subprocess.run(["espeak-ng", "-v", voice, "-s", "135", "-w", str(wav_path), TEXT], check=True)
        normalise(wav_path)
    return files


def normalise(path: Path):
    """Mono, peak at -1 dBFS, 32-bit float: both trackers see the same, well-levelled signal (CREPE's
    silence gate is an absolute level)."""
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    mono *= 10 ** (-1 / 20) / max(float(np.abs(mono).max()), 1e-9)
    sf.write(path, mono, sr, subtype="FLOAT")


def crepe_reference(path: Path):
    """CREPE full over the whole file (cached beside it: it is the slow part)."""
    cache = path.with_suffix(".crepe.npz")
    if cache.exists() and cache.stat().st_mtime > path.stat().st_mtime:
        data = np.load(cache)
        return data["times"], data["f0"], data["voiced"]
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    mono = torch.from_numpy(audio.mean(axis=1))[None, :]
    x = torchaudio.functional.resample(mono, sr, CREPE_SR)
    hop = int(HOP_S * CREPE_SR)
    f0, periodicity = torchcrepe.predict(
        x, CREPE_SR, hop, fmin=32.7, fmax=1975.5, model="full", return_periodicity=True,
        batch_size=1024, device="cpu", pad=True,
    )
    periodicity = torchcrepe.filter.median(periodicity, 3)
    periodicity = torchcrepe.threshold.Silence(SILENCE_DB)(periodicity, x, CREPE_SR, hop)
    f0, periodicity = f0[0].numpy(), periodicity[0].numpy()
    voiced = periodicity >= VOICED_PERIODICITY
    times = np.arange(len(f0)) * HOP_S
    np.savez(cache, times=times, f0=f0, voiced=voiced)
    return times, f0, voiced


def ours(ddsp: Path, path: Path, out: Path):
    csv_path = out / (path.stem + ".track.csv")
    subprocess.run([str(ddsp), "track", str(path), "-o", str(csv_path)], check=True, capture_output=True)
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    t = np.array([float(r["time_s"]) for r in rows])
    f0 = np.array([float(r["f0_hz"]) for r in rows])
    voiced = np.array([r["voiced"] == "1" for r in rows])
    return t, f0, voiced


def scores(ref, est, lag_s: float):
    """mir_eval's definitions: RPA and RCA over reference-voiced frames (the estimate's pitch is
    used even where it says unvoiced), voicing recall, and false alarm over reference-unvoiced."""
    times, ref_f0, ref_voiced = ref
    est_t, est_f0, est_voiced = est
    # The real-time estimate for time t exists at t + lag.
    idx = np.clip(np.searchsorted(est_t, times + lag_s), 0, len(est_t) - 1)
    f0, voiced = est_f0[idx], est_voiced[idx]
    valid = f0 > 0
    cents = np.where(valid, 1200 * np.log2(np.maximum(f0, 1e-6) / np.maximum(ref_f0, 1e-6)), 1e4)
    chroma = np.abs(cents - 1200 * np.round(cents / 1200))
    rv = ref_voiced
    rpa = float(np.mean(np.abs(cents[rv]) <= 50)) if rv.any() else float("nan")
    rca = float(np.mean(chroma[rv] <= 50)) if rv.any() else float("nan")
    recall = float(np.mean(voiced[rv])) if rv.any() else float("nan")
    false_alarm = float(np.mean(voiced[~rv])) if (~rv).any() else float("nan")
    return rpa, rca, recall, false_alarm, int(rv.sum()), int((~rv).sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ddsp", type=Path, default=ROOT / "target/release/ddsp")
    parser.add_argument("--out", type=Path, default=ROOT / "target/bench-accuracy")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    totals = []
    for name, wav in render_instruments(args.out):
        ref = crepe_reference(wav)
        est = ours(args.ddsp, wav, args.out)
        lags = [ms / 1000 for ms in range(0, MAX_LAG_MS + 1)]
        rpa_by_lag = [scores(ref, est, lag)[0] for lag in lags]
        best = lags[int(np.argmax(rpa_by_lag))]
        at_zero = scores(ref, est, 0.0)
        at_best = scores(ref, est, best)
        rows.append((name, at_zero[0], *at_best[:4], best * 1000, at_best[4], at_best[5]))
        totals.append((at_zero, at_best, best))
        print(f"{name}: {rows[-1]}", file=sys.stderr)
    voiced_total = sum(t[1][4] for t in totals)
    unvoiced_total = sum(t[1][5] for t in totals)
    def weighted(i, weight_index):
        w = np.array([t[1][weight_index] for t in totals], dtype=float)
        v = np.array([t[1][i] for t in totals])
        return float(np.nansum(v * w) / w.sum())
    lines = [
        "| material | RPA, no delay compensation | RPA | RCA | voicing recall | voicing false alarm | delay vs CREPE | voiced / unvoiced frames |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rpa0, rpa, rca, recall, fa, lag_ms, nv, nu in rows:
        lines.append(
            f"| {name} | {100 * rpa0:.1f} % | {100 * rpa:.1f} % | {100 * rca:.1f} % | {100 * recall:.1f} % | "
            f"{100 * fa:.1f} % | {lag_ms:.0f} ms | {nv} / {nu} |"
        )
    mean_lag = float(np.mean([t[2] for t in totals])) * 1000
    lines.append(
        f"| **all (frame-weighted)** | | **{100 * weighted(0, 4):.1f} %** | **{100 * weighted(1, 4):.1f} %** | "
        f"**{100 * weighted(2, 4):.1f} %** | **{100 * weighted(3, 5):.1f} %** | **{mean_lag:.1f} ms** (mean) | "
        f"{voiced_total} / {unvoiced_total} |"
    )
    table = "\n".join(lines)
    print(table)
    (args.out / "tracker-accuracy.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
