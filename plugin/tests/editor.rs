//! The editor drawn headless (egui_kittest, queried through its accessibility tree): the model
//! panel, the model card, the performance view, meters, every parameter group of both plugins;
//! a mastering preset sets the parameters through the host context; picking a model in the library
//! (built in or a file) asks the plugin, instrument or effect, to load it live.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ddsp_core::master::MasterPreset;
use ddsp_core::{BuiltInModel, Model, ModelChoice, ModelLibrary};
use ddsp_plugin::editor::{draw, note_name, update, EditorModel, PluginParams, FRAME_INTERVAL, MIN_SIZE};
use ddsp_plugin::effect_params::EffectParams;
use ddsp_plugin::gui_data::GuiData;
use ddsp_plugin::model_slot::ModelStatus;
use ddsp_plugin::params::InstrumentParams;
use egui_kittest::kittest::{NodeT, Queryable};
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

/// Opens the mastering chain's groups (closed by default; each header says whether its stage is on).
fn open_mastering_groups(harness: &mut Harness<'_, EditorModel>) {
    // Bottom up: opening a group moves only those below it.
    for group in MASTER_GROUPS.iter().rev() {
        let header = format!("{group} · ");
        harness.get_by_label_contains(&header).click();
        harness.run();
    }
}

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
        &["Performance", "Pitch (C1–C8)", "Loudness (dB)", "Harmonic distribution", "Noise magnitudes"],
    );
    assert_labels(&harness, &["now: A4 +0 ¢ (440.0 Hz)", "Meters", "LUFS", "dBTP", "Mastering preset"]);
    for group in ["Voices", "Envelope", "Expression", "Synth", "Output"] {
        assert!(present(&harness, group), "no '{group}' group");
    }
    // The mastering chain, neutral by default, is closed below them; each header says its state.
    for header in ["EQ · on", "Dynamics · off", "Reverb · off", "Limiter · off"] {
        assert!(present(&harness, header), "no '{header}' header");
    }
    assert!(!present(&harness, "High Shelf Gain"));
    open_mastering_groups(&mut harness);
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
    for group in ["Play", "Input", "Synth", "Output", "Pitch · off", "MIDI Out · on"] {
        assert!(present(&harness, group), "no '{group}' group");
    }
    // The effect's pitch on a piano roll instead of the instrument's pitch strip.
    assert_labels(&harness, &["Pitch: raw (grey), played (green), MIDI out (boxes)", "Pitch Mode", "Retune Time"]);
    assert!(!present(&harness, "Pitch (C1–C8) vs trained range"));
    open_mastering_groups(&mut harness);
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
        &[
            "Flute  ·  built in",
            "Violin  ·  built in",
            "Cello  ·  built in",
            "Trumpet  ·  built in",
            "Sax  ·  built in",
            "Clarinet  ·  built in",
            "Horn  ·  built in",
            "Choir  ·  built in",
        ],
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

    // The file browser: opened on the folder, it lists the model file by name (every glyph drawn
    // from the editor's fonts) and picking it asks for that file.
    harness.get_by_label("Load model file…").click();
    harness.run();
    harness.state_mut().browser.folder = folder.clone();
    harness.run();
    harness.get_by_label("violin-test.onnx").click();
    harness.run();
    assert_eq!(asked.lock().unwrap().last(), Some(&ModelChoice::File(folder.join("violin-test.onnx"))));
}

/// Every widget that shows text (names, sliders, value boxes, labels, buttons), as drawn:
/// (what, rect).
fn text_widgets(harness: &Harness<'_, EditorModel>) -> Vec<(String, egui::Rect)> {
    harness
        .root()
        .children_recursive()
        .filter(|n| n.children().next().is_none())
        .filter_map(|n| {
            let what = n.accesskit_node().label().or_else(|| n.value()).unwrap_or_default();
            // The panel edge's drag handle and the morph pad are named but show no text.
            (!what.is_empty() && what != "Resize panel" && what != "Morph pad").then(|| (what, n.rect()))
        })
        .collect()
}

/// What is wrong with a layout `width` wide: widgets that overlap, that reach past the window's
/// edge (a clipped panel), or text wrapped to a word or so per line.
fn layout_faults(harness: &Harness<'_, EditorModel>, width: f32) -> Vec<String> {
    let widgets = text_widgets(harness);
    let mut faults = Vec::new();
    for (i, (a, ra)) in widgets.iter().enumerate() {
        for (b, rb) in &widgets[i + 1..] {
            if ra.shrink(0.5).intersects(rb.shrink(0.5)) {
                faults.push(format!("overlap: '{a}' {ra:?} / '{b}' {rb:?}"));
            }
        }
        if ra.left() < -0.5 || ra.right() > width + 0.5 {
            faults.push(format!("clipped: '{a}' {ra:?}"));
        }
    }
    // One line of text is as tall as the shortest widget that shows some.
    let line = widgets.iter().map(|(_, r)| r.height()).filter(|h| *h > 4.0).fold(f32::MAX, f32::min);
    for (what, rect) in &widgets {
        let lines = (rect.height() / line).round().max(1.0);
        let words = what.split_whitespace().count() as f32;
        if lines > 1.0 && words / lines < 1.5 {
            faults.push(format!("a word per line: '{what}' in {lines} lines {rect:?}"));
        }
    }
    faults
}

fn both_plugins() -> [PluginParams; 2] {
    [
        PluginParams::Instrument(Arc::new(InstrumentParams::default())),
        PluginParams::Effect(Arc::new(EffectParams::default())),
    ]
}

#[test]
fn both_editors_lay_out_cleanly_from_the_minimum_size_up() {
    let (min_w, min_h) = (MIN_SIZE.0 as f32, MIN_SIZE.1 as f32);
    let sizes =
        [(min_w, min_h), (min_w, 2400.0), (1040.0, 700.0), (1040.0, 2400.0), (1300.0, 2400.0), (1700.0, 2400.0)];
    for params in both_plugins() {
        for (width, height) in sizes {
            let library = ModelLibrary { folders: Vec::new(), recents_file: None };
            let gui = Arc::new(GuiData::default());
            gui.restart_needed.store(true, Ordering::Relaxed);
            let model = EditorModel::new(params.clone(), gui, status(), library, recording_loader().0);
            let mut harness = sized_harness(model, egui::Vec2::new(width, height));
            harness.run();
            open_mastering_groups(&mut harness);
            let faults = layout_faults(&harness, width);
            println!(
                "{} at {width}x{height}: {} widgets, {} faults",
                params_name(&params),
                text_widgets(&harness).len(),
                faults.len()
            );
            assert!(faults.is_empty(), "{} at {width}x{height}: {faults:#?}", params_name(&params));
        }
    }
}

fn params_name(params: &PluginParams) -> &'static str {
    match params {
        PluginParams::Instrument(_) => "instrument",
        PluginParams::Effect(_) => "effect",
    }
}

#[test]
fn the_wheel_scrolls_the_parameters_anywhere_beside_them() {
    let library = ModelLibrary { folders: Vec::new(), recents_file: None };
    let params = PluginParams::Instrument(Arc::new(InstrumentParams::default()));
    let model = EditorModel::new(params, Arc::new(GuiData::default()), status(), library, recording_loader().0);
    let (width, height) = (MIN_SIZE.0 as f32, MIN_SIZE.1 as f32);
    let mut harness = sized_harness(model, egui::Vec2::new(width, height));
    harness.run();
    let top = |h: &Harness<'_, EditorModel>| h.get_by_label("Voice Mode").rect().top();
    let before = top(&harness);
    // Right of every value box, just left of the meters panel: empty space in the parameters' column.
    let meters_left = harness.get_by_label("Meters").rect().left();
    let widest = text_widgets(&harness)
        .iter()
        .filter(|(_, r)| r.right() < meters_left && r.top() > before - 1.0)
        .fold(0.0f32, |m, (_, r)| m.max(r.right()));
    let pointer = egui::pos2((widest + meters_left) / 2.0, before + 40.0);
    assert!(pointer.x > widest + 5.0, "no room beside the value boxes ({widest} .. {meters_left})");
    harness.hover_at(pointer);
    harness.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, -120.0),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
        modifiers: egui::Modifiers::NONE,
    });
    harness.run();
    let after = top(&harness);
    println!("wheel at {pointer:?}: 'Voice Mode' from y {before} to {after}");
    assert!(after < before - 50.0, "the parameters did not scroll: {before} -> {after}");
}

fn marked(harness: &Harness<'_, EditorModel>, label: &str) -> bool {
    harness.get_by_label(label).accesskit_node().toggled() == Some(egui::accesskit::Toggled::True)
}

#[test]
fn the_active_mastering_preset_is_marked_and_flat_is_neutral() {
    let params = Arc::new(InstrumentParams::default());
    let library = ModelLibrary { folders: Vec::new(), recents_file: None };
    let model = EditorModel::new(
        PluginParams::Instrument(params.clone()),
        Arc::new(GuiData::default()),
        status(),
        library,
        recording_loader().0,
    );
    let mut harness = harness(model);
    harness.run();
    let marked_presets = |h: &Harness<'_, EditorModel>| {
        MasterPreset::ALL.iter().map(|p| p.name()).filter(|n| marked(h, n)).collect::<Vec<_>>()
    };
    // The plugin starts neutral: flat.
    assert_eq!(marked_presets(&harness), ["flat"]);
    // Each preset, set, is the one marked.
    for preset in MasterPreset::ALL {
        harness.get_by_label(preset.name()).click();
        harness.run();
        assert_eq!(marked_presets(&harness), [preset.name()]);
    }
    // A value changed by hand: no preset matches.
    let host = GuiContext::new(Arc::new(ImmediateHost));
    let setter = host.param_setter();
    harness.get_by_label("cello").click();
    harness.run();
    setter.set_parameter(&params.master.eq.peak3_db, 1.0);
    harness.run();
    assert!(marked_presets(&harness).is_empty(), "{:?}", marked_presets(&harness));

    // Flat from cello: the chain neutral, nothing added, nothing taken away.
    harness.get_by_label("flat").click();
    harness.run();
    let m = &params.master;
    let gains = [&m.eq.low_shelf_db, &m.eq.peak1_db, &m.eq.peak2_db, &m.eq.peak3_db, &m.eq.high_shelf_db];
    assert!(gains.iter().all(|g| g.value().abs() < 1e-3), "{:?}", gains.map(|g| g.value()));
    assert!(!m.eq.high_pass_on.value());
    assert!(!m.dynamics.on.value() && !m.reverb.on.value() && !m.limiter.on.value());
    assert_eq!(marked_presets(&harness), ["flat"]);
    // A setting inside a stage flat switches off does not change what plays: still flat.
    setter.set_parameter(&m.reverb.size, 0.95);
    harness.run();
    assert_eq!(marked_presets(&harness), ["flat"]);
}

#[test]
fn pitches_read_as_note_names_with_cents() {
    let hz = |midi: f32| 440.0 * 2f32.powf((midi - 69.0) / 12.0);
    assert_eq!(note_name(440.0), "A4 +0 ¢");
    assert_eq!(note_name(hz(75.99)), "E5 −1 ¢");
    assert_eq!(note_name(hz(75.4)), "D#5 +40 ¢");
    assert_eq!(note_name(hz(74.6)), "D#5 −40 ¢");
    assert_eq!(note_name(261.6256), "C4 +0 ¢");
    assert_eq!(note_name(hz(59.98)), "C4 −2 ¢");
    assert_eq!(note_name(27.5), "A0 +0 ¢");
    assert_eq!(note_name(hz(0.0)), "C-1 +0 ¢");
    assert_eq!(note_name(hz(127.0)), "G9 +0 ¢");
    for nothing in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert_eq!(note_name(nothing), "–");
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
