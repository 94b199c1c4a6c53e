//! The effect's parameters: stable IDs, units, ranges, and their mapping onto dsp-core settings.
//!
//! IDs are short and never change once released. Gains glide in dsp-core, so no smoothing here.

use std::sync::{Arc, RwLock};

use ddsp_core::effect::{EffectSettings, UnvoicedMode};
use ddsp_core::{ModelRef, MorphPosition, VoiceLevels};
use nice_plug::prelude::*;

use crate::params::{db_param, morph_param};

/// What the voice does while the input has no pitch (the parameter form of [`UnvoicedMode`]).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnvoicedChoice {
    #[id = "hold"]
    Hold,
    #[id = "fade"]
    Fade,
    #[id = "noise"]
    #[name = "Noise only"]
    Noise,
}

impl From<UnvoicedChoice> for UnvoicedMode {
    fn from(c: UnvoicedChoice) -> Self {
        match c {
            UnvoicedChoice::Hold => UnvoicedMode::Hold,
            UnvoicedChoice::Fade => UnvoicedMode::Fade,
            UnvoicedChoice::Noise => UnvoicedMode::Noise,
        }
    }
}

/// How late pitch may come (the parameter form of [`EffectSettings::align_pitch_down_to_hz`]):
/// the lowest latency, or the pitch of every note down to the one named at the reported latency.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PitchLatencyChoice {
    #[id = "lowest"]
    #[name = "Lowest (4 ms)"]
    Lowest,
    #[id = "a3"]
    #[name = "Pitch aligned to A3 (220 Hz)"]
    A3,
    #[id = "a2"]
    #[name = "Pitch aligned to A2 (110 Hz)"]
    A2,
    #[id = "e2"]
    #[name = "Pitch aligned to E2 (82 Hz)"]
    E2,
    #[id = "c2"]
    #[name = "Pitch aligned to C2 (65 Hz)"]
    C2,
}

impl PitchLatencyChoice {
    /// The lowest note whose pitch comes out at the reported latency, Hz (0: the lowest latency).
    pub fn align_hz(self) -> f32 {
        match self {
            Self::Lowest => 0.0,
            Self::A3 => 220.0,
            Self::A2 => 110.0,
            Self::E2 => 82.41,
            Self::C2 => 65.41,
        }
    }
}

fn semitones(name: &str) -> FloatParam {
    FloatParam::new(name, 0.0, FloatRange::Linear { min: -24.0, max: 24.0 })
        .with_unit(" st")
        .with_step_size(0.01)
        .with_value_to_string(formatters::v2s_f32_rounded(2))
}

#[derive(Params)]
pub struct EffectParams {
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

    // The host lists parameters in this order, the editor shows them in the same: what one plays
    // with first (the mix, the pitch, the gate), the mastering chain last. IDs never change.
    #[id = "mix"]
    pub dry_wet: FloatParam,
    #[id = "inpitch"]
    pub input_pitch: FloatParam,
    #[id = "shift"]
    pub pitch_shift: FloatParam,
    #[id = "gate"]
    pub gate_threshold: FloatParam,
    // Input (conditioning only)
    #[id = "ingain"]
    pub input_gain: FloatParam,
    #[id = "unvoiced"]
    pub unvoiced: EnumParam<UnvoicedChoice>,
    /// The lowest latency, or pitch and loudness aligned at a longer one (reported to the host).
    #[id = "pitchlat"]
    pub pitch_latency: EnumParam<PitchLatencyChoice>,
    /// Raw or corrected to a key and scale (what is played and sent as MIDI).
    #[nested(group = "Pitch")]
    pub pitch: crate::pitch_params::PitchParams,
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
    // Output
    #[id = "gain"]
    pub output_gain: FloatParam,
    /// The tracked notes, live, to the host (or the standalone's MIDI port).
    #[nested(group = "MIDI Out")]
    pub midi_out: crate::pitch_params::MidiOutParams,

    /// The mastering chain after the mix.
    #[nested(group = "Master")]
    pub master: crate::master_params::MasterParams,
}

impl Default for EffectParams {
    fn default() -> Self {
        let d = EffectSettings::default();
        Self {
            model: Arc::new(RwLock::new(ModelRef::default())),
            morph_places: Arc::default(),
            load_error: Arc::default(),
            preset_name: Arc::default(),
            master: crate::master_params::MasterParams::default(),
            pitch: Default::default(),
            midi_out: Default::default(),
            input_pitch: semitones("Input Pitch"),
            input_gain: FloatParam::new("Input Gain", d.input_gain_db, FloatRange::Linear { min: -24.0, max: 24.0 })
                .with_unit(" dB")
                .with_value_to_string(formatters::v2s_f32_rounded(1)),
            pitch_shift: semitones("Pitch Shift"),
            harmonic_level: db_param("Harmonic Level", 0.0, -60.0, 12.0),
            noise_level: db_param("Noise Level", 0.0, -60.0, 12.0),
            morph_x: morph_param("Morph X"),
            morph_y: morph_param("Morph Y"),
            gate_threshold: FloatParam::new(
                "Voicing Threshold",
                d.gate_threshold,
                FloatRange::Linear { min: 0.0, max: 1.0 },
            )
            .with_value_to_string(formatters::v2s_f32_rounded(2)),
            unvoiced: EnumParam::new("Unvoiced", UnvoicedChoice::Fade),
            pitch_latency: EnumParam::new("Latency", PitchLatencyChoice::Lowest),
            dry_wet: FloatParam::new("Dry/Wet", d.dry_wet, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_unit(" %")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
            output_gain: db_param("Output Gain", 0.0, -60.0, 12.0),
        }
    }
}

impl EffectParams {
    /// The current values as dsp-core settings. Reads atomics only: safe on the audio thread.
    pub fn settings(&self) -> EffectSettings {
        EffectSettings {
            input_pitch_semitones: self.input_pitch.value(),
            input_gain_db: self.input_gain.value(),
            pitch_shift_semitones: self.pitch_shift.value(),
            levels: VoiceLevels { harmonic_gain: self.harmonic_level.value(), noise_gain: self.noise_level.value() },
            gate_threshold: self.gate_threshold.value(),
            unvoiced: self.unvoiced.value().into(),
            dry_wet: self.dry_wet.value(),
            output_gain: self.output_gain.value(),
            morph: MorphPosition::new(self.morph_x.value(), self.morph_y.value()),
            pitch: self.pitch.settings(),
            model_hears_corrected: self.pitch.model_hears_corrected(),
            midi_out: self.midi_out.settings(),
            align_pitch_down_to_hz: self.pitch_latency.value().align_hz(),
        }
    }
}
