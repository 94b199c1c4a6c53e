"""Training in several processes (`torchrun`, DistributedDataParallel on gloo) is the single-process
run: the same data and seed give the same weights, losses and validation, through a checkpoint and
a resume."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from training import HOP
from training.dataset import Clip
from training.train import train
from training.model import ModelConfig

from .conftest import write_dataset

ROOT = Path(__file__).resolve().parents[2]
SIZES = dict(stack_units=16, gru_units=24, out_units=32, out_layers=2, n_harmonics=16, n_noise_bands=17)
FLAGS = ["--stack-units", "16", "--gru-units", "24", "--out-units", "32", "--out-layers", "2", "--harmonics", "16",
         "--noise-bands", "17"]
COMMON = dict(batch_size=4, clip_seconds=0.5, learning_rate=3e-3, decay_steps=1250, seed=3, level_weight=1.0)


def dataset(tmp_path, make_tone):
    """Two training takes and a held-out one (harmonic tones with vibrato, their true f0)."""
    takes = []
    for i, (f0, seconds, split) in enumerate(((196.0, 4.0, "train"), (294.0, 3.0, "train"), (247.0, 2.0, "validation"))):
        audio = make_tone(f0, seconds, amplitude=0.3, harmonics=10, vibrato_cents=15)
        n = len(audio) // HOP
        loudness = np.linspace(-40, -15, n).astype(np.float32)
        clip = Clip(f"take{i}", audio[:n * HOP], np.full(n, f0, np.float32), np.ones(n, np.float32), loudness)
        takes.append((f"take{i}.wav", clip, split))
    return write_dataset(tmp_path / "ds", takes)


def torchrun(ds, run, steps):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "training",
           "train", str(ds), str(run), "--steps", str(steps), "--checkpoint-every", "4", "--threads", "1",
           "--batch-size", str(COMMON["batch_size"]), "--clip-seconds", str(COMMON["clip_seconds"]),
           "--learning-rate", str(COMMON["learning_rate"]), "--decay-steps", str(COMMON["decay_steps"]),
           "--seed", str(COMMON["seed"]), *FLAGS]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_two_processes_train_the_single_process_model(tmp_path, make_tone):
    ds = dataset(tmp_path, make_tone)
    single, multi = tmp_path / "single", tmp_path / "multi"
    train(ds, single, steps=8, checkpoint_every=4, threads=1, config=ModelConfig(**SIZES), progress=False, **COMMON)
    torchrun(ds, multi, 4)  # two processes to the first checkpoint ...
    torchrun(ds, multi, 8)  # ... and resumed from it

    logs = [[json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()] for run in (single, multi)]
    assert [r["step"] for r in logs[1]] == [4, 8]
    for a, b in zip(*logs):
        for key in ("train_loss", "validation_loss"):
            assert abs(a[key] - b[key]) <= 1e-4 * abs(a[key]), f"step {a['step']} {key}: {a[key]} vs {b[key]}"
    weights = [torch.load(run / "checkpoint.pt", weights_only=False)["model"] for run in (single, multi)]
    flat = [torch.cat([w[k].flatten() for k in sorted(w)]) for w in weights]
    relative = float((flat[0] - flat[1]).norm() / flat[0].norm())
    largest = float((flat[0] - flat[1]).abs().max())
    print(f"single vs two processes, steps 4 and 8 (train, validation loss): "
          f"{[(r['train_loss'], r['validation_loss']) for r in logs[0]]} vs "
          f"{[(r['train_loss'], r['validation_loss']) for r in logs[1]]}; weights: relative L2 difference "
          f"{relative:.1e}, largest {largest:.1e}")
    # Float sums in another order (measured 9e-7 and 6e-6): Adam turns them into steps of at most
    # the learning rate on weights whose gradient is ~0, never into another model.
    assert relative < 1e-5 and largest < 1e-4
    assert json.loads((multi / "config.json").read_text())["batch_size"] == 4
