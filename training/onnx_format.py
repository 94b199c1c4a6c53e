"""The `models/FORMAT.md` ONNX graph (`ddsp-rnn-fc/1`) written with `onnx.helper` from a dict of
named weights: the one writer shared by the trainer's export and `scripts/make_reference_models.py`.
Needs numpy and onnx only.
"""
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EPSILON = 1e-3  # Keras LayerNormalization default, as in DDSP
ALPHA = 0.2  # tf.nn.leaky_relu default, as in DDSP
NOISE_BIAS = -5.0
LN10 = math.log(10.0)


def n_layers_of(w, prefix):
    return len([k for k in w if k.startswith(prefix + ".") and k.endswith(".dense.weight")])


class GraphBuilder:
    """ONNX nodes and constant initializers with generated names."""

    def __init__(self):
        self.nodes, self.inits = [], []

    def const(self, value):
        name = f"const_{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind, inputs, output=None, **attrs):
        output = output or f"{kind.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(kind, inputs, [output], **attrs))
        return output


def build_graph(w, meta, K, M):
    H = w["gru.R"].shape[2]
    g = GraphBuilder()
    nodes, inits, const, op = g.nodes, g.inits, g.const, g.op

    # DDSP input scaling: f0 -> MIDI / 127, loudness -> dB / 80 + 1.
    f = op("Max", ["f0_hz", const(np.float32(1e-3))])
    f = op("Div", [f, const(np.float32(440.0))])
    f = op("Log", [f])
    f = op("Mul", [f, const(np.float32(12.0 / math.log(2.0)))])
    f = op("Add", [f, const(np.float32(69.0))])
    f = op("Max", [f, const(np.float32(0.0))])
    f = op("Div", [f, const(np.float32(127.0))])
    l = op("Div", ["loudness_db", const(np.float32(80.0))])
    l = op("Add", [l, const(np.float32(1.0))])

    def stack(prefix, x):
        for i in range(n_layers_of(w, prefix)):
            p = f"{prefix}.{i}"
            x = op("MatMul", [x, f"{p}.dense.weight"])
            x = op("Add", [x, f"{p}.dense.bias"])
            x = op("LayerNormalization", [x, f"{p}.norm.scale", f"{p}.norm.bias"], axis=-1, epsilon=EPSILON)
            x = op("LeakyRelu", [x], alpha=ALPHA)
        return x

    f = stack("f0_stack", f)
    l = stack("ld_stack", l)
    x = op("Concat", [f, l], axis=-1)
    x = op("Reshape", [x, const(np.array([1, 1, -1], np.int64))])
    h0 = op("Reshape", ["state_in", const(np.array([1, 1, H], np.int64))])
    nodes.append(helper.make_node("GRU", [x, "gru.W", "gru.R", "gru.B", "", h0], ["gru_y", "gru_y_h"],
                                  hidden_size=H, linear_before_reset=1))
    h = op("Reshape", ["gru_y_h", const(np.array([1, H], np.int64))], output="state_out")
    x = op("Concat", [f, l, h], axis=-1)
    x = stack("out_stack", x)
    x = op("MatMul", [x, "head.weight"])
    x = op("Add", [x, "head.bias"])
    a_l, h_l, n_l = "amp_logit", "harm_logit", "noise_logit"
    nodes.append(helper.make_node("Split", [x, const(np.array([1, K, M], np.int64))], [a_l, h_l, n_l], axis=1))
    n_l = op("Add", [n_l, const(np.float32(NOISE_BIAS))])

    def exp_sig(x, output):
        s = op("Sigmoid", [x])
        p = op("Pow", [s, const(np.float32(LN10))])
        p = op("Mul", [p, const(np.float32(2.0))])
        return op("Add", [p, const(np.float32(1e-7))], output=output)

    exp_sig(a_l, "amplitude")
    exp_sig(h_l, "harmonic_distribution")
    exp_sig(n_l, "noise_magnitudes")

    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "ddsp_rnn_fc_decoder",
        [helper.make_tensor_value_info("f0_hz", f32, [1, 1]),
         helper.make_tensor_value_info("loudness_db", f32, [1, 1]),
         helper.make_tensor_value_info("state_in", f32, [1, H])],
        [helper.make_tensor_value_info("amplitude", f32, [1, 1]),
         helper.make_tensor_value_info("harmonic_distribution", f32, [1, K]),
         helper.make_tensor_value_info("noise_magnitudes", f32, [1, M]),
         helper.make_tensor_value_info("state_out", f32, [1, H])],
        initializer=[numpy_helper.from_array(v, k) for k, v in w.items()] + inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ddsp-instrument")
    model.ir_version = 8
    helper.set_model_props(model, {k: str(v) for k, v in meta.items()})
    onnx.checker.check_model(model)
    return model


def meta_for(name, instrument, licence, description, K, M, f0_range, ld_range, sr=48000, fps=250):
    return {
        "ddsp.format": "ddsp-rnn-fc/1", "ddsp.name": name, "ddsp.instrument": instrument,
        "ddsp.licence": licence, "ddsp.description": description,
        "ddsp.sample_rate_hz": sr, "ddsp.frame_rate_hz": fps, "ddsp.n_harmonics": K, "ddsp.n_noise_bands": M,
        "ddsp.f0_min_hz": f0_range[0], "ddsp.f0_max_hz": f0_range[1],
        "ddsp.loudness_min_db": ld_range[0], "ddsp.loudness_max_db": ld_range[1],
    }
