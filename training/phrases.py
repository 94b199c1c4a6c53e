"""Training data from real sampled instruments: generated expressive MIDI phrases rendered by
Debian's fluidsynth with MuseScore General (MIT) or FluidR3 GM (MIT).

Each phrase strings together gestures across the instrument's real range: legato lines (steps and
leaps, overlapping notes), long tones with crescendo/diminuendo through CC11 and vibrato through pitch
bend, repeated notes, arpeggiated leaps, and silences between gestures. Every phrase is seeded by
(instrument, index), so the data, and the held-out split (every tenth phrase, written as
`heldout_*.flac`), are the same on every machine. One MIDI file per instrument is rendered in a single
fluidsynth run and cut at the phrase boundaries (2 s of silence between phrases).
"""
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import SAMPLE_RATE

SOUNDFONTS = {
    "musescore": "/usr/share/sounds/sf3/MuseScore_General.sf3",
    "fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
}
GAP_S = 2.0
TAIL_S = 1.2
BEND_RANGE = 2  # semitones, set through RPN 0


@dataclass(frozen=True)
class Instrument:
    program: int  # General MIDI, 0-based
    low: int  # MIDI note range played
    high: int
    label: str = ""  # what a card calls it, when not its name

    def called(self, name):
        return self.label or name


INSTRUMENTS = {
    "violin": Instrument(40, 55, 93),   # G3 .. A6
    "cello": Instrument(42, 36, 76),    # C2 .. E5
    "flute": Instrument(73, 60, 96),    # C4 .. C7
    "trumpet": Instrument(56, 54, 82),  # F#3 .. A#5
    "sax": Instrument(65, 49, 80, "alto sax"),       # Db3 .. Ab5 (sounding)
    "clarinet": Instrument(71, 52, 89),              # E3 .. F6
    "horn": Instrument(60, 41, 77, "French horn"),   # F2 .. F5 (sounding)
    "choir": Instrument(52, 48, 79, 'choir "aah"'),  # C3 .. G5
}


class Phrase:
    """Events in seconds: ('on', t, note, vel), ('off', t, note), ('cc', t, num, val), ('bend', t, val)."""

    def __init__(self):
        self.events, self.t = [], 0.0

    def note(self, t, dur, note, vel):
        self.events += [("on", t, note, vel), ("off", t + dur, note)]

    def ramp_cc(self, t0, t1, v0, v1, num=11, step=0.02):
        for t in np.arange(t0, t1, step):
            self.events.append(("cc", t, num, int(round(v0 + (v1 - v0) * (t - t0) / max(t1 - t0, 1e-9)))))

    def vibrato(self, t0, t1, rate_hz, cents, step=0.01):
        """Pitch-bend vibrato between t0 and t1 with a 0.3 s fade-in, back to centre at the end."""
        for t in np.arange(t0, t1, step):
            depth = cents * min(1.0, (t - t0) / 0.3)
            bend = depth / (100 * BEND_RANGE) * np.sin(2 * np.pi * rate_hz * (t - t0))
            self.events.append(("bend", t, int(np.clip(8192 * bend, -8192, 8191))))
        self.events.append(("bend", t1, 0))


# How a phrase's dynamics are played (`python -m training phrases --dynamics`):
# - "independent" (the shipped models' data): each gesture's velocity and CC11 drawn apart, and
#   crescendi through CC11 over 25..127 (up to -28 dB). CC11 scales the volume and leaves the
#   timbre alone, so quiet frames are as often a bright loud-velocity sample turned down as a soft
#   one: a soundfont whose samples darken with velocity (horn, trumpet, sax) teaches loudness
#   without its timbre.
# - "coupled": one dynamic level per gesture sets the velocity (the samples' timbre) and CC11
#   follows within 3 dB of it; crescendi on a line go through the notes' velocities, and a long
#   note's swell through CC11 within ±3 dB.
DYNAMICS = ("independent", "coupled")


def gesture(p, rng, inst, t, dynamics="independent"):
    """Appends one gesture starting at t; returns its end time."""
    kind = rng.choice(["legato", "long", "repeat", "leaps"], p=[0.4, 0.25, 0.15, 0.2])
    centre = int(rng.integers(inst.low, inst.high + 1))
    clamp = lambda n: int(np.clip(n, inst.low, inst.high))
    if dynamics == "coupled":
        return coupled_gesture(p, rng, inst, t, kind, centre, clamp)
    vel = int(rng.integers(45, 120))
    expr = int(rng.integers(60, 128))
    p.events.append(("cc", t, 11, expr))
    if kind == "legato":
        note = centre
        n_notes = int(rng.integers(4, 13))
        shape = rng.choice(["flat", "cresc", "dim", "swell"])
        t0 = t
        for i in range(n_notes):
            dur = float(rng.choice([0.18, 0.25, 0.35, 0.5, 0.7, 1.0]) * rng.uniform(0.9, 1.2))
            p.note(t, dur + 0.03, note, int(np.clip(vel + rng.integers(-12, 13), 20, 127)))  # overlap: legato
            if dur > 0.6 and rng.random() < 0.6:
                p.vibrato(t + 0.15, t + dur, rng.uniform(4.5, 6.5), rng.uniform(12, 35))
            t += dur
            step = rng.choice([-2, -1, 1, 2, 3, -3, 5, -5, 7, -7, 12, -12], p=[.16, .16, .16, .16, .07, .07, .05, .05, .03, .03, .03, .03])
            note = clamp(note + step) if inst.low < note + step < inst.high else clamp(note - step)
        lo, hi = int(rng.integers(30, 70)), int(rng.integers(90, 128))
        if shape == "cresc":
            p.ramp_cc(t0, t, lo, hi)
        elif shape == "dim":
            p.ramp_cc(t0, t, hi, lo)
        elif shape == "swell":
            mid = (t0 + t) / 2
            p.ramp_cc(t0, mid, lo, hi)
            p.ramp_cc(mid, t, hi, lo)
        return t
    if kind == "long":
        dur = float(rng.uniform(1.5, 4.5))
        p.note(t, dur, centre, vel)
        lo, hi = int(rng.integers(25, 60)), int(rng.integers(95, 128))
        return long_note_shape(p, rng, t, dur, lo, hi)
    if kind == "repeat":
        dur = float(rng.uniform(0.1, 0.3))
        for _ in range(int(rng.integers(3, 9))):
            p.note(t, dur * 0.8, centre, int(np.clip(vel + rng.integers(-20, 21), 20, 127)))
            t += dur
        return t
    # Arpeggiated leaps across the range (thirds, fourths, fifths, octaves), detached.
    note = clamp(centre - 12)
    for _ in range(int(rng.integers(4, 10))):
        dur = float(rng.uniform(0.2, 0.6))
        p.note(t, dur * 0.9, note, int(np.clip(vel + rng.integers(-15, 16), 20, 127)))
        t += dur
        step = int(rng.choice([3, 4, 5, 7, 12]))
        note = note + step if note + step <= inst.high else clamp(note - 2 * step)
    return t


def long_note_shape(p, rng, t, dur, lo, hi):
    """A long note's CC11 crescendo, diminuendo or swell between `lo` and `hi`, and its vibrato
    (three notes in four); returns the note's end."""
    shape = rng.choice(["cresc", "dim", "swell"])
    if shape == "cresc":
        p.ramp_cc(t, t + dur, lo, hi)
    elif shape == "dim":
        p.ramp_cc(t, t + dur, hi, lo)
    else:
        p.ramp_cc(t, t + dur / 2, lo, hi)
        p.ramp_cc(t + dur / 2, t + dur, hi, lo)
    if rng.random() < 0.75:
        p.vibrato(t + rng.uniform(0.2, 0.8), t + dur, rng.uniform(4.5, 6.5), rng.uniform(15, 45))
    return t + dur


def coupled_gesture(p, rng, inst, t, kind, centre, clamp):
    """`gesture` with coupled dynamics (see DYNAMICS): the velocity carries the level."""
    level = float(rng.uniform(0.0, 1.0))
    velocity = lambda x: int(np.clip(round(30 + 95 * x + rng.integers(-6, 7)), 20, 127))
    # CC11 127 * 10^(-dB/40): GM's volume curve is (CC/127)^2.
    cc = lambda db: int(np.clip(round(127 * 10 ** (db / 40)), 1, 127))
    p.events.append(("cc", t, 11, cc(-3.0 * (1.0 - level))))
    if kind == "legato":
        note = centre
        n_notes = int(rng.integers(4, 13))
        shape = rng.choice(["flat", "cresc", "dim", "swell"])
        lo, hi = float(rng.uniform(0.0, 0.45)), float(rng.uniform(0.6, 1.0))
        for i in range(n_notes):
            x = i / max(n_notes - 1, 1)
            x = {"flat": level, "cresc": lo + (hi - lo) * x, "dim": hi - (hi - lo) * x,
                 "swell": lo + (hi - lo) * (1.0 - abs(2.0 * x - 1.0))}[shape]
            dur = float(rng.choice([0.18, 0.25, 0.35, 0.5, 0.7, 1.0]) * rng.uniform(0.9, 1.2))
            p.note(t, dur + 0.03, note, velocity(x))  # overlap: legato
            if dur > 0.6 and rng.random() < 0.6:
                p.vibrato(t + 0.15, t + dur, rng.uniform(4.5, 6.5), rng.uniform(12, 35))
            t += dur
            step = rng.choice([-2, -1, 1, 2, 3, -3, 5, -5, 7, -7, 12, -12], p=[.16, .16, .16, .16, .07, .07, .05, .05, .03, .03, .03, .03])
            note = clamp(note + step) if inst.low < note + step < inst.high else clamp(note - step)
        return t
    if kind == "long":
        dur = float(rng.uniform(1.5, 4.5))
        p.note(t, dur, centre, velocity(level))
        return long_note_shape(p, rng, t, dur, cc(-3.0), cc(0.0))
    if kind == "repeat":
        dur = float(rng.uniform(0.1, 0.3))
        for _ in range(int(rng.integers(3, 9))):
            p.note(t, dur * 0.8, centre, velocity(level))
            t += dur
        return t
    note = clamp(centre - 12)
    for _ in range(int(rng.integers(4, 10))):
        dur = float(rng.uniform(0.2, 0.6))
        p.note(t, dur * 0.9, note, velocity(level))
        t += dur
        step = int(rng.choice([3, 4, 5, 7, 12]))
        note = note + step if note + step <= inst.high else clamp(note - 2 * step)
    return t


def make_phrase(rng, inst, seconds, dynamics="independent"):
    p = Phrase()
    t = 0.0
    while t < seconds:
        t = gesture(p, rng, inst, t, dynamics)
        t += float(rng.choice([0.0, 0.05, 0.3, 0.6, 1.2], p=[0.2, 0.2, 0.25, 0.2, 0.15]))
    return p, t


def write_midi(path, phrases, inst):
    """All phrases in one track, `GAP_S` of silence between; returns (start, end) of each phrase."""
    import mido
    tpb, tempo = 960, 500_000  # 1 tick = 1/1920 s
    ticks = lambda s: int(round(s * tpb * 1e6 / tempo))
    head = [mido.Message("program_change", program=inst.program, time=0)]
    # Pitch-bend range through RPN 0, then a neutral CC7.
    for num, val in ((101, 0), (100, 0), (6, BEND_RANGE), (38, 0), (101, 127), (100, 127), (7, 100)):
        head.append(mido.Message("control_change", control=num, value=val, time=0))
    events, bounds, offset = [], [], 0.5
    for p, length in phrases:
        for e in p.events:
            events.append((offset + e[1], e))
        bounds.append((offset, offset + length))
        offset += length + GAP_S
    order = {"off": 0, "bend": 1, "cc": 1, "on": 2}
    events.sort(key=lambda x: (x[0], order[x[1][0]]))
    track = mido.MidiTrack(head)
    now = 0
    for t, e in events:
        tick = ticks(t)
        dt, now = tick - now, tick
        if e[0] == "on":
            track.append(mido.Message("note_on", note=e[2], velocity=e[3], time=dt))
        elif e[0] == "off":
            track.append(mido.Message("note_off", note=e[2], velocity=0, time=dt))
        elif e[0] == "cc":
            track.append(mido.Message("control_change", control=e[2], value=int(np.clip(e[3], 0, 127)), time=dt))
        else:
            track.append(mido.Message("pitchwheel", pitch=e[2], time=dt))
    track.append(mido.MetaMessage("end_of_track", time=ticks(2.0)))
    mid = mido.MidiFile(ticks_per_beat=tpb)
    mid.tracks.append(track)
    mid.save(path)
    return bounds


def synthesise(midi, soundfont="musescore", gain=1.0):
    """A MIDI file rendered dry (no reverb, no chorus) by fluidsynth at 48 kHz, mixed to mono float32.
    Raw interleaved stereo floats at the rate asked for (bit-identical to its float WAV), so no audio
    file library is needed (`scripts/bench/note_change_noise.py` runs in the package's test venv)."""
    if shutil.which("fluidsynth") is None:
        raise SystemExit("fluidsynth not found: run scripts/setup_training.sh")
    raw = Path(midi).with_suffix(".render.raw")
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(gain), "-r", str(SAMPLE_RATE),
                    "-O", "float", "-T", "raw", "-F", str(raw), SOUNDFONTS.get(soundfont, soundfont), str(midi)],
                   check=True, stdout=subprocess.DEVNULL)
    audio = np.fromfile(raw, dtype=np.float32).reshape(-1, 2)
    raw.unlink()
    return audio.mean(1)


def phrase_seed(name, soundfont, i):
    """Phrase i's seed: MuseScore General's phrases are those the first models were trained on; every
    other soundfont plays phrases of its own, so two sources of one instrument never repeat a line."""
    if soundfont == "musescore":
        return [zlib.crc32(name.encode()), i]
    return [zlib.crc32(name.encode()), zlib.crc32(Path(str(soundfont)).stem.encode()), i]


def render(name, out_dir, minutes=15.5, phrase_seconds=30.0, soundfont="musescore", gain=1.0,
           dynamics="independent"):
    import soundfile as sf
    inst = INSTRUMENTS[name]
    # One folder per instrument and source: `dataset OUT/NAME` takes every soundfont's phrases.
    out_dir = Path(out_dir) / name / (soundfont if soundfont in SOUNDFONTS else Path(soundfont).stem)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng_phrases, total, i = [], 0.0, 0
    while total < minutes * 60:
        rng = np.random.default_rng(phrase_seed(name, soundfont, i))
        p, length = make_phrase(rng, inst, phrase_seconds, dynamics)
        rng_phrases.append((p, length))
        total += length
        i += 1
    midi = out_dir / f"{name}.mid"
    bounds = write_midi(midi, rng_phrases, inst)
    audio = synthesise(midi, soundfont, gain)
    rate = SAMPLE_RATE
    peak = float(np.abs(audio).max())
    written = []
    for j, (t0, t1) in enumerate(bounds):
        a = audio[int((t0 - 0.05) * rate):int((t1 + TAIL_S) * rate)]
        stem = f"heldout_{name}_{j:03d}" if j % 10 == 9 else f"{name}_{j:03d}"
        sf.write(out_dir / f"{stem}.flac", a, rate, subtype="PCM_24")
        written.append(stem)
    return {"instrument": name, "phrases": len(bounds), "seconds": round(total, 1), "peak": peak,
            "heldout": sum(1 for s in written if s.startswith("heldout"))}
