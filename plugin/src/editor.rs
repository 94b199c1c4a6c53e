//! The editor (nice-plug-egui), shared by both plugins: model panel on the left, performance view
//! and parameter groups in the middle, meters and mastering presets on the right.
//!
//! Everything it shows comes from the parameters (atomics), [`GuiData`] (atomics written by the
//! audio thread only while the editor is open) and the model status (a mutex the audio thread
//! never touches). Drawing is [`draw`], a plain function of those, so tests render it headless.

mod controls;
mod model_panel;
mod performance;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use ddsp_core::{ModelChoice, ModelLibrary};
use nice_plug::context::gui::{GuiContext, ParamSetter};
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier,
};

use crate::effect_params::EffectParams;
use crate::gui_data::GuiData;
use crate::model_slot::ModelStatus;
use crate::params::InstrumentParams;

pub use model_panel::FileBrowser;

/// Default and smallest editor sizes, logical pixels.
pub const EDITOR_SIZE: (u32, u32) = (1040, 700);
const MIN_SIZE: egui::Vec2 = egui::Vec2::new(820.0, 560.0);

/// Which plugin's parameters the editor shows.
#[derive(Clone)]
pub enum PluginParams {
    Instrument(Arc<InstrumentParams>),
    Effect(Arc<EffectParams>),
}

impl PluginParams {
    fn master(&self) -> &crate::master_params::MasterParams {
        match self {
            Self::Instrument(p) => &p.master,
            Self::Effect(p) => &p.master,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Instrument(_) => "DDSP Instrument",
            Self::Effect(_) => "DDSP Effect",
        }
    }
}

/// Asks for a model to be loaded (the plugin runs it on its background thread).
pub type LoadModel = Box<dyn Fn(ModelChoice) + Send>;

/// Everything the editor reads, and its own view state (history, file browser).
pub struct EditorModel {
    pub params: PluginParams,
    pub gui: Arc<GuiData>,
    pub status: Arc<Mutex<ModelStatus>>,
    pub library: ModelLibrary,
    /// Both plugins load picks live (a crossfade, no audio restart).
    pub load: LoadModel,
    /// Asks the host to restart audio (set once the editor window exists).
    pub request_restart: Option<Box<dyn Fn() + Send>>,
    pub performance: performance::History,
    pub browser: FileBrowser,
}

impl EditorModel {
    pub fn new(
        params: PluginParams,
        gui: Arc<GuiData>,
        status: Arc<Mutex<ModelStatus>>,
        library: ModelLibrary,
        load: LoadModel,
    ) -> Self {
        Self {
            params,
            gui,
            status,
            library,
            load,
            request_restart: None,
            performance: performance::History::default(),
            browser: FileBrowser::default(),
        }
    }
}

/// Draws the whole editor into `ui`.
pub fn draw(ui: &mut egui::Ui, model: &mut EditorModel, setter: &ParamSetter) {
    let status = model.status.lock().map(|s| s.clone()).unwrap_or_default();
    egui::Panel::top("title").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.heading(model.params.title());
            ui.separator();
            ui.label(format!("Model: {}", status.playing));
            let latency = model.gui.latency_samples.load(Ordering::Relaxed);
            ui.separator();
            ui.label(format!("Latency: {latency} samples"));
        });
        if let Some(message) = &status.message {
            ui.colored_label(egui::Color32::from_rgb(235, 110, 90), message);
        }
        if model.gui.restart_needed.load(Ordering::Relaxed) {
            ui.horizontal(|ui| {
                ui.colored_label(
                    egui::Color32::from_rgb(230, 190, 90),
                    "The limiter or quality change sets a new latency: it applies when the host restarts audio.",
                );
                if let Some(restart) = &model.request_restart {
                    if ui.button("Restart audio now").clicked() {
                        restart();
                    }
                }
            });
        }
    });
    // Bounded: a long model description wraps instead of squeezing the parameter groups.
    egui::Panel::left("model").resizable(true).default_size(270.0).max_size(360.0).show(ui, |ui| {
        model_panel::show(ui, model, &status);
    });
    egui::Panel::right("meters").default_size(190.0).show(ui, |ui| {
        controls::meters(ui, &model.gui);
        ui.separator();
        controls::presets(ui, model.params.master(), setter);
    });
    egui::CentralPanel::default().show(ui, |ui| {
        performance::show(ui, &mut model.performance, &model.gui, status.meta.as_ref());
        ui.separator();
        egui::ScrollArea::vertical().show(ui, |ui| controls::groups(ui, &model.params, setter, &model.gui));
    });
}

/// The nice-plug-egui application around [`draw`].
pub struct EditorApp {
    model: EditorModel,
    context: Option<GuiContext>,
}

impl NiceEguiApp for EditorApp {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        let host = gui_ctx.clone();
        self.model.request_restart = Some(Box::new(move || host.request_restart()));
        self.context = Some(gui_ctx);
        self.model.gui.editor_open.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let Some(context) = &self.context else { return };
        let setter = context.param_setter();
        let model = &mut self.model;
        ResizableWindow::new("ddsp-editor").min_size(MIN_SIZE).show(ui, |ui| draw(ui, model, &setter));
        // Keep the performance view moving while the editor is open.
        ui.ctx().request_repaint_after(std::time::Duration::from_millis(33));
    }

    fn editor_closed(&mut self) {
        self.model.gui.editor_open.store(false, Ordering::Relaxed);
    }
}

pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(EDITOR_SIZE.0 as f32, EDITOR_SIZE.1 as f32), 1.0)
}

pub fn create(state: Arc<EguiEditorState>, model: EditorModel) -> Option<EguiEditor<EditorApp>> {
    let title = model.params.title();
    create_egui_editor(
        state,
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile(title),
        EditorApp { model, context: None },
    )
}
