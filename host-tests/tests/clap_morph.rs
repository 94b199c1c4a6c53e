//! Morphing through the built .clap (clack-host, a saved session loaded as a host does): a session
//! with place B set plays the flute bit for bit at Morph X 0, another sound at 1 and a third
//! halfway, each in tune; automation of Morph X moves it while a note holds; the saved state keeps
//! the place; and a place whose model is missing is reported while A plays on.

use host_tests::analysis::{cents, fundamental_hz, rms_db};
use host_tests::state::{decode, encode};
use host_tests::{first_difference, instrument_bundle, ClapInstance, Rendered, Session, TimedEvent, INSTRUMENT_ID};
use serde_json::{json, Value};

const RATE: f64 = 48_000.0;
const G4_HZ: f64 = 391.995;

fn g4(state: Option<Vec<u8>>) -> Session {
    Session::held_note(RATE, 512, 1.0, 67, state)
}

fn play(state: Option<&Value>) -> Rendered {
    let mut plugin = ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap();
    plugin.play(&g4(state.map(encode))).unwrap()
}

/// The default session with place B set to `b` (a built-in name or a missing file) and Morph X.
fn with_morph(default: &Value, b: Value, x: f32) -> Value {
    let mut state = default.clone();
    let places = json!({ "b": b, "c": null, "d": null });
    state["fields"]["morph"] = Value::String(places.to_string());
    state["params"]["morphx"] = json!({ "f32": x });
    state
}

fn built_in(name: &str) -> Value {
    json!({ "path": null, "sha256": null, "built_in": name })
}

#[test]
fn a_session_with_a_morph_plays_the_blend_in_tune_and_keeps_it() {
    let default_out = play(None);
    let default = decode(&default_out.state);
    let tail = |r: &Rendered| r.channels[0][24_000..].to_vec();

    let at_a = play(Some(&with_morph(&default, built_in("Violin"), 0.0)));
    assert_eq!(
        first_difference(&at_a.channels, &default_out.channels),
        None,
        "Morph X 0 plays place A (the flute) sample for sample"
    );
    let at_b = play(Some(&with_morph(&default, built_in("Violin"), 1.0)));
    let half = play(Some(&with_morph(&default, built_in("Violin"), 0.5)));
    for (what, r) in [("B", &at_b), ("halfway", &half)] {
        let (f0, level) = (fundamental_hz(&tail(r), RATE, G4_HZ), rms_db(&tail(r)));
        println!("{what}: G4 at {f0:.2} Hz ({:+.1} cents), {level:.1} dB RMS", cents(f0, G4_HZ));
        assert!(cents(f0, G4_HZ).abs() < 10.0 && level > -50.0, "{what}: {f0} Hz at {level} dB");
        assert!(first_difference(&r.channels, &default_out.channels).is_some(), "{what} sounds like A");
    }
    assert!(first_difference(&half.channels, &at_b.channels).is_some(), "halfway sounds like B");

    // The saved session keeps the place and the position.
    let saved = decode(&half.state);
    let places: Value = serde_json::from_str(saved["fields"]["morph"].as_str().unwrap()).unwrap();
    assert_eq!(places["b"]["built_in"], "Violin");
    assert_eq!(saved["params"]["morphx"]["f32"], json!(0.5));

    // Automation of Morph X while the note holds: the sound leaves A's.
    let mut plugin = ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap();
    let mut session = g4(Some(encode(&with_morph(&default, built_in("Violin"), 0.0))));
    session.events.push(TimedEvent::Param { at: 24_000, name: "Morph X", value: 1.0 });
    let moved = plugin.play(&session).unwrap();
    let first = first_difference(&moved.channels, &default_out.channels).map(|d| d.1);
    println!("automated Morph X: the output leaves A's at sample {first:?}");
    // Parameters take effect per host block (the plugin reads them at the block's start).
    let block_start = 24_000 / 512 * 512;
    assert!(first.is_some_and(|at| at >= block_start), "the automation moved the morph, and not before its block");

    // A place whose file is gone: A plays on.
    let missing = json!({ "path": "/no/such/model.onnx", "sha256": null, "built_in": null });
    let out = play(Some(&with_morph(&default, missing, 1.0)));
    assert_eq!(first_difference(&out.channels, &default_out.channels), None, "a missing B leaves A playing");
}
