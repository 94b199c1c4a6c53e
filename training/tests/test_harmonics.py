"""The harmonic loss's target (`training/harmonics.py`) against tones whose harmonic amplitudes are
known, and the loss itself (`training/model.py`, harmonic_loss)."""
import numpy as np
import pytest
import torch

from training import HOP, SAMPLE_RATE
from training.harmonics import MAX_HZ, harmonic_amplitudes, sample_f0
from training.model import ModelConfig, harmonic_amplitudes as model_amplitudes, harmonic_loss, harmonic_synth

K = 64
AMPS = 0.3 * 10 ** (-0.5 * np.arange(K) / 20)  # -0.5 dB per harmonic


def vibrato_tone(f0_hz, frames=500, cents=18.0, rate_hz=5.6):
    """Harmonics 1..K below the Nyquist at AMPS, f0 with vibrato, and the f0 track (frame ends)."""
    n = frames * HOP
    f0 = f0_hz * 2 ** (cents / 1200 * np.sin(2 * np.pi * rate_hz * (np.arange(frames) + 1) * HOP / SAMPLE_RATE))
    phase = 2 * np.pi * np.cumsum(sample_f0(f0, n) / SAMPLE_RATE)
    x = sum(AMPS[k - 1] * np.sin(k * phase) for k in range(1, K + 1) if k * f0_hz * 1.02 < SAMPLE_RATE / 2)
    return x + np.random.default_rng(0).normal(0, 1e-4, n), f0.astype(np.float32)


@pytest.mark.parametrize("f0_hz", [65.0, 196.0, 440.0, 1000.0])
def test_each_harmonic_comes_back_at_its_amplitude_through_vibrato(f0_hz):
    x, f0 = vibrato_tone(f0_hz)
    got = harmonic_amplitudes(x, f0, K)
    steady = got[100:400]  # windows inside the clip
    measured = np.isfinite(steady[0])
    expect = np.flatnonzero(np.arange(1, K + 1) * f0_hz * 2 ** (18 / 1200) < MAX_HZ)
    assert set(np.flatnonzero(measured)) >= set(expect), "a harmonic below 16 kHz was not measured"
    err = np.abs(20 * np.log10(steady[:, measured] / AMPS[measured]))
    print(f"{f0_hz} Hz: harmonics 1-{measured.sum()}, max |error| {err.max():.3f} dB")
    assert err.max() < 0.25
    assert not np.isfinite(got[:, np.arange(1, K + 1) * f0_hz * 2 ** (-18 / 1200) >= MAX_HZ]).any()


def test_unvoiced_frames_and_windows_past_the_clip_are_not_measured():
    x, f0 = vibrato_tone(220.0, frames=200)
    voiced = np.ones(200, bool)
    voiced[50:80] = False
    got = harmonic_amplitudes(x, f0, K, voiced)
    assert np.isnan(got[50:80]).all() and np.isfinite(got[100, :10]).all()
    assert np.isnan(got[0]).all() and np.isnan(got[-1]).all()  # 4 periods do not fit before / after


def test_the_trainers_synth_is_measured_at_the_amplitudes_it_was_given():
    frames, f0_hz = 300, 330.0
    f0 = torch.full((1, frames), f0_hz) * 2 ** (18 / 1200 * torch.sin(torch.arange(frames) / 45.0))
    dist = torch.from_numpy(AMPS / AMPS.sum()).float().expand(1, frames, K).clone()
    amplitude = torch.full((1, frames, 1), 0.5)
    audio = harmonic_synth(f0, amplitude, dist)[0].double().numpy()
    want = model_amplitudes(f0, amplitude, dist)[0].numpy()
    got = harmonic_amplitudes(audio, f0[0].numpy(), K)[50:250]
    ok = np.isfinite(got)
    err = np.abs(20 * np.log10(got[ok] / want[50:250][ok]))
    assert ok.sum() > 200 * 40 and err.max() < 0.25, err.max()


def test_the_loss_is_the_mean_db_error_floored_60_db_under_the_strongest():
    f0 = torch.full((1, 2), 100.0)
    target = torch.tensor([[[1.0, 0.1, 1e-5, np.nan], [1.0, 0.1, 1e-5, np.nan]]])
    dist = torch.tensor([[[1.0, 0.1, 1e-5, 1.0]]]).expand(1, 2, 4).clone()
    dist[..., 3] = 0.0
    amplitude = dist.sum(-1, keepdim=True)  # the distribution is renormalised: these are the amplitudes
    controls = {"amplitude": amplitude, "harmonic_distribution": dist}
    assert harmonic_loss(target, f0, controls).item() < 1e-3
    louder = dist.clone()
    louder[..., 1] *= 2.0  # ~6 dB on one of three measured harmonics (the floor, 1e-3, added to both)
    controls = {"amplitude": louder.sum(-1, keepdim=True), "harmonic_distribution": louder}
    assert abs(harmonic_loss(target, f0, controls).item() - 20 * np.log10(0.201 / 0.101) / 3) < 1e-3
    quieter = dist.clone()
    quieter[..., 2] = 1e-7  # both far under the floor (-60 dB re 1.0): no difference
    controls = {"amplitude": quieter.sum(-1, keepdim=True), "harmonic_distribution": quieter}
    assert harmonic_loss(target, f0, controls).item() < 0.1


def test_training_with_the_harmonic_loss_moves_the_profile_towards_the_recording(tmp_path, make_tone):
    from training.dataset import load_split
    from training.model import DDSP
    from training.tests.test_high_harmonics import dataset
    from training.train import Crops, train

    dataset(tmp_path / "ds", make_tone)
    config = ModelConfig(stack_units=16, gru_units=32, out_units=32, out_layers=1, n_harmonics=40, n_noise_bands=17)
    clips = load_split(tmp_path / "ds", "train")
    crops = Crops(clips, 125, np.random.default_rng(1), 40)
    f0, ld, _, _, target = crops.batch(6)

    def error(model):
        with torch.no_grad():
            return harmonic_loss(target, f0, model.decoder(f0, ld)[0]).item()

    torch.manual_seed(0)  # as train() does before building the model
    before = error(DDSP(config))
    model, _ = train(tmp_path / "ds", tmp_path / "run", steps=40, batch_size=2, clip_seconds=0.5, learning_rate=3e-3,
                     checkpoint_every=40, threads=2, config=config, progress=False, harmonic_weight=0.5)
    after = error(model)
    print(f"harmonic profile error on the training tones: {before:.2f} dB at init, {after:.2f} dB after 40 steps")
    assert after < 0.6 * before
