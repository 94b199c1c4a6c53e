"""Training on a folder without held-out files: a fixed tail of each recording becomes the validation
split (never trained on), so a musician's folder still gets a validation loss and audio samples."""
import json

import numpy as np

from training import HOP
from training.dataset import Clip
from training.train import hold_out_tails, train
from training.model import ModelConfig

from .conftest import write_dataset


def clip(name, seconds, make_tone, f0=220.0):
    audio = make_tone(f0, seconds, amplitude=0.3, harmonics=10, vibrato_cents=15)
    n = len(audio) // HOP
    audio = audio[:n * HOP]
    return Clip(name, audio, np.full(n, f0, np.float32), np.ones(n, np.float32), np.full(n, -20.0, np.float32))


def test_tails_are_cut_off_exactly_and_short_takes_stay_whole(make_tone):
    long, short = clip("long", 30.0, make_tone), clip("short", 4.0, make_tone, 330.0)
    train_part, validation = hold_out_tails([long, short])
    assert [c.name for c in train_part] == ["long", "short"]
    assert [c.name for c in validation] == ["long (held-out tail)"]
    held = validation[0]
    assert len(held.f0_hz) == 750 and len(held.audio) == 750 * HOP, "10 % of 30 s at 250 frames/s"
    assert np.array_equal(np.concatenate([train_part[0].audio, held.audio]), long.audio)
    assert np.array_equal(np.concatenate([train_part[0].loudness_db, held.loudness_db]), long.loudness_db)
    assert train_part[1] is short
    # A 10 s take holds out its minimum, 2 s.
    assert len(hold_out_tails([clip("ten", 10.0, make_tone)])[1][0].f0_hz) == 500


def test_a_folder_without_held_out_files_still_validates(tmp_path, make_tone):
    ds = write_dataset(tmp_path / "ds", [(f"take{i}.wav", clip(f"take{i}", seconds, make_tone, f0), "train")
                                         for i, (f0, seconds) in enumerate(((196.0, 8.0), (294.0, 7.0)))])

    run = tmp_path / "run"
    config = ModelConfig(stack_units=16, gru_units=24, out_units=32, out_layers=2, n_harmonics=16, n_noise_bands=17)
    train(ds, run, steps=10, batch_size=2, clip_seconds=0.5, checkpoint_every=10, threads=2, config=config,
          progress=False)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["validation_split"].startswith("last 10%")
    assert abs(cfg["validation_seconds"] - 4.0) < 0.01 and abs(cfg["train_seconds"] - 11.0) < 0.01
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 10 and log[-1]["validation_loss"] > 0
    assert (run / "samples/step000010.wav").exists()


def test_the_shipped_recipe_reads_the_same_through_every_door():
    """`scripts/make_models.sh` trains with `train_flags()` through the `train` command, `make` with
    RECIPE directly: both must come out as the same hyper-parameters, and `make`'s step defaults as
    STEPS/LEVEL_STEPS (the spectral phase the script runs is their difference)."""
    from training.__main__ import parser
    from training.make import LEVEL_STEPS, RECIPE, STEPS, train_flags

    args = parser().parse_args(["train", "DATASET", "RUN", *train_flags().split()])
    assert {key: getattr(args, key) for key in RECIPE} == RECIPE
    assert all(type(getattr(args, key)) is type(value) for key, value in RECIPE.items())
    make = parser().parse_args(["make", "FOLDER", "--name", "X"])
    assert (make.steps, make.level_steps) == (STEPS, LEVEL_STEPS) == (2150, 400)
