//! A DDSP-VST `.tflite` model played from MIDI through the built .clap bundle.
//! (Own test binary: it sets the process environment the plugin reads its model path from.)

use std::path::PathBuf;

use host_tests::analysis::{cents, fundamental_hz, rms_db};
use host_tests::{instrument_bundle, run_clap, Session, TimedEvent, INSTRUMENT_ID};

#[test]
fn ddsp_vst_model_plays_the_requested_pitch_through_the_clap_bundle() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dsp-core/tests/data/ddsp-vst/model_a.tflite");
    std::env::set_var("DDSP_INSTRUMENT_MODEL", &model);
    for (key, hz) in [(57u8, 220.0), (64, 329.628)] {
        let mut session = Session::new(48_000.0, 256, 1.5);
        session.events.push(TimedEvent::NoteOn { at: 0, key, velocity: 0.9 });
        let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &session).unwrap();
        let steady = &out.channels[0][24_000..];
        let f0 = fundamental_hz(steady, 48_000.0, hz);
        println!(
            "DDSP-VST model via CLAP: key {key}: {f0:.3} Hz ({:+.2} cents), {:.1} dBFS",
            cents(f0, hz),
            rms_db(steady)
        );
        assert!(cents(f0, hz).abs() < 5.0, "key {key}: {f0} Hz, expected {hz} Hz");
        assert!(rms_db(steady) > -60.0);
    }
}
