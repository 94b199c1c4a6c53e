//! A session that names a built-in model, restored in the built .clap bundle: it plays exactly what
//! the same model's shipped file plays, and the name survives the next save.
//! (Own test binary: it sets the process environment the plugin reads its model path from.)

use std::path::PathBuf;

use host_tests::analysis::{cents, fundamental_hz};
use host_tests::{first_difference, instrument_bundle, run_clap, Session, TimedEvent, INSTRUMENT_ID};

fn c4_session(state: Option<Vec<u8>>) -> Session {
    let mut session = Session::new(48_000.0, 256, 1.5);
    session.events.push(TimedEvent::NoteOn { at: 100, key: 60, velocity: 0.8 });
    session.state = state;
    session
}

/// nice-plug's CLAP state: a little-endian u64 length, then JSON.
fn state_json(state: &[u8]) -> serde_json::Value {
    let length = u64::from_le_bytes(state[..8].try_into().unwrap()) as usize;
    assert_eq!(length, state.len() - 8, "the length prefix covers the rest");
    serde_json::from_slice(&state[8..]).expect("nice-plug states are JSON")
}

/// The plugin state with its persisted model reference replaced by `model` (nice-plug stores
/// persistent fields as JSON strings inside its JSON state).
fn with_model(state: &[u8], model: &str) -> Vec<u8> {
    let mut json = state_json(state);
    let fields = json.get_mut("fields").and_then(|f| f.as_object_mut()).expect("the state has persistent fields");
    assert!(fields.contains_key("model"), "no persisted 'model' field in {fields:?}");
    fields.insert("model".into(), serde_json::Value::String(model.into()));
    let body = serde_json::to_vec(&json).unwrap();
    [(body.len() as u64).to_le_bytes().as_slice(), &body].concat()
}

fn saved_model(state: &[u8]) -> serde_json::Value {
    serde_json::from_str(state_json(state)["fields"]["model"].as_str().unwrap()).unwrap()
}

#[test]
fn a_session_naming_a_built_in_model_plays_that_model() {
    let default = run_clap(&instrument_bundle(), INSTRUMENT_ID, &c4_session(None)).unwrap();
    let violin_state = with_model(&default.state, r#"{"path":null,"sha256":null,"built_in":"Violin"}"#);
    let built_in = run_clap(&instrument_bundle(), INSTRUMENT_ID, &c4_session(Some(violin_state))).unwrap();

    // The reference: the shipped violin file, named the way a development setup names a file.
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/violin.onnx");
    std::env::set_var("DDSP_INSTRUMENT_MODEL", &file);
    let from_file = run_clap(&instrument_bundle(), INSTRUMENT_ID, &c4_session(None)).unwrap();
    std::env::remove_var("DDSP_INSTRUMENT_MODEL");

    let diff = first_difference(&built_in.channels, &from_file.channels);
    assert_eq!(diff, None, "the built-in violin must play exactly what models/violin.onnx plays: {diff:?}");
    assert!(first_difference(&built_in.channels, &default.channels).is_some(), "the violin sounds like the flute");
    let f0 = fundamental_hz(&built_in.channels[0][24_000..], 48_000.0, 261.626);
    println!("built-in violin via CLAP: C4 at {f0:.3} Hz ({:+.2} cents)", cents(f0, 261.626));
    assert!(cents(f0, 261.626).abs() < 5.0, "C4 played at {f0} Hz");

    // Saved again, the session still names the built-in model (not a path).
    let saved = saved_model(&built_in.state);
    assert_eq!(saved["built_in"], "Violin", "{saved}");
    assert!(saved["path"].is_null(), "{saved}");

    // A name this version lacks: the default keeps playing (and the log says so).
    let harp_state = with_model(&default.state, r#"{"built_in":"Harp"}"#);
    let harp = run_clap(&instrument_bundle(), INSTRUMENT_ID, &c4_session(Some(harp_state))).unwrap();
    assert_eq!(first_difference(&harp.channels, &default.channels), None, "an unknown built-in plays the default");
}
