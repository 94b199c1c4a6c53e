//! ONNX models per `models/FORMAT.md`: weights into native kernels, tract as the graph's reference.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::decoder::{DecoderWeights, FcLayer, FrameControls, NOISE_LOGIT_BIAS};
use super::kernels::{Dense, Gru, LayerNorm};
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
        let (checked, bytes) = (model.clone(), bytes.to_vec());
        within_deadline("checking the graph", move || verify_against_tract(&checked, &bytes))?;
    }
    Ok(model)
}

/// The graph's initializers by name, read as `f32`.
struct Weights<'g> {
    graph: &'g pb::GraphProto,
    by_name: HashMap<&'g str, &'g pb::TensorProto>,
}

impl<'g> Weights<'g> {
    fn new(graph: &'g pb::GraphProto) -> Self {
        Self { graph, by_name: graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect() }
    }

    fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The tensor's shape and values; its shape must be `expected` where `expected` is given
    /// (`usize::MAX` entries match anything).
    fn get(&self, name: &str, expected: &[usize]) -> Result<(Vec<usize>, Vec<f32>), ModelError> {
        let t = self.by_name.get(name).ok_or_else(|| ModelError::MissingTensor { name: name.to_owned() })?;
        let shape: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
        let fits = shape.len() == expected.len() && shape.iter().zip(expected).all(|(a, e)| *e == usize::MAX || a == e);
        if !fits {
            return Err(ModelError::ShapeMismatch {
                name: name.to_owned(),
                expected: expected.to_vec(),
                actual: shape,
            });
        }
        if t.data_type != pb::tensor_proto::DataType::Float as i32 {
            return Err(ModelError::Unsupported(format!("tensor '{name}' is not float32 (type {})", t.data_type)));
        }
        if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
            return Err(ModelError::Unsupported(format!("tensor '{name}' is stored in an external file")));
        }
        let count: usize = shape.iter().product();
        let values: Vec<f32> = if !t.raw_data.is_empty() {
            t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        } else {
            t.float_data.clone()
        };
        if values.len() != count {
            return Err(ModelError::ShapeMismatch {
                name: name.to_owned(),
                expected: vec![count],
                actual: vec![values.len()],
            });
        }
        if !values.iter().all(|v| v.is_finite()) {
            return Err(ModelError::NonFinite { name: name.to_owned() });
        }
        Ok((shape, values))
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
            let (shape, w) = self.get(&format!("{p}.dense.weight"), &[width, usize::MAX])?;
            let units = shape[1];
            let (_, b) = self.get(&format!("{p}.dense.bias"), &[units])?;
            let (_, scale) = self.get(&format!("{p}.norm.scale"), &[units])?;
            let (_, bias) = self.get(&format!("{p}.norm.bias"), &[units])?;
            layers.push(FcLayer {
                dense: Dense::from_in_out(width, units, &w, &b),
                norm: LayerNorm { scale, bias, epsilon },
            });
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

        let (r_shape, r) = self.get("gru.R", &[1, usize::MAX, usize::MAX])?;
        let hidden = r_shape[2];
        if r_shape[1] != 3 * hidden {
            return Err(ModelError::ShapeMismatch {
                name: "gru.R".into(),
                expected: vec![1, 3 * hidden, hidden],
                actual: r_shape,
            });
        }
        let (_, w) = self.get("gru.W", &[1, 3 * hidden, nf + nl])?;
        let (_, b) = self.get("gru.B", &[1, 6 * hidden])?;
        let gru = Gru {
            n_hidden: hidden,
            input: Dense::from_out_in(nf + nl, 3 * hidden, &w, &b[..3 * hidden]),
            recurrent: Dense::from_out_in(hidden, 3 * hidden, &r, &b[3 * hidden..]),
        };

        let out_stack = self.stack("out_stack", nf + nl + hidden, epsilon)?;
        let features = out_stack.last().map_or(nf + nl + hidden, |l| l.dense.n_out);
        let n_out = 1 + meta.n_harmonics + meta.n_noise_bands;
        let (_, hw) = self.get("head.weight", &[features, n_out])?;
        let (_, hb) = self.get("head.bias", &[n_out])?;
        Ok(DecoderWeights {
            f0_stack,
            loudness_stack,
            gru,
            out_stack,
            head: Dense::from_in_out(features, n_out, &hw, &hb),
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
