"""Folder of monophonic recordings -> cached clips with f0 (CREPE), periodicity and loudness.

Any rate, mono or stereo, WAV/FLAC/OGG/MP3 (libsndfile). Each file is mixed to mono, resampled to
48 kHz and analysed at the model's frame rate (250 frames/s):
* f0 and periodicity from CREPE (torchcrepe, weights shipped; `full` or `tiny`) at 16 kHz, fmin/fmax
  inside CREPE's 32.7-1975.5 Hz, decoded from the network's probabilities by a local average
  (argmax ± 4 bins, no dither: torchcrepe 0.0.24's `weighted_argmax` applies a second sigmoid, which
  shrinks the in-bin offsets to ~15 %, and dithers the bin centres randomly once per process, so
  its f0 was a 20-cent staircase that differed run to run); then each voiced frame's f0 is refined
  on the 48 kHz signal itself (`refine_f0`: the period within ±50 cents of CREPE's that minimises
  the signal's squared difference with itself, to a fraction of a sample), which keeps vibrato
  (±18 cents at 5.6 Hz comes back within 0.1-0.7 cents median, 110-1760 Hz) and is deterministic;
  a reading of a harmonic (CREPE tiny on low notes with a weak fundamental) is divided by m where
  the signal repeats after m periods far better than after one (`fix_octaves`, m = 2, 3, 4);
  unvoiced frames hold the last voiced f0 (as the real-time tracker does), so the harmonic synth
  never chirps through CREPE's guesses in silences;
* A-weighted loudness per `models/FORMAT.md` (`training.loudness`).
Results are cached per file (`clips/*.npz`, keyed by path, size and mtime): rerunning resumes and
only analyses what is new. A file that cannot be decoded, is silent or has no pitched frame is
reported and skipped; the run goes on. Files matching `--holdout` (default `*heldout*`) form the
fixed validation split (none: `train` holds out the tail of each recording instead).
"""
import fnmatch
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from . import FRAME_RATE, HOP, SAMPLE_RATE
from .loudness import RANGE_DB, frame_loudness

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff"}
CREPE_RATE = 16_000
CREPE_FMIN, CREPE_FMAX = 32.7, 1975.5
SILENCE_PEAK = 10 ** (-80 / 20)
SILENT_LOUDNESS_DB = -80.0
MIN_VOICED_FRAMES = 25  # 100 ms of pitched sound
# Bumped whenever the analysis changes (f0 convention, loudness definition): cached clips made by an
# older analysis are redone. 2: A-weighting matched to the analog curve at 10 kHz (FORMAT.md).
# 3: CREPE decoded by a local average without dither, then refined on the signal (`refine_f0`).
# 4: readings of a harmonic brought down to the fundamental (`fix_octaves`); a version-3 clip is
# upgraded without rerunning CREPE (`upgrade_clip`: the same result as a new analysis).
ANALYSIS_VERSION = 4
# How far from CREPE's estimate `refine_f0` looks for the period (a quarter tone either way: CREPE
# chooses the octave and the note, the signal the exact pitch).
REFINE_CENTS = 50.0
# `fix_octaves`: an f0 is divided by m when the signal repeats after m periods at least this many
# times better than after one, and after one no better than this (normalised squared difference).
# Chosen on the cello's phrases against their MIDI (every 6th frame of the notes' middle halves):
# ratio 12 brings 79 % of the readings that were too high down and breaks 0.42 % of the right ones
# (release tails under the next note repeat after the two notes' common period); 4: 86 % and 1.60 %.
OCTAVE_RATIO, OCTAVE_MIN_DIFFERENCE = 12.0, 0.1


class SkipFile(Exception):
    """A file the dataset reports and skips."""


@dataclass
class Clip:
    name: str
    audio: np.ndarray  # float32, 48 kHz mono, n_frames * HOP samples
    f0_hz: np.ndarray
    periodicity: np.ndarray
    loudness_db: np.ndarray
    # The folder the recording sits in under the dataset's source folder (e.g. a soundfont's phrases:
    # `phrases/cello/fluidr3/…`), "" for one at the top: what a source-conditioned model tells apart.
    source: str = ""

    @classmethod
    def load(cls, path):
        with np.load(path) as z:
            return cls(str(z["name"]), z["audio"], z["f0_hz"], z["periodicity"], z["loudness_db"])

    def save(self, path):
        np.savez(path, name=self.name, audio=self.audio, f0_hz=self.f0_hz, periodicity=self.periodicity,
                 loudness_db=self.loudness_db)


def resample(audio, from_rate, to_rate):
    if from_rate == to_rate:
        return np.asarray(audio, np.float32)
    g = math.gcd(int(from_rate), int(to_rate))
    return signal.resample_poly(audio, to_rate // g, from_rate // g).astype(np.float32)


def load_audio(path):
    """Mono float32 at 48 kHz. Raises SkipFile with the reason."""
    import soundfile as sf
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile's errors are RuntimeError subclasses; be broad: never fatal
        raise SkipFile(f"cannot decode ({str(e).strip() or type(e).__name__})") from None
    if audio.shape[0] == 0:
        raise SkipFile("no samples")
    if not np.all(np.isfinite(audio)):
        raise SkipFile("non-finite samples")
    audio = resample(audio.mean(axis=1), rate, SAMPLE_RATE)
    if np.max(np.abs(audio)) < SILENCE_PEAK:
        raise SkipFile("silent (peak below -80 dBFS)")
    n_frames = len(audio) // HOP
    if n_frames < MIN_VOICED_FRAMES:
        raise SkipFile(f"too short ({len(audio) / SAMPLE_RATE:.3f} s)")
    return audio[: n_frames * HOP]


def crepe_f0(audio, model="tiny", device="cpu", batch_size=512):
    """f0 (Hz) and periodicity per 4 ms frame of 48 kHz `audio`, taken at each frame's end."""
    import torch
    import torchcrepe
    x = resample(audio, SAMPLE_RATE, CREPE_RATE)
    hop16 = CREPE_RATE // FRAME_RATE
    with torch.no_grad():
        f0, periodicity = torchcrepe.predict(
            torch.from_numpy(x)[None], CREPE_RATE, hop16, CREPE_FMIN, CREPE_FMAX, model,
            batch_size=batch_size, device=device, pad=True, return_periodicity=True,
            decoder=local_average)
    f0, periodicity = f0[0].numpy(), periodicity[0].numpy()
    # CREPE frame j is centred on sample j*hop; frame i of ours ends at (i+1)*hop.
    n = len(audio) // HOP
    idx = np.minimum(np.arange(1, n + 1), len(f0) - 1)
    return f0[idx].astype(np.float32), periodicity[idx].astype(np.float32)


def local_average(probabilities):
    """CREPE's pitch from its bin probabilities `[batch, 360, frames]` (already sigmoid outputs; -inf
    outside fmin..fmax): the probability-weighted mean of the bins' cents within ±4 bins of the most
    probable one. Deterministic (no dither). Returns the argmax bins and f0 in Hz, as torchcrepe's
    decoders do."""
    import torch
    import torchcrepe
    bins = probabilities.argmax(dim=1)
    index = torch.arange(probabilities.size(1), device=probabilities.device)[None, :, None]
    near = (index >= bins[:, None, :] - 4) & (index <= bins[:, None, :] + 4) & torch.isfinite(probabilities)
    weights = torch.where(near, probabilities, torch.zeros_like(probabilities))
    cents = torchcrepe.CENTS_PER_BIN * index.to(probabilities.dtype) + 1997.3794084376191
    mean = (weights * cents).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-12)
    return bins, torchcrepe.convert.cents_to_frequency(mean)


def refine_f0(audio, f0, voiced):
    """Each voiced frame's f0 measured on the 48 kHz signal around `f0` (CREPE's): the lag within
    ±REFINE_CENTS of its period minimising the squared difference between the signal and itself
    delayed, over max(2 periods, 10 ms) centred on the frame's end, refined to a fraction of a
    sample by a parabola through the minimum and its neighbours. A frame whose minimum lies on the
    edge of that range, or too close to the ends of the audio, keeps CREPE's estimate."""
    out = np.asarray(f0, np.float64).copy()
    x = np.asarray(audio, np.float64)
    for i in np.flatnonzero(voiced):
        period = SAMPLE_RATE / out[i]
        lo = max(2, int(np.floor(period * 2 ** (-REFINE_CENTS / 1200))) - 1)
        hi = int(np.ceil(period * 2 ** (REFINE_CENTS / 1200))) + 1
        width = int(max(2 * period, 0.010 * SAMPLE_RATE))
        start = (i + 1) * HOP - (width + hi) // 2
        if start < 0 or start + width + hi > len(x):
            continue
        lags = np.arange(lo, hi + 1)
        a = x[start:start + width]
        d = ((a[None, :] - x[start + lags[:, None] + np.arange(width)[None, :]]) ** 2).sum(1)
        found = interior_minimum(d)
        if found is None:
            continue
        k, shift = found
        out[i] = SAMPLE_RATE / (lags[k] + shift)
    return out.astype(np.float32)


def interior_minimum(d):
    """(index, fraction) of the minimum of `d`, refined by a parabola through it and its neighbours;
    None when the minimum is on an edge (the true one may lie outside)."""
    k = int(np.argmin(d))
    if k == 0 or k == len(d) - 1:
        return None
    curvature = d[k - 1] - 2 * d[k] + d[k + 1]
    return k, (0.5 * (d[k - 1] - d[k + 1]) / curvature if curvature > 0 else 0.0)


def period_difference(x, centre, lags, width):
    """The signal's normalised squared difference with itself delayed by each of `lags` (integers),
    over `width` samples centred on `centre`: 0 for a signal that repeats exactly, ~1 for
    uncorrelated ones. None when the window runs past the audio."""
    start = centre - (width + lags[-1]) // 2
    if start < 0 or start + width + lags[-1] > len(x):
        return None
    a = x[start:start + width]
    b = x[start + lags[:, None] + np.arange(width)[None, :]]
    return ((a - b) ** 2).sum(1) / np.maximum((a * a).sum() + (b * b).sum(1), 1e-20)


def fix_octaves(audio, f0, voiced):
    """Each voiced frame whose f0 reads a harmonic instead of the fundamental (CREPE tiny on low notes
    with a weak fundamental: on 37 % of the cello's lowest-octave frames, E2-F#2 as E3-F#3 and C#2 as
    G#3) gets the fundamental: f0 / m for the smallest m in 2, 3, 4 after whose m periods the signal
    repeats at least OCTAVE_RATIO times better than after one (a true period repeats after m as well
    as after one, half or a third of one does not). Measured over max(2m periods, 10 ms) centred on
    the frame's end, the lag searched within ±REFINE_CENTS of m periods (a reading refined on a
    harmonic's dip can be a few samples off), then refined by `refine_f0` over 2 periods."""
    out = np.asarray(f0, np.float64).copy()
    x = np.asarray(audio, np.float64)
    for i in np.flatnonzero(voiced):
        period = SAMPLE_RATE / out[i]
        one = int(round(period))
        for m in (2, 3, 4):
            lo = int(np.floor(m * period * 2 ** (-REFINE_CENTS / 1200))) - 1
            hi = int(np.ceil(m * period * 2 ** (REFINE_CENTS / 1200))) + 1
            lags = np.concatenate([np.arange(max(one - 1, 1), one + 2), np.arange(lo, hi + 1)])
            d = period_difference(x, (i + 1) * HOP, lags, int(max(2 * m * period, 0.010 * SAMPLE_RATE)))
            if d is None:
                break
            d1, dm = d[:len(lags) - (hi - lo + 1)].min(), d[len(lags) - (hi - lo + 1):]
            if d1 < OCTAVE_MIN_DIFFERENCE:
                break
            found = interior_minimum(dm)
            if found is None or dm[found[0]] * OCTAVE_RATIO > d1:
                continue
            k, shift = found
            out[i] = SAMPLE_RATE / (lo + k + shift)
            break
    changed = out != np.asarray(f0, np.float64)
    return refine_f0(audio, out, changed) if changed.any() else out.astype(np.float32)


def hold_voiced(f0, voiced):
    """Unvoiced frames take the last voiced f0 (the first voiced one before any)."""
    if not voiced.any():
        raise SkipFile("no pitched frames")
    idx = np.where(voiced, np.arange(len(f0)), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = np.argmax(voiced)
    return f0[idx]


def analyse(path, crepe_model="tiny", voicing_threshold=0.5, device="cpu"):
    audio = load_audio(path)
    f0, periodicity = crepe_f0(audio, crepe_model, device)
    voiced = periodicity > voicing_threshold
    loud_4ms = frame_loudness(audio, SAMPLE_RATE, HOP)
    voiced &= loud_4ms > SILENT_LOUDNESS_DB
    if voiced.sum() < MIN_VOICED_FRAMES:
        raise SkipFile("silent or unpitched (fewer than 100 ms of pitched frames)")
    f0 = hold_voiced(fix_octaves(audio, refine_f0(audio, f0, voiced), voiced), voiced)
    loudness = frame_loudness(audio, SAMPLE_RATE, HOP, f0, voiced)
    if loudness.max() < SILENT_LOUDNESS_DB:
        raise SkipFile("silent")
    return Clip(Path(path).name, audio, f0, periodicity, loudness)


def upgrade_clip(clip, voicing_threshold=0.5):
    """A version-3 clip as version 4 would analyse it: its voiced frames hold `refine_f0`'s f0, so
    only `fix_octaves`, the hold and the loudness (whose window follows f0) are redone."""
    loud = frame_loudness(clip.audio, SAMPLE_RATE, HOP) > SILENT_LOUDNESS_DB
    voiced = (clip.periodicity > voicing_threshold) & loud
    f0 = hold_voiced(fix_octaves(clip.audio, clip.f0_hz, voiced), voiced)
    return Clip(clip.name, clip.audio, f0, clip.periodicity, frame_loudness(clip.audio, SAMPLE_RATE, HOP, f0, voiced))


def _cache_key(path):
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def build(source, out_dir, crepe_model="tiny", holdout="*heldout*", voicing_threshold=0.5, device="cpu",
          progress=True):
    """Analyses every audio file under `source` into `out_dir`; returns the manifest (dict)."""
    from tqdm import tqdm
    source, out_dir = Path(source), Path(out_dir)
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    (out_dir / "clips").mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"files": {}}
    entries = {}
    settings = {"analysis": ANALYSIS_VERSION, "crepe": crepe_model, "voicing_threshold": voicing_threshold, "sample_rate": SAMPLE_RATE,
                "frame_rate": FRAME_RATE}
    same_settings = old.get("settings") == settings
    upgradable = old.get("settings") == dict(settings, analysis=3)  # version 3 -> 4 needs no CREPE
    bar = tqdm(files, desc="dataset", unit="file", disable=not progress)
    for path in bar:
        rel = str(path.relative_to(source))
        key = _cache_key(path)
        prev = old["files"].get(rel)
        cached = prev and prev.get("key") == key and (prev["status"] != "ok" or (out_dir / prev["clip"]).exists())
        if cached and (same_settings or (upgradable and prev["status"] != "ok")):
            entries[rel] = prev
            if prev["status"] != "ok":  # said on every run, not only the one that found it
                tqdm.write(f"skipped {path}: {prev['reason']}")
            continue
        bar.set_postfix_str(path.name[-30:])
        try:
            if cached and upgradable:
                clip = upgrade_clip(Clip.load(out_dir / prev["clip"]), voicing_threshold)
            else:
                clip = analyse(path, crepe_model, voicing_threshold, device)
        except SkipFile as e:
            tqdm.write(f"skipped {path}: {e}")
            entries[rel] = {"key": key, "status": "skipped", "reason": str(e)}
            continue
        clip_name = f"clips/{key}.npz"
        tmp = out_dir / f"clips/{key}.tmp.npz"
        clip.save(tmp)
        tmp.rename(out_dir / clip_name)
        split = "validation" if fnmatch.fnmatch(rel, holdout) or fnmatch.fnmatch(path.name, holdout) else "train"
        entries[rel] = {"key": key, "status": "ok", "clip": clip_name, "split": split,
                        "seconds": len(clip.audio) / SAMPLE_RATE}
        # Written after every file: an interrupted run resumes from here.
        write_manifest(manifest_path, settings, entries)
    write_manifest(manifest_path, settings, entries)
    return json.loads(manifest_path.read_text())


def write_manifest(path, settings, entries):
    """The dataset's manifest.json: its settings, the seconds per split and every file's entry
    (key, status, clip, split, seconds), written whole or not at all."""
    ok = [e for e in entries.values() if e["status"] == "ok"]
    summary = {split: round(sum(e["seconds"] for e in ok if e["split"] == split), 2) for split in ("train", "validation")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"settings": settings, "seconds": summary, "files": entries}, indent=1) + "\n")
    tmp.rename(path)


def source_of(rel):
    """The source of a recording at `rel` (its path under the dataset's source folder): its first
    folder, "" for one at the top."""
    parts = Path(rel).parts
    return parts[0] if len(parts) > 1 else ""


def load_split(out_dir, split):
    out_dir = Path(out_dir)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    clips = []
    for rel, e in sorted(manifest["files"].items()):
        if e["status"] == "ok" and e["split"] == split:
            clip = Clip.load(out_dir / e["clip"])
            clip.source = source_of(rel)
            clips.append(clip)
    return clips


def loudness_range(clips):
    """Trained loudness range: 5th..99.5th percentile of the voiced frames (what a note spans, without
    the release tails CREPE still calls voiced)."""
    ld = np.concatenate([c.loudness_db[c.periodicity > 0.5] for c in clips])
    ld = ld[ld > -RANGE_DB + 1]
    if len(ld) == 0:
        return -60.0, -10.0
    return float(np.percentile(ld, 5)), float(np.percentile(ld, 99.5))
