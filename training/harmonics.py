"""Each harmonic's amplitude in a recording, measured with its known f0: the target of the harmonic
loss (`model.harmonic_loss`).

The multi-scale spectral loss scores a harmonic's level weakly: at a 131 Hz note only its 2048 and
1024-point FFTs resolve the harmonics, its log terms count every bin between and above them as much
as the peaks, and noise bands can stand in for a harmonic's energy. Measured on the choir's own
training phrases, the shipped model's steady profile (harmonics 1-20 in dB re the strongest) was
3.7 dB from the recording's: at C3-G3 it kept a peak on the 3rd harmonic and the 4th 14 dB down
where the samples have their formant on the 4th.

The measurement follows the f0 track through vibrato and glides: around each frame's end the
signal is resampled on the track's own phase (`RESAMPLE` points per period over `PERIODS` periods,
from the clip upsampled `UPSAMPLE` times), so harmonic k sits exactly on FFT bin k * PERIODS of a
Hann-windowed segment whatever the pitch does: a tone with ±18-cent vibrato comes back within 0.25
dB on every harmonic up to 16 kHz (`training/tests/test_harmonics.py`). The window is `PERIODS`
periods long: 62 ms at 65 Hz, 4 ms at 1 kHz.
"""
import numpy as np
from scipy import signal

from . import HOP, SAMPLE_RATE

PERIODS, RESAMPLE, UPSAMPLE = 4, 512, 4
MAX_HZ = 16_000.0  # as the benchmark's profile (`benchmark.MAX_HZ`)
MIN_F0_HZ = 20.0


def sample_f0(f0_hz, n_samples, hop=HOP):
    """Per-sample f0 from frame values, frame i's value at sample (i+1)*hop (as `model.upsample`)."""
    ends = (np.arange(len(f0_hz)) + 1) * hop
    return np.interp(np.arange(n_samples), ends, np.maximum(f0_hz, MIN_F0_HZ))


def harmonic_amplitudes(audio, f0_hz, n_harmonics, voiced=None, sample_rate=SAMPLE_RATE, hop=HOP, chunk=1024):
    """[T, K] amplitudes (the a of a*sin) of harmonics 1..K at each frame's end, NaN where not
    measured: unvoiced frames (`voiced` False), harmonics at or above min(MAX_HZ, Nyquist), and
    frames whose window runs past the clip."""
    audio = np.asarray(audio, np.float64)
    n, t = len(audio), len(f0_hz)
    out = np.full((t, n_harmonics), np.nan, np.float32)
    if n == 0 or t == 0:
        return out
    up = signal.resample_poly(audio, UPSAMPLE, 1)
    phase = np.concatenate([[0.0], np.cumsum(sample_f0(f0_hz, n, hop) / sample_rate)])  # cycles at sample i
    window = np.hanning(PERIODS * RESAMPLE + 1)[:-1]
    grid = (np.arange(PERIODS * RESAMPLE) / RESAMPLE - PERIODS / 2)  # cycles around the frame's end
    k = np.arange(1, n_harmonics + 1)
    ends = (np.arange(t) + 1) * hop
    frames = np.flatnonzero((ends < n) & (voiced if voiced is not None else True))
    for lo in range(0, len(frames), chunk):
        idx = frames[lo:lo + chunk]
        want = phase[ends[idx]][:, None] + grid  # [F, P*R] phase in cycles
        times = np.interp(want, phase, np.arange(n + 1))  # in samples
        inside = (want[:, 0] >= 0) & (want[:, -1] <= phase[n - 1])
        seg = np.interp(times * UPSAMPLE, np.arange(len(up)), up)
        spec = np.abs(np.fft.rfft(seg * window, axis=1))[:, k * PERIODS] * 2 / window.sum()
        audible = k[None, :] * f0_hz[idx, None] < min(MAX_HZ, sample_rate / 2)
        spec[~(audible & inside[:, None])] = np.nan
        out[idx] = spec
    return out
