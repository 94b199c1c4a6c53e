"""`train --pitch-knots`: the f0 stack starts with its knots spread over the data's pitch range, so a
timbre that changes from one note to the next (a sampled instrument's zones, a real one's resonances)
can be learned; from PyTorch's default initialisation only a few knots fall inside an instrument's
range and the network plays a timbre smooth in pitch."""
import json

import numpy as np
import torch
import torch.nn.functional as F

from training import HOP, SAMPLE_RATE
from training.dataset import Clip
from training.model import Decoder, ModelConfig
from training.train import train

from .conftest import write_dataset

TINY = dict(stack_units=16, gru_units=24, out_units=32, out_layers=2, n_harmonics=16, n_noise_bands=17)
NOTES = [57 + i for i in range(6)]  # A3..D4, semitones apart
SLOPES = [1.0, 3.0] * 3  # harmonics as 1/k (bright) and 1/k^3 (dark), alternating from note to note


def f0_preactivations(decoder, midi):
    """The f0 stack's first layer after its norm, before the leaky ReLU bends it at 0 (its knots)."""
    layer = decoder.f0_stack[0]
    with torch.no_grad():
        return layer.norm(layer.dense(torch.as_tensor(midi, dtype=torch.float32)[:, None] / 127))


def test_the_knots_fall_inside_the_range_and_tell_semitones_apart():
    midi = np.linspace(40.0, 80.0, 401)
    for cfg, want in ((ModelConfig(), False), (ModelConfig(pitch_knots_midi=[40.0, 80.0]), True)):
        torch.manual_seed(0)
        d = Decoder(cfg)
        z = f0_preactivations(d, midi)
        knots = int(((z[1:] > 0) != (z[:-1] > 0)).any(0).sum())
        f = F.leaky_relu(f0_preactivations(d, np.array([60.0, 61.0])), 0.2)
        apart = float((f[0] - f[1]).norm())
        print(f"pitch_knots_midi={cfg.pitch_knots_midi}: {knots}/128 knots in range, C4-C#4 {apart:.3f}")
        if want:
            assert knots >= 100 and apart > 0.3
        else:
            assert knots < 40 and apart < 0.1


def fit_zones(cfg, steps=300, seed=0):
    """A decoder fitted (Adam, as the trainer) to harmonic distributions that alternate bright and dark
    from one semitone to the next; returns harmonic 4 re 1 (dB) it plays at each note."""
    torch.manual_seed(seed)
    d = Decoder(cfg)
    f0 = torch.tensor([440.0 * 2 ** ((n - 69) / 12) for n in NOTES])[:, None].repeat(1, 20)
    k = torch.arange(1, cfg.n_harmonics + 1, dtype=torch.float32)
    target = torch.stack([20 * torch.log10(k ** -s) for s in SLOPES])[:, None, :]
    opt = torch.optim.Adam(d.parameters(), lr=2e-3)
    for _ in range(steps):
        h = d(f0, torch.full_like(f0, -20.0))[0]["harmonic_distribution"]
        db = 20 * torch.log10(h / h[..., :1])
        loss = (db - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        h = d(f0, torch.full_like(f0, -20.0))[0]["harmonic_distribution"][:, -1]
    return (20 * torch.log10(h[:, 3] / h[:, 0])).numpy()


def test_knots_learn_a_timbre_that_changes_from_one_note_to_the_next():
    # The targets: harmonic 4 at -12 dB (bright) and -36 dB (dark) re the fundamental, alternating; the
    # swing is how far each note sits from its neighbours' mean, towards its own target (24 dB if learned).
    bright = np.array(SLOPES) == 1.0
    swing = {}
    for knots in ([], [float(NOTES[0]), float(NOTES[-1])]):
        t = fit_zones(ModelConfig(**TINY, pitch_knots_midi=knots))
        neighbours = np.array([(t[i - 1] + t[i + 1]) / 2 if 0 < i < 5 else t[1 if i == 0 else 4] for i in range(6)])
        swing[bool(knots)] = float(np.mean(np.where(bright, t - neighbours, neighbours - t)))
        print(f"pitch knots {knots}: harmonic 4 re 1 per note {np.round(t, 1)}, swing {swing[bool(knots)]:.1f} dB")
    assert swing[True] > 18.0 and swing[True] > swing[False] + 10.0


def test_train_pitch_knots_spreads_the_knots_over_the_datas_range(tmp_path):
    takes = []
    for i, note in enumerate((48, 72)):
        f0 = 440.0 * 2 ** ((note - 69) / 12)
        n = int(2.0 * SAMPLE_RATE) // HOP
        audio = (0.2 * np.sin(2 * np.pi * f0 * np.arange(n * HOP) / SAMPLE_RATE)).astype(np.float32)
        takes.append((f"note{i}.wav", Clip(f"note{i}", audio, np.full(n, f0, np.float32), np.ones(n, np.float32),
                                           np.full(n, -20.0, np.float32)), "train"))
    write_dataset(tmp_path / "ds", takes)
    run = tmp_path / "run"
    train(tmp_path / "ds", run, steps=2, batch_size=2, clip_seconds=0.5, checkpoint_every=2, threads=1,
          config=ModelConfig(**TINY), progress=False, pitch_knots=True)
    assert json.loads((run / "config.json").read_text())["model"]["pitch_knots_midi"] == [48.0, 72.0]
