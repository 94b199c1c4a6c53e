//! DDSP Instrument: the nice-plug shell (CLAP, VST3, standalone) over dsp-core's MIDI instrument.
//!
//! Plugin structs, trait impls and exports only: everything that makes sound lives in `ddsp-core`
//! and is tested there without a host.

pub mod editor;
pub mod effect_params;
pub mod gui_data;
pub mod master_params;
pub mod master_stage;
pub mod model_slot;
pub mod params;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use ddsp_core::effect::TimbreTransfer;
use ddsp_core::swap::{swap_channel, ModelLoader};
use ddsp_core::{InstrumentEvent, ModelChoice, ModelRef, MonoInstrument};
use nice_plug::context::gui::AsyncExecutor;
use nice_plug::prelude::*;

use editor::{EditorApp, EditorModel, PluginParams};
use effect_params::EffectParams;
use gui_data::GuiData;
use master_stage::MasterStage;
use model_slot::ModelSlot;
pub use model_slot::{ModelStatus, MODEL_ENV};
use nice_plug_egui::{EguiEditor, EguiEditorState};
use params::InstrumentParams;

/// Work for the background thread (never the audio thread).
#[derive(Debug, Clone)]
pub enum ModelTask {
    /// Load, validate and hot-swap this model (a file or a built-in one) in during playback.
    Load(ModelChoice),
}

pub struct DdspInstrument {
    params: Arc<InstrumentParams>,
    slot: ModelSlot,
    /// The loader end of the hot-swap channel, used by background tasks; `None` until activated.
    loader: Arc<Mutex<Option<ModelLoader>>>,
    /// Built in `activate` (allocates); `None` until then.
    engine: Option<MonoInstrument>,
    master: Option<MasterStage>,
    gui: Arc<GuiData>,
    editor_state: Arc<EguiEditorState>,
}

impl Default for DdspInstrument {
    fn default() -> Self {
        Self {
            params: Arc::new(InstrumentParams::default()),
            slot: ModelSlot::default(),
            loader: Arc::default(),
            engine: None,
            master: None,
            gui: Arc::default(),
            editor_state: editor::default_state(),
        }
    }
}

impl DdspInstrument {
    /// Shared model status, for the editor.
    pub fn status(&self) -> Arc<Mutex<ModelStatus>> {
        self.slot.status.clone()
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

    type Editor = EguiEditor<EditorApp>;
    type SysExMessage = ();
    type BackgroundTask = ModelTask;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        let load: editor::LoadModel =
            Box::new(move |choice| async_executor.execute_background(ModelTask::Load(choice)));
        let model = EditorModel::new(
            PluginParams::Instrument(self.params.clone()),
            self.gui.clone(),
            self.slot.status.clone(),
            self.slot.library.clone(),
            Some(load),
        );
        editor::create(self.editor_state.clone(), model)
    }

    /// Runs model loads on nice-plug's background thread: load and validate, build the voice,
    /// queue it for the audio thread (which crossfades), free what it hands back.
    fn task_executor(&mut self) -> TaskExecutor<Self> {
        let (loader, params, status, library) =
            (self.loader.clone(), self.params.clone(), self.slot.status.clone(), self.slot.library.clone());
        Box::new(move |task| match task {
            ModelTask::Load(choice) => {
                let Ok(mut guard) = loader.lock() else { return };
                let Some(loader) = guard.as_mut() else {
                    nice_warn!("model {choice} not loaded: the plugin is not active");
                    return;
                };
                let result = loader.load(&choice);
                let mut status = status.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(model) => {
                        if let (Ok(reference), Ok(mut saved)) = (ModelRef::to_choice(&choice), params.model.write()) {
                            *saved = reference;
                        }
                        if let ModelChoice::File(path) = &choice {
                            library.remember(path);
                        }
                        *status = ModelStatus::playing(&model, None);
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
        self.slot.sync(&self.params.model);
        let mut engine =
            MonoInstrument::new(self.slot.model().clone(), buffer_config.sample_rate, self.params.settings());
        let (sender, receiver) = swap_channel();
        engine.attach_swap_receiver(receiver);
        if let Ok(mut loader) = self.loader.lock() {
            *loader = Some(ModelLoader::new(sender, buffer_config.sample_rate));
        }
        let (master, latency) =
            MasterStage::activate(buffer_config, self.params.master.settings(), engine.latency_samples(), &self.gui);
        context.set_latency_samples(latency);
        self.engine = Some(engine);
        self.master = Some(master);
        true
    }

    fn reset(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.reset();
        }
        if let Some(master) = &mut self.master {
            master.reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let channels = buffer.as_slice();
        let (Some(engine), Some(master)) = (&mut self.engine, &mut self.master) else {
            channels.iter_mut().for_each(|c| c.fill(0.0));
            return ProcessStatus::Normal;
        };
        engine.set_settings(self.params.settings());
        master.set_settings(self.params.master.settings(), &self.gui);
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
        master.process(channels, &self.gui);
        if self.gui.is_open() {
            let (f0_hz, loudness_db, sounding) = engine.played();
            let confidence = if sounding { 1.0 } else { 0.0 };
            self.gui.publish_voice(engine.voice(), f0_hz, loudness_db, confidence, sounding);
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

/// DDSP Effect: timbre transfer. Audio in (mono or stereo, folded to mono for analysis), the
/// model's voice out, with the dry signal delayed by the reported latency.
pub struct DdspEffect {
    params: Arc<EffectParams>,
    slot: ModelSlot,
    /// Built in `activate` (allocates); `None` until then.
    engine: Option<TimbreTransfer>,
    master: Option<MasterStage>,
    gui: Arc<GuiData>,
    editor_state: Arc<EguiEditorState>,
}

impl Default for DdspEffect {
    fn default() -> Self {
        Self {
            params: Arc::default(),
            slot: ModelSlot::default(),
            engine: None,
            master: None,
            gui: Arc::default(),
            editor_state: editor::default_state(),
        }
    }
}

impl DdspEffect {
    /// Shared model status, for the editor.
    pub fn status(&self) -> Arc<Mutex<ModelStatus>> {
        self.slot.status.clone()
    }
}

impl Plugin for DdspEffect {
    const NAME: &'static str = "DDSP Effect";
    const VENDOR: &'static str = "DDSP Instrument developers";
    const URL: &'static str = "https://example.invalid/ddsp-instrument";
    const EMAIL: &'static str = "dev@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    type Editor = EguiEditor<EditorApp>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        let model = EditorModel::new(
            PluginParams::Effect(self.params.clone()),
            self.gui.clone(),
            self.slot.status.clone(),
            self.slot.library.clone(),
            None,
        );
        editor::create(self.editor_state.clone(), model)
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.slot.sync(&self.params.model);
        let engine = TimbreTransfer::new(self.slot.model().clone(), buffer_config.sample_rate, self.params.settings());
        let (master, latency) =
            MasterStage::activate(buffer_config, self.params.master.settings(), engine.latency_samples(), &self.gui);
        context.set_latency_samples(latency);
        self.engine = Some(engine);
        self.master = Some(master);
        true
    }

    fn reset(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.reset();
        }
        if let Some(master) = &mut self.master {
            master.reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let channels = buffer.as_slice();
        let (Some(engine), Some(master)) = (&mut self.engine, &mut self.master) else {
            channels.iter_mut().for_each(|c| c.fill(0.0));
            return ProcessStatus::Normal;
        };
        engine.set_settings(self.params.settings());
        master.set_settings(self.params.master.settings(), &self.gui);
        engine.process_in_place(channels);
        master.process(channels, &self.gui);
        if self.gui.is_open() {
            let tracked = *engine.tracked();
            self.gui.publish_voice(
                engine.voice(),
                tracked.f0_hz,
                tracked.loudness_db,
                tracked.confidence,
                tracked.voiced,
            );
        }
        ProcessStatus::Normal
    }
}

impl ClapPlugin for DdspEffect {
    const CLAP_ID: &'static str = "dev.ddsp-instrument.effect";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Neural DDSP timbre transfer: a voice or instrument in, a trained model's instrument out");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::AudioEffect, ClapFeature::PitchShifter, ClapFeature::Mono, ClapFeature::Stereo];
}

impl Vst3Plugin for DdspEffect {
    const VST3_CLASS_ID: [u8; 16] = *b"DdspEffectRsDDSP";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Fx, Vst3SubCategory::PitchShift];
}

nice_export_clap!(DdspInstrument, DdspEffect);
nice_export_vst3!(DdspInstrument, DdspEffect);
