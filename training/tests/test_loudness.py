"""Loudness as models/FORMAT.md defines it: the A-weighting curve (IEC 61672) and DDSP's STFT loudness."""
import numpy as np
import pytest

from training.loudness import DDSP_OFFSET_DB, a_weighting_db, frame_loudness

# IEC 61672-1 / ANSI S1.42 table values of the A-weighting, dB.
STANDARD_A_DB = {100.0: -19.1, 1000.0: 0.0, 10_000.0: -2.5}


@pytest.mark.parametrize("rate", [44_100, 48_000, 96_000])
@pytest.mark.parametrize("freq", sorted(STANDARD_A_DB))
def test_pure_tones_follow_the_standard_a_weighting(rate, freq):
    t = np.arange(rate) / rate
    sine = np.sin(2 * np.pi * freq * t)  # full scale: mean square 1/2
    hop = rate // 250
    ld = frame_loudness(sine, rate, hop, np.full(len(t) // hop, freq), np.ones(len(t) // hop, bool))
    measured = float(np.median(ld[len(ld) // 2:])) - (10 * np.log10(0.5) + DDSP_OFFSET_DB)
    assert abs(measured - STANDARD_A_DB[freq]) < 0.5, f"{freq} Hz at {rate} Hz: {measured:.2f} dB"
    # and the steady state is flat frame to frame (whole periods): no waveform-phase ripple
    assert np.ptp(ld[len(ld) // 2:]) < 0.05


def test_a_weighting_curve_matches_the_table():
    for f, db in STANDARD_A_DB.items():
        assert abs(a_weighting_db(f) - db) < 0.1


def ddsp_compute_loudness_power(audio, rate, n_fft=192):
    """DDSP's compute_loudness before the log: A-weighted periodic-Hann STFT power, mean over bins,
    75 % overlap, ref_db = 0 -- returned as the mean power over frames (linear)."""
    hop = n_fft // 4
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop] * window
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    weight = 10 ** (np.maximum(a_weighting_db(np.maximum(freqs, 1e-3)), -80) / 10)
    return float((power * weight).mean(-1).mean())


def test_equals_ddsp_stft_loudness_on_a_stationary_note(make_tone):
    rate, f0 = 48_000, 330.0
    audio = make_tone(f0, 2.0, rate, amplitude=0.5, harmonics=20).astype(np.float64)
    hop = rate // 250
    n = len(audio) // hop
    ours = frame_loudness(audio, rate, hop, np.full(n, f0), np.ones(n, bool))
    ours_db = 10 * np.log10(np.mean(10 ** (ours[n // 4:] / 10)))
    ddsp_db = 10 * np.log10(ddsp_compute_loudness_power(audio[len(audio) // 4:], rate))
    assert abs(ours_db - ddsp_db) < 0.1, (ours_db, ddsp_db)


def test_silence_is_the_floor_and_a_step_is_followed_within_a_frame():
    rate, hop = 48_000, 192
    x = np.zeros(rate)
    x[rate // 2:] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(rate // 2) / rate)
    ld = frame_loudness(x, rate, hop)
    assert ld[: rate // 2 // hop - 1].max() == -120.0
    onset = rate // 2 // hop
    assert abs(ld[onset + 1] - (10 * np.log10(0.125) + DDSP_OFFSET_DB)) < 0.2
