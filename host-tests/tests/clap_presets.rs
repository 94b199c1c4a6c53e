//! Presets through the built .clap (clack-host state save/load). A preset file's `state` is the
//! plugin state nice-plug saves (plugin/src/presets.rs), so a host can apply it as a session:
//! every factory preset loads (its model plays G4 in tune, each sounds unlike the default), saves
//! back the same state, and a second instance loaded with that saved state plays it bit for bit.
//! A user preset written from a changed state, read back from its file and applied, gives the
//! same state and the same audio as the state it was saved from.

use std::path::PathBuf;

use host_tests::analysis::{cents, fundamental_hz, rms_db, saw};
use host_tests::state::{decode, encode};
use host_tests::{first_difference, instrument_bundle, ClapInstance, Rendered, Session, INSTRUMENT_ID};

const EFFECT_ID: &str = "dev.ddsp-instrument.effect";
use serde_json::{json, Value};

const RATE: f64 = 48_000.0;
const G4_HZ: f64 = 391.995;

fn g4(state: Option<Vec<u8>>) -> Session {
    Session::held_note(RATE, 512, 1.0, 67, state)
}

/// What a preset decides: every parameter and the model (the load message field is not saved).
fn settings(state: &Value) -> (Value, Value) {
    let model: Value = serde_json::from_str(state["fields"]["model"].as_str().unwrap()).unwrap();
    (state["params"].clone(), model)
}

/// The factory preset files of `plugin` ("DDSP Instrument", "DDSP Effect").
fn factory_presets(plugin: &str) -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin/presets");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_str::<Value>(&std::fs::read_to_string(f).unwrap()).unwrap())
        .filter(|p| p["plugin"].as_str() == Some(plugin))
        .collect()
}

/// Applies `state` to a fresh instance and plays G4; the render and its saved state.
fn play_fresh(state: &Value) -> Rendered {
    let mut plugin = ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap();
    plugin.play(&g4(Some(encode(state)))).unwrap()
}

/// Saved state equals `state` in what a preset decides, and a second instance loaded with the
/// saved state plays `out` bit for bit and saves the same again.
fn assert_round_trip(what: &str, state: &Value, out: &Rendered) {
    let saved = decode(&out.state);
    assert_eq!(settings(&saved), settings(state), "{what}: the saved state differs from the applied one");
    let again = play_fresh(&saved);
    assert_eq!(first_difference(&again.channels, &out.channels), None, "{what}: the reloaded instance plays otherwise");
    assert_eq!(settings(&decode(&again.state)), settings(state), "{what}: saved again, the state changed");
}

#[test]
fn factory_presets_apply_through_the_clap_and_round_trip_state_and_audio() {
    let default = ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap().play(&g4(None)).unwrap();
    let presets = factory_presets("DDSP Instrument");
    assert_eq!(presets.len(), 8, "one factory preset per shipped model");
    let mut models = Vec::new();
    for preset in &presets {
        let name = preset["name"].as_str().unwrap();
        assert_eq!(
            (preset["format"].as_str(), preset["plugin"].as_str()),
            (Some("ddsp-instrument-preset"), Some("DDSP Instrument"))
        );
        let state = &preset["state"];
        let out = play_fresh(state);
        let tail = &out.channels[0][24_000..];
        let (f0, level) = (fundamental_hz(tail, RATE, G4_HZ), rms_db(tail));
        println!("{name}: G4 at {f0:.2} Hz ({:+.1} cents), {level:.1} dB RMS", cents(f0, G4_HZ));
        assert!(level > -50.0, "{name}: plays at {level} dB");
        assert!(cents(f0, G4_HZ).abs() < 10.0, "{name}: plays {f0} Hz");
        assert!(first_difference(&out.channels, &default.channels).is_some(), "{name}: sounds like the default");
        assert_round_trip(name, state, &out);
        // The session names the preset (the editor shows it after a reopen).
        let named: Option<String> =
            serde_json::from_str(decode(&out.state)["fields"]["preset"].as_str().unwrap()).unwrap();
        assert_eq!(named.as_deref(), Some(name));
        models.push(settings(&decode(&out.state)).1["built_in"].as_str().unwrap().to_owned());
    }
    models.sort();
    assert_eq!(models, ["Cello", "Choir", "Clarinet", "Flute", "Horn", "Sax", "Trumpet", "Violin"]);
}

#[test]
fn a_saved_user_preset_reloads_to_the_same_state_and_audio() {
    // A user's sound: the violin preset, then changed in the plugin (sustain, gain), saved.
    let violin = factory_presets("DDSP Instrument")
        .into_iter()
        .find(|p| p["name"].as_str().unwrap().starts_with("Violin"))
        .unwrap();
    let mut changed = violin["state"].clone();
    changed["params"]["sus"]["f32"] = json!(0.5);
    changed["params"]["gain"]["f32"] = json!(0.5);
    let mut plugin = ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap();
    let original = plugin.play(&g4(Some(encode(&changed)))).unwrap();

    // Saved as a preset file (the format presets.rs writes), read back from disk.
    let live = decode(&original.state);
    let preset = json!({
        "format": "ddsp-instrument-preset", "version": 1, "plugin": "DDSP Instrument", "name": "My violin", "state": live,
    });
    let path = std::env::temp_dir().join(format!("ddsp-clap-preset-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_string_pretty(&preset).unwrap()).unwrap();
    let read: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();

    // Applied to another instance: the same state, the same audio, sample for sample.
    let reloaded = play_fresh(&read["state"]);
    assert_eq!(settings(&decode(&reloaded.state)), settings(&live), "the reloaded state differs");
    assert_eq!(first_difference(&reloaded.channels, &original.channels), None, "the reloaded preset plays otherwise");
    // And it is the user's sound, not the factory one.
    let factory = play_fresh(&violin["state"]);
    assert!(first_difference(&factory.channels, &original.channels).is_some(), "the changes were lost");
    assert_round_trip("My violin", &read["state"], &reloaded);
}

/// The effect's factory presets (one per shipped model): each applied as a state in the built .clap
/// turns the input into its model at the pitch its shift says (A3 in, A3 or A4 out), and saves back
/// the same state.
#[test]
fn the_effects_factory_presets_play_their_model_at_their_pitch() {
    let presets = factory_presets("DDSP Effect");
    assert_eq!(presets.len(), 8, "one effect preset per shipped model");
    let mut models = Vec::new();
    for preset in &presets {
        let (name, state) = (preset["name"].as_str().unwrap(), &preset["state"]);
        let mut session = Session::new(RATE, 480, 1.5);
        let a3 = saw(220.0, 1.5, RATE);
        session.input = vec![a3.clone(), a3];
        session.state = Some(encode(state));
        let mut effect = ClapInstance::load(&instrument_bundle(), EFFECT_ID).unwrap();
        let out = effect.play(&session).unwrap();
        let shift = state["params"]["shift"]["f32"].as_f64().unwrap();
        let expected = 220.0 * (shift / 12.0).exp2();
        let tail = &out.channels[0][24_000..];
        let (f0, level) = (fundamental_hz(tail, RATE, expected), rms_db(tail));
        println!(
            "{name}: A3 in, {f0:.2} Hz out ({:+.1} cents from {expected} Hz), {level:.1} dB RMS",
            cents(f0, expected)
        );
        assert!(level > -50.0, "{name}: plays at {level} dB");
        assert!(cents(f0, expected).abs() < 10.0, "{name}: plays {f0} Hz, not {expected}");
        assert_eq!(settings(&decode(&out.state)), settings(state), "{name}: the saved state differs");
        models.push(settings(state).1["built_in"].as_str().unwrap().to_owned());
    }
    models.sort();
    assert_eq!(models, ["Cello", "Choir", "Clarinet", "Flute", "Horn", "Sax", "Trumpet", "Violin"]);
}
