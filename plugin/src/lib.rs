//! DDSP Instrument: the nice-plug shell (CLAP, VST3, standalone) over dsp-core's MIDI instrument.
//!
//! Plugin structs, trait impls and exports only: everything that makes sound lives in `ddsp-core`
//! and is tested there without a host.

pub mod params;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ddsp_core::swap::{swap_channel, ModelLoader};
use ddsp_core::{InstrumentEvent, Model, ModelLibrary, ModelRef, ModelSource, MonoInstrument};
use nice_plug::prelude::*;

use params::InstrumentParams;

/// Environment variable naming a model file to play when the session names none (a development
/// hook until the editor's model browser lands).
pub const MODEL_ENV: &str = "DDSP_INSTRUMENT_MODEL";

/// Work for the background thread (never the audio thread).
#[derive(Debug, Clone)]
pub enum ModelTask {
    /// Load, validate and hot-swap this model file in during playback.
    Load(PathBuf),
}

/// What the editor and the log show about the model: what plays, and why it is not the one asked
/// for. Written by the main and background threads; the audio thread never touches it.
#[derive(Debug, Default, Clone)]
pub struct ModelStatus {
    pub playing: String,
    pub message: Option<String>,
}

pub struct DdspInstrument {
    params: Arc<InstrumentParams>,
    library: ModelLibrary,
    /// The model every instance starts with and falls back to.
    embedded: Arc<Model>,
    /// The model the engine plays and the session reference it came from.
    model: Arc<Model>,
    model_ref: Option<ModelRef>,
    status: Arc<Mutex<ModelStatus>>,
    /// The loader end of the hot-swap channel, used by background tasks; `None` until activated.
    loader: Arc<Mutex<Option<ModelLoader>>>,
    /// Built in `activate` (allocates); `None` until then.
    engine: Option<MonoInstrument>,
}

impl Default for DdspInstrument {
    fn default() -> Self {
        let embedded = Arc::new(Model::embedded_default());
        Self {
            params: Arc::new(InstrumentParams::default()),
            library: ModelLibrary::standard(),
            model: embedded.clone(),
            embedded,
            model_ref: None,
            status: Arc::default(),
            loader: Arc::default(),
            engine: None,
        }
    }
}

impl DdspInstrument {
    /// Shared model status, for the editor.
    pub fn status(&self) -> Arc<Mutex<ModelStatus>> {
        self.status.clone()
    }

    fn set_status(&self, message: Option<String>) {
        if let Some(message) = &message {
            nice_warn!("{message}");
        }
        if let Ok(mut status) = self.status.lock() {
            *status = ModelStatus { playing: self.model.meta.name.clone(), message };
        }
    }

    /// Loads the model the session asks for: found, moved (found again by its content hash),
    /// changed or missing, each said in the status and the log; on failure the previous model keeps
    /// playing and is named. Allocates and reads files: called from `activate`, never `process`.
    fn sync_model(&mut self) {
        let mut wanted = self.params.model.read().map(|c| c.clone()).unwrap_or_default();
        if wanted.path.is_none() {
            wanted.path = std::env::var(MODEL_ENV).ok().filter(|p| !p.is_empty());
        }
        if self.model_ref.as_ref() == Some(&wanted) {
            return;
        }
        let (model, message) = self.library.restore(&wanted, &self.model.meta.name);
        if let Some(model) = model {
            if matches!(model.source, ModelSource::Embedded(_)) {
                self.model = self.embedded.clone();
            } else {
                nice_log!("loaded model '{}' ({})", model.meta.name, model.format());
                if let ModelSource::File(path) = &model.source {
                    // Store the hash (and new location) so the next restore can find the file again.
                    if let (Ok(reference), Ok(mut saved)) = (ModelRef::to_file(path), self.params.model.write()) {
                        if saved.path.is_some() {
                            *saved = reference;
                        }
                    }
                    self.library.remember(path);
                }
                self.model = Arc::new(model);
            }
        }
        self.set_status(message);
        self.model_ref = Some(self.params.model.read().map(|c| c.clone()).unwrap_or(wanted));
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
    type BackgroundTask = ModelTask;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    /// Runs model loads on nice-plug's background thread: load and validate, build the voice,
    /// queue it for the audio thread (which crossfades), free what it hands back.
    fn task_executor(&mut self) -> TaskExecutor<Self> {
        let (loader, params, status, library) =
            (self.loader.clone(), self.params.clone(), self.status.clone(), self.library.clone());
        Box::new(move |task| match task {
            ModelTask::Load(path) => {
                let Ok(mut guard) = loader.lock() else { return };
                let Some(loader) = guard.as_mut() else {
                    nice_warn!("model {} not loaded: the plugin is not active", path.display());
                    return;
                };
                let result = loader.load_file(&path);
                let mut status = status.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(model) => {
                        if let (Ok(reference), Ok(mut saved)) = (ModelRef::to_file(&path), params.model.write()) {
                            *saved = reference;
                        }
                        library.remember(&path);
                        *status = ModelStatus { playing: model.meta.name.clone(), message: None };
                    }
                    Err(e) => {
                        let message = format!("{e}; playing '{}' instead", status.playing);
                        nice_error!("{message}");
                        status.message = Some(message);
                    }
                }
            }
        })
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.sync_model();
        let mut engine = MonoInstrument::new(self.model.clone(), buffer_config.sample_rate, self.params.settings());
        let (sender, receiver) = swap_channel();
        engine.attach_swap_receiver(receiver);
        if let Ok(mut loader) = self.loader.lock() {
            *loader = Some(ModelLoader::new(sender, buffer_config.sample_rate));
        }
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
