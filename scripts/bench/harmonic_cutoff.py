#!/usr/bin/env python3
"""Where a model's harmonics end: each ONNX model (models/FORMAT.md) held at one loudness (-25 dB)
for 120 frames (ONNX Runtime, state carried) at pitches from G3 to G6; prints the first harmonic
whose amplitude is below -60 dB re the strongest (among those under Nyquist), per pitch. A cut at
the same harmonic number at every pitch is learned, not acoustic (README, "What that table
cannot see").

Run: .venv-train/bin/python scripts/bench/harmonic_cutoff.py models/violin.onnx [MODEL...]
"""
import sys

import numpy as np
import onnxruntime as ort

RATE, FRAMES, LOUDNESS_DB, CUT_DB = 48_000, 120, -25.0, -60.0


def held(session, f0, loudness_db):
    hidden = next(i for i in session.get_inputs() if i.name == "state_in").shape[-1]
    state = np.zeros((1, hidden), np.float32)
    names = [o.name for o in session.get_outputs()]
    for _ in range(FRAMES):
        out = dict(zip(names, session.run(None, {"f0_hz": [[f0]], "loudness_db": [[loudness_db]], "state_in": state})))
        state = out["state_out"]
    return np.asarray(out["harmonic_distribution"]).ravel()


for path in sys.argv[1:]:
    session = ort.InferenceSession(path)
    cuts = []
    for midi in range(55, 97, 6):
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        h = held(session, f0, LOUDNESS_DB)
        k = np.arange(1, len(h) + 1)
        audible = k * f0 < RATE / 2
        db = 20 * np.log10(np.maximum(h * audible / (h * audible).max(), 1e-30))
        below = np.flatnonzero((db < CUT_DB) & audible)
        cuts.append(f"{f0:.0f} Hz: {below[0] + 1 if len(below) else 'none'}")
    print(f"{path}: first harmonic below {CUT_DB:.0f} dB — " + ", ".join(cuts))
