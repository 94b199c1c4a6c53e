#!/usr/bin/env python3
"""Writes ONNX models in the `models/FORMAT.md` layout, and onnxruntime reference outputs for them.

* dsp-core/tests/data/decoder_ref.onnx (+ decoder_ref.bin): random weights, every architectural
  feature (two-layer input stacks, GRU, output stack, head), 200 frames of onnxruntime outputs with
  the state carried frame to frame. The Rust runtime must match them within 1e-4.
* dsp-core/tests/data/windowed_ref.onnx (+ .bin): a stateless windowed model in the seed layout.

The shipped instrument models are trained, not written here: `training/` (models/README.md).

Run: .venv/bin/python scripts/make_reference_models.py   (numpy, onnx, onnxruntime; deterministic)
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from training.onnx_format import (  # noqa: E402
    LN10, NOISE_BIAS, GraphBuilder, build_graph, meta_for)



def scale_f0(f0):
    midi = 12.0 * np.log2(np.maximum(f0, 1e-3) / 440.0) + 69.0
    return np.maximum(midi, 0.0) / 127.0


def random_weights(rng, units, n_layers, hidden, out_units, n_out_layers, n_out):
    w = {}
    def stack(prefix, n_in, n_layers, width):
        for i in range(n_layers):
            w[f"{prefix}.{i}.dense.weight"] = rng.normal(0, 1 / math.sqrt(n_in), (n_in, width))
            w[f"{prefix}.{i}.dense.bias"] = rng.normal(0, 0.5, width)
            w[f"{prefix}.{i}.norm.scale"] = 1 + rng.normal(0, 0.1, width)
            w[f"{prefix}.{i}.norm.bias"] = rng.normal(0, 0.1, width)
            n_in = width
        return n_in
    nf = stack("f0_stack", 1, n_layers, units)
    nl = stack("ld_stack", 1, n_layers, units)
    w["gru.W"] = rng.normal(0, 1 / math.sqrt(nf + nl), (1, 3 * hidden, nf + nl))
    w["gru.R"] = rng.normal(0, 0.5 / math.sqrt(hidden), (1, 3 * hidden, hidden))
    w["gru.B"] = rng.normal(0, 0.1, (1, 6 * hidden))
    c = stack("out_stack", nf + nl + hidden, n_out_layers, out_units)
    w["head.weight"] = rng.normal(0, 1 / math.sqrt(c), (c, n_out))
    w["head.bias"] = rng.normal(0, 0.5, n_out)
    return {k: np.asarray(v, np.float32) for k, v in w.items()}


def run_reference(model, f0, ld, H):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    state = np.zeros((1, H), np.float32)
    rows = {"amplitude": [], "harmonic_distribution": [], "noise_magnitudes": [], "state_out": []}
    for a, b in zip(f0, ld):
        out = sess.run(list(rows), {"f0_hz": [[a]], "loudness_db": [[b]], "state_in": state})
        for k, v in zip(rows, out):
            rows[k].append(v.reshape(-1))
        state = out[3]
    return {k: np.stack(v).astype(np.float32) for k, v in rows.items()}


def make_reference():
    rng = np.random.default_rng(20261121)
    K, M, H = 60, 65, 48
    w = random_weights(rng, units=32, n_layers=2, hidden=H, out_units=40, n_out_layers=2, n_out=1 + K + M)
    meta = meta_for("parity reference", "none", "CC0-1.0", "random weights, for runtime parity tests",
                    K, M, (30.0, 2000.0), (-80.0, 0.0))
    model = build_graph(w, meta, K, M)
    n = 200
    i = np.arange(n, dtype=np.float32)
    f0 = (440.0 * 2 ** ((48 + 36 * i / (n - 1) - 69) / 12)).astype(np.float32)  # MIDI 48 -> 84
    ld = (-70.0 + 60.0 * (0.5 - 0.5 * np.cos(2 * np.pi * i / 100))).astype(np.float32)
    ref = run_reference(model, f0, ld, H)
    out = ROOT / "dsp-core/tests/data"
    onnx.save(model, out / "decoder_ref.onnx")
    arrays = [("f0_hz", f0[:, None]), ("loudness_db", ld[:, None])] + list(ref.items())
    with open(out / "decoder_ref.bin", "wb") as fh:
        layout = []
        for name, a in arrays:
            layout.append({"name": name, "shape": list(a.shape), "offset_bytes": fh.tell()})
            fh.write(np.ascontiguousarray(a, "<f4").tobytes())
    (out / "decoder_ref.json").write_text(json.dumps({
        "model": "decoder_ref.onnx", "frames": n, "dtype": "float32 little-endian, row-major",
        "producer": f"onnxruntime {ort.__version__}, state carried frame to frame from zeros",
        "arrays": layout}, indent=1) + "\n")
    print("reference:", out / "decoder_ref.onnx")


def make_windowed():
    """A stateless windowed model in the seed layout (f0_hz, loudness [1, T] -> harmonic_amps,
    harmonic_dist [1, T, K], noise_mags [1, T, M]) whose last frame depends on the whole window (a
    causal running mean), with onnxruntime outputs over a sliding window from silence."""
    rng = np.random.default_rng(1121)
    T, K, M, U = 16, 32, 33, 24
    meta = {"ddsp.format": "ddsp-windowed/1", "ddsp.name": "windowed reference", "ddsp.licence": "CC0-1.0",
            "ddsp.sample_rate_hz": 48000, "ddsp.frame_rate_hz": 250, "ddsp.f0_min_hz": 40.0,
            "ddsp.f0_max_hz": 1500.0, "ddsp.loudness_min_db": -70.0, "ddsp.loudness_max_db": -5.0}
    w1 = rng.normal(0, 1.5, (2, U)).astype(np.float32)
    b1 = rng.normal(0, 0.5, U).astype(np.float32)
    w2 = rng.normal(0, 1 / math.sqrt(2 * U), (2 * U, 1 + K + M)).astype(np.float32)
    b2 = rng.normal(0, 0.5, 1 + K + M).astype(np.float32)
    causal_mean = (np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]).astype(np.float32)
    g = GraphBuilder()
    nodes, inits, const, op = g.nodes, g.inits, g.const, g.op

    f = op("Max", ["f0_hz", const(np.float32(1e-3))])
    f = op("Log", [op("Div", [f, const(np.float32(440.0))])])
    f = op("Div", [op("Add", [op("Mul", [f, const(np.float32(12.0 / math.log(2.0)))]), const(np.float32(69.0))]),
                   const(np.float32(127.0))])
    l = op("Add", [op("Div", ["loudness", const(np.float32(80.0))]), const(np.float32(1.0))])
    axes = const(np.array([-1], np.int64))
    x = op("Concat", [op("Unsqueeze", [f, axes]), op("Unsqueeze", [l, axes])], axis=-1)
    h = op("Tanh", [op("Add", [op("MatMul", [x, const(w1)]), const(b1)])])
    c = op("MatMul", [const(causal_mean), h])
    z = op("Add", [op("MatMul", [op("Concat", [h, c], axis=-1), const(w2)]), const(b2)])
    nodes.append(helper.make_node("Split", [z, const(np.array([1, K, M], np.int64))], ["a", "hd", "nz"], axis=-1))

    def exp_sig(x):
        return op("Add", [op("Mul", [op("Pow", [op("Sigmoid", [x]), const(np.float32(LN10))]),
                                     const(np.float32(2.0))]), const(np.float32(1e-7))])

    dist = exp_sig("hd")
    op("Div", [dist, op("ReduceSum", [dist, axes], keepdims=1)], output="harmonic_dist")
    op("Mul", [exp_sig("a"), "harmonic_dist"], output="harmonic_amps")
    nodes.append(helper.make_node("Identity", [exp_sig(op("Add", ["nz", const(np.float32(NOISE_BIAS))]))],
                                  ["noise_mags"]))
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "ddsp_windowed_decoder",
        [helper.make_tensor_value_info("f0_hz", f32, [1, T]), helper.make_tensor_value_info("loudness", f32, [1, T])],
        [helper.make_tensor_value_info("harmonic_amps", f32, [1, T, K]),
         helper.make_tensor_value_info("harmonic_dist", f32, [1, T, K]),
         helper.make_tensor_value_info("noise_mags", f32, [1, T, M])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ddsp-instrument")
    model.ir_version = 8
    helper.set_model_props(model, {k: str(v) for k, v in meta.items()})
    onnx.checker.check_model(model)

    n = 120
    i = np.arange(n, dtype=np.float32)
    f0 = (220.0 * 2 ** (np.sin(2 * np.pi * i / 60) * 0.5)).astype(np.float32)
    ld = (-60.0 + 50.0 * np.clip(i / 40.0, 0, 1)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    win_f0 = np.full(T, meta["ddsp.f0_min_hz"], np.float32)
    win_ld = np.full(T, -120.0, np.float32)
    rows = []
    for a, b in zip(f0, ld):
        win_f0 = np.append(win_f0[1:], a)
        win_ld = np.append(win_ld[1:], b)
        out = sess.run(["harmonic_amps", "harmonic_dist", "noise_mags"], {"f0_hz": win_f0[None], "loudness": win_ld[None]})
        rows.append([o[0, -1] for o in out])
    out_dir = ROOT / "dsp-core/tests/data"
    onnx.save(model, out_dir / "windowed_ref.onnx")
    arrays = [f0, ld] + [np.stack([r[j] for r in rows]) for j in range(3)]
    with open(out_dir / "windowed_ref.bin", "wb") as fh:
        for a in arrays:
            fh.write(np.ascontiguousarray(a, "<f4").tobytes())
    print("windowed:", out_dir / "windowed_ref.onnx", f"({n} frames: f0, loudness, harmonic_amps [{K}], "
          f"harmonic_dist [{K}], noise_mags [{M}])")


if __name__ == "__main__":
    make_reference()
    make_windowed()
