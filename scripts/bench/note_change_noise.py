"""Noise bursts at note changes: the model's own response to a pitch change, or the effect's
conditioning? The same legato melody (C4 D4 E4 F4 G4 A4 G4 E4 D4 C4, 250 ms a note) three ways,
through the Python package's pipeline (default model):

1. the effect on a band-limited saw playing the melody (tracked pitch and loudness);
2. the instrument in mono legato from MIDI (the note's pitch and a steady envelope);
3. the direct voice: the pitch stepped, the loudness held constant (the model alone);
4. the reference: the sampled flute the default model was trained on (MuseScore General and
   FluidR3 GM, GM program 74, velocities 64 and 100), playing the same notes legato from MIDI,
   rendered dry by fluidsynth (skipped where fluidsynth or the soundfonts are missing:
   scripts/setup_training.sh installs them).

For each: the share of energy above 6 kHz (10 ms Hann frames, 1 ms hop), mid-note (median) and its
maximum within 30 ms of each note change (aligned by the reported latency), and the excess.
If the effect's excess were above the direct voice's, its conditioning (loudness dips, voicing
at the change) would add the bursts; equal means the model produces them for a pitch step. The
sampled flute says how much of that the instrument itself does at a note change.

Run: target/py-test-venv/bin/python scripts/bench/note_change_noise.py (after scripts/test.sh, or
any venv with numpy and the ddsp_instrument wheel).
"""

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import ddsp_instrument as ddsp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from training import SAMPLE_RATE as SR  # noqa: E402  (the rate training.phrases.synthesise renders at)
from training.phrases import INSTRUMENTS, SOUNDFONTS, synthesise  # noqa: E402  (numpy only at import)

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


def vlq(n):
    """A MIDI variable-length quantity."""
    out = [n & 0x7F]
    while n > 127:
        n >>= 7
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def legato_midi(program, velocity):
    """The melody as a format-0 MIDI file (960 ticks per beat at 120 bpm: 1920 ticks a second),
    each note ending 10 samples after the next begins, as the instrument plays it above."""
    events = [(0, bytes([0xC0, program]))]
    for i, key in enumerate(KEYS):
        events.append((i * NOTE_S, bytes([0x90, key, velocity])))
        events.append(((i + 1) * NOTE_S + 10 / SR, bytes([0x80, key, 0])))
    events.sort(key=lambda e: e[0])
    track, now = b"", 0
    for seconds, message in events:
        tick = round(seconds * 1920)
        track += vlq(tick - now) + message
        now = tick
    track += vlq(1920) + b"\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + (960).to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + track


def sampled_flute():
    """(label, audio) of the sampled flute playing the melody, per soundfont and velocity."""
    if shutil.which("fluidsynth") is None:
        print("sampled flute: skipped (no fluidsynth; scripts/setup_training.sh installs it)")
        return
    for font, path in SOUNDFONTS.items():
        if not Path(path).exists():
            print(f"sampled flute ({font}): skipped ({path} missing)")
            continue
        for velocity in (64, 100):
            with tempfile.TemporaryDirectory() as tmp:
                midi = Path(tmp) / "melody.mid"
                midi.write_bytes(legato_midi(INSTRUMENTS["flute"].program, velocity))
                audio = synthesise(midi, font)
            yield f"sampled flute ({font}, velocity {velocity}), legato from MIDI", audio[:N]


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

    for label, audio in sampled_flute():
        report(label, audio, 0.0)


if __name__ == "__main__":
    main()
