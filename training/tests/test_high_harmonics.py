"""High harmonics stay alive in training (issue 14): after a short run of the real trainer on tones with
40 harmonics, the loss still sends gradient to every harmonic output above the 20th, and not
vanishingly less than to the lowest ones (the head's harmonic logits are the pre-activations of
exp_sigmoid, whose tail is exponential: its gradient there is ln 10 times the output, so in log terms
it never vanishes; what muted the shipped models' high harmonics was the log terms' 1e-7 floor,
`training/model.py`, TRAIN_LOG_FLOOR)."""
import json

import numpy as np
import torch

from training import HOP, SAMPLE_RATE
from training.dataset import Clip
from training.loudness import frame_loudness
from training.model import TRAIN_LOG_FLOOR, ModelConfig, multiscale_spectral_loss
from training.train import train

from .conftest import write_dataset

K = 40


def dataset(path, make_tone):
    takes = []
    for i, f0 in enumerate((196.0, 262.0, 330.0, 392.0)):
        audio = make_tone(f0, 3.0, amplitude=0.2, harmonics=K, vibrato_cents=18)
        n = len(audio) // HOP
        audio = audio[:n * HOP]
        t = np.arange(1, n + 1) * HOP / SAMPLE_RATE
        f = (f0 * 2 ** (18 / 1200 * np.sin(2 * np.pi * 5.5 * t))).astype(np.float32)
        ld = frame_loudness(audio, SAMPLE_RATE, HOP, f, np.ones(n, bool)).astype(np.float32)
        clip = Clip(f"c{i}", audio, f, np.ones(n, np.float32), ld)
        takes.append((f"c{i}.wav", clip, "validation" if i == 3 else "train"))
    write_dataset(path, takes)
    return [clip for _, clip, _ in takes]


def test_harmonics_above_the_20th_still_receive_gradient(tmp_path, make_tone):
    clips = dataset(tmp_path / "ds", make_tone)
    config = ModelConfig(stack_units=16, gru_units=32, out_units=32, out_layers=1, n_harmonics=K, n_noise_bands=17)
    model, _ = train(tmp_path / "ds", tmp_path / "run", steps=40, batch_size=2, clip_seconds=0.5,
                     learning_rate=3e-3, checkpoint_every=40, threads=2, config=config, progress=False)
    frames = 125
    f0 = torch.stack([torch.from_numpy(c.f0_hz[:frames]) for c in clips])
    ld = torch.stack([torch.from_numpy(c.loudness_db[:frames]) for c in clips])
    audio = torch.stack([torch.from_numpy(c.audio[:frames * HOP]) for c in clips])
    model.zero_grad()
    out, _ = model(f0, ld, torch.Generator().manual_seed(0))
    multiscale_spectral_loss(audio, out, log_floor=TRAIN_LOG_FLOOR).backward()  # the loss training follows
    grad = model.decoder.head.bias.grad[1:1 + K].abs().numpy()  # d loss / d harmonic logit, summed over frames
    low, high = grad[:4], grad[20:]
    print(f"|gradient| of harmonic logits: harmonics 1-4 median {np.median(low):.2e}, 21-40 median "
          f"{np.median(high):.2e}, smallest above 20 {high.min():.2e}")
    assert np.all(high > 0), f"harmonics {np.flatnonzero(high == 0) + 21} receive no gradient"
    assert high.min() > 1e-3 * np.median(low), (high.min(), np.median(low))
    # And it pulls them towards the source: the head starts them at 1/k^2, ~20 dB under these tones' 1/k
    # above the 20th harmonic, so the loss must ask for more of nearly every one (a negative gradient).
    signs = model.decoder.head.bias.grad[1 + 20:1 + K].numpy()
    print(f"harmonics 21-40 the loss asks to raise: {np.sum(signs < 0)} of {K - 20}")
    assert np.sum(signs < 0) >= 0.8 * (K - 20), signs


def test_the_noise_is_silent_during_its_warm_up_then_fades_in(tmp_path, make_tone):
    """The recipe's noise warm-up (`training/make.py`): while it is silent the noise head receives no
    gradient and stays as initialised, while the harmonic head learns; then the gain rises to 1."""
    from training.model import DDSP
    from training.train import noise_gain

    assert [noise_gain(s, 10) for s in (0, 5, 10, 15, 20, 30)] == [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    assert noise_gain(0, 0) == 1.0
    dataset(tmp_path / "ds", make_tone)
    config = ModelConfig(stack_units=16, gru_units=32, out_units=32, out_layers=1, n_harmonics=K, n_noise_bands=17)
    torch.manual_seed(0)  # as train() does before building the model
    start = DDSP(config).decoder.head.bias.detach().clone()
    model, _ = train(tmp_path / "ds", tmp_path / "run", steps=6, batch_size=2, clip_seconds=0.5, learning_rate=3e-3,
                     checkpoint_every=6, threads=2, config=config, progress=False, noise_warmup=10)
    bias = model.decoder.head.bias.detach()
    assert torch.equal(bias[1 + K:], start[1 + K:]), "the noise head moved while the noise was silent"
    assert not torch.equal(bias[1:1 + K], start[1:1 + K]), "the harmonic head did not learn"
    assert json.loads((tmp_path / "run/config.json").read_text())["noise_warmup"] == 10
