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
pub mod tflite;

use std::path::{Path, PathBuf};

pub use decoder::{DecoderState, DecoderWeights, FrameControls};
pub use meta::ModelMeta;

/// Largest model file accepted: DDSP-VST's biggest exports are ~20 MB, so 200 MB is a broken file.
pub const MAX_MODEL_BYTES: u64 = 200 * 1024 * 1024;

/// Native kernels and tract must agree this closely on every output at load.
pub const VERIFY_TOLERANCE: f32 = 1e-4;

/// The model every plugin instance plays when no other is loaded (see `models/default.md`).
pub static EMBEDDED_DEFAULT_ONNX: &[u8] = include_bytes!("../../models/default.onnx");
pub const EMBEDDED_DEFAULT_NAME: &str = "embedded:default";

/// Why a model could not be loaded. Numeric fields carry what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file is empty")]
    Empty,
    #[error("the file is {actual} bytes; a model may have at most {max}")]
    TooLarge { actual: u64, max: u64 },
    #[error("not an ONNX model ({0})")]
    NotOnnx(String),
    #[error("not a TensorFlow Lite model ({0})")]
    NotTflite(String),
    #[error("metadata '{key}' is missing")]
    MissingMetadata { key: &'static str },
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
    Embedded(&'static str),
    File(PathBuf),
}

/// A loaded, validated, immutable model. Share it between voices with `Arc`.
#[derive(Clone)]
pub struct Model {
    pub meta: ModelMeta,
    pub source: ModelSource,
    decoder: DecoderWeights,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("meta", &self.meta)
            .field("source", &self.source)
            .field("hidden", &self.decoder.n_hidden())
            .field("macs_per_frame", &self.decoder.macs_per_frame())
            .finish()
    }
}

/// One voice's recurrent state and scratch for a [`Model`].
#[derive(Clone, Debug)]
pub struct ModelState {
    decoder: DecoderState,
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
        onnx::load(EMBEDDED_DEFAULT_ONNX, ModelSource::Embedded(EMBEDDED_DEFAULT_NAME), false)
            .expect("the embedded default model is validated by the test suite")
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
        if tflite::is_tflite(bytes) {
            let name = match &source {
                ModelSource::File(path) => path.file_stem().map(|s| s.to_string_lossy().into_owned()),
                ModelSource::Embedded(name) => Some((*name).to_owned()),
            };
            return tflite::load(bytes, source, name.as_deref().unwrap_or("DDSP-VST model"));
        }
        onnx::load(bytes, source, true)
    }

    /// Builds a model from weights already in memory (benchmarks, importers). Allocates.
    pub fn from_parts(meta: ModelMeta, decoder: DecoderWeights, source: ModelSource) -> Self {
        Self { meta, source, decoder }
    }

    pub fn decoder(&self) -> &DecoderWeights {
        &self.decoder
    }

    /// A zeroed recurrent state and scratch for one voice. Allocates.
    pub fn new_state(&self) -> ModelState {
        ModelState { decoder: self.decoder.new_state() }
    }

    /// Zeroes the recurrent state (a new phrase).
    pub fn reset_state(&self, state: &mut ModelState) {
        state.decoder.hidden.iter_mut().for_each(|h| *h = 0.0);
    }

    /// Runs one frame: f0 in Hz and A-weighted loudness in dB in, controls out. Never allocates.
    /// Non-finite inputs are replaced (f0 by the bottom of the trained range, loudness by the floor),
    /// then the frame runs through [`Model::infer_scaled`].
    pub fn infer<'s>(&self, f0_hz: f32, loudness_db: f32, state: &'s mut ModelState) -> &'s FrameControls {
        let f0_hz = if f0_hz.is_finite() && f0_hz > 0.0 { f0_hz } else { self.meta.f0_min_hz };
        let loudness_db = if loudness_db.is_finite() { loudness_db.max(LOUDNESS_FLOOR_DB) } else { LOUDNESS_FLOOR_DB };
        self.infer_scaled(scale_f0(f0_hz), scale_loudness(loudness_db), state)
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
        self.decoder.forward(f0_scaled, loudness_scaled, &mut state.decoder);
        let c = &mut state.decoder.controls;
        let finite = c.amplitude.is_finite()
            && state.decoder.hidden.iter().all(|h| h.is_finite())
            && c.harmonic_distribution.iter().chain(&c.noise_magnitudes).all(|v| v.is_finite());
        if !finite {
            state.decoder.hidden.iter_mut().for_each(|h| *h = 0.0);
            c.amplitude = 0.0;
            c.harmonic_distribution.iter_mut().chain(c.noise_magnitudes.iter_mut()).for_each(|v| *v = 0.0);
        }
        &state.decoder.controls
    }

    /// The recurrent state of `state` (for parity tests and `ddsp infer`).
    pub fn hidden<'s>(&self, state: &'s ModelState) -> &'s [f32] {
        &state.decoder.hidden[..self.decoder.n_hidden()]
    }
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

fn read_bounded(path: &Path) -> Result<Vec<u8>, ModelError> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_MODEL_BYTES {
        return Err(ModelError::TooLarge { actual: len, max: MAX_MODEL_BYTES });
    }
    Ok(std::fs::read(path)?)
}
