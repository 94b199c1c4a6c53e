"""Fidelity benchmark: resynthesise each model's held-out phrases from the phrases' own f0 and
loudness, and measure the output against the original recording.

* the model is the exported ONNX file played by the engine users hear (`ddsp_instrument`, the plugins'
  Rust runtime and synthesiser; `pip install ./bindings/python`), conditioned on the phrase's f0 and
  loudness frame by frame;
* **f0 error**: CREPE on the output vs the phrase's f0, median |cents| over frames voiced in both;
* **loudness error**: `training.loudness` on the output vs the phrase's loudness, mean |dB| over the
  frames inside the model's trained loudness range;
* **spectral distance**: DDSP's multi-scale spectral loss (FFT 2048..64, linear + log magnitude);
* **baseline**: an additive synth with one fixed harmonic spectrum per instrument (the average over
  the training clips' voiced frames), level-matched frame by frame to the phrase's A-weighted
  loudness, no noise. A model must beat it.
"""
import json
import re
from pathlib import Path

import numpy as np
import torch

from . import HOP, SAMPLE_RATE
from .dataset import crepe_f0, load_split
from .loudness import DDSP_OFFSET_DB, a_weighting_db, frame_loudness
from .model import harmonic_synth, multiscale_spectral_loss

VOICED = 0.5


def model_meta(path):
    import onnx
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def played_clips(dataset, split, meta):
    """A dataset's clips of `split` that a model plays: a model conditioned on its sources plays one
    (`ddsp.source`), and is measured against that source's recordings only."""
    clips = load_split(dataset, split)
    source = meta.get("ddsp.source")
    return [c for c in clips if c.source == source] if source else clips


def resynthesise(path, clip):
    """The phrase's f0 and loudness, one frame every HOP samples, through the engine users hear."""
    try:
        import ddsp_instrument
    except ImportError as e:
        raise SystemExit("the fidelity benchmark plays models through the real engine: "
                         "pip install ./bindings/python (scripts/test.sh installs it into .venv-train)") from e
    pipeline = ddsp_instrument.Pipeline(SAMPLE_RATE, HOP, offline=True)
    pipeline.load_model(str(path))
    pipeline.set_smoothing_ms(0.0)  # the controls are already frame-rate values: no extra glide
    out = np.zeros(len(clip.f0_hz) * HOP, np.float32)
    for i, (f0, ld) in enumerate(zip(clip.f0_hz, clip.loudness_db)):
        pipeline.set_f0_hz(float(max(f0, 1.0)))
        pipeline.set_loudness_db(float(ld))
        out[i * HOP:(i + 1) * HOP] = pipeline.process(HOP)
    return out


def average_spectrum(clips, k=64, frames_per_clip=400, n_fft=4096, seed=0):
    """Mean normalised harmonic magnitudes over voiced frames (peak-picked near k*f0)."""
    rng = np.random.default_rng(seed)
    window = np.hanning(n_fft)
    rows = []
    for c in clips:
        voiced = np.where((c.periodicity > VOICED) & (c.loudness_db > c.loudness_db.max() - 40))[0]
        voiced = voiced[(voiced + 1) * HOP >= n_fft]
        for i in rng.choice(voiced, min(frames_per_clip, len(voiced)), replace=False) if len(voiced) else []:
            end = (i + 1) * HOP
            spec = np.abs(np.fft.rfft(c.audio[end - n_fft:end] * window))
            bins = np.arange(1, k + 1) * c.f0_hz[i] * n_fft / SAMPLE_RATE
            ok = bins < len(spec) - 2
            mags = np.zeros(k)
            mags[ok] = [spec[max(int(b) - 1, 0):int(b) + 3].max() for b in bins[ok]]
            if mags.sum() > 0:
                rows.append(mags / mags.sum())
    return np.mean(rows, 0)


def baseline(clip, spectrum):
    """Fixed spectrum, amplitude set so each frame's A-weighted loudness equals the phrase's."""
    k = np.arange(1, len(spectrum) + 1)
    freqs = clip.f0_hz[:, None] * k
    audible = freqs < SAMPLE_RATE / 2
    d = spectrum * audible
    d = d / np.maximum(d.sum(-1, keepdims=True), 1e-12)
    # A-weighted power of sum d_k sin(...) at amplitude 1: sum (d_k^2 / 2) |A(k f0)|^2
    p_unit = (d ** 2 / 2 * 10 ** (a_weighting_db(np.maximum(freqs, 1.0)) / 10)).sum(-1)
    power = np.where(clip.loudness_db > -119, 10 ** ((clip.loudness_db - DDSP_OFFSET_DB) / 10), 0.0)
    amp = np.sqrt(power / np.maximum(p_unit, 1e-20))
    t = lambda x: torch.from_numpy(np.asarray(x, np.float32))[None]
    with torch.no_grad():
        return harmonic_synth(t(clip.f0_hz), t(amp[:, None]), t(d))[0].numpy()


def spectral_distance(a, b):
    with torch.no_grad():
        return float(multiscale_spectral_loss(torch.from_numpy(a)[None], torch.from_numpy(np.asarray(b, np.float32))[None]))


def measure(model_path, dataset, crepe="tiny"):
    meta = model_meta(model_path)
    ld_min, ld_max = float(meta["ddsp.loudness_min_db"]), float(meta["ddsp.loudness_max_db"])
    held = played_clips(dataset, "validation", meta)
    spectrum = average_spectrum(played_clips(dataset, "train", meta), int(meta["ddsp.n_harmonics"]))
    cents, loud_err, dist, dist_base, seconds = [], [], [], [], 0.0
    first = None
    for clip in held:
        out = resynthesise(model_path, clip)
        f0_out, per_out = crepe_f0(out, crepe)
        both = (clip.periodicity > VOICED) & (per_out > VOICED) & (clip.loudness_db > ld_min)
        cents.append(np.abs(1200 * np.log2(f0_out[both] / clip.f0_hz[both])))
        ld_out = frame_loudness(out, SAMPLE_RATE, HOP, clip.f0_hz, clip.periodicity > VOICED)
        inside = (clip.loudness_db >= ld_min) & (clip.loudness_db <= ld_max)
        loud_err.append(np.abs(ld_out[inside] - clip.loudness_db[inside]))
        dist.append(spectral_distance(clip.audio, out))
        dist_base.append(spectral_distance(clip.audio, baseline(clip, spectrum)))
        seconds += len(clip.audio) / SAMPLE_RATE
        if first is None:
            first = (clip, out)
    return {
        "model": Path(model_path).name, "name": meta.get("ddsp.name"), "heldout_phrases": len(held),
        "heldout_seconds": round(seconds, 1),
        "f0_error_cents_median": round(float(np.median(np.concatenate(cents))), 2),
        "loudness_error_db_mean": round(float(np.mean(np.concatenate(loud_err))), 2),
        "spectral_distance": round(float(np.mean(dist)), 3),
        "baseline_spectral_distance": round(float(np.mean(dist_base)), 3),
        "bytes": Path(model_path).stat().st_size,
        "training_steps": int(meta.get("ddsp.training_steps", 0)),
        "training_minutes": round(int(meta.get("ddsp.training_seconds", 0)) / 60, 1),
    }, first


def spectrogram_png(path, clip, out, title, seconds=8.0):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = int(seconds * SAMPLE_RATE)
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True, constrained_layout=True)
    for ax, audio, label in ((axes[0], clip.audio[:n], "original (held out)"), (axes[1], out[:n], "resynthesis")):
        ax.specgram(audio, NFFT=2048, Fs=SAMPLE_RATE, noverlap=1536, cmap="magma", vmin=-130, vmax=-20)
        ax.set_ylim(0, 12000)
        ax.set_ylabel("Hz")
        ax.set_title(f"{title}: {label}")
    axes[1].set_xlabel("s")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def merge_rows(readme, marker, new_table, key):
    """`new_table` (markdown) with the rows of the table between `readme`'s `<!-- MARKER:begin -->`
    and `<!-- MARKER:end -->` that it does not replace kept: a release or benchmark of some models
    leaves the others' measurements. Rows are matched by `key(line)` (None: not a row) and ordered
    as `INSTRUMENTS`, then by key."""
    from .phrases import INSTRUMENTS
    new = new_table.splitlines()
    old = re.search(rf"<!-- {marker}:begin -->\n(.*)<!-- {marker}:end -->", readme, flags=re.S)
    rows = {}
    for line in (old.group(1).splitlines()[2:] if old else []) + new[2:]:
        if found := key(line):
            rows[found] = line
    order = [n for n in INSTRUMENTS if n in rows] + sorted(n for n in rows if n not in INSTRUMENTS)
    return "\n".join(new[:2] + [rows[n] for n in order]) + "\n"


def table(results):
    head = ("| model | held-out | f0 error (median, cents) | loudness error (mean, dB) | spectral distance | "
            "baseline (fixed spectrum) | size | training |\n|---|---|---|---|---|---|---|---|\n")
    rows = [f"| {r['name']} (`{r['model']}`) | {r['heldout_phrases']} phrases, {r['heldout_seconds']} s | "
            f"{r['f0_error_cents_median']} | {r['loudness_error_db_mean']} | {r['spectral_distance']} | "
            f"{r['baseline_spectral_distance']} | {r['bytes'] / 1e6:.2f} MB | {r['training_steps']} steps, "
            f"{r['training_minutes']} min |" for r in results]
    return head + "\n".join(rows) + "\n"


def run(pairs, crepe="tiny", png_dir=None, json_path=None):
    results = []
    for model_path, dataset in pairs:
        r, (clip, out) = measure(model_path, dataset, crepe)
        results.append(r)
        if png_dir:
            spectrogram_png(Path(png_dir) / f"{Path(model_path).stem}.png", clip, out, r["name"])
        print(json.dumps(r), flush=True)
    print(table(results))
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=1) + "\n")
    return results
