#!/usr/bin/env python3
"""Why a trained model's upper harmonics stay dead: on training crops of its dataset, which way the
training loss pushes each harmonic output (the sign of d loss / d harmonic logit, summed over 6
batches of 4 one-second crops), with the model's noise as trained and scaled down by 10 and 20 dB,
and with no noise. "raise" counts the harmonics the loss asks to grow.

Measured on the flute trained with the 1e-3 log floor (no harmonic above the 10th at any pitch): as
trained, the log terms ask to lower harmonics 11-20 (1 of 10 raised) while the linear terms ask to
raise all; with the noise 20 dB down, the log terms ask to raise 10 of 10 — the noise bands cover
those harmonics and hold them down (README, "What that table cannot see"; the cure: the recipe's
noise warm-up, `training/make.py`).

Run: .venv-train/bin/python scripts/bench/noise_covers_harmonics.py RUN_DIR DATASET_DIR
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from training.dataset import load_split  # noqa: E402
from training.model import DDSP, TRAIN_LOG_FLOOR, ModelConfig, multiscale_spectral_loss  # noqa: E402
from training.train import Crops  # noqa: E402


def main(run, dataset):
    torch.set_num_threads(1)
    cfg = json.loads((Path(run) / "config.json").read_text())
    model = DDSP(ModelConfig(**cfg["model"]))
    model.load_state_dict(torch.load(Path(run) / "checkpoint.pt", weights_only=False)["model"])
    crops = Crops(load_split(dataset, "train"), 250, np.random.default_rng(1))
    batches = [crops.batch(4) for _ in range(6)]
    k = cfg["model"]["n_harmonics"]
    print(f"{run}: harmonics the training loss asks to raise (of those in each range)")
    for gain_db in (0, -10, -20, None):
        gain = 0.0 if gain_db is None else 10 ** (gain_db / 20)
        for log_weight, terms in ((0.0, "linear terms"), (1.0, "linear + log")):
            grad = torch.zeros(k)
            for f0, ld, audio in batches:
                model.zero_grad()
                out, _ = model(f0, ld, torch.Generator().manual_seed(0), noise_gain=gain)
                multiscale_spectral_loss(audio, out, log_weight=log_weight, log_floor=TRAIN_LOG_FLOOR).backward()
                grad += model.decoder.head.bias.grad[1:1 + k]
            up = (grad < 0).numpy()
            noise = "no noise" if gain_db is None else f"noise {gain_db:+d} dB"
            print(f"  {noise:13s} {terms:13s} harmonics 1-10: {up[:10].sum():2d}/10, 11-20: {up[10:20].sum():2d}/10, "
                  f"21-40: {up[20:40].sum():2d}/20", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
