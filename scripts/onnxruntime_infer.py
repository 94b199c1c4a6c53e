#!/usr/bin/env python3
"""What `ddsp infer MODEL --raw IN.csv -o OUT.csv` computes, computed by ONNX Runtime instead: one
row per frame of a `models/FORMAT.md` model's controls, the recurrent state carried from zeros.
The reference the native runtime is held to for files we did not export from PyTorch ourselves
(`ddsp quantize`'s int8 models: `scripts/make_int8_models.sh`, `cli/tests/models.rs`).

Run: .venv/bin/python scripts/onnxruntime_infer.py MODEL.onnx IN.csv OUT.csv
(onnxruntime is in scripts/requirements-test.txt)
"""
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

OUTPUTS = ["amplitude", "harmonic_distribution", "noise_magnitudes"]


def main(model, inputs, output):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    hidden = next(i.shape[1] for i in sess.get_inputs() if i.name == "state_in")
    lines = Path(inputs).read_text().split()
    header = lines[0].split(",")
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]], np.float32)
    f0, ld = rows[:, header.index("f0_hz[0]")], rows[:, header.index("loudness_db[0]")]
    state = np.zeros((1, hidden), np.float32)
    frames = []
    for f, l in zip(f0, ld):
        out = sess.run(OUTPUTS + ["state_out"], {"f0_hz": np.array([[f]], np.float32),
                                                  "loudness_db": np.array([[l]], np.float32), "state_in": state})
        state = out[3]
        frames.append(np.concatenate([o.reshape(-1) for o in out[:3]]))
    sizes = [int(np.prod(o.shape)) for o in out[:3]]
    columns = [f"{name}[{j}]" for name, n in zip(OUTPUTS, sizes) for j in range(n)]
    text = [",".join(columns)] + [",".join(np.format_float_positional(v, unique=True) for v in row) for row in frames]
    Path(output).write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
