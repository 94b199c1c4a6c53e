#!/usr/bin/env python3
"""How late the effect's output pitch follows its input on real material: the tracker alone and
the whole effect, as a contour delay (1 ms frames, 0.25 ms lag steps) and the jitter around it.

Material: the eight files of scripts/bench/tracker_accuracy.py (six sampled instruments rendered dry
by fluidsynth, two espeak-ng voices; rendered there, reused here). Both contours come from one
independent estimator, a plain offline YIN (12 ms frames centred on each millisecond, threshold
0.15, parabolic refinement; not our tracker), run on the input and on the effect's output
(`ddsp render IN.wav --no-align --master off`: the real-time path's delay kept). The tracker alone is
`ddsp track`'s contour, stamped when the real-time path has each estimate. For each, the delay is
the lag that minimises the median absolute difference (cents) to the input's contour over frames
both call voiced; the jitter is the spread (interquartile range, cents) at that lag. The effect's
reported latency is printed beside it: what a host compensates must be what a listener hears.
Then the same after the host's compensation (`ddsp render` without `--no-align` removes the
reported latency, as a host's delay compensation does): the pitch's residual lag, at the lowest
latency and pitch-aligned down to `--align-pitch-to` Hz (the effect's Latency parameter), where
every note at or above it should come out at 0.

Set-up: scripts/bench/setup_bench.sh. Run (after tracker_accuracy.py has rendered the material):
    .venv-train/bin/python scripts/bench/effect_pitch_delay.py [--ddsp target/release/ddsp] [--out DIR]
"""
import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tracker_accuracy  # noqa: E402
from tracker_accuracy import ROOT, render_instruments  # noqa: E402

SR = 16000
HOP_S = 0.001
WINDOW_S = 0.012
FMIN, FMAX = 60.0, 1000.0
MAX_LAG_MS = 30
MIN_LAG_MS = -10  # after compensation the pitch could come early


def yin(path: Path):
    """Offline YIN contour: (times, MIDI pitch or NaN where unvoiced)."""
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    x = torchaudio.functional.resample(torch.from_numpy(audio.mean(axis=1)), sr, SR).numpy().astype(np.float64)
    w = int(WINDOW_S * SR)
    max_lag = int(SR / FMIN) + 2
    min_lag = int(SR / FMAX)
    hop = int(HOP_S * SR)
    centres = np.arange(w // 2, len(x) - w // 2 - max_lag, hop)
    times, pitch = centres / SR, np.full(len(centres), np.nan)
    n_fft = 1 << int(np.ceil(np.log2(w + max_lag)))
    for start in range(0, len(centres), 2000):
        c = centres[start : start + 2000]
        idx = (c - w // 2)[:, None] + np.arange(w + max_lag)[None, :]
        frames = x[idx]
        head = frames[:, :w]
        # d(τ) = Σ x_j² + Σ x_{j+τ}² − 2 Σ x_j x_{j+τ} over the window j < w.
        cross = np.fft.irfft(np.conj(np.fft.rfft(head, n_fft)) * np.fft.rfft(frames, n_fft), n_fft)[:, : max_lag + 1]
        sq = np.concatenate([np.zeros((len(c), 1)), np.cumsum(frames**2, axis=1)], axis=1)
        energy0 = sq[:, w]
        lags = np.arange(max_lag + 1)
        energy_tau = sq[:, lags + w] - sq[:, lags]
        d = energy0[:, None] + energy_tau - 2 * cross
        d[:, 0] = 0
        cumulative = np.cumsum(d[:, 1:], axis=1)
        cmndf = np.ones_like(d)
        cmndf[:, 1:] = d[:, 1:] * lags[1:] / np.maximum(cumulative, 1e-20)
        for i, row in enumerate(cmndf):
            below = np.nonzero(row[min_lag:max_lag] < 0.15)[0]
            if len(below) == 0:
                continue
            tau = min_lag + below[0]
            while tau + 1 < max_lag and row[tau + 1] < row[tau]:
                tau += 1
            a, b, cc = row[tau - 1], row[tau], row[tau + 1]
            denominator = a - 2 * b + cc
            shift = 0.5 * (a - cc) / denominator if denominator > 0 else 0.0
            period = tau + np.clip(shift, -0.5, 0.5)
            pitch[start + i] = 69 + 12 * np.log2(SR / period / 440)
    return times, pitch


def ours(ddsp: Path, path: Path, out: Path):
    """`ddsp track`'s contour as MIDI pitch, NaN where it says unvoiced."""
    t, f0, voiced = tracker_accuracy.ours(ddsp, path, out)
    return t, np.where(voiced, 69 + 12 * np.log2(np.maximum(f0, 1e-6) / 440), np.nan)


def delay(reference, measured):
    """(lag ms, median |cents|, IQR cents) of `measured(t)` against `reference(t − lag)`."""
    t_ref, p_ref = reference
    t, p = measured
    best = None
    for quarter_ms in range(4 * MIN_LAG_MS, 4 * MAX_LAG_MS + 1):
        lag = quarter_ms / 4000
        ref = np.interp(t - lag, t_ref, p_ref, left=np.nan, right=np.nan)
        # Interpolating across an unvoiced gap is not a pitch.
        gap = np.interp(t - lag, t_ref, np.isnan(p_ref).astype(float), left=1, right=1) > 0
        both = ~np.isnan(p) & ~np.isnan(ref) & ~gap
        diff = 100 * (p[both] - ref[both])
        diff = diff[np.abs(diff) < 100]  # octave and note errors are accuracy, not delay
        if len(diff) < 100:
            continue
        score = np.median(np.abs(diff))
        if best is None or score < best[1]:
            q1, q3 = np.percentile(diff, [25, 75])
            best = (lag * 1000, score, q3 - q1)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ddsp", type=Path, default=ROOT / "target/release/ddsp")
    parser.add_argument("--out", type=Path, default=ROOT / "target/bench-accuracy")
    parser.add_argument("--align-pitch-to", type=float, default=110.0,
                        help="the aligned render's lowest aligned note, Hz (ddsp render --align-pitch-to)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    aligned = f"{args.align_pitch_to:g} Hz"
    lines = [
        "| material | tracker alone: delay, median error, jitter (IQR) | whole effect: delay, median error, jitter (IQR) "
        f"| after compensation, lowest latency: residual lag | after compensation, pitch aligned to {aligned}: residual lag |",
        "|---|---|---|---|---|",
    ]
    fmt = lambda d: f"{d[0]:.2f} ms, {d[1]:.1f} ¢, {d[2]:.1f} ¢"
    for name, wav in render_instruments(args.out):
        reference = yin(wav)

        def effect(stem, *flags):
            wet = args.out / (wav.stem + stem)
            subprocess.run([str(args.ddsp), "render", str(wav), "-o", str(wet), "--master", "off", *flags],
                           check=True, capture_output=True)
            return delay(reference, yin(wet))

        tracker = delay(reference, ours(args.ddsp, wav, args.out))
        raw = effect(".effect.wav", "--no-align")
        low = effect(".effect-compensated.wav")
        pitch_aligned = effect(".effect-aligned.wav", "--align-pitch-to", f"{args.align_pitch_to:g}")
        row = (f"| {name} | {fmt(tracker)} | {fmt(raw)} | {low[0]:+.2f} ms ({low[1]:.1f} ¢) "
               f"| {pitch_aligned[0]:+.2f} ms ({pitch_aligned[1]:.1f} ¢) |")
        print(row, file=sys.stderr)
        lines.append(row)
    info = subprocess.run([str(args.ddsp), "info"], check=True, capture_output=True, text=True).stdout
    table = "\n".join(lines)
    print(table)
    print(f"\n(the default model; `ddsp info` frame rate line: {next((l for l in info.splitlines() if 'frame' in l.lower()), '?').strip()})")
    (args.out / "effect-pitch-delay.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
