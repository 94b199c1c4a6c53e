"""Noise bursts at note changes: the model's own response to a pitch change, or the effect's
conditioning? The same legato melody (C4 D4 E4 F4 G4 A4 G4 E4 D4 C4, 250 ms a note) three ways,
through the Python package's pipeline (default model):

1. the effect on a band-limited saw playing the melody (tracked pitch and loudness);
2. the instrument in mono legato from MIDI (the note's pitch and a steady envelope);
3. the direct voice: the pitch stepped, the loudness held constant (the model alone).

For each: the share of energy above 6 kHz (10 ms Hann frames, 1 ms hop), mid-note (median) and its
maximum within 30 ms of each note change (aligned by the reported latency), and the excess.
If the effect's excess were above the direct voice's, its conditioning (loudness dips, voicing
at the change) would add the bursts; equal means the model produces them for a pitch step.

Run: target/py-test-venv/bin/python scripts/bench/note_change_noise.py (after scripts/test.sh, or
any venv with numpy and the ddsp_instrument wheel).
"""

import numpy as np

import ddsp_instrument as ddsp

SR = 48000
BLOCK = 480
KEYS = [60, 62, 64, 65, 67, 69, 67, 64, 62, 60]
NOTE_S = 0.25
N = int(len(KEYS) * NOTE_S * SR) + SR // 4


def hz(key):
    return 440 * 2 ** ((key - 69) / 12)


def key_at(seconds):
    return KEYS[min(int(seconds / NOTE_S), len(KEYS) - 1)]


def high_band_share_db(x, lo_hz=6000, win=480, hop=48):
    w = np.hanning(win)
    freqs = np.fft.rfftfreq(win, 1 / SR)
    shares = []
    for s in range(0, len(x) - win, hop):
        power = np.abs(np.fft.rfft(x[s : s + win] * w)) ** 2
        shares.append(10 * np.log10(power[freqs >= lo_hz].sum() / (power.sum() + 1e-20) + 1e-20))
    centres = (np.arange(len(shares)) * hop + win / 2) / SR
    return centres, np.array(shares)


def report(name, y, delay_s):
    t, share = high_band_share_db(y)
    at_change, mid = [], []
    for i in range(1, len(KEYS)):
        change = i * NOTE_S + delay_s
        at_change.append(share[(t > change - 0.005) & (t < change + 0.025)].max())
        middle = (i - 0.5) * NOTE_S + delay_s
        mid.append(np.median(share[(t > middle - 0.05) & (t < middle + 0.05)]))
    excess = np.median(np.array(at_change) - np.array(mid))
    print(
        f"{name}: energy above 6 kHz, mid-note {np.median(mid):.1f} dB of the total, "
        f"at note changes up to {np.median(at_change):.1f} dB: {excess:+.1f} dB"
    )


def main():
    t = np.arange(N) / SR
    f0 = np.array([hz(key_at(s)) for s in t]) * (t < len(KEYS) * NOTE_S)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    saw = (0.3 * sum(np.sin(k * phase) / k for k in range(1, 40)) * (f0 > 0)).astype(np.float32)

    p = ddsp.Pipeline(SR, BLOCK)
    effect = np.concatenate([p.process_audio(saw[s : s + BLOCK]) for s in range(0, N, BLOCK)])
    report("effect, tracked legato saw", effect, p.audio_latency_samples / SR)

    p = ddsp.Pipeline(SR, BLOCK)
    p.set_polyphony(1)
    events = []
    for i, key in enumerate(KEYS):
        events.append((int(i * NOTE_S * SR), bytes([0x90, key, 100])))
        # The next note starts before this one ends: legato.
        events.append((int((i + 1) * NOTE_S * SR) + 10, bytes([0x80, key, 0])))
    blocks = []
    for s in range(0, N, BLOCK):
        for at, message in events:
            if s <= at < s + BLOCK:
                p.midi(message, at - s)
        blocks.append(p.process(BLOCK))
    report("instrument, mono legato from MIDI", np.concatenate(blocks), p.latency_samples / SR)

    p = ddsp.Pipeline(SR, BLOCK)
    p.set_loudness_norm(0.7)
    blocks = []
    for s in range(0, N, BLOCK):
        p.set_f0_hz(hz(key_at(s / SR)))
        blocks.append(p.process(BLOCK))
    report("direct voice, pitch steps at constant loudness", np.concatenate(blocks), 0.0)


if __name__ == "__main__":
    main()
