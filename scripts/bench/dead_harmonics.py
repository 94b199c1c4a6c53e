#!/usr/bin/env python3
"""Why do the shipped models' high harmonics die? Candidate mechanisms measured on synthetic tones
(the f0's accuracy, the harmonics' phases, the FFT sizes of the loss); on real data the cause was the
log terms' 1e-7 floor (README, "What that table cannot see"; `TRAIN_LOG_FLOOR` in training/model.py).

Two small decoders are trained by the real trainer (`training.train`) on the same synthetic audio
(eight 4 s notes, 40 harmonics at 1/k, ±18-cent vibrato at 5.6 Hz, slow glides): one conditioned on
the true f0, one on a 20-cent staircase of it (what torchcrepe's `weighted_argmax` gave the shipped
models' datasets, analysis version 2). A harmonic synthesised at k·f0 from a wrong f0 lands k times
further off in Hz, in the wrong FFT bins of the spectral loss, which then pays less for muting it
than for placing it. Prints each model's learned harmonic distribution against the source's, in dB
by harmonic band, on steady notes at 262 and 440 Hz.

Options (environment): PHASES=1 gives each source harmonic a fixed random phase (real instruments'
harmonics are not in phase; the model's synth starts them all at 0); SIZES=2048,1024,512,256 trains
with those FFT sizes of the spectral loss only (default: all six, 2048..64).

Run: .venv-train/bin/python scripts/bench/dead_harmonics.py [STEPS]   (default 300)
"""
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from training import HOP, SAMPLE_RATE  # noqa: E402
from training.loudness import frame_loudness  # noqa: E402
import training.train  # noqa: E402
from training.model import ModelConfig, multiscale_spectral_loss  # noqa: E402
from training.train import train  # noqa: E402

torch.set_num_threads(1)
K = 40
PHASES = os.environ.get('PHASES') == '1'
SIZES = tuple(int(v) for v in os.environ.get('SIZES', '2048,1024,512,256,128,64').split(','))
training.train.multiscale_spectral_loss = functools.partial(multiscale_spectral_loss, fft_sizes=SIZES)
def clip(f0, seconds, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds*SAMPLE_RATE))/SAMPLE_RATE
    glide = f0*2**(rng.uniform(-3,3)/12*t/seconds)
    inst = glide*2**(18/1200*np.sin(2*np.pi*5.6*t + rng.uniform(0,6)))
    phase = 2*np.pi*np.cumsum(inst)/SAMPLE_RATE
    k = np.arange(1, K+1)
    amps = (1.0/k) * (k*f0 < 20000)
    theta = np.random.default_rng(99).uniform(0, 2*np.pi, K) if PHASES else np.zeros(K)
    x = sum(a*np.sin(kk*phase + th) for kk, a, th in zip(k, amps, theta))
    env = np.minimum(1, np.minimum(t/0.05, (seconds-t)/0.05))
    x = (0.2*x/np.abs(x).max()*env).astype(np.float32)
    n = len(x)//HOP
    x = x[:n*HOP]
    f = inst[np.arange(1,n+1)*HOP-1].astype(np.float32)
    return x, f
def make(ds, staircase):
    (ds/'clips').mkdir(parents=True, exist_ok=True)
    files = {}
    for i, f0 in enumerate([220, 294, 349, 440, 523, 659, 247, 392]):
        x, f = clip(f0, 4.0, i)
        if staircase:
            cents = 1200*np.log2(f/10.0)
            f = (10*2**((np.round((cents - 7.0)/20)*20 + 7.0)/1200)).astype(np.float32)
        ld = frame_loudness(x, SAMPLE_RATE, HOP, f, np.ones(len(f), bool)).astype(np.float32)
        split = 'validation' if i == 7 else 'train'
        np.savez(ds/f'clips/{i}.npz', name=f'c{i}', audio=x, f0_hz=f, periodicity=np.ones(len(f), np.float32), loudness_db=ld)
        files[f'c{i}.wav'] = {"key": str(i), "status": "ok", "clip": f"clips/{i}.npz", "split": split, "seconds": len(x)/SAMPLE_RATE}
    (ds/'manifest.json').write_text(json.dumps({"settings": {}, "files": files}))
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
work = Path(tempfile.mkdtemp(prefix="dead-harmonics-"))
cfg = ModelConfig(stack_units=32, gru_units=64, out_units=64, out_layers=2, n_harmonics=K, n_noise_bands=33)
for name, stair in (('true f0', False), ('20-cent staircase', True)):
    ds, run = work / f"ds_{int(stair)}", work / f"run_{int(stair)}"
    make(ds, stair)
    t0 = time.time()
    model, _ = train(ds, run, steps=steps, batch_size=4, clip_seconds=1.0, learning_rate=3e-3, decay_steps=1250,
                     checkpoint_every=steps, threads=1, config=cfg, progress=False, level_weight=1.0)
    # learned distribution on steady notes (true f0), normalised like the source (1/k, sum-normalised)
    with torch.no_grad():
        rows = []
        for f0 in (262.0, 440.0):
            f = torch.full((1, 250), f0); ld = torch.full((1, 250), -22.0)
            c, _ = model.decoder(f, ld)
            d = c["harmonic_distribution"][0, -50:].mean(0).numpy()
            k = np.arange(1, K+1); ok = k*f0 < 20000
            src = (1.0/k)*ok; src = src/src.sum(); d = d*ok; d = d/d.sum()
            rows.append(20*np.log10(np.maximum(d, 1e-12)/src))
        r = np.mean(rows, 0)
    bands = [(1,4),(5,12),(13,20),(21,40)]
    print(f"{name} (phases {'random' if PHASES else 'zero'}, FFT sizes {SIZES}), {steps} steps ({time.time()-t0:.0f} s): learned minus source, dB by harmonic band: " +
          ", ".join(f"{a}-{b}: {r[a-1:b].mean():+.1f}" for a, b in bands), flush=True)
