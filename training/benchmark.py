"""The models against the instruments they imitate, measured by references the trainer never used
(issue 14: the fidelity table's f0 error compared CREPE with CREPE, and its resynthesis came from the
dataset's own f0).

    python -m training benchmark violin cello ... [--phrases target/training/phrases] [--models models]

For each model `MODELS/NAME.onnx` (played by the engine users hear, `ddsp_instrument`):

* **sustained notes**: the sampled instrument it imitates (the same General MIDI program, each
  soundfont it was trained on, rendered dry by fluidsynth) holds notes every 4 semitones across its
  range at velocities 64 and 112, 2.5 s each: notes the model never heard as such. Each is analysed as
  the trainer analyses (`dataset.analyse`) and resynthesised from that f0 and loudness. On the steady
  part (0.4-2.2 s after the onset, frames within 6 dB of the note's peak) the **harmonic profile** is
  each harmonic's power (summed within ±40 cents of k·f0, or less where neighbours are closer) in dB
  re the strongest, floored at -80 dB, for every harmonic below 16 kHz up to the 64th (a band is at
  least the FFT window's main lobe, at most 0.45 f0 wide each side). Columns: the
  mean |dB| difference from the source over harmonics 1-20, and per band 1-4, 5-16, 17-64; the
  **high band**: the share of energy above 4 kHz, model minus source in dB; **prominence**: each
  harmonic's power per bin over that midway to the next one (harmonics vs noise of the same level).
* **held-out phrases** (`*heldout*` under PHRASES/NAME, every source rendered there): **f0 error** =
  YIN (librosa, voicing by pYIN; neither CREPE nor our tracker) on the resynthesis against the same
  on the recording, median |cents| over frames both call voiced, inside the model's loudness range;
  **spectral
  distance** = DDSP's multi-scale spectral loss to the recording (as the fidelity table).

Analyses are cached under WORK/benchmark (keyed by file path, size and time).
"""
import json
import re
from pathlib import Path

import numpy as np

from . import HOP, SAMPLE_RATE
from .dataset import ANALYSIS_VERSION, Clip, SkipFile, analyse, upgrade_clip, _cache_key
from .fidelity import merge_rows, model_meta, resynthesise, spectral_distance
from .phrases import INSTRUMENTS, Phrase, synthesise, write_midi

NOTE_S, STEP, VELOCITIES = 2.5, 4, (64, 112)
STEADY = (0.4, 2.2)  # seconds after the onset
FLOOR_DB, MAX_HZ, MAX_K = -80.0, 16_000.0, 64
BANDS = ((1, 4), (5, 16), (17, 64))
HIGH_HZ = 4000.0
N_FFT = 8192


def cached_analysis(path, cache):
    """`dataset.analyse` of `path`, cached per file and analysis version (a version-3 analysis is
    upgraded, as the dataset's are)."""
    cache.mkdir(parents=True, exist_ok=True)
    key = _cache_key(Path(path))
    hit = cache / f"{key}.v{ANALYSIS_VERSION}.npz"
    if hit.exists():
        return Clip.load(hit)
    v3 = cache / f"{key}.npz"
    clip = upgrade_clip(Clip.load(v3)) if ANALYSIS_VERSION == 4 and v3.exists() else analyse(path)
    clip.save(hit)
    return clip


def render_notes(name, soundfont, folder):
    """Sustained notes of instrument `name` from `soundfont`, one FLAC per (note, velocity)."""
    import soundfile as sf
    inst = INSTRUMENTS[name]
    folder = Path(folder) / name / soundfont
    notes = list(range(inst.low, inst.high + 1, STEP))
    wanted = [(n, v) for v in VELOCITIES for n in notes]
    paths = [folder / f"note{n:03d}_v{v:03d}.flac" for n, v in wanted]
    if all(p.exists() for p in paths):
        return list(zip(wanted, paths))
    folder.mkdir(parents=True, exist_ok=True)
    phrases = []
    for n, v in wanted:
        p = Phrase()
        p.events.append(("cc", 0.0, 11, 127))
        p.note(0.0, NOTE_S, n, v)
        phrases.append((p, NOTE_S))
    bounds = write_midi(folder / "notes.mid", phrases, inst)
    audio = synthesise(folder / "notes.mid", soundfont)
    for (t0, t1), path in zip(bounds, paths):
        sf.write(path, audio[int(t0 * SAMPLE_RATE):int((t1 + 0.5) * SAMPLE_RATE)], SAMPLE_RATE, subtype="PCM_24")
    return list(zip(wanted, paths))


def harmonic_profile(audio, f0, frames):
    """dB re the strongest harmonic (floored), for k = 1.. while k*f0 < MAX_HZ and k <= MAX_K, and the
    share of power above HIGH_HZ (dB), from the power spectrum averaged over `frames` (frame ends)."""
    window = np.hanning(N_FFT)
    power = np.zeros(N_FFT // 2 + 1)
    for i in frames:
        end = (i + 1) * HOP
        power += np.abs(np.fft.rfft(audio[end - N_FFT:end] * window)) ** 2
    freqs = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
    k = np.arange(1, MAX_K + 1)
    k = k[k * f0 < MAX_HZ]
    # Each harmonic's band: ±40 cents, at least the window's main lobe (±3 bins), at most 0.45 f0.
    half = np.minimum(np.maximum(k * f0 * (2 ** (40 / 1200) - 1), 3 * SAMPLE_RATE / N_FFT), 0.45 * f0)
    bands = [power[np.abs(freqs - kk * f0) <= h] for kk, h in zip(k, half)]
    levels = np.array([b.sum() for b in bands])
    db = 10 * np.log10(np.maximum(levels, 1e-30) / max(levels.max(), 1e-30))
    high = 10 * np.log10(max(power[freqs > HIGH_HZ].sum(), 1e-30) / max(power.sum(), 1e-30))
    # Prominence: the peak's power per bin over the power per bin midway to the next harmonic
    # (±0.1 f0 around (k + 1/2) f0): a harmonic stands out, noise of the same level does not.
    peak = np.array([b.mean() for b in bands])
    gap = np.array([power[np.abs(freqs - (kk + 0.5) * f0) <= max(0.1 * f0, SAMPLE_RATE / N_FFT)].mean() for kk in k])
    prominence = 10 * np.log10(np.maximum(peak, 1e-30) / np.maximum(gap, 1e-30))
    return np.maximum(db, FLOOR_DB), high, prominence


def steady_frames(clip):
    n0, n1 = int(STEADY[0] * SAMPLE_RATE / HOP), int(STEADY[1] * SAMPLE_RATE / HOP)
    ld = clip.loudness_db[n0:n1]
    frames = n0 + np.flatnonzero(ld > ld.max() - 6.0)
    return frames[(frames + 1) * HOP >= N_FFT]


def steady_notes(name, soundfonts, work):
    """(soundfont, note, velocity, clip, steady frames, f0) of each sustained note with a steady
    part to measure."""
    for soundfont in soundfonts:
        for (note, velocity), path in render_notes(name, soundfont, work / "notes"):
            try:
                clip = cached_analysis(path, work / "analysis")
            except SkipFile as e:  # above CREPE's 1975 Hz: the trainer never sees such a note either
                print(f"{path}: skipped ({e})")
                continue
            frames = steady_frames(clip)
            if len(frames) >= 10:
                yield soundfont, note, velocity, clip, frames, float(np.median(clip.f0_hz[frames]))


def measure_notes(model, name, soundfonts, work):
    rows = []
    for soundfont, note, velocity, clip, frames, f0 in steady_notes(name, soundfonts, work):
        out = resynthesise(model, clip)
        src, src_high, src_prom = harmonic_profile(clip.audio, f0, frames)
        res, res_high, res_prom = harmonic_profile(out, f0, frames)
        rows.append({"soundfont": soundfont, "note": note, "velocity": velocity, "f0_hz": round(f0, 1),
                     "source_db": src.round(1).tolist(), "model_db": res.round(1).tolist(),
                     "source_prominence_db": src_prom.round(1).tolist(),
                     "model_prominence_db": res_prom.round(1).tolist(),
                     "high_band_db": round(res_high - src_high, 2)})
    diff = lambda r, a, b: np.abs(np.array(r["model_db"][a - 1:b]) - np.array(r["source_db"][a - 1:b]))
    band = lambda a, b: round(float(np.mean(np.concatenate([diff(r, a, b) for r in rows if len(r["source_db"]) >= a]))), 2)
    prominence = lambda key, a, b: round(float(np.mean(np.concatenate([r[key][a - 1:b] for r in rows
                                                                       if len(r[key]) >= a]))), 1)
    return {"notes": len(rows), "profile_1_20_db": band(1, 20),
            **{f"{who}_prominence_{a}_{b}_db": prominence(f"{who}_prominence_db", a, b)
               for who in ("source", "model") for a, b in ((5, 16), (17, 64))},
            **{f"profile_{a}_{b}_db": band(a, b) for a, b in BANDS},
            "high_band_db": round(float(np.mean([r["high_band_db"] for r in rows])), 2)}, rows


def sources_apart(profiles):
    """How far two sampled sources of one instrument are from each other, note by note.

    `profiles`: {(soundfont, note, velocity): (profile_db, high_db, loudness_db)}. For each note and
    velocity both sources hold: the mean |dB| between their profiles over harmonics 1-20, and the
    difference of their high bands. A model that hears only f0 and loudness, fed the same f0 and
    loudness by both, plays one profile for the two: for each harmonic |m - a| + |m - b| >= |a - b|,
    so its mean distance over the two is at least half theirs (the **floor**; exact where the two
    loudnesses agree, so their difference is reported too)."""
    fonts = sorted({key[0] for key in profiles})
    if len(fonts) != 2:
        return None
    apart, high, loud = [], [], []
    for (font, note, velocity), (a, a_high, a_loud) in profiles.items():
        other = profiles.get((fonts[1], note, velocity))
        if font != fonts[0] or other is None:
            continue
        b, b_high, b_loud = other
        n = min(len(a), len(b), 20)
        apart.append(float(np.mean(np.abs(np.asarray(a[:n]) - np.asarray(b[:n])))))
        high.append(abs(a_high - b_high))
        loud.append(abs(a_loud - b_loud))
    if not apart:
        return None
    return {"pairs": len(apart), "apart_1_20_db": round(float(np.mean(apart)), 2),
            "floor_1_20_db": round(float(np.mean(apart)) / 2, 2), "apart_high_db": round(float(np.mean(high)), 2),
            "loudness_apart_db": round(float(np.median(loud)), 1)}


def source_profiles(name, soundfonts, work):
    """{(soundfont, note, velocity): (profile_db, high_db, loudness_db)} of the benchmark's sustained
    notes, as `measure_notes` measures the source (no model)."""
    profiles = {}
    for soundfont, note, velocity, clip, frames, f0 in steady_notes(name, soundfonts, work):
        db, high, _ = harmonic_profile(clip.audio, f0, frames)
        profiles[(soundfont, note, velocity)] = (db, high, float(np.median(clip.loudness_db[frames])))
    return profiles


def sources_table(names, work="target/training", soundfonts=("musescore", "fluidr3")):
    """Markdown: per instrument, how far its two sources are apart (`sources_apart`)."""
    work = Path(work) / "benchmark"
    head = ("| instrument | note pairs | sources apart, harmonics 1–20 (mean dB) | floor for one model (half) | "
            "high bands apart (mean dB) | loudness apart (median dB) |\n|---|---|---|---|---|---|\n")
    rows = []
    for name in names:
        r = sources_apart(source_profiles(name, soundfonts, work))
        if r:
            rows.append(f"| {name} | {r['pairs']} | {r['apart_1_20_db']} | {r['floor_1_20_db']} | "
                        f"{r['apart_high_db']} | {r['loudness_apart_db']} |")
    return head + "\n".join(rows) + "\n"


def pyin_f0(audio, fmin, fmax):
    """f0 (Hz, NaN unvoiced) at each of our frames' ends, 16 kHz, 4 ms hop, 64 ms frames: voicing by
    pYIN, the value by YIN's parabolic interpolation (pYIN's own values sit on a 10-cent grid)."""
    import librosa
    from scipy import signal
    x = signal.resample_poly(audio, 1, 3)
    common = dict(fmin=fmin, fmax=fmax, sr=16_000, frame_length=1024, hop_length=64, center=True)
    _, voiced, _ = librosa.pyin(x, **common)
    f0 = librosa.yin(x, **common)
    n = len(audio) // HOP
    idx = np.minimum(np.arange(1, n + 1), len(f0) - 1)
    return np.where(voiced[idx], f0[idx], np.nan)


def measure_phrases(model, name, phrases, work, meta):
    inst = INSTRUMENTS[name]
    midi_hz = lambda n: 440.0 * 2 ** ((n - 69) / 12)
    fmin, fmax = midi_hz(inst.low) * 0.8, min(midi_hz(inst.high) * 1.25, 4000.0)
    ld_min, ld_max = float(meta["ddsp.loudness_min_db"]), float(meta["ddsp.loudness_max_db"])
    # A model conditioned on its sources plays one of them: its held-out phrases only.
    folder = Path(phrases, name, meta.get("ddsp.source", ""))
    cents, dist, seconds, files = [], [], 0.0, sorted(folder.rglob("*heldout*.flac"))
    for path in files:
        clip = cached_analysis(path, work / "analysis")
        out = resynthesise(model, clip)
        ref, got = pyin_f0(clip.audio, fmin, fmax), pyin_f0(out, fmin, fmax)
        ok = np.isfinite(ref) & np.isfinite(got) & (clip.loudness_db >= ld_min) & (clip.loudness_db <= ld_max)
        cents.append(np.abs(1200 * np.log2(got[ok] / ref[ok])))
        dist.append(spectral_distance(clip.audio, out))
        seconds += len(clip.audio) / SAMPLE_RATE
    return {"heldout_phrases": len(files), "heldout_seconds": round(seconds, 1),
            "f0_error_pyin_cents_median": round(float(np.median(np.concatenate(cents))), 2),
            "spectral_distance": round(float(np.mean(dist)), 3)}


def soundfonts_of(model):
    """The soundfonts a shipped model's metadata says it was trained on (MuseScore General if none); a
    model conditioned on its sources is measured against the one it plays."""
    meta = model_meta(model)
    if meta.get("ddsp.source"):
        return [meta["ddsp.source"]]
    text = meta.get("ddsp.instrument", "")
    found = [key for key, label in (("musescore", "MuseScore"), ("fluidr3", "FluidR3")) if label in text]
    return found or ["musescore"]


def table(results):
    head = ("| model | trained on | notes | harmonics 1–20 (mean dB) | 1–4 | 5–16 | 17–64 | high band > 4 kHz "
            "(dB) | prominence 5–16, source / model (dB) | 17–64 | held-out phrases | f0 error vs pYIN (median, cents) "
            "| spectral distance |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = [f"| {r['name']} | {r.get('trained_on') or ', '.join(r['soundfonts'])} | {r['notes']} | {r['profile_1_20_db']} | "
            f"{r['profile_1_4_db']} | {r['profile_5_16_db']} | {r['profile_17_64_db']} | {r['high_band_db']:+.2f} | "
            f"{r['source_prominence_5_16_db']} / {r['model_prominence_5_16_db']} | "
            f"{r['source_prominence_17_64_db']} / {r['model_prominence_17_64_db']} | "
            f"{r['heldout_phrases']} ({r['heldout_seconds']} s) | {r['f0_error_pyin_cents_median']} | "
            f"{r['spectral_distance']} |" for r in results]
    return head + "\n".join(rows) + "\n"


def merged_table(readme, results):
    """The table with these results' rows replaced or added, the other models' rows kept."""
    return merge_rows(readme, "benchmark", table(results),
                      lambda line: line.startswith("|") and line.split("|")[1].strip().lower())


def run(names, models="models", phrases="target/training/phrases", work="target/training", readme=None,
        soundfonts=None):
    work = Path(work) / "benchmark"
    results = []
    for name in names:
        model = Path(models) / f"{name}.onnx"
        meta = model_meta(model)
        fonts = soundfonts or soundfonts_of(model)
        notes, rows = measure_notes(model, name, fonts, work)
        # A model conditioned on its sources: trained on all, plays (and is measured against) one.
        trained_on = (f"{meta['ddsp.sources'].replace(',', ', ')}; plays {meta['ddsp.source']}"
                      if meta.get("ddsp.source") else ", ".join(fonts))
        r = {"name": meta.get("ddsp.name", name), "model": model.name, "soundfonts": fonts, "trained_on": trained_on,
             **notes,
             **measure_phrases(model, name, phrases, work, meta)}
        (work / f"{name}.{Path(models).name}.notes.json").write_text(json.dumps(rows) + "\n")
        results.append(r)
        print(json.dumps(r), flush=True)
    print(table(results))
    if readme:
        text = Path(readme).read_text()
        block = f"<!-- benchmark:begin -->\n{merged_table(text, results)}<!-- benchmark:end -->"
        Path(readme).write_text(re.sub(r"<!-- benchmark:begin -->.*<!-- benchmark:end -->", lambda _: block, text,
                                       flags=re.S))
    return results
