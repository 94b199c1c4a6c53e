//! The model runtime: loading a DDSP decoder, validating it, and running it frame by frame in
//! real time without allocating.
//!
//! # Design: compile the graph into native kernels, keep tract as the reference
//! An ONNX model following `models/FORMAT.md` is read with tract-onnx's protobuf parser; its weights
//! are copied into preallocated native kernels ([`kernels`]: dense, layer norm, GRU step) that run
//! on the audio thread with no allocation, lock or wait and no added latency: the controls of a frame
//! are ready in the same sample they are asked for. tract itself allocates inside `run()`, so it
//! never runs on the audio thread; it runs the *graph* at load time on probe inputs and the model is
//! rejected if the native kernels disagree with it by more than [`VERIFY_TOLERANCE`]. A file whose
//! weights are named right but wired differently therefore cannot load and play something else.
//!
//! The alternative, a dedicated inference thread fed by lock-free queues, would add at least one
//! frame (4 ms) of latency and a deadline the OS scheduler can miss; a 2 MB decoder costs well under
//! 1 % of a core per voice natively (see the benchmark), so there is nothing to win by deferring it.

pub mod decoder;
pub mod kernels;
pub mod meta;
pub mod onnx;
pub mod pace;
pub mod precision;
pub mod tflite;
pub mod windowed;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use decoder::{DecoderBatch, DecoderState, DecoderWeights, FrameControls};
pub use meta::ModelMeta;
pub use pace::{HostPace, PaceClock};
pub use precision::{process_precision, set_process_precision, Precision, WeightStorage};
pub use windowed::{RunMode, WindowedGraph, WINDOWED_DELAY_FRAMES};

/// Largest model file accepted: DDSP-VST's biggest exports are ~20 MB, so 200 MB is a broken file.
pub const MAX_MODEL_BYTES: u64 = 200 * 1024 * 1024;

/// Frames the validation render at load runs ([`Model::check_sounds`]): past a windowed model's
/// delay, and enough for a recurrent state to settle.
pub const SOUND_CHECK_FRAMES: usize = 12;

/// Loudest control (linear amplitude) below which a validation render counts as silence: −120 dB.
pub const SOUND_CHECK_FLOOR: f32 = 1e-6;

/// Native kernels and tract must agree this closely on every output at load.
pub const VERIFY_TOLERANCE: f32 = 1e-4;

/// The model every plugin instance plays when no other is loaded: the best of the shipped models by
/// the held-out fidelity benchmark (`models/README.md`), the flute (`models/flute.md`).
pub static EMBEDDED_DEFAULT_ONNX: &[u8] = include_bytes!("../../models/flute.onnx");

/// A shipped model compiled into the binary, so a fresh install plays every instrument with no
/// files to copy. `name` is the model's own `ddsp.name`, which the library lists and finds.
pub struct BuiltInModel {
    pub name: &'static str,
    pub onnx: &'static [u8],
}

/// Built-in models are told apart by name (unique, tested), not by comparing megabytes.
impl PartialEq for BuiltInModel {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for BuiltInModel {}

impl std::fmt::Debug for BuiltInModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BuiltInModel({:?}, {} bytes)", self.name, self.onnx.len())
    }
}

/// The shipped models (`models/`), the embedded default first. The test suite loads each one with
/// full verification and checks its bytes against the shipped file and its name against its card.
pub static BUILT_IN_MODELS: [BuiltInModel; 8] = [
    BuiltInModel { name: "Flute", onnx: EMBEDDED_DEFAULT_ONNX },
    BuiltInModel { name: "Violin", onnx: include_bytes!("../../models/violin.onnx") },
    BuiltInModel { name: "Cello", onnx: include_bytes!("../../models/cello.onnx") },
    BuiltInModel { name: "Trumpet", onnx: include_bytes!("../../models/trumpet.onnx") },
    BuiltInModel { name: "Sax", onnx: include_bytes!("../../models/sax.onnx") },
    BuiltInModel { name: "Clarinet", onnx: include_bytes!("../../models/clarinet.onnx") },
    BuiltInModel { name: "Horn", onnx: include_bytes!("../../models/horn.onnx") },
    BuiltInModel { name: "Choir", onnx: include_bytes!("../../models/choir.onnx") },
];

impl BuiltInModel {
    /// The built-in model named `name` (case-insensitive).
    pub fn find(name: &str) -> Option<&'static Self> {
        BUILT_IN_MODELS.iter().find(|m| m.name.eq_ignore_ascii_case(name))
    }

    /// The embedded default.
    pub fn default_model() -> &'static Self {
        &BUILT_IN_MODELS[0]
    }

    /// Loads it. Allocates; never fails (every built-in model is validated by the test suite).
    pub fn load(&'static self) -> Model {
        onnx::load(self.onnx, ModelSource::Embedded(self.name), false)
            .expect("the built-in models are validated by the test suite")
    }
}

/// Why a model could not be loaded. Numeric fields carry what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file is empty")]
    Empty,
    #[error("the file is {actual} bytes; a model may have at most {max}")]
    TooLarge { actual: u64, max: u64 },
    #[error("not a regular file but a {kind}")]
    NotAFile { kind: &'static str },
    #[error("not an ONNX model ({0})")]
    NotOnnx(String),
    #[error("not a TensorFlow Lite model ({0})")]
    NotTflite(String),
    #[error("metadata '{key}' is missing")]
    MissingMetadata { key: &'static str },
    #[error("its DDSP-VST metadata ({what}) is missing or damaged, so its pitch and loudness ranges are unknown (a truncated file?)")]
    DamagedMetadata { what: String },
    #[error("it cannot produce sound: {frames} frames at its own trained pitch ({f0_hz} Hz) and loudness ({loudness_db} dB) gave {why}")]
    Silent { frames: usize, f0_hz: f32, loudness_db: f32, why: &'static str },
    #[error("metadata '{key}' has an invalid value '{value}'")]
    BadMetadata { key: &'static str, value: String },
    #[error("tensor '{name}' is missing")]
    MissingTensor { name: String },
    #[error("tensor '{name}' has shape {actual:?}, expected {expected:?}")]
    ShapeMismatch { name: String, expected: Vec<usize>, actual: Vec<usize> },
    #[error("tensor '{name}' holds NaN or infinite values")]
    NonFinite { name: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("tensor '{tensor}' is quantised as {scheme}: {problem}")]
    Quantisation { tensor: String, scheme: String, problem: String },
    #[error("the graph does not compute what its weights describe: output '{output}' differs by {max_abs_diff:e} (tolerance {tolerance:e})")]
    GraphMismatch { output: String, max_abs_diff: f32, tolerance: f32 },
    #[error("the graph cannot be run: {0}")]
    Graph(String),
}

/// A [`ModelError`] with the file it came from, for messages a user can act on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", path.display())]
pub struct ModelLoadError {
    pub path: PathBuf,
    pub error: ModelError,
}

/// Where a model came from, so a session can say what is playing.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    /// Compiled into the binary: a [`BuiltInModel`]'s name (or a test's label).
    Embedded(&'static str),
    File(PathBuf),
}

/// Which kind of file a model came from and how it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    /// `models/FORMAT.md`: one frame in, one out, recurrent state in/out; native kernels.
    OnnxStateful,
    /// The seed layout: a window of T frames in, T frames out; tract on a worker thread.
    OnnxWindowed { window_frames: usize },
    /// A DDSP-VST "predict controls" export; native kernels.
    DdspVstTflite,
}

impl std::fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OnnxStateful => write!(f, "ONNX, stateful ({})", meta::FORMAT_RNN_FC_V1),
            Self::OnnxWindowed { window_frames } => write!(f, "ONNX, stateless windowed ({window_frames} frames)"),
            Self::DdspVstTflite => write!(f, "TensorFlow Lite, DDSP-VST predict-controls export"),
        }
    }
}

/// A tensor of the model's own interface: its name and the shape of one frame of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

impl TensorSpec {
    pub fn new(name: impl Into<String>, shape: &[usize]) -> Self {
        Self { name: name.into(), shape: shape.to_vec() }
    }

    /// Values in one frame of this tensor.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A model's native interface, as its file declares it: the per-frame inputs and outputs, and the
/// recurrent state tensors the runtime carries itself (for `ddsp info` and `ddsp infer`).
#[derive(Clone, Debug, PartialEq)]
pub struct NativeIo {
    pub format: ModelFormat,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub state: Vec<TensorSpec>,
}

/// What runs the model's frames.
#[derive(Clone)]
enum Network {
    Native(Box<DecoderWeights>),
    Windowed(Arc<WindowedGraph>),
}

/// A loaded, validated, immutable model. Share it between voices with `Arc`.
#[derive(Clone)]
pub struct Model {
    pub meta: ModelMeta,
    pub source: ModelSource,
    io: NativeIo,
    network: Network,
    run_mode: RunMode,
    /// The host's pace, for windowed models' real-time streams (`None`: never wait for a worker).
    pace: Option<Arc<HostPace>>,
    /// For reduced-precision weights chosen by [`Model::with_precision`]: how far the probe sweep
    /// found them from the f32 model, dB.
    probe_deviation_db: Option<f32>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("meta", &self.meta).field("source", &self.source).field("io", &self.io).finish()
    }
}

/// One voice's state for a [`Model`]: recurrent state and scratch, or a windowed stream.
pub struct ModelState {
    inner: StateInner,
}

enum StateInner {
    Native(DecoderState),
    Windowed(windowed::WindowedStream),
}

/// DDSP's pitch scaling: MIDI note number / 127, with `f0 ≤ 0` mapped to note 0.
#[inline]
pub fn scale_f0(f0_hz: f32) -> f32 {
    let midi = 12.0 * (f0_hz.max(1e-3) / 440.0).log2() + 69.0;
    midi.max(0.0) / 127.0
}

/// DDSP's loudness scaling: dB / 80 + 1 (so −80 dB → 0, 0 dB → 1).
#[inline]
pub fn scale_loudness(loudness_db: f32) -> f32 {
    loudness_db / 80.0 + 1.0
}

/// Quietest loudness the engine produces or accepts, dB (DDSP's silence floor is −120 dB).
pub const LOUDNESS_FLOOR_DB: f32 = -120.0;

impl Model {
    /// The embedded default model. Allocates; never fails (its bytes are checked by the test suite).
    pub fn embedded_default() -> Self {
        BuiltInModel::default_model().load()
    }

    /// Loads and validates a model file: ONNX per `models/FORMAT.md` (checked against tract on
    /// probe inputs) or a DDSP-VST `.tflite` export (recognised by its `TFL3` identifier). Allocates
    /// and may take a few hundred ms: never call it on the audio thread.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelLoadError> {
        let path = path.as_ref();
        let wrap = |error| ModelLoadError { path: path.to_owned(), error };
        let bytes = read_bounded(path).map_err(wrap)?;
        Self::from_bytes(&bytes, ModelSource::File(path.to_owned())).map_err(wrap)
    }

    /// Like [`Model::load`], from bytes already in memory.
    pub fn from_bytes(bytes: &[u8], source: ModelSource) -> Result<Self, ModelError> {
        if bytes.is_empty() {
            return Err(ModelError::Empty);
        }
        if bytes.len() as u64 > MAX_MODEL_BYTES {
            return Err(ModelError::TooLarge { actual: bytes.len() as u64, max: MAX_MODEL_BYTES });
        }
        let model = if tflite::is_tflite(bytes) {
            let name = match &source {
                ModelSource::File(path) => path.file_stem().map(|s| s.to_string_lossy().into_owned()),
                ModelSource::Embedded(name) => Some((*name).to_owned()),
            };
            tflite::load(bytes, source, name.as_deref().unwrap_or("DDSP-VST model"))?
        } else {
            onnx::load(bytes, source, true)?
        };
        model.check_sounds()?;
        Ok(model)
    }

    /// The validation render: [`SOUND_CHECK_FRAMES`] frames at the middle of the model's own
    /// trained pitch and loudness ranges must give finite controls, and sound (some frame with a
    /// harmonic amplitude or a noise magnitude above [`SOUND_CHECK_FLOOR`]). A file that parses but
    /// cannot make a sound (zeroed or truncated weights) is refused like a broken file, so the
    /// previous model keeps playing. Allocates (windowed models run inline).
    pub fn check_sounds(&self) -> Result<(), ModelError> {
        let f0_hz = (self.meta.f0_min_hz.max(1.0) * self.meta.f0_max_hz.max(1.0)).sqrt();
        let loudness_db = 0.5 * (self.meta.loudness_min_db + self.meta.loudness_max_db);
        let silent = |why| ModelError::Silent { frames: SOUND_CHECK_FRAMES, f0_hz, loudness_db, why };
        let model = self.clone().with_run_mode(RunMode::Offline);
        let mut state = model.new_state();
        let mut loudest = 0.0f32;
        for _ in 0..SOUND_CHECK_FRAMES {
            let c = model.infer(f0_hz, loudness_db, &mut state);
            let values = std::iter::once(c.amplitude).chain(c.harmonic_distribution.iter().copied());
            if !values.clone().chain(c.noise_magnitudes.iter().copied()).all(f32::is_finite) {
                return Err(silent("NaN or infinite controls"));
            }
            let harmonic = c.amplitude * c.harmonic_distribution.iter().fold(0.0f32, |m, &d| m.max(d));
            let noise = c.noise_magnitudes.iter().fold(0.0f32, |m, &n| m.max(n));
            loudest = loudest.max(harmonic).max(noise);
        }
        if loudest > SOUND_CHECK_FLOOR {
            Ok(())
        } else {
            Err(silent("silence (no harmonic amplitude or noise magnitude above -120 dB)"))
        }
    }

    /// Builds a model from weights already in memory (benchmarks, importers), with the native
    /// interface of `models/FORMAT.md`. Allocates.
    pub fn from_parts(meta: ModelMeta, decoder: DecoderWeights, source: ModelSource) -> Self {
        let io = onnx::native_io(&meta, decoder.n_hidden());
        Self {
            meta,
            source,
            io,
            network: Network::Native(Box::new(decoder)),
            run_mode: RunMode::RealTime,
            pace: None,
            probe_deviation_db: None,
        }
    }

    /// A windowed model (tract runs it; see [`windowed`]).
    fn from_windowed(meta: ModelMeta, graph: WindowedGraph, source: ModelSource) -> Self {
        let io = NativeIo {
            format: ModelFormat::OnnxWindowed { window_frames: graph.window() },
            inputs: vec![TensorSpec::new(windowed::names::F0_HZ, &[1]), TensorSpec::new(graph.loudness_name(), &[1])],
            outputs: graph.outputs().to_vec(),
            state: vec![],
        };
        Self {
            meta,
            source,
            io,
            network: Network::Windowed(Arc::new(graph)),
            run_mode: RunMode::RealTime,
            pace: None,
            probe_deviation_db: None,
        }
    }

    /// The same model with another native interface description (importers).
    pub(crate) fn with_io(mut self, io: NativeIo) -> Self {
        self.io = io;
        self
    }

    /// The same model with voices running in `mode` (offline renderers choose
    /// [`RunMode::Offline`]: reproducible output; only windowed models differ).
    pub fn with_run_mode(mut self, mode: RunMode) -> Self {
        self.run_mode = mode;
        self
    }

    /// The same model with its real-time voices following `pace`: a windowed model's stream then
    /// waits for its worker when the host renders offline or evidently faster than real time
    /// (see [`pace`]). Native models never wait and ignore it.
    pub fn with_pace(mut self, pace: Arc<HostPace>) -> Self {
        self.pace = Some(pace);
        self
    }

    pub fn format(&self) -> ModelFormat {
        self.io.format
    }

    pub fn native_io(&self) -> &NativeIo {
        &self.io
    }

    /// The native decoder (`None` for windowed models, which tract runs).
    pub fn decoder(&self) -> Option<&DecoderWeights> {
        match &self.network {
            Network::Native(d) => Some(d.as_ref()),
            Network::Windowed(_) => None,
        }
    }

    /// Stores the native decoder's weight matrices as f16 (`(converted, total)`; `(0, 0)` for a
    /// windowed model). Call at load, before sharing the model: allocates.
    pub fn to_f16(&mut self) -> (usize, usize) {
        match &mut self.network {
            Network::Native(d) => d.to_f16(),
            Network::Windowed(_) => (0, 0),
        }
    }

    /// Stores the native decoder's weight matrices as int8 with a scale per output row (see
    /// [`kernels::Dense::to_int8`]; `(converted, total)`, `(0, 0)` for a windowed model). Call at
    /// load, before sharing the model: allocates.
    pub fn to_int8(&mut self) -> (usize, usize) {
        match &mut self.network {
            Network::Native(d) => d.to_int8(),
            Network::Windowed(_) => (0, 0),
        }
    }

    /// Stores the native decoder's weight matrices as f32 (the exact values of f16 or int8 ones).
    /// Call at load, before sharing the model: allocates.
    pub fn to_f32(&mut self) {
        if let Network::Native(d) = &mut self.network {
            d.to_f32();
        }
    }

    /// The windowed graph (`None` for recurrent models).
    pub fn windowed_graph(&self) -> Option<&Arc<WindowedGraph>> {
        match &self.network {
            Network::Native(_) => None,
            Network::Windowed(g) => Some(g),
        }
    }

    /// Recurrent state size (0 for windowed models).
    pub fn n_hidden(&self) -> usize {
        self.decoder().map_or(0, DecoderWeights::n_hidden)
    }

    /// Frames between a frame's inputs and its controls: 0 for native models,
    /// [`WINDOWED_DELAY_FRAMES`] for windowed ones.
    pub fn latency_frames(&self) -> usize {
        match self.network {
            Network::Native(_) => 0,
            Network::Windowed(_) => WINDOWED_DELAY_FRAMES,
        }
    }

    /// [`Model::latency_frames`] in samples at `sample_rate_hz`.
    pub fn latency_samples(&self, sample_rate_hz: f32) -> u32 {
        (self.latency_frames() as f64 * f64::from(sample_rate_hz) / f64::from(self.meta.frame_rate_hz)).round() as u32
    }

    /// A zeroed state for one voice (for a windowed model in real-time mode this starts the voice's
    /// worker thread). Allocates.
    pub fn new_state(&self) -> ModelState {
        let inner = match &self.network {
            Network::Native(d) => StateInner::Native(d.new_state()),
            Network::Windowed(g) => {
                StateInner::Windowed(windowed::WindowedStream::new(g.clone(), self.run_mode, self.pace.clone()))
            }
        };
        ModelState { inner }
    }

    /// Zeroes the state (a new phrase). Never allocates.
    pub fn reset_state(&self, state: &mut ModelState) {
        match &mut state.inner {
            StateInner::Native(d) => d.hidden.iter_mut().for_each(|h| *h = 0.0),
            StateInner::Windowed(w) => w.reset(),
        }
    }

    /// Scratch to run up to `capacity` voices' frames as one batch ([`Model::infer_batch`]);
    /// `None` for windowed models, which run on their own threads. Allocates.
    pub fn new_batch(&self, capacity: usize) -> Option<DecoderBatch> {
        match &self.network {
            Network::Native(decoder) => Some(decoder.new_batch(capacity)),
            Network::Windowed(_) => None,
        }
    }

    /// The inputs [`Model::infer`] actually runs on: f0 (non-finite or ≤ 0 → the bottom of the
    /// trained range) and loudness (non-finite → the floor), in DDSP's scaled units.
    fn scaled_inputs(&self, f0_hz: f32, loudness_db: f32) -> (f32, f32) {
        let f0_hz = if f0_hz.is_finite() && f0_hz > 0.0 { f0_hz } else { self.meta.f0_min_hz };
        let loudness_db = if loudness_db.is_finite() { loudness_db.max(LOUDNESS_FLOOR_DB) } else { LOUDNESS_FLOOR_DB };
        (scale_f0(f0_hz), scale_loudness(loudness_db))
    }

    /// Puts one voice's frame into row `slot` of `batch`; false when this state cannot be batched
    /// (a windowed model's), and the voice then runs [`Model::infer`] itself.
    pub fn batch_load(
        &self,
        batch: &mut DecoderBatch,
        slot: usize,
        f0_hz: f32,
        loudness_db: f32,
        state: &ModelState,
    ) -> bool {
        let StateInner::Native(d) = &state.inner else { return false };
        if !matches!(self.network, Network::Native(_)) || slot >= batch.capacity() {
            return false;
        }
        let (f0, ld) = self.scaled_inputs(f0_hz, loudness_db);
        batch.load(slot, f0, ld, d);
        true
    }

    /// Runs the first `n` rows of `batch` as one batch: every weight matrix is read once for all
    /// of them. Bit-identical to [`Model::infer`] per voice. Never allocates.
    pub fn infer_batch(&self, batch: &mut DecoderBatch, n: usize) {
        if let Network::Native(decoder) = &self.network {
            decoder.forward_batch(batch, n);
        }
    }

    /// Row `slot`'s results into the voice's state (recurrent state and controls), with
    /// [`Model::infer_scaled`]'s guard against a non-finite state.
    pub fn batch_store(&self, batch: &DecoderBatch, slot: usize, state: &mut ModelState) {
        if let (Network::Native(decoder), StateInner::Native(d)) = (&self.network, &mut state.inner) {
            batch.store(slot, decoder, d);
            Self::guard(d);
        }
    }

    /// The controls of the last frame `state` ran.
    pub fn last_controls<'s>(&self, state: &'s ModelState) -> Option<&'s FrameControls> {
        match &state.inner {
            StateInner::Native(d) => Some(&d.controls),
            StateInner::Windowed(_) => None,
        }
    }

    /// Should the state ever turn non-finite it is zeroed and the frame is silent.
    fn guard(state: &mut DecoderState) {
        let c = &mut state.controls;
        let finite = c.amplitude.is_finite()
            && state.hidden.iter().all(|h| h.is_finite())
            && c.harmonic_distribution.iter().chain(&c.noise_magnitudes).all(|v| v.is_finite());
        if !finite {
            state.hidden.iter_mut().for_each(|h| *h = 0.0);
            c.amplitude = 0.0;
            c.harmonic_distribution.iter_mut().chain(c.noise_magnitudes.iter_mut()).for_each(|v| *v = 0.0);
        }
    }

    /// Runs one frame: f0 in Hz and A-weighted loudness in dB in, controls out. Never allocates.
    /// Non-finite inputs are replaced (f0 by the bottom of the trained range, loudness by the floor),
    /// then the frame runs through [`Model::infer_scaled`].
    pub fn infer<'s>(&self, f0_hz: f32, loudness_db: f32, state: &'s mut ModelState) -> &'s FrameControls {
        if matches!(state.inner, StateInner::Windowed(_)) {
            let f0_hz = if f0_hz.is_finite() && f0_hz > 0.0 { f0_hz } else { self.meta.f0_min_hz };
            let loudness_db =
                if loudness_db.is_finite() { loudness_db.max(LOUDNESS_FLOOR_DB) } else { LOUDNESS_FLOOR_DB };
            let StateInner::Windowed(stream) = &mut state.inner else { unreachable!() };
            return stream.push(f0_hz, loudness_db);
        }
        let (f0, ld) = self.scaled_inputs(f0_hz, loudness_db);
        self.infer_scaled(f0, ld, state)
    }

    /// One frame from inputs already in DDSP's scaled units (`f0_scaled = MIDI/127`,
    /// `ld_scaled = dB/80 + 1`), the form DDSP-VST's exports take. Never allocates. Should the
    /// state ever turn non-finite it is zeroed and the frame is silent.
    pub fn infer_scaled<'s>(
        &self,
        f0_scaled: f32,
        loudness_scaled: f32,
        state: &'s mut ModelState,
    ) -> &'s FrameControls {
        let (decoder, state) = match (&self.network, &mut state.inner) {
            (Network::Native(decoder), StateInner::Native(state)) => (decoder, state),
            (_, StateInner::Windowed(stream)) => {
                let f0_hz = 440.0 * ((f0_scaled * 127.0 - 69.0) / 12.0).exp2();
                return stream.push(f0_hz, (loudness_scaled - 1.0) * 80.0);
            }
            (Network::Windowed(_), StateInner::Native(_)) => unreachable!("a state belongs to its model"),
        };
        decoder.forward(f0_scaled, loudness_scaled, state);
        Self::guard(state);
        &state.controls
    }

    /// The recurrent state of `state` (empty for windowed models; parity tests).
    pub fn hidden<'s>(&self, state: &'s ModelState) -> &'s [f32] {
        match &state.inner {
            StateInner::Native(d) => &d.hidden[..self.n_hidden()],
            StateInner::Windowed(_) => &[],
        }
    }

    /// Sets the recurrent state of `state` (parity tests: both runtimes stepped from the same
    /// state). Ignored for windowed models and for a slice of another length.
    pub fn set_hidden(&self, state: &mut ModelState, hidden: &[f32]) {
        if let StateInner::Native(d) = &mut state.inner {
            if hidden.len() == self.n_hidden() {
                d.hidden[..hidden.len()].copy_from_slice(hidden);
            }
        }
    }

    /// Windowed models in real time: frames whose controls arrived late and were held over.
    pub fn missed_frames(&self, state: &ModelState) -> u64 {
        match &state.inner {
            StateInner::Native(_) => 0,
            StateInner::Windowed(w) => w.missed_frames(),
        }
    }
}

/// Runs a model on its *native* tensors one frame at a time, carrying the recurrent state (or the
/// window) itself: what `ddsp infer --raw` does, for checking a model against another runtime.
/// Allocates; not for the audio thread.
pub struct NativeRunner<'m> {
    model: &'m Model,
    state: ModelState,
    window: Option<(Vec<f32>, Vec<f32>)>,
}

impl<'m> NativeRunner<'m> {
    pub fn new(model: &'m Model) -> Self {
        let window = model.windowed_graph().map(|g| {
            let n = g.window();
            (vec![model.meta.f0_min_hz; n], vec![LOUDNESS_FLOOR_DB; n])
        });
        let offline = model.clone().with_run_mode(RunMode::Offline);
        Self { model, state: offline.new_state(), window }
    }

    /// One frame: `inputs[i]` holds the values of `native_io().inputs[i]`; returns the values of
    /// every `native_io().outputs[i]`, exactly as the model's own runtime would produce them.
    pub fn step(&mut self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let io = &self.model.io;
        for (spec, values) in io.inputs.iter().zip(inputs) {
            if values.len() != spec.len() {
                return Err(ModelError::ShapeMismatch {
                    name: spec.name.clone(),
                    expected: spec.shape.clone(),
                    actual: vec![values.len()],
                });
            }
        }
        let [a, b] = [0, 1].map(|i| inputs.get(i).and_then(|v| v.first()).copied().unwrap_or(f32::NAN));
        if let (Some(graph), Some((f0, ld))) = (self.model.windowed_graph(), &mut self.window) {
            f0.rotate_left(1);
            ld.rotate_left(1);
            *f0.last_mut().expect("window ≥ 1") = a;
            *ld.last_mut().expect("window ≥ 1") = b;
            return graph.run_window(f0, ld);
        }
        let controls = match io.format {
            ModelFormat::DdspVstTflite => self.model.infer_scaled(a, b, &mut self.state).clone(),
            _ => self.model.infer(a, b, &mut self.state).clone(),
        };
        let mut distribution = controls.harmonic_distribution;
        if io.format == ModelFormat::DdspVstTflite {
            // DDSP-VST's graph masks harmonics at or above the model's Nyquist and normalises.
            let f0_hz = 440.0 * ((a * 127.0 - 69.0) / 12.0).exp2();
            let nyquist = 0.5 * self.model.meta.sample_rate_hz;
            for (k, d) in distribution.iter_mut().enumerate() {
                if (k + 1) as f32 * f0_hz >= nyquist {
                    *d = 0.0;
                }
            }
            let sum: f32 = distribution.iter().sum();
            if sum > 0.0 {
                distribution.iter_mut().for_each(|d| *d /= sum);
            }
        }
        Ok(vec![vec![controls.amplitude], distribution, controls.noise_magnitudes])
    }
}

/// Longest tract may take to analyse and run a graph at load. Malformed graphs can send tract's
/// type solver into an endless loop (found by `tests/model_fuzz.rs`); such a file is refused after
/// this long instead of hanging the loader.
pub const GRAPH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs `f` (tract work) on its own thread, [`guarded`], and gives up after [`GRAPH_DEADLINE`].
/// On a timeout the thread is left to finish or spin on its own: Rust cannot stop a thread, and a
/// stuck background thread is better than a stuck loader (or GUI). Allocates; never on the audio
/// thread.
pub(crate) fn within_deadline<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, ModelError> + Send + 'static,
) -> Result<T, ModelError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("ddsp-model-check".into())
        .spawn(move || {
            let _ = tx.send(guarded(f));
        })
        .map_err(ModelError::Io)?;
    rx.recv_timeout(GRAPH_DEADLINE).unwrap_or_else(|_| {
        Err(ModelError::Graph(format!("tract did not finish {what} within {} s", GRAPH_DEADLINE.as_secs())))
    })
}

/// Runs `f`, turning a panic inside tract (malformed graphs can trip its internal asserts) into an
/// error: no model file may take the process down.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, ModelError>) -> Result<T, ModelError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(ModelError::Graph(format!("tract failed on this graph: {what}")))
    })
}

/// Converts one frame of controls into per-harmonic linear amplitudes the way DDSP's `Harmonic`
/// processor does: harmonics at or above the *model's* Nyquist (which it never heard) are removed,
/// the distribution is renormalised to sum to one and scaled by the overall amplitude.
/// Writes `harmonic_distribution.len()` values into `amplitudes`. Never allocates.
pub fn harmonic_amplitudes(controls: &FrameControls, f0_hz: f32, model_sample_rate_hz: f32, amplitudes: &mut [f32]) {
    let model_nyquist_hz = 0.5 * model_sample_rate_hz;
    let mut sum = 0.0;
    for (k, (a, &d)) in amplitudes.iter_mut().zip(&controls.harmonic_distribution).enumerate() {
        let audible = (k + 1) as f32 * f0_hz < model_nyquist_hz;
        *a = if audible { d } else { 0.0 };
        sum += *a;
    }
    let scale = if sum > 0.0 { controls.amplitude / sum } else { 0.0 };
    amplitudes.iter_mut().for_each(|a| *a *= scale);
}

/// What kind of thing a path that is not a regular file is.
fn not_a_file(file_type: std::fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Some("FIFO");
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return Some("device");
        }
        if file_type.is_socket() {
            return Some("socket");
        }
    }
    Some(if file_type.is_dir() { "directory" } else { "special file" })
}

/// Reads a model file, at most [`MAX_MODEL_BYTES`]: special files (FIFO, device, directory) are
/// refused before opening (a FIFO would block, `/dev/zero` never ends), and the read itself is
/// bounded, not trusting the size the file system reports.
fn read_bounded(path: &Path) -> Result<Vec<u8>, ModelError> {
    use std::io::Read;
    let metadata = std::fs::metadata(path)?;
    if let Some(kind) = not_a_file(metadata.file_type()) {
        return Err(ModelError::NotAFile { kind });
    }
    if metadata.len() > MAX_MODEL_BYTES {
        return Err(ModelError::TooLarge { actual: metadata.len(), max: MAX_MODEL_BYTES });
    }
    let file = std::fs::File::open(path)?;
    // Replaced between the check and the open: check what was opened.
    if let Some(kind) = not_a_file(file.metadata()?.file_type()) {
        return Err(ModelError::NotAFile { kind });
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_MODEL_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_MODEL_BYTES {
        return Err(ModelError::TooLarge { actual: bytes.len() as u64, max: MAX_MODEL_BYTES });
    }
    Ok(bytes)
}
