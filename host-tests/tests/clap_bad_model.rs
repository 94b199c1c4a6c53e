//! A garbage, missing, truncated or mute model file never silences the plugin: it keeps playing
//! the embedded model.
//! (Own test binary: it sets the process environment the plugin reads.)

use host_tests::analysis::{cents, fundamental_hz};
use host_tests::{first_difference, instrument_bundle, run_clap, Session, TimedEvent, INSTRUMENT_ID};

#[test]
fn garbage_or_missing_model_files_fall_back_to_the_embedded_model() {
    let dir = std::env::temp_dir().join(format!("ddsp-bad-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>())
        .unwrap();

    // Files that parse but cannot play right: a DDSP-VST export missing its last byte (its
    // metadata ZIP's end record: the ranges are unknown) and a windowed model whose heads' 2.0
    // constant is zeroed (it outputs -140 dB: the validation render at load refuses it).
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dsp-core/tests/data");
    let tflite = std::fs::read(data.join("ddsp-vst/model_a.tflite")).unwrap();
    let short_tflite = dir.join("one-byte-short.tflite");
    std::fs::write(&short_tflite, &tflite[..tflite.len() - 1]).unwrap();
    let mut mute = std::fs::read(data.join("windowed_ref.onnx")).unwrap();
    for at in 0..mute.len() - 4 {
        if mute[at..at + 4] == 2.0f32.to_le_bytes() {
            mute[at..at + 4].copy_from_slice(&0.0f32.to_le_bytes());
        }
    }
    let mute_onnx = dir.join("mute.onnx");
    std::fs::write(&mute_onnx, mute).unwrap();

    let mut embedded: Option<Vec<Vec<f32>>> = None;
    for path in [garbage.clone(), dir.join("missing.onnx"), short_tflite, mute_onnx] {
        std::env::set_var("DDSP_INSTRUMENT_MODEL", &path);
        let mut session = Session::new(48_000.0, 512, 1.2);
        session.events.push(TimedEvent::NoteOn { at: 0, key: 69, velocity: 0.8 });
        let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &session).unwrap();
        let f0 = fundamental_hz(&out.channels[0][24_000..], 48_000.0, 440.0);
        assert!(cents(f0, 440.0).abs() < 5.0, "{}: plays {f0} Hz", path.display());
        // The embedded model, sample for sample (the DDSP-VST model would also play 440 Hz).
        let first = embedded.get_or_insert_with(|| out.channels.clone());
        assert_eq!(first_difference(first, &out.channels), None, "{}: not the embedded model", path.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
