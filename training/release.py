"""The shipped models: export each trained run to `models/`, measure fidelity on the held-out
phrases, write the model cards, the spectrograms and `models/README.md`'s table.

    python -m training.release violin cello flute trumpet [--work target/training] [--crepe tiny]
"""
import argparse
import json
import re
from pathlib import Path

from .dataset import source_of
from .export import export
from .fidelity import merge_rows, run as fidelity, table
from .make import PLAYED_SOURCE, phrase_dynamics
from .phrases import INSTRUMENTS

# What a card says of its phrases' dynamics (training/phrases.py, DYNAMICS).
DYNAMICS_TEXT = {
    "independent": "CC11 crescendi",
    "coupled": "crescendi through the notes' velocities (the samples' own timbre; CC11 within 3 dB)",
}

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SOUNDFONT_NAMES = {"musescore": "MuseScore General", "fluidr3": "FluidR3 GM"}
LICENCE = "MIT"
MAX_BYTES = 5_000_000
# Fidelity each shipped model must reach (issue 3).
MAX_F0_CENTS, MAX_LOUDNESS_DB = 10.0, 1.5
DEFAULT = "flute"  # the plugins' default model (`BUILT_IN_MODELS` in dsp-core/src/model.rs)


def midi_name(n):
    return ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"][n % 12] + str(n // 12 - 1)


def trained_on(run_dir):
    """The dataset folder a run was trained on, as the run recorded it."""
    return Path(json.loads((run_dir / "config.json").read_text())["dataset"])


def dataset_of(run_dir):
    """(sources, analysis version) of the dataset a run was trained on: the soundfont folders its
    phrases were rendered into (`training/phrases.py`)."""
    manifest = json.loads((trained_on(run_dir) / "manifest.json").read_text())
    fonts = sorted({source_of(rel) for rel in manifest["files"]} - {""}) or ["musescore"]
    return [SOUNDFONT_NAMES.get(f, f) for f in fonts], manifest["settings"].get("analysis", 0)


def played_source(run_dir):
    """The source a run conditioned on its sources plays when shipped (None: not conditioned)."""
    sources = json.loads((run_dir / "config.json").read_text())["model"].get("sources") or []
    return PLAYED_SOURCE if sources else None


def played_row(run_dir):
    """The card's row for a model conditioned on its sources."""
    source = played_source(run_dir)
    if not source:
        return ""
    return (f"| Plays | {SOUNDFONT_NAMES.get(source, source)}'s instrument: trained on every source with one set of "
            "offsets per source added to each layer's bias (`train --condition-on-source`), those of this one "
            "folded into the biases (`python -m training export RUN --source NAME` plays another) |\n")


def sources_label(fonts):
    return f"{' and '.join(fonts)} ({'both ' if len(fonts) > 1 else ''}MIT), rendered dry by fluidsynth"


def harmonic_term(cfg):
    w = cfg.get("harmonic_weight", 0.0)
    return (f"; throughout, the harmonic loss × {w:g} (each harmonic's level against the recording's, measured "
            "on its f0: `training/harmonics.py`)" if w else "")


def noise_schedule(cfg):
    warmup = cfg.get("noise_warmup", 0)
    return f"; the noise silent for {warmup} steps, fading in over {warmup} more" if warmup else ""


def knots_term(cfg):
    knots = cfg["model"].get("pitch_knots_midi") or []
    return (f"; the f0 stack's knots started spread over MIDI {knots[0]:.0f}–{knots[1]:.0f}, the data's pitch range "
            "(`train --pitch-knots`)" if knots else "")


def card(name, run_dir, result, default):
    cfg = json.loads((run_dir / "config.json").read_text())
    fonts, analysis = dataset_of(run_dir)
    octaves = ", readings of a harmonic brought down to the fundamental" if analysis >= 4 else ""
    conditioning = ("CREPE tiny (torchcrepe) at 4 ms decoded by a local average without dither, then refined on "
                    f"the 48 kHz signal{octaves} (analysis {analysis}, `training/dataset.py`)" if analysis >= 3
                    else "CREPE tiny (torchcrepe) at 4 ms")
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    m, inst = cfg["model"], INSTRUMENTS[name]
    called = inst.called(name)
    plugin_row = ("built in, and the default" if default
                  else f"built in (library name \"{name.capitalize()}\")")
    passed = (result["f0_error_cents_median"] < MAX_F0_CENTS and result["loudness_error_db_mean"] < MAX_LOUDNESS_DB
              and result["spectral_distance"] < result["baseline_spectral_distance"])
    return f"""# Model card: `{name}.onnx` — "{name.capitalize()}"

A DDSP decoder (`ddsp-rnn-fc/1`, `FORMAT.md`) trained by our trainer (`training/`) on a sampled
{called} played from generated expressive phrases. It plays from MIDI (instrument plugin, `ddsp
render`) and as a timbre-transfer target (effect plugin).

| | |
|---|---|
| Format | `ddsp-rnn-fc/1`, {result['bytes'] / 1e6:.2f} MB (limit 5 MB) |
| Rates | 48 kHz, 250 frames/s (4 ms hop) |
| Size | input stacks {m['stack_layers']} × {m['stack_units']}, GRU {m['gru_units']}, output stack {m['out_layers']} × {m['out_units']}, {m['n_harmonics']} harmonics, {m['n_noise_bands']} noise bands |
| Trained range | f0 {cfg['f0_range_hz'][0]:.0f}–{cfg['f0_range_hz'][1]:.0f} Hz, loudness {cfg['loudness_range_db'][0]:.1f}…{cfg['loudness_range_db'][1]:.1f} dB |
| Data | {sources_label(fonts)}: GM program {inst.program + 1}, notes {midi_name(inst.low)}–{midi_name(inst.high)}; {cfg['train_seconds'] / 60:.1f} min for training, {cfg['validation_seconds']:.0f} s held out (every tenth phrase of each source). Legato lines, leaps, pitch-bend vibrato, {DYNAMICS_TEXT[phrase_dynamics(name)]}, repeated notes, rests (`training/phrases.py`, seeded) |
{played_row(run_dir)}| Conditioning | f0 by {conditioning}, unvoiced frames holding the last voiced f0; loudness per `FORMAT.md` |
| Training | {result['training_steps']} steps, batch {cfg['batch_size']} × {cfg['clip_seconds']} s, Adam {cfg['learning_rate']} (100-step warm-up, halving every {cfg['decay_steps']} steps); multi-scale spectral loss (FFT 2048…64, linear + log of magnitude + {cfg.get('log_floor', 1e-7):g}), from step 1750 plus the A-weighted level loss{harmonic_term(cfg)}{noise_schedule(cfg)}{knots_term(cfg)} (`scripts/make_models.sh`) |
| Time | {result['training_minutes']} min of training on a 2-core CPU shared with other runs |
| Loss | train {log[-1]['train_loss']:.3f}, validation {log[-1]['validation_loss']:.3f} (start: {log[0]['validation_loss']:.3f} at step {log[0]['step']}) |
| Fidelity (held out) | f0 error {result['f0_error_cents_median']} cents (median), loudness error {result['loudness_error_db_mean']} dB (mean), spectral distance {result['spectral_distance']} vs {result['baseline_spectral_distance']} for a fixed-spectrum additive baseline — {'meets' if passed else 'does NOT meet'} the shipping bar |
| Spectrogram | [`{name}.png`]({name}.png) (held-out phrase: original vs resynthesis) |
| Reproduce | `bash scripts/make_models.sh {name}` (every instrument: `bash scripts/make_models.sh`) |
| In the plugin | {plugin_row} |
| Licence | {LICENCE} (the soundfont's); the model carries it in `ddsp.licence` |

Limits: {"one soundfont's " + called + ", so one player and one instrument body" if len(fonts) == 1 else f"{len(fonts)} soundfonts' {called}, so {len(fonts)} players and instrument bodies"}; no room (the data is dry;
the mastering reverb adds one). Articulations outside the phrases (pizzicato, flutter-tongue,
mutes) were never heard.
"""


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m training.release")
    ap.add_argument("instruments", nargs="+")
    ap.add_argument("--work", default="target/training")
    ap.add_argument("--crepe", default="tiny")
    ap.add_argument("--cards-only", action="store_true", help="rewrite cards and table from WORK/fidelity.json")
    ap.add_argument("--reuse-fidelity", action="store_true",
                    help="export (metadata changes: the weights are the runs' own), then cards and table from "
                         "WORK/fidelity.json")
    args = ap.parse_args(argv)
    work = Path(args.work)
    (MODELS / "reference").mkdir(parents=True, exist_ok=True)
    for name in [] if args.cards_only else args.instruments:
        label, called = sources_label(dataset_of(work / "runs" / name)[0]), INSTRUMENTS[name].called(name)
        r = export(work / "runs" / name, MODELS / f"{name}.onnx", name.capitalize(),
                   f"{called} ({label})", LICENCE,
                   f"A {called} learned by our trainer from a sampled {called} ({label}) playing expressive "
                   "phrases: legato, leaps, vibrato, crescendi, repeated notes.", MODELS / "reference",
                   played_source(work / "runs" / name))
        if r["bytes"] > MAX_BYTES:
            raise SystemExit(f"{name}: {r['bytes']} bytes > 5 MB")
        print(json.dumps(r), flush=True)
    # Each model against the held-out clips of the dataset its run was trained on (a WORK/datasets/NAME
    # link pointing at another dataset of the same instrument once measured the sax on phrases it
    # was not trained on).
    pairs = [(str(MODELS / f"{n}.onnx"), str(trained_on(work / "runs" / n))) for n in args.instruments]
    if args.cards_only or args.reuse_fidelity:
        results = json.loads((work / "fidelity.json").read_text())
    else:
        results = fidelity(pairs, args.crepe, MODELS, str(work / "fidelity.json"))
    for name, result in zip(args.instruments, results):
        (MODELS / f"{name}.md").write_text(card(name, work / "runs" / name, result, name == DEFAULT))
    readme = MODELS / "README.md"
    text = readme.read_text() if readme.exists() else "<!-- fidelity:begin -->\n<!-- fidelity:end -->\n"
    block = f"<!-- fidelity:begin -->\n{merged_table(text, results)}<!-- fidelity:end -->"
    readme.write_text(re.sub(r"<!-- fidelity:begin -->.*<!-- fidelity:end -->", lambda _: block, text, flags=re.S))


def merged_table(readme, results):
    """The fidelity table with these results' rows replaced or added, the other models' rows kept."""
    return merge_rows(readme, "fidelity", table(results),
                      lambda line: (found := re.search(r"\(`(\w+)\.onnx`\)", line)) and found.group(1))

if __name__ == "__main__":
    main()
