//! The real-time pipeline an application embeds: the plugins' three engines behind one object.
//!
//! ```text
//! set_f0_hz, set_loudness_* (atomics) ─ direct voice ──────────┐
//! note / CC / bend / MIDI (lock-free queue) ─ instrument ──────┤
//! audio in (process_audio) ─ timbre transfer ───────────────── Σ ─ mastering (optional) ─ out (mono or stereo)
//!                                        └ MIDI out (notes, bends of the tracked pitch) ─ take_midi_out
//! load_model (any thread): model → voices for each engine ─ swap queues ─ live crossfade
//! ```
//!
//! Threading: the `process*` calls belong to one audio thread; event calls (`note_on`, `midi`, …)
//! to one thread at a time (the audio thread or a control thread) — they travel through a
//! single-producer queue and apply at their sample offset in the next `process`; `set_f0_hz`,
//! `set_loudness_*`, `set_master` are atomic stores, safe from any thread; `load_model` may run on
//! any thread while audio plays (it allocates and may block; the audio thread never does).

use std::cell::UnsafeCell;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};
use ddsp_core::direct::{Direct, DirectSettings};
use ddsp_core::effect::{EffectSettings, TimbreTransfer};
use ddsp_core::master::{MasterChain, MasterPreset, MasterSettings, Quality};
use ddsp_core::model::{HostPace, PaceClock, RunMode};
use ddsp_core::swap::{swap_channel, ModelLoader};
use ddsp_core::tracking::{CorrectionSettings, MidiOutMode, MidiOutSettings, PitchMode};
use ddsp_core::{
    Engine, Instrument, InstrumentEvent, InstrumentSettings, Model, MorphPosition, MorphSource, TimedEvent, VoiceMode,
    MAX_MORPH_MODELS, MAX_VOICES,
};

use crate::offline::load_model;

/// Events that may wait for the next `process` call.
pub const EVENT_CAPACITY: usize = 1024;
/// Largest block a pipeline is built for (longer `process` calls run in blocks of `max_block`).
pub const MAX_BLOCK: u32 = 1 << 16;
/// Sample rates a pipeline accepts, Hz.
pub const SAMPLE_RATES_HZ: std::ops::RangeInclusive<f64> = 8_000.0..=384_000.0;

/// What the pipeline's queue carries to the audio thread.
#[derive(Clone, Copy, Debug)]
enum Message {
    Event(TimedEvent),
    Polyphony { voices: u8, mono: bool },
    Reset,
}

/// A model's card, as the embedding API reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub instrument: String,
    /// Rate the model was trained at, Hz.
    pub sample_rate_hz: f32,
    pub frame_rate_hz: f32,
    pub n_harmonics: usize,
    pub n_noise_bands: usize,
    pub f0_min_hz: f32,
    pub f0_max_hz: f32,
    pub loudness_min_db: f32,
    pub loudness_max_db: f32,
    /// The model's own delay (windowed models), frames.
    pub latency_frames: usize,
}

impl ModelInfo {
    pub fn of(model: &Model) -> Self {
        let m = &model.meta;
        Self {
            name: m.name.clone(),
            instrument: m.instrument.clone(),
            sample_rate_hz: m.sample_rate_hz,
            frame_rate_hz: m.frame_rate_hz,
            n_harmonics: m.n_harmonics,
            n_noise_bands: m.n_noise_bands,
            f0_min_hz: m.f0_min_hz,
            f0_max_hz: m.f0_max_hz,
            loudness_min_db: m.loudness_min_db,
            loudness_max_db: m.loudness_max_db,
            latency_frames: model.latency_frames(),
        }
    }
}

/// Controls set from any thread: plain atomic stores the audio thread reads once per block.
struct Controls {
    f0_hz: AtomicU32,
    /// Loudness as a position over the playing model's trained range (`by_norm`) or in dB.
    loudness: AtomicU32,
    by_norm: AtomicBool,
    gate: AtomicBool,
    /// [`master_code`] of the chain asked for.
    master: AtomicU32,
    /// The direct voice's control glide, ms (f32 bits).
    smoothing_ms: AtomicU32,
    latency: AtomicU32,
    audio_latency: AtomicU32,
    dropped_events: AtomicU32,
    /// The morph position (f32 bits) and what moves its x in the instrument ([`MorphSource`] code).
    morph_x: AtomicU32,
    morph_y: AtomicU32,
    morph_source: AtomicI32,
    /// Timbre transfer's MIDI out ([`MidiOutSettings`] packed by [`pack_midi_out`]) and pitch
    /// correction (key + 1, 0 = raw; scale mask; retune time in f32 bits).
    midi_out: AtomicU32,
    correction: AtomicU32,
    retune_ms: AtomicU32,
    /// Correction strength and pitch smoothing (f32 bits), and whether the model hears the
    /// corrected pitch (else the tracked one while it plays the corrected).
    correction_strength: AtomicU32,
    pitch_smoothing_ms: AtomicU32,
    model_hears_corrected: AtomicBool,
    /// Timbre transfer's pitch-aligned latency: the lowest aligned note, Hz (f32 bits; 0 = the
    /// lowest latency).
    align_pitch_hz: AtomicU32,
}

/// MIDI out settings as one atomic word: mode, channel, bend range (semitones) a byte each.
fn pack_midi_out(s: &MidiOutSettings) -> u32 {
    let mode = match s.mode {
        MidiOutMode::Off => 0,
        MidiOutMode::Mono => 1,
        MidiOutMode::Mpe => 2,
    };
    mode | u32::from(s.channel) << 8 | (s.bend_range_semitones.round().clamp(1.0, 96.0) as u32) << 16
}

fn unpack_midi_out(word: u32) -> MidiOutSettings {
    let mode = match word & 0xFF {
        0 => MidiOutMode::Off,
        2 => MidiOutMode::Mpe,
        _ => MidiOutMode::Mono,
    };
    MidiOutSettings { mode, channel: (word >> 8 & 0x0F) as u8, bend_range_semitones: (word >> 16 & 0xFF) as f32 }
}

/// [`MorphSource`] as one number: −1 off, 0..=119 a controller, [`MORPH_SOURCE_TIMBRE`],
/// [`MORPH_SOURCE_PRESSURE`].
pub const MORPH_SOURCE_OFF: i32 = -1;
pub const MORPH_SOURCE_TIMBRE: i32 = 200;
pub const MORPH_SOURCE_PRESSURE: i32 = 201;

// The C ABI spells the same codes.
const _: () = assert!(
    MORPH_SOURCE_OFF == crate::capi::DDSP_MORPH_SOURCE_OFF
        && MORPH_SOURCE_TIMBRE == crate::capi::DDSP_MORPH_SOURCE_TIMBRE
        && MORPH_SOURCE_PRESSURE == crate::capi::DDSP_MORPH_SOURCE_PRESSURE
);

fn morph_source_of(code: i32) -> Option<MorphSource> {
    match code {
        MORPH_SOURCE_OFF => Some(MorphSource::Off),
        0..=119 => Some(MorphSource::Controller(code as u8)),
        MORPH_SOURCE_TIMBRE => Some(MorphSource::Timbre),
        MORPH_SOURCE_PRESSURE => Some(MorphSource::Pressure),
        _ => None,
    }
}

/// Mastering as one number: 0 = off, else 1 + preset · 4 + quality.
fn master_code(settings: Option<(MasterPreset, Quality)>) -> u32 {
    settings.map_or(0, |(p, q)| {
        let p = MasterPreset::ALL.iter().position(|&x| x == p).unwrap_or(0) as u32;
        let q = Quality::ALL.iter().position(|&x| x == q).unwrap_or(0) as u32;
        1 + p * 4 + q
    })
}

fn master_of(code: u32) -> MasterSettings {
    if code == 0 {
        return MasterSettings::off();
    }
    let (p, q) = (((code - 1) / 4) as usize, ((code - 1) % 4) as usize);
    MasterPreset::ALL[p.min(MasterPreset::ALL.len() - 1)].settings(Quality::ALL[q.min(Quality::ALL.len() - 1)])
}

/// Everything the audio thread owns.
struct Audio {
    direct: Direct,
    instrument: Instrument,
    effect: TimbreTransfer,
    master: MasterChain,
    master_code: u32,
    queue: rtrb::Consumer<Message>,
    pending: Vec<TimedEvent>,
    mix: Vec<f32>,
    part: Vec<f32>,
    right: Vec<f32>,
    /// How far the caller runs ahead of the wall clock: a real-time pipeline driven faster than
    /// real time (a bounce) lets windowed models' voices wait for their worker, as the plugins do.
    clock: PaceClock,
    pace: Arc<HostPace>,
    /// What timbre transfer's MIDI out sent since the last [`Pipeline::take_midi_out`] (capacity
    /// [`MAX_MIDI_OUT`], allocated here), and the samples processed since then.
    midi_out: Vec<MidiOutMessage>,
    midi_out_pos: usize,
}

/// One MIDI message timbre transfer sent: `bytes[..len]`, at `offset` samples from the first
/// sample processed since the messages were last all taken ([`Pipeline::take_midi_out`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MidiOutMessage {
    pub offset: u32,
    pub len: u8,
    pub bytes: [u8; 3],
}

/// The range of notes [`Pipeline::set_pitch_latency`] aligns down to, Hz (also `ddsp render
/// --align-pitch-to`'s).
pub const MIN_ALIGN_HZ: f32 = 30.0;
pub const MAX_ALIGN_HZ: f32 = 2_000.0;
/// The longest pitch smoothing [`Pipeline::set_pitch_options`] takes, ms (the effect plugin's
/// Pitch Smoothing range).
pub const MAX_PITCH_SMOOTHING_MS: f32 = 500.0;
/// MIDI out messages held until taken; more are dropped (take them after every process call).
pub const MAX_MIDI_OUT: usize = ddsp_core::effect::MAX_MIDI_OUT;

/// The loading side: the engines' model loaders and the model last loaded.
struct Loader {
    loaders: [ModelLoader; 3],
    model: Arc<Model>,
    run_mode: RunMode,
    pace: Arc<HostPace>,
    last_error: CString,
}

/// `model` following `pace` when it is windowed (see `ddsp_core::model::pace`; in offline mode
/// it computes every frame inline and the pace has nothing to do).
fn paced(model: Model, pace: &Arc<HostPace>) -> Model {
    match model.windowed_graph() {
        Some(_) => model.with_pace(pace.clone()),
        None => model,
    }
}

/// The embeddable real-time pipeline. `&mut self` methods are the single-threaded API; the C ABI
/// (`crate::capi`) shares one pipeline between an audio thread and others under the contract in
/// the module's documentation.
pub struct Pipeline {
    audio: UnsafeCell<Audio>,
    queue: UnsafeCell<rtrb::Producer<Message>>,
    controls: Controls,
    loader: Mutex<Loader>,
    sample_rate_hz: f32,
    max_block: usize,
}

// SAFETY: the cells are reached through `&mut self`, or by the C ABI under its documented
// contract (one audio thread for `audio`, one thread at a time for `queue`); everything else is
// atomics or behind the mutex.
unsafe impl Sync for Pipeline {}
unsafe impl Send for Pipeline {}

fn engines(
    model: &Arc<Model>,
    sample_rate_hz: f32,
    instrument: InstrumentSettings,
) -> (Direct, Instrument, TimbreTransfer, [ModelLoader; 3]) {
    let mut direct = Direct::new(model.clone(), sample_rate_hz, DirectSettings::default());
    let mut instrument = Instrument::new(model.clone(), sample_rate_hz, instrument);
    let mut effect = TimbreTransfer::new(model.clone(), sample_rate_hz, EffectSettings::default());
    let mut loaders = Vec::with_capacity(3);
    let mut connect = |engine: &mut dyn DynSwap| {
        let (sender, receiver) = swap_channel();
        let spec = engine.spec();
        engine.attach(receiver);
        loaders.push(ModelLoader::new(sender, spec));
    };
    connect(&mut direct);
    connect(&mut instrument);
    connect(&mut effect);
    let Ok(loaders) = <[ModelLoader; 3]>::try_from(loaders) else { unreachable!("three engines") };
    (direct, instrument, effect, loaders)
}

/// The swap plumbing of any engine, object-safe.
trait DynSwap {
    fn spec(&self) -> ddsp_core::swap::VoiceSpec;
    fn attach(&mut self, receiver: ddsp_core::swap::SwapReceiver);
}

impl<E: Engine> DynSwap for E {
    fn spec(&self) -> ddsp_core::swap::VoiceSpec {
        self.voice_spec()
    }
    fn attach(&mut self, receiver: ddsp_core::swap::SwapReceiver) {
        self.attach_swap_receiver(receiver);
    }
}

impl Pipeline {
    /// A pipeline at `sample_rate_hz` for blocks of up to `max_block` samples, playing the
    /// embedded default model. `offline`: models run every frame to completion (renders faster
    /// than real time); otherwise a slow windowed model skips frames rather than stall audio,
    /// unless the pipeline is driven over 0.5 s ahead of the wall clock (then it waits for it).
    pub fn new(sample_rate_hz: f64, max_block: u32, offline: bool) -> Result<Self> {
        if !SAMPLE_RATES_HZ.contains(&sample_rate_hz) {
            bail!("sample rate {sample_rate_hz} Hz is outside 8000..384000 Hz");
        }
        if max_block == 0 || max_block > MAX_BLOCK {
            bail!("max_block {max_block} is outside 1..{MAX_BLOCK}");
        }
        let run_mode = if offline { RunMode::Offline } else { RunMode::RealTime };
        let pace = Arc::new(HostPace::default());
        let model = Arc::new(paced(load_model(None, run_mode)?, &pace));
        let sr = sample_rate_hz as f32;
        let (direct, instrument, effect, loaders) = engines(&model, sr, InstrumentSettings::default());
        let (producer, consumer) = rtrb::RingBuffer::new(EVENT_CAPACITY);
        let n = max_block as usize;
        let master = MasterChain::new(sr, MasterSettings::off());
        let audio = Audio {
            master_code: 0,
            queue: consumer,
            pending: Vec::with_capacity(EVENT_CAPACITY),
            mix: vec![0.0; n],
            part: vec![0.0; n],
            right: vec![0.0; n],
            clock: PaceClock::default(),
            pace: pace.clone(),
            direct,
            instrument,
            effect,
            master,
            midi_out: Vec::with_capacity(MAX_MIDI_OUT),
            midi_out_pos: 0,
        };
        let controls = Controls {
            f0_hz: AtomicU32::new(440f32.to_bits()),
            loudness: AtomicU32::new(0f32.to_bits()),
            by_norm: AtomicBool::new(true),
            gate: AtomicBool::new(false),
            master: AtomicU32::new(0),
            smoothing_ms: AtomicU32::new(DirectSettings::default().smoothing_ms.to_bits()),
            latency: AtomicU32::new(0),
            audio_latency: AtomicU32::new(0),
            dropped_events: AtomicU32::new(0),
            morph_x: AtomicU32::new(0f32.to_bits()),
            morph_y: AtomicU32::new(0f32.to_bits()),
            morph_source: AtomicI32::new(MORPH_SOURCE_OFF),
            midi_out: AtomicU32::new(pack_midi_out(&MidiOutSettings::default())),
            correction: AtomicU32::new(u32::from(CorrectionSettings::default().scale) << 8),
            retune_ms: AtomicU32::new(CorrectionSettings::default().retune_ms.to_bits()),
            correction_strength: AtomicU32::new(CorrectionSettings::default().strength.to_bits()),
            pitch_smoothing_ms: AtomicU32::new(CorrectionSettings::default().smoothing_ms.to_bits()),
            model_hears_corrected: AtomicBool::new(EffectSettings::default().model_hears_corrected),
            align_pitch_hz: AtomicU32::new(EffectSettings::default().align_pitch_down_to_hz.to_bits()),
        };
        let pipeline = Self {
            audio: UnsafeCell::new(audio),
            queue: UnsafeCell::new(producer),
            controls,
            loader: Mutex::new(Loader { loaders, model, run_mode, pace, last_error: CString::default() }),
            sample_rate_hz: sr,
            max_block: n,
        };
        pipeline.publish_latency(pipeline.audio_ref());
        Ok(pipeline)
    }

    fn audio_ref(&self) -> &Audio {
        // SAFETY: only called where no audio-thread call can run (construction, `&mut self`).
        unsafe { &*self.audio.get() }
    }

    pub fn sample_rate_hz(&self) -> f32 {
        self.sample_rate_hz
    }

    pub fn max_block(&self) -> usize {
        self.max_block
    }

    // ---- controls: any thread -------------------------------------------------------------

    /// The direct voice's pitch, Hz; NaN and infinities are ignored, the rest clamped to
    /// 1 Hz .. Nyquist.
    pub fn set_f0_hz(&self, hz: f32) {
        if hz.is_finite() {
            self.controls.f0_hz.store(hz.to_bits(), Ordering::Relaxed);
        }
    }

    /// The direct voice's loudness as a position in the playing model's trained range (0 = its
    /// quietest, 1 = its loudest, linear in dB); 0 or less is silence (a 10 ms fade, then the voice
    /// stops). NaN is ignored; values above 1 are 1.
    pub fn set_loudness_norm(&self, norm: f32) {
        if norm.is_nan() {
            return;
        }
        let norm = norm.min(1.0);
        self.controls.loudness.store(norm.to_bits(), Ordering::Relaxed);
        self.controls.by_norm.store(true, Ordering::Relaxed);
        self.controls.gate.store(norm > 0.0, Ordering::Release);
    }

    /// The direct voice's A-weighted loudness in dB, as the model is conditioned (−120 = its
    /// silence; clamped to −120..0); at −120 or below the voice fades out and stops. NaN is ignored.
    pub fn set_loudness_db(&self, db: f32) {
        if db.is_nan() {
            return;
        }
        let db = db.clamp(ddsp_core::model::LOUDNESS_FLOOR_DB, 0.0);
        self.controls.loudness.store(db.to_bits(), Ordering::Relaxed);
        self.controls.by_norm.store(false, Ordering::Relaxed);
        self.controls.gate.store(db > ddsp_core::model::LOUDNESS_FLOOR_DB, Ordering::Release);
    }

    /// How long the direct voice's pitch and loudness glide to a new value (a one-pole time
    /// constant, ms; 5 by default, 0 = steps, for controls already smooth at the model's frame
    /// rate). Non-finite or negative values are ignored; at most 1000.
    pub fn set_smoothing_ms(&self, ms: f32) {
        if ms.is_finite() && ms >= 0.0 {
            self.controls.smoothing_ms.store(ms.min(1000.0).to_bits(), Ordering::Relaxed);
        }
    }

    /// The mastering chain: a preset (`off`, `room`, `limiter`, `flat`, `cello`, `violin`, `flute`, `brass`) at a
    /// quality (`draft`, `standard`, `professional`, `mastering`). Applies from the next block.
    pub fn set_master(&self, preset: &str, quality: &str) -> Result<()> {
        let settings = crate::offline::master_settings(preset, quality)?;
        let code = if settings.enabled {
            let preset = MasterPreset::from_name(preset).unwrap_or(MasterPreset::Flat);
            master_code(Some((preset, Quality::from_name(quality).unwrap_or(Quality::Standard))))
        } else {
            0
        };
        self.controls.master.store(code, Ordering::Release);
        Ok(())
    }

    /// Samples from a note, control or model change to the output (the mastering limiter's
    /// look-ahead and a windowed model's delay), as of the last block processed.
    pub fn latency_samples(&self) -> u32 {
        self.controls.latency.load(Ordering::Relaxed)
    }

    /// Samples from the audio input of [`Pipeline::process_audio`] to its answer in the output.
    pub fn audio_latency_samples(&self) -> u32 {
        self.controls.audio_latency.load(Ordering::Relaxed)
    }

    /// Events dropped because the queue was full (more than [`EVENT_CAPACITY`] between blocks).
    pub fn dropped_events(&self) -> u32 {
        self.controls.dropped_events.load(Ordering::Relaxed)
    }

    // ---- models: any thread, may block ------------------------------------------------------

    /// Loads a model file (.onnx, .tflite) or library name (built-in names too; `default` = the
    /// embedded default) and hands it to every engine: it plays from the next block, crossfading
    /// live where a voice is sounding. On failure the previous model keeps playing.
    pub fn load_model(&self, spec: &str) -> Result<ModelInfo> {
        let mut loader = self.loader.lock().unwrap_or_else(|e| e.into_inner());
        let result = (|| {
            let model = Arc::new(paced(load_model(Some(spec), loader.run_mode)?, &loader.pace));
            for l in &mut loader.loaders {
                l.send(model.clone())?;
            }
            Ok(model)
        })();
        match result {
            Ok(model) => {
                loader.model = model.clone();
                loader.last_error = CString::default();
                Ok(ModelInfo::of(&model))
            }
            Err(e) => {
                let e: anyhow::Error = e;
                loader.last_error = CString::new(format!("{e:#}").replace('\0', " ")).unwrap_or_default();
                Err(e)
            }
        }
    }

    /// Loads a morph of up to [`MAX_MORPH_MODELS`] models (files or library names, place order A,
    /// B, C, D; see `ddsp_core::morph`) and hands it to every engine, like [`Pipeline::load_model`].
    /// A place whose model fails is left out and the morph plays the others: returns the failed
    /// places' indices (the reasons in the last error). Fails, changing nothing, when no model
    /// loads or the list is empty or too long.
    pub fn load_morph(&self, specs: &[&str]) -> Result<Vec<usize>> {
        let mut loader = self.loader.lock().unwrap_or_else(|e| e.into_inner());
        let result = (|| {
            if specs.is_empty() || specs.len() > MAX_MORPH_MODELS {
                bail!("a morph takes 1 to {MAX_MORPH_MODELS} models, not {}", specs.len());
            }
            let loaded: Vec<Result<Arc<Model>>> = specs
                .iter()
                .map(|spec| Ok(Arc::new(paced(load_model(Some(spec), loader.run_mode)?, &loader.pace))))
                .collect();
            let failed: Vec<(usize, String)> = loaded
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, format!("place {}: {e:#}", place_name(i)))))
                .collect();
            let models: Vec<Option<Arc<Model>>> = loaded.into_iter().map(Result::ok).collect();
            let Some(first) = models.iter().flatten().next().cloned() else {
                bail!(
                    "no model of the morph loaded ({})",
                    failed.iter().map(|f| f.1.as_str()).collect::<Vec<_>>().join("; ")
                );
            };
            for l in &mut loader.loaders {
                l.send_morph(&models)?;
            }
            Ok((first, failed))
        })();
        match result {
            Ok((model, failed)) => {
                loader.model = model;
                let message = failed.iter().map(|f| f.1.as_str()).collect::<Vec<_>>().join("; ");
                loader.last_error = CString::new(message.replace('\0', " ")).unwrap_or_default();
                Ok(failed.into_iter().map(|f| f.0).collect())
            }
            Err(e) => {
                loader.last_error = CString::new(format!("{e:#}").replace('\0', " ")).unwrap_or_default();
                Err(e)
            }
        }
    }

    /// Where the morph sits: `x`, `y` in 0..1 (clamped; NaN is ignored). Glides (15 ms) in every
    /// engine from the next block. Ignored while one model plays.
    pub fn set_morph(&self, x: f32, y: f32) {
        if !x.is_nan() {
            self.controls.morph_x.store(x.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        }
        if !y.is_nan() {
            self.controls.morph_y.store(y.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        }
    }

    /// What moves the morph's x while the instrument plays: [`MORPH_SOURCE_OFF`], a controller
    /// number 0..=119, [`MORPH_SOURCE_TIMBRE`] (CC74/MPE, per note) or [`MORPH_SOURCE_PRESSURE`]
    /// (per note). False (nothing changes) for any other code.
    pub fn set_morph_source(&self, code: i32) -> bool {
        let known = morph_source_of(code).is_some();
        if known {
            self.controls.morph_source.store(code, Ordering::Relaxed);
        }
        known
    }

    /// Timbre transfer's MIDI out: `mode` 0 off, 1 one channel (`channel` 1..=16), 2 MPE (lower
    /// zone); `bend_range` 1..=96 semitones, the receiver's. False (nothing changes) otherwise.
    /// Any thread (an atomic store); applies from the next process call.
    pub fn set_midi_out(&self, mode: u32, channel: u32, bend_range: u32) -> bool {
        let mode = match mode {
            0 => MidiOutMode::Off,
            1 => MidiOutMode::Mono,
            2 => MidiOutMode::Mpe,
            _ => return false,
        };
        if !(1..=16).contains(&channel) || !(1..=96).contains(&bend_range) {
            return false;
        }
        let s = MidiOutSettings { mode, channel: (channel - 1) as u8, bend_range_semitones: bend_range as f32 };
        self.controls.midi_out.store(pack_midi_out(&s), Ordering::Relaxed);
        true
    }

    /// Timbre transfer's pitch correction: `key` the root's pitch class 0..=11 (C..B), or `None`
    /// for the raw pitch; `scale` the notes above the root as bits (bit `i`: `i` semitones up;
    /// `ddsp_core::tracking::correction::MAJOR` …); `retune_ms` ≥ 0, the time to reach the note.
    /// False (nothing changes) for anything else. Any thread; applies from the next process call.
    pub fn set_pitch_correction(&self, key: Option<u8>, scale: u16, retune_ms: f32) -> bool {
        if key.is_some_and(|k| k > 11) || scale & 0xFFF == 0 || !(retune_ms >= 0.0 && retune_ms.is_finite()) {
            return false;
        }
        let word = key.map_or(0, |k| u32::from(k) + 1) | u32::from(scale & 0xFFF) << 8;
        self.controls.retune_ms.store(retune_ms.to_bits(), Ordering::Relaxed);
        self.controls.correction.store(word, Ordering::Release);
        true
    }

    /// How timbre transfer's pitch is shaped: `strength` 0..=1 of the way to the scale's note
    /// (with correction on), `smoothing_ms` 0..=500 a glide over the tracked pitch (portamento;
    /// 0 = none), `model_hears_corrected` whether the model is conditioned on the corrected pitch
    /// or on the tracked one while it plays the corrected. False (nothing changes) out of range.
    /// Any thread; applies from the next process call.
    pub fn set_pitch_options(&self, strength: f32, smoothing_ms: f32, model_hears_corrected: bool) -> bool {
        if !(0.0..=1.0).contains(&strength) || !(0.0..=MAX_PITCH_SMOOTHING_MS).contains(&smoothing_ms) {
            return false;
        }
        self.controls.correction_strength.store(strength.to_bits(), Ordering::Relaxed);
        self.controls.pitch_smoothing_ms.store(smoothing_ms.to_bits(), Ordering::Relaxed);
        self.controls.model_hears_corrected.store(model_hears_corrected, Ordering::Relaxed);
        true
    }

    /// Timbre transfer's latency: 0 for the lowest (4 ms: the loudness and the pitch of notes from
    /// ~300 Hz up; lower notes' pitch later), or the lowest note, `align_hz` 30..=2000 Hz, whose
    /// pitch reaches the output at the reported latency with its loudness (the latency grows to the
    /// delay of a new note's pitch there: 15.0 ms at 110 Hz; see `ddsp_core::tracking::align`). False
    /// (nothing changes) out of range. Any thread; applies from the next process call, and
    /// [`Pipeline::audio_latency_samples`] says the new latency after it.
    pub fn set_pitch_latency(&self, align_hz: f32) -> bool {
        if !(align_hz == 0.0 || (MIN_ALIGN_HZ..=MAX_ALIGN_HZ).contains(&align_hz)) {
            return false;
        }
        self.controls.align_pitch_hz.store(align_hz.to_bits(), Ordering::Relaxed);
        true
    }

    /// The model last loaded (it plays once the audio thread has taken it).
    pub fn model_info(&self) -> ModelInfo {
        ModelInfo::of(&self.loader.lock().unwrap_or_else(|e| e.into_inner()).model)
    }

    /// Runs `f` on the last load error ("" after a successful load).
    pub(crate) fn with_last_error<R>(&self, f: impl FnOnce(&CString) -> R) -> R {
        f(&self.loader.lock().unwrap_or_else(|e| e.into_inner()).last_error)
    }

    pub(crate) fn set_last_error(&self, message: &str) {
        let mut loader = self.loader.lock().unwrap_or_else(|e| e.into_inner());
        loader.last_error = CString::new(message.replace('\0', " ")).unwrap_or_default();
    }

    // ---- events: one thread at a time -----------------------------------------------------

    /// Queues `message`; false when the queue is full (the event is dropped and counted).
    ///
    /// # Safety
    /// No other thread may be in an event call on this pipeline at the same time.
    unsafe fn push_shared(&self, message: Message) -> bool {
        // SAFETY: the caller guarantees a single producer at a time.
        let queue = unsafe { &mut *self.queue.get() };
        let ok = queue.push(message).is_ok();
        if !ok {
            self.controls.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// An instrument event on MIDI `channel` (0..15), applied `offset` samples into the next
    /// block. See [`Pipeline::push_shared`] for the contract.
    ///
    /// # Safety
    /// No other thread may be in an event call on this pipeline at the same time.
    pub(crate) unsafe fn event_shared(&self, offset: u32, channel: u8, event: InstrumentEvent) -> bool {
        let event = TimedEvent { at: offset as usize, channel: channel & 15, event };
        unsafe { self.push_shared(Message::Event(event)) }
    }

    /// # Safety
    /// As [`Pipeline::event_shared`].
    pub(crate) unsafe fn polyphony_shared(&self, voices: u32) -> bool {
        let mono = voices <= 1;
        let voices = voices.clamp(1, MAX_VOICES as u32) as u8;
        unsafe { self.push_shared(Message::Polyphony { voices, mono }) }
    }

    /// # Safety
    /// As [`Pipeline::event_shared`].
    pub(crate) unsafe fn reset_shared(&self) -> bool {
        unsafe { self.push_shared(Message::Reset) }
    }

    /// Queues an instrument event; false when the queue is full.
    pub fn event(&mut self, offset: u32, channel: u8, event: InstrumentEvent) -> bool {
        // SAFETY: `&mut self` excludes every other call.
        unsafe { self.event_shared(offset, channel, event) }
    }

    /// A raw MIDI message (note on/off, CC, pitch bend, pressure, poly aftertouch); false when it
    /// is not one the instrument plays or the queue is full.
    pub fn midi(&mut self, bytes: &[u8], offset: u32) -> bool {
        // SAFETY: `&mut self` excludes every other call.
        unsafe { self.midi_shared(bytes, offset) }
    }

    /// # Safety
    /// As [`Pipeline::event_shared`].
    pub(crate) unsafe fn midi_shared(&self, bytes: &[u8], offset: u32) -> bool {
        match decode_midi(bytes) {
            Some((channel, event)) => unsafe { self.event_shared(offset, channel, event) },
            None => false,
        }
    }

    /// Polyphony: 1 = one voice with legato glides (mono), 2..32 voices for chords.
    pub fn set_polyphony(&mut self, voices: u32) -> bool {
        // SAFETY: `&mut self` excludes every other call.
        unsafe { self.polyphony_shared(voices) }
    }

    /// Silence every engine and clear their state at the next block.
    pub fn reset(&mut self) -> bool {
        // SAFETY: `&mut self` excludes every other call.
        unsafe { self.reset_shared() }
    }

    // ---- audio: the audio thread ----------------------------------------------------------

    /// Renders mono `out` (the sum of the direct voice and the instrument, mastered when the chain
    /// is on). Never allocates, locks or waits.
    pub fn process(&mut self, out: &mut [f32]) {
        // SAFETY: `&mut self` excludes every other call.
        unsafe { self.process_shared(None, out, None) }
    }

    /// Renders a stereo pair (`left` and `right` of equal length).
    pub fn process_stereo(&mut self, left: &mut [f32], right: &mut [f32]) {
        // SAFETY: `&mut self` excludes every other call.
        unsafe { self.process_shared(None, left, Some(right)) }
    }

    /// Like [`Pipeline::process`], with `input` (mono) played through timbre transfer and added.
    pub fn process_audio(&mut self, input: &[f32], out: &mut [f32]) {
        // SAFETY: `&mut self` excludes every other call.
        unsafe { self.process_shared(Some(input), out, None) }
    }

    /// Loads a model and rebuilds the engines on it at once (state cleared): the single-threaded
    /// API's load, for a pipeline driven offline, where no audio thread is there to take a swap.
    pub fn load_model_now(&mut self, spec: &str) -> Result<ModelInfo> {
        let loader = self.loader.get_mut().unwrap_or_else(|e| e.into_inner());
        let (run_mode, pace) = (loader.run_mode, loader.pace.clone());
        let model = match load_model(Some(spec), run_mode) {
            Ok(model) => Arc::new(paced(model, &pace)),
            Err(e) => {
                self.set_last_error(&format!("{e:#}"));
                return Err(e);
            }
        };
        let audio = self.audio.get_mut();
        let settings = *audio.instrument.settings();
        let (direct, instrument, effect, loaders) = engines(&model, self.sample_rate_hz, settings);
        (audio.direct, audio.instrument, audio.effect) = (direct, instrument, effect);
        let loader = self.loader.get_mut().unwrap_or_else(|e| e.into_inner());
        (loader.loaders, loader.model, loader.last_error) = (loaders, model.clone(), CString::default());
        self.publish_latency(self.audio_ref());
        Ok(ModelInfo::of(&model))
    }

    fn publish_latency(&self, audio: &Audio) {
        let master = audio.master.latency_samples();
        let notes = audio.instrument.latency_samples().max(Engine::latency_samples(&audio.direct));
        self.controls.latency.store(notes + master, Ordering::Relaxed);
        self.controls.audio_latency.store(audio.effect.latency_samples() + master, Ordering::Relaxed);
    }

    /// The one processing routine, for a pipeline shared between threads (`Arc<Pipeline>`: an
    /// audio thread processes while others set controls and load models). `right`: stereo output;
    /// `input`: timbre transfer's input.
    ///
    /// # Safety
    /// Only one thread may process a pipeline at a time, and none may make event calls meanwhile
    /// through `&mut` (which a shared pipeline cannot anyway).
    pub unsafe fn process_shared(&self, input: Option<&[f32]>, left: &mut [f32], mut right: Option<&mut [f32]>) {
        // SAFETY: the caller guarantees a single audio thread.
        let a = unsafe { &mut *self.audio.get() };
        let mut n = left.len();
        if let Some(r) = &right {
            n = n.min(r.len());
        }
        if let Some(i) = input {
            n = n.min(i.len());
        }
        a.clock.begin_block(&a.pace, n, self.sample_rate_hz);
        self.apply_controls(a);
        // Events for this call, in time order (a stable insertion sort: no allocation, and events
        // on one sample keep their order).
        while let Ok(message) = a.queue.pop() {
            match message {
                Message::Event(e) if a.pending.len() < a.pending.capacity() => {
                    let at = a.pending.partition_point(|p| p.at <= e.at);
                    a.pending.insert(at, e);
                }
                Message::Event(_) => {
                    self.controls.dropped_events.fetch_add(1, Ordering::Relaxed);
                }
                Message::Polyphony { voices, mono } => {
                    let mut s = *a.instrument.settings();
                    s.voices = usize::from(voices);
                    s.mode = if mono { VoiceMode::Mono } else { VoiceMode::Poly };
                    a.instrument.set_settings(s);
                }
                Message::Reset => {
                    a.direct.reset();
                    Engine::reset(&mut a.instrument);
                    a.effect.reset();
                    a.master.reset();
                    a.pending.clear();
                }
            }
        }
        if n == 0 {
            for e in a.pending.drain(..) {
                a.instrument.handle_on(e.channel, e.event);
            }
        }
        if input.is_none() {
            // The effect takes its model swaps even while no audio comes in (an empty block only
            // polls its swap queue), so loads never pile up in its queue.
            a.effect.process_in_place(&mut [&mut a.part[..0]]);
        }
        // A reset's note off, sent before any sample.
        Self::collect_midi_out(&mut a.effect, &mut a.midi_out, a.midi_out_pos);
        let mut start = 0;
        while start < n {
            let len = (n - start).min(self.max_block);
            let end = start + len;
            let last = end == n;
            // Events up to this block's end (all that are left, in the last block).
            let due = if last { a.pending.len() } else { a.pending.partition_point(|e| e.at < end) };
            let mix = &mut a.mix[..len];
            let events = a.pending[..due].iter().map(|e| TimedEvent { at: e.at.saturating_sub(start), ..*e });
            a.instrument.process(events, &mut [&mut *mix]);
            a.pending.drain(..due);
            let part = &mut a.part[..len];
            a.direct.render(part);
            mix.iter_mut().zip(part.iter()).for_each(|(m, p)| *m += p);
            if let Some(input) = input {
                part.copy_from_slice(&input[start..end]);
                a.effect.process_in_place(&mut [&mut *part]);
                Self::collect_midi_out(&mut a.effect, &mut a.midi_out, a.midi_out_pos + start);
                mix.iter_mut().zip(part.iter()).for_each(|(m, p)| *m += p);
            }
            let out_l = &mut left[start..end];
            if a.master_code != 0 {
                let r = &mut a.right[..len];
                r.copy_from_slice(mix);
                a.master.process(mix, r);
                match right.as_deref_mut() {
                    Some(out_r) => {
                        out_l.copy_from_slice(mix);
                        out_r[start..end].copy_from_slice(r);
                    }
                    None => out_l.iter_mut().zip(mix.iter().zip(r.iter())).for_each(|(o, (l, r))| *o = 0.5 * (l + r)),
                }
            } else {
                out_l.copy_from_slice(mix);
                if let Some(out_r) = right.as_deref_mut() {
                    out_r[start..end].copy_from_slice(mix);
                }
            }
            start = end;
        }
        // An embedder's mixer must never see NaN, infinities or subnormals (the effect's dry path
        // can pass a subnormal input straight through).
        let clean = |x: &mut f32| {
            if !x.is_finite() || x.abs() < f32::MIN_POSITIVE {
                *x = 0.0;
            }
        };
        left[..n].iter_mut().for_each(clean);
        if let Some(r) = right {
            r[..n].iter_mut().for_each(clean);
        }
        a.midi_out_pos += n;
        self.publish_latency(a);
    }

    /// Moves the oldest MIDI out messages (timbre transfer's notes and bends, see
    /// `ddsp_core::tracking::notes`) into `out`; returns how many. Call it after each process call:
    /// offsets count from the first sample processed since the messages were last all taken.
    pub fn take_midi_out(&mut self, out: &mut [MidiOutMessage]) -> usize {
        // SAFETY: `&mut self` excludes every other call.
        unsafe { self.take_midi_out_shared(out) }
    }

    /// [`Pipeline::take_midi_out`] through a shared pipeline (the C ABI). Never allocates.
    ///
    /// # Safety
    /// On the audio thread only, as the process calls.
    pub unsafe fn take_midi_out_shared(&self, out: &mut [MidiOutMessage]) -> usize {
        // SAFETY: the caller guarantees the audio thread.
        let a = unsafe { &mut *self.audio.get() };
        let n = out.len().min(a.midi_out.len());
        out[..n].copy_from_slice(&a.midi_out[..n]);
        a.midi_out.drain(..n);
        // Offsets of what stays count from the same start; once all is taken, from here.
        if a.midi_out.is_empty() {
            a.midi_out_pos = 0;
        }
        n
    }

    /// Moves what the effect's MIDI out sent in a block starting `base` samples after the previous
    /// take into the pipeline's list. Never allocates (the list keeps its capacity).
    fn collect_midi_out(effect: &mut TimbreTransfer, list: &mut Vec<MidiOutMessage>, base: usize) {
        effect.drain_midi_out(|e| {
            if list.len() < list.capacity() {
                let (bytes, len) = e.event.to_bytes();
                list.push(MidiOutMessage { offset: (base + e.at) as u32, len: len as u8, bytes });
            }
        });
    }

    /// Reads the atomic controls into the engines.
    fn apply_controls(&self, a: &mut Audio) {
        let c = &self.controls;
        let gate = c.gate.load(Ordering::Acquire);
        a.direct.set_f0_hz(f32::from_bits(c.f0_hz.load(Ordering::Relaxed)));
        let loudness = f32::from_bits(c.loudness.load(Ordering::Relaxed));
        let db = if c.by_norm.load(Ordering::Relaxed) {
            let m = &a.direct.model().meta;
            m.loudness_min_db + loudness.clamp(0.0, 1.0) * (m.loudness_max_db - m.loudness_min_db)
        } else {
            loudness
        };
        a.direct.set_loudness_db(db);
        a.direct.set_gate(gate);
        let smoothing_ms = f32::from_bits(c.smoothing_ms.load(Ordering::Relaxed));
        let morph = MorphPosition::new(
            f32::from_bits(c.morph_x.load(Ordering::Relaxed)),
            f32::from_bits(c.morph_y.load(Ordering::Relaxed)),
        );
        let direct = *a.direct.settings();
        if direct.smoothing_ms != smoothing_ms || direct.morph != morph {
            a.direct.set_settings(DirectSettings { smoothing_ms, morph, ..direct });
        }
        let source = morph_source_of(c.morph_source.load(Ordering::Relaxed)).unwrap_or_default();
        let instrument = *a.instrument.settings();
        if instrument.morph != morph || instrument.morph_source != source {
            a.instrument.set_settings(InstrumentSettings { morph, morph_source: source, ..instrument });
        }
        let effect = *a.effect.settings();
        let midi_out = unpack_midi_out(c.midi_out.load(Ordering::Relaxed));
        let word = c.correction.load(Ordering::Acquire);
        let pitch = CorrectionSettings {
            mode: if word & 0xFF == 0 { PitchMode::Raw } else { PitchMode::Scale },
            root: (word & 0xFF).saturating_sub(1) as u8,
            scale: (word >> 8 & 0xFFF) as u16,
            retune_ms: f32::from_bits(c.retune_ms.load(Ordering::Relaxed)),
            strength: f32::from_bits(c.correction_strength.load(Ordering::Relaxed)),
            smoothing_ms: f32::from_bits(c.pitch_smoothing_ms.load(Ordering::Relaxed)),
        };
        let model_hears_corrected = c.model_hears_corrected.load(Ordering::Relaxed);
        let align_pitch_down_to_hz = f32::from_bits(c.align_pitch_hz.load(Ordering::Relaxed));
        if effect.morph != morph
            || effect.midi_out != midi_out
            || effect.pitch != pitch
            || effect.model_hears_corrected != model_hears_corrected
            || effect.align_pitch_down_to_hz != align_pitch_down_to_hz
        {
            let settings =
                EffectSettings { morph, midi_out, pitch, model_hears_corrected, align_pitch_down_to_hz, ..effect };
            a.effect.set_settings(settings);
        }
        let code = c.master.load(Ordering::Acquire);
        if code != a.master_code {
            let was_on = a.master_code != 0;
            a.master.set_settings(master_of(code));
            if !was_on {
                a.master.reset();
            }
            a.master_code = code;
        }
    }
}

/// A place's letter: A, B, C, D.
fn place_name(i: usize) -> char {
    (b'A' + i.min(25) as u8) as char
}

/// A MIDI channel message as (channel, event); None for anything the instrument does not play.
pub fn decode_midi(bytes: &[u8]) -> Option<(u8, InstrumentEvent)> {
    let (&status, data) = bytes.split_first()?;
    let channel = status & 0x0F;
    let d = |i: usize| data.get(i).copied().filter(|&b| b < 0x80);
    let unit = |v: u8| f32::from(v) / 127.0;
    let event = match status & 0xF0 {
        0x90 if d(1)? > 0 => InstrumentEvent::NoteOn { note: d(0)?, velocity: unit(d(1)?) },
        0x80 | 0x90 => InstrumentEvent::NoteOff { note: d(0)? },
        0xA0 => InstrumentEvent::NoteExpression {
            note: d(0)?,
            expression: ddsp_core::NoteExpression::Pressure,
            value: unit(d(1)?),
        },
        0xB0 => InstrumentEvent::ControlChange { cc: d(0)?, value: unit(d(1)?) },
        0xD0 => InstrumentEvent::ChannelPressure { value: unit(d(0)?) },
        0xE0 => {
            let raw = u16::from(d(0)?) | (u16::from(d(1)?) << 7);
            InstrumentEvent::PitchBend { value: ((f32::from(raw) - 8192.0) / 8192.0).max(-1.0) }
        }
        _ => return None,
    };
    Some((channel, event))
}
