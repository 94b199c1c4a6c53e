//! Hostile saved states through the built .clap (clack-host state load): out-of-range values are
//! clamped, a crafted state (a null model reference, every value negative) still plays A4 at
//! 440 Hz, and a state from a newer version, from the other plugin, or garbage is refused with the
//! previous settings kept (the output is the one before the load, sample for sample).

use host_tests::analysis::{cents, fundamental_hz, rms_db};
use host_tests::state::{decode, encode};
use host_tests::{first_difference, instrument_bundle, ClapInstance, Rendered, Session, INSTRUMENT_ID};
use serde_json::{json, Value};

const EFFECT_ID: &str = "dev.ddsp-instrument.effect";
const RATE: f64 = 48_000.0;

fn a4(state: Option<Vec<u8>>) -> Session {
    Session::held_note(RATE, 512, 1.2, 69, state)
}

fn assert_plays_a4(out: &Rendered, what: &str) {
    let tail = &out.channels[0][24_000..];
    let f0 = fundamental_hz(tail, RATE, 440.0);
    let level = rms_db(tail);
    println!("{what}: {f0:.2} Hz at {level:.1} dB RMS");
    assert!(level > -50.0, "{what}: plays at {level} dB");
    assert!(cents(f0, 440.0).abs() < 5.0, "{what}: plays {f0} Hz");
}

/// Every numeric parameter value of `state` set to `value`.
fn with_every_value(state: &Value, value: f64) -> Value {
    let mut state = state.clone();
    for (_, v) in state["params"].as_object_mut().unwrap() {
        if let Some(number) = v.get_mut("f32") {
            *number = json!(value);
        } else if let Some(number) = v.get_mut("i32") {
            *number = json!(value as i64);
        }
    }
    state
}

#[test]
fn out_of_range_values_are_clamped_and_a_crafted_state_is_refused_and_a4_still_plays() {
    let mut plugin = ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap();
    let before = plugin.play(&a4(None)).unwrap();
    let saved = decode(&before.state);
    // A few values out of range (a session from a version with wider ranges): clamped.
    let mut wide = saved.clone();
    wide["params"]["gain"]["f32"] = json!(100.0);
    wide["params"]["voices"]["i32"] = json!(999);
    wide["params"]["vibdep"]["f32"] = json!(-3.0);
    let out = plugin.play(&a4(Some(encode(&wide)))).unwrap();
    assert_plays_a4(&out, "three values out of range");
    let restored = decode(&out.state);
    let gain_max = 10f64.powf(12.0 / 20.0);
    assert!((restored["params"]["gain"]["f32"].as_f64().unwrap() - gain_max).abs() < 1e-3, "{}", restored["params"]);
    assert_eq!(restored["params"]["voices"]["i32"].as_i64(), Some(32));
    assert_eq!(restored["params"]["vibdep"]["f32"].as_f64(), Some(0.0));
    assert!(rms_db(&out.channels[0][24_000..]) > rms_db(&before.channels[0][24_000..]) + 10.0, "+12 dB");

    // The state: the model reference's every field null, every value negative. Clamped,
    // it decays to digital silence (sustain 0, gains at -60 dB); it is refused whole instead, and
    // the previous settings (here the defaults) keep playing, sample for sample.
    let mut fresh = ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap();
    let mut crafted = with_every_value(&saved, -5.0);
    crafted["fields"]["model"] = json!(json!({"path": null, "sha256": null, "built_in": null}).to_string());
    let out = fresh.play(&a4(Some(encode(&crafted)))).unwrap();
    assert_plays_a4(&out, "every value negative");
    assert_eq!(first_difference(&out.channels, &before.channels), None, "the crafted state changed the settings");
    // Every value far above its range: the same.
    let out = fresh.play(&a4(Some(encode(&with_every_value(&saved, 1e9))))).unwrap();
    assert_eq!(first_difference(&out.channels, &before.channels), None, "the huge state changed the settings");
    // The null model reference alone is valid: the default model.
    let mut null_model = saved.clone();
    null_model["fields"]["model"] = crafted["fields"]["model"].clone();
    let out = fresh.play(&a4(Some(encode(&null_model)))).unwrap();
    assert_eq!(first_difference(&out.channels, &before.channels), None);
}

#[test]
fn states_this_plugin_cannot_have_written_are_refused_and_the_previous_settings_kept() {
    let mut plugin = ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap();
    let before = plugin.play(&a4(None)).unwrap();
    assert_plays_a4(&before, "default");
    let saved = decode(&before.state);
    // Quieter settings a refused state must not bring in.
    let mut quieter = saved.clone();
    quieter["params"]["gain"]["f32"] = json!(0.1);

    let mut newer = quieter.clone();
    newer["version"] = json!("99.0.0");
    let effect_state = ClapInstance::load(&instrument_bundle(), EFFECT_ID).unwrap().play(&Session::new(RATE, 512, 0.1));
    let mut other = decode(&effect_state.unwrap().state);
    other["params"]["gain"]["f32"] = json!(0.1);
    let mut damaged_model = quieter.clone();
    damaged_model["fields"]["model"] = json!("{\"path\": 17");
    for (what, state) in
        [("newer version", newer), ("the effect's state", other), ("damaged model reference", damaged_model)]
    {
        let out = plugin.play(&a4(Some(encode(&state)))).unwrap();
        assert_eq!(first_difference(&out.channels, &before.channels), None, "{what}: the settings changed");
    }
    // The same quieter state from this version loads (the refusals above were not blanket).
    let out = plugin.play(&a4(Some(encode(&quieter)))).unwrap();
    assert!(rms_db(&out.channels[0][24_000..]) < rms_db(&before.channels[0][24_000..]) - 15.0);
    assert_plays_a4(&out, "quieter");

    // Garbage: the host's load fails, and the plugin plays on with what it had.
    let mut plugin = ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let mut framed = (garbage.len() as u64).to_le_bytes().to_vec();
    framed.extend(&garbage);
    for state in [garbage, framed] {
        assert!(plugin.play(&a4(Some(state))).is_err(), "garbage loads");
        let out = plugin.play(&a4(None)).unwrap();
        assert_eq!(first_difference(&out.channels, &before.channels), None, "garbage changed the settings");
    }
}
