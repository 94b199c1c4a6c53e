//! DDSP-VST "predict controls" models (`.tflite`): the weights are read from the flatbuffer and run
//! by the same native decoder as our ONNX models.
//!
//! # Why read weights rather than interpret the graph
//! DDSP-VST's exporter always emits the same network: DDSP's `RnnFcDecoder` (dense → layer norm →
//! leaky ReLU stacks, one GRU step inside a WHILE loop, exp-sigmoid heads, an above-Nyquist mask).
//! Interpreting its ~26 op types generically would run that network through an allocating,
//! op-by-op interpreter; instead the importer *walks the graph* to find each layer's tensors (so
//! any size — 60/65 at 16 kHz, 100/98 at 48 kHz, other widths or depths — loads), checks every
//! structural assumption it relies on, and copies the weights into the native kernels that already
//! run ONNX models in real time. The fixture test holds the result to the TensorFlow Lite
//! interpreter's outputs within 1e-4.
//!
//! Inputs are matched by name (`*f0_scaled*`, `*pw_scaled*`, `*state*`) and outputs by their
//! `:0`..`:3` suffix (amplitude, harmonic distribution, noise magnitudes, state). The metadata
//! DDSP-VST appends as a ZIP (`metadata.json`) is required: without it the model's trained pitch
//! and loudness ranges are unknown, and guessed ranges would condition it wrongly, so a file whose
//! ZIP tail is missing or damaged (a truncated download) is refused, saying so.

mod flatbuffer;

use std::collections::HashMap;
use std::io::Read;

use flatbuffer::Table;

use super::decoder::{DecoderWeights, FcLayer};
use super::kernels::{has_avx2_fma, Dense, Gru, LayerNorm};
use super::{Model, ModelError, ModelFormat, ModelMeta, ModelSource, NativeIo, TensorSpec};

/// TFLite builtin operator codes used by DDSP-VST exports.
mod op {
    pub const ADD: i32 = 0;
    pub const CONCATENATION: i32 = 2;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const MUL: i32 = 18;
    pub const RESHAPE: i32 = 22;
    pub const DEQUANTIZE: i32 = 6;
    pub const QUANTIZE: i32 = 114;
    pub const MEAN: i32 = 40;
    pub const SPLIT_V: i32 = 102;
    pub const LEAKY_RELU: i32 = 98;
    pub const WHILE: i32 = 119;
}

/// TFLite tensor types the importer reads (and names in its errors).
mod dtype {
    pub const FLOAT32: u8 = 0;
    pub const FLOAT16: u8 = 1;
    pub const INT32: u8 = 2;
    pub const INT8: u8 = 9;

    pub fn name(t: u8) -> String {
        match t {
            0 => "float32".into(),
            1 => "float16".into(),
            2 => "int32".into(),
            3 => "uint8".into(),
            4 => "int64".into(),
            7 => "int16".into(),
            9 => "int8".into(),
            10 => "float64".into(),
            17 => "int4 (4-bit)".into(),
            other => format!("type {other}"),
        }
    }
}

/// A tensor's quantisation parameters (`real = scale · (q − zero_point)`), per tensor or per
/// channel along `dimension`.
#[derive(Default)]
struct Quantisation {
    scales: Vec<f32>,
    zero_points: Vec<i64>,
    dimension: usize,
    /// A custom scheme in the `details` union (none of TFLite's built-in converters write one).
    custom: bool,
}

/// A dense layer's weights as the file stores them, `[n_out][n_in]`.
enum Matrix {
    F32(Vec<f32>),
    /// Half floats (TFLite's float16 quantisation), as their exact f32 values.
    F16(Vec<f32>),
    /// Symmetric int8 with one scale per output row.
    Int8 {
        q: Vec<i8>,
        scales: Vec<f32>,
    },
}

pub fn is_tflite(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(b"TFL3")
}

struct Tensor {
    name: String,
    shape: Vec<usize>,
    dtype: u8,
    buffer: usize,
    quantisation: Option<Quantisation>,
}

impl Tensor {
    /// The error for this tensor's quantisation.
    fn quantisation_error(&self, problem: impl Into<String>) -> ModelError {
        let scheme = match &self.quantisation {
            Some(q) if q.custom => format!("{} (custom scheme)", dtype::name(self.dtype)),
            Some(q) if q.scales.len() > 1 => format!("{} per channel", dtype::name(self.dtype)),
            Some(_) => format!("{} per tensor", dtype::name(self.dtype)),
            None => dtype::name(self.dtype),
        };
        ModelError::Quantisation { tensor: self.name.clone(), scheme, problem: problem.into() }
    }

    /// The quantisation of an int8 or int32 constant, checked: TFLite's affine scheme with
    /// finite, positive scales, one per tensor or one per slice along a dimension, and as many
    /// zero points (or none). Anything else (another type, a custom scheme, missing, zero,
    /// negative or non-finite scales) is refused, naming the tensor and the scheme.
    fn checked_quantisation(&self) -> Result<&Quantisation, ModelError> {
        if self.dtype != dtype::INT8 && self.dtype != dtype::INT32 {
            return Err(
                self.quantisation_error("only float32 tensors, and int8 or int32 ones with scales, are supported")
            );
        }
        let q = self.quantisation.as_ref().ok_or_else(|| self.quantisation_error("integer values without scales"))?;
        if q.custom {
            return Err(self.quantisation_error("a custom quantisation scheme is not supported"));
        }
        if q.scales.is_empty() {
            return Err(self.quantisation_error("integer values without scales"));
        }
        if let Some((i, s)) = q.scales.iter().enumerate().find(|(_, s)| !(s.is_finite() && **s > 0.0)) {
            return Err(self.quantisation_error(format!("scale {i} is {s} (scales must be finite and positive)")));
        }
        let channels = if q.scales.len() == 1 { 1 } else { self.shape.get(q.dimension).copied().unwrap_or(0) };
        if channels != q.scales.len() || !(q.zero_points.is_empty() || q.zero_points.len() == q.scales.len()) {
            return Err(self.quantisation_error(format!(
                "{} scales and {} zero points for dimension {} of shape {:?}",
                q.scales.len(),
                q.zero_points.len(),
                q.dimension,
                self.shape
            )));
        }
        Ok(q)
    }

    /// An int8 or int32 constant's real values, `scale · (q − zero_point)` per channel.
    fn dequantise(&self, data: &[u8]) -> Result<Vec<f32>, ModelError> {
        let q = self.checked_quantisation()?;
        let width = if self.dtype == dtype::INT8 { 1 } else { 4 };
        let count: usize = self.shape.iter().product();
        if data.len() != width * count {
            return Err(ModelError::ShapeMismatch {
                name: self.name.clone(),
                expected: vec![width * count],
                actual: vec![data.len()],
            });
        }
        // Elements per step along the quantised dimension.
        let inner: usize = self.shape.iter().skip(q.dimension + 1).product();
        Ok((0..count)
            .map(|k| {
                let c = if q.scales.len() == 1 { 0 } else { (k / inner.max(1)) % q.scales.len() };
                let raw = if width == 1 {
                    i64::from(data[k] as i8)
                } else {
                    i64::from(i32::from_le_bytes([data[4 * k], data[4 * k + 1], data[4 * k + 2], data[4 * k + 3]]))
                };
                q.scales[c] * (raw - q.zero_points.get(c).copied().unwrap_or(0)) as f32
            })
            .collect())
    }

    /// The int8 values of a `[rows][…]` weight matrix and one scale per row: TFLite's symmetric
    /// weight quantisation, per tensor or per output channel (zero points must be zero).
    fn int8_rows(&self, data: &[u8], rows: usize) -> Result<(Vec<i8>, Vec<f32>), ModelError> {
        if self.dtype != dtype::INT8 {
            return Err(self.quantisation_error("only float32 and int8 weights are supported"));
        }
        let q = self.checked_quantisation()?;
        if q.zero_points.iter().any(|&z| z != 0) {
            return Err(self.quantisation_error("weights with non-zero zero points (asymmetric) are not supported"));
        }
        let scales = match q.scales.len() {
            1 => vec![q.scales[0]; rows],
            n if n == rows && q.dimension == 0 => q.scales.clone(),
            n => {
                return Err(self.quantisation_error(format!(
                    "{n} scales along dimension {} of a {rows}-row matrix (one per tensor or per row is supported)",
                    q.dimension
                )))
            }
        };
        let count: usize = self.shape.iter().product();
        if data.len() != count || !count.is_multiple_of(rows.max(1)) {
            return Err(ModelError::ShapeMismatch {
                name: self.name.clone(),
                expected: vec![count],
                actual: vec![data.len()],
            });
        }
        Ok((data.iter().map(|&b| b as i8).collect(), scales))
    }
}

/// A tensor's `QuantizationParameters` table (`min`, `max`, `scale`, `zero_point`, `details_type`,
/// `details`, `quantized_dimension`), if it has one with scales.
fn read_quantisation(t: &Table) -> Result<Option<Quantisation>, ModelError> {
    let Some(q) = t.table(4)? else { return Ok(None) };
    let quantisation = Quantisation {
        scales: q.f32s(2)?,
        zero_points: q.i64s(3)?,
        custom: q.u8(4, 0)? != 0,
        dimension: q.i32(6, 0)?.max(0) as usize,
    };
    Ok((!quantisation.scales.is_empty() || quantisation.custom).then_some(quantisation))
}

struct Op<'a> {
    code: i32,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    options: Option<Table<'a>>,
}

struct Graph<'a> {
    tensors: Vec<Tensor>,
    ops: Vec<Op<'a>>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    /// Which op produces each tensor.
    producer: HashMap<usize, usize>,
    /// A loop body's inputs that the enclosing graph feeds with constants (TFLite's float16
    /// quantisation hoists the GRU's dequantised biases out of the loop): their values, and
    /// whether they were stored as half floats.
    inherited: HashMap<usize, (Vec<f32>, bool)>,
}

fn bad(what: impl Into<String>) -> ModelError {
    ModelError::Unsupported(format!("not a DDSP-VST decoder: {}", what.into()))
}

fn index(v: i32, len: usize, what: &str) -> Result<usize, ModelError> {
    usize::try_from(v)
        .ok()
        .filter(|&i| i < len)
        .ok_or_else(|| ModelError::NotTflite(format!("{what} index {v} out of range")))
}

impl<'a> Graph<'a> {
    fn parse(subgraph: &Table<'a>, opcodes: &[i32]) -> Result<Self, ModelError> {
        let tensors = subgraph
            .tables(0)?
            .iter()
            .map(|t| {
                Ok(Tensor {
                    shape: t.i32s(0)?.iter().map(|&d| d.max(0) as usize).collect(),
                    dtype: t.u8(1, 0)?,
                    buffer: t.u32(2, 0)? as usize,
                    name: t.string(3)?,
                    quantisation: read_quantisation(t)?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let n = tensors.len();
        // Optional inputs are -1: keep them out of the lists (no DDSP-VST op uses one).
        let ids = |v: Vec<i32>| -> Result<Vec<usize>, ModelError> {
            v.into_iter().filter(|&i| i >= 0).map(|i| index(i, n, "tensor")).collect()
        };
        let ops = subgraph
            .tables(3)?
            .iter()
            .map(|o| {
                let code = *opcodes
                    .get(o.u32(0, 0)? as usize)
                    .ok_or_else(|| ModelError::NotTflite("opcode index out of range".into()))?;
                Ok(Op { code, inputs: ids(o.i32s(1)?)?, outputs: ids(o.i32s(2)?)?, options: o.table(4)? })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let producer = ops.iter().enumerate().flat_map(|(i, o)| o.outputs.iter().map(move |&t| (t, i))).collect();
        let (inputs, outputs) = (ids(subgraph.i32s(1)?)?, ids(subgraph.i32s(2)?)?);
        Ok(Self { inputs, outputs, tensors, ops, producer, inherited: HashMap::new() })
    }

    /// A constant tensor's raw bytes (from its buffer), or `None` for activations.
    fn constant_bytes(&self, t: usize, buffers: &[Table<'a>]) -> Result<Option<&'a [u8]>, ModelError> {
        let Some(buffer) = buffers.get(self.tensors[t].buffer) else { return Ok(None) };
        let data = buffer.bytes(0)?;
        Ok((!data.is_empty()).then_some(data))
    }

    /// A constant float tensor's values, or `None` for activations. A quantised (int8 or int32)
    /// constant is read as its real values (see [`Tensor::dequantise`]).
    fn constant(&self, t: usize, buffers: &[Table<'a>]) -> Result<Option<Vec<f32>>, ModelError> {
        if let Some((values, _)) = self.inherited.get(&t) {
            return Ok(Some(values.clone()));
        }
        if let Some(half) = self.float16_source(t) {
            return self.float16_constant(half, buffers);
        }
        let tensor = &self.tensors[t];
        let Some(data) = self.constant_bytes(t, buffers)? else { return Ok(None) };
        if tensor.dtype != dtype::FLOAT32 {
            return tensor.dequantise(data).map(Some);
        }
        let count: usize = tensor.shape.iter().product();
        if data.len() != 4 * count {
            return Err(ModelError::ShapeMismatch {
                name: tensor.name.clone(),
                expected: vec![4 * count],
                actual: vec![data.len()],
            });
        }
        let values: Vec<f32> = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if !values.iter().all(|v| v.is_finite()) {
            return Err(ModelError::NonFinite { name: tensor.name.clone() });
        }
        Ok(Some(values))
    }

    /// A dense layer's constant `[rows][…]` weight matrix as stored: f32, or int8 with a scale per
    /// row (TFLite's dynamic-range quantisation); `None` for activations.
    fn matrix(&self, t: usize, rows: usize, buffers: &[Table<'a>]) -> Result<Option<Matrix>, ModelError> {
        if let Some((values, half)) = self.inherited.get(&t) {
            return Ok(Some(if *half { Matrix::F16(values.clone()) } else { Matrix::F32(values.clone()) }));
        }
        if let Some(half) = self.float16_source(t) {
            return Ok(self.float16_constant(half, buffers)?.map(Matrix::F16));
        }
        let tensor = &self.tensors[t];
        if tensor.dtype == dtype::FLOAT32 {
            return Ok(self.constant(t, buffers)?.map(Matrix::F32));
        }
        let Some(data) = self.constant_bytes(t, buffers)? else { return Ok(None) };
        let (q, scales) = tensor.int8_rows(data, rows)?;
        Ok(Some(Matrix::Int8 { q, scales }))
    }

    /// The FLOAT16 constant a DEQUANTIZE op turns into tensor `t`, if that is where `t` comes
    /// from (TFLite's float16 quantisation stores weights and biases so).
    fn float16_source(&self, t: usize) -> Option<usize> {
        let o = &self.ops[*self.producer.get(&t)?];
        let input = *o.inputs.first()?;
        (o.code == op::DEQUANTIZE && self.tensors[input].dtype == dtype::FLOAT16).then_some(input)
    }

    /// A FLOAT16 constant's values (exact in f32), or `None` if it has no data.
    fn float16_constant(&self, t: usize, buffers: &[Table<'a>]) -> Result<Option<Vec<f32>>, ModelError> {
        let tensor = &self.tensors[t];
        let Some(data) = self.constant_bytes(t, buffers)? else { return Ok(None) };
        let count: usize = tensor.shape.iter().product();
        if data.len() != 2 * count {
            return Err(ModelError::ShapeMismatch {
                name: tensor.name.clone(),
                expected: vec![2 * count],
                actual: vec![data.len()],
            });
        }
        let values: Vec<f32> = data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect();
        if !values.iter().all(|v| v.is_finite()) {
            return Err(ModelError::NonFinite { name: tensor.name.clone() });
        }
        Ok(Some(values))
    }

    /// Follows producers through reshapes, quantisations and dequantisations (which a
    /// full-integer export puts between layers) back to the tensor feeding them: the same values
    /// for the float network the importer builds.
    fn through_reshapes(&self, mut t: usize) -> usize {
        while let Some(&p) = self.producer.get(&t) {
            if ![op::RESHAPE, op::QUANTIZE, op::DEQUANTIZE].contains(&self.ops[p].code) {
                break;
            }
            t = self.ops[p].inputs[0];
        }
        t
    }

    /// Follows producers (first input of each op) back to one of `targets`.
    fn trace_to(&self, mut t: usize, targets: &[usize]) -> Option<usize> {
        for _ in 0..64 {
            if let Some(i) = targets.iter().position(|&x| x == t) {
                return Some(i);
            }
            t = *self.ops[*self.producer.get(&t)?].inputs.first()?;
        }
        None
    }

    fn fully_connected_fed_by(&self, t: usize) -> Option<usize> {
        self.ops.iter().position(|o| o.code == op::FULLY_CONNECTED && self.through_reshapes(o.inputs[0]) == t)
    }
}

/// One dense layer read from a FULLY_CONNECTED op, plus the layer norm and leaky ReLU after it
/// (absent for the output head).
struct Layer {
    dense: Dense,
    norm: Option<(LayerNorm, f32)>,
    /// The tensor holding the layer's final activation.
    output: usize,
}

fn read_layer(g: &Graph, fc: usize, buffers: &[Table]) -> Result<Layer, ModelError> {
    let o = &g.ops[fc];
    let (w_t, b_t) = (
        *o.inputs.get(1).ok_or_else(|| bad("dense without weights"))?,
        *o.inputs.get(2).ok_or_else(|| bad("dense without bias"))?,
    );
    let b = g.constant(b_t, buffers)?.ok_or_else(|| bad("dense bias is not constant"))?;
    let shape = &g.tensors[w_t].shape;
    if shape.len() != 2 || b.len() != shape[0] {
        return Err(ModelError::ShapeMismatch {
            name: g.tensors[w_t].name.clone(),
            expected: vec![b.len(), usize::MAX],
            actual: shape.clone(),
        });
    }
    let (units, n_in) = (shape[0], shape[1]);
    let dense = match g.matrix(w_t, units, buffers)?.ok_or_else(|| bad("dense weights are not constant"))? {
        Matrix::F32(w) => Dense::from_out_in(n_in, units, &w, &b),
        Matrix::F16(w) => {
            // Kept as the file's half floats where the kernels convert them in hardware (F16C).
            let mut dense = Dense::from_out_in(n_in, units, &w, &b);
            if has_avx2_fma() {
                dense.to_f16();
            }
            dense
        }
        Matrix::Int8 { q, scales } => Dense::from_int8_out_in(n_in, units, &q, &scales, &b),
    };

    // The layer norm and activation follow in op order: MEAN … ADD(ε) … MUL(γ) ADD(β) LEAKY_RELU.
    let (mut epsilon, mut gamma, mut beta) = (None, None, None);
    for later in &g.ops[fc + 1..] {
        let constant_of = |len: usize| -> Result<Option<Vec<f32>>, ModelError> {
            for &t in &later.inputs {
                if let Some(v) = g.constant(t, buffers)? {
                    if v.len() == len {
                        return Ok(Some(v));
                    }
                }
            }
            Ok(None)
        };
        match later.code {
            op::ADD
                if epsilon.is_none()
                    && later.inputs.iter().any(|t| g.producer.get(t).is_some_and(|&p| g.ops[p].code == op::MEAN)) =>
            {
                epsilon = constant_of(1)?.map(|v| v[0]);
            }
            op::MUL if gamma.is_none() && units > 1 => gamma = constant_of(units)?,
            op::ADD if gamma.is_some() && beta.is_none() => beta = constant_of(units)?,
            op::LEAKY_RELU => {
                let alpha = match &later.options {
                    Some(options) => options.f32(0, 0.2)?,
                    None => 0.2,
                };
                let (epsilon, scale, bias) = match (epsilon, gamma, beta) {
                    (Some(e), Some(g), Some(b)) => (e, g, b),
                    _ => return Err(bad("a leaky ReLU not preceded by a layer norm")),
                };
                return Ok(Layer {
                    dense,
                    norm: Some((LayerNorm { scale, bias, epsilon }, alpha)),
                    output: later.outputs[0],
                });
            }
            op::FULLY_CONNECTED | op::CONCATENATION | op::WHILE | op::SPLIT_V => break,
            _ => {}
        }
    }
    Ok(Layer { dense, norm: None, output: o.outputs[0] })
}

/// A run of dense layers read from the graph.
struct Stack {
    /// The dense + layer norm + leaky ReLU layers.
    layers: Vec<FcLayer>,
    /// A final dense without a layer norm (the output head), if the run ends in one.
    head: Option<Dense>,
    /// The tensor holding the run's last activation.
    end: usize,
    /// The leaky ReLU slope its layers share (`None` for a bare head).
    leaky_relu_alpha: Option<f32>,
}

/// The layers of a stack starting at `fc`, following each layer's output into the next dense.
fn read_stack(g: &Graph, mut fc: usize, buffers: &[Table]) -> Result<Stack, ModelError> {
    let mut stack = Stack { layers: Vec::new(), head: None, end: 0, leaky_relu_alpha: None };
    loop {
        let layer = read_layer(g, fc, buffers)?;
        stack.end = layer.output;
        match layer.norm {
            None => {
                stack.head = Some(layer.dense);
                return Ok(stack);
            }
            Some((norm, alpha)) => {
                if stack.leaky_relu_alpha.is_some_and(|a| a != alpha) {
                    return Err(bad("leaky ReLU slopes differ between layers"));
                }
                stack.leaky_relu_alpha = Some(alpha);
                stack.layers.push(FcLayer { dense: layer.dense, norm });
            }
        }
        match g.fully_connected_fed_by(layer.output) {
            Some(next) => fc = next,
            None => return Ok(stack),
        }
        if stack.layers.len() > 16 {
            return Err(bad("a stack deeper than 16 layers"));
        }
    }
}

/// `metadata.json` from the ZIP DDSP-VST appends to the flatbuffer, or what is wrong with it.
fn zip_metadata(bytes: &[u8]) -> Result<serde_json::Value, ModelError> {
    let damaged = |what: String| ModelError::DamagedMetadata { what };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| damaged(format!("no readable ZIP archive at the end of the file: {e}")))?;
    let file = archive.by_name("metadata.json").map_err(|e| damaged(format!("metadata.json in its ZIP: {e}")))?;
    let mut text = String::new();
    file.take(1 << 20).read_to_string(&mut text).map_err(|e| damaged(format!("metadata.json: {e}")))?;
    serde_json::from_str(&text).map_err(|e| damaged(format!("metadata.json is not JSON: {e}")))
}

pub fn load(bytes: &[u8], source: ModelSource, file_name: &str) -> Result<Model, ModelError> {
    let root = Table::root(bytes, b"TFL3")?;
    let opcodes = root
        .tables(1)?
        .iter()
        .map(|c| Ok(i32::from(c.u8(0, 0)? as i8).max(c.i32(3, 0)?)))
        .collect::<Result<Vec<i32>, ModelError>>()?;
    let subgraphs = root.tables(2)?;
    let buffers = root.tables(4)?;
    let main = Graph::parse(subgraphs.first().ok_or_else(|| bad("no subgraph"))?, &opcodes)?;

    let input = |key: &str| {
        main.inputs
            .iter()
            .copied()
            .find(|&t| main.tensors[t].name.contains(key))
            .ok_or_else(|| ModelError::MissingTensor { name: format!("input *{key}*") })
    };
    let (f0_in, pw_in, state_in) =
        (input("f0_scaled")?, input("pw_scaled").or_else(|_| input("ld_scaled"))?, input("state")?);
    let output = |suffix: &str| {
        main.outputs
            .iter()
            .copied()
            .find(|&t| main.tensors[t].name.ends_with(suffix))
            .ok_or_else(|| ModelError::MissingTensor { name: format!("output *{suffix}") })
    };
    let size = |t: usize| main.tensors[t].shape.iter().product::<usize>();
    let (n_harmonics, n_noise, n_state) = (size(output(":1")?), size(output(":2")?), size(output(":3")?));
    if size(output(":0")?) != 1 || n_harmonics == 0 || n_noise == 0 {
        return Err(bad("outputs are not amplitude [1], harmonics [K], noise [M], state [H]"));
    }

    // Input stacks, from the FULLY_CONNECTED each input feeds.
    let f0_fc = main.fully_connected_fed_by(f0_in).ok_or_else(|| bad("no dense layer on the f0 input"))?;
    let pw_fc = main.fully_connected_fed_by(pw_in).ok_or_else(|| bad("no dense layer on the loudness input"))?;
    let f0 = read_stack(&main, f0_fc, &buffers)?;
    let loudness = read_stack(&main, pw_fc, &buffers)?;
    if f0.head.is_some() || loudness.head.is_some() || f0.layers.is_empty() || loudness.layers.is_empty() {
        return Err(bad("input stacks must be dense + layer norm + leaky ReLU layers"));
    }
    let leaky_relu_alpha = f0.leaky_relu_alpha.unwrap_or(0.2);
    let (f0_stack, f0_end, loudness_stack, ld_end) = (f0.layers, f0.end, loudness.layers, loudness.end);
    // The GRU input is the concatenation of the two stacks; DDSP-VST puts loudness first.
    let concat = main
        .ops
        .iter()
        .find(|o| {
            o.code == op::CONCATENATION
                && o.inputs.len() == 2
                && o.inputs.iter().any(|&t| main.through_reshapes(t) == f0_end)
                && o.inputs.iter().any(|&t| main.through_reshapes(t) == ld_end)
        })
        .ok_or_else(|| bad("the input stacks are not concatenated"))?;
    let loudness_first = main.through_reshapes(concat.inputs[0]) == ld_end;
    let gru_input = concat.outputs[0];

    // The GRU: one WHILE step whose body holds an input and a recurrent FULLY_CONNECTED.
    let (while_index, while_op) =
        main.ops.iter().enumerate().find(|(_, o)| o.code == op::WHILE).ok_or_else(|| bad("no WHILE (GRU) op"))?;
    let body_index = while_op.options.as_ref().map(|o| o.i32(1, -1)).transpose()?.unwrap_or(-1);
    let mut body = Graph::parse(
        subgraphs.get(index(body_index, subgraphs.len(), "subgraph")?).ok_or_else(|| bad("no WHILE body"))?,
        &opcodes,
    )?;
    for (&outer, &inner) in while_op.inputs.iter().zip(&body.inputs) {
        // (The loop's counters are int32 constants too: not weights.)
        if main.tensors[outer].dtype != dtype::FLOAT32 {
            continue;
        }
        if let Some(values) = main.constant(outer, &buffers)? {
            body.inherited.insert(inner, (values, main.float16_source(outer).is_some()));
        }
    }
    let x_slot = while_op
        .inputs
        .iter()
        .position(|&t| main.through_reshapes(t) == gru_input)
        .ok_or_else(|| bad("the GRU does not read the stacks"))?;
    let h_slot = while_op
        .inputs
        .iter()
        .position(|&t| main.through_reshapes(t) == state_in)
        .ok_or_else(|| bad("the GRU does not read the state"))?;
    let (mut input_kernel, mut recurrent_kernel) = (None, None);
    for (i, o) in body.ops.iter().enumerate().filter(|(_, o)| o.code == op::FULLY_CONNECTED) {
        match body.trace_to(o.inputs[0], &body.inputs) {
            Some(slot) if slot == x_slot => input_kernel = Some(read_layer(&body, i, &buffers)?.dense),
            Some(slot) if slot == h_slot => recurrent_kernel = Some(read_layer(&body, i, &buffers)?.dense),
            _ => return Err(bad("a GRU dense layer reads neither the input nor the state")),
        }
    }
    let (input, recurrent) =
        input_kernel.zip(recurrent_kernel).ok_or_else(|| bad("the GRU needs an input and a recurrent kernel"))?;
    let n_hidden = recurrent.n_in;
    if recurrent.n_out != 3 * n_hidden || input.n_out != 3 * n_hidden || n_state != n_hidden {
        return Err(bad(format!(
            "GRU kernels {}→{} / {}→{} for a state of {n_state}",
            input.n_in, input.n_out, recurrent.n_in, recurrent.n_out
        )));
    }
    let gru = Gru { n_hidden, input, recurrent };

    // Output stack: fed by concat(stacks…, GRU output), ending in the head.
    let out_concat = main.ops[while_index + 1..]
        .iter()
        .find(|o| o.code == op::CONCATENATION && o.inputs.len() == 3)
        .ok_or_else(|| bad("no concatenation after the GRU"))?;
    let expected = if loudness_first { [ld_end, f0_end] } else { [f0_end, ld_end] };
    let out_inputs: Vec<usize> = out_concat.inputs.iter().map(|&t| main.through_reshapes(t)).collect();
    if out_inputs[..2] != expected || !while_op.outputs.contains(&out_inputs[2]) {
        return Err(bad("the output stack input is not [stacks, GRU output]"));
    }
    let out_fc = main.fully_connected_fed_by(out_concat.outputs[0]).ok_or_else(|| bad("no output stack"))?;
    let out = read_stack(&main, out_fc, &buffers)?;
    // The decoder has one slope for all its layers: every stack must use it.
    let slopes = [loudness.leaky_relu_alpha, out.leaky_relu_alpha];
    if slopes.iter().flatten().any(|&a| a != leaky_relu_alpha) {
        return Err(bad("leaky ReLU slopes differ between stacks"));
    }
    let (out_stack, head) = (out.layers, out.head.ok_or_else(|| bad("no output head"))?);
    if head.n_out != 1 + n_harmonics + n_noise {
        return Err(bad(format!("head has {} outputs for 1 + {n_harmonics} + {n_noise}", head.n_out)));
    }

    // The noise logits' bias: the scalar ADD on the third SPLIT_V output (DDSP: -5).
    let noise_logit_bias = main
        .ops
        .iter()
        .find(|o| o.code == op::SPLIT_V)
        .and_then(|split| split.outputs.get(2).copied())
        .and_then(|noise| main.ops.iter().find(|o| o.code == op::ADD && o.inputs.contains(&noise)))
        .map(|add| -> Result<f32, ModelError> {
            for &t in &add.inputs {
                if let Some(v) = main.constant(t, &buffers)? {
                    return Ok(v[0]);
                }
            }
            Ok(0.0)
        })
        .transpose()?
        .unwrap_or(0.0);

    let metadata = zip_metadata(bytes)?;
    let number = |key: &'static str| -> Result<f32, ModelError> {
        match metadata.get(key) {
            None => Err(ModelError::MissingMetadata { key }),
            Some(v) => v
                .as_f64()
                .map(|v| v as f32)
                .filter(|v| v.is_finite())
                .ok_or_else(|| ModelError::BadMetadata { key, value: v.to_string() }),
        }
    };
    let meta = ModelMeta {
        name: file_name.to_owned(),
        instrument: "DDSP-VST model".into(),
        licence: String::new(),
        description: format!(
            "DDSP-VST predict-controls model{}",
            metadata.get("version").and_then(|v| v.as_str()).map(|v| format!(" (ddsp {v})")).unwrap_or_default()
        ),
        sample_rate_hz: number("sample_rate")?,
        frame_rate_hz: number("frame_rate")?,
        n_harmonics,
        n_noise_bands: n_noise,
        f0_min_hz: number("mean_min_pitch_note_hz")?,
        f0_max_hz: number("mean_max_pitch_note_hz")?,
        loudness_min_db: number("mean_min_power_note")?,
        loudness_max_db: number("mean_max_power_note")?,
    };
    meta.check()?;
    let decoder = DecoderWeights {
        f0_stack,
        loudness_stack,
        gru,
        out_stack,
        head,
        leaky_relu_alpha,
        n_harmonics,
        n_noise_bands: n_noise,
        loudness_first,
        noise_logit_bias,
    };
    let spec = |t: usize| TensorSpec::new(main.tensors[t].name.clone(), &[size(t)]);
    let io = NativeIo {
        format: ModelFormat::DdspVstTflite,
        inputs: vec![spec(f0_in), spec(pw_in)],
        outputs: vec![spec(output(":0")?), spec(output(":1")?), spec(output(":2")?)],
        state: vec![spec(state_in), spec(output(":3")?)],
    };
    Ok(Model::from_parts(meta, decoder, source).with_io(io))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dynamic_fixture() -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ddsp-vst/model_a_dynamic.tflite");
        std::fs::read(path).unwrap()
    }

    /// The GRU's recurrent kernel in the WHILE body (an int8 tensor with per-channel scales):
    /// its name, where its type byte is and where its scales vector starts (the length word).
    fn int8_kernel(bytes: &[u8]) -> (String, usize, usize) {
        let root = Table::root(bytes, b"TFL3").unwrap();
        for subgraph in root.tables(2).unwrap() {
            for tensor in subgraph.tables(0).unwrap() {
                if tensor.u8(1, 0).unwrap() == dtype::INT8 && tensor.i32s(0).unwrap() == [1536, 512] {
                    let quantisation = tensor.table(4).unwrap().unwrap();
                    let (_, scales_start) = quantisation.vector(2, 4).unwrap();
                    return (tensor.string(3).unwrap(), tensor.field(1).unwrap().unwrap(), scales_start - 4);
                }
            }
        }
        panic!("no int8 GRU kernel in the fixture");
    }

    fn load_error(bytes: &[u8]) -> ModelError {
        load(bytes, ModelSource::Embedded("test"), "patched.tflite").unwrap_err()
    }

    #[test]
    fn broken_quantisation_is_refused_naming_the_tensor_and_the_scheme() {
        let good = dynamic_fixture();
        let (name, type_at, scales_at) = int8_kernel(&good);
        assert!(load(&good, ModelSource::Embedded("test"), "ok.tflite").is_ok());
        let scale_0 = scales_at + 4;
        type Patch<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
        // (patch, the scheme the error names, what it says is wrong)
        let cases: Vec<(Patch, &str, &str)> = vec![
            (
                Box::new(|b| b[scale_0..scale_0 + 4].copy_from_slice(&0f32.to_le_bytes())),
                "int8 per channel",
                "scale 0 is 0",
            ),
            (
                Box::new(|b| b[scale_0..scale_0 + 4].copy_from_slice(&f32::NAN.to_le_bytes())),
                "int8 per channel",
                "scale 0 is NaN",
            ),
            (
                Box::new(|b| b[scale_0..scale_0 + 4].copy_from_slice(&(-1f32).to_le_bytes())),
                "int8 per channel",
                "scale 0 is -1",
            ),
            (Box::new(|b| b[scales_at..scales_at + 4].copy_from_slice(&0u32.to_le_bytes())), "int8", "without scales"),
            (Box::new(|b| b[type_at] = 7), "int16 per channel", "only float32 and int8 weights"),
            (Box::new(|b| b[type_at] = 17), "int4 (4-bit) per channel", "only float32 and int8 weights"),
        ];
        for (patch, scheme, problem) in cases {
            let mut bytes = good.clone();
            patch(&mut bytes);
            let error = load_error(&bytes);
            let text = error.to_string();
            assert!(
                matches!(&error, ModelError::Quantisation { tensor, scheme: s, .. } if *tensor == name && s == scheme),
                "{text}"
            );
            assert!(text.contains(problem) && text.contains(&name), "{text}");
        }
    }

    #[test]
    fn quantised_constants_dequantise_per_channel_with_zero_points() {
        let tensor = Tensor {
            name: "t".into(),
            shape: vec![2, 3],
            dtype: dtype::INT8,
            buffer: 0,
            quantisation: Some(Quantisation {
                scales: vec![0.5, 0.25],
                zero_points: vec![0, -2],
                dimension: 0,
                custom: false,
            }),
        };
        let data: Vec<u8> = [1i8, -2, 3, -2, 0, 6].iter().map(|&v| v as u8).collect();
        assert_eq!(tensor.dequantise(&data).unwrap(), [0.5, -1.0, 1.5, 0.0, 0.5, 2.0]);
        // Weights must be symmetric: a zero point is refused for a matrix.
        assert!(matches!(tensor.int8_rows(&data, 2), Err(ModelError::Quantisation { .. })));
        // Along dimension 1: one scale per column.
        let columns = Tensor {
            quantisation: Some(Quantisation { scales: vec![1.0, 2.0, 4.0], dimension: 1, ..Default::default() }),
            ..tensor
        };
        assert_eq!(columns.dequantise(&data).unwrap(), [1.0, -4.0, 12.0, -2.0, 0.0, 24.0]);
        // Scales that match no dimension are refused.
        let wrong = Tensor {
            quantisation: Some(Quantisation { scales: vec![1.0, 2.0], dimension: 1, ..Default::default() }),
            ..columns
        };
        assert!(matches!(wrong.dequantise(&data), Err(ModelError::Quantisation { .. })));
        // int32 biases (full-integer exports) dequantise too.
        let bias = Tensor {
            shape: vec![2],
            dtype: dtype::INT32,
            quantisation: Some(Quantisation { scales: vec![0.5], ..Default::default() }),
            ..wrong
        };
        let data: Vec<u8> = [-4i32, 10].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(bias.dequantise(&data).unwrap(), [-2.0, 5.0]);
    }
}
