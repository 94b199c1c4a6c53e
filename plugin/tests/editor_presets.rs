//! The editor's presets row, drawn headless (egui_kittest): picking a factory preset applies its
//! state through the host context and loads its model live; a damaged user preset says why in the
//! message line and applies nothing; "Save as" writes the plugin's state to the user folder.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ddsp_core::{BuiltInModel, Model, ModelChoice, ModelLibrary, ModelRef};
use ddsp_plugin::editor::{draw, EditorModel, PluginParams, StateAccess};
use ddsp_plugin::gui_data::GuiData;
use ddsp_plugin::model_slot::ModelStatus;
use ddsp_plugin::params::InstrumentParams;
use ddsp_plugin::presets;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use nice_plug::context::gui::{GuiContext, GuiContextInner};
use nice_plug::context::PluginApi;
use nice_plug::params::persist::deserialize_field;
use nice_plug::prelude::{ParamPtr, Params, PluginState};

/// Parameter changes go nowhere: this test watches whole states.
struct NoHost;

impl GuiContextInner for NoHost {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    unsafe fn raw_begin_set_parameter(&self, _param: ParamPtr) {}
    unsafe fn raw_set_parameter_normalized(&self, _param: ParamPtr, _normalized: f32) {}
    unsafe fn raw_end_set_parameter(&self, _param: ParamPtr) {}
    fn get_state(&self) -> PluginState {
        unreachable!("the presets row reads the state through its own StateAccess")
    }
    fn set_state(&self, _state: PluginState) {}
    fn request_restart(&self) {}
}

struct Folder(PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The presets list: the first combo box (the morph section's place pickers come later).
fn presets<'h>(harness: &'h Harness<'_, EditorModel>) -> egui_kittest::Node<'h> {
    harness.query_all_by_role(Role::ComboBox).next().expect("no presets list")
}

#[test]
fn presets_load_through_the_host_state_refuse_damaged_files_and_save() {
    let folder = Folder(std::env::temp_dir().join(format!("ddsp-editor-presets-{}", std::process::id())));
    let params = Arc::new(InstrumentParams::default());
    let status = Arc::new(Mutex::new(ModelStatus::playing(&Model::embedded_default(), None)));
    let asked: Arc<Mutex<Vec<ModelChoice>>> = Arc::default();
    let record = asked.clone();
    let library = ModelLibrary { folders: Vec::new(), recents_file: None };
    let mut model = EditorModel::new(
        PluginParams::Instrument(params.clone()),
        Arc::new(GuiData::default()),
        status.clone(),
        library,
        Box::new(move |choice| record.lock().unwrap().push(choice)),
    );
    let applied: Arc<Mutex<Vec<PluginState>>> = Arc::default();
    let (set, live) = (applied.clone(), params.clone());
    model.state_access = Some(StateAccess {
        get: Box::new(move || presets::state_of(&*live, env!("CARGO_PKG_VERSION"))),
        set: Box::new(move |state| set.lock().unwrap().push(state)),
    });
    model.presets.folder = Some(folder.0.clone());
    let context = GuiContext::new(Arc::new(NoHost));
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1040.0, 700.0))
        .build_ui_state(move |ui, model: &mut EditorModel| draw(ui, model, &context.param_setter()), model);
    harness.run();
    let shown = |h: &Harness<'_, EditorModel>| presets(h).accesskit_node().value();
    assert_eq!(shown(&harness).as_deref(), Some("—"));

    // A factory preset: its state goes to the host, its model is loaded live, its name shown; the
    // morph places set before are emptied (a preset is the whole sound).
    params.morph_places.write().unwrap().b = Some(ModelRef::to_built_in("Violin"));
    presets(&harness).click();
    harness.run();
    harness.get_by_label("Cello  ·  factory").click();
    harness.run();
    {
        let applied = applied.lock().unwrap();
        assert_eq!(applied.len(), 1);
        let reference: ModelRef = deserialize_field(&applied[0].fields["model"]).unwrap();
        assert_eq!(reference, ModelRef::to_built_in("Cello"));
        // Every parameter: nothing of the previous sound is left.
        assert_eq!(applied[0].params.len(), InstrumentParams::default().param_map().len());
        assert!(params.morph_places.read().unwrap().is_empty(), "the morph places were kept");
    }
    let cello = BuiltInModel::find("Cello").unwrap();
    assert_eq!(*asked.lock().unwrap(), vec![ModelChoice::BuiltIn(cello)]);
    assert_eq!(shown(&harness).as_deref(), Some("Cello"), "the current preset's name is not shown");

    // A truncated user preset: listed, refused with a message, nothing applied.
    std::fs::create_dir_all(&folder.0).unwrap();
    let text = presets::FACTORY[0].1;
    std::fs::write(folder.0.join("Broken.json"), &text[..text.len() / 3]).unwrap();
    presets(&harness).click();
    harness.run();
    // Through accesskit: the list is read again as it opens, and egui sizes a popup from its
    // previous frame, so in this headless run (click at once) the new last row is outside it for
    // that frame; a pointer click on it works from the next opening on (tried).
    harness.get_by_label("Broken  ·  user").click_accesskit();
    harness.run();
    assert_eq!(applied.lock().unwrap().len(), 1, "a damaged preset was applied");
    let message = status.lock().unwrap().message.clone().unwrap_or_default();
    assert!(message.contains("'Broken' was not loaded") && message.contains("truncated"), "{message}");
    assert!(harness.query_by_label(&message).is_some(), "the message is not shown");

    // Save as: the plugin's current state, in the user folder, listed and loadable.
    harness.state_mut().presets.name = "My cello".into();
    harness.run();
    harness.get_by_label("Save as").click();
    harness.run();
    let saved = std::fs::read_to_string(folder.0.join("My cello.json")).expect("no preset file");
    let (defaults, library) = (InstrumentParams::default(), ModelLibrary { folders: vec![], recents_file: None });
    let target = presets::Target {
        plugin: "DDSP Instrument",
        version: env!("CARGO_PKG_VERSION"),
        defaults: &defaults,
        library: &library,
    };
    let loaded = presets::parse(&saved, &target).unwrap();
    let now = presets::state_of(&*params, env!("CARGO_PKG_VERSION"));
    assert_eq!(serde_json::to_value(&loaded.state.params).unwrap(), serde_json::to_value(&now.params).unwrap());
    assert_eq!(loaded.name, "My cello");
    assert_eq!(shown(&harness).as_deref(), Some("My cello"));
}
