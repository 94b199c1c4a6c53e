//! Stateless windowed ONNX models (the seed layout): `f0_hz` and `loudness` `[1, T]` in, per-frame
//! controls `[1, T, n]` out, run over a sliding window of the last T frames.
//!
//! # Why these run on a worker thread, with a fixed delay
//! A windowed graph can hold any op (convolutions, attention, ...), so it cannot be compiled into
//! our native kernels; tract runs it, and tract allocates inside `run()`. On the real-time path each
//! voice therefore owns a worker thread: the audio thread pushes each frame's f0 and loudness into a
//! lock-free ring, the worker slides the window, runs the graph and pushes the last frame's controls
//! back. The audio thread uses the controls of frame `n − WINDOWED_DELAY_FRAMES` at frame `n` and,
//! in real time, never waits: a late result (a missed deadline) holds the previous controls and is
//! counted. The delay is part of the model's reported latency.
//!
//! A host that renders offline, or evidently faster than real time, would otherwise get nothing
//! but late results (a silent export): given a [`HostPace`] the stream waits for each result, in
//! step with the audio, as long as the pace allows (see [`super::pace`]). The worker then computes
//! exactly what the inline offline mode computes, and the audio thread still never allocates.
//!
//! Offline (the renderer, `ddsp infer`, tests) the graph runs inline with the same delay, so an
//! offline render equals a real-time one that met every deadline, and is reproducible.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, RingBuffer};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use super::decoder::FrameControls;
use super::meta::{keys, ModelMeta};
use super::pace::HostPace;
use super::{guarded, within_deadline, ModelError, TensorSpec, LOUDNESS_FLOOR_DB};

/// Frames between a frame's inputs and the use of its controls on the real-time path.
pub const WINDOWED_DELAY_FRAMES: usize = 2;

/// The format identifier a windowed model may declare in `ddsp.format`.
pub const FORMAT_WINDOWED_V1: &str = "ddsp-windowed/1";

/// Window used when the graph's time axis is symbolic and the metadata names none.
const DEFAULT_WINDOW_FRAMES: usize = 64;
/// Largest window accepted (a graph run per frame must stay cheap).
const MAX_WINDOW_FRAMES: usize = 4096;

/// Tensor names of the seed layout (alternatives accepted in brackets in `models/FORMAT.md`).
pub mod names {
    pub const F0_HZ: &str = "f0_hz";
    pub const LOUDNESS: [&str; 2] = ["loudness", "loudness_db"];
    pub const AMPLITUDE: &str = "amplitude";
    pub const HARMONIC_AMPS: &str = "harmonic_amps";
    pub const HARMONIC_DIST: [&str; 2] = ["harmonic_dist", "harmonic_distribution"];
    pub const NOISE_MAGS: [&str; 2] = ["noise_mags", "noise_magnitudes"];
    pub const WINDOW_FRAMES_KEY: &str = "ddsp.window_frames";
}

/// True when the graph has the seed layout's inputs (and no recurrent state input).
pub fn is_windowed(graph: &pb::GraphProto) -> bool {
    let has = |n: &str| graph.input.iter().any(|i| i.name == n);
    has(names::F0_HZ) && names::LOUDNESS.iter().any(|n| has(n)) && !has(super::onnx::names::STATE_IN)
}

/// Which graph output holds what.
#[derive(Clone, Debug)]
struct OutputSlots {
    amplitude: Option<usize>,
    harmonic_amps: Option<usize>,
    harmonic_dist: Option<usize>,
    noise: usize,
}

/// One graph output: its shape and values.
type ShapedValues = (Vec<usize>, Vec<f32>);

/// A loaded windowed graph. Shared by all voices; running it allocates.
pub struct WindowedGraph {
    plan: Arc<TypedSimplePlan>,
    window: usize,
    f0_slot: usize,
    loudness_name: String,
    /// Graph outputs in their declared order, with what each one is.
    outputs: Vec<TensorSpec>,
    slots: OutputSlots,
    n_harmonics: usize,
    n_noise_bands: usize,
    /// Loudness fed to the window before a phrase starts.
    silence: (f32, f32),
}

impl std::fmt::Debug for WindowedGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedGraph").field("window", &self.window).field("outputs", &self.outputs).finish()
    }
}

fn fixed_dims(info: &pb::ValueInfoProto) -> Vec<Option<usize>> {
    use pb::tensor_shape_proto::dimension::Value;
    let Some(pb::type_proto::Value::TensorType(t)) = info.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return vec![];
    };
    t.shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(Value::DimValue(v)) if v > 0 => Some(v as usize),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The metadata of a windowed model: `ddsp.*` keys where present, the seed's defaults otherwise.
fn windowed_meta(proto: &pb::ModelProto) -> Result<(ModelMeta, Option<usize>), ModelError> {
    let get = |key: &str| proto.metadata_props.iter().find(|p| p.key == key).map(|p| p.value.trim());
    if let Some(format) = get(keys::FORMAT) {
        if format != FORMAT_WINDOWED_V1 {
            return Err(ModelError::Unsupported(format!(
                "model format '{format}' on a windowed graph (expected '{FORMAT_WINDOWED_V1}')"
            )));
        }
    }
    // A model that declares its format declares its ranges too: one without them lost its
    // metadata (a file truncated among its metadata entries still parses) and is refused rather
    // than conditioned with guessed ranges. Seed-layout files without `ddsp.format` get the defaults.
    let declared = get(keys::FORMAT).is_some();
    let number = |key: &'static str, default: f32| -> Result<f32, ModelError> {
        match get(key) {
            None if declared => Err(ModelError::MissingMetadata { key }),
            None => Ok(default),
            Some(v) => v
                .parse::<f32>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| ModelError::BadMetadata { key, value: v.to_owned() }),
        }
    };
    let window = match get(names::WINDOW_FRAMES_KEY) {
        None => None,
        Some(v) => Some(
            v.parse::<usize>()
                .ok()
                .filter(|w| (1..=MAX_WINDOW_FRAMES).contains(w))
                .ok_or_else(|| ModelError::BadMetadata { key: names::WINDOW_FRAMES_KEY, value: v.to_owned() })?,
        ),
    };
    let text = |key: &str, default: &str| get(key).unwrap_or(default).to_owned();
    let meta = ModelMeta {
        name: text(keys::NAME, "Windowed ONNX model"),
        instrument: text(keys::INSTRUMENT, ""),
        licence: text(keys::LICENCE, ""),
        description: text(keys::DESCRIPTION, "stateless windowed decoder (seed layout)"),
        sample_rate_hz: number(keys::SAMPLE_RATE_HZ, 48_000.0)?,
        frame_rate_hz: number(keys::FRAME_RATE_HZ, 250.0)?,
        n_harmonics: 0,
        n_noise_bands: 0,
        f0_min_hz: number(keys::F0_MIN_HZ, 30.0)?,
        f0_max_hz: number(keys::F0_MAX_HZ, 2_000.0)?,
        loudness_min_db: number(keys::LOUDNESS_MIN_DB, -70.0)?,
        loudness_max_db: number(keys::LOUDNESS_MAX_DB, -10.0)?,
    };
    Ok((meta, window))
}

/// Reads and validates a windowed model: names, shapes, a probe run. Allocates.
pub fn load(bytes: &[u8], proto: &pb::ModelProto) -> Result<(ModelMeta, WindowedGraph), ModelError> {
    let graph = proto.graph.as_ref().ok_or_else(|| ModelError::NotOnnx("the file has no graph".into()))?;
    let (mut meta, declared_window) = windowed_meta(proto)?;
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> =
        graph.input.iter().filter(|i| !initializers.contains(&i.name.as_str())).collect();
    if inputs.len() != 2 {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(ModelError::Unsupported(format!(
            "a windowed model takes exactly f0_hz and loudness [1, T]; this one takes {names:?}"
        )));
    }
    let f0_slot = inputs.iter().position(|i| i.name == names::F0_HZ).expect("checked by is_windowed");
    // Window length: the graph's fixed time axis, else the metadata, else the default.
    let mut window = None;
    for input in &inputs {
        let dims = fixed_dims(input);
        if dims.len() != 2 || dims[0].is_some_and(|b| b != 1) {
            return Err(ModelError::ShapeMismatch {
                name: input.name.clone(),
                expected: vec![1, declared_window.unwrap_or(0)],
                actual: dims.iter().map(|d| d.unwrap_or(0)).collect(),
            });
        }
        if let Some(t) = dims[1] {
            if window.is_some_and(|w| w != t) || declared_window.is_some_and(|w| w != t) {
                return Err(ModelError::ShapeMismatch {
                    name: input.name.clone(),
                    expected: vec![1, window.or(declared_window).unwrap_or(t)],
                    actual: vec![1, t],
                });
            }
            window = Some(t);
        }
    }
    let window = window.or(declared_window).unwrap_or(DEFAULT_WINDOW_FRAMES);
    if window > MAX_WINDOW_FRAMES {
        return Err(ModelError::Unsupported(format!("a window of {window} frames (at most {MAX_WINDOW_FRAMES})")));
    }

    let output_names: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let find = |candidates: &[&str]| output_names.iter().position(|n| candidates.contains(n));
    let slots = OutputSlots {
        amplitude: find(&[names::AMPLITUDE]),
        harmonic_amps: find(&[names::HARMONIC_AMPS]),
        harmonic_dist: find(&names::HARMONIC_DIST),
        noise: find(&names::NOISE_MAGS)
            .ok_or_else(|| ModelError::MissingTensor { name: "graph output noise_mags [1, T, M]".into() })?,
    };
    if slots.harmonic_amps.is_none() && (slots.amplitude.is_none() || slots.harmonic_dist.is_none()) {
        return Err(ModelError::MissingTensor {
            name: "graph output harmonic_amps [1, T, K] (or amplitude [1, T, 1] with harmonic_dist [1, T, K])".into(),
        });
    }

    let owned = bytes.to_vec();
    let plan = within_deadline("analysing the graph", move || {
        let graph_err = |e: TractError| ModelError::Graph(format!("{e:#}"));
        let mut model = onnx().model_for_read(&mut &owned[..]).map_err(graph_err)?;
        for i in 0..2 {
            model.set_input_fact(i, f32::fact([1, window]).into()).map_err(graph_err)?;
        }
        let plan = tract_onnx::tract_core::plan::SimplePlan::new(model.into_optimized().map_err(graph_err)?)
            .map_err(graph_err)?;
        Ok(plan)
    })?;

    let silence = (meta.f0_min_hz, LOUDNESS_FLOOR_DB);
    let mut graph = WindowedGraph {
        plan,
        window,
        f0_slot,
        loudness_name: inputs[1 - f0_slot].name.clone(),
        outputs: output_names.iter().map(|n| TensorSpec { name: (*n).to_owned(), shape: vec![] }).collect(),
        slots,
        n_harmonics: 0,
        n_noise_bands: 0,
        silence,
    };
    // Probe run: learn and check every output's shape, and that it is finite.
    let f0: Vec<f32> = (0..window).map(|i| meta.f0_min_hz * (1.0 + i as f32 / window as f32)).collect();
    let ld: Vec<f32> = (0..window).map(|i| meta.loudness_max_db - i as f32 * 0.1).collect();
    let full = graph.run_full(&f0, &ld)?;
    for (spec, (shape, values)) in graph.outputs.iter_mut().zip(&full) {
        if shape.len() != 3 || shape[0] != 1 || shape[1] != window || shape[2] == 0 {
            return Err(ModelError::ShapeMismatch {
                name: spec.name.clone(),
                expected: vec![1, window, usize::MAX],
                actual: shape.clone(),
            });
        }
        if !values.iter().all(|v| v.is_finite()) {
            return Err(ModelError::NonFinite { name: spec.name.clone() });
        }
        spec.shape = vec![shape[2]];
    }
    let width = |slot: Option<usize>| slot.map(|s| graph.outputs[s].shape[0]);
    let n_harmonics = width(graph.slots.harmonic_amps).or(width(graph.slots.harmonic_dist)).unwrap_or(0);
    for (slot, expected) in [(graph.slots.harmonic_dist, n_harmonics), (graph.slots.amplitude, 1)] {
        if let Some(s) = slot {
            if graph.outputs[s].shape[0] != expected {
                return Err(ModelError::ShapeMismatch {
                    name: graph.outputs[s].name.clone(),
                    expected: vec![1, window, expected],
                    actual: vec![1, window, graph.outputs[s].shape[0]],
                });
            }
        }
    }
    graph.n_harmonics = n_harmonics;
    graph.n_noise_bands = graph.outputs[graph.slots.noise].shape[0];
    if n_harmonics > crate::harmonic::MAX_HARMONICS || graph.n_noise_bands > 4096 {
        return Err(ModelError::Unsupported(format!(
            "{n_harmonics} harmonics / {} noise bands (at most {} / 4096)",
            graph.n_noise_bands,
            crate::harmonic::MAX_HARMONICS
        )));
    }
    meta.n_harmonics = n_harmonics;
    meta.n_noise_bands = graph.n_noise_bands;
    meta.check()?;
    Ok((meta, graph))
}

impl WindowedGraph {
    pub fn window(&self) -> usize {
        self.window
    }

    /// The name of the loudness input (`loudness` or `loudness_db`).
    pub fn loudness_name(&self) -> &str {
        &self.loudness_name
    }

    /// The graph's outputs, each with its per-frame width.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// Runs the graph on one window; every output as (shape, values).
    fn run_full(&self, f0_hz: &[f32], loudness_db: &[f32]) -> Result<Vec<ShapedValues>, ModelError> {
        guarded(|| {
            let graph_err = |e: TractError| ModelError::Graph(format!("{e:#}"));
            let f0 = Tensor::from_shape(&[1, self.window], f0_hz).map_err(graph_err)?;
            let ld = Tensor::from_shape(&[1, self.window], loudness_db).map_err(graph_err)?;
            let inputs: TVec<TValue> =
                if self.f0_slot == 0 { tvec![f0.into(), ld.into()] } else { tvec![ld.into(), f0.into()] };
            let outputs = self.plan.run(inputs).map_err(graph_err)?;
            outputs
                .iter()
                .map(|t| {
                    let view = t.to_plain_array_view::<f32>().map_err(graph_err)?;
                    Ok((view.shape().to_vec(), view.iter().copied().collect()))
                })
                .collect()
        })
    }

    /// The last frame of every output for one window (oldest frame first). Allocates.
    pub fn run_window(&self, f0_hz: &[f32], loudness_db: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(self
            .run_full(f0_hz, loudness_db)?
            .into_iter()
            .map(|(shape, values)| {
                let width = shape.last().copied().unwrap_or(0);
                values[values.len().saturating_sub(width)..].to_vec()
            })
            .collect())
    }

    /// Turns one frame of native outputs into controls. `harmonic_amps` (the final per-harmonic
    /// amplitudes) is used when present: its sum is the amplitude and its shape the distribution.
    fn controls_into(&self, frame: &[Vec<f32>], controls: &mut FrameControls) {
        let finite = |v: f32| if v.is_finite() { v.max(0.0) } else { 0.0 };
        let (amplitude, distribution) = match (self.slots.harmonic_amps, self.slots.amplitude, self.slots.harmonic_dist)
        {
            (Some(amps), _, _) => (frame[amps].iter().map(|&v| finite(v)).sum(), &frame[amps]),
            (None, Some(a), Some(d)) => (finite(frame[a][0]), &frame[d]),
            _ => unreachable!("checked at load"),
        };
        controls.amplitude = amplitude;
        for (dst, &v) in controls.harmonic_distribution.iter_mut().zip(distribution) {
            *dst = finite(v);
        }
        for (dst, &v) in controls.noise_magnitudes.iter_mut().zip(&frame[self.slots.noise]) {
            *dst = finite(v);
        }
    }

    fn silent_controls(&self) -> FrameControls {
        FrameControls {
            amplitude: 0.0,
            harmonic_distribution: vec![0.0; self.n_harmonics],
            noise_magnitudes: vec![0.0; self.n_noise_bands],
        }
    }

    /// Floats per frame on the worker's output ring: frame index, amplitude, harmonics, noise.
    fn packet_len(&self) -> usize {
        2 + self.n_harmonics + self.n_noise_bands
    }
}

/// The last T frames of inputs, oldest first.
struct Window {
    f0_hz: VecDeque<f32>,
    loudness_db: VecDeque<f32>,
}

impl Window {
    fn new(graph: &WindowedGraph) -> Self {
        let (f0, ld) = graph.silence;
        Self { f0_hz: VecDeque::from(vec![f0; graph.window]), loudness_db: VecDeque::from(vec![ld; graph.window]) }
    }

    fn push(&mut self, f0_hz: f32, loudness_db: f32) {
        self.f0_hz.pop_front();
        self.f0_hz.push_back(f0_hz);
        self.loudness_db.pop_front();
        self.loudness_db.push_back(loudness_db);
    }

    /// Runs the graph on the window. Allocates (tract, and the contiguous copies).
    fn run(&mut self, graph: &WindowedGraph) -> Result<Vec<Vec<f32>>, ModelError> {
        graph.run_window(self.f0_hz.make_contiguous(), self.loudness_db.make_contiguous())
    }
}

/// Where a voice's windowed model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// On a worker thread (plugins): never waited for, unless the model was given a
    /// [`HostPace`] that allows it (an offline or evidently faster-than-real-time host).
    RealTime,
    /// Inline on the caller's thread (offline rendering: reproducible, may allocate).
    Offline,
}

/// Input ring messages: (f0 Hz, loudness dB, the frame's index as `f32` bits); a NaN f0 asks the
/// worker to clear its window. The index travels with the frame, so a frame lost to a full ring
/// never shifts the results of the frames after it.
type InputPacket = [f32; 3];
/// Frames the input ring holds: more than a fast host pushes before it is recognised as fast
/// ([`super::pace::FAST_HOST_LEAD_S`] of frames at 250 frames/s), so none is lost meanwhile.
const INPUT_CAPACITY: usize = 256;
/// Frames of results the output ring can hold.
const OUTPUT_FRAMES: usize = 8;
const WORKER_POLL: Duration = Duration::from_micros(250);

/// One voice's stream through a windowed model, delayed by [`WINDOWED_DELAY_FRAMES`].
pub struct WindowedStream {
    graph: Arc<WindowedGraph>,
    controls: FrameControls,
    /// Frames pushed so far (the index of the next one).
    frame: u64,
    engine: StreamEngine,
    /// How long the audio thread may wait for the worker (`None`: never).
    pace: Option<Arc<HostPace>>,
    /// An offline wait hit its cap (the worker is stuck): no more waiting until a result arrives
    /// on time again.
    stalled: bool,
}

enum StreamEngine {
    Inline { window: Window, delayed: VecDeque<FrameControls> },
    Worker(Worker),
}

struct Worker {
    inputs: Producer<InputPacket>,
    results: Consumer<f32>,
    stop: Arc<AtomicBool>,
    missed: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl WindowedStream {
    /// A stream at silence. `RealTime` spawns the voice's worker thread; `pace` says when its
    /// results may be waited for (`None`: never). Allocates.
    pub fn new(graph: Arc<WindowedGraph>, mode: RunMode, pace: Option<Arc<HostPace>>) -> Self {
        let controls = graph.silent_controls();
        let engine = match mode {
            RunMode::Offline => StreamEngine::Inline {
                window: Window::new(&graph),
                delayed: (0..WINDOWED_DELAY_FRAMES).map(|_| graph.silent_controls()).collect(),
            },
            RunMode::RealTime => StreamEngine::Worker(Worker::spawn(graph.clone())),
        };
        Self { graph, controls, frame: 0, engine, pace, stalled: false }
    }

    /// Frames whose result came too late and were held over (real-time mode).
    pub fn missed_frames(&self) -> u64 {
        match &self.engine {
            StreamEngine::Worker(w) => w.missed.load(Ordering::Relaxed),
            StreamEngine::Inline { .. } => 0,
        }
    }

    /// Back to silence. Real time: never allocates or waits.
    pub fn reset(&mut self) {
        self.controls.amplitude = 0.0;
        self.controls
            .harmonic_distribution
            .iter_mut()
            .chain(&mut self.controls.noise_magnitudes)
            .for_each(|v| *v = 0.0);
        match &mut self.engine {
            StreamEngine::Inline { window, delayed } => {
                *window = Window::new(&self.graph);
                for c in delayed.iter_mut() {
                    c.clone_from(&self.controls);
                }
            }
            StreamEngine::Worker(w) => {
                // Lost only if the ring is full, in which case the worker is far behind anyway.
                let _ = w.inputs.push([f32::NAN, 0.0, 0.0]);
            }
        }
    }

    /// Feeds one frame and returns the controls of frame `n − WINDOWED_DELAY_FRAMES`. In real-time
    /// mode it never allocates, and waits for the worker only as long as the [`HostPace`] allows;
    /// offline it runs the graph inline.
    pub fn push(&mut self, f0_hz: f32, loudness_db: f32) -> &FrameControls {
        let index = self.frame;
        self.frame += 1;
        match &mut self.engine {
            StreamEngine::Inline { window, delayed } => {
                // The oldest result is due now; its buffer is reused for this frame's result.
                let mut fresh = delayed.pop_front().unwrap_or_else(|| self.graph.silent_controls());
                let previous = std::mem::replace(&mut self.controls, fresh.clone());
                window.push(f0_hz, loudness_db);
                match window.run(&self.graph) {
                    Ok(frame) => self.graph.controls_into(&frame, &mut fresh),
                    Err(_) => fresh = previous,
                }
                delayed.push_back(fresh);
            }
            StreamEngine::Worker(w) => {
                let deadline = self.pace.as_deref().and_then(HostPace::wait_deadline).filter(|_| !self.stalled);
                if w.inputs.push([f0_hz, loudness_db, f32::from_bits(index as u32)]).is_err() {
                    w.missed.fetch_add(1, Ordering::Relaxed);
                }
                if deadline.is_some() {
                    w.wake();
                }
                if let Some(wanted) = index.checked_sub(WINDOWED_DELAY_FRAMES as u64) {
                    let packet = self.graph.packet_len();
                    let mut taken = w.take(wanted, packet, &mut self.controls);
                    if let (Some(deadline), Take::NotYet) = (deadline, taken) {
                        taken = w.wait_for(wanted, packet, &mut self.controls, deadline);
                        // Only an offline wait's cap (a second) means the worker is stuck; a fast
                        // real-time host's deadline may be a few microseconds when its lead has
                        // just passed the threshold, and latching that would stop every later wait.
                        let offline = self.pace.as_deref().is_some_and(HostPace::is_offline);
                        self.stalled = offline && taken == Take::NotYet;
                    } else if taken == Take::Got {
                        self.stalled = false;
                    }
                    if taken != Take::Got {
                        w.missed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        &self.controls
    }
}

impl Worker {
    fn spawn(graph: Arc<WindowedGraph>) -> Self {
        let (inputs, mut worker_inputs) = RingBuffer::<InputPacket>::new(INPUT_CAPACITY);
        let packet = graph.packet_len();
        let (mut worker_results, results) = RingBuffer::<f32>::new(packet * OUTPUT_FRAMES);
        let stop = Arc::new(AtomicBool::new(false));
        let missed = Arc::new(AtomicU64::new(0));
        let worker_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ddsp-windowed-model".into())
            .spawn(move || {
                let mut window = Window::new(&graph);
                let mut controls = graph.silent_controls();
                while !worker_stop.load(Ordering::Acquire) {
                    let Ok([f0, ld, index]) = worker_inputs.pop() else {
                        std::thread::park_timeout(WORKER_POLL);
                        continue;
                    };
                    if f0.is_nan() {
                        window = Window::new(&graph);
                        continue;
                    }
                    window.push(f0, ld);
                    // Far behind (a fast host before it was recognised as such): this frame's
                    // result is no longer wanted, only its place in the window.
                    if worker_inputs.slots() > WINDOWED_DELAY_FRAMES + 2 {
                        continue;
                    }
                    if let Ok(frame) = window.run(&graph) {
                        graph.controls_into(&frame, &mut controls);
                    }
                    while worker_results.slots() < packet {
                        if worker_stop.load(Ordering::Acquire) {
                            return;
                        }
                        std::thread::park_timeout(WORKER_POLL);
                    }
                    let Ok(mut chunk) = worker_results.write_chunk_uninit(packet) else { continue };
                    let (a, b) = chunk.as_mut_slices();
                    let values = [index, controls.amplitude]
                        .into_iter()
                        .chain(controls.harmonic_distribution.iter().copied())
                        .chain(controls.noise_magnitudes.iter().copied());
                    for (slot, v) in a.iter_mut().chain(b.iter_mut()).zip(values) {
                        slot.write(v);
                    }
                    // SAFETY: all `packet` slots were written just above.
                    unsafe { chunk.commit_all() };
                }
            })
            .expect("spawning the model worker thread");
        Self { inputs, results, stop, missed, thread: Some(thread) }
    }

    /// Wakes the worker now rather than at its next poll (a syscall: only when about to wait).
    fn wake(&self) {
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
    }

    /// [`Worker::take`], retried until the result arrives or `deadline` passes. Waits (yielding
    /// the core to the worker); never allocates.
    fn wait_for(&mut self, wanted: u64, packet: usize, controls: &mut FrameControls, deadline: Instant) -> Take {
        loop {
            let taken = self.take(wanted, packet, controls);
            if taken != Take::NotYet || Instant::now() >= deadline {
                return taken;
            }
            std::thread::yield_now();
        }
    }

    /// Copies the result for frame `wanted` into `controls`, dropping older ones. Never blocks or
    /// allocates.
    fn take(&mut self, wanted: u64, packet: usize, controls: &mut FrameControls) -> Take {
        while let Ok(chunk) = self.results.read_chunk(packet) {
            let (a, b) = chunk.as_slices();
            let index = u64::from(a.first().or(b.first()).map_or(0, |v| v.to_bits()));
            if index > wanted as u32 as u64 {
                return Take::Gone;
            }
            if index == wanted as u32 as u64 {
                let mut values = a.iter().chain(b).skip(1).copied();
                controls.amplitude = values.next().unwrap_or(0.0);
                for (dst, v) in
                    controls.harmonic_distribution.iter_mut().chain(&mut controls.noise_magnitudes).zip(values)
                {
                    *dst = v;
                }
                chunk.commit_all();
                return Take::Got;
            }
            chunk.commit_all();
        }
        Take::NotYet
    }
}

/// What [`Worker::take`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Take {
    Got,
    /// Not computed yet.
    NotYet,
    /// Never will be: a later frame's result came first (the frame was lost or skipped).
    Gone,
}
