//! Mutation fuzzing of the model loaders (ONNX stateful, ONNX windowed, DDSP-VST TFLite): every
//! mutated file must give a model or a typed error, never a panic, a hang or an abort. Bounded for
//! CI: `DDSP_FUZZ_CASES` (default 300) cases per format; the counts are printed.
//! Also the bad-input classes not covered beside each loader's parity tests.

mod common;
#[path = "common/mutate.rs"]
mod mutate;

use common::*;
use ddsp_core::model::{Model, ModelError, ModelSource};
use proptest::prelude::*;

fn fuzz(file: &str) {
    let good = std::fs::read(data_path(file)).unwrap();
    let (mut tried, mut loaded) = (0, 0);
    mutate::run(&good, mutate::cases(300), |bytes| {
        tried += 1;
        match Model::from_bytes(bytes, ModelSource::Embedded("fuzz")) {
            Ok(model) => {
                loaded += 1;
                // A mutated file that still loads must still play finite controls.
                let mut state = model.clone().with_run_mode(ddsp_core::model::RunMode::Offline).new_state();
                for f0 in [55.0, 440.0, 1760.0] {
                    let c = model.infer(f0, -30.0, &mut state);
                    prop_assert!(c.amplitude.is_finite());
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        Ok(())
    });
    println!(
        "fuzz {file}: {tried} mutated files tried, {loaded} loaded (still valid), {} rejected with a typed error, 0 crashes",
        tried - loaded
    );
}

#[test]
fn fuzz_onnx_stateful_loader() {
    fuzz("decoder_ref.onnx");
}

#[test]
fn fuzz_onnx_windowed_loader() {
    fuzz("windowed_ref.onnx");
}

#[test]
fn fuzz_ddsp_vst_tflite_loader() {
    fuzz("ddsp-vst/model_a.tflite");
}

#[test]
fn bad_windowed_models_say_what_is_wrong() {
    let good = std::fs::read(data_path("windowed_ref.onnx")).unwrap();
    // An op tract does not know: the graph error names it.
    let e = load_err(&patch(&good, "Tanh", "Tanx"));
    assert!(matches!(e, ModelError::Graph(ref m) if m.contains("Tanx")), "{e}");
    // A missing output.
    let e = load_err(&patch(&good, "noise_mags", "noise_magz"));
    assert!(matches!(e, ModelError::MissingTensor { ref name } if name.contains("noise_mags")), "{e}");
    // A declared format that is not ours.
    let e = load_err(&patch(&good, "ddsp-windowed/1", "ddsp-windowed/7"));
    assert!(matches!(e, ModelError::Unsupported(_)), "{e}");
    // A declared window that contradicts the graph's (in a file without `ddsp.format`, which may
    // leave out its frame rate; one that declares its format must declare every range).
    let undeclared = patch(&good, "ddsp.format", "xdsp.format");
    let e = load_err(&patch(&undeclared, "ddsp.frame_rate_hz", "ddsp.window_frames")); // value "250" ≠ 16
    assert!(matches!(e, ModelError::ShapeMismatch { .. }), "{e}");
    let e = load_err(&patch(&good, "ddsp.frame_rate_hz", "ddsp.window_frames"));
    assert!(matches!(e, ModelError::MissingMetadata { key: "ddsp.frame_rate_hz" }), "{e}");
}

#[test]
fn unsupported_tflite_graphs_are_refused_by_name() {
    let good = std::fs::read(data_path("ddsp-vst/model_a.tflite")).unwrap();
    // Wrong identifier.
    let mut wrong_magic = good.clone();
    wrong_magic[4..8].copy_from_slice(b"TFL2");
    assert!(matches!(load_err(&wrong_magic), ModelError::NotOnnx(_)));
    // Inputs renamed away: not a predict-controls model.
    let e = load_err(&patch(&good, "f0_scaled", "f0_scalex"));
    assert!(matches!(e, ModelError::MissingTensor { ref name } if name.contains("f0_scaled")), "{e}");
}
