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
pub mod morph_places;
pub mod params;
pub mod pitch_params;
pub mod presets;
pub mod session;
pub mod shell;
#[cfg(feature = "standalone")]
pub mod standalone;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use ddsp_core::effect::TimbreTransfer;
use ddsp_core::Instrument;
use nice_plug::context::gui::AsyncExecutor;
use nice_plug::prelude::*;

use editor::{EditorApp, EditorModel, PluginParams};
use effect_params::EffectParams;
pub use model_slot::{ModelStatus, MODEL_ENV};
use nice_plug_egui::{EguiEditor, EguiEditorState};
use params::InstrumentParams;
pub use shell::ModelTask;
use shell::Shell;

/// Both plugins' host identity, as hosts list it. The project has no web site or support address
/// of its own yet, so these are set by whoever publishes a build (`DDSP_VENDOR`, `DDSP_URL`,
/// `DDSP_SUPPORT_URL`, `DDSP_MANUAL_URL`, `DDSP_EMAIL` at build time: README, "Publishing a build")
/// and are empty otherwise, rather than pointing at placeholders.
const VENDOR: &str = build_setting(option_env!("DDSP_VENDOR"), "DDSP Instrument developers");
const URL: &str = build_setting(option_env!("DDSP_URL"), "");
const EMAIL: &str = build_setting(option_env!("DDSP_EMAIL"), "");
const SUPPORT_URL: Option<&str> = optional(option_env!("DDSP_SUPPORT_URL"));
const MANUAL_URL: Option<&str> = optional(option_env!("DDSP_MANUAL_URL"));

const fn build_setting(set: Option<&'static str>, default: &'static str) -> &'static str {
    match set {
        Some(value) => value,
        None => default,
    }
}

const fn optional(set: Option<&'static str>) -> Option<&'static str> {
    match set {
        Some(value) if !value.is_empty() => Some(value),
        _ => None,
    }
}

pub struct DdspInstrument {
    params: Arc<InstrumentParams>,
    shell: Shell<Instrument>,
    editor_state: Arc<EguiEditorState>,
}

impl Default for DdspInstrument {
    fn default() -> Self {
        Self { params: Arc::default(), shell: Shell::default(), editor_state: editor::default_state() }
    }
}

impl DdspInstrument {
    /// Shared model status, for the editor.
    pub fn status(&self) -> Arc<Mutex<ModelStatus>> {
        self.shell.slot.status.clone()
    }
}

/// The editor for either plugin: picks load live through the background task.
fn make_editor<P: Plugin<BackgroundTask = ModelTask>>(
    params: PluginParams,
    shell_gui: &Arc<gui_data::GuiData>,
    slot: &model_slot::ModelSlot,
    state: &Arc<EguiEditorState>,
    async_executor: AsyncExecutor<P>,
) -> Option<EguiEditor<EditorApp>> {
    let places = async_executor.clone();
    let load: editor::LoadModel = Box::new(move |choice| async_executor.execute_background(ModelTask::Load(choice)));
    let mut model = EditorModel::new(params, shell_gui.clone(), slot.status.clone(), slot.library.clone(), load);
    model.load_place = Some(Box::new(move |place, choice| places.execute_background(ModelTask::Place(place, choice))));
    editor::create(state.clone(), model)
}

impl Plugin for DdspInstrument {
    const NAME: &'static str = "DDSP Instrument";
    const VENDOR: &'static str = VENDOR;
    const URL: &'static str = URL;
    const EMAIL: &'static str = EMAIL;
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
        let params = PluginParams::Instrument(self.params.clone());
        make_editor(params, &self.shell.gui, &self.shell.slot, &self.editor_state, async_executor)
    }

    fn task_executor(&mut self) -> TaskExecutor<Self> {
        self.shell.task_executor::<Self>(self.params.model.clone(), self.params.morph_places.clone())
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let p = &self.params;
        let active = self.shell.activate(&p.model, &p.morph_places, p.settings(), &p.master, buffer_config, context);
        self.shell.report_load_error(&p.load_error);
        active
    }

    fn filter_state(state: &mut PluginState) {
        session::filter(state, &InstrumentParams::default(), Self::NAME, Self::VERSION);
    }

    fn reset(&mut self) {
        self.shell.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.shell.process(buffer, self.params.settings(), &self.params.master, context);
        ProcessStatus::KeepAlive
    }
}

impl ClapPlugin for DdspInstrument {
    const CLAP_ID: &'static str = "dev.ddsp-instrument.instrument";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Neural DDSP instrument: a trained model plays a harmonic-plus-noise synthesiser");
    const CLAP_MANUAL_URL: Option<&'static str> = MANUAL_URL;
    const CLAP_SUPPORT_URL: Option<&'static str> = SUPPORT_URL;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::Instrument, ClapFeature::Synthesizer, ClapFeature::Mono, ClapFeature::Stereo];
}

impl Vst3Plugin for DdspInstrument {
    const VST3_CLASS_ID: [u8; 16] = *b"DdspInstrumentRs";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Instrument, Vst3SubCategory::Synth];
    // 13 controllers x 16 channels = 208 hidden parameters instead of the wrapper's 2,080.
    const VST3_MIDI_CONTROLLERS: Option<&'static [u8]> = Some(&ddsp_core::instrument::MIDI_CONTROLLERS);
}

/// DDSP Effect: timbre transfer. Audio in (mono or stereo, folded to mono for analysis), the
/// model's voice out, with the dry signal delayed by the reported latency.
pub struct DdspEffect {
    params: Arc<EffectParams>,
    shell: Shell<TimbreTransfer>,
    editor_state: Arc<EguiEditorState>,
}

impl Default for DdspEffect {
    fn default() -> Self {
        Self { params: Arc::default(), shell: Shell::default(), editor_state: editor::default_state() }
    }
}

impl DdspEffect {
    /// Shared model status, for the editor.
    pub fn status(&self) -> Arc<Mutex<ModelStatus>> {
        self.shell.slot.status.clone()
    }
}

impl Plugin for DdspEffect {
    const NAME: &'static str = "DDSP Effect";
    const VENDOR: &'static str = VENDOR;
    const URL: &'static str = URL;
    const EMAIL: &'static str = EMAIL;
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
    // The tracked notes, bends and (MPE) pressure go out as MIDI; nothing comes in.
    const MIDI_OUTPUT: MidiConfig = MidiConfig::MidiCCs;

    type Editor = EguiEditor<EditorApp>;
    type SysExMessage = ();
    type BackgroundTask = ModelTask;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        let params = PluginParams::Effect(self.params.clone());
        make_editor(params, &self.shell.gui, &self.shell.slot, &self.editor_state, async_executor)
    }

    fn task_executor(&mut self) -> TaskExecutor<Self> {
        self.shell.task_executor::<Self>(self.params.model.clone(), self.params.morph_places.clone())
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let p = &self.params;
        let active = self.shell.activate(&p.model, &p.morph_places, p.settings(), &p.master, buffer_config, context);
        self.shell.report_load_error(&p.load_error);
        active
    }

    fn filter_state(state: &mut PluginState) {
        session::filter(state, &EffectParams::default(), Self::NAME, Self::VERSION);
    }

    fn reset(&mut self) {
        self.shell.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.shell.process(buffer, self.params.settings(), &self.params.master, context);
        ProcessStatus::Normal
    }
}

impl ClapPlugin for DdspEffect {
    const CLAP_ID: &'static str = "dev.ddsp-instrument.effect";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Neural DDSP timbre transfer: a voice or instrument in, a trained model's instrument out");
    const CLAP_MANUAL_URL: Option<&'static str> = MANUAL_URL;
    const CLAP_SUPPORT_URL: Option<&'static str> = SUPPORT_URL;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::AudioEffect, ClapFeature::PitchShifter, ClapFeature::Mono, ClapFeature::Stereo];
}

impl Vst3Plugin for DdspEffect {
    const VST3_CLASS_ID: [u8; 16] = *b"DdspEffectRsDDSP";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Fx, Vst3SubCategory::PitchShift];
}

nice_export_clap!(DdspInstrument, DdspEffect);
nice_export_vst3!(DdspInstrument, DdspEffect);
