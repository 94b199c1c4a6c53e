//! The MIDI instrument: notes, velocity, envelope, bend, glide and expression become the per-sample
//! f0 and loudness its voices are conditioned on. One instrument for every host: the plugins,
//! the standalone, `ddsp render` and `ddsp demo`.
//!
//! ```text
//! events ─ allocation (poly / mono) ─ pedals (CC64, CC66) ─ MPE / note expressions ─┐
//!   voice 1..N: pitch (glide, bend, vibrato) + loudness (velocity, envelope, pressure)
//!            ─ live voice (model, harmonic bank, noise, hot-swap) ─ Σ ─ output gain ─ out
//! ```
//!
//! **Poly** (default, 8 voices, 1–[`MAX_VOICES`]): each note takes a voice of its own, with its own
//! model state. A new note takes the voice silent longest; when every voice sounds it steals the
//! oldest released voice, else the quietest held one, fading it out over [`STEAL_FADE_MS`] first.
//! **Mono**: one voice, last-note priority (the way a bowed or blown instrument plays): a note
//! played while another is held moves to it, without restarting the envelope when legato is on;
//! releasing it returns to the note still held. Glide (portamento) happens between overlapping
//! notes only, unless [`GlideMode::Always`]; its time is the time to arrive (a linear glide in
//! semitones). The loudness fed to the model is `velocity loudness + envelope (dB) + expression
//! (dB)`, where velocity maps into the loudness range the model was trained on, so every model is
//! played in its sweet spot.
//!
//! **MPE**: an MPE Configuration Message (RPN 6 on a manager channel, 1 or 16) or the `mpe` setting
//! turns member channels into per-note channels: their pitch bend (48 semitones by default, RPN 0
//! changes it), pressure (loudness) and CC74 (brightness: harmonic/noise balance) move only the
//! notes on that channel; the manager channel's bend and controllers move every note. Host note
//! expressions ([`InstrumentEvent::NoteExpression`]) do the same per note.
//!
//! Events are applied at their sample: [`crate::engine::Engine::process`] splits the block at each
//! event's timing.

mod envelope;
mod voice;

use std::sync::Arc;

pub use envelope::{Adsr, AdsrSettings};
pub use voice::STEAL_FADE_MS;

use crate::model::{Model, LOUDNESS_FLOOR_DB};
use crate::morph::{MorphPosition, MorphSource};
use crate::swap::{ModelBatch, SwapReceiver, VoiceSpec};
use crate::voice::{LiveVoice, Voice, VoiceLevels, MAX_CHUNK};
use voice::{NoteVoice, Pending, Shared};

/// Voices the instrument owns (the polyphony setting chooses how many play).
pub const MAX_VOICES: usize = 32;

/// Default polyphony.
pub const DEFAULT_VOICES: usize = 8;

/// Default per-note pitch-bend range on MPE member channels (the MPE specification's), semitones.
pub const MPE_BEND_RANGE_SEMITONES: f32 = 48.0;

/// Notes remembered for last-note priority; older ones fall off.
pub const MAX_HELD_NOTES: usize = 16;

/// Attenuation of a loudness controller (CC11, CC1, pressure) at value 0, in dB.
pub const EXPRESSION_RANGE_DB: f32 = 40.0;

/// Pitch the model is conditioned on before the first note (A4): the model runs while silent too.
const REST_PITCH: f32 = 69.0;

/// Time constant of the output-gain (and per-note volume) smoother, ms.
const GAIN_SMOOTHING_MS: f32 = 10.0;

/// MIDI controllers the instrument itself answers.
const SUSTAIN_CC: u8 = 64;
const SOSTENUTO_CC: u8 = 66;
const TIMBRE_CC: u8 = 74;

/// Every MIDI controller the instrument answers (CC numbers; 128 is channel pressure and 129 pitch
/// bend, as VST3's `IMidiMapping` numbers them): mod wheel, RPN data entry, expression, sustain,
/// sostenuto, MPE timbre, RPN select, all sound off, reset all controllers, all notes off. A VST3
/// host delivers controllers only as parameters, one per controller and channel, so the plugin
/// registers these and no others (a test keeps the list in step with [`Instrument`]'s handling).
pub const MIDI_CONTROLLERS: [u8; 13] =
    [1, 6, 11, SUSTAIN_CC, SOSTENUTO_CC, TIMBRE_CC, 100, 101, 120, 121, 123, 128, 129];

/// What a MIDI controller drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlTarget {
    Off,
    Loudness,
    Vibrato,
}

/// How notes take voices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoiceMode {
    /// A voice per note (chords).
    Poly,
    /// One voice, last-note priority (solo lines).
    Mono,
}

/// When the pitch glides from the previous note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlideMode {
    /// Only into a note played while another is held.
    Legato,
    /// Into every note, from the last note played.
    Always,
}

/// Everything a user sets. Non-finite values are replaced by defaults when applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstrumentSettings {
    /// Velocity exponent: loudness position = velocity^curve (1 linear, < 1 louder soft notes).
    pub velocity_curve: f32,
    pub envelope: AdsrSettings,
    pub pitch_bend_range_semitones: f32,
    pub mode: VoiceMode,
    /// Polyphony in [`VoiceMode::Poly`], 1..=[`MAX_VOICES`].
    pub voices: usize,
    /// Mono: a note played over a held one keeps the envelope going (off: retrigger it).
    pub legato: bool,
    /// Portamento: the time a glide takes to arrive, ms (0: none).
    pub glide_ms: f32,
    pub glide_mode: GlideMode,
    /// MPE lower zone on channels 2–16 without waiting for a Configuration Message.
    pub mpe: bool,
    /// Per-note bend range on MPE member channels, semitones.
    pub mpe_bend_range_semitones: f32,
    pub vibrato_rate_hz: f32,
    /// Vibrato depth at full controller value, cents.
    pub vibrato_depth_cents: f32,
    pub mod_wheel_target: ControlTarget,
    pub expression_target: ControlTarget,
    pub pressure_target: ControlTarget,
    pub levels: VoiceLevels,
    /// Linear output gain.
    pub output_gain: f32,
    /// Where a morph of several models sits (see [`crate::morph`]); ignored with one model.
    pub morph: MorphPosition,
    /// What moves the morph's `x` while notes play (per note for timbre and pressure).
    pub morph_source: MorphSource,
}

impl Default for InstrumentSettings {
    fn default() -> Self {
        Self {
            velocity_curve: 0.7,
            envelope: AdsrSettings::default(),
            pitch_bend_range_semitones: 2.0,
            mode: VoiceMode::Poly,
            voices: DEFAULT_VOICES,
            legato: true,
            glide_ms: 40.0,
            glide_mode: GlideMode::Legato,
            mpe: false,
            mpe_bend_range_semitones: MPE_BEND_RANGE_SEMITONES,
            vibrato_rate_hz: 5.5,
            vibrato_depth_cents: 30.0,
            mod_wheel_target: ControlTarget::Vibrato,
            expression_target: ControlTarget::Loudness,
            pressure_target: ControlTarget::Off,
            levels: VoiceLevels::default(),
            output_gain: 1.0,
            morph: MorphPosition::default(),
            morph_source: MorphSource::Off,
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
        self.voices = self.voices.clamp(1, MAX_VOICES);
        self.mpe_bend_range_semitones = fix(self.mpe_bend_range_semitones, d.mpe_bend_range_semitones, 0.0, 96.0);
        self.vibrato_rate_hz = fix(self.vibrato_rate_hz, d.vibrato_rate_hz, 0.0, 20.0);
        self.vibrato_depth_cents = fix(self.vibrato_depth_cents, d.vibrato_depth_cents, 0.0, 200.0);
        self.levels.harmonic_gain = fix(self.levels.harmonic_gain, 1.0, 0.0, 16.0);
        self.levels.noise_gain = fix(self.levels.noise_gain, 1.0, 0.0, 16.0);
        self.output_gain = fix(self.output_gain, 1.0, 0.0, 16.0);
        self.morph = self.morph.sanitised();
        if let MorphSource::Controller(cc) = self.morph_source {
            self.morph_source = MorphSource::Controller(cc.min(119));
        }
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
    /// Releases every note (CC123 does the same).
    AllNotesOff,
    /// One note's own expression (CLAP note expressions, VST3 note expression, MIDI polyphonic
    /// aftertouch): it moves only that note.
    NoteExpression {
        note: u8,
        expression: NoteExpression,
        value: f32,
    },
}

/// What a [`InstrumentEvent::NoteExpression`] sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteExpression {
    /// Detune, semitones (added to the note's pitch).
    Tuning,
    /// 0..1: the note's loudness position (as velocity is), from when it arrives.
    Pressure,
    /// Linear gain, 0..4.
    Volume,
    /// 0..1, 0.5 neutral: harmonic/noise balance.
    Brightness,
}

/// Noise seed of voice 0 (voice `i`: [`VoiceSpec::seed`]), so a bounce is reproducible.
pub const VOICE_SEED: u32 = 0x5EED_DD5F;

/// Channel controllers: omni when MPE is off, else the manager channel's.
#[derive(Clone, Copy, Debug)]
struct Controllers {
    /// Pitch bend in [-1, 1].
    bend: f32,
    mod_wheel: f32,
    expression: f32,
    pressure: f32,
    /// CC74, 0..1 (0.5 until one arrives: neutral).
    timbre: f32,
}

impl Default for Controllers {
    fn default() -> Self {
        Self { bend: 0.0, mod_wheel: 0.0, expression: 1.0, pressure: 0.0, timbre: 0.5 }
    }
}

/// An MPE zone: its manager channel and member channels (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Zone {
    manager: u8,
    first: u8,
    last: u8,
}

impl Zone {
    fn is_member(&self, channel: u8) -> bool {
        (self.first..=self.last).contains(&channel)
    }
}

/// RPN "null": no parameter selected.
const RPN_NULL: (u8, u8) = (127, 127);

/// Lifecycle: [`Instrument::new`] allocates every voice; everything else never does.
pub struct Instrument {
    voices: Vec<NoteVoice>,
    swap: Option<SwapReceiver>,
    settings: InstrumentSettings,
    sample_rate_hz: f32,
    /// Mono: keys held (down or by a pedal), last-note priority; with their velocity and channel.
    held: [(u8, f32, u8); MAX_HELD_NOTES],
    n_held: usize,
    /// Mono: keys released while a pedal holds them.
    pedal_held: [bool; 128],
    /// Mono: keys latched by the sostenuto pedal.
    sostenuto_keys: [bool; 128],
    sustain_down: bool,
    sostenuto_down: bool,
    global: Controllers,
    /// Per member channel (MPE): the bend in [-1, 1].
    member_bend: [f32; 16],
    /// Per member channel (MPE): the latest timbre (CC74) and pressure, 0..1 (negative: none
    /// yet), so a note starts with what its channel was sent before its note-on.
    member_timbre: [f32; 16],
    member_pressure: [f32; 16],
    /// RPN selected on each channel (MSB, LSB).
    rpn: [(u8, u8); 16],
    /// Zone set by a Configuration Message (`None`: none received).
    rpn_zone: Option<Zone>,
    /// Bend ranges set by RPN 0 (global, members).
    rpn_bend_range: Option<f32>,
    rpn_member_bend_range: Option<f32>,
    /// Event counter, for allocation order.
    clock: u64,
    /// Last note started (semitones), where "glide always" starts from.
    last_pitch: f32,
    /// Voice that started a note last (the editor's view).
    last_voice: usize,
    output_gain: f32,
    /// Samples rendered since the last reset: the clock of the shared frame grid.
    sample_clock: u64,
    /// The model whose frames voices run together, and the scratch to do it (see `run_batch`).
    batch: Option<ModelBatch>,
    batching: bool,
    /// Voice frames run in batches since the instrument was built (a measure, for tests).
    batched_frames: u64,
    /// The channel-wide value of the morph source (`None` until one arrives: the set position).
    morph_value: Option<f32>,
    /// A morph's other models and their batch scratch, by morph slot (see `run_batch`).
    morph_batches: Vec<ModelBatch>,
}

impl Instrument {
    /// Allocates [`MAX_VOICES`] voices for `model` at `sample_rate_hz`.
    pub fn new(model: Arc<Model>, sample_rate_hz: f32, settings: InstrumentSettings) -> Self {
        let settings = settings.sanitised();
        let spec = Self::spec(sample_rate_hz);
        let voices = (0..MAX_VOICES)
            .map(|i| {
                NoteVoice::new(LiveVoice::new(spec.build(model.clone(), i), sample_rate_hz), sample_rate_hz, &settings)
            })
            .collect();
        let mut instrument = Self {
            voices,
            swap: None,
            settings,
            sample_rate_hz,
            held: [(0, 0.0, 0); MAX_HELD_NOTES],
            n_held: 0,
            pedal_held: [false; 128],
            sostenuto_keys: [false; 128],
            sustain_down: false,
            sostenuto_down: false,
            global: Controllers::default(),
            member_bend: [0.0; 16],
            member_timbre: [-1.0; 16],
            member_pressure: [-1.0; 16],
            rpn: [RPN_NULL; 16],
            rpn_zone: None,
            rpn_bend_range: None,
            rpn_member_bend_range: None,
            clock: 0,
            last_pitch: REST_PITCH,
            last_voice: 0,
            output_gain: settings.output_gain,
            sample_clock: 0,
            batch: model.new_batch(MAX_VOICES).map(|b| (model.clone(), b)),
            batching: true,
            batched_frames: 0,
            morph_value: None,
            morph_batches: Vec::new(),
        };
        instrument.reset();
        instrument
    }

    fn spec(sample_rate_hz: f32) -> VoiceSpec {
        VoiceSpec { sample_rate_hz, voices: MAX_VOICES, seed: VOICE_SEED, control_glide: 1.0 }
    }

    /// How this instrument's voices are built (for a [`crate::swap::ModelLoader`]).
    pub fn voice_spec(&self) -> VoiceSpec {
        Self::spec(self.sample_rate_hz)
    }

    pub fn model(&self) -> &Arc<Model> {
        self.voices[0].live.model()
    }

    /// The voice that started a note last (its model and current controls, for the editor).
    pub fn voice(&self) -> &Voice {
        self.voices[self.last_voice].live.voice()
    }

    /// Bit `i` set: voice `i` is running (sounding, releasing or fading).
    pub fn voice_activity(&self) -> u32 {
        self.voices.iter().enumerate().filter(|(_, v)| v.is_active()).fold(0, |m, (i, _)| m | 1 << i)
    }

    /// The pitch (Hz) and loudness (dB) the last-started voice was conditioned on, and whether any
    /// note sounds: what the editor draws against the model's trained range.
    pub fn played(&self) -> (f32, f32, bool) {
        let v = &self.voices[self.last_voice];
        (v.last_f0_hz, v.last_loudness_db, self.voices.iter().any(NoteVoice::is_audible))
    }

    /// Batched inference on (the default) or off (each voice runs its own model step). The output
    /// is the same bit for bit; only the cost differs (benchmarks compare the two).
    pub fn set_batched_inference(&mut self, enabled: bool) {
        self.batching = enabled;
    }

    /// Voice frames that ran as part of a batch since the instrument was built.
    pub fn batched_frames(&self) -> u64 {
        self.batched_frames
    }

    /// Connects the audio-thread end of a [`crate::swap::swap_channel`].
    pub fn attach_swap_receiver(&mut self, receiver: SwapReceiver) {
        self.swap = Some(receiver);
    }

    /// True while a model swap is under way.
    pub fn is_swapping(&self) -> bool {
        self.swap.as_ref().is_some_and(SwapReceiver::is_busy)
    }

    pub fn settings(&self) -> &InstrumentSettings {
        &self.settings
    }

    /// Takes effect from the next sample; the output gain and levels glide (no zipper noise).
    pub fn set_settings(&mut self, settings: InstrumentSettings) {
        self.settings = settings.sanitised();
        let s = self.settings;
        self.voices.iter_mut().for_each(|v| v.set_envelope(&s));
    }

    /// Added latency in samples: none for recurrent models (no look-ahead); a windowed model's
    /// fixed delay in frames (see [`crate::model::windowed`]).
    pub fn latency_samples(&self) -> u32 {
        self.model().latency_samples(self.sample_rate_hz)
    }

    /// Silence, no notes, controllers and pedals at rest, model states zeroed.
    pub fn reset(&mut self) {
        self.voices.iter_mut().for_each(NoteVoice::reset);
        self.n_held = 0;
        self.pedal_held = [false; 128];
        self.sostenuto_keys = [false; 128];
        (self.sustain_down, self.sostenuto_down) = (false, false);
        self.global = Controllers::default();
        self.member_bend = [0.0; 16];
        (self.member_timbre, self.member_pressure) = ([-1.0; 16], [-1.0; 16]);
        self.rpn = [RPN_NULL; 16];
        (self.rpn_zone, self.rpn_bend_range, self.rpn_member_bend_range) = (None, None, None);
        self.last_pitch = REST_PITCH;
        self.last_voice = 0;
        self.output_gain = self.settings.output_gain;
        self.sample_clock = 0;
        self.morph_value = None;
    }

    /// The MPE zone in effect.
    fn zone(&self) -> Option<Zone> {
        self.rpn_zone.or(self.settings.mpe.then_some(Zone { manager: 0, first: 1, last: 15 }))
    }

    /// Applies one event on MIDI channel 0 (see [`Instrument::handle_on`]).
    pub fn handle(&mut self, event: InstrumentEvent) {
        self.handle_on(0, event);
    }

    /// Applies one event, from MIDI channel `channel` (0-based), at the current sample.
    pub fn handle_on(&mut self, channel: u8, event: InstrumentEvent) {
        let channel = channel & 15;
        self.clock += 1;
        let unit = |v: f32| if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
        let member = self.zone().filter(|z| z.is_member(channel));
        match event {
            InstrumentEvent::NoteOn { note, velocity } if velocity > 0.0 && velocity.is_finite() => {
                self.note_on(note.min(127), channel, unit(velocity))
            }
            InstrumentEvent::NoteOn { note, .. } | InstrumentEvent::NoteOff { note } => {
                self.note_off(note.min(127), channel)
            }
            InstrumentEvent::PitchBend { value } => {
                let bend = if value.is_finite() { value.clamp(-1.0, 1.0) } else { 0.0 };
                match member {
                    Some(_) => {
                        self.member_bend[usize::from(channel)] = bend;
                        let range = self.rpn_member_bend_range.unwrap_or(self.settings.mpe_bend_range_semitones);
                        self.for_channel(channel, |v| v.note_bend = bend * range);
                    }
                    None => self.global.bend = bend,
                }
            }
            InstrumentEvent::ChannelPressure { value } => match member {
                Some(_) => {
                    self.member_pressure[usize::from(channel)] = unit(value);
                    self.for_channel(channel, |v| v.pressure = unit(value))
                }
                None => {
                    self.global.pressure = unit(value);
                    if self.settings.morph_source == MorphSource::Pressure {
                        self.morph_value = Some(unit(value));
                    }
                }
            },
            InstrumentEvent::ControlChange { cc: TIMBRE_CC, value } => match member {
                Some(_) => {
                    self.member_timbre[usize::from(channel)] = unit(value);
                    self.for_channel(channel, |v| v.brightness = unit(value))
                }
                None => {
                    self.global.timbre = unit(value);
                    if self.settings.morph_source == MorphSource::Timbre {
                        self.morph_value = Some(unit(value));
                    }
                }
            },
            InstrumentEvent::ControlChange { cc, value } => {
                if self.settings.morph_source == MorphSource::Controller(cc) {
                    self.morph_value = Some(unit(value));
                }
                self.control_change(channel, cc, unit(value))
            }
            InstrumentEvent::AllNotesOff => self.all_notes_off(),
            InstrumentEvent::NoteExpression { note, expression, value } => {
                let value = if value.is_finite() { value } else { return };
                let note = Some(note.min(127));
                for v in self.voices.iter_mut().filter(|v| v.note == note && v.channel == channel && v.is_active()) {
                    match expression {
                        NoteExpression::Tuning => v.tuning = value.clamp(-120.0, 120.0),
                        NoteExpression::Pressure => v.pressure = value.clamp(0.0, 1.0),
                        NoteExpression::Volume => v.volume = value.clamp(0.0, 4.0),
                        NoteExpression::Brightness => v.brightness = value.clamp(0.0, 1.0),
                    }
                }
            }
        }
    }

    fn for_channel(&mut self, channel: u8, mut f: impl FnMut(&mut NoteVoice)) {
        self.voices.iter_mut().filter(|v| v.channel == channel && v.note.is_some()).for_each(|v| f(v));
    }

    fn control_change(&mut self, channel: u8, cc: u8, value: f32) {
        let ch = usize::from(channel);
        let value_7bit = (value * 127.0).round() as u8;
        match cc {
            1 => self.global.mod_wheel = value,
            11 => self.global.expression = value,
            SUSTAIN_CC => {
                let down = value >= 0.5;
                if self.sustain_down && !down {
                    self.sustain_down = false;
                    self.release_pedalled();
                }
                self.sustain_down = down;
            }
            SOSTENUTO_CC => {
                let down = value >= 0.5;
                if down && !self.sostenuto_down {
                    // Latch the keys down now: they sound until the pedal lifts.
                    self.voices.iter_mut().filter(|v| v.key_down && v.note.is_some()).for_each(|v| v.latched = true);
                    for &(key, _, _) in &self.held[..self.n_held] {
                        if !self.pedal_held[usize::from(key)] {
                            self.sostenuto_keys[usize::from(key)] = true;
                        }
                    }
                } else if !down && self.sostenuto_down {
                    self.voices.iter_mut().for_each(|v| v.latched = false);
                    self.sostenuto_keys = [false; 128];
                    self.sostenuto_down = false;
                    self.release_pedalled();
                }
                self.sostenuto_down = down;
            }
            101 => self.rpn[ch].0 = value_7bit,
            100 => self.rpn[ch].1 = value_7bit,
            6 => self.data_entry(channel, value_7bit),
            120 => {
                // All sound off: every voice fades out at once (a few ms, no click).
                self.n_held = 0;
                self.pedal_held = [false; 128];
                self.voices.iter_mut().for_each(|v| {
                    v.note = None;
                    v.steal(None);
                });
            }
            123 => self.all_notes_off(),
            121 => {
                // Reset all controllers.
                self.global = Controllers::default();
                self.member_bend = [0.0; 16];
                (self.member_timbre, self.member_pressure) = ([-1.0; 16], [-1.0; 16]);
                self.morph_value = None;
            }
            _ => {}
        }
    }

    /// RPN data entry (CC6): pitch-bend sensitivity (RPN 0) and the MPE Configuration Message
    /// (RPN 6 on channel 1 or 16).
    fn data_entry(&mut self, channel: u8, value: u8) {
        match self.rpn[usize::from(channel)] {
            (0, 0) => {
                let range = Some(f32::from(value.min(96)));
                if self.zone().is_some_and(|z| z.is_member(channel)) {
                    self.rpn_member_bend_range = range;
                } else {
                    self.rpn_bend_range = range;
                }
            }
            (0, 6) if channel == 0 || channel == 15 => {
                let members = value.min(15);
                self.rpn_zone = match (members, channel) {
                    (0, _) => None,
                    (m, 0) => Some(Zone { manager: 0, first: 1, last: m }),
                    (m, _) => Some(Zone { manager: 15, first: 15 - m, last: 14 }),
                };
                // A new configuration starts with the MPE default bend range.
                self.rpn_member_bend_range = None;
            }
            _ => {}
        }
    }

    /// Releases every note now held only by a pedal that has lifted.
    fn release_pedalled(&mut self) {
        let (sustain, sostenuto, clock) = (self.sustain_down, self.sostenuto_down, self.clock);
        for v in &mut self.voices {
            if v.note.is_some() && !v.key_down && (v.sustained || v.latched) && !(sustain || sostenuto && v.latched) {
                v.release(clock);
            }
        }
        for key in 0..128u8 {
            let k = usize::from(key);
            if self.pedal_held[k] && !sustain && !(sostenuto && self.sostenuto_keys[k]) {
                self.pedal_held[k] = false;
                self.sostenuto_keys[k] = false;
                self.mono_note_off(key);
            }
        }
    }

    fn all_notes_off(&mut self) {
        self.n_held = 0;
        self.pedal_held = [false; 128];
        self.sostenuto_keys = [false; 128];
        let clock = self.clock;
        self.voices.iter_mut().filter(|v| v.note.is_some() && v.is_active()).for_each(|v| {
            v.pending = None;
            v.release(clock);
        });
    }

    fn shared(&self) -> Shared {
        let s = self.settings;
        let (vibrato_amount, _) = self.controller_sum(ControlTarget::Vibrato);
        let (expression, has_expression) = self.controller_sum(ControlTarget::Loudness);
        let bend_range = self.rpn_bend_range.unwrap_or(s.pitch_bend_range_semitones);
        let member_range = self.rpn_member_bend_range.unwrap_or(s.mpe_bend_range_semitones);
        let zone = self.zone();
        let member_bend_semitones = std::array::from_fn(|ch| {
            let member = zone.is_some_and(|z| z.is_member(ch as u8));
            if member {
                self.member_bend[ch] * member_range
            } else {
                0.0
            }
        });
        let member = |values: &[f32; 16]| {
            std::array::from_fn(|ch| if zone.is_some_and(|z| z.is_member(ch as u8)) { values[ch] } else { -1.0 })
        };
        Shared {
            member_timbre: member(&self.member_timbre),
            member_pressure: member(&self.member_pressure),
            member_bend_semitones,
            settings: s,
            bend_semitones: self.global.bend * bend_range,
            vibrato_semitones: vibrato_amount * s.vibrato_depth_cents / 100.0,
            expression_db: if has_expression { -EXPRESSION_RANGE_DB * (1.0 - expression) } else { 0.0 },
            brightness: self.global.timbre,
            sample_rate_hz: self.sample_rate_hz,
            morph_value: self.morph_value,
        }
    }

    fn note_on(&mut self, note: u8, channel: u8, velocity: f32) {
        let shared = self.shared();
        if self.settings.mode == VoiceMode::Mono {
            return self.mono_note_on(note, channel, velocity, &shared);
        }
        let n = self.settings.voices;
        let clock = self.clock;
        // The same key again on its channel: that voice plays it again.
        let same = (0..n).find(|&i| {
            let v = &self.voices[i];
            v.note == Some(note) && v.channel == channel && v.is_held()
        });
        let pick = same.unwrap_or_else(|| self.pick_voice(n));
        let glide_from = (self.settings.glide_mode == GlideMode::Always).then_some(self.last_pitch);
        let voice = &mut self.voices[pick];
        if same.is_none() && voice.is_audible() {
            // Steal: fade the old note out, then start this one (see NoteVoice::steal).
            voice.steal(Some(Pending { note, channel, velocity, since: clock, glide_from }));
            (voice.note, voice.channel, voice.since) = (Some(note), channel, clock);
            (voice.key_down, voice.sustained, voice.latched) = (true, false, false);
        } else {
            voice.pending = None;
            voice.start(note, channel, velocity, clock, glide_from, true, &shared, self.sample_clock);
        }
        self.last_pitch = f32::from(note);
        self.last_voice = pick;
    }

    /// A voice for a new note among the first `n`: the one silent longest, else the oldest
    /// released, else the quietest held (the oldest of equals).
    fn pick_voice(&self, n: usize) -> usize {
        let voices = &self.voices[..n];
        let idle = (0..n).filter(|&i| !voices[i].is_active()).min_by_key(|&i| voices[i].since);
        let released = || (0..n).filter(|&i| !voices[i].is_held()).min_by_key(|&i| voices[i].since);
        let quietest = || {
            (0..n)
                .min_by(|&a, &b| {
                    voices[a].level_db().total_cmp(&voices[b].level_db()).then(voices[a].since.cmp(&voices[b].since))
                })
                .unwrap_or(0)
        };
        idle.or_else(released).unwrap_or_else(quietest)
    }

    fn note_off(&mut self, note: u8, channel: u8) {
        let (sustain, sostenuto, clock) = (self.sustain_down, self.sostenuto_down, self.clock);
        if self.settings.mode == VoiceMode::Mono && self.held[..self.n_held].iter().any(|h| h.0 == note) {
            let k = usize::from(note);
            if sustain || sostenuto && self.sostenuto_keys[k] {
                self.pedal_held[k] = true;
            } else {
                self.mono_note_off(note);
            }
            return;
        }
        for v in &mut self.voices {
            if v.note == Some(note) && v.channel == channel && v.key_down {
                if v.pending.is_some() {
                    // Released before its stolen voice faded: it never sounds.
                    v.pending = None;
                    v.key_down = false;
                } else if sustain || sostenuto && v.latched {
                    v.key_down = false;
                    v.sustained = true;
                } else {
                    v.release(clock);
                }
            }
        }
    }

    fn mono_note_on(&mut self, note: u8, channel: u8, velocity: f32, shared: &Shared) {
        let was_playing = self.n_held > 0;
        self.remove_held(note);
        self.pedal_held[usize::from(note)] = false;
        if self.n_held == MAX_HELD_NOTES {
            self.held.copy_within(1.., 0);
            self.n_held -= 1;
        }
        self.held[self.n_held] = (note, velocity, channel);
        self.n_held += 1;
        let s = self.settings;
        let voice = &mut self.voices[0];
        if was_playing && voice.is_active() {
            // Overlapping notes: legato (no retrigger unless asked), glide if set.
            voice.channel = channel;
            voice.legato_to(note, velocity, true, !s.legato, shared);
        } else {
            let glide_from = (s.glide_mode == GlideMode::Always).then_some(self.last_pitch);
            voice.pending = None;
            voice.start(note, channel, velocity, self.clock, glide_from, true, shared, self.sample_clock);
        }
        self.last_pitch = f32::from(note);
        self.last_voice = 0;
    }

    fn mono_note_off(&mut self, note: u8) {
        let was_top = self.n_held > 0 && self.held[self.n_held - 1].0 == note;
        self.remove_held(note);
        let clock = self.clock;
        if self.n_held == 0 {
            self.voices[0].release(clock);
        } else if was_top {
            // Back to the note still held, at its own velocity.
            let (prev, velocity, _) = self.held[self.n_held - 1];
            let shared = self.shared();
            let retrigger = !self.settings.legato;
            self.voices[0].legato_to(prev, velocity, true, retrigger, &shared);
            self.last_pitch = f32::from(prev);
        }
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

    /// A controller that moves the morph drives nothing else.
    fn controller_sum(&self, target: ControlTarget) -> (f32, bool) {
        let s = &self.settings;
        let unless_morph =
            |t: ControlTarget, morph: MorphSource| if s.morph_source == morph { ControlTarget::Off } else { t };
        let sources = [
            (unless_morph(s.mod_wheel_target, MorphSource::Controller(1)), self.global.mod_wheel),
            (unless_morph(s.expression_target, MorphSource::Controller(11)), self.global.expression),
            (unless_morph(s.pressure_target, MorphSource::Pressure), self.global.pressure),
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
    ///
    /// Rendered in chunks that end on the frame grid: every voice's frames start on grid samples
    /// (see [`Voice::start_frame_aligned`]), so at each grid sample the voices starting a frame run
    /// their model step as one batch (`run_batch`), reading each weight matrix once.
    pub fn render(&mut self, out: &mut [f32]) {
        let _ftz = crate::denormals::ScopedFlushDenormals::new();
        let gain_coeff = 1.0 - (-1.0 / (GAIN_SMOOTHING_MS * 0.001 * self.sample_rate_hz)).exp();
        let shared = self.shared();
        let mut pos = 0;
        while pos < out.len() {
            if let Some(swap) = &mut self.swap {
                let started = swap.poll(self.voices.iter_mut().map(|v| {
                    let audible = v.is_audible();
                    (&mut v.live, audible)
                }));
                if started.is_some() {
                    swap.exchange_batch(&mut self.batch);
                    swap.exchange_morph_batches(&mut self.morph_batches);
                }
            }
            let to_grid = (self.next_grid_sample() - self.sample_clock) as usize;
            let n = (out.len() - pos).min(MAX_CHUNK).min(to_grid.max(1));
            let chunk = &mut out[pos..pos + n];
            chunk.fill(0.0);
            let clock = self.sample_clock;
            let mut start_pending = |v: &mut NoteVoice, at: usize| {
                if let Some(p) = v.pending.take() {
                    v.start(p.note, p.channel, p.velocity, p.since, p.glide_from, true, &shared, clock + at as u64);
                }
            };
            // Every running voice conditions its first span, the frames starting now run as one
            // batch, then each voice renders (and goes on alone past an early stop).
            let mut ends = [0usize; MAX_VOICES];
            for (v, end) in self.voices.iter_mut().zip(ends.iter_mut()) {
                *end = v.condition_span(0, n, &shared, &mut start_pending);
            }
            self.run_batch(&ends);
            for (v, &end) in self.voices.iter_mut().zip(ends.iter()) {
                if end > 0 {
                    v.render_span(chunk, 0, end, &shared);
                    v.render_add(chunk, end, &shared, &mut start_pending);
                }
            }
            for y in chunk.iter_mut() {
                self.output_gain += (shared.settings.output_gain - self.output_gain) * gain_coeff;
                *y *= self.output_gain;
            }
            self.sample_clock += n as u64;
            pos += n;
        }
    }

    /// The next sample after now where a frame of the grid starts (frame `k` at `round(k · hop)`).
    fn next_grid_sample(&self) -> u64 {
        let hop = self.voices[0].live.voice().frame_hop_samples();
        let mut k = (self.sample_clock as f64 / hop).floor() as u64 + 1;
        while ((k as f64) * hop).round() as u64 <= self.sample_clock {
            k += 1;
        }
        ((k as f64) * hop).round() as u64
    }

    /// The voices whose frame starts at this chunk's first sample (`ends[i] > 0`: voice `i` has
    /// conditioned a span) on the batch's model run their model step together; each then uses
    /// its results instead of running the model itself. Bit-identical to one step per voice.
    fn run_batch(&mut self, ends: &[usize; MAX_VOICES]) {
        if !self.batching {
            return;
        }
        let mut slots = [0usize; MAX_VOICES];
        if let Some((model, batch)) = self.batch.as_mut() {
            let mut n = 0;
            for (i, (v, &end)) in self.voices.iter().zip(ends.iter()).enumerate() {
                let voice = v.live.voice();
                if end > 0 && voice.frame_due() && Arc::ptr_eq(voice.model(), model) && voice.runs_own_model_next() {
                    let (f0_hz, loudness_db) = v.conditioning_at(0);
                    if model.batch_load(batch, n, f0_hz, loudness_db, voice.model_state()) {
                        slots[n] = i;
                        n += 1;
                    }
                }
            }
            // One voice gains nothing from a batch: it runs the model itself.
            if n >= 2 {
                model.infer_batch(batch, n);
                self.batched_frames += n as u64;
                for (slot, &i) in slots[..n].iter().enumerate() {
                    let voice = self.voices[i].live.voice_mut();
                    model.batch_store(batch, slot, voice.model_state_mut());
                    voice.mark_frame_prepared();
                }
            }
        }
        // A morph's other models, slot by slot, the same way.
        for (s, (model, batch)) in self.morph_batches.iter_mut().enumerate() {
            let mut n = 0;
            for (i, (v, &end)) in self.voices.iter().zip(ends.iter()).enumerate() {
                let voice = v.live.voice();
                let Some(morph) = voice.morph() else { continue };
                let runs = s < morph.slot_count() && Arc::ptr_eq(morph.slot_model(s), model) && morph.slot_runs_next(s);
                if end > 0 && voice.frame_due() && runs {
                    let (f0_hz, loudness_db) = v.conditioning_at(0);
                    if morph.slot_batch_load(s, batch, n, f0_hz, loudness_db) {
                        slots[n] = i;
                        n += 1;
                    }
                }
            }
            if n < 2 {
                continue;
            }
            model.infer_batch(batch, n);
            self.batched_frames += n as u64;
            for (row, &i) in slots[..n].iter().enumerate() {
                if let Some(morph) = self.voices[i].live.voice_mut().morph_mut() {
                    morph.slot_batch_store(s, batch, row);
                }
            }
        }
    }
}
