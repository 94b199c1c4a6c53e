"""The trainer's synthesisers against analytic signals (they must sound like the runtime's)."""
import math

import numpy as np
import torch

from training.model import harmonic_synth, noise_synth, upsample


def test_one_harmonic_is_a_sine_at_f0_with_the_amplitude():
    frames = 250
    f0 = torch.full((1, frames), 440.0)
    dist = torch.zeros(1, frames, 8)
    dist[..., 0] = 1.0
    out = harmonic_synth(f0, torch.full((1, frames, 1), 0.5), dist)[0].numpy()
    spec = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    assert abs(np.argmax(spec) * 48_000 / len(out) - 440.0) <= 1.0
    assert abs(np.sqrt(np.mean(out[4800:] ** 2)) * math.sqrt(2) - 0.5) < 1e-3


def test_harmonics_above_nyquist_are_removed_and_the_rest_renormalised():
    f0 = torch.full((1, 50), 5000.0)  # harmonics 1..4 below 24 kHz, 5..8 above
    dist = torch.ones(1, 50, 8)
    out = harmonic_synth(f0, torch.ones(1, 50, 1), dist)[0].numpy()
    spec = np.abs(np.fft.rfft(out))
    hz = np.fft.rfftfreq(len(out), 1 / 48_000)
    peaks = hz[spec > 0.1 * spec.max()]
    assert peaks.max() < 20_100  # nothing folded back from 25, 30, 35, 40 kHz
    assert abs(np.sqrt(np.mean(out ** 2)) - math.sqrt(4 * (0.25 ** 2) / 2)) < 1e-3


def test_flat_noise_is_the_uniform_excitation_and_bands_shape_it():
    n = 48_000
    flat = noise_synth(torch.ones(1, n // 192, 65), n, torch.Generator().manual_seed(0))[0].numpy()
    assert abs(np.var(flat[1000:-1000]) - 1 / 3) < 0.01  # uniform [-1, 1): variance 1/3
    low = torch.zeros(1, n // 192, 65)
    low[..., :16] = 1.0  # bands 0..15 of 0..24 kHz: below ~5.6 kHz
    out = noise_synth(low, n, torch.Generator().manual_seed(0))[0].numpy()
    p = np.abs(np.fft.rfft(out)) ** 2
    hz = np.fft.rfftfreq(n, 1 / 48_000)
    assert p[hz > 8000].sum() < 1e-3 * p[hz < 5000].sum()


def test_controls_sit_at_frame_ends_and_interpolate_linearly():
    x = torch.tensor([[[0.0], [1.0], [3.0]]])
    y = upsample(x, hop=4)[0, :, 0].numpy()
    # frame i reaches its value on its last sample, (i+1)*hop - 1
    assert np.allclose(y, [0, 0, 0, 0, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3])
