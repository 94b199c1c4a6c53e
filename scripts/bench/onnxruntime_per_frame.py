#!/usr/bin/env python3
"""Per-frame inference time of our ONNX models in ONNX Runtime (1 thread, state carried frame to
frame), beside our native runtime's (`cargo bench -p ddsp-benches -- inference-per-frame`).

Run: .venv/bin/python scripts/bench/onnxruntime_per_frame.py [MODEL.onnx ...]
(onnxruntime is in scripts/requirements-test.txt; the default models are models/flute.onnx and
dsp-core/tests/data/decoder_ref.onnx)
"""
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
MODELS = [Path(a) for a in sys.argv[1:]] or [ROOT / "models/flute.onnx", ROOT / "dsp-core/tests/data/decoder_ref.onnx"]

for path in MODELS:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    hidden = next(i.shape[1] for i in sess.get_inputs() if i.name == "state_in")
    state = np.zeros((1, hidden), np.float32)
    names = ["amplitude", "harmonic_distribution", "noise_magnitudes", "state_out"]

    def frame(f0, ld):
        global state
        out = sess.run(names, {"f0_hz": np.array([[f0]], np.float32), "loudness_db": np.array([[ld]], np.float32),
                               "state_in": state})
        state = out[3]

    for i in range(200):
        frame(220.0, -30.0)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for i in range(2000):
            frame(200.0 + (i % 100), -30.0)
        runs.append((time.perf_counter() - t0) / 2000)
    best, median = min(runs), sorted(runs)[len(runs) // 2]
    print(f"ONNX Runtime {ort.__version__} (1 thread), {path.name} (GRU {hidden}): "
          f"median {median * 1e6:.1f} µs/frame, best {best * 1e6:.1f} µs/frame over 5 runs of 2000 frames")
