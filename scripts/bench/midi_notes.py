#!/usr/bin/env python3
"""The effect's MIDI out against the MIDI the audio was rendered from: mir_eval's note metrics.

Material: the six sampled-instrument phrases of scripts/bench/tracker_accuracy.py (rendered dry by
fluidsynth from seeded MIDI: legato lines, leaps, pitch-bend vibrato, CC11 crescendi, repeated
notes, rests; 24 s each), clean, with white noise at 10 dB SNR and in the synthetic room, as that
benchmark makes them. Each file goes through `ddsp track IN --midi OUT.mid`: exactly the notes the
effect sends live (one channel, bend range 2), moved earlier by the effect's reported latency as a
host's delay compensation moves them. Scored with `mir_eval.transcription` against the source MIDI:
a note is found when its onset is within 50 ms and its key within 50 cents of a source note's (each
matched once; offsets not scored), so precision = found / sent, recall = found / played. Also the
onset error of the found notes (sent minus played: the tracker's decision time plus the sample's
attack), and the notes found when the key may be off by an octave (the same onsets, pitch taken
modulo 12).

Set-up: scripts/bench/setup_bench.sh (it installs mir_eval into .venv-train). Run after
tracker_accuracy.py has rendered the material:
    .venv-train/bin/python scripts/bench/midi_notes.py [--ddsp target/release/ddsp] [--out DIR]
"""
import argparse
import subprocess
import sys
from pathlib import Path

import mido
import mir_eval
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tracker_accuracy import CONDITIONS, INSTRUMENTS, ROOT, degraded  # noqa: E402

ONSET_TOLERANCE_S = 0.05
PITCH_TOLERANCE_CENTS = 50.0


def notes(path: Path):
    """(intervals [N, 2] s, keys [N]) of a standard MIDI file's notes, any channel."""
    sounding, found, t = {}, [], 0.0
    for msg in mido.MidiFile(path):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            sounding.setdefault((msg.channel, msg.note), []).append(t)
        elif msg.type in ("note_off", "note_on"):
            starts = sounding.get((msg.channel, msg.note))
            if starts:
                found.append((starts.pop(0), t, msg.note))
    # A note still on at the end of the file ends there.
    found += [(s, t, key) for (_, key), starts in sounding.items() for s in starts]
    found = [n for n in sorted(found) if n[1] > n[0]]
    intervals = np.array([[s, e] for s, e, _ in found]).reshape(-1, 2)
    return intervals, np.array([k for _, _, k in found], dtype=float)


def hz(keys):
    return 440.0 * 2.0 ** ((keys - 69.0) / 12.0)


def matched(ref, est):
    """mir_eval's onset-only note matching: the (played, sent) index pairs."""
    (ri, rk), (ei, ek) = ref, est
    if len(ek) == 0 or len(rk) == 0:
        return []
    return mir_eval.transcription.match_notes(
        ri, hz(rk), ei, hz(ek), onset_tolerance=ONSET_TOLERANCE_S, pitch_tolerance=PITCH_TOLERANCE_CENTS,
        offset_ratio=None)


def prf(found, played, sent):
    """precision, recall, F from the counts (mir_eval's definitions)."""
    p, r = found / max(sent, 1), found / max(played, 1)
    return p, r, 2 * p * r / max(p + r, 1e-9)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ddsp", type=Path, default=ROOT / "target/release/ddsp")
    parser.add_argument("--out", type=Path, default=ROOT / "target/bench-accuracy")
    args = parser.parse_args()
    rows, totals = [], {c: [0, 0, 0, 0, []] for c in CONDITIONS}
    for name, *_ in INSTRUMENTS:
        stem = name.replace(" ", "_")
        source = args.out / f"{stem}.mid"
        clean = args.out / f"{stem}.wav"
        if not source.exists() or not clean.exists():
            sys.exit(f"{clean} or its MIDI is missing: run scripts/bench/tracker_accuracy.py first")
        ref = notes(source)
        for condition in CONDITIONS:
            wav = degraded(clean, condition)
            sent = args.out / f"{stem}.{condition}.notes.mid"
            subprocess.run([str(args.ddsp), "track", str(wav), "--midi", str(sent)], check=True,
                           capture_output=True)
            est = notes(sent)
            pairs = matched(ref, est)
            p, r, f = prf(len(pairs), len(ref[1]), len(est[1]))
            onsets = np.array([est[0][j, 0] - ref[0][i, 0] for i, j in pairs]) * 1e3
            # The same onsets with the key taken modulo 12 (an octave off still counts).
            folded = matched((ref[0], ref[1] % 12 + 60), (est[0], est[1] % 12 + 60))
            rows.append((name, condition, len(ref[1]), len(est[1]), len(pairs), p, r, f, onsets, len(folded)))
            t = totals[condition]
            t[0] += len(ref[1])
            t[1] += len(est[1])
            t[2] += len(pairs)
            t[3] += len(folded)
            t[4] += list(onsets)
            print(f"{name} {condition}: played {len(ref[1])}, sent {len(est[1])}, found {len(pairs)} "
                  f"(octave-blind {len(folded)}); P {p:.3f} R {r:.3f} F {f:.3f}; onset "
                  f"{np.median(onsets) if len(onsets) else float('nan'):+.1f} ms median", flush=True)
    print("\n| material | condition | notes played / sent | found (octave-blind) | precision | recall | F | "
          "onset error, median (p10…p90) |\n|---|---|---|---|---|---|---|---|")
    spread = lambda onsets: (f"{np.median(onsets):+.1f} ms ({np.percentile(onsets, 10):+.1f}…"
                             f"{np.percentile(onsets, 90):+.1f})" if len(onsets) else "–")
    for name, condition, n_ref, n_est, found, p, r, f, onsets, folded in rows:
        print(f"| {name} | {condition} | {n_ref} / {n_est} | {found} ({folded}) | {p:.3f} | {r:.3f} | "
              f"{f:.3f} | {spread(onsets)} |")
    for condition, (n_ref, n_est, found, folded, onsets) in totals.items():
        p, r, f = prf(found, n_ref, n_est)
        print(f"| **all** | {condition} | {n_ref} / {n_est} | {found} ({folded}) | {p:.3f} | {r:.3f} | {f:.3f} | "
              f"{spread(onsets)} |")


if __name__ == "__main__":
    main()
