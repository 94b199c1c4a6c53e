//! DDSP Instrument: the nice-plug shell (CLAP, VST3, standalone) over dsp-core's MIDI instrument.
//!
//! Plugin structs, trait impls and exports only: everything that makes sound lives in `ddsp-core`
//! and is tested there without a host.

pub mod params;

use std::num::NonZeroU32;
use std::sync::Arc;

use ddsp_core::{InstrumentEvent, Model, MonoInstrument};
use nice_plug::prelude::*;

use params::{InstrumentParams, ModelChoice};

/// Environment variable naming a model file to play when the session names none (a development
/// hook until the editor's model browser lands).
pub const MODEL_ENV: &str = "DDSP_INSTRUMENT_MODEL";

pub struct DdspInstrument {
    params: Arc<InstrumentParams>,
    /// The model every instance starts with and falls back to.
    embedded: Arc<Model>,
    /// The model the engine plays and the session's choice it came from.
    model: Arc<Model>,
    model_choice: ModelChoice,
    /// Built in `activate` (allocates); `None` until then.
    engine: Option<MonoInstrument>,
}

impl Default for DdspInstrument {
    fn default() -> Self {
        let embedded = Arc::new(Model::embedded_default());
        Self {
            params: Arc::new(InstrumentParams::default()),
            model: embedded.clone(),
            embedded,
            model_choice: ModelChoice::default(),
            engine: None,
        }
    }
}

impl DdspInstrument {
    /// Loads the model the session asks for, keeping the previous one on failure. Allocates and may
    /// read a file: called from `activate`, never from `process`.
    fn sync_model(&mut self) {
        let mut choice = self.params.model.read().map(|c| c.clone()).unwrap_or_default();
        if choice.path.is_none() {
            choice.path = std::env::var(MODEL_ENV).ok().filter(|p| !p.is_empty());
        }
        if choice == self.model_choice {
            return;
        }
        self.model = match &choice.path {
            None => self.embedded.clone(),
            Some(path) => match Model::load(path) {
                Ok(model) => {
                    nice_log!("loaded model '{}' from {path}", model.meta.name);
                    Arc::new(model)
                }
                Err(e) => {
                    nice_error!("{e}; playing '{}' instead", self.model.meta.name);
                    self.model.clone()
                }
            },
        };
        self.model_choice = choice;
    }
}

impl Plugin for DdspInstrument {
    const NAME: &'static str = "DDSP Instrument";
    const VENDOR: &'static str = "DDSP Instrument developers";
    const URL: &'static str = "https://example.invalid/ddsp-instrument";
    const EMAIL: &'static str = "dev@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout { main_output_channels: NonZeroU32::new(2), ..AudioIOLayout::const_default() },
        AudioIOLayout { main_output_channels: NonZeroU32::new(1), ..AudioIOLayout::const_default() },
    ];
    const MIDI_INPUT: MidiConfig = MidiConfig::MidiCCs;

    type Editor = ();
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.sync_model();
        let engine = MonoInstrument::new(self.model.clone(), buffer_config.sample_rate, self.params.settings());
        context.set_latency_samples(engine.latency_samples());
        self.engine = Some(engine);
        true
    }

    fn reset(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let channels = buffer.as_slice();
        let Some(engine) = &mut self.engine else {
            channels.iter_mut().for_each(|c| c.fill(0.0));
            return ProcessStatus::Normal;
        };
        engine.set_settings(self.params.settings());
        let Some((first, rest)) = channels.split_first_mut() else {
            return ProcessStatus::Normal;
        };
        let n = first.len();

        // Render up to each event's sample, then apply it: sample-accurate note timing.
        let mut pos = 0;
        while let Some(event) = context.next_event() {
            let at = (event.timing() as usize).clamp(pos, n);
            engine.render(&mut first[pos..at]);
            pos = at;
            if let Some(e) = instrument_event(event) {
                engine.handle(e);
            }
        }
        engine.render(&mut first[pos..]);
        for channel in rest {
            channel.copy_from_slice(first);
        }
        ProcessStatus::KeepAlive
    }
}

/// Translates a host note event into the engine's vocabulary (`None`: not ours to play).
fn instrument_event(event: NoteEvent<()>) -> Option<InstrumentEvent> {
    Some(match event {
        NoteEvent::NoteOn { key, velocity, .. } => InstrumentEvent::NoteOn { note: key.number()?, velocity },
        NoteEvent::NoteOff { key, .. } | NoteEvent::Choke { key, .. } => match key.number() {
            Some(note) => InstrumentEvent::NoteOff { note },
            None => InstrumentEvent::AllNotesOff,
        },
        NoteEvent::MidiPitchBend { value, .. } => InstrumentEvent::PitchBend { value: (value - 0.5) * 2.0 },
        NoteEvent::MidiCC { cc, value, .. } => InstrumentEvent::ControlChange { cc, value },
        NoteEvent::MidiChannelPressure { pressure, .. } => InstrumentEvent::ChannelPressure { value: pressure },
        _ => return None,
    })
}

impl ClapPlugin for DdspInstrument {
    const CLAP_ID: &'static str = "dev.ddsp-instrument.instrument";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Neural DDSP instrument: a trained model plays a harmonic-plus-noise synthesiser");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::Instrument, ClapFeature::Synthesizer, ClapFeature::Mono, ClapFeature::Stereo];
}

impl Vst3Plugin for DdspInstrument {
    const VST3_CLASS_ID: [u8; 16] = *b"DdspInstrumentRs";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Instrument, Vst3SubCategory::Synth];
}

nice_export_clap!(DdspInstrument);
nice_export_vst3!(DdspInstrument);
