"""Quantised DDSP-VST exports of the genuine fixture, made by TensorFlow's own converter.

DDSP-VST's exporter (`ddsp_export --tflite`) converts a SavedModel of DDSP's RnnFcDecoder with
`tf.lite.TFLiteConverter.from_saved_model`; the model repositories that follow its recipe add
`optimizations = [tf.lite.Optimize.DEFAULT]` (dynamic-range quantisation: int8 weights with scales,
float activations). This script rebuilds that network in TensorFlow with the genuine fixture's
weights (read from `model_a.tflite`: Keras Dense + LayerNormalization + leaky ReLU stacks, a Keras
GRU with `reset_after`, DDSP's exp-sigmoid heads and above-Nyquist mask, every constant taken from
the file), saves it as a SavedModel with DDSP-VST's `call(f0_scaled, pw_scaled, state)` signature,
and converts it four ways:

- float, to prove the rebuild: the interpreter must reproduce `model_a_ref.bin` within 1e-5;
- `model_a_dynamic.tflite`: `Optimize.DEFAULT` (dynamic range);
- `model_a_f16.tflite`: `Optimize.DEFAULT` with `supported_types = [tf.float16]` (half-float
  weights behind DEQUANTIZE ops);
- `model_a_int8.tflite`: `Optimize.DEFAULT` with a representative dataset (full-integer
  quantisation: int8 activations with zero points where TFLite has int8 kernels, float I/O).

Each quantised file gets DDSP-VST's metadata ZIP appended and a reference file of the TensorFlow
Lite interpreter's outputs on the same 200 frames as `model_a_ref.bin` (same layout).

    bash scripts/setup_tflite_fixtures.sh 2.20.0 && .venv-tf/bin/python scripts/make_quantised_tflite.py dynamic
    bash scripts/setup_tflite_fixtures.sh 2.13.1 && .venv-tf/bin/python scripts/make_quantised_tflite.py int8
    bash scripts/setup_tflite_fixtures.sh 2.15.1 && .venv-tf/bin/python scripts/make_quantised_tflite.py f16

The committed files were made so: TF 2.20.0 writes dynamic-range FULLY_CONNECTED weights with a
scale per output channel (2.13.1 and 2.15.1 with one per tensor); full-integer conversion needs
2.13.1, since later calibrators segfault on a WHILE loop (tensorflow/tensorflow#75140). The float
rebuild reproduces the genuine file's reference outputs within 1.4e-6 with 2.20.0 and exactly
with 2.13.1 and 2.15.1 (the version that made the genuine fixture).
"""

import json
import os
import sys
import tempfile
import zipfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from tensorflow.lite.python import schema_py_generated as fb  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "dsp-core", "tests", "data", "ddsp-vst")
SOURCE = os.path.join(DATA, "model_a.tflite")
FRAMES = 200


class Flatbuffer:
    """The genuine export's ops and constants."""

    def __init__(self, path):
        buf = open(path, "rb").read()
        self.model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(buf, 0))
        names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
        self.op_names = [names[max(c.deprecatedBuiltinCode, c.builtinCode)] for c in self.model.operatorCodes]

    def ops(self, sg):
        return [(self.op_names[o.opcodeIndex], o) for o in self.model.subgraphs[sg].operators]

    def const(self, sg, t):
        tensor = self.model.subgraphs[sg].tensors[t]
        data = self.model.buffers[tensor.buffer].data
        if data is None:
            return None
        dtype = {0: np.float32, 2: np.int32}[tensor.type]
        return np.frombuffer(bytes(data), dtype).reshape(tensor.shape)

    def name(self, sg, t):
        return self.model.subgraphs[sg].tensors[t].name.decode()


def read_decoder(f):
    """Layers of the main graph in op order: each FULLY_CONNECTED with the layer norm and leaky
    ReLU after it (none for the head), plus the GRU's two kernels from the WHILE body."""
    ops = f.ops(0)
    layers, current = [], None
    for name, o in ops:
        if name == "FULLY_CONNECTED":
            current = {
                "w": f.const(0, o.inputs[1]),
                "b": f.const(0, o.inputs[2]),
                "input": o.inputs[0],
                "output": o.outputs[0],
            }
            layers.append(current)
        elif current is not None and name in ("MUL", "ADD"):
            for t in o.inputs:
                v = f.const(0, t)
                if v is not None and v.shape == current["b"].shape:
                    current["gamma" if name == "MUL" and "gamma" not in current else "beta"] = v
                elif v is not None and v.ndim == 0 and name == "ADD" and "epsilon" not in current:
                    current["epsilon"] = float(v)
        elif current is not None and name == "LEAKY_RELU":
            current["alpha"] = o.builtinOptions.alpha
            current["output"] = o.outputs[0]
            current = None
    body = [o for name, o in f.ops(2) if name == "FULLY_CONNECTED"]
    # Body op order: the recurrent kernel (reads the state, slot 3) then the input kernel.
    recurrent, kernel = body
    gru = {
        "kernel": f.const(2, kernel.inputs[1]).T,
        "recurrent": f.const(2, recurrent.inputs[1]).T,
        "bias": np.stack([f.const(2, kernel.inputs[2]), f.const(2, recurrent.inputs[2])]),
    }
    return layers, gru


def build_module(f):
    layers, gru_weights = read_decoder(f)
    main_inputs = f.model.subgraphs[0].inputs
    by_name = {f.name(0, t): t for t in main_inputs}
    pw_in = next(t for n, t in by_name.items() if "pw_scaled" in n)
    f0_in = next(t for n, t in by_name.items() if "f0_scaled" in n)
    # The stacks: the layer reading each input, then each layer reading the previous one's output.
    def chain(first_input):
        stack, want = [], first_input
        while True:
            nxt = [layer for layer in layers if layer["input"] == want or (stack and layer["input"] == want)]
            if not nxt:
                return stack
            stack.append(nxt[0])
            want = nxt[0]["output"]
            if "alpha" not in nxt[0]:
                return stack

    pw_stack, f0_stack = chain(pw_in), chain(f0_in)
    used = {id(layer) for layer in pw_stack + f0_stack}
    rest = [layer for layer in layers if id(layer) not in used]
    out_stack, head = rest[:-1], rest[-1]
    n_hidden = gru_weights["recurrent"].shape[0]

    c = lambda t: tf.constant(f.const(0, t))  # noqa: E731
    (log10, two, threshold, noise_bias, zero, f0_scale, midi_a4, per_semitone, a4_hz, harmonic_numbers,
     nyquist, zeros) = [c(t) for t in (27, 32, 37, 35, 38, 34, 29, 24, 33, 25, 39, 28)]
    # Sanity: these are DDSP's exp_sigmoid and harmonic-mask constants.
    assert abs(float(log10) - np.log(10)) < 1e-6 and float(two) == 2.0 and float(noise_bias) == -5.0

    def constant_stack(stack):
        return [
            {k: tf.constant(layer[k]) for k in ("w", "b", "gamma", "beta")} | {"epsilon": layer["epsilon"], "alpha": layer["alpha"]}
            for layer in stack
        ]

    def dense(layer, x):
        """A dense layer as Keras 2's Dense reaches the converter: one FULLY_CONNECTED (the weights
        are stored [out, in] in the file, [in, out] for matmul)."""
        width = x.shape[-1]
        y = tf.matmul(tf.reshape(x, [-1, width]), tf.transpose(layer["w"])) + layer["b"]
        return tf.reshape(y, [1, 1, -1])

    def fc(layer, x):
        """Dense → layer norm (Keras 2's op order: normalise, then γ and β) → leaky ReLU."""
        x = dense(layer, x)
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
        inv = tf.math.rsqrt(variance + layer["epsilon"])
        x = x * inv + (-mean * inv)
        return tf.nn.leaky_relu(x * layer["gamma"] + layer["beta"], layer["alpha"])

    class Decoder(tf.Module):
        def __init__(self):
            super().__init__()
            self.pw_stack = constant_stack(pw_stack)
            self.f0_stack = constant_stack(f0_stack)
            self.out_stack = constant_stack(out_stack)
            self.head = {"w": tf.constant(head["w"]), "b": tf.constant(head["b"])}
            # The GRU step as Keras' GRU (reset_after, gates z, r, h) computes it, inside a
            # one-step tf.while_loop as Keras' RNN runs it, with its weights as constants (the
            # converter keeps a loop body's variables as variables, which the interpreter cannot run).
            self.kernel = tf.constant(gru_weights["kernel"])
            self.recurrent = tf.constant(gru_weights["recurrent"])
            self.input_bias = tf.constant(gru_weights["bias"][0])
            self.recurrent_bias = tf.constant(gru_weights["bias"][1])

        def gru(self, x, h0):
            def step(t, h, _):
                gates_x = tf.matmul(tf.gather(x, t, axis=1), self.kernel) + self.input_bias
                gates_h = tf.matmul(h, self.recurrent) + self.recurrent_bias
                xz, xr, xh = tf.split(gates_x, 3, axis=-1)
                hz, hr, hh = tf.split(gates_h, 3, axis=-1)
                z, r = tf.sigmoid(xz + hz), tf.sigmoid(xr + hr)
                h = z * h + (1.0 - z) * tf.tanh(xh + r * hh)
                return t + 1, h, tf.reshape(h, [1, 1, n_hidden])

            seq = tf.zeros([1, 1, n_hidden])
            _, h, seq = tf.while_loop(lambda t, h, s: t < 1, step, [tf.constant(0), h0, seq])
            return seq, h

        @staticmethod
        def run(stack, x):
            for layer in stack:
                x = fc(layer, x)
            return x

        @tf.function(
            input_signature=[
                tf.TensorSpec([1], tf.float32, name="f0_scaled"),
                tf.TensorSpec([1], tf.float32, name="pw_scaled"),
                tf.TensorSpec([n_hidden], tf.float32, name="state"),
            ]
        )
        def call(self, f0_scaled, pw_scaled, state):
            pw = self.run(self.pw_stack, tf.reshape(pw_scaled, [1, 1, 1]))
            f0 = self.run(self.f0_stack, tf.reshape(f0_scaled, [1, 1, 1]))
            x = tf.concat([pw, f0], axis=-1)
            rnn_out, new_state = self.gru(x, tf.reshape(state, [1, n_hidden]))
            x = self.run(self.out_stack, tf.concat([pw, f0, rnn_out], axis=-1))
            logits = dense(self.head, x)
            n_harm = int(harmonic_numbers.shape[-1])
            amp, harm, noise = tf.split(logits, [1, n_harm, logits.shape[-1] - 1 - n_harm], axis=-1)

            def exp_sigmoid(v):
                return two * tf.pow(tf.sigmoid(v), log10) + threshold

            amp, harm, noise = exp_sigmoid(amp), exp_sigmoid(harm), exp_sigmoid(noise + noise_bias)
            f0_hz = a4_hz * tf.pow(two, tf.reshape((f0_scaled * f0_scale - midi_a4) * per_semitone, [1, 1, 1]))
            harm = tf.where(f0_hz * harmonic_numbers >= nyquist, zeros, harm)
            total = tf.reduce_sum(harm, axis=-1, keepdims=True)
            harm = harm / tf.where(tf.equal(total, zero), threshold, total)
            return {
                "output_0": tf.reshape(amp, [1]),
                "output_1": tf.reshape(harm, [n_harm]),
                "output_2": tf.reshape(noise, [-1]),
                "output_3": tf.reshape(new_state, [n_hidden]),
            }

    return Decoder()


def reference_inputs():
    """`model_a_ref.bin`'s inputs: f0 ramping MIDI 48 → 84, power 0.5 − 0.5·cos(2πi/100)."""
    ref = np.fromfile(os.path.join(DATA, "model_a_ref.bin"), np.float32)
    return ref[:FRAMES], ref[FRAMES : 2 * FRAMES], ref


def run_interpreter(path, f0, pw, n_hidden):
    interpreter = tf.lite.Interpreter(model_path=path, num_threads=1)
    runner = interpreter.get_signature_runner("call")
    state = np.zeros(n_hidden, np.float32)
    rows = {k: [] for k in ("f0", "pw", "state_in", "amp", "harm", "noise", "state_out")}
    for i in range(FRAMES):
        out = runner(f0_scaled=f0[i : i + 1], pw_scaled=pw[i : i + 1], state=state)
        rows["f0"].append(f0[i : i + 1])
        rows["pw"].append(pw[i : i + 1])
        rows["state_in"].append(state)
        rows["amp"].append(out["output_0"])
        rows["harm"].append(out["output_1"])
        rows["noise"].append(out["output_2"])
        rows["state_out"].append(out["output_3"])
        state = out["output_3"].astype(np.float32)
    return {k: np.stack(v).astype(np.float32) for k, v in rows.items()}


def append_metadata(path):
    """DDSP-VST's metadata ZIP, appended to the flatbuffer as its exporter does."""
    metadata = open(os.path.join(DATA, "model_a.metadata.json"), "rb").read()
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("metadata.json", metadata)


def export_onnx(saved, f0, pw, got, n_hidden):
    """The same network through tf2onnx (the TFLite file itself does not convert: tf2onnx refuses
    FULLY_CONNECTED with keep_num_dims), for ONNX Runtime's column of the README's table
    (`scripts/bench/onnxruntime_per_frame.py`). Needs `pip install tf2onnx==1.16.1 onnxruntime`."""
    import subprocess
    import onnxruntime as ort
    out = os.path.join(HERE, "..", "target", "bench", "model_a.onnx")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", saved, "--signature_def", "call",
                    "--opset", "17", "--output", out], check=True)
    sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    state = got["state_in"][0]
    worst = 0.0
    for i in range(FRAMES):
        result = dict(zip(names, sess.run(None, {"f0_scaled": f0[i : i + 1], "pw_scaled": pw[i : i + 1], "state": state})))
        for j, key in enumerate(("amp", "harm", "noise", "state_out")):
            value = result[f"output_{j}"]
            worst = max(worst, float(np.abs(value.reshape(got[key][i].shape) - got[key][i]).max()))
        state = got["state_out"][i]
    print(f"{out}: outputs {names}; ONNX Runtime vs the TFLite interpreter over {FRAMES} frames: max |diff| {worst:.2e}")


def main():
    source = Flatbuffer(SOURCE)
    module = build_module(source)
    f0, pw, ref = reference_inputs()
    n_hidden = int(module.recurrent.shape[0])
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "saved")
        tf.saved_model.save(module, saved, signatures={"call": module.call})

        def convert(name, configure):
            converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=["call"])
            # Weights as constants (the converter would otherwise keep the GRU's as variables).
            converter.experimental_enable_resource_variables = False
            configure(converter)
            path = os.path.join(tmp if name is None else DATA, name or "float.tflite")
            open(path, "wb").write(converter.convert())
            return path

        # 1. The rebuild, in float, against the genuine file's reference outputs.
        float_path = convert(None, lambda c: None)
        got = run_interpreter(float_path, f0, pw, n_hidden)
        layout = json.load(open(os.path.join(DATA, "model_a_ref.json")))
        worst = 0.0
        for key, name in (("amp", "amplitude"), ("harm", "harmonics"), ("noise", "noise_amps"), ("state_out", "state_out")):
            entry = next(a for a in layout["arrays"] if a["name"] == name)
            count = int(np.prod(entry["shape"]))
            want = ref[entry["offset_bytes"] // 4 : entry["offset_bytes"] // 4 + count].reshape(entry["shape"])
            worst = max(worst, float(np.abs(got[key] - want).max()))
        print(f"rebuilt float export vs model_a_ref.bin: max |diff| {worst:.2e}")
        if worst > 1e-5:
            sys.exit("the rebuild does not reproduce the genuine export")

        # 2. Dynamic range: what Optimize.DEFAULT alone gives.
        def dynamic(c):
            c.optimizations = [tf.lite.Optimize.DEFAULT]

        # 3. float16: weights stored as half floats behind DEQUANTIZE ops (the converter's other
        # size option, 7.5 MB -> 3.8 MB).
        def float16(c):
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.target_spec.supported_types = [tf.float16]

        # 4. Full integer: calibrated on the reference phrase and a wider sweep.
        def representative():
            for i in range(FRAMES):
                yield {"f0_scaled": f0[i : i + 1], "pw_scaled": pw[i : i + 1], "state": got["state_in"][i]}

        def full_integer(c):
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.representative_dataset = representative
            c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]

        which = sys.argv[1] if len(sys.argv) > 1 else "all"
        if which == "onnx":
            return export_onnx(saved, f0, pw, got, n_hidden)
        files = (("model_a_dynamic.tflite", dynamic), ("model_a_f16.tflite", float16), ("model_a_int8.tflite", full_integer))
        for name, configure in files:
            if which not in ("all", name.split("_")[-1].split(".")[0]):
                continue
            path = convert(name, configure)
            out = run_interpreter(path, f0, pw, n_hidden)
            append_metadata(path)
            blob = np.concatenate([out[k].ravel() for k in ("f0", "pw", "state_in", "amp", "harm", "noise", "state_out")])
            assert blob.nbytes == 921600
            blob.astype("<f4").tofile(path.replace(".tflite", "_ref.bin"))
            print(
                f"{name}: {os.path.getsize(path)} bytes; interpreter vs the f32 export: amplitude "
                f"{np.abs(out['amp'] - got['amp']).max():.2e}, harmonics {np.abs(out['harm'] - got['harm']).max():.2e}, "
                f"noise {np.abs(out['noise'] - got['noise']).max():.2e}"
            )


if __name__ == "__main__":
    main()
