//! ONNX models per `models/FORMAT.md`: weights into native kernels, tract as the graph's reference.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::decoder::{DecoderWeights, FcLayer, FrameControls, NOISE_LOGIT_BIAS};
use super::kernels::{int8_scale, int8_value, Dense, Gru, LayerNorm};
use super::{
    guarded, windowed, within_deadline, Model, ModelError, ModelFormat, ModelMeta, ModelSource, NativeIo, TensorSpec,
    VERIFY_TOLERANCE,
};

/// Tensor names of the contract (`models/FORMAT.md`).
pub mod names {
    pub const F0_HZ: &str = "f0_hz";
    pub const LOUDNESS_DB: &str = "loudness_db";
    pub const STATE_IN: &str = "state_in";
    pub const AMPLITUDE: &str = "amplitude";
    pub const HARMONIC_DISTRIBUTION: &str = "harmonic_distribution";
    pub const NOISE_MAGNITUDES: &str = "noise_magnitudes";
    pub const STATE_OUT: &str = "state_out";
    pub const INPUTS: [&str; 3] = [F0_HZ, LOUDNESS_DB, STATE_IN];
    pub const OUTPUTS: [&str; 4] = [AMPLITUDE, HARMONIC_DISTRIBUTION, NOISE_MAGNITUDES, STATE_OUT];
}

/// The native interface of a `models/FORMAT.md` model with `n_hidden` state units.
pub fn native_io(meta: &ModelMeta, n_hidden: usize) -> NativeIo {
    NativeIo {
        format: ModelFormat::OnnxStateful,
        inputs: vec![TensorSpec::new(names::F0_HZ, &[1]), TensorSpec::new(names::LOUDNESS_DB, &[1])],
        outputs: vec![
            TensorSpec::new(names::AMPLITUDE, &[1]),
            TensorSpec::new(names::HARMONIC_DISTRIBUTION, &[meta.n_harmonics]),
            TensorSpec::new(names::NOISE_MAGNITUDES, &[meta.n_noise_bands]),
        ],
        state: vec![TensorSpec::new(names::STATE_IN, &[n_hidden]), TensorSpec::new(names::STATE_OUT, &[n_hidden])],
    }
}

/// Values of an initializer: f32, or integers with whether they are int8.
enum Raw {
    F32(Vec<f32>),
    Int(Vec<i32>, bool),
}

/// Frames of the probe sequence run through both tract and the native kernels at load.
const VERIFY_FRAMES: usize = 12;

fn parse_proto(bytes: &[u8]) -> Result<pb::ModelProto, ModelError> {
    let mut reader = bytes;
    onnx().proto_model_for_read(&mut reader).map_err(|e| ModelError::NotOnnx(format!("{e:#}")))
}

/// Reads, validates and (if `verify`) cross-checks a model against tract. Allocates.
pub fn load(bytes: &[u8], source: ModelSource, verify: bool) -> Result<Model, ModelError> {
    let proto = parse_proto(bytes)?;
    let graph = proto.graph.as_ref().ok_or_else(|| ModelError::NotOnnx("the file has no graph".into()))?;
    if windowed::is_windowed(graph) {
        let (meta, graph) = windowed::load(bytes, &proto)?;
        return Ok(Model::from_windowed(meta, graph, source));
    }
    let meta = ModelMeta::from_pairs(proto.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str())))?;

    for name in names::INPUTS {
        if !graph.input.iter().any(|i| i.name == name) {
            return Err(ModelError::MissingTensor { name: format!("graph input {name}") });
        }
    }
    for name in names::OUTPUTS {
        if !graph.output.iter().any(|o| o.name == name) {
            return Err(ModelError::MissingTensor { name: format!("graph output {name}") });
        }
    }
    for output in &graph.output {
        if !graph.node.iter().any(|n| n.output.contains(&output.name)) {
            return Err(ModelError::MissingTensor { name: format!("node computing graph output {}", output.name) });
        }
    }

    let decoder = Weights::new(graph).decoder(&meta)?;
    let model = Model::from_parts(meta, decoder, source);
    if verify {
        // int8 weights are checked by their exact values: the integer kernels that play them are
        // held to those values by their own tests (`kernels.rs`).
        let (mut checked, bytes) = (model.clone(), bytes.to_vec());
        checked.to_f32();
        within_deadline("checking the graph", move || verify_against_tract(&checked, &bytes))?;
    }
    Ok(model)
}

/// A weight matrix as the file stores it.
enum Matrix {
    /// Real values (an f32 initializer, or a dequantised one that has no int8 form here).
    F32(Vec<f32>),
    /// Symmetric int8 values, row-major in the file's shape, with one scale per entry of axis 1
    /// (the output axis of both `[in, out]` and `[1, 3H, in]`).
    Int8 { q: Vec<i8>, scales: Vec<f32> },
}

/// The graph's weights by name: f32 initializers, or int8 ones behind a `DequantizeLinear` node
/// (`ddsp quantize`, `models/FORMAT.md`).
struct Weights<'g> {
    graph: &'g pb::GraphProto,
    by_name: HashMap<&'g str, &'g pb::TensorProto>,
    dequantized: HashMap<&'g str, &'g pb::NodeProto>,
}

impl<'g> Weights<'g> {
    fn new(graph: &'g pb::GraphProto) -> Self {
        let dequantized = graph
            .node
            .iter()
            .filter(|n| n.op_type == "DequantizeLinear")
            .filter_map(|n| Some((n.output.first()?.as_str(), n)))
            .collect();
        Self { graph, by_name: graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect(), dequantized }
    }

    fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name) || self.dequantized.contains_key(name)
    }

    /// The tensor's shape and real values; its shape must be `expected` (`usize::MAX` entries match
    /// anything).
    fn get(&self, name: &str, expected: &[usize]) -> Result<(Vec<usize>, Vec<f32>), ModelError> {
        let (shape, matrix) = self.matrix(name, expected)?;
        match matrix {
            Matrix::F32(values) => Ok((shape, values)),
            Matrix::Int8 { q, scales } => {
                let inner: usize = shape[2.min(shape.len())..].iter().product();
                let values = q.iter().enumerate().map(|(k, &v)| f32::from(v) * scales[(k / inner) % scales.len()]);
                Ok((shape, values.collect()))
            }
        }
    }

    /// The tensor as stored: f32, or int8 with a scale per entry of axis 1 where it is quantised so.
    fn matrix(&self, name: &str, expected: &[usize]) -> Result<(Vec<usize>, Matrix), ModelError> {
        let (shape, matrix) = match self.dequantized.get(name) {
            Some(node) => self.dequantize(name, node)?,
            None => {
                let t = self.by_name.get(name).ok_or_else(|| ModelError::MissingTensor { name: name.to_owned() })?;
                let (shape, values) = self.raw(t)?;
                let values = match values {
                    Raw::F32(v) => v,
                    _ => {
                        return Err(ModelError::Unsupported(format!(
                            "tensor '{name}' is not float32 (type {})",
                            t.data_type
                        )))
                    }
                };
                (shape, Matrix::F32(values))
            }
        };
        let fits = shape.len() == expected.len() && shape.iter().zip(expected).all(|(a, e)| *e == usize::MAX || a == e);
        if !fits {
            return Err(ModelError::ShapeMismatch {
                name: name.to_owned(),
                expected: expected.to_vec(),
                actual: shape,
            });
        }
        Ok((shape, matrix))
    }

    /// `DequantizeLinear(x, scale, zero_point, axis)` of initializers: int8 weights with one scale
    /// per output (axis 1, zero points 0) stay int8; anything else is read as the real values it
    /// stands for, `(x − zero_point) · scale`.
    fn dequantize(&self, name: &str, node: &pb::NodeProto) -> Result<(Vec<usize>, Matrix), ModelError> {
        let scheme = "DequantizeLinear";
        let problem =
            |problem: String| ModelError::Quantisation { tensor: name.to_owned(), scheme: scheme.to_owned(), problem };
        let input = |k: usize| -> Result<Option<&pb::TensorProto>, ModelError> {
            match node.input.get(k).filter(|n| !n.is_empty()) {
                None => Ok(None),
                Some(n) => self
                    .by_name
                    .get(n.as_str())
                    .copied()
                    .map(Some)
                    .ok_or_else(|| problem(format!("input '{n}' is not a constant of the file"))),
            }
        };
        let int_attr =
            |attr: &str, default: i64| node.attribute.iter().find(|a| a.name == attr).map_or(default, |a| a.i);
        if int_attr("block_size", 0) != 0 {
            return Err(problem("blocked quantisation is not supported".into()));
        }
        let data = input(0)?.ok_or_else(|| problem("it has no data".into()))?;
        let (shape, raw) = self.raw(data)?;
        let (x, is_int8) = match raw {
            Raw::Int(v, is_int8) => (v, is_int8),
            Raw::F32(_) => return Err(problem(format!("its data is not an integer tensor (type {})", data.data_type))),
        };
        let bad_scale = || problem("a scale is missing, zero, negative or not finite".into());
        let scales = match self.raw(input(1)?.ok_or_else(|| problem("it has no scale".into()))?) {
            Ok((_, Raw::F32(v))) => v,
            Err(ModelError::NonFinite { .. }) => return Err(bad_scale()),
            Err(e) => return Err(e),
            Ok(_) => return Err(problem("its scale is not float32".into())),
        };
        if scales.is_empty() || !scales.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(bad_scale());
        }
        let zero_points = match input(2)? {
            Some(t) => match self.raw(t)? {
                (_, Raw::Int(v, _)) => v,
                _ => return Err(problem("its zero point is not an integer tensor".into())),
            },
            None => vec![0; scales.len()],
        };
        if zero_points.len() != scales.len() {
            return Err(problem(format!("{} zero points for {} scales", zero_points.len(), scales.len())));
        }
        let rank = shape.len() as i64;
        let axis = int_attr("axis", 1);
        let axis = if axis < 0 { axis + rank } else { axis };
        // Entry k of the data uses scale (k / inner) % len, inner being the product of the dims
        // after the axis (a single scale: every entry).
        let inner = if scales.len() > 1 {
            if !(0..rank).contains(&axis) || shape[axis as usize] != scales.len() {
                return Err(problem(format!("{} scales along axis {axis} of a {shape:?} tensor", scales.len())));
            }
            shape[axis as usize + 1..].iter().product::<usize>()
        } else {
            x.len().max(1)
        };
        let index = |k: usize| (k / inner) % scales.len();
        let symmetric = zero_points.iter().all(|&z| z == 0);
        let per_output = scales.len() == 1 || (axis == 1 && matches!(shape.len(), 2 | 3));
        if is_int8 && symmetric && per_output && matches!(shape.len(), 2 | 3) {
            let q = x.iter().map(|&v| v as i8).collect();
            let n_out = shape[1];
            let scales = if scales.len() == 1 { vec![scales[0]; n_out] } else { scales };
            return Ok((shape, Matrix::Int8 { q, scales }));
        }
        let values = x.iter().enumerate().map(|(k, &v)| (v - zero_points[index(k)]) as f32 * scales[index(k)]);
        Ok((shape, Matrix::F32(values.collect())))
    }

    /// An initializer's shape and values: f32, or integers (int8, uint8, int32) with whether int8.
    fn raw(&self, t: &pb::TensorProto) -> Result<(Vec<usize>, Raw), ModelError> {
        use pb::tensor_proto::DataType;
        let name = t.name.as_str();
        if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
            return Err(ModelError::Unsupported(format!("tensor '{name}' is stored in an external file")));
        }
        let shape: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
        let count: usize = shape.iter().product();
        let raw = t.raw_data.as_slice();
        let values = if t.data_type == DataType::Float as i32 {
            let v: Vec<f32> = if raw.is_empty() {
                t.float_data.clone()
            } else {
                raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            };
            if !v.iter().all(|v| v.is_finite()) {
                return Err(ModelError::NonFinite { name: name.to_owned() });
            }
            Raw::F32(v)
        } else if t.data_type == DataType::Int8 as i32 || t.data_type == DataType::Uint8 as i32 {
            let int8 = t.data_type == DataType::Int8 as i32;
            let v: Vec<i32> = if raw.is_empty() {
                t.int32_data.clone()
            } else if int8 {
                raw.iter().map(|&b| i32::from(b as i8)).collect()
            } else {
                raw.iter().map(|&b| i32::from(b)).collect()
            };
            Raw::Int(v, int8)
        } else if t.data_type == DataType::Int32 as i32 {
            let v: Vec<i32> = if raw.is_empty() {
                t.int32_data.clone()
            } else {
                raw.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            };
            Raw::Int(v, false)
        } else {
            return Err(ModelError::Quantisation {
                tensor: name.to_owned(),
                scheme: format!("ONNX type {}", t.data_type),
                problem: "only float32, int8, uint8 and int32 tensors are read".into(),
            });
        };
        let len = match &values {
            Raw::F32(v) => v.len(),
            Raw::Int(v, _) => v.len(),
        };
        if len != count {
            return Err(ModelError::ShapeMismatch { name: name.to_owned(), expected: vec![count], actual: vec![len] });
        }
        Ok((shape, values))
    }

    /// A `[n_in, n_out]` matrix (ONNX `MatMul` layout) with its bias as a native layer.
    /// `n_out` may be `usize::MAX` (as the weights say); the bias must have that many entries.
    fn dense_in_out(&self, name: &str, bias_name: &str, n_in: usize, n_out: usize) -> Result<Dense, ModelError> {
        let (shape, matrix) = self.matrix(name, &[n_in, n_out])?;
        let n_out = shape[1];
        let (_, bias) = self.get(bias_name, &[n_out])?;
        Ok(match matrix {
            Matrix::F32(w) => Dense::from_in_out(n_in, n_out, &w, &bias),
            Matrix::Int8 { q, scales } => {
                let q_out_in: Vec<i8> = (0..n_out * n_in).map(|k| q[(k % n_in) * n_out + k / n_in]).collect();
                Dense::from_int8_out_in(n_in, n_out, &q_out_in, &scales, &bias)
            }
        })
    }

    /// A `[1, n_out, n_in]` matrix (ONNX `GRU` layout) with its bias as a native layer.
    fn dense_out_in(&self, name: &str, n_in: usize, bias: &[f32]) -> Result<Dense, ModelError> {
        let n_out = bias.len();
        Ok(match self.matrix(name, &[1, n_out, n_in])?.1 {
            Matrix::F32(w) => Dense::from_out_in(n_in, n_out, &w, bias),
            Matrix::Int8 { q, scales } => Dense::from_int8_out_in(n_in, n_out, &q, &scales, bias),
        })
    }

    /// The one value an attribute has on every node of `op_type` (or `default` when unset).
    fn attribute(&self, op_type: &str, attr: &str, default: f32) -> Result<f32, ModelError> {
        let mut found: Option<f32> = None;
        for node in self.graph.node.iter().filter(|n| n.op_type == op_type) {
            let value = node.attribute.iter().find(|a| a.name == attr).map_or(default, |a| {
                if a.r#type == pb::attribute_proto::AttributeType::Int as i32 {
                    a.i as f32
                } else {
                    a.f
                }
            });
            match found {
                Some(v) if v != value => {
                    return Err(ModelError::Unsupported(format!(
                        "{op_type} nodes disagree on '{attr}' ({v} vs {value})"
                    )))
                }
                _ => found = Some(value),
            }
        }
        found.ok_or_else(|| ModelError::Unsupported(format!("the graph has no {op_type} node")))
    }

    /// `prefix.{i}.dense/norm` layers for i = 0.. while they exist, chained from `n_in`.
    fn stack(&self, prefix: &str, n_in: usize, epsilon: f32) -> Result<Vec<FcLayer>, ModelError> {
        let mut layers = Vec::new();
        let mut width = n_in;
        while self.has(&format!("{prefix}.{}.dense.weight", layers.len())) {
            let p = format!("{prefix}.{}", layers.len());
            let dense =
                self.dense_in_out(&format!("{p}.dense.weight"), &format!("{p}.dense.bias"), width, usize::MAX)?;
            let units = dense.n_out;
            let (_, scale) = self.get(&format!("{p}.norm.scale"), &[units])?;
            let (_, bias) = self.get(&format!("{p}.norm.bias"), &[units])?;
            layers.push(FcLayer { dense, norm: LayerNorm { scale, bias, epsilon } });
            width = units;
        }
        Ok(layers)
    }

    fn decoder(&self, meta: &ModelMeta) -> Result<DecoderWeights, ModelError> {
        let epsilon = self.attribute("LayerNormalization", "epsilon", 1e-5)?;
        // Features are normalised over their last axis (tract's solver can loop on others).
        let axis = self.attribute("LayerNormalization", "axis", -1.0)?;
        if axis != -1.0 && axis != 1.0 {
            return Err(ModelError::Unsupported(format!("LayerNormalization over axis {axis} (the contract: -1)")));
        }
        let leaky_relu_alpha = self.attribute("LeakyRelu", "alpha", 0.01)?;
        if self.attribute("GRU", "linear_before_reset", 0.0)? != 1.0 {
            return Err(ModelError::Unsupported("GRU must have linear_before_reset = 1".into()));
        }
        let f0_stack = self.stack("f0_stack", 1, epsilon)?;
        let loudness_stack = self.stack("ld_stack", 1, epsilon)?;
        let nf = f0_stack.last().map_or(1, |l| l.dense.n_out);
        let nl = loudness_stack.last().map_or(1, |l| l.dense.n_out);

        let (b_shape, b) = self.get("gru.B", &[1, usize::MAX])?;
        let hidden = b_shape[1] / 6;
        if b_shape[1] != 6 * hidden || hidden == 0 {
            return Err(ModelError::ShapeMismatch {
                name: "gru.B".into(),
                expected: vec![1, 6 * hidden],
                actual: b_shape,
            });
        }
        let gru = Gru {
            n_hidden: hidden,
            input: self.dense_out_in("gru.W", nf + nl, &b[..3 * hidden])?,
            recurrent: self.dense_out_in("gru.R", hidden, &b[3 * hidden..])?,
        };

        let out_stack = self.stack("out_stack", nf + nl + hidden, epsilon)?;
        let features = out_stack.last().map_or(nf + nl + hidden, |l| l.dense.n_out);
        let n_out = 1 + meta.n_harmonics + meta.n_noise_bands;
        Ok(DecoderWeights {
            f0_stack,
            loudness_stack,
            gru,
            out_stack,
            head: self.dense_in_out("head.weight", "head.bias", features, n_out)?,
            leaky_relu_alpha,
            n_harmonics: meta.n_harmonics,
            n_noise_bands: meta.n_noise_bands,
            loudness_first: false,
            noise_logit_bias: NOISE_LOGIT_BIAS,
        })
    }
}

/// One frame of outputs from tract: the controls and the new state.
#[derive(Clone, Debug)]
pub struct ReferenceFrame {
    pub controls: FrameControls,
    pub state: Vec<f32>,
}

/// The model's graph run by tract-onnx: the reference the native kernels are held to. Allocates on
/// every call; tests and load-time verification only.
pub struct TractReference {
    plan: Arc<TypedSimplePlan>,
    /// Position of f0, loudness and state among the plan's inputs.
    input_slots: [usize; 3],
    /// Position of amplitude, harmonics, noise and state among the plan's outputs.
    output_slots: [usize; 4],
    n_hidden: usize,
}

impl TractReference {
    pub fn new(bytes: &[u8], n_hidden: usize) -> Result<Self, ModelError> {
        guarded(|| Self::new_unguarded(bytes, n_hidden))
    }

    fn new_unguarded(bytes: &[u8], n_hidden: usize) -> Result<Self, ModelError> {
        let graph_err = |e: TractError| ModelError::Graph(format!("{e:#}"));
        let proto = parse_proto(bytes)?;
        let graph = proto.graph.as_ref().ok_or_else(|| ModelError::NotOnnx("the file has no graph".into()))?;
        let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let input_names: Vec<&str> =
            graph.input.iter().map(|i| i.name.as_str()).filter(|n| !initializers.contains(n)).collect();
        let output_names: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
        let slot = |list: &[&str], name: &str| {
            list.iter().position(|n| *n == name).ok_or(ModelError::MissingTensor { name: name.into() })
        };
        let input_slots = [
            slot(&input_names, names::F0_HZ)?,
            slot(&input_names, names::LOUDNESS_DB)?,
            slot(&input_names, names::STATE_IN)?,
        ];
        let output_slots = [
            slot(&output_names, names::AMPLITUDE)?,
            slot(&output_names, names::HARMONIC_DISTRIBUTION)?,
            slot(&output_names, names::NOISE_MAGNITUDES)?,
            slot(&output_names, names::STATE_OUT)?,
        ];

        let mut model = onnx().model_for_read(&mut &bytes[..]).map_err(graph_err)?;
        for (i, name) in input_names.iter().enumerate() {
            let shape = if *name == names::STATE_IN { [1, n_hidden] } else { [1, 1] };
            model.set_input_fact(i, f32::fact(shape).into()).map_err(graph_err)?;
        }
        let plan = tract_onnx::tract_core::plan::SimplePlan::new(model.into_optimized().map_err(graph_err)?)
            .map_err(graph_err)?;
        Ok(Self { plan, input_slots, output_slots, n_hidden })
    }

    /// Runs one frame from `state` (length `n_hidden`).
    pub fn run(&self, f0_hz: f32, loudness_db: f32, state: &[f32]) -> Result<ReferenceFrame, ModelError> {
        guarded(|| self.run_unguarded(f0_hz, loudness_db, state))
    }

    fn run_unguarded(&self, f0_hz: f32, loudness_db: f32, state: &[f32]) -> Result<ReferenceFrame, ModelError> {
        let graph_err = |e: TractError| ModelError::Graph(format!("{e:#}"));
        let mut inputs: Vec<Option<Tensor>> = vec![None, None, None];
        inputs[self.input_slots[0]] = Some(tensor2(&[[f0_hz]]));
        inputs[self.input_slots[1]] = Some(tensor2(&[[loudness_db]]));
        inputs[self.input_slots[2]] = Some(Tensor::from_shape(&[1, self.n_hidden], state).map_err(graph_err)?);
        let inputs: TVec<TValue> = inputs.into_iter().flatten().map(|t| t.into_tvalue()).collect();
        let outputs = self.plan.run(inputs).map_err(graph_err)?;
        let read = |slot: usize, name: &str| -> Result<Vec<f32>, ModelError> {
            let t =
                outputs.get(self.output_slots[slot]).ok_or_else(|| ModelError::MissingTensor { name: name.into() })?;
            Ok(t.to_plain_array_view::<f32>().map_err(graph_err)?.iter().copied().collect())
        };
        let amplitude = read(0, names::AMPLITUDE)?;
        let controls = FrameControls {
            amplitude: amplitude.first().copied().unwrap_or(f32::NAN),
            harmonic_distribution: read(1, names::HARMONIC_DISTRIBUTION)?,
            noise_magnitudes: read(2, names::NOISE_MAGNITUDES)?,
        };
        Ok(ReferenceFrame { controls, state: read(3, names::STATE_OUT)? })
    }
}

/// The largest absolute difference between native and reference on every output and the state.
pub fn max_abs_diff(native: &FrameControls, native_state: &[f32], reference: &ReferenceFrame) -> (String, f32) {
    let diff = |a: &[f32], b: &[f32]| -> f32 {
        if a.len() != b.len() {
            return f32::INFINITY;
        }
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    };
    [
        (names::AMPLITUDE, diff(&[native.amplitude], &[reference.controls.amplitude])),
        (names::HARMONIC_DISTRIBUTION, diff(&native.harmonic_distribution, &reference.controls.harmonic_distribution)),
        (names::NOISE_MAGNITUDES, diff(&native.noise_magnitudes, &reference.controls.noise_magnitudes)),
        (names::STATE_OUT, diff(native_state, &reference.state)),
    ]
    .into_iter()
    .map(|(n, d)| (n.to_owned(), if d.is_nan() { f32::INFINITY } else { d }))
    .fold((String::new(), 0.0), |worst, (n, d)| if d > worst.1 || worst.0.is_empty() { (n, d) } else { worst })
}

/// Runs a probe sweep through tract and the native kernels; rejects the model if they disagree.
fn verify_against_tract(model: &Model, bytes: &[u8]) -> Result<(), ModelError> {
    let reference = TractReference::new(bytes, model.n_hidden())?;
    let mut state = model.new_state();
    let mut ref_state = vec![0.0; model.n_hidden()];
    let m = &model.meta;
    for i in 0..VERIFY_FRAMES {
        let t = i as f32 / (VERIFY_FRAMES - 1) as f32;
        let f0 = m.f0_min_hz * (m.f0_max_hz / m.f0_min_hz).powf(t);
        let loudness = m.loudness_min_db + (m.loudness_max_db - m.loudness_min_db) * (1.0 - t);
        let expected = reference.run(f0, loudness, &ref_state)?;
        let native = model.infer(f0, loudness, &mut state).clone();
        let (output, max_abs_diff) = max_abs_diff(&native, model.hidden(&state), &expected);
        if max_abs_diff > VERIFY_TOLERANCE {
            return Err(ModelError::GraphMismatch { output, max_abs_diff, tolerance: VERIFY_TOLERANCE });
        }
        ref_state = expected.state;
    }
    Ok(())
}

/// The metadata key `ddsp quantize` sets on the files it writes.
pub const WEIGHTS_KEY: &str = "ddsp.weights";

/// What [`quantize`] wrote.
#[derive(Clone, Debug)]
pub struct Quantized {
    /// The new ONNX file.
    pub bytes: Vec<u8>,
    /// Weight matrices now stored as int8 (of all the model's matrices: every one).
    pub matrices: usize,
    /// Bytes of those matrices before (f32) and after (int8 values, f32 scales, int8 zero points).
    pub weight_bytes: (usize, usize),
    /// The largest change of the controls on the probe sweep, in dB
    /// ([`super::precision::probe_deviation_db`]).
    pub deviation_db: f32,
}

/// Weight-only int8 quantisation of a `models/FORMAT.md` model (`ddsp quantize`): every weight
/// matrix (the stacks' dense layers, the GRU's `W` and `R`, the head) becomes an int8 initializer
/// with one f32 scale per output channel (axis 1 of both layouts, zero points 0) and a
/// `DequantizeLinear` node that gives the graph back its f32 weights, so ONNX Runtime, tract and
/// any opset-13+ runtime run it unchanged. The values are those of `--precision int8`
/// ([`Dense::to_int8`]): the native runtime plays the file with the same int8 kernels. Biases,
/// layer norms and the activations stay f32. The written file is loaded back and checked against
/// tract before it is returned. Allocates.
pub fn quantize(bytes: &[u8]) -> Result<Quantized, ModelError> {
    use pb::tensor_proto::DataType;
    use prost::Message;

    let f32_model = Model::from_bytes(bytes, ModelSource::Embedded("ddsp quantize input"))?;
    if !matches!(f32_model.format(), ModelFormat::OnnxStateful) {
        return Err(ModelError::Unsupported("only ddsp-rnn-fc/1 models (models/FORMAT.md) are quantised".into()));
    }
    let mut proto = parse_proto(bytes)?;
    let graph = proto.graph.as_mut().ok_or_else(|| ModelError::NotOnnx("the file has no graph".into()))?;
    if graph.node.iter().any(|n| n.op_type == "DequantizeLinear") {
        return Err(ModelError::Unsupported("the model is already quantised".into()));
    }
    let is_matrix = |name: &str| name.ends_with(".dense.weight") || matches!(name, "head.weight" | "gru.W" | "gru.R");
    let names: Vec<String> = graph.initializer.iter().map(|t| t.name.clone()).filter(|n| is_matrix(n)).collect();

    let tensor = |name: String, data_type: DataType, dims: &[usize], raw_data: Vec<u8>| pb::TensorProto {
        name,
        data_type: data_type as i32,
        dims: dims.iter().map(|&d| d as i64).collect(),
        raw_data,
        ..Default::default()
    };
    let weights = Weights::new(graph);
    let matrices = names
        .iter()
        .map(|name| {
            let rank = weights.by_name[name.as_str()].dims.len();
            weights.get(name, &vec![usize::MAX; rank]).map(|(shape, w)| (name, shape, w))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (mut initializers, mut nodes) = (Vec::new(), Vec::new());
    let mut weight_bytes = (0, 0);
    for (name, shape, w) in matrices {
        // Axis 1 is the output axis of `[in, out]` and of `[1, out, in]`.
        let (n_out, inner) = (shape[1], shape[2..].iter().product::<usize>());
        let out_of = |k: usize| (k / inner) % n_out;
        let mut max_abs = vec![0.0f32; n_out];
        w.iter().enumerate().for_each(|(k, v)| max_abs[out_of(k)] = max_abs[out_of(k)].max(v.abs()));
        let scales: Vec<f32> = max_abs.into_iter().map(int8_scale).collect();
        let q: Vec<u8> = w.iter().enumerate().map(|(k, &v)| int8_value(v, scales[out_of(k)]) as u8).collect();
        // A row of zeros: any positive scale gives it back (runtimes may refuse a zero scale).
        let scales: Vec<f32> = scales.iter().map(|&s| if s > 0.0 { s } else { 1.0 }).collect();
        weight_bytes.0 += 4 * w.len();
        weight_bytes.1 += q.len() + 5 * n_out;
        let (q_name, s_name, z_name) =
            (format!("{name}.quantized"), format!("{name}.scale"), format!("{name}.zero_point"));
        initializers.push(tensor(q_name.clone(), DataType::Int8, &shape, q));
        initializers.push(tensor(
            s_name.clone(),
            DataType::Float,
            &[n_out],
            scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
        ));
        initializers.push(tensor(z_name.clone(), DataType::Int8, &[n_out], vec![0; n_out]));
        nodes.push(pb::NodeProto {
            name: format!("{name}.dequantize"),
            op_type: "DequantizeLinear".into(),
            input: vec![q_name, s_name, z_name],
            output: vec![name.clone()],
            attribute: vec![pb::AttributeProto {
                name: "axis".into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: 1,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    graph.initializer.retain(|t| !names.contains(&t.name));
    graph.input.retain(|i| !names.contains(&i.name));
    graph.initializer.extend(initializers);
    nodes.append(&mut graph.node);
    graph.node = nodes;
    proto.metadata_props.retain(|p| p.key != WEIGHTS_KEY);
    proto.metadata_props.push(pb::StringStringEntryProto {
        key: WEIGHTS_KEY.into(),
        value: "int8, symmetric, one scale per output channel (ddsp quantize)".into(),
    });
    let bytes = proto.encode_to_vec();

    let int8_model = load(&bytes, ModelSource::Embedded("ddsp quantize output"), true)?;
    let deviation_db = super::precision::probe_deviation_db(&f32_model, &int8_model);
    Ok(Quantized { bytes, matrices: names.len(), weight_bytes, deviation_db })
}
