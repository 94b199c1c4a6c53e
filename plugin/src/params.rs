//! The instrument's parameters: stable IDs, units, ranges, and their mapping onto dsp-core settings.
//!
//! IDs are short and never change once released (old sessions must load). Smoothing happens in
//! dsp-core, per sample for gains and per model frame for levels, so these parameters carry none.

use std::sync::{Arc, RwLock};

use ddsp_core::instrument::AdsrSettings;
use ddsp_core::{
    ControlTarget, GlideMode, InstrumentSettings, ModelRef, MorphPosition, MorphSource, VoiceLevels, VoiceMode,
    MAX_VOICES,
};
use nice_plug::prelude::*;

/// What a MIDI controller drives (the parameter form of [`ControlTarget`]).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControllerTarget {
    #[id = "off"]
    Off,
    #[id = "loud"]
    Loudness,
    #[id = "vib"]
    Vibrato,
}

impl From<ControllerTarget> for ControlTarget {
    fn from(t: ControllerTarget) -> Self {
        match t {
            ControllerTarget::Off => ControlTarget::Off,
            ControllerTarget::Loudness => ControlTarget::Loudness,
            ControllerTarget::Vibrato => ControlTarget::Vibrato,
        }
    }
}

/// What moves the morph's x while notes play (the parameter form of [`MorphSource`]).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MorphSourceChoice {
    #[id = "off"]
    Off,
    #[id = "cc1"]
    #[name = "Mod wheel (CC1)"]
    ModWheel,
    #[id = "cc11"]
    #[name = "Expression (CC11)"]
    Expression,
    #[id = "timbre"]
    #[name = "Timbre (CC74/MPE)"]
    Timbre,
    #[id = "press"]
    #[name = "Pressure"]
    Pressure,
}

impl From<MorphSourceChoice> for MorphSource {
    fn from(c: MorphSourceChoice) -> Self {
        match c {
            MorphSourceChoice::Off => MorphSource::Off,
            MorphSourceChoice::ModWheel => MorphSource::Controller(1),
            MorphSourceChoice::Expression => MorphSource::Controller(11),
            MorphSourceChoice::Timbre => MorphSource::Timbre,
            MorphSourceChoice::Pressure => MorphSource::Pressure,
        }
    }
}

/// A morph coordinate, 0..=1 (see `crate::morph_places` for where each place sits). The engine
/// glides the position (`ddsp_core::morph::MORPH_SMOOTHING_MS`), so no smoothing here.
pub(crate) fn morph_param(name: &str) -> FloatParam {
    FloatParam::new(name, 0.0, FloatRange::Linear { min: 0.0, max: 1.0 })
        .with_value_to_string(formatters::v2s_f32_rounded(2))
}

/// Poly (a voice per note) or mono (solo lines: legato, last-note priority).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayMode {
    #[id = "poly"]
    Poly,
    #[id = "mono"]
    Mono,
}

/// When glide happens.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlideWhen {
    #[id = "legato"]
    #[name = "Legato notes"]
    Legato,
    #[id = "always"]
    #[name = "Always"]
    Always,
}

pub(crate) fn db_param(name: &str, default_db: f32, min_db: f32, max_db: f32) -> FloatParam {
    FloatParam::new(
        name,
        util::db_to_gain(default_db),
        FloatRange::Skewed {
            min: util::db_to_gain(min_db),
            max: util::db_to_gain(max_db),
            factor: FloatRange::gain_skew_factor(min_db, max_db),
        },
    )
    .with_unit(" dB")
    .with_value_to_string(formatters::v2s_f32_gain_to_db(1))
    .with_string_to_value(formatters::s2v_f32_gain_to_db())
}

pub(crate) fn ms_param(name: &str, default: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Skewed { min: 0.0, max, factor: FloatRange::skew_factor(-2.0) })
        .with_unit(" ms")
        .with_value_to_string(formatters::v2s_f32_rounded(0))
}

#[derive(Params)]
pub struct InstrumentParams {
    /// The session's model: path and content hash (`None` path: the embedded default).
    #[persist = "model"]
    pub model: Arc<RwLock<ModelRef>>,
    /// Why the last state load was refused or changed (see `crate::session`); `None` once shown.
    /// The morph's places B, C and D (`crate::morph_places`); A is `model`.
    #[persist = "morph"]
    pub morph_places: Arc<RwLock<crate::morph_places::MorphPlaces>>,
    #[persist = "load_error"]
    pub load_error: Arc<RwLock<Option<String>>>,
    /// The preset loaded or saved last (`crate::presets`), for the editor to name; `None`: none yet.
    #[persist = "preset"]
    pub preset_name: Arc<RwLock<Option<String>>>,

    // The host lists parameters in this order (nested structs where they stand), the editor shows
    // them in the same: how the instrument plays first, the mastering chain last. IDs never change.
    // Voices
    #[id = "mode"]
    pub mode: EnumParam<PlayMode>,
    #[id = "voices"]
    pub voices: IntParam,
    #[id = "legato"]
    pub legato: BoolParam,
    #[id = "glide"]
    pub glide_ms: FloatParam,
    #[id = "glidemode"]
    pub glide_mode: EnumParam<GlideWhen>,
    // Envelope
    #[id = "atk"]
    pub attack_ms: FloatParam,
    #[id = "dec"]
    pub decay_ms: FloatParam,
    #[id = "sus"]
    pub sustain: FloatParam,
    #[id = "rel"]
    pub release_ms: FloatParam,
    // Expression: velocity, vibrato, bends, MPE, MIDI controllers
    #[id = "velcrv"]
    pub velocity_curve: FloatParam,
    #[id = "vibrate"]
    pub vibrato_rate_hz: FloatParam,
    #[id = "vibdep"]
    pub vibrato_depth_cents: FloatParam,
    #[id = "bendrng"]
    pub bend_range: IntParam,
    #[id = "mpe"]
    pub mpe: BoolParam,
    #[id = "mpebend"]
    pub mpe_bend_range: IntParam,
    #[id = "cc1"]
    pub mod_wheel: EnumParam<ControllerTarget>,
    #[id = "cc11"]
    pub expression: EnumParam<ControllerTarget>,
    #[id = "press"]
    pub pressure: EnumParam<ControllerTarget>,
    // Synth
    #[id = "harm"]
    pub harmonic_level: FloatParam,
    #[id = "noise"]
    pub noise_level: FloatParam,
    // Morph
    #[id = "morphx"]
    pub morph_x: FloatParam,
    #[id = "morphy"]
    pub morph_y: FloatParam,
    #[id = "morphsrc"]
    pub morph_source: EnumParam<MorphSourceChoice>,
    // Output
    #[id = "gain"]
    pub output_gain: FloatParam,

    /// The mastering chain after the voice.
    #[nested(group = "Master")]
    pub master: crate::master_params::MasterParams,
}

impl Default for InstrumentParams {
    fn default() -> Self {
        let d = InstrumentSettings::default();
        Self {
            model: Arc::new(RwLock::new(ModelRef::default())),
            morph_places: Arc::default(),
            load_error: Arc::default(),
            preset_name: Arc::default(),
            master: crate::master_params::MasterParams::default(),
            output_gain: db_param("Output Gain", 0.0, -60.0, 12.0),
            harmonic_level: db_param("Harmonic Level", 0.0, -60.0, 12.0),
            noise_level: db_param("Noise Level", 0.0, -60.0, 12.0),
            morph_x: morph_param("Morph X"),
            morph_y: morph_param("Morph Y"),
            morph_source: EnumParam::new("Morph Source", MorphSourceChoice::Off),
            velocity_curve: FloatParam::new(
                "Velocity Curve",
                d.velocity_curve,
                FloatRange::Skewed { min: 0.25, max: 4.0, factor: FloatRange::skew_factor(-1.5) },
            )
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            attack_ms: ms_param("Attack", d.envelope.attack_ms, 5_000.0),
            decay_ms: ms_param("Decay", d.envelope.decay_ms, 5_000.0),
            sustain: FloatParam::new("Sustain", d.envelope.sustain, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_unit(" %")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
            release_ms: ms_param("Release", d.envelope.release_ms, 10_000.0),
            mode: EnumParam::new("Voice Mode", PlayMode::Poly),
            voices: IntParam::new("Voices", d.voices as i32, IntRange::Linear { min: 1, max: MAX_VOICES as i32 }),
            mpe: BoolParam::new("MPE", d.mpe),
            mpe_bend_range: IntParam::new(
                "MPE Bend Range",
                d.mpe_bend_range_semitones as i32,
                IntRange::Linear { min: 1, max: 96 },
            )
            .with_unit(" st"),
            bend_range: IntParam::new(
                "Pitch Bend Range",
                d.pitch_bend_range_semitones as i32,
                IntRange::Linear { min: 0, max: 48 },
            )
            .with_unit(" st"),
            legato: BoolParam::new("Legato (Mono)", d.legato),
            glide_ms: ms_param("Glide", d.glide_ms, 2_000.0),
            glide_mode: EnumParam::new("Glide Mode", GlideWhen::Legato),
            vibrato_rate_hz: FloatParam::new(
                "Vibrato Rate",
                d.vibrato_rate_hz,
                FloatRange::Linear { min: 0.5, max: 12.0 },
            )
            .with_unit(" Hz")
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            vibrato_depth_cents: FloatParam::new(
                "Vibrato Depth",
                d.vibrato_depth_cents,
                FloatRange::Linear { min: 0.0, max: 100.0 },
            )
            .with_unit(" ct")
            .with_value_to_string(formatters::v2s_f32_rounded(0)),
            mod_wheel: EnumParam::new("Mod Wheel (CC1)", ControllerTarget::Vibrato),
            expression: EnumParam::new("Expression (CC11)", ControllerTarget::Loudness),
            pressure: EnumParam::new("Channel Pressure", ControllerTarget::Off),
        }
    }
}

impl InstrumentParams {
    /// The current values as dsp-core settings. Reads atomics only: safe on the audio thread.
    pub fn settings(&self) -> InstrumentSettings {
        InstrumentSettings {
            velocity_curve: self.velocity_curve.value(),
            envelope: AdsrSettings {
                attack_ms: self.attack_ms.value(),
                decay_ms: self.decay_ms.value(),
                sustain: self.sustain.value(),
                release_ms: self.release_ms.value(),
            },
            pitch_bend_range_semitones: self.bend_range.value() as f32,
            mode: match self.mode.value() {
                PlayMode::Poly => VoiceMode::Poly,
                PlayMode::Mono => VoiceMode::Mono,
            },
            voices: self.voices.value() as usize,
            legato: self.legato.value(),
            glide_ms: self.glide_ms.value(),
            glide_mode: match self.glide_mode.value() {
                GlideWhen::Legato => GlideMode::Legato,
                GlideWhen::Always => GlideMode::Always,
            },
            mpe: self.mpe.value(),
            mpe_bend_range_semitones: self.mpe_bend_range.value() as f32,
            vibrato_rate_hz: self.vibrato_rate_hz.value(),
            vibrato_depth_cents: self.vibrato_depth_cents.value(),
            mod_wheel_target: self.mod_wheel.value().into(),
            expression_target: self.expression.value().into(),
            pressure_target: self.pressure.value().into(),
            levels: VoiceLevels { harmonic_gain: self.harmonic_level.value(), noise_gain: self.noise_level.value() },
            output_gain: self.output_gain.value(),
            morph: MorphPosition::new(self.morph_x.value(), self.morph_y.value()),
            morph_source: self.morph_source.value().into(),
        }
    }
}
