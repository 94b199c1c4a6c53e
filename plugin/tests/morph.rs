//! Morphing in the plugin: the morph parameters reach the engine's settings, the places B, C and D
//! are saved with the session (and an older session without them loads with none) and an
//! activation plays them as a morph (none set: one model, as before), setting a place
//! on the loader thread loads the whole morph into the engine and says which place failed, clearing
//! the last goes back to one model; and the editor's morph section drags the position through the
//! host's parameter gestures and asks for places to be set and cleared.

use std::sync::{Arc, Mutex, RwLock};

use ddsp_core::swap::{swap_channel, ModelLoader};
use ddsp_core::{
    BuiltInModel, Engine, Instrument, InstrumentSettings, Model, ModelChoice, ModelLibrary, ModelRef, MorphPosition,
    MorphSource,
};
use ddsp_plugin::editor::{draw, EditorModel, PlaceRequest, PluginParams};
use ddsp_plugin::gui_data::GuiData;
use ddsp_plugin::model_slot::ModelStatus;
use ddsp_plugin::morph_places::{MorphPlaces, MORPH_FIELD};
use ddsp_plugin::params::InstrumentParams;
use ddsp_plugin::shell::{ModelTask, Shell};
use ddsp_plugin::{session, DdspInstrument};
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use nice_plug::context::gui::{GuiContext, GuiContextInner};
use nice_plug::context::PluginApi;
use nice_plug::prelude::{ActivateContext, BufferConfig, ParamPtr, Params, PluginState, ProcessMode};

/// Sets a parameter by ID as a host would (normalised).
fn set(params: &dyn Params, id: &str, normalized: f32) {
    let (_, ptr, _) = params.param_map().into_iter().find(|(i, ..)| i == id).expect("no such parameter");
    // SAFETY: `ptr` points into `params`, alive for this call.
    unsafe { ptr._internal_set_normalized_value(normalized) };
}

#[test]
fn the_morph_parameters_set_the_engine_position_and_source() {
    let params = InstrumentParams::default();
    assert_eq!(params.settings().morph, MorphPosition::default());
    assert_eq!(params.settings().morph_source, MorphSource::Off);
    set(&params, "morphx", 0.25);
    set(&params, "morphy", 0.75);
    assert_eq!(params.settings().morph, MorphPosition::new(0.25, 0.75));
    // Off, mod wheel, expression, timbre, pressure: five steps.
    let sources = [
        MorphSource::Off,
        MorphSource::Controller(1),
        MorphSource::Controller(11),
        MorphSource::Timbre,
        MorphSource::Pressure,
    ];
    for (i, source) in sources.into_iter().enumerate() {
        set(&params, "morphsrc", i as f32 / 4.0);
        assert_eq!(params.settings().morph_source, source);
    }
    let effect = ddsp_plugin::effect_params::EffectParams::default();
    set(&effect, "morphx", 1.0);
    assert_eq!(effect.settings().morph, MorphPosition::new(1.0, 0.0));
}

/// A state as nice-plug saves it (through JSON, as a host stores it).
fn saved(params: &InstrumentParams) -> PluginState {
    let state = PluginState {
        version: env!("CARGO_PKG_VERSION").into(),
        params: Default::default(),
        fields: params.serialize_fields(),
    };
    serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap()
}

#[test]
fn morph_places_round_trip_through_the_session_and_old_sessions_have_none() {
    let params = InstrumentParams::default();
    let places = MorphPlaces {
        b: Some(ModelRef::to_built_in("Cello")),
        c: None,
        d: Some(ModelRef { path: Some("/models/horn.onnx".into()), sha256: Some("ab".repeat(32)), built_in: None }),
    };
    *params.morph_places.write().unwrap() = places.clone();
    *params.model.write().unwrap() = ModelRef::to_built_in("Violin");
    let mut state = saved(&params);
    assert!(state.fields.contains_key(MORPH_FIELD));
    session::filter(&mut state, &InstrumentParams::default(), "DDSP Instrument", env!("CARGO_PKG_VERSION"));
    let reopened = InstrumentParams::default();
    reopened.deserialize_fields(&state.fields);
    assert_eq!(*reopened.morph_places.read().unwrap(), places);
    assert_eq!(*reopened.model.read().unwrap(), ModelRef::to_built_in("Violin"));

    // Saved before morphing: no field; the model loads, the places stay empty.
    let mut old = saved(&params);
    old.fields.remove(MORPH_FIELD);
    let reopened = InstrumentParams::default();
    reopened.deserialize_fields(&old.fields);
    assert!(reopened.morph_places.read().unwrap().is_empty());
    assert_eq!(*reopened.model.read().unwrap(), ModelRef::to_built_in("Violin"));

    // Damaged places: the state is refused whole, as a damaged model reference is.
    let mut damaged = saved(&params);
    damaged.fields.insert(MORPH_FIELD.into(), "{\"b\": 17".into());
    session::filter(&mut damaged, &InstrumentParams::default(), "DDSP Instrument", env!("CARGO_PKG_VERSION"));
    assert!(!damaged.fields.contains_key(MORPH_FIELD) && damaged.fields.contains_key(session::LOAD_ERROR_FIELD));
}

fn built_in(name: &str) -> ModelChoice {
    ModelChoice::BuiltIn(BuiltInModel::find(name).unwrap())
}

/// Renders silence until the engine has taken what the loader sent (it swaps between blocks).
fn settle(engine: &mut Instrument) {
    let mut block = vec![0.0f32; 512];
    for _ in 0..8 {
        engine.process(std::iter::empty(), &mut [&mut block[..]]);
    }
}

#[test]
fn setting_places_loads_the_morph_reports_failed_places_and_clearing_goes_back_to_one_model() {
    let mut engine = Instrument::prepare(Arc::new(Model::embedded_default()), 48_000.0, InstrumentSettings::default());
    let (sender, receiver) = swap_channel();
    engine.attach_swap_receiver(receiver);
    let mut shell = Shell::<Instrument>::default();
    shell.slot.library = ModelLibrary { folders: Vec::new(), recents_file: None };
    *shell.loader.lock().unwrap() = Some(ModelLoader::new(sender, engine.voice_spec()));
    let model_param = Arc::new(RwLock::new(ModelRef::default()));
    let places = Arc::new(RwLock::new(MorphPlaces::default()));
    let run = shell.task_executor::<DdspInstrument>(model_param.clone(), places.clone());
    let status = shell.slot.status.clone();

    // B: a built-in model. A line from A (the flute playing) to B.
    run(ModelTask::Place(1, Some(built_in("Cello"))));
    assert_eq!(places.read().unwrap().b, Some(ModelRef::to_built_in("Cello")));
    settle(&mut engine);
    {
        let morph = engine.view().voice.morph().expect("no morph after setting B");
        assert_eq!(morph.places(), 2);
        assert!(morph.is_present(0) && morph.is_present(1));
    }
    let shown = status.lock().unwrap().clone();
    assert_eq!(shown.morph.names[1].as_deref(), Some("Cello"), "{shown:?}");
    assert_eq!(shown.playing, "Flute");

    // D: a session reference whose file is gone. The square has four places, D missing and said.
    places.write().unwrap().d = Some(ModelRef { path: Some("/nowhere/horn.onnx".into()), ..ModelRef::default() });
    run(ModelTask::Place(2, Some(built_in("Violin"))));
    settle(&mut engine);
    {
        let morph = engine.view().voice.morph().expect("no morph with B, C and D");
        assert_eq!(morph.places(), 4);
        assert!(morph.is_present(1) && morph.is_present(2) && !morph.is_present(3));
    }
    let shown = status.lock().unwrap().clone();
    assert!(shown.morph.errors[3].as_deref().is_some_and(|e| e.contains("horn.onnx")), "{shown:?}");
    assert!(shown.morph.errors[..3].iter().all(Option::is_none), "{shown:?}");

    // A new main model with places set: the morph is loaded again around it, and it is saved.
    run(ModelTask::Load(built_in("Trumpet")));
    settle(&mut engine);
    assert_eq!(*model_param.read().unwrap(), ModelRef::to_built_in("Trumpet"));
    assert_eq!(status.lock().unwrap().playing, "Trumpet");
    assert_eq!(engine.view().voice.morph().map(|m| m.places()), Some(4));

    // Cleared, all of them: one model again, as before morphing.
    for place in 1..4 {
        run(ModelTask::Place(place, None));
    }
    settle(&mut engine);
    assert!(places.read().unwrap().is_empty());
    assert!(engine.view().voice.morph().is_none(), "still a morph with no places set");
    let shown = status.lock().unwrap().clone();
    assert_eq!(shown.playing, "Trumpet");
    assert_eq!(shown.morph, Default::default());
}

/// An activation as a host does it; the latency goes nowhere, nothing runs in the background.
struct Activation;

impl ActivateContext<DdspInstrument> for Activation {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute(&self, _task: ModelTask) {}
    fn set_latency_samples(&self, _samples: u32) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

#[test]
fn a_session_with_places_reopens_as_a_morph_and_one_without_plays_one_model() {
    let params = InstrumentParams::default();
    let config = BufferConfig {
        sample_rate: 48_000.0,
        min_buffer_size: None,
        max_buffer_size: 512,
        process_mode: ProcessMode::Realtime,
    };
    for with_places in [true, false] {
        if with_places {
            params.morph_places.write().unwrap().b = Some(ModelRef::to_built_in("Cello"));
        }
        let mut shell = Shell::<Instrument>::default();
        shell.slot.library = ModelLibrary { folders: Vec::new(), recents_file: None };
        let settings = params.settings();
        assert!(shell.activate(
            &params.model,
            &params.morph_places,
            settings,
            &params.master,
            &config,
            &mut Activation
        ));
        let engine = shell.engine.as_mut().unwrap();
        settle(engine);
        let places = engine.view().voice.morph().map(|m| m.places());
        let names = shell.slot.status.lock().unwrap().morph.names.clone();
        if with_places {
            assert_eq!(places, Some(2));
            assert_eq!(names[1].as_deref(), Some("Cello"));
        } else {
            assert_eq!(places, None);
            assert_eq!(names, <[Option<String>; 4]>::default());
        }
        params.morph_places.write().unwrap().b = None;
    }
}

/// Records the host's side of parameter changes (and applies them, as a host would).
#[derive(Default)]
struct RecordingHost {
    calls: Mutex<Vec<String>>,
}

impl GuiContextInner for RecordingHost {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    unsafe fn raw_begin_set_parameter(&self, _param: ParamPtr) {
        self.calls.lock().unwrap().push("begin".into());
    }
    unsafe fn raw_set_parameter_normalized(&self, param: ParamPtr, normalized: f32) {
        self.calls.lock().unwrap().push("set".into());
        // SAFETY: the pointers come from the parameters the test keeps alive.
        unsafe { param._internal_set_normalized_value(normalized) };
    }
    unsafe fn raw_end_set_parameter(&self, _param: ParamPtr) {
        self.calls.lock().unwrap().push("end".into());
    }
    fn get_state(&self) -> PluginState {
        unreachable!("the morph section never reads the plugin state")
    }
    fn set_state(&self, _state: PluginState) {}
    fn request_restart(&self) {}
}

#[test]
fn the_morph_section_drags_through_parameter_gestures_and_sets_and_clears_places() {
    let params = Arc::new(InstrumentParams::default());
    params.morph_places.write().unwrap().b = Some(ModelRef::to_built_in("Cello"));
    let status = Arc::new(Mutex::new(ModelStatus::playing(&Model::embedded_default(), None)));
    status.lock().unwrap().morph.errors[1] = Some("cello.onnx: not a DDSP model".into());
    let library = ModelLibrary { folders: Vec::new(), recents_file: None };
    let mut model = EditorModel::new(
        PluginParams::Instrument(params.clone()),
        Arc::new(GuiData::default()),
        status,
        library,
        Box::new(|_| {}),
    );
    let asked: Arc<Mutex<Vec<PlaceRequest>>> = Arc::default();
    let record = asked.clone();
    model.load_place = Some(Box::new(move |place, choice| record.lock().unwrap().push((place, choice))));
    let host = Arc::new(RecordingHost::default());
    let context = GuiContext::new(host.clone());
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1040.0, 1400.0))
        .build_ui_state(move |ui, model: &mut EditorModel| draw(ui, model, &context.param_setter()), model);
    harness.run();
    for label in ["Morph", "Morph X", "Morph Y", "Morph Source", "Morph pad", "cello.onnx: not a DDSP model"] {
        assert!(harness.query_all_by_label(label).next().is_some(), "the morph section does not draw '{label}'");
    }
    // The place pickers (after the presets row's), B showing its saved model.
    let pickers = |h: &Harness<'_, EditorModel>| -> Vec<String> {
        h.query_all_by_role(Role::ComboBox).map(|n| n.accesskit_node().value().unwrap_or_default()).collect()
    };
    assert_eq!(pickers(&harness)[1..], ["Cello", "—", "—"]);

    // A drag from the pad's centre to three quarters right, a quarter up (y grows upwards).
    let pad = harness.get_by_label("Morph pad").rect();
    let at = |x: f32, y: f32| egui::pos2(pad.left() + x * pad.width(), pad.bottom() - y * pad.height());
    harness.hover_at(at(0.5, 0.5));
    harness.drag_at(at(0.5, 0.5));
    harness.run();
    for step in 1..=4 {
        let t = step as f32 / 4.0;
        harness.hover_at(at(0.5 + 0.25 * t, 0.5 - 0.25 * t));
        harness.run();
    }
    harness.drop_at(at(0.75, 0.25));
    harness.run();
    let (x, y) = (params.morph_x.value(), params.morph_y.value());
    assert!((x - 0.75).abs() < 0.02 && (y - 0.25).abs() < 0.02, "the pad set ({x}, {y})");
    let calls = host.calls.lock().unwrap().clone();
    assert_eq!(calls.iter().filter(|c| *c == "begin").count(), 2, "{calls:?}");
    assert_eq!(calls.first().map(String::as_str), Some("begin"), "{calls:?}");
    assert_eq!(calls[calls.len() - 2..], ["end", "end"], "{calls:?}");

    // Place C from the library; B cleared.
    harness.query_all_by_role(Role::ComboBox).nth(2).unwrap().click();
    harness.run();
    harness.get_by_label("Violin").click();
    harness.run();
    harness.get_by_label("Clear").click();
    harness.run();
    let cello = asked.lock().unwrap().clone();
    assert_eq!(cello, vec![(2, Some(built_in("Violin"))), (1, None)]);
}
