//! The MIDI instrument: notes, velocity, envelope, bend, glide and expression become the per-sample
//! f0 and loudness a [`Voice`] is conditioned on.
//!
//! Monophonic with last-note priority (the way a bowed or blown instrument plays): a note played while
//! another is held glides to it without restarting the envelope when legato is on; releasing it
//! returns to the note still held. The loudness fed to the model is
//! `velocity loudness + envelope (dB) + expression (dB)`, where velocity maps into the loudness range
//! the model was trained on, so every model is played in its sweet spot.
//!
//! Events are applied at their sample: a host splits its block at each event's timing, calls
//! [`MonoInstrument::render`] up to it and [`MonoInstrument::handle`] (see [`render_with_events`]).

mod envelope;

use std::sync::Arc;

pub use envelope::{Adsr, AdsrSettings};

use crate::model::{Model, LOUDNESS_FLOOR_DB};
use crate::swap::{SwapReceiver, CROSSFADE_MS, PREROLL_FRAMES};
use crate::voice::{Voice, VoiceLevels, MAX_CHUNK};

/// Notes remembered for last-note priority; older ones fall off.
pub const MAX_HELD_NOTES: usize = 16;

/// Attenuation of a loudness controller (CC11, CC1, pressure) at value 0, in dB.
pub const EXPRESSION_RANGE_DB: f32 = 40.0;

/// Pitch the model is conditioned on before the first note (A4): the model runs while silent too.
const REST_PITCH: f32 = 69.0;

/// Time constant of the output-gain smoother, ms.
const GAIN_SMOOTHING_MS: f32 = 10.0;

/// Fade time of the idle gate, ms: once the envelope has finished, whatever the model makes of
/// silence (a trained model's residual hiss, an untrained one's hum) fades out; it opens again on
/// the next note. The model keeps running either way, so its recurrent state stays continuous.
const IDLE_FADE_MS: f32 = 5.0;

/// What a MIDI controller drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlTarget {
    Off,
    Loudness,
    Vibrato,
}

/// Everything a user sets. Non-finite values are replaced by defaults when applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstrumentSettings {
    /// Velocity exponent: loudness position = velocity^curve (1 linear, < 1 louder soft notes).
    pub velocity_curve: f32,
    pub envelope: AdsrSettings,
    pub pitch_bend_range_semitones: f32,
    pub legato: bool,
    /// Portamento time between legato notes (time constant of the pitch glide), ms.
    pub glide_ms: f32,
    pub vibrato_rate_hz: f32,
    /// Vibrato depth at full controller value, cents.
    pub vibrato_depth_cents: f32,
    pub mod_wheel_target: ControlTarget,
    pub expression_target: ControlTarget,
    pub pressure_target: ControlTarget,
    pub levels: VoiceLevels,
    /// Linear output gain.
    pub output_gain: f32,
}

impl Default for InstrumentSettings {
    fn default() -> Self {
        Self {
            velocity_curve: 0.7,
            envelope: AdsrSettings::default(),
            pitch_bend_range_semitones: 2.0,
            legato: true,
            glide_ms: 40.0,
            vibrato_rate_hz: 5.5,
            vibrato_depth_cents: 30.0,
            mod_wheel_target: ControlTarget::Vibrato,
            expression_target: ControlTarget::Loudness,
            pressure_target: ControlTarget::Off,
            levels: VoiceLevels::default(),
            output_gain: 1.0,
        }
    }
}

impl InstrumentSettings {
    /// Replaces every non-finite or out-of-range field by its default (or clamps it).
    pub fn sanitised(mut self) -> Self {
        let d = Self::default();
        let fix = |v: f32, default: f32, lo: f32, hi: f32| if v.is_finite() { v.clamp(lo, hi) } else { default };
        self.velocity_curve = fix(self.velocity_curve, d.velocity_curve, 0.1, 10.0);
        self.envelope = self.envelope.sanitised();
        self.pitch_bend_range_semitones = fix(self.pitch_bend_range_semitones, d.pitch_bend_range_semitones, 0.0, 48.0);
        self.glide_ms = fix(self.glide_ms, d.glide_ms, 0.0, 10_000.0);
        self.vibrato_rate_hz = fix(self.vibrato_rate_hz, d.vibrato_rate_hz, 0.0, 20.0);
        self.vibrato_depth_cents = fix(self.vibrato_depth_cents, d.vibrato_depth_cents, 0.0, 200.0);
        self.levels.harmonic_gain = fix(self.levels.harmonic_gain, 1.0, 0.0, 16.0);
        self.levels.noise_gain = fix(self.levels.noise_gain, 1.0, 0.0, 16.0);
        self.output_gain = fix(self.output_gain, 1.0, 0.0, 16.0);
        self
    }
}

/// A MIDI event, already decoded by the host shell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InstrumentEvent {
    NoteOn {
        note: u8,
        velocity: f32,
    },
    NoteOff {
        note: u8,
    },
    /// Bend in `[-1, 1]` (0 = centre).
    PitchBend {
        value: f32,
    },
    /// Controller value in `[0, 1]`.
    ControlChange {
        cc: u8,
        value: f32,
    },
    ChannelPressure {
        value: f32,
    },
    AllNotesOff,
}

/// Seed of every voice's noise generator, so a bounce is reproducible.
pub const VOICE_SEED: u32 = 0x5EED_DD5F;

/// Lifecycle: [`MonoInstrument::new`] allocates; everything else never does.
pub struct MonoInstrument {
    voice: Box<Voice>,
    /// Model hot-swap: the queue end, the voice fading in and how far, and a replaced voice still
    /// waiting for room in the return queue.
    swap: Option<SwapReceiver>,
    incoming: Option<Box<Voice>>,
    /// Samples into the swap; negative during the silent pre-roll.
    crossfade_pos: i64,
    crossfade_len: u32,
    retiring: Option<Box<Voice>>,
    crossfade_out: [f32; MAX_CHUNK],
    settings: InstrumentSettings,
    sample_rate_hz: f32,
    held: [(u8, f32); MAX_HELD_NOTES],
    n_held: usize,
    /// Sounding pitch in semitones (MIDI numbers), gliding towards `target_pitch`.
    pitch: f32,
    target_pitch: f32,
    velocity_db: f32,
    envelope: Adsr,
    bend: f32,
    mod_wheel: f32,
    expression: f32,
    pressure: f32,
    vibrato_phase: f32,
    output_gain: f32,
    /// Idle gate, 0 (closed) to 1 (open), moved linearly by `IDLE_FADE_MS`.
    idle_gate: f32,
    f0_hz: [f32; MAX_CHUNK],
    loudness_db: [f32; MAX_CHUNK],
    gate: [f32; MAX_CHUNK],
    last_f0_hz: f32,
    last_loudness_db: f32,
}

impl MonoInstrument {
    /// Allocates the voice for `model` at `sample_rate_hz`.
    pub fn new(model: Arc<Model>, sample_rate_hz: f32, settings: InstrumentSettings) -> Self {
        let settings = settings.sanitised();
        let mut instrument = Self {
            voice: Box::new(Voice::new(model, sample_rate_hz, VOICE_SEED)),
            swap: None,
            incoming: None,
            crossfade_pos: 0,
            crossfade_len: ((CROSSFADE_MS * 0.001 * sample_rate_hz) as u32).max(1),
            retiring: None,
            crossfade_out: [0.0; MAX_CHUNK],
            sample_rate_hz,
            held: [(0, 0.0); MAX_HELD_NOTES],
            n_held: 0,
            pitch: REST_PITCH,
            target_pitch: REST_PITCH,
            velocity_db: LOUDNESS_FLOOR_DB,
            envelope: Adsr::new(sample_rate_hz, settings.envelope),
            bend: 0.0,
            mod_wheel: 0.0,
            expression: 1.0,
            pressure: 0.0,
            vibrato_phase: 0.0,
            output_gain: settings.output_gain,
            idle_gate: 0.0,
            f0_hz: [0.0; MAX_CHUNK],
            loudness_db: [0.0; MAX_CHUNK],
            gate: [0.0; MAX_CHUNK],
            last_f0_hz: 0.0,
            last_loudness_db: LOUDNESS_FLOOR_DB,
            settings,
        };
        instrument.reset();
        instrument
    }

    pub fn model(&self) -> &Arc<Model> {
        self.voice.model()
    }

    /// The voice playing (its model and current controls, for the editor).
    pub fn voice(&self) -> &Voice {
        &self.voice
    }

    /// The pitch (Hz) and loudness (dB) the model was last conditioned on, and whether a note
    /// sounds: what the editor draws against the model's trained range.
    pub fn played(&self) -> (f32, f32, bool) {
        (self.last_f0_hz, self.last_loudness_db, self.envelope.is_active())
    }

    /// A voice for `model` ready to be sent to this instrument through a swap channel. Allocates:
    /// call it on the loader's thread.
    pub fn prepare_voice(model: Arc<Model>, sample_rate_hz: f32) -> Box<Voice> {
        Box::new(Voice::new(model, sample_rate_hz, VOICE_SEED))
    }

    /// Connects the audio-thread end of a [`crate::swap::swap_channel`].
    pub fn attach_swap_receiver(&mut self, receiver: SwapReceiver) {
        self.swap = Some(receiver);
    }

    /// True while a model swap is crossfading.
    pub fn is_swapping(&self) -> bool {
        self.incoming.is_some()
    }

    /// Starts a swap if a voice is waiting, and hands back a retired voice when there is room.
    fn poll_swap(&mut self) {
        let Some(swap) = &mut self.swap else { return };
        if let Some(old) = self.retiring.take() {
            self.retiring = swap.retire(old).err();
        }
        if self.incoming.is_none() && self.retiring.is_none() {
            if let Some(voice) = swap.next_voice() {
                let preroll = (f64::from(PREROLL_FRAMES) * f64::from(self.sample_rate_hz)
                    / f64::from(voice.model().meta.frame_rate_hz)) as i64;
                self.incoming = Some(voice);
                self.crossfade_pos = -preroll;
            }
        }
    }

    /// Ends the crossfade: the new voice plays, the old one goes back to the loader.
    fn finish_swap(&mut self) {
        if let Some(new) = self.incoming.take() {
            let old = core::mem::replace(&mut self.voice, new);
            self.retiring = match &mut self.swap {
                Some(swap) => swap.retire(old).err(),
                None => Some(old),
            };
        }
    }

    pub fn settings(&self) -> &InstrumentSettings {
        &self.settings
    }

    /// Takes effect from the next sample; the output gain and levels glide (no zipper noise).
    pub fn set_settings(&mut self, settings: InstrumentSettings) {
        self.settings = settings.sanitised();
        self.envelope.set_settings(self.settings.envelope);
    }

    /// Added latency in samples: none for recurrent models (no look-ahead); a windowed model's
    /// fixed delay in frames (see [`crate::model::windowed`]).
    pub fn latency_samples(&self) -> u32 {
        let model = self.voice.model();
        (model.latency_frames() as f64 * f64::from(self.sample_rate_hz) / f64::from(model.meta.frame_rate_hz)).round()
            as u32
    }

    /// Silence, no notes, controllers at rest, model state zeroed.
    pub fn reset(&mut self) {
        self.finish_swap();
        self.voice.reset();
        self.envelope.reset();
        self.n_held = 0;
        self.pitch = REST_PITCH;
        self.target_pitch = REST_PITCH;
        self.bend = 0.0;
        self.mod_wheel = 0.0;
        self.expression = 1.0;
        self.pressure = 0.0;
        self.vibrato_phase = 0.0;
        self.output_gain = self.settings.output_gain;
        self.idle_gate = 0.0;
        self.velocity_db = LOUDNESS_FLOOR_DB;
    }

    /// Applies one event at the current sample.
    pub fn handle(&mut self, event: InstrumentEvent) {
        let unit = |v: f32| if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
        match event {
            InstrumentEvent::NoteOn { note, velocity } if velocity > 0.0 => self.note_on(note.min(127), unit(velocity)),
            InstrumentEvent::NoteOn { note, .. } | InstrumentEvent::NoteOff { note } => self.note_off(note),
            InstrumentEvent::PitchBend { value } => {
                self.bend = if value.is_finite() { value.clamp(-1.0, 1.0) } else { 0.0 }
            }
            InstrumentEvent::ControlChange { cc: 1, value } => self.mod_wheel = unit(value),
            InstrumentEvent::ControlChange { cc: 11, value } => self.expression = unit(value),
            InstrumentEvent::ControlChange { cc: 120 | 123, .. } | InstrumentEvent::AllNotesOff => {
                self.n_held = 0;
                self.envelope.release();
            }
            InstrumentEvent::ControlChange { .. } => {}
            InstrumentEvent::ChannelPressure { value } => self.pressure = unit(value),
        }
    }

    fn note_on(&mut self, note: u8, velocity: f32) {
        let was_playing = self.n_held > 0;
        self.remove_held(note);
        if self.n_held == MAX_HELD_NOTES {
            self.held.copy_within(1.., 0);
            self.n_held -= 1;
        }
        self.held[self.n_held] = (note, velocity);
        self.n_held += 1;

        self.velocity_db = self.velocity_loudness_db(velocity);
        self.target_pitch = f32::from(note);
        if was_playing && self.settings.legato {
            return; // glide, keep the envelope
        }
        if !self.envelope.is_active() {
            self.pitch = self.target_pitch; // a new phrase starts on pitch
                                            // From silence, the model hears the note now, not at the next frame boundary.
            self.voice.start_frame_now();
        }
        self.envelope.trigger();
    }

    fn note_off(&mut self, note: u8) {
        let was_top = self.n_held > 0 && self.held[self.n_held - 1].0 == note;
        self.remove_held(note);
        if self.n_held == 0 {
            self.envelope.release();
        } else if was_top {
            // Back to the note still held, at its own velocity.
            let (prev, velocity) = self.held[self.n_held - 1];
            self.target_pitch = f32::from(prev);
            self.velocity_db = self.velocity_loudness_db(velocity);
            if !self.settings.legato {
                self.envelope.trigger();
            }
        }
    }

    /// Where a velocity sits in the loudness range the playing model was trained on.
    fn velocity_loudness_db(&self, velocity: f32) -> f32 {
        let meta = &self.voice.model().meta;
        let position = velocity.powf(self.settings.velocity_curve);
        meta.loudness_min_db + (meta.loudness_max_db - meta.loudness_min_db) * position
    }

    fn remove_held(&mut self, note: u8) {
        let mut kept = 0;
        for i in 0..self.n_held {
            if self.held[i].0 != note {
                self.held[kept] = self.held[i];
                kept += 1;
            }
        }
        self.n_held = kept;
    }

    fn controller_sum(&self, target: ControlTarget) -> (f32, bool) {
        let s = &self.settings;
        let sources = [
            (s.mod_wheel_target, self.mod_wheel),
            (s.expression_target, self.expression),
            (s.pressure_target, self.pressure),
        ];
        let mut value: f32 = 0.0;
        let mut any = false;
        for (t, v) in sources {
            if t == target {
                value = if target == ControlTarget::Loudness && any { value.min(v) } else { value.max(v) };
                any = true;
            }
        }
        (value, any)
    }

    /// Renders `out.len()` samples (overwriting `out`) with the current notes and controllers.
    pub fn render(&mut self, out: &mut [f32]) {
        let _ftz = crate::denormals::ScopedFlushDenormals::new();
        let sr = self.sample_rate_hz;
        let s = self.settings;
        let glide_coeff = if s.glide_ms > 0.0 { 1.0 - (-1.0 / (s.glide_ms * 0.001 * sr)).exp() } else { 1.0 };
        let gain_coeff = 1.0 - (-1.0 / (GAIN_SMOOTHING_MS * 0.001 * sr)).exp();
        let (vibrato_amount, _) = self.controller_sum(ControlTarget::Vibrato);
        let vibrato_semitones = vibrato_amount * s.vibrato_depth_cents / 100.0;
        let (expression, has_expression) = self.controller_sum(ControlTarget::Loudness);
        let expression_db = if has_expression { -EXPRESSION_RANGE_DB * (1.0 - expression) } else { 0.0 };
        let bend_semitones = self.bend * s.pitch_bend_range_semitones;
        let vibrato_step = s.vibrato_rate_hz / sr;
        let gate_step = 1.0 / (IDLE_FADE_MS * 0.001 * sr);
        let hop_samples = self.voice.frame_hop_samples() as f32;

        for chunk in out.chunks_mut(MAX_CHUNK) {
            self.poll_swap();
            let n = chunk.len();
            for i in 0..n {
                let gate_target = if self.envelope.is_active() { 1.0 } else { 0.0 };
                self.gate[i] = self.idle_gate;
                self.idle_gate += (gate_target - self.idle_gate).clamp(-gate_step, gate_step);
                self.pitch += (self.target_pitch - self.pitch) * glide_coeff;
                let vibrato = vibrato_semitones * (core::f32::consts::TAU * self.vibrato_phase).sin();
                self.vibrato_phase = (self.vibrato_phase + vibrato_step).fract();
                let semitones = self.pitch + bend_semitones + vibrato;
                self.f0_hz[i] = 440.0 * ((semitones - 69.0) / 12.0).exp2();
                // The model's controls glide to their target over one frame: condition it on
                // where the envelope will be at the frame's end, so the sound is not a frame late.
                self.envelope.next();
                let env = self.envelope.predict(hop_samples);
                let env_db = if env > 1e-6 { 20.0 * env.log10() } else { LOUDNESS_FLOOR_DB };
                self.loudness_db[i] = (self.velocity_db + env_db + expression_db).max(LOUDNESS_FLOOR_DB);
            }
            self.voice.process(&self.f0_hz[..n], &self.loudness_db[..n], s.levels, chunk);
            (self.last_f0_hz, self.last_loudness_db) = (self.f0_hz[n - 1], self.loudness_db[n - 1]);
            if let Some(incoming) = &mut self.incoming {
                // Equal-power crossfade: the two models' outputs are only partly correlated.
                let fresh = &mut self.crossfade_out[..n];
                incoming.process(&self.f0_hz[..n], &self.loudness_db[..n], s.levels, fresh);
                for (y, &x) in chunk.iter_mut().zip(fresh.iter()) {
                    let t = (self.crossfade_pos as f32 / self.crossfade_len as f32).clamp(0.0, 1.0);
                    let (new_gain, old_gain) = (core::f32::consts::FRAC_PI_2 * t).sin_cos();
                    *y = *y * old_gain + x * new_gain;
                    self.crossfade_pos += 1;
                }
                if self.crossfade_pos >= i64::from(self.crossfade_len) {
                    self.finish_swap();
                }
            }
            for (y, g) in chunk.iter_mut().zip(&self.gate) {
                self.output_gain += (s.output_gain - self.output_gain) * gain_coeff;
                *y *= self.output_gain * g;
            }
        }
    }
}

/// What [`render_with_events`] plays: the monophonic instrument or [`crate::PolyInstrument`].
pub trait Playable {
    /// Renders `out.len()` samples (overwriting `out`).
    fn render(&mut self, out: &mut [f32]);
    /// Applies one event at the current sample.
    fn handle(&mut self, event: InstrumentEvent);
}

impl Playable for MonoInstrument {
    fn render(&mut self, out: &mut [f32]) {
        MonoInstrument::render(self, out);
    }
    fn handle(&mut self, event: InstrumentEvent) {
        MonoInstrument::handle(self, event);
    }
}

/// Renders `out` with `events` (sorted by sample offset) applied at their sample: the loop every
/// host shell and the offline renderer share.
pub fn render_with_events(instrument: &mut impl Playable, out: &mut [f32], events: &[(usize, InstrumentEvent)]) {
    let mut pos = 0;
    for &(at, event) in events {
        let at = at.min(out.len());
        if at > pos {
            instrument.render(&mut out[pos..at]);
            pos = at;
        }
        instrument.handle(event);
    }
    instrument.render(&mut out[pos..]);
}
