//! The editor drawn headless (egui_kittest, queried through its accessibility tree): the model
//! panel, the model card, the performance view, meters, every parameter group of both plugins;
//! a mastering preset sets the parameters through the host context; picking a model in the library
//! (built in or a file) asks the plugin, instrument or effect, to load it live.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ddsp_core::{BuiltInModel, Model, ModelChoice, ModelLibrary};
use ddsp_plugin::editor::{draw, update, EditorModel, PluginParams, FRAME_INTERVAL};
use ddsp_plugin::effect_params::EffectParams;
use ddsp_plugin::gui_data::GuiData;
use ddsp_plugin::model_slot::ModelStatus;
use ddsp_plugin::params::InstrumentParams;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use nice_plug::context::gui::{GuiContext, GuiContextInner};
use nice_plug::context::PluginApi;
use nice_plug::prelude::{ParamPtr, PluginState};

fn present(harness: &Harness<'_, EditorModel>, label: &str) -> bool {
    harness.query_all_by_label(label).next().is_some()
}

/// The host side of parameter changes: applies them at once, as a host would.
struct ImmediateHost;

impl GuiContextInner for ImmediateHost {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    unsafe fn raw_begin_set_parameter(&self, _param: ParamPtr) {}
    unsafe fn raw_set_parameter_normalized(&self, param: ParamPtr, normalized: f32) {
        // SAFETY: the pointers come from the parameters the test keeps alive.
        unsafe {
            param._internal_set_normalized_value(normalized);
        }
    }
    unsafe fn raw_end_set_parameter(&self, _param: ParamPtr) {}
    fn get_state(&self) -> PluginState {
        unreachable!("the editor never reads the plugin state")
    }
    fn set_state(&self, _state: PluginState) {}
    fn request_restart(&self) {}
}

/// A model loader that only records what it was asked to load.
fn recording_loader() -> (ddsp_plugin::editor::LoadModel, Arc<Mutex<Vec<ModelChoice>>>) {
    let asked: Arc<Mutex<Vec<ModelChoice>>> = Arc::default();
    let record = asked.clone();
    (Box::new(move |choice| record.lock().unwrap().push(choice)), asked)
}

fn status() -> Arc<Mutex<ModelStatus>> {
    Arc::new(Mutex::new(ModelStatus::playing(&Model::embedded_default(), None)))
}

fn harness<'a>(model: EditorModel) -> Harness<'a, EditorModel> {
    sized_harness(model, egui::Vec2::new(1040.0, 1400.0))
}

fn sized_harness<'a>(model: EditorModel, size: egui::Vec2) -> Harness<'a, EditorModel> {
    let context = GuiContext::new(Arc::new(ImmediateHost));
    Harness::builder().with_size(size).build_ui_state(
        move |ui, model: &mut EditorModel| {
            let setter = context.param_setter();
            draw(ui, model, &setter);
        },
        model,
    )
}

fn assert_labels(harness: &Harness<'_, EditorModel>, labels: &[&str]) {
    for label in labels {
        assert!(harness.query_all_by_label_contains(label).next().is_some(), "the editor does not draw '{label}'");
    }
}

const MASTER_GROUPS: [&str; 4] = ["EQ", "Dynamics", "Reverb", "Limiter"];

#[test]
fn instrument_editor_draws_every_panel_and_group() {
    let params = Arc::new(InstrumentParams::default());
    let gui = Arc::new(GuiData::default());
    // A frame as the audio thread publishes it while a note sounds.
    gui.f0_hz.store(440.0, Ordering::Relaxed);
    gui.loudness_db.store(-30.0, Ordering::Relaxed);
    gui.sounding.store(true, Ordering::Relaxed);
    gui.frames.store(1, Ordering::Release);
    let library = ModelLibrary { folders: Vec::new(), recents_file: None };
    let model =
        EditorModel::new(PluginParams::Instrument(params.clone()), gui, status(), library, recording_loader().0);
    let mut harness = harness(model);
    harness.run();
    assert_labels(&harness, &["DDSP Instrument", "Model", "Model card", "Pitch range", "Licence", "Load model file"]);
    assert_labels(
        &harness,
        &["Performance", "Pitch (MIDI note)", "Loudness (dB)", "Harmonic distribution", "Noise magnitudes"],
    );
    assert_labels(&harness, &["now: 440.0 Hz", "Meters", "LUFS", "dBTP", "Mastering preset"]);
    for group in ["Input", "Synth", "Envelope", "Output"].iter().chain(&MASTER_GROUPS) {
        assert!(present(&harness, group), "no '{group}' group");
    }
    assert_labels(
        &harness,
        &["Attack", "Velocity Curve", "High Shelf Gain", "Threshold", "Pre-Delay", "Ceiling", "Quality"],
    );

    // A mastering preset arrives as parameter changes.
    assert_eq!(params.master.eq.peak3_db.value(), 0.0);
    assert!(!params.master.reverb.on.value());
    harness.get_by_label("cello").click();
    harness.run();
    assert!((params.master.eq.peak3_db.value() - 2.5).abs() < 0.05, "peak 3: {}", params.master.eq.peak3_db.value());
    assert!(
        params.master.eq.high_pass_on.value() && params.master.reverb.on.value() && params.master.limiter.on.value()
    );

    // The limiter now on changes the latency, which waits for the host to restart audio: said.
    harness.state().gui.restart_needed.store(true, Ordering::Relaxed);
    harness.run();
    assert_labels(&harness, &["applies when the host restarts audio"]);
}

#[test]
fn effect_editor_draws_its_groups_and_loads_picked_models_live() {
    let params = Arc::new(EffectParams::default());
    let library = ModelLibrary { folders: Vec::new(), recents_file: None };
    let (load, asked) = recording_loader();
    let model = EditorModel::new(PluginParams::Effect(params), Arc::new(GuiData::default()), status(), library, load);
    let mut harness = harness(model);
    harness.run();
    assert_labels(&harness, &["DDSP Effect", "Model card", "Performance", "now: silent"]);
    for group in ["Input", "Synth", "Output"].iter().chain(&MASTER_GROUPS) {
        assert!(present(&harness, group), "no '{group}' group");
    }
    assert!(!present(&harness, "Envelope"), "the effect has no envelope");
    assert_labels(&harness, &["Input Pitch", "Pitch Shift", "Dry/Wet"]);

    // Picking a model asks the effect to load it live, as the instrument does (no audio restart).
    harness.get_by_label("Trumpet  ·  built in").click();
    harness.run();
    let trumpet = ModelChoice::BuiltIn(BuiltInModel::find("Trumpet").unwrap());
    assert_eq!(*asked.lock().unwrap(), vec![trumpet]);
}

#[test]
fn picking_a_library_model_asks_the_plugin_to_load_it() {
    let folder = std::env::temp_dir().join(format!("ddsp-editor-test-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("violin-test.onnx");
    std::fs::copy(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/violin.onnx"), &file).unwrap();
    let library = ModelLibrary { folders: vec![folder.clone()], recents_file: None };
    let asked: Arc<Mutex<Vec<ModelChoice>>> = Arc::default();
    let record = asked.clone();
    let load: ddsp_plugin::editor::LoadModel = Box::new(move |path| record.lock().unwrap().push(path));
    let params = Arc::new(InstrumentParams::default());
    let model =
        EditorModel::new(PluginParams::Instrument(params), Arc::new(GuiData::default()), status(), library, load);
    let mut harness = harness(model);
    harness.run();
    // The built-in models are listed first, the playing one (the default) marked.
    assert_labels(
        &harness,
        &["Flute  ·  built in", "Violin  ·  built in", "Cello  ·  built in", "Trumpet  ·  built in"],
    );
    harness.get_by_label_contains("violin-test").click();
    harness.run();
    harness.get_by_label("Cello  ·  built in").click();
    harness.run();
    harness.get_by_label("Flute  ·  built in").click();
    harness.run();
    let picked = asked.lock().unwrap().clone();
    assert_eq!(
        picked,
        vec![ModelChoice::File(file), ModelChoice::BuiltIn(BuiltInModel::find("Cello").unwrap())],
        "the playing Flute is not reloaded"
    );

    // A load error is shown in plain words.
    harness.state_mut().status.lock().unwrap().message = Some("model.onnx is not a DDSP model".to_owned());
    harness.run();
    assert_labels(&harness, &["model.onnx is not a DDSP model"]);
}

/// Every parameter's name, slider and value box, as drawn: (what, rect).
fn parameter_widgets(harness: &Harness<'_, EditorModel>) -> Vec<(String, egui::Rect)> {
    use egui_kittest::kittest::NodeT;
    harness
        .root()
        .children_recursive()
        .filter(|n| n.children().next().is_none())
        .filter_map(|n| {
            let what = n.accesskit_node().label().or_else(|| n.value()).unwrap_or_default();
            (!what.is_empty()).then(|| (what, n.rect()))
        })
        .collect()
}

#[test]
fn parameter_groups_never_overlap_at_any_editor_width() {
    for width in [760.0, 1040.0, 1300.0, 1700.0] {
        let library = ModelLibrary { folders: Vec::new(), recents_file: None };
        let params = PluginParams::Instrument(Arc::new(InstrumentParams::default()));
        let model = EditorModel::new(params, Arc::new(GuiData::default()), status(), library, recording_loader().0);
        let mut harness = sized_harness(model, egui::Vec2::new(width, 2400.0));
        harness.run();
        let widgets = parameter_widgets(&harness);
        let mut overlaps = Vec::new();
        for (i, (a, ra)) in widgets.iter().enumerate() {
            for (b, rb) in &widgets[i + 1..] {
                if ra.shrink(0.5).intersects(rb.shrink(0.5)) {
                    overlaps.push(format!("'{a}' {ra:?} / '{b}' {rb:?}"));
                }
            }
        }
        println!("{width} px: {} widgets, {} overlaps", widgets.len(), overlaps.len());
        assert!(overlaps.is_empty(), "{width} px: {overlaps:#?}");
    }
}

/// One editor pass through a plain egui context, as nice-plug-egui runs it: the repaint delay the
/// editor asked for (`Duration::MAX`: none).
fn pass(
    ctx: &egui::Context,
    model: &mut EditorModel,
    setter: &nice_plug::context::gui::ParamSetter,
    t: f64,
) -> Duration {
    let input = egui::RawInput {
        time: Some(t),
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1040.0, 700.0))),
        ..Default::default()
    };
    let mut output = ctx.run_ui(input, |ui| update(ui, model, setter));
    // No renderer here: the font atlas uploads are dropped.
    output.textures_delta.clear();
    output.viewport_output[&egui::ViewportId::ROOT].repaint_delay
}

#[test]
fn the_editor_sleeps_while_nothing_plays_and_paces_itself_while_a_note_sounds() {
    let gui = Arc::new(GuiData::default());
    let library = ModelLibrary { folders: Vec::new(), recents_file: None };
    let params = PluginParams::Instrument(Arc::new(InstrumentParams::default()));
    let mut model = EditorModel::new(params, gui.clone(), status(), library, recording_loader().0);
    let context = GuiContext::new(Arc::new(ImmediateHost));
    let setter = context.param_setter();
    let ctx = egui::Context::default();
    // The audio thread's first block publishes silence.
    gui.wake_editor_on_change();
    // The first passes lay the editor out (egui asks for a pass or two more); then it sleeps.
    let mut t = 0.0;
    let mut delays = Vec::new();
    for _ in 0..6 {
        delays.push(pass(&ctx, &mut model, &setter, t));
        t += 0.1;
    }
    assert_eq!(*delays.last().unwrap(), Duration::MAX, "idle, the editor asked for repaints: {delays:?}");
    assert!(gui.editor_asleep.load(Ordering::SeqCst));

    // The audio thread publishes silence again: nothing changed, the editor is not woken.
    gui.frames.fetch_add(1, Ordering::Release);
    gui.wake_editor_on_change();
    gui.wake_editor_on_change();
    assert!(gui.editor_asleep.load(Ordering::SeqCst), "woken by a silent block");

    // A note: the audio thread wakes it, and it draws at the display rate while the note sounds.
    gui.f0_hz.store(440.0, Ordering::Relaxed);
    gui.sounding.store(true, Ordering::Relaxed);
    gui.voice_activity.store(1, Ordering::Relaxed);
    gui.frames.fetch_add(1, Ordering::Release);
    gui.wake_editor_on_change();
    assert!(!gui.editor_asleep.load(Ordering::SeqCst), "the note did not wake the editor");
    for _ in 0..5 {
        gui.frames.fetch_add(1, Ordering::Release);
        assert_eq!(pass(&ctx, &mut model, &setter, t), FRAME_INTERVAL);
        assert!(!gui.editor_asleep.load(Ordering::SeqCst));
        t += FRAME_INTERVAL.as_secs_f64();
    }

    // The note ends: the history scrolls it out (6 s) while frames arrive, then the editor sleeps.
    gui.sounding.store(false, Ordering::Relaxed);
    gui.voice_activity.store(0, Ordering::Relaxed);
    let mut frames_drawn = 0;
    let mut delay = Duration::ZERO;
    while delay != Duration::MAX && frames_drawn < 1000 {
        gui.frames.fetch_add(1, Ordering::Release);
        delay = pass(&ctx, &mut model, &setter, t);
        t += FRAME_INTERVAL.as_secs_f64();
        frames_drawn += 1;
    }
    let seconds = frames_drawn as f64 * FRAME_INTERVAL.as_secs_f64();
    println!("asleep {seconds:.2} s after the note ended ({frames_drawn} frames)");
    assert!((5.5..7.0).contains(&seconds), "{seconds} s");
    // Frames stop arriving (a stopped host) with a note shown: no repaints for nothing.
    gui.sounding.store(true, Ordering::Relaxed);
    gui.frames.fetch_add(1, Ordering::Release);
    pass(&ctx, &mut model, &setter, t);
    pass(&ctx, &mut model, &setter, t + 0.04);
    assert_eq!(pass(&ctx, &mut model, &setter, t + 0.08), Duration::MAX);

    // A picked model: the editor looks for its card until the status changes.
    model.pick(ModelChoice::BuiltIn(BuiltInModel::find("Cello").unwrap()), t);
    assert!(pass(&ctx, &mut model, &setter, t + 0.1) <= Duration::from_millis(100));
    *model.status.lock().unwrap() = ModelStatus::playing(&Model::embedded_default(), Some("changed".into()));
    pass(&ctx, &mut model, &setter, t + 0.2);
    assert_eq!(pass(&ctx, &mut model, &setter, t + 0.3), Duration::MAX);
}
