//! The native runtime against the exporter's reference (onnxruntime) and against tract, with the
//! recurrent state carried over 200 frames; and every bad model file class.

mod common;

use common::*;
use ddsp_core::model::onnx::{max_abs_diff, ReferenceFrame, TractReference};
use ddsp_core::model::{
    BuiltInModel, FrameControls, Model, ModelError, ModelSource, BUILT_IN_MODELS, EMBEDDED_DEFAULT_ONNX,
};

const TOLERANCE: f32 = 1e-4;

/// `decoder_ref.bin`: f0 [N,1], loudness [N,1], amplitude [N,1], harmonics [N,K], noise [N,M],
/// state_out [N,H], float32 little-endian, in that order (see decoder_ref.json).
struct Reference {
    f0: Vec<f32>,
    loudness: Vec<f32>,
    frames: Vec<ReferenceFrame>,
}

fn read_reference(model: &Model) -> Reference {
    let bytes = std::fs::read(data_path("decoder_ref.bin")).unwrap();
    let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let (k, m, h) = (model.meta.n_harmonics, model.meta.n_noise_bands, model.n_hidden());
    let n = values.len() / (3 + k + m + h);
    assert_eq!(n, 200);
    let mut it = values.into_iter();
    let mut take = |count: usize| -> Vec<f32> { it.by_ref().take(count).collect() };
    let f0 = take(n);
    let loudness = take(n);
    let amplitude = take(n);
    let harmonics = take(n * k);
    let noise = take(n * m);
    let state = take(n * h);
    let frames = (0..n)
        .map(|i| ReferenceFrame {
            controls: FrameControls {
                amplitude: amplitude[i],
                harmonic_distribution: harmonics[i * k..(i + 1) * k].to_vec(),
                noise_magnitudes: noise[i * m..(i + 1) * m].to_vec(),
            },
            state: state[i * h..(i + 1) * h].to_vec(),
        })
        .collect();
    Reference { f0, loudness, frames }
}

#[test]
fn native_runtime_matches_onnxruntime_over_200_streaming_frames() {
    let model = Model::load(data_path("decoder_ref.onnx")).unwrap();
    let reference = read_reference(&model);
    let mut state = model.new_state();
    let mut worst = (String::new(), 0.0f32);
    for (i, expected) in reference.frames.iter().enumerate() {
        let controls = model.infer(reference.f0[i], reference.loudness[i], &mut state).clone();
        let (output, diff) = max_abs_diff(&controls, model.hidden(&state), expected);
        assert!(diff <= TOLERANCE, "frame {i}: '{output}' differs from onnxruntime by {diff:e}");
        if diff > worst.1 {
            worst = (output, diff);
        }
    }
    println!("native vs onnxruntime, 200 frames: max |diff| {:e} ({})", worst.1, worst.0);
}

/// Frame `i` of the sweep the tract comparison runs: 40 Hz to 2 kHz with a little vibrato,
/// loudness rising from silence and falling back three times.
fn sweep(i: usize) -> (f32, f32) {
    let t = i as f32 / 199.0;
    let f0 = 40.0 * 50f32.powf(t) * (1.0 + 0.02 * (i as f32 * 0.7).sin());
    let loudness = -90.0 + 85.0 * (0.5 - 0.5 * (std::f32::consts::TAU * t * 3.0).cos());
    (f0, loudness)
}

/// The reference decoder with the state carried by each runtime over 200 frames; every built-in
/// model frame by frame from tract's state. Carried, the shipped models are not a test of the
/// runtime but of the model: where a note starts loud at 0.6–1 kHz, the violin and flute retrained
/// on 2026-12-04 amplify a difference in their state up to ~50–150x for a few frames before it dies
/// away (onnxruntime alone, f0 nudged by 1e-4 at one frame: 1.3e-4 → 2e-2 → 1e-3 and falling), so
/// carried, the runtimes' different summation orders part by up to ~4e-3 there (printed; each
/// frame's map agrees within 6e-6). What the runtime must get right is that map from (input,
/// state) to (controls, state).
#[test]
fn native_runtime_matches_tract_over_200_streaming_frames() {
    let reference = ("decoder_ref.onnx".to_string(), std::fs::read(data_path("decoder_ref.onnx")).unwrap(), true);
    let built_in = BUILT_IN_MODELS.iter().map(|m| (format!("built-in {}", m.name), m.onnx.to_vec(), false));
    for (name, bytes, carried) in std::iter::once(reference).chain(built_in) {
        let model = Model::from_bytes(&bytes, ModelSource::Embedded("test")).unwrap();
        let tract = TractReference::new(&bytes, model.n_hidden()).unwrap();
        let (mut state, mut free_running) = (model.new_state(), model.new_state());
        let mut tract_state = vec![0.0; model.n_hidden()];
        let (mut worst, mut worst_carried) = (0.0f32, 0.0f32);
        for i in 0..200 {
            let (f0, loudness) = sweep(i);
            let expected = tract.run(f0, loudness, &tract_state).unwrap();
            if !carried {
                model.set_hidden(&mut state, &tract_state);
                let controls = model.infer(f0, loudness, &mut free_running).clone();
                worst_carried = worst_carried.max(max_abs_diff(&controls, model.hidden(&free_running), &expected).1);
            }
            let controls = model.infer(f0, loudness, &mut state).clone();
            let (output, diff) = max_abs_diff(&controls, model.hidden(&state), &expected);
            assert!(diff <= TOLERANCE, "{name} frame {i}: '{output}' differs from tract by {diff:e}");
            worst = worst.max(diff);
            tract_state = expected.state;
        }
        let carried_note =
            if carried { String::new() } else { format!(" (each runtime's own state: {worst_carried:e})") };
        println!("{name}: native vs tract, 200 frames: max |diff| {worst:e}{carried_note}");
    }
}

#[test]
fn built_in_models_are_the_shipped_files_and_load_with_their_cards() {
    let names: Vec<&str> = BUILT_IN_MODELS.iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        ["Flute", "Violin", "Cello", "Trumpet", "Sax", "Clarinet", "Horn", "Choir"],
        "the default (best by models/README.md) first"
    );
    assert_eq!(BUILT_IN_MODELS[0].onnx, EMBEDDED_DEFAULT_ONNX);
    for built_in in &BUILT_IN_MODELS {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../models/{}.onnx", built_in.name.to_ascii_lowercase()));
        assert!(std::fs::read(&file).unwrap() == built_in.onnx, "{} differs from {}", built_in.name, file.display());
        // The full verification a file gets (native kernels against tract), then the fast path.
        let verified = Model::from_bytes(built_in.onnx, ModelSource::Embedded("check")).unwrap();
        let model = built_in.load();
        assert_eq!(model.meta, verified.meta);
        assert_eq!(model.meta.name, built_in.name, "the library name is the model's own");
        assert_eq!(model.source, ModelSource::Embedded(built_in.name));
        assert_eq!((model.meta.sample_rate_hz, model.meta.frame_rate_hz), (48_000.0, 250.0));
        assert!(model.meta.n_harmonics >= 60 && !model.meta.licence.is_empty());
        assert_eq!(BuiltInModel::find(&built_in.name.to_ascii_uppercase()), Some(built_in));
    }
    assert_eq!(Model::embedded_default().meta.name, "Flute");
    assert_eq!(BuiltInModel::find("harp"), None);
}

#[test]
fn bad_model_files_give_typed_errors() {
    let good = std::fs::read(data_path("decoder_ref.onnx")).unwrap();
    assert!(matches!(load_err(&[]), ModelError::Empty));
    assert!(matches!(load_err(&good[..good.len() / 2]), ModelError::NotOnnx(_)), "truncated");
    let mut rng = TestRng(99);
    let random: Vec<u8> = (0..4096).map(|_| rng.next_u32() as u8).collect();
    assert!(matches!(load_err(&random), ModelError::NotOnnx(_) | ModelError::MissingMetadata { .. }), "random bytes");
    assert!(matches!(
        load_err(b"PK\x03\x04 this is a zip file, not a model"),
        ModelError::NotOnnx(_) | ModelError::MissingMetadata { .. }
    ));

    // Wrong format identifier and wrong declared size.
    let e = load_err(&patch(&good, "ddsp-rnn-fc/1", "ddsp-rnn-fc/9"));
    assert!(matches!(e, ModelError::Unsupported(_)), "{e}");
    let e = load_err(&patch(&good, "ddsp.n_harmonics\x12\x0260", "ddsp.n_harmonics\x12\x0261"));
    assert!(matches!(e, ModelError::ShapeMismatch { ref name, .. } if name == "head.weight"), "{e}");
    // A renamed output: the contract names what is missing.
    let e = load_err(&patch(&good, "noise_magnitudes", "noise_magnitudez"));
    assert!(matches!(e, ModelError::MissingTensor { .. }), "{e}");

    // NaN weights: find the head bias bytes and poison one.
    let model = Model::from_bytes(&good, ModelSource::Embedded("ok")).unwrap();
    let n_out = 1 + model.meta.n_harmonics + model.meta.n_noise_bands;
    let name_pos = good.windows(9).rposition(|w| w == b"head.bias").unwrap();
    let mut poisoned = good.clone();
    // raw_data follows the name within the same TensorProto; poison the first float after it.
    let raw_start = name_pos + 9 + 2 + (n_out * 4 > 127) as usize; // tag byte + varint length
    poisoned[raw_start..raw_start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let e = load_err(&poisoned);
    assert!(matches!(e, ModelError::NonFinite { .. } | ModelError::NotOnnx(_)), "{e}");

    // Too large: refused before parsing, from the file size alone.
    let dir = std::env::temp_dir().join(format!("ddsp-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.onnx");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(ddsp_core::model::MAX_MODEL_BYTES + 1).unwrap();
    let e = Model::load(&big).unwrap_err();
    assert!(matches!(e.error, ModelError::TooLarge { .. }));
    assert!(e.to_string().contains("big.onnx"), "the message names the file: {e}");
    std::fs::remove_dir_all(&dir).unwrap();

    let e = Model::load("/nonexistent/model.onnx").unwrap_err();
    assert!(matches!(e.error, ModelError::Io(_)) && e.to_string().contains("/nonexistent/model.onnx"));
}

#[test]
fn a_graph_wired_differently_from_its_weights_is_rejected() {
    // Swap the GRU's gate computation by changing linear_before_reset... instead, change the noise
    // bias constant (-5) in the graph: the weights still parse, but tract now computes something the
    // native kernels do not, and verification must catch it.
    let good = std::fs::read(data_path("decoder_ref.onnx")).unwrap();
    let minus_five = (-5.0f32).to_le_bytes();
    let pos = good.windows(4).position(|w| w == minus_five).expect("noise bias constant");
    let mut bad = good.clone();
    bad[pos..pos + 4].copy_from_slice(&(-4.0f32).to_le_bytes());
    let e = load_err(&bad);
    assert!(matches!(e, ModelError::GraphMismatch { ref output, .. } if output == "noise_magnitudes"), "{e}");
}
