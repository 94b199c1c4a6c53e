"""Checkpoint -> ONNX in the `models/FORMAT.md` layout (`ddsp-rnn-fc/1`: one frame in, state in/out
for streaming, metadata embedded), plus reference input/output CSVs for the Rust parity tests.

The reference outputs are the trainer's own (PyTorch) decoder run frame by frame with its state
carried; the export also checks onnxruntime against them. `ddsp infer MODEL --raw IN.csv` must
reproduce `OUT.csv` within 1e-4 (`training/tests/test_smoke.py`, `cli/tests/models.rs`).
"""
import json
from pathlib import Path

import numpy as np
import torch

from . import FRAME_RATE, SAMPLE_RATE
from .model import DDSP, ModelConfig
from .onnx_format import build_graph, meta_for

OUTPUTS = ("amplitude", "harmonic_distribution", "noise_magnitudes")


def onnx_weights(decoder):
    """The decoder's parameters under the FORMAT.md initializer names and layouts."""
    w = {}
    for prefix in ("f0_stack", "ld_stack", "out_stack"):
        for i, layer in enumerate(getattr(decoder, prefix)):
            w[f"{prefix}.{i}.dense.weight"] = layer.dense.weight.T
            w[f"{prefix}.{i}.dense.bias"] = layer.dense.bias
            w[f"{prefix}.{i}.norm.scale"] = layer.norm.weight
            w[f"{prefix}.{i}.norm.bias"] = layer.norm.bias
    gru = decoder.gru
    H = gru.hidden_size

    def zrh(t):  # PyTorch gate order r, z, n -> ONNX z, r, h
        r, z, n = t.split(H, 0)
        return torch.cat([z, r, n], 0)
    w["gru.W"] = zrh(gru.weight_ih_l0)[None]
    w["gru.R"] = zrh(gru.weight_hh_l0)[None]
    w["gru.B"] = torch.cat([zrh(gru.bias_ih_l0), zrh(gru.bias_hh_l0)])[None]
    w["head.weight"] = decoder.head.weight.T
    w["head.bias"] = decoder.head.bias
    return {k: np.ascontiguousarray(v.detach().numpy().astype(np.float32)) for k, v in w.items()}


def reference_inputs(f0_range, ld_range, frames=120):
    """A phrase across the trained range: a rising line with vibrato through a swell, then silence."""
    i = np.arange(frames, dtype=np.float64)
    lo, hi = np.log2(f0_range[0]), np.log2(f0_range[1])
    f0 = 2 ** (lo + (hi - lo) * (0.1 + 0.8 * i / frames)) * 2 ** (0.3 / 12 * np.sin(2 * np.pi * i / 45))
    swell = np.sin(np.pi * np.clip(i / (0.8 * frames), 0, 1))
    ld = ld_range[0] + (ld_range[1] - ld_range[0]) * swell
    ld[int(0.85 * frames):] = -120.0
    return f0.astype(np.float32), ld.astype(np.float32)


def run_decoder(decoder, f0, ld):
    """Frame by frame with the state carried (as the runtime streams it)."""
    rows = {k: [] for k in OUTPUTS}
    state = None
    with torch.no_grad():
        for a, b in zip(f0, ld):
            out, state = decoder(torch.tensor([[a]]), torch.tensor([[b]]), state)
            for k in OUTPUTS:
                rows[k].append(out[k].reshape(-1).numpy())
    return {k: np.stack(v) for k, v in rows.items()}


def write_csv(path, columns):
    """columns: (name, [frames, n]) -> header NAME[0]..NAME[n-1]; values with full float32 precision."""
    header = [f"{name}[{j}]" for name, a in columns for j in range(a.shape[1])]
    data = np.concatenate([a for _, a in columns], 1)
    lines = [",".join(header)] + [",".join(np.format_float_positional(v, unique=True) for v in row) for row in data]
    Path(path).write_text("\n".join(lines) + "\n")


def export(run_dir, output, name, instrument="", licence="CC-BY-4.0", description="", reference_dir=None,
           source=None):
    """A run's model as ONNX (FORMAT.md) with its reference outputs. A model conditioned on its sources
    plays one of them, `source` (required then): its offsets are folded into the biases."""
    import onnx
    run_dir, output = Path(run_dir), Path(output)
    cfg = json.loads((run_dir / "config.json").read_text())
    config = ModelConfig(**cfg["model"])
    model = DDSP(config)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    model.load_state_dict(state["model"])
    if config.sources and source is None:
        raise SystemExit(f"{run_dir}: the model was trained on several sources; say which one it plays "
                         f"(--source {' or '.join(config.sources)})")
    if source is not None and source not in config.sources:
        raise SystemExit(f"{run_dir}: no source {source!r} (the model knows "
                         f"{', '.join(config.sources) or 'none: it was not conditioned on its source'})")
    decoder = (model.decoder.baked(source) if config.sources else model.decoder).eval()
    f0_range = [round(v, 1) for v in cfg["f0_range_hz"]]
    ld_range = [round(v, 1) for v in cfg["loudness_range_db"]]
    meta = meta_for(name, instrument, licence, description, config.n_harmonics, config.n_noise_bands,
                    f0_range, ld_range, sr=SAMPLE_RATE, fps=FRAME_RATE)
    meta.update({"ddsp.training_steps": state["step"], "ddsp.training_seconds": round(state["elapsed_s"]),
                 "ddsp.trainer": "training/ (python -m training)"})
    if config.sources:
        meta.update({"ddsp.source": source, "ddsp.sources": ",".join(config.sources)})
    graph = build_graph(onnx_weights(decoder), meta, config.n_harmonics, config.n_noise_bands)
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(graph, output)

    f0, ld = reference_inputs(f0_range, ld_range)
    ref = run_decoder(decoder, f0, ld)
    worst = check_onnxruntime(output, f0, ld, ref, config.gru_units)
    reference_dir = Path(reference_dir) if reference_dir else output.parent
    stem = output.stem
    write_csv(reference_dir / f"{stem}.in.csv", [("f0_hz", f0[:, None]), ("loudness_db", ld[:, None])])
    write_csv(reference_dir / f"{stem}.out.csv", [(k, ref[k]) for k in OUTPUTS])
    return {"path": str(output), "bytes": output.stat().st_size, "onnxruntime_max_abs_diff": worst,
            "steps": state["step"], "seconds": state["elapsed_s"]}


def check_onnxruntime(path, f0, ld, ref, hidden):
    """onnxruntime on the exported graph vs the PyTorch decoder (max abs difference); skipped without it."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    state = np.zeros((1, hidden), np.float32)
    worst = 0.0
    for i, (a, b) in enumerate(zip(f0, ld)):
        out = sess.run(list(OUTPUTS) + ["state_out"], {"f0_hz": [[a]], "loudness_db": [[b]], "state_in": state})
        state = out[-1]
        worst = max(worst, max(float(np.abs(o.reshape(-1) - ref[k][i]).max()) for o, k in zip(out, OUTPUTS)))
    if worst > 1e-4:
        raise SystemExit(f"{path}: onnxruntime differs from the trained decoder by {worst:.2e} (> 1e-4)")
    return worst
