//! Mutation fuzzing of the model loaders (ONNX stateful, ONNX windowed, DDSP-VST TFLite): every
//! mutated file must give a model or a typed error, never a panic, a hang or an abort. Bounded for
//! CI: `DDSP_FUZZ_CASES` (default 300) cases per format; the counts are printed.
//! Also the bad-input classes not covered beside each loader's parity tests.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use ddsp_core::model::{Model, ModelError, ModelSource};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// One way of breaking a file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Overwrite bytes at (position fraction, value).
    Flip(Vec<(f64, u8)>),
    Truncate(f64),
    /// Insert random bytes at a position.
    Insert(f64, Vec<u8>),
    /// Copy a block of the file over another place.
    Splice {
        from: f64,
        to: f64,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        4 => proptest::collection::vec((at.clone(), any::<u8>()), 1..16).prop_map(Mutation::Flip),
        1 => at.clone().prop_map(Mutation::Truncate),
        1 => (at.clone(), proptest::collection::vec(any::<u8>(), 1..64)).prop_map(|(a, b)| Mutation::Insert(a, b)),
        1 => (at.clone(), at, 1..256usize).prop_map(|(from, to, len)| Mutation::Splice { from, to, len }),
    ]
}

fn apply(good: &[u8], m: &Mutation) -> Vec<u8> {
    let mut bytes = good.to_vec();
    let pos = |f: f64, n: usize| ((f * n as f64) as usize).min(n.saturating_sub(1));
    match m {
        Mutation::Flip(flips) => flips.iter().for_each(|&(f, v)| {
            let i = pos(f, bytes.len());
            bytes[i] = v;
        }),
        Mutation::Truncate(f) => bytes.truncate(pos(*f, good.len())),
        Mutation::Insert(f, extra) => {
            let i = pos(*f, bytes.len());
            bytes.splice(i..i, extra.iter().copied());
        }
        Mutation::Splice { from, to, len } => {
            let (a, b) = (pos(*from, bytes.len()), pos(*to, bytes.len()));
            let len = (*len).min(bytes.len() - a.max(b));
            let block = bytes[a..a + len].to_vec();
            bytes[b..b + len].copy_from_slice(&block);
        }
    }
    bytes
}

fn cases() -> u32 {
    std::env::var("DDSP_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

fn fuzz(file: &str) {
    let good = std::fs::read(data_path(file)).unwrap();
    let (tried, loaded) = (AtomicUsize::new(0), AtomicUsize::new(0));
    // A fixed seed: CI tries the same inputs every run (`DDSP_FUZZ_SEED` explores others).
    let seed: u64 = std::env::var("DDSP_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20261121);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    runner
        .run(&mutation(), |m| {
            let bytes = apply(&good, &m);
            tried.fetch_add(1, Ordering::Relaxed);
            match Model::from_bytes(&bytes, ModelSource::Embedded("fuzz")) {
                Ok(model) => {
                    loaded.fetch_add(1, Ordering::Relaxed);
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
        })
        .unwrap();
    println!(
        "fuzz {file}: {} mutated files tried, {} loaded (still valid), {} rejected with a typed error, 0 crashes",
        tried.load(Ordering::Relaxed),
        loaded.load(Ordering::Relaxed),
        tried.load(Ordering::Relaxed) - loaded.load(Ordering::Relaxed)
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
