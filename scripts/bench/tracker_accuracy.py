#!/usr/bin/env python3
"""Pitch-tracker accuracy against CREPE (full model, torchcrepe) on real sampled instruments and a
voice, clean and degraded, for our tracker and three published ones side by side: raw pitch
accuracy (within 50 cents), raw chroma accuracy, voicing recall, voicing false alarm, and the
tracking delay against the reference.

Material (rendered here, not committed): six General MIDI instruments (viola, oboe, clarinet,
alto sax, French horn, bassoon; the tracker is trained on nothing), rendered by fluidsynth from
MuseScore_General (or FluidR3_GM) playing generated expressive phrases (legato lines, leaps,
vibrato by pitch bend, crescendi by CC11, repeated notes, rests), and two espeak-ng voices reading
text. Our tracker runs exactly as in the effect plugin, through `ddsp track` (`time_s` = when the
real-time path has the estimate); CREPE sees the whole file at once (non-causal, 10 ms hop).

Conditions (`--conditions`, all three by default). The reference is always CREPE full on the clean
file (the truth does not change with the condition); every tracker hears the degraded file, which
is deterministic (seeded) and peak-normalised to -1 dBFS like the clean one:
- clean: the rendered file.
- noise10: white Gaussian noise at 10 dB SNR against the file's active-signal power (the mean power
  of its 10 ms blocks within 40 dB of the loudest block), seeded by the file name.
- reverb: convolution with a synthetic room impulse response (one room, seed 20): a unit direct
  path at t = 0, then after a 3 ms pre-delay a tail of Gaussian noise decaying 60 dB in RT60 = 0.6 s
  (0.6 s long), scaled so that the direct-to-reverberant ratio is 0 dB. The output keeps the dry
  file's length.
In noise10 the voicing recall is also given on the reference-voiced frames "above the noise": whose
clean signal over the last 30 ms is at most 5 dB under the noise (the quiet attacks and tails
further under it are voiced in the clean file the reference hears, and masked in the one the
trackers hear).

Trackers. Each is scored "offline" (its frames stamped at their centres, scored at the lag that
maximises RPA, searched over -60..+60 ms in 1 ms steps; ours over 0..60 ms, as it is causal) and
"live" (each estimate stamped at frame centre + look-ahead, when the audio it needs has all arrived,
and scored with no delay compensation). Voicing recall and false alarm are taken at the offline
alignment. Each tracker voices by its own confidence against one fixed threshold:
- ours: `ddsp track`'s `voiced` column; live = `time_s` as written, offline = best lag.
- CREPE tiny (torchcrepe 0.0.24 'tiny' weights, 16 kHz, 10 ms hop): decoded here from the
  activations by CREPE's local weighted average (argmax +-4 bins; torchcrepe's `weighted_argmax`
  would apply a second sigmoid, and its bin decoders add random dither; Viterbi would use the future),
  same 32.7..1975.5 Hz range as the reference. Voiced: activation at the argmax >= 0.5 and not below
  torchcrepe's -60 dB A-weighted silence gate, the reference's threshold and gate (without its
  3-frame median). Look-ahead 32 ms: half CREPE's 1024-sample window at 16 kHz.
- SwiftF0 (swift-f0 0.3.0, ONNX Runtime, 16 kHz, 16 ms hop): `SwiftF0.detect`. Voiced: confidence
  >= 0.5 (the package's calibrated threshold). Look-ahead 176 ms = 2816 samples: its receptive field
  reaches 2815 samples past a frame's centre (half the 2048 STFT plus 7 frames; swift_f0/core.py,
  where `PitchStream` emits a frame once 10 later hops exist, and its README: "Streaming needs
  176 ms of lookahead").
- PESTO (pesto-pitch 2.0.1, model mir-1k_g7, 10 ms hop, fed the file's own rate: 48 kHz, the
  voices 22.05 kHz): `pesto.load_model` + forward, as `pesto.predict` does, but stamped by the real
  (whole-sample) hop. Voiced: confidence >= 0.5 (its voicing classifier is a
  sigmoid; the package sets no threshold). Look-ahead 66.5 ms: the network sees one frame of a
  centred variable-Q transform (the encoder has no time context), whose longest kernel (lowest bin,
  27 Hz, gamma 7) spans 133 ms. Its `streaming=True` mode waits half of the zero-padded kernel
  buffer instead (4096 samples at 48 kHz = 85.3 ms).
The look-aheads leave out resampling to 16 kHz (< 1 ms).

Set-up: scripts/bench/setup_bench.sh. Run:
    .venv-train/bin/python scripts/bench/tracker_accuracy.py [--ddsp target/release/ddsp] [--out DIR]
        [--conditions clean,noise10,reverb] [--materials viola,voice] [--threads N]
Prints Markdown tables (and writes them to DIR/tracker-accuracy.md): ours in detail on clean (the
README's table), then per condition every tracker per material, then a summary.
"""
import argparse
import csv
import random
import subprocess
import sys
import time
import zlib
from pathlib import Path

import mido
import numpy as np
import soundfile as sf
import torch
import torchaudio
import torchcrepe
from scipy.signal import fftconvolve

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
CREPE_FMIN_HZ, CREPE_FMAX_HZ = 32.7, 1975.5

CONDITIONS = ["clean", "noise10", "reverb"]
NOISE_SNR_DB = 10.0
# Blocks quieter than this below the loudest are not "active signal" for the SNR.
ACTIVE_RANGE_DB = 40.0
ACTIVE_BLOCK_S = 0.010
# In noise10, a reference-voiced frame is "above the noise" when the clean signal's power over the
# last LOCAL_SNR_S is no more than AUDIBLE_SNR_DB under the noise's.
LOCAL_SNR_S = 0.030
AUDIBLE_SNR_DB = -5.0
ROOM_RT60_S = 0.6
ROOM_PREDELAY_S = 0.003
ROOM_DRR_DB = 0.0
ROOM_SEED = 20

# The published trackers' look-ahead past a frame's centre before its estimate can exist (where
# each number comes from: the module docstring) and their voicing threshold on their confidence.
CREPE_TINY_LOOKAHEAD_S = 512 / CREPE_SR
SWIFT_LOOKAHEAD_S = 2816 / 16_000
PESTO_LOOKAHEAD_S = 0.0665
PUBLISHED_VOICED = 0.5


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
    # torchcrepe dithers decoded pitches by +-20 cents from numpy's global generator: seed it, so a
    # fresh reference is the same one.
    np.random.seed(0)
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


def room_impulse_response(sr: int) -> np.ndarray:
    """A synthetic room: unit direct path at t = 0, then (after the pre-delay) seeded Gaussian noise
    decaying 60 dB over RT60, scaled to the direct-to-reverberant ratio."""
    rng = np.random.default_rng(ROOM_SEED)
    n = int(ROOM_RT60_S * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * 10 ** (-3 * t / ROOM_RT60_S)
    tail *= np.sqrt(10 ** (-ROOM_DRR_DB / 10) / np.sum(tail**2))
    predelay = int(round(ROOM_PREDELAY_S * sr))
    ir = np.zeros(predelay + n)
    ir[0] = 1.0
    ir[predelay:] += tail
    return ir


def active_power(x: np.ndarray, sr: int) -> float:
    """Mean power of the 10 ms blocks within ACTIVE_RANGE_DB of the loudest (rests don't count)."""
    block = int(ACTIVE_BLOCK_S * sr)
    power = np.mean(np.square(x[: len(x) // block * block].reshape(-1, block), dtype=np.float64), axis=1)
    return float(np.mean(power[power >= power.max() * 10 ** (-ACTIVE_RANGE_DB / 10)]))


def noise10_power(x: np.ndarray, sr: int) -> float:
    """The power of noise10's white noise for the clean signal `x`."""
    return active_power(x, sr) * 10 ** (-NOISE_SNR_DB / 10)


def local_snr_db(clean: Path, times: np.ndarray) -> np.ndarray:
    """Per frame time: the clean signal's power over the last LOCAL_SNR_S against the noise10
    condition's noise power, dB."""
    x, sr = sf.read(clean, dtype="float64")
    noise_power = noise10_power(x, sr)
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    end = np.clip((times * sr).astype(int) + 1, 1, len(x))
    start = np.maximum(end - int(LOCAL_SNR_S * sr), 0)
    return 10 * np.log10((energy[end] - energy[start]) / (end - start) / noise_power + 1e-12)


def degraded(clean: Path, condition: str) -> Path:
    """The clean file under `condition` (written beside it once: it is deterministic)."""
    if condition == "clean":
        return clean
    path = clean.with_name(f"{clean.stem}.{condition}.wav")
    if path.exists() and path.stat().st_mtime > clean.stat().st_mtime:
        return path
    x, sr = sf.read(clean, dtype="float64")
    if condition == "noise10":
        rng = np.random.default_rng(zlib.crc32(clean.stem.encode()))
        y = x + rng.standard_normal(len(x)) * np.sqrt(noise10_power(x, sr))
    elif condition == "reverb":
        y = fftconvolve(x, room_impulse_response(sr))[: len(x)]
    else:
        sys.exit(f"unknown condition {condition!r} (known: {', '.join(CONDITIONS)})")
    y *= 10 ** (-1 / 20) / max(float(np.abs(y).max()), 1e-9)
    sf.write(path, y.astype(np.float32), sr, subtype="FLOAT")
    return path


def load_mono(path: Path, sr_out: int | None = None) -> tuple[torch.Tensor, int]:
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    x = torch.from_numpy(audio.mean(axis=1))[None, :]
    if sr_out is not None and sr_out != sr:
        x, sr = torchaudio.functional.resample(x, sr, sr_out), sr_out
    return x, sr


def crepe_tiny(path: Path):
    """CREPE tiny, decoded here by CREPE's local weighted average around the argmax: frame centres,
    f0, voiced."""
    x, sr = load_mono(path, CREPE_SR)
    hop = int(HOP_S * CREPE_SR)
    probs = []
    with torch.no_grad():
        for frames in torchcrepe.preprocess(x, sr, hop, batch_size=1024, device="cpu", pad=True):
            probs.append(torchcrepe.infer(frames, model="tiny"))  # sigmoid outputs, (frames, 360)
    probs = torch.cat(probs).numpy().astype(np.float64)
    cents = torchcrepe.CENTS_PER_BIN * np.arange(torchcrepe.PITCH_BINS) + 1997.3794084376191
    in_range = (cents >= 1200 * np.log2(CREPE_FMIN_HZ / 10)) & (cents <= 1200 * np.log2(CREPE_FMAX_HZ / 10))
    masked = np.where(in_range[None, :], probs, -1.0)
    centre = masked.argmax(axis=1)
    window = np.clip(centre[:, None] + np.arange(-4, 5)[None, :], 0, torchcrepe.PITCH_BINS - 1)
    weights = np.take_along_axis(probs, window, axis=1)
    f0 = 10 * 2 ** ((weights * cents[window]).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-12) / 1200)
    periodicity = torch.from_numpy(probs[np.arange(len(probs)), centre])[None, :]
    periodicity = torchcrepe.threshold.Silence(SILENCE_DB)(periodicity, x, sr, hop)[0].numpy()
    return np.arange(len(f0)) * HOP_S, f0, periodicity >= PUBLISHED_VOICED


_swift = None


def swift_f0(path: Path, threads: int):
    """SwiftF0 (ONNX Runtime, 16 kHz): frame centres, f0, voiced."""
    global _swift
    from swift_f0 import SwiftF0
    if _swift is None:
        _swift = SwiftF0(threads=threads, spin=False)
    x, sr = load_mono(path, 16_000)
    result = _swift.detect(x[0].numpy(), sr)
    return result.timestamps, result.pitch_hz, result.confidence >= PUBLISHED_VOICED


_pesto = None


def pesto_f0(path: Path):
    """PESTO (mir-1k_g7) at the file's own rate: frame centres, f0, voiced."""
    global _pesto
    import pesto
    x, sr = load_mono(path)
    if _pesto is None:
        _pesto = pesto.load_model("mir-1k_g7", step_size=1000 * HOP_S, sampling_rate=sr)
    with torch.inference_mode():
        f0, confidence, _, _ = _pesto(x[0], sr=sr, convert_to_freq=True, return_activations=True)
    f0, confidence = f0.numpy().astype(np.float64), confidence.numpy()
    # The hop is rounded to whole samples (221 at 22.05 kHz for 10 ms): `pesto.predict`'s timestamps
    # (frame x 10 ms) drift from the audio by 23 us a frame there, so stamp by the real hop.
    hop = _pesto.preprocessor.hcqt_kernels.cqt_kernels[0].hop_length
    return np.arange(len(f0)) * hop / sr, f0, confidence >= PUBLISHED_VOICED


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


TRACKERS = ["ours", "CREPE tiny", "SwiftF0", "PESTO"]
LOOKAHEAD_S = {"CREPE tiny": CREPE_TINY_LOOKAHEAD_S, "SwiftF0": SWIFT_LOOKAHEAD_S, "PESTO": PESTO_LOOKAHEAD_S}


def track(tracker: str, wav: Path, args):
    """(times, f0, voiced): ours stamped when the real-time path has the estimate, the published
    trackers at their frame centres."""
    if tracker == "ours":
        return ours(args.ddsp, wav, args.out)
    if tracker == "CREPE tiny":
        return crepe_tiny(wav)
    if tracker == "SwiftF0":
        return swift_f0(wav, args.threads)
    return pesto_f0(wav)


def evaluate(tracker: str, ref, est):
    """Live scores (no delay compensation), offline scores (at the best lag) and that lag (s)."""
    if tracker == "ours":
        live = scores(ref, est, 0.0)
        lags = [ms / 1000 for ms in range(0, MAX_LAG_MS + 1)]
    else:
        live = scores(ref, (est[0] + LOOKAHEAD_S[tracker], est[1], est[2]), 0.0)
        lags = [ms / 1000 for ms in range(-MAX_LAG_MS, MAX_LAG_MS + 1)]
    # Ties (a tracker's hop spans several 1 ms lags) go to the lag nearest 0.
    lags.sort(key=abs)
    rpa_by_lag = [scores(ref, est, lag)[0] for lag in lags]
    best = lags[int(np.argmax(rpa_by_lag))]
    return live, scores(ref, est, best), best


def weighted(results, i: int, live: bool = False) -> float:
    """Frame-weighted mean over materials of score i: over reference-voiced frames, or unvoiced
    ones for the false alarm (i == 3)."""
    weight_index = 5 if i == 3 else 4
    w = np.array([r[2][weight_index] for r in results], dtype=float)
    v = np.array([(r[1] if live else r[2])[i] for r in results])
    return float(np.nansum(v * w) / w.sum())


def ours_table(results) -> str:
    """Ours in detail (the README's table)."""
    lines = [
        "| material | RPA, no delay compensation | RPA | RCA | voicing recall | voicing false alarm | delay vs CREPE | voiced / unvoiced frames |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, at_zero, at_best, lag in results:
        rpa, rca, recall, fa, nv, nu = at_best
        lines.append(
            f"| {name} | {100 * at_zero[0]:.1f} % | {100 * rpa:.1f} % | {100 * rca:.1f} % | {100 * recall:.1f} % | "
            f"{100 * fa:.1f} % | {1000 * lag:.0f} ms | {nv} / {nu} |"
        )
    mean_lag = float(np.mean([r[3] for r in results])) * 1000
    voiced_total = sum(r[2][4] for r in results)
    unvoiced_total = sum(r[2][5] for r in results)
    lines.append(
        f"| **all (frame-weighted)** | | **{100 * weighted(results, 0):.1f} %** | **{100 * weighted(results, 1):.1f} %** | "
        f"**{100 * weighted(results, 2):.1f} %** | **{100 * weighted(results, 3):.1f} %** | **{mean_lag:.1f} ms** (mean) | "
        f"{voiced_total} / {unvoiced_total} |"
    )
    return "\n".join(lines)


def trackers_head(caption: str) -> list[str]:
    """A caption and the head of a material x tracker table."""
    return [caption, "", "| material | " + " | ".join(TRACKERS) + " |", "|---|" + "---|" * len(TRACKERS)]


def condition_table(condition: str, by_tracker) -> str:
    """Every tracker per material under one condition."""
    lines = trackers_head(
        f"**{condition}**: RPA live / RPA offline / voicing recall, % (live: each estimate when its "
        "look-ahead has arrived, no delay compensation; offline: at the best lag)")
    materials = [r[0] for r in by_tracker[TRACKERS[0]]]
    for m, name in enumerate(materials):
        cells = []
        for tracker in TRACKERS:
            _, live, offline, _ = by_tracker[tracker][m]
            cells.append(f"{100 * live[0]:.1f} / {100 * offline[0]:.1f} / {100 * offline[2]:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = [
        f"**{100 * weighted(by_tracker[t], 0, live=True):.1f} / {100 * weighted(by_tracker[t], 0):.1f} / "
        f"{100 * weighted(by_tracker[t], 2):.1f}**"
        for t in TRACKERS
    ]
    lines.append("| **all (frame-weighted)** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(results) -> str:
    """Tracker x condition, all materials frame-weighted."""
    lines = [
        "| tracker | look-ahead | condition | RPA live | RPA offline | best lag (mean) | voicing recall | voicing false alarm |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tracker in TRACKERS:
        ahead = "causal" if tracker == "ours" else f"{1000 * LOOKAHEAD_S[tracker]:.1f} ms"
        for condition, by_tracker in results.items():
            r = by_tracker[tracker]
            lag_ms = 1000 * float(np.mean([x[3] for x in r]))
            lines.append(
                f"| {tracker} | {ahead} | {condition} | {100 * weighted(r, 0, live=True):.1f} % | "
                f"{100 * weighted(r, 0):.1f} % | {lag_ms:.1f} ms | {100 * weighted(r, 2):.1f} % | "
                f"{100 * weighted(r, 3):.1f} % |"
            )
    return "\n".join(lines)


def above_noise_table(rows) -> str:
    """noise10: voicing recall on the reference-voiced frames above the noise, per tracker."""
    lines = trackers_head(
        f"**noise10, above the noise**: voicing recall (at the best lag) on the reference-voiced frames whose "
        f"clean signal over the last {1000 * LOCAL_SNR_S:.0f} ms is at most {-AUDIBLE_SNR_DB:.0f} dB under the "
        "noise, %; in brackets the share of reference-voiced frames further under it")
    materials = [r[0] for r in rows[TRACKERS[0]]]
    for m, name in enumerate(materials):
        share = 1 - rows[TRACKERS[0]][m][2] / rows[TRACKERS[0]][m][3]
        cells = [f"{100 * rows[t][m][1]:.1f}" for t in TRACKERS]
        lines.append(f"| {name} ({100 * share:.0f} % under) | " + " | ".join(cells) + " |")
    total = sum(r[2] for r in rows[TRACKERS[0]])
    cells = [f"**{100 * sum(r[1] * r[2] for r in rows[t]) / total:.1f}**" for t in TRACKERS]
    lines.append("| **all (frame-weighted)** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ddsp", type=Path, default=ROOT / "target/release/ddsp")
    parser.add_argument("--out", type=Path, default=ROOT / "target/bench-accuracy")
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help=f"comma-separated, of {', '.join(CONDITIONS)}")
    parser.add_argument("--materials", default="",
                        help="comma-separated parts of material names (e.g. viola,voice); all by default")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch and ONNX Runtime threads")
    args = parser.parse_args()
    conditions = [c for c in args.conditions.split(",") if c]
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown:
        sys.exit(f"unknown condition(s) {', '.join(unknown)} (known: {', '.join(CONDITIONS)})")
    wanted = [m.strip().lower() for m in args.materials.split(",") if m.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, args.threads))
    materials = [(n, w) for n, w in render_instruments(args.out) if not wanted or any(m in n.lower() for m in wanted)]
    if not materials:
        sys.exit(f"no material matches {args.materials!r}")
    # results[condition][tracker] = [(material, live scores, offline scores, offline lag s)]
    results = {c: {t: [] for t in TRACKERS} for c in conditions}
    # above_noise[tracker] = [(material, recall above the noise, frames above it, reference-voiced frames)]
    above_noise = {t: [] for t in TRACKERS}
    for name, wav in materials:
        start = time.monotonic()
        ref = crepe_reference(wav)
        print(f"{name}: reference {time.monotonic() - start:.0f} s", file=sys.stderr)
        # Reference-voiced frames above noise10's noise (the same for every tracker).
        audible = ref[2] & (local_snr_db(wav, ref[0]) >= AUDIBLE_SNR_DB) if "noise10" in conditions else None
        for condition in conditions:
            heard = degraded(wav, condition)
            for tracker in TRACKERS:
                start = time.monotonic()
                est = track(tracker, heard, args)
                live, offline, lag = evaluate(tracker, ref, est)
                results[condition][tracker].append((name, live, offline, lag))
                if condition == "noise10":
                    recall = scores((ref[0], ref[1], audible), est, lag)[2]
                    above_noise[tracker].append((name, recall, int(audible.sum()), int(ref[2].sum())))
                print(
                    f"  {condition} {tracker}: RPA live {100 * live[0]:.1f} %, offline {100 * offline[0]:.1f} % "
                    f"at {1000 * lag:.0f} ms, recall {100 * offline[2]:.1f} %, false alarm {100 * offline[3]:.1f} % "
                    f"({time.monotonic() - start:.0f} s)",
                    file=sys.stderr,
                )
    sections = []
    if "clean" in results:
        sections.append("### Ours, clean\n\n" + ours_table(results["clean"]["ours"]))
    sections.append("### All trackers, per condition")
    sections += [condition_table(c, results[c]) for c in conditions]
    if "noise10" in results:
        sections.append(above_noise_table(above_noise))
    sections.append("### Summary (all materials, frame-weighted)\n\n" + summary_table(results))
    text = "\n\n".join(sections)
    print(text)
    (args.out / "tracker-accuracy.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
