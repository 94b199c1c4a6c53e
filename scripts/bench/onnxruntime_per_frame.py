#!/usr/bin/env python3
"""Per-frame inference time of our ONNX models in ONNX Runtime (1 thread, state carried frame to
frame), beside our native runtime's (`cargo bench -p ddsp-benches -- inference-per-frame`).

Run: .venv/bin/python scripts/bench/onnxruntime_per_frame.py [MODEL.onnx ...]
(onnxruntime is in scripts/requirements-test.txt; the default models are models/flute.onnx, its
int8 variant models/int8/flute.onnx and dsp-core/tests/data/decoder_ref.onnx). A DDSP-VST-signature
file (inputs f0_scaled, pw_scaled, state: the genuine export converted by
`scripts/make_quantised_tflite.py onnx` to target/bench/model_a.onnx) is run the same way.
"""
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
MODELS = [Path(a) for a in sys.argv[1:]] or [
    ROOT / "models/flute.onnx", ROOT / "models/int8/flute.onnx", ROOT / "dsp-core/tests/data/decoder_ref.onnx"]

for path in MODELS:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in sess.get_inputs()}
    ddsp_vst = "state" in inputs
    state_name, f0_name, ld_name = ("state", "f0_scaled", "pw_scaled") if ddsp_vst else ("state_in", "f0_hz", "loudness_db")
    state_shape = [d if isinstance(d, int) else 1 for d in inputs[state_name].shape]
    hidden = state_shape[-1]
    state = np.zeros(state_shape, np.float32)
    names = [o.name for o in sess.get_outputs()]
    state_slot = names.index("output_3" if ddsp_vst else "state_out")

    def frame(f0, ld):
        global state
        if ddsp_vst:  # DDSP-VST's own scaling of its inputs
            f0, ld = (12 * np.log2(f0 / 440) + 69) / 127, ld / 80 + 1
        value = lambda name, v: np.full([1] * len(inputs[name].shape), v, np.float32)
        out = sess.run(names, {f0_name: value(f0_name, f0), ld_name: value(ld_name, ld), state_name: state})
        state = out[state_slot].reshape(state_shape)

    for i in range(200):
        frame(220.0, -30.0)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for i in range(2000):
            frame(200.0 + (i % 100), -30.0)
        runs.append((time.perf_counter() - t0) / 2000)
    best, median = min(runs), sorted(runs)[len(runs) // 2]
    print(f"ONNX Runtime {ort.__version__} (1 thread), {path.parent.name}/{path.name} (GRU {hidden}): "
          f"median {median * 1e6:.1f} µs/frame, best {best * 1e6:.1f} µs/frame over 5 runs of 2000 frames")
