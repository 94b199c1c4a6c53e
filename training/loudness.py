"""A-weighted loudness in dB, exactly as `models/FORMAT.md` defines it (and as
`dsp-core/src/tracking/loudness.rs`, the real-time tracker, measures it).

`loudness_db = 10*log10(72 * P_A)`, floored at -120 dB: `P_A` is the mean square of the signal
through an IEC 61672 A-weighting filter (analog prototype, each first-order section
bilinear-transformed with its corner pre-warped -- the 12194 Hz pair so the response equals the analog
curve at 10 kHz -- 0 dB at 1 kHz) over the last `L` samples before
the end of the frame: whole periods `L = max(1, floor(4 ms / T)) * T` when the note is voiced (or
was within the last 50 ms) with a period `T <= 50 ms`, else `L = 4 ms`. `10*log10(72)` makes a
stationary signal read as DDSP's `compute_loudness` does (A-weighted STFT power, n_fft 192 at 48 kHz).
"""
import math

import numpy as np
from scipy import signal

CORNERS_HZ = (20.598997, 107.65265, 737.86223, 12194.217)
DDSP_OFFSET_DB = 10.0 * math.log10(72.0)
RANGE_DB = 120.0
WINDOW_S = 0.004
MAX_PERIOD_S = 0.05
VOICED_HOLD_S = 0.05


def a_weighting_db(frequency_hz):
    """The standard A-weighting curve in dB (IEC 61672, librosa's formula)."""
    f_sq = np.asarray(frequency_hz, np.float64) ** 2
    c = [x * x for x in (CORNERS_HZ[3], CORNERS_HZ[0], CORNERS_HZ[1], CORNERS_HZ[2])]
    return 2.0 + 20.0 * (np.log10(c[0]) + 2 * np.log10(f_sq) - np.log10(f_sq + c[0]) - np.log10(f_sq + c[1])
                         - 0.5 * np.log10(f_sq + c[2]) - 0.5 * np.log10(f_sq + c[3]))


def _first_order(sample_rate, corner_hz, high_pass):
    c = 2.0 * sample_rate
    w = c * math.tan(math.pi * corner_hz / sample_rate)
    a0 = c + w
    b = [c / a0, -c / a0] if high_pass else [w / a0, w / a0]
    return np.array(b), np.array([1.0, (w - c) / a0])


def high_corner_hz(sample_rate):
    """The 12194 Hz low-pass corner to pre-warp so the digital filter equals the analog curve at
    min(10 kHz, 0.4 fs) instead of at the corner (+0.6 dB at 10 kHz / 48 kHz otherwise)."""
    match = min(10_000.0, 0.4 * sample_rate)
    w = 2 * sample_rate * math.tan(math.pi * match / sample_rate) * CORNERS_HZ[3] / match
    return math.atan(w / (2 * sample_rate)) * sample_rate / math.pi


def a_weighting_filter(sample_rate):
    """Second-order sections of the A-weighting filter at `sample_rate` (0 dB at 1 kHz)."""
    f1, f2, f3, f4 = CORNERS_HZ[0], CORNERS_HZ[1], CORNERS_HZ[2], high_corner_hz(sample_rate)
    sections = [(f1, True), (f1, True), (f2, True), (f3, True), (f4, False), (f4, False)]
    sos = []
    for (fa, hpa), (fb, hpb) in zip(sections[0::2], sections[1::2]):
        ba, aa = _first_order(sample_rate, fa, hpa)
        bb, ab = _first_order(sample_rate, fb, hpb)
        sos.append(np.concatenate([np.convolve(ba, bb), np.convolve(aa, ab)]))
    sos = np.array(sos)
    _, h = signal.sosfreqz(sos, worN=[1000.0], fs=sample_rate)
    sos[0, :3] /= abs(h[0])
    return sos


def frame_loudness(audio, sample_rate, hop, f0_hz=None, voiced=None):
    """Loudness of each frame `i`, measured over the samples before the frame's end `(i+1)*hop`.

    `f0_hz` and `voiced` (one per frame) choose the whole-period window; without them every frame
    uses the 4 ms window. Returns float32 dB, one per frame (`len(audio) // hop` frames)."""
    audio = np.asarray(audio, np.float64)
    n_frames = len(audio) // hop
    y = signal.sosfilt(a_weighting_filter(sample_rate), np.clip(np.nan_to_num(audio), -8, 8))
    prefix = np.concatenate([[0.0], np.cumsum(y * y)])  # prefix[n] = sum of the first n samples
    ends = (np.arange(n_frames) + 1) * hop
    window = np.full(n_frames, WINDOW_S * sample_rate)
    if f0_hz is not None:
        period = sample_rate / np.maximum(np.asarray(f0_hz, np.float64)[:n_frames], 1e-3)
        voiced = np.asarray(voiced, bool)[:n_frames]
        # Voiced within the last 50 ms: the period of the last voiced frame holds that long.
        hold = int(round(VOICED_HOLD_S * sample_rate / hop))
        last_voiced = np.where(voiced, np.arange(n_frames), -10**9)
        last_voiced = np.maximum.accumulate(last_voiced)
        recent = np.arange(n_frames) - last_voiced <= hold
        held_period = period[np.clip(last_voiced, 0, None)]
        use = recent & (held_period <= MAX_PERIOD_S * sample_rate)
        whole = np.maximum(1.0, np.floor(WINDOW_S * sample_rate / held_period)) * held_period
        window = np.where(use, whole, window)
    window = np.clip(window, 1.0, ends.astype(np.float64))
    start = ends - window  # fractional: the oldest sample counts by its fraction
    lo = np.floor(start).astype(np.int64)
    frac = start - lo
    before = prefix[lo] * (1 - frac) + prefix[np.minimum(lo + 1, len(prefix) - 1)] * frac
    power = (prefix[ends] - before) / window
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(np.maximum(power, 0.0)) + DDSP_OFFSET_DB
    return np.maximum(np.nan_to_num(db, nan=-RANGE_DB, neginf=-RANGE_DB), -RANGE_DB).astype(np.float32)
