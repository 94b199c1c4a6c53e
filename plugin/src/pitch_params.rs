//! The effect's pitch correction and MIDI out parameters: stable IDs, units, ranges, and their
//! mapping onto dsp-core's [`CorrectionSettings`] and [`MidiOutSettings`].

use ddsp_core::tracking::correction::{self, scale_to_string, string_to_scale, ScaleMask};
use ddsp_core::tracking::{CorrectionSettings, MidiOutMode, MidiOutSettings, PitchMode};
use nice_plug::prelude::*;

use crate::params::ms_param;

/// Raw (microtonal) or corrected to a key and scale.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PitchModeChoice {
    #[id = "raw"]
    Raw,
    #[id = "scale"]
    #[name = "Scale"]
    Scale,
}

/// The key's root.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChoice {
    #[id = "c"]
    C,
    #[id = "cs"]
    #[name = "C♯/D♭"]
    CSharp,
    #[id = "d"]
    D,
    #[id = "ds"]
    #[name = "D♯/E♭"]
    DSharp,
    #[id = "e"]
    E,
    #[id = "f"]
    F,
    #[id = "fs"]
    #[name = "F♯/G♭"]
    FSharp,
    #[id = "g"]
    G,
    #[id = "gs"]
    #[name = "G♯/A♭"]
    GSharp,
    #[id = "a"]
    A,
    #[id = "as"]
    #[name = "A♯/B♭"]
    ASharp,
    #[id = "b"]
    B,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleChoice {
    #[id = "chromatic"]
    Chromatic,
    #[id = "major"]
    Major,
    #[id = "minor"]
    #[name = "Minor (natural)"]
    Minor,
    /// The notes of the "Custom Scale" parameter.
    #[id = "custom"]
    Custom,
}

/// Which pitch the model is conditioned on.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeardChoice {
    #[id = "corrected"]
    Corrected,
    #[id = "raw"]
    Raw,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidiOutChoice {
    #[id = "off"]
    Off,
    #[id = "mono"]
    #[name = "On (one channel)"]
    Mono,
    #[id = "mpe"]
    #[name = "MPE"]
    Mpe,
}

#[derive(Params)]
pub struct PitchParams {
    #[id = "pmode"]
    pub mode: EnumParam<PitchModeChoice>,
    #[id = "key"]
    pub key: EnumParam<KeyChoice>,
    #[id = "scale"]
    pub scale: EnumParam<ScaleChoice>,
    /// Bit `i`: the note `i` semitones above the root is in the custom scale.
    #[id = "cscale"]
    pub custom_scale: IntParam,
    #[id = "strength"]
    pub strength: FloatParam,
    #[id = "retune"]
    pub retune_ms: FloatParam,
    #[id = "smooth"]
    pub smoothing_ms: FloatParam,
    #[id = "heard"]
    pub heard: EnumParam<HeardChoice>,
}

/// Retune and smoothing times run to half a second.
const MAX_TIME_MS: f32 = 500.0;

impl Default for PitchParams {
    fn default() -> Self {
        let d = CorrectionSettings::default();
        Self {
            mode: EnumParam::new("Pitch Mode", PitchModeChoice::Raw),
            key: EnumParam::new("Key", KeyChoice::C),
            scale: EnumParam::new("Scale", ScaleChoice::Major),
            custom_scale: IntParam::new(
                "Custom Scale",
                i32::from(correction::MAJOR),
                IntRange::Linear { min: 1, max: i32::from(correction::CHROMATIC) },
            )
            .with_value_to_string(std::sync::Arc::new(|v| scale_to_string(v as ScaleMask)))
            .with_string_to_value(std::sync::Arc::new(|s| string_to_scale(s).map(i32::from))),
            strength: FloatParam::new("Correction", d.strength, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_unit(" %")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
            retune_ms: ms_param("Retune Time", d.retune_ms, MAX_TIME_MS),
            smoothing_ms: ms_param("Pitch Smoothing", d.smoothing_ms, MAX_TIME_MS),
            heard: EnumParam::new("Model Hears", HeardChoice::Corrected),
        }
    }
}

impl PitchParams {
    /// The current values as dsp-core settings. Reads atomics only: safe on the audio thread.
    pub fn settings(&self) -> CorrectionSettings {
        CorrectionSettings {
            mode: match self.mode.value() {
                PitchModeChoice::Raw => PitchMode::Raw,
                PitchModeChoice::Scale => PitchMode::Scale,
            },
            root: self.key.value() as u8,
            scale: match self.scale.value() {
                ScaleChoice::Chromatic => correction::CHROMATIC,
                ScaleChoice::Major => correction::MAJOR,
                ScaleChoice::Minor => correction::MINOR,
                ScaleChoice::Custom => self.custom_scale.value() as ScaleMask,
            },
            strength: self.strength.value(),
            retune_ms: self.retune_ms.value(),
            smoothing_ms: self.smoothing_ms.value(),
        }
    }

    pub fn model_hears_corrected(&self) -> bool {
        self.heard.value() == HeardChoice::Corrected
    }
}

#[derive(Params)]
pub struct MidiOutParams {
    #[id = "midiout"]
    pub mode: EnumParam<MidiOutChoice>,
    #[id = "midich"]
    pub channel: IntParam,
    #[id = "bendrng"]
    pub bend_range: IntParam,
}

impl Default for MidiOutParams {
    fn default() -> Self {
        Self {
            mode: EnumParam::new("MIDI Out", MidiOutChoice::Mono),
            channel: IntParam::new("MIDI Out Channel", 1, IntRange::Linear { min: 1, max: 16 }),
            bend_range: IntParam::new("MIDI Out Bend Range", 2, IntRange::Linear { min: 1, max: 96 }).with_unit(" st"),
        }
    }
}

impl MidiOutParams {
    /// The current values as dsp-core settings. Reads atomics only: safe on the audio thread.
    pub fn settings(&self) -> MidiOutSettings {
        MidiOutSettings {
            mode: match self.mode.value() {
                MidiOutChoice::Off => MidiOutMode::Off,
                MidiOutChoice::Mono => MidiOutMode::Mono,
                MidiOutChoice::Mpe => MidiOutMode::Mpe,
            },
            channel: (self.channel.value() - 1).clamp(0, 15) as u8,
            bend_range_semitones: self.bend_range.value() as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_pitch_classes() {
        assert_eq!(KeyChoice::C as u8, 0);
        assert_eq!(correction::parse_key("A"), Some(KeyChoice::A as u8));
        assert_eq!(KeyChoice::A as u8, 9);
        assert_eq!(KeyChoice::B as u8, 11);
    }
}
