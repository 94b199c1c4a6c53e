//! The editor (nice-plug-egui), shared by both plugins: model panel on the left, performance view
//! and parameter groups (the morph section among them) in the middle, meters and mastering presets
//! on the right.
//!
//! Everything it shows comes from the parameters (atomics), [`GuiData`] (atomics written by the
//! audio thread only while the editor is open) and the model status (a mutex the audio thread
//! never touches). Drawing is [`draw`], a plain function of those, so tests render it headless.

mod controls;
mod model_panel;
mod morph;
mod performance;
mod preset_bar;

use std::sync::atomic::{fence, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ddsp_core::{ModelChoice, ModelLibrary};
use nice_plug::context::gui::{GuiContext, ParamSetter};
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::editor::ResizeHint;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp};

use crate::effect_params::EffectParams;
use crate::gui_data::GuiData;
use crate::model_slot::ModelStatus;
use crate::params::InstrumentParams;

pub use model_panel::FileBrowser;
pub use morph::PlaceRequest;
pub use performance::note_name;
pub use preset_bar::{PresetBar, StateAccess};

/// Default and smallest editor sizes, logical pixels.
pub const EDITOR_SIZE: (u32, u32) = (1040, 700);
pub const MIN_SIZE: (u32, u32) = (820, 560);

/// While something moves (a note sounds, a meter falls), the editor draws at most this often.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(33);
/// While a picked model loads (on the background thread), the editor looks for its card this often.
const LOAD_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// A load not answered within this is given up on (the status message says why, once it arrives).
const LOAD_WAIT_S: f64 = 30.0;

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

    /// The persisted name of the preset loaded or saved last.
    pub(crate) fn preset_name(&self) -> &std::sync::RwLock<Option<String>> {
        match self {
            Self::Instrument(p) => &p.preset_name,
            Self::Effect(p) => &p.preset_name,
        }
    }

    /// The persisted morph places B, C and D.
    pub(crate) fn morph_places(&self) -> &std::sync::RwLock<crate::morph_places::MorphPlaces> {
        match self {
            Self::Instrument(p) => &p.morph_places,
            Self::Effect(p) => &p.morph_places,
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Self::Instrument(_) => "DDSP Instrument",
            Self::Effect(_) => "DDSP Effect",
        }
    }
}

/// Asks for a model to be loaded (the plugin runs it on its background thread).
pub type LoadModel = Box<dyn Fn(ModelChoice) + Send>;

/// Asks for morph place `.0` (1..=3: B, C, D) to be set to a model or cleared (`None`), on the
/// plugin's background thread.
pub type LoadPlace = Box<dyn Fn(usize, Option<ModelChoice>) + Send>;

/// Everything the editor reads, and its own view state (history, file browser).
pub struct EditorModel {
    pub params: PluginParams,
    pub gui: Arc<GuiData>,
    pub status: Arc<Mutex<ModelStatus>>,
    pub library: ModelLibrary,
    /// Both plugins load picks live (a crossfade, no audio restart).
    pub load: LoadModel,
    /// Sets or clears a morph place (`None`: the morph's places cannot be changed).
    pub load_place: Option<LoadPlace>,
    /// Asks the host to restart audio (set once the editor window exists).
    pub request_restart: Option<Box<dyn Fn() + Send>>,
    /// Takes and applies the whole plugin state, for presets (set once the editor window exists).
    pub state_access: Option<StateAccess>,
    pub presets: PresetBar,
    pub performance: performance::History,
    pub browser: FileBrowser,
    /// What the repaint policy saw at the last frame.
    repaint: RepaintState,
}

/// What [`EditorModel::next_repaint`] compares between frames.
#[derive(Default)]
struct RepaintState {
    signature: u64,
    frames: u32,
    /// A model was asked for at this time (egui seconds) while this model status was shown.
    awaiting_model: Option<(f64, StatusKey)>,
}

/// What identifies a model status on screen.
type StatusKey = (String, Option<String>, Option<ModelChoice>, crate::morph_places::MorphStatus);

fn status_key(status: &ModelStatus) -> StatusKey {
    (status.playing.clone(), status.message.clone(), status.choice.clone(), status.morph.clone())
}

impl EditorModel {
    pub fn new(
        params: PluginParams,
        gui: Arc<GuiData>,
        status: Arc<Mutex<ModelStatus>>,
        library: ModelLibrary,
        load: LoadModel,
    ) -> Self {
        let presets = PresetBar::new(params.title());
        Self {
            params,
            gui,
            status,
            library,
            load,
            load_place: None,
            request_restart: None,
            state_access: None,
            presets,
            performance: performance::History::default(),
            browser: FileBrowser::default(),
            repaint: RepaintState::default(),
        }
    }

    /// Asks the plugin to load `choice`; the editor watches for the answer.
    pub fn pick(&mut self, choice: ModelChoice, now_s: f64) {
        let shown = self.status.lock().map(|s| status_key(&s)).unwrap_or_default();
        self.repaint.awaiting_model = Some((now_s, shown));
        (self.load)(choice);
    }

    /// Asks the plugin to set (or clear: `None`) morph place `place`; the editor watches for the
    /// answer.
    pub fn pick_place(&mut self, place: usize, choice: Option<ModelChoice>, now_s: f64) {
        let Some(load_place) = &self.load_place else { return };
        let shown = self.status.lock().map(|s| status_key(&s)).unwrap_or_default();
        self.repaint.awaiting_model = Some((now_s, shown));
        load_place(place, choice);
    }

    /// The GUI data moved since the frame that showed `signature` (and was told of the frames
    /// [`Self::next_repaint`] saw).
    fn changed_since(&self, signature: u64) -> bool {
        let fresh = self.gui.frames.load(Ordering::Acquire) != self.repaint.frames;
        self.gui.signature() != signature || (fresh && self.gui.is_active())
    }

    /// When to draw again after a frame that showed the GUI data of `signature` at `now_s`:
    /// [`FRAME_INTERVAL`] while something moves, [`LOAD_POLL_INTERVAL`] while a model loads,
    /// otherwise never (`None`: user input, a host parameter change or the audio thread wakes it).
    pub fn next_repaint(&mut self, signature: u64, now_s: f64) -> Option<Duration> {
        let frames = self.gui.frames.load(Ordering::Acquire);
        let fresh = frames != self.repaint.frames;
        let moved = signature != self.repaint.signature;
        (self.repaint.signature, self.repaint.frames) = (signature, frames);
        if moved || (fresh && (self.gui.is_active() || self.performance.is_scrolling())) {
            return Some(FRAME_INTERVAL);
        }
        if let Some((since, shown)) = &self.repaint.awaiting_model {
            let now = self.status.lock().map(|s| status_key(&s)).unwrap_or_default();
            if now == *shown && now_s - since < LOAD_WAIT_S {
                return Some(LOAD_POLL_INTERVAL);
            }
            self.repaint.awaiting_model = None;
        }
        None
    }
}

/// One editor frame: [`draw`], then the repaint policy of [`EditorModel::next_repaint`]. Asleep
/// (no repaint requested), the editor is woken by the audio thread (see `gui_data`).
pub fn update(ui: &mut egui::Ui, model: &mut EditorModel, setter: &ParamSetter) {
    let gui = model.gui.clone();
    let signature = gui.signature();
    draw(ui, model, setter);
    let now_s = ui.input(|i| i.time);
    let after = model.next_repaint(signature, now_s).or_else(|| {
        // Asleep first, then look again: what the audio thread publishes from here on finds the
        // flag set and wakes the editor (the fence pairs with its own); what it published while
        // this frame drew is drawn now. Awake while drawing, it does not wake a busy editor twice.
        gui.editor_asleep.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        model.changed_since(signature).then_some(FRAME_INTERVAL)
    });
    if let Some(after) = after {
        gui.editor_asleep.store(false, Ordering::SeqCst);
        ui.ctx().request_repaint_after(after);
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
        preset_bar::show(ui, model);
        if let Some(message) = &status.message {
            ui.colored_label(egui::Color32::from_rgb(235, 110, 90), message);
        }
        if model.gui.restart_needed.load(Ordering::Relaxed) {
            ui.horizontal_wrapped(|ui| {
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
    // Bounded: a long model description wraps instead of squeezing the parameter groups; scrolled
    // when the file browser makes it taller than the window.
    egui::Panel::left("model").resizable(true).default_size(250.0).min_size(200.0).max_size(360.0).show(ui, |ui| {
        egui::ScrollArea::vertical().id_salt("model panel").show(ui, |ui| model_panel::show(ui, model, &status));
    });
    egui::Panel::right("meters").resizable(false).exact_size(METERS_WIDTH).show(ui, |ui| {
        controls::meters(ui, &model.gui);
        ui.separator();
        controls::presets(ui, model.params.master(), setter);
    });
    egui::CentralPanel::default().show(ui, |ui| {
        let piano_roll = matches!(model.params, PluginParams::Effect(_));
        performance::show(ui, &mut model.performance, &model.gui, status.meta.as_ref(), piano_roll);
        ui.separator();
        // The whole width scrolls with the wheel, and the bar has a lane of its own beside the
        // value boxes instead of floating over them.
        ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
        let mut place = None;
        egui::ScrollArea::vertical().id_salt("parameters").auto_shrink(false).show(ui, |ui| {
            controls::groups(ui, &model.params, setter, &model.gui, |ui| {
                place = morph::show(ui, &model.params, setter, &model.gui, &status, &model.library);
            })
        });
        if let Some((place, choice)) = place {
            model.pick_place(place, choice, ui.input(|i| i.time));
        }
    });
}

/// The meters and presets panel's width, logical pixels.
const METERS_WIDTH: f32 = 200.0;

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
        let (get, set) = (gui_ctx.clone(), gui_ctx.clone());
        self.model.state_access = Some(StateAccess {
            get: Box::new(move || get.get_state()),
            set: Box::new(move |state| set.set_state(state)),
        });
        self.context = Some(gui_ctx);
        self.model.gui.editor_open.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let Some(context) = &self.context else { return };
        let setter = context.param_setter();
        let model = &mut self.model;
        let min_size = egui::vec2(MIN_SIZE.0 as f32, MIN_SIZE.1 as f32);
        ResizableWindow::new("ddsp-editor").min_size(min_size).show(ui, |ui| update(ui, model, &setter));
    }

    fn editor_closed(&mut self) {
        self.model.gui.editor_open.store(false, Ordering::Relaxed);
    }
}

pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(EDITOR_SIZE.0 as f32, EDITOR_SIZE.1 as f32), 1.0)
}

/// The editor window: resizable (the corner grip and the host's frame) down to [`MIN_SIZE`]; the
/// audio thread wakes it through `model.gui.repaint`.
pub fn create(state: Arc<EguiEditorState>, model: EditorModel) -> Option<EguiEditor<EditorApp>> {
    let title = model.params.title();
    let min_size = LogicalSize::new(MIN_SIZE.0 as f32, MIN_SIZE.1 as f32);
    let settings = EguiNiceSettings::new()
        .with_tile(title)
        .with_resize_hint(ResizeHint::RESIZABLE.with_min_logical_size(min_size));
    create_egui_editor(state, model.gui.repaint.clone(), settings, EditorApp { model, context: None })
}
