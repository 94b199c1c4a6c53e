//! A garbage model file never silences the plugin: it keeps playing the embedded model.
//! (Own test binary: it sets the process environment the plugin reads.)

use host_tests::analysis::{cents, fundamental_hz};
use host_tests::{instrument_bundle, run_clap, Session, TimedEvent, INSTRUMENT_ID};

#[test]
fn garbage_or_missing_model_files_fall_back_to_the_embedded_model() {
    let dir = std::env::temp_dir().join(format!("ddsp-bad-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>())
        .unwrap();

    for path in [garbage.clone(), dir.join("missing.onnx")] {
        std::env::set_var("DDSP_INSTRUMENT_MODEL", &path);
        let mut session = Session::new(48_000.0, 512, 1.2);
        session.events.push(TimedEvent::NoteOn { at: 0, key: 69, velocity: 0.8 });
        let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &session).unwrap();
        let f0 = fundamental_hz(&out.channels[0][24_000..], 48_000.0, 440.0);
        assert!(cents(f0, 440.0).abs() < 5.0, "{}: plays {f0} Hz", path.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
