//! The presets row under the title: the factory and user presets (picking one loads it), the
//! current preset's name, and "Save as" with a name field. A preset that cannot be loaded says why
//! in the title's message line and changes nothing.

use std::path::PathBuf;

use ddsp_core::{BuiltInModel, ModelChoice, ModelRef};
use nice_plug::params::persist::deserialize_field;
use nice_plug::prelude::{Params, PluginState};

use super::{EditorModel, PluginParams};
use crate::effect_params::EffectParams;
use crate::morph_places::{MorphPlaces, MORPH_FIELD};
use crate::params::InstrumentParams;
use crate::presets::{self, PresetEntry, Target};
use crate::session::MODEL_FIELD;

/// Reads and applies the whole plugin state through the host wrapper (nice-plug's `GuiContext`:
/// it applies a state between process calls). Set when the editor window opens.
pub struct StateAccess {
    pub get: Box<dyn Fn() -> PluginState + Send>,
    pub set: Box<dyn Fn(PluginState) + Send>,
}

/// The row's view state.
pub struct PresetBar {
    /// Where user presets are saved and listed from (`None`: nowhere, factory presets only).
    pub folder: Option<PathBuf>,
    entries: Option<Vec<PresetEntry>>,
    /// The "Save as" name field.
    pub name: String,
}

impl PresetBar {
    pub fn new(plugin: &str) -> Self {
        Self { folder: presets::user_folder(plugin), entries: None, name: String::new() }
    }

    /// The list, read from the folder once and again after a save.
    fn entries(&mut self, plugin: &str) -> &[PresetEntry] {
        let folder = self.folder.clone();
        self.entries.get_or_insert_with(|| presets::list(plugin, folder.as_deref()))
    }
}

fn defaults(params: &PluginParams) -> Box<dyn Params> {
    match params {
        PluginParams::Instrument(_) => Box::new(InstrumentParams::default()),
        PluginParams::Effect(_) => Box::new(EffectParams::default()),
    }
}

/// The model a state names, as the library's pick (none named: the default model).
fn model_choice(state: &PluginState) -> Option<ModelChoice> {
    let wanted: ModelRef = state.fields.get(MODEL_FIELD).and_then(|f| deserialize_field(f).ok())?;
    match (&wanted.path, &wanted.built_in) {
        (Some(path), _) => Some(ModelChoice::File(path.into())),
        (None, Some(name)) => BuiltInModel::find(name).map(ModelChoice::BuiltIn),
        (None, None) => Some(ModelChoice::BuiltIn(BuiltInModel::default_model())),
    }
}

/// The name the row shows, persisted with the session (the state set for a preset names it too:
/// this is for the frames before the wrapper applies it).
fn set_current(model: &EditorModel, name: Option<String>) {
    if let Ok(mut current) = model.params.preset_name().write() {
        *current = name;
    }
}

fn say(model: &EditorModel, message: Option<String>) {
    if let Ok(mut status) = model.status.lock() {
        status.message = message;
    }
}

/// Checks `entry` and applies it: the parameters and the model reference through the wrapper,
/// and the model itself loaded live (the wrapper does not reactivate the plugin for a state
/// the editor sets). Refused, nothing is applied and the message line says why.
pub fn apply(model: &mut EditorModel, entry: &PresetEntry, now_s: f64) {
    let defaults = defaults(&model.params);
    let plugin = model.params.title();
    let target = Target { plugin, version: env!("CARGO_PKG_VERSION"), defaults: &*defaults, library: &model.library };
    let loaded = match presets::load(entry, &target) {
        Ok(loaded) => loaded,
        Err(e) => {
            let message = format!("preset '{}' was not loaded: {e}; nothing changed", entry.name);
            nice_plug::nice_warn!("{message}");
            return say(model, Some(message));
        }
    };
    let Some(access) = &model.state_access else { return };
    let choice = model_choice(&loaded.state);
    // A change of morph places loads the morph again, even around the same model.
    let places = |state: &PluginState| -> MorphPlaces {
        state.fields.get(MORPH_FIELD).and_then(|f| deserialize_field(f).ok()).unwrap_or_default()
    };
    let (wanted, current) = (places(&loaded.state), model.params.morph_places().read().map(|p| p.clone()));
    let morph_changes = current.map_or(true, |current| current != wanted);
    (access.set)(loaded.state);
    // Set here too: the loader thread reads it for the pick below, possibly before the wrapper
    // has applied the state.
    if let Ok(mut saved) = model.params.morph_places().write() {
        *saved = wanted;
    }
    set_current(model, Some(loaded.name.clone()));
    say(model, loaded.note.map(|note| format!("preset '{}': {note}", loaded.name)));
    let playing = model.status.lock().ok().and_then(|s| s.choice.clone());
    if let Some(choice) = choice.filter(|c| morph_changes || Some(c) != playing.as_ref()) {
        model.pick(choice, now_s);
    }
}

/// Saves the plugin's current state as the preset named in the name field.
fn save_as(model: &mut EditorModel) {
    let Some(access) = &model.state_access else { return };
    let plugin = model.params.title();
    let name = model.presets.name.trim().to_owned();
    let result = match &model.presets.folder {
        Some(folder) => presets::save(folder, plugin, &name, &(access.get)()).map_err(|e| e.to_string()),
        None => Err("this system has no data folder for user presets".to_owned()),
    };
    match result {
        Ok(path) => {
            nice_plug::nice_log!("saved preset '{name}' to {}", path.display());
            set_current(model, Some(name));
            model.presets.entries = None;
            say(model, None);
        }
        Err(e) => say(model, Some(format!("preset '{name}' was not saved: {e}"))),
    }
}

/// Width of the preset list's button and the name field, logical pixels.
const COMBO_WIDTH: f32 = 200.0;
const NAME_WIDTH: f32 = 140.0;

pub fn show(ui: &mut egui::Ui, model: &mut EditorModel) {
    let plugin = model.params.title();
    let mut picked = None;
    ui.horizontal(|ui| {
        ui.label("Preset");
        let current = model.params.preset_name().read().ok().and_then(|n| n.clone()).unwrap_or_else(|| "—".to_owned());
        let entries = model.presets.entries(plugin);
        let combo = egui::ComboBox::from_id_salt("presets").selected_text(current.as_str()).width(COMBO_WIDTH).show_ui(
            ui,
            |ui| {
                for entry in entries {
                    let origin = match entry.source {
                        presets::Source::Factory(_) => "factory",
                        presets::Source::User(_) => "user",
                    };
                    if ui.selectable_label(entry.name == current, format!("{}  ·  {origin}", entry.name)).clicked() {
                        picked = Some(entry.clone());
                    }
                }
            },
        );
        // Listed again at each opening: presets saved by another instance show up.
        if combo.response.on_hover_text("Pick a preset to load it: the model and every parameter").clicked() {
            model.presets.entries = None;
        }
        ui.separator();
        let field = egui::TextEdit::singleline(&mut model.presets.name).hint_text("name").desired_width(NAME_WIDTH);
        let typed = ui.add(field);
        let enter = typed.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let can_save = model.state_access.is_some() && !model.presets.name.trim().is_empty();
        let hover = match &model.presets.folder {
            Some(folder) => format!("Saves the model and every parameter to {}", folder.display()),
            None => "No data folder on this system".to_owned(),
        };
        let clicked = ui.add_enabled(can_save, egui::Button::new("Save as")).on_hover_text(hover).clicked();
        if can_save && (clicked || enter) {
            save_as(model);
        }
    });
    if let Some(entry) = picked {
        apply(model, &entry, ui.input(|i| i.time));
    }
}
