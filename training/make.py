"""`python -m training make`: a folder of recordings -> a model in the plugin's library, in one
command, with the recipe of the shipped models (`scripts/make_models.sh`): analysis (CREPE + loudness),
1750 steps of the spectral loss, 400 more with the A-weighted level loss, the harmonic loss
throughout, export. Every stage is cached or resumes: rerun the same command after an interruption.
"""
import os
import re
import sys
from pathlib import Path

# The shipped models' recipe (models/*.md), written only here (`scripts/make_models.sh` reads it
# through `train_flags`): batch 4 x 1 s, Adam 2e-3 halving every 1250 steps, STEPS in all, of which
# the last LEVEL_STEPS add the A-weighted level loss; the noise generator silent for 500 steps and
# fading in over 500 more (with noise from the start it stood in for the upper harmonics: README,
# "What that table cannot see"); throughout, the harmonic loss at 0.5 (`training/harmonics.py`:
# harmonics 1-20 from the samples, both soundfonts, violin 4.30 -> 3.75 dB, choir 4.07 -> 3.35; the
# choir at weight 2.0: 3.54 on MuseScore General's notes, where 0.5 gave 3.25).
RECIPE = {"batch_size": 4, "clip_seconds": 1.0, "learning_rate": 2e-3, "decay_steps": 1250, "noise_warmup": 500,
          "harmonic_weight": 0.5}
STEPS, LEVEL_STEPS = 2150, 400
# On a CUDA machine (`scripts/train_models_cuda.sh`): 4x the batch for 2.3x the steps, the level loss
# over the last 1000.
CUDA_RECIPE = {"batch_size": 16, "clip_seconds": 1.0, "learning_rate": 2e-3, "decay_steps": 2000,
               "noise_warmup": 500, "harmonic_weight": 0.5}
CUDA_STEPS, CUDA_LEVEL_STEPS = 5000, 1000
# How each shipped model's phrases play their dynamics (training/phrases.py, DYNAMICS). The horn's
# samples darken with velocity; trained on independent velocity and CC11 it stayed bright when soft
# (harmonics 5-16 darkened 1.2 dB from velocity 112 to 64 where the sampled horn darkens 12 dB;
# +15.5 dB above 4 kHz at velocity 64); the trumpet likewise (harmonics 1-20 4.49 -> 2.47 dB from
# its samples, above 4 kHz +3.59 -> +0.36 dB when retrained this way), and the alto sax (4.67 ->
# 4.34 dB, +3.95 -> +1.28 dB). MuseScore's clarinet brightens with velocity too: with knots and
# independent dynamics its velocity-112 high notes (C5-E6) stayed 5.7-8.5 dB from the samples
# (harmonics 10-16 12-16 dB short); coupled, 4.32 -> 3.88 dB over all notes. The other models are as
# they were trained.
COUPLED_DYNAMICS = {"horn", "trumpet", "sax", "clarinet"}


# The shipped models that learn their two soundfonts apart (`train --condition-on-source`: offsets
# to every layer's bias per source) and play one of them, PLAYED_SOURCE. The two soundfonts' cellos
# are 6.3 dB apart over harmonics 1-20, the clarinets 4.3; a model that hears only f0 and loudness
# plays their average. Against MuseScore General's notes, conditioned: the clarinet 5.59 -> 4.68 dB,
# the cello 4.52 -> 4.40; the horn 3.07 -> 3.21, above 4 kHz +0.86 -> +3.26, so not the horn
# (README, "A fourth cause"). The flute was conditioned later, together with its pitch knots (below).
CONDITIONED_ON_SOURCE = {"cello", "clarinet", "flute"}
PLAYED_SOURCE = "musescore"


# The shipped models trained with `train --pitch-knots` (the f0 stack's knots spread over the data's
# pitch range, `Decoder.init_pitch_knots`; README, "A fifth cause"): against MuseScore General's notes
# the cello 4.40 -> 4.08 dB, the flute (also conditioned) 5.15 -> 3.64, the clarinet (also coupled
# dynamics) 4.68 -> 3.88. The conditioned horn so, 3.61 dB / +2.64 dB above 4 kHz where the shipped
# horn has 3.07 / +0.86 on the same notes: not shipped.
PITCH_KNOTS = {"cello", "flute", "clarinet"}


def phrase_dynamics(name):
    return "coupled" if name in COUPLED_DYNAMICS else "independent"


def train_flags(recipe=RECIPE, name=None):
    """A recipe as `python -m training train` flags: "--batch-size 4 --clip-seconds 1.0 ..."; for
    instrument `name`, with its conditioning on the source and its pitch knots where it has them."""
    flags = [f"--{key.replace('_', '-')} {value}" for key, value in recipe.items()]
    flags += ["--condition-on-source"] if name in CONDITIONED_ON_SOURCE else []
    return " ".join(flags + (["--pitch-knots"] if name in PITCH_KNOTS else []))


def library_folder():
    """The plugin's own model folder (`ModelLibrary::standard` in `dsp-core/src/library.rs`: the
    platform data folder, as the `dirs` crate names it, + `ddsp-instrument/models`)."""
    home = Path.home()
    if sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("APPDATA", home / "AppData" / "Roaming"))
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else home / ".local" / "share"
    return base / "ddsp-instrument" / "models"


def slug(name):
    """A file name for a model name: "My Cello" -> "my-cello"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def make(source, name, out=None, work=None, steps=STEPS, level_steps=LEVEL_STEPS, crepe="tiny",
         holdout="*heldout*", max_minutes=None, threads=None, config=None, instrument="", licence="",
         description="", checkpoint_every=250, progress=True, device="cpu"):
    """Returns the export summary (path, bytes, steps, ...)."""
    from .dataset import build
    from .export import export
    from .train import train

    work = Path(work) if work else Path.home() / ".cache" / "ddsp-instrument" / "training" / slug(name)
    out = Path(out) if out else library_folder() / f"{slug(name)}.onnx"
    dataset, run = work / "dataset", work / "run"
    manifest = build(source, dataset, crepe, holdout, progress=progress)  # says what it skips, and why
    if not manifest["seconds"]["train"]:
        raise SystemExit(f"{source}: no usable recordings (see the reasons above)")
    # The f0 stack's knots over the recordings' pitch range (README, "A fifth cause"): every run
    # measured with them had the lower validation loss (clarinet 6.63 vs 6.75, cello 5.40 vs 5.50,
    # horn 6.47 vs 6.52).
    common = dict(RECIPE, checkpoint_every=checkpoint_every, max_minutes=max_minutes, threads=threads,
                  config=config, progress=progress, device=device, pitch_knots=True)
    spectral_steps = max(steps - level_steps, 0)
    if spectral_steps:
        train(dataset, run, spectral_steps, level_weight=0.0, **common)
    train(dataset, run, steps, level_weight=1.0, **common)
    return export(run, out, name, instrument or f"{name} (your recordings)",
                  licence or "that of the recordings", description or f"{name}, trained by `python -m training make`.",
                  reference_dir=work)
