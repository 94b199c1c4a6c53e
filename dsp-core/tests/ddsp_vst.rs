//! DDSP-VST `.tflite` import against the TensorFlow Lite interpreter's own outputs (fixture from a
//! genuine DDSP-VST export; see tests/data/ddsp-vst/README.md), and malformed-file handling.

mod common;

use std::sync::Arc;

use common::*;
use ddsp_core::model::{Model, ModelError, ModelSource, Precision, WeightStorage};
use ddsp_core::{render_with_events, ControlTarget, Instrument, InstrumentEvent, InstrumentSettings};

const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> std::path::PathBuf {
    data_path("ddsp-vst").join(name)
}

/// model_a_ref.bin: f0_scaled [200,1], pw_scaled [200,1], state_in [200,512], amplitude [200,1],
/// harmonics [200,60], noise_amps [200,65], state_out [200,512]; float32 LE (model_a_ref.json).
fn reference() -> Vec<Vec<f32>> {
    reference_from("model_a_ref.bin")
}

/// A reference file in model_a_ref.bin's layout (the quantised exports' interpreter outputs too).
fn reference_from(name: &str) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let mut it = values.into_iter();
    [200, 200, 200 * 512, 200, 200 * 60, 200 * 65, 200 * 512].iter().map(|&n| it.by_ref().take(n).collect()).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// DDSP-VST's harmonic output is already masked above 8 kHz and normalised: do the same to ours.
fn masked_distribution(distribution: &[f32], f0_scaled: f32) -> Vec<f32> {
    let f0_hz = 440.0 * ((f0_scaled * 127.0 - 69.0) / 12.0).exp2();
    let mut dist: Vec<f32> = distribution
        .iter()
        .enumerate()
        .map(|(k, &d)| if (k + 1) as f32 * f0_hz >= 8_000.0 { 0.0 } else { d })
        .collect();
    let sum: f32 = dist.iter().sum();
    dist.iter_mut().for_each(|d| *d /= if sum == 0.0 { 1.0 } else { sum });
    dist
}

#[test]
fn imported_model_matches_the_tflite_interpreter_over_200_frames() {
    let model = Model::load(fixture("model_a.tflite")).unwrap();
    assert_eq!((model.meta.n_harmonics, model.meta.n_noise_bands), (60, 65));
    assert_eq!((model.meta.sample_rate_hz, model.meta.frame_rate_hz), (16_000.0, 50.0));
    assert!((model.meta.f0_min_hz - 234.526).abs() < 0.01, "metadata from the ZIP tail");
    let r = reference();
    let (f0s, pws, state_in, amp, harm, noise, state_out) = (&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]);
    let mut state = model.new_state();
    let mut worst = [0.0f32; 4];
    for i in 0..200 {
        if i == 0 {
            assert!(state_in[..512].iter().all(|&v| v == 0.0));
        } else {
            // The fixture carries the state the way we do: frame i starts from frame i-1's output.
            assert!(max_diff(&state_in[i * 512..(i + 1) * 512], &state_out[(i - 1) * 512..i * 512]) == 0.0);
        }
        let c = model.infer_scaled(f0s[i], pws[i], &mut state).clone();
        let dist = masked_distribution(&c.harmonic_distribution, f0s[i]);
        let diffs = [
            (c.amplitude - amp[i]).abs(),
            max_diff(&dist, &harm[i * 60..(i + 1) * 60]),
            max_diff(&c.noise_magnitudes, &noise[i * 65..(i + 1) * 65]),
            max_diff(model.hidden(&state), &state_out[i * 512..(i + 1) * 512]),
        ];
        for (w, d) in worst.iter_mut().zip(diffs) {
            *w = w.max(d);
        }
        assert!(diffs.iter().all(|&d| d <= TOLERANCE), "frame {i}: |diff| amplitude/harmonics/noise/state = {diffs:?}");
    }
    println!(
        "DDSP-VST fixture vs TFLite interpreter, 200 frames: max |diff| amplitude/harmonics/noise/state = {worst:?}"
    );
}

/// f16 weights (half the memory traffic per frame) against the interpreter's f32 outputs: the
/// amplitude and the normalised harmonic distribution in dB, the noise magnitudes relative. Where
/// the CPU has F16C the automatic precision chooses them (what the plugins play); elsewhere they
/// are converted by hand and run on the portable path.
#[test]
fn f16_weights_stay_close_to_the_tflite_interpreter_over_200_frames() {
    let exact = Model::load(fixture("model_a.tflite")).unwrap();
    let mut model = exact.clone().with_precision(Precision::Auto);
    if ddsp_core::simd::has_avx2_fma() {
        let storage = model.weight_storage();
        println!("automatic precision of the DDSP-VST export: {storage}");
        assert!(
            matches!(storage, WeightStorage::F16 { converted, total, deviation_db }
            if converted == total && deviation_db <= ddsp_core::model::precision::F16_BOUND_DB),
            "{storage}"
        );
    } else {
        assert_eq!(model.weight_storage(), WeightStorage::F32, "no F16C: auto keeps f32");
        model = exact;
        model.to_f16();
    }
    let (converted, total) = model.decoder().unwrap().f16_matrices();
    assert!(converted == total && total >= 5, "every matrix converted: {converted} of {total}");
    let [amp_db, harm_db, noise_db] = deviation_db(&model, &reference());
    println!("f16 weights vs TFLite interpreter, 200 frames: max |dB| amplitude {amp_db}, harmonics (> -80 dB) {harm_db}, noise (> -100 dB) {noise_db}");
    assert!(amp_db < 0.05 && harm_db < 0.1 && noise_db < 0.1, "{amp_db} {harm_db} {noise_db}");
}

/// `model` run over a reference's 200 input frames (state carried), in the reference's layout:
/// `[f0, power, _, amplitude, masked and normalised harmonic distribution, noise magnitudes]`.
fn outputs(model: &Model, r: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let (f0s, pws) = (&r[0], &r[1]);
    let mut state = model.new_state();
    let (mut amp, mut harm, mut noise) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..200 {
        let c = model.infer_scaled(f0s[i], pws[i], &mut state).clone();
        amp.push(c.amplitude);
        harm.extend(masked_distribution(&c.harmonic_distribution, f0s[i]));
        noise.extend(c.noise_magnitudes);
    }
    vec![f0s.clone(), pws.clone(), Vec::new(), amp, harm, noise]
}

/// The largest differences in dB between `model` run over a reference's frames and the
/// reference's outputs, by [`reference_deviation_db`]'s rules.
fn deviation_db(model: &Model, r: &[Vec<f32>]) -> [f32; 3] {
    reference_deviation_db(&outputs(model, r), r)
}

/// The largest differences in dB between two sets of outputs: amplitude (where `b`'s is above
/// zero); the harmonic distribution where `b`'s is above −80 dB; the noise magnitudes above −100 dB.
fn reference_deviation_db(a: &[Vec<f32>], b: &[Vec<f32>]) -> [f32; 3] {
    let db = |x: f32| 20.0 * x.max(1e-12).log10();
    let worst = |x: &[f32], y: &[f32], floor: f32| {
        x.iter().zip(y).filter(|(_, w)| **w > floor).map(|(g, w)| (db(*g) - db(*w)).abs()).fold(0.0f32, f32::max)
    };
    [worst(&a[3], &b[3], 0.0), worst(&a[4], &b[4], 1e-4), worst(&a[5], &b[5], 1e-5)]
}

/// The largest absolute differences of amplitude, harmonic distribution and noise magnitudes.
fn reference_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> [f32; 3] {
    [max_diff(&a[3], &b[3]), max_diff(&a[4], &b[4]), max_diff(&a[5], &b[5])]
}

/// A dynamic-range quantised export (int8 weights with per-channel scales, float activations:
/// `Optimize.DEFAULT`, as seed 001's model repositories export; made from the genuine fixture by
/// TensorFlow's converter, scripts/make_quantised_tflite.py) loads with its int8 weights kept and
/// plays close to the interpreter running the same file. The interpreter's hybrid kernels also
/// round each layer's *input* to int8; ours keep the activations in f32, so ours is closer to the
/// f32 export than the interpreter is.
#[test]
fn a_dynamic_range_quantised_export_matches_the_interpreter_on_the_same_file() {
    let model = Model::load(fixture("model_a_dynamic.tflite")).unwrap();
    let (int8, total) = model.decoder().unwrap().matrices_of(ddsp_core::model::kernels::WeightKind::Int8);
    // The converter leaves matrices under 1024 weights (the 256 × 1 input layers) in f32; without
    // AVX2 the int8 ones are kept as their exact f32 values.
    let avx2 = ddsp_core::simd::has_avx2_fma();
    assert_eq!((int8, total), (if avx2 { 4 } else { 0 }, 6), "int8 matrices of all");
    assert!(
        !avx2 || matches!(model.weight_storage(), WeightStorage::Int8 { converted, .. } if converted == int8),
        "{}",
        model.weight_storage()
    );
    let (dynamic_ref, float_ref) = (reference_from("model_a_dynamic_ref.bin"), reference());
    assert_eq!(dynamic_ref[..2], float_ref[..2], "the same inputs");
    let vs_interpreter = deviation_db(&model, &dynamic_ref);
    let vs_f32 = deviation_db(&model, &float_ref);
    let interpreter_vs_f32 = reference_deviation_db(&dynamic_ref, &float_ref);
    println!(
        "dynamic-range export, max |dB| amplitude/harmonics/noise: ours vs its interpreter {vs_interpreter:?}, \
         ours vs the f32 export {vs_f32:?}, its interpreter vs the f32 export {interpreter_vs_f32:?}"
    );
    assert!(vs_interpreter.iter().all(|&d| d < 0.5), "{vs_interpreter:?}");
    assert!(
        vs_f32.iter().zip(&interpreter_vs_f32).all(|(ours, theirs)| ours < theirs),
        "closer to f32 than the interpreter"
    );
    // Forced f32 plays the file's int8 values exactly; the int8 kernels differ from it only by
    // rounding each layer's input to 15–16 bits.
    let f32_copy = model.clone().with_precision(Precision::F32);
    assert_eq!(f32_copy.weight_storage(), WeightStorage::F32);
    let input_rounding = deviation_db(&model, &outputs(&f32_copy, &float_ref));
    println!("int8 kernels vs the same weights in f32, max |dB|: {input_rounding:?}");
    assert!(input_rounding.iter().all(|&d| d < 0.01), "{input_rounding:?}");
}

/// A float16-quantised export (`supported_types = [tf.float16]`: half-float weights and biases
/// behind DEQUANTIZE ops, the GRU's biases hoisted out of its loop; made by TensorFlow's converter,
/// scripts/make_quantised_tflite.py) loads with its f16 weights kept (where the kernels convert
/// them in hardware) and matches the interpreter running the same file, which computes in f32
/// from the same half floats.
#[test]
fn a_float16_export_matches_the_interpreter_on_the_same_file() {
    let model = Model::load(fixture("model_a_f16.tflite")).unwrap();
    let f16c = ddsp_core::simd::has_avx2_fma();
    let storage = model.weight_storage().to_string();
    println!("float16 export: weights {storage}");
    assert_eq!(storage, if f16c { "f16 as stored in the file (6 of 6 matrices)" } else { "f32" });
    for precision in [Precision::Auto, Precision::Int8] {
        assert_eq!(model.clone().with_precision(precision).weight_storage().to_string(), storage, "kept as stored");
    }
    let (f16_ref, float_ref) = (reference_from("model_a_f16_ref.bin"), reference());
    assert_eq!(f16_ref[..2], float_ref[..2], "the same inputs");
    let ours = outputs(&model, &f16_ref);
    let vs_interpreter = reference_abs_diff(&ours, &f16_ref);
    let vs_f32 = reference_deviation_db(&ours, &float_ref);
    let interpreter_vs_f32 = reference_deviation_db(&f16_ref, &float_ref);
    println!(
        "float16 export: ours vs its interpreter max |diff| amplitude/harmonics/noise {vs_interpreter:?}; \
         max |dB| vs the f32 export: ours {vs_f32:?}, the interpreter's {interpreter_vs_f32:?}"
    );
    assert!(vs_interpreter.iter().all(|&d| d < 1e-4), "{vs_interpreter:?}");
    // Forced f32 plays the file's half floats exactly.
    let f32_copy = model.clone().with_precision(Precision::F32);
    assert_eq!(f32_copy.weight_storage(), WeightStorage::F32);
    let exact = reference_abs_diff(&outputs(&f32_copy, &f16_ref), &f16_ref);
    assert!(exact.iter().all(|&d| d < 1e-4), "{exact:?}");
}

#[test]
fn a_ddsp_vst_model_plays_the_requested_pitch_at_48k() {
    let model = Arc::new(Model::load(fixture("model_a.tflite")).unwrap());
    for (note, hz) in [(57u8, 220.0), (69, 440.0)] {
        let settings = InstrumentSettings { mod_wheel_target: ControlTarget::Off, ..InstrumentSettings::default() };
        let mut inst = Instrument::new(model.clone(), 48_000.0, settings);
        let mut out = vec![0.0; 72_000];
        render_with_events(&mut inst, &mut out, &[(0, InstrumentEvent::NoteOn { note, velocity: 0.9 })]);
        let steady = &out[24_000..];
        assert!(out.iter().all(|v| v.is_finite()));
        let peak = peak_frequency_hz(steady, 48_000.0, 1 << 20);
        let f0 = peak / (peak / hz).round().max(1.0);
        assert!(cents(f0, hz).abs() < 5.0, "note {note}: {f0} Hz");
        assert!(20.0 * rms(steady).log10() > -60.0, "audible");
    }
}

#[test]
fn malformed_tflite_files_give_typed_errors_never_panics() {
    let good = std::fs::read(fixture("model_a.tflite")).unwrap();
    // Truncations at many points, including inside the header and the weights.
    for cut in [8usize, 64, 1000, 100_000, good.len() / 2, good.len() - 5000] {
        let e = load_err(&good[..cut]);
        assert!(
            matches!(
                e,
                ModelError::NotTflite(_)
                    | ModelError::Unsupported(_)
                    | ModelError::MissingTensor { .. }
                    | ModelError::ShapeMismatch { .. }
            ),
            "cut {cut}: {e}"
        );
    }
    // The identifier followed by random bytes.
    let mut rng = TestRng(7);
    let mut random = b"\x1c\x00\x00\x00TFL3".to_vec();
    random.extend((0..50_000).map(|_| rng.next_u32() as u8));
    load_err(&random);
    // Flipped bytes all over a real file: whatever they break, it is an error or a valid model.
    for _ in 0..300 {
        let mut bytes = good.clone();
        for _ in 0..8 {
            let at = rng.next_u32() as usize % 8192.min(bytes.len());
            bytes[at] = rng.next_u32() as u8;
        }
        let _ = Model::from_bytes(&bytes, ModelSource::Embedded("mutated")).map_err(|e| e.to_string());
    }
    // A NaN weight is named.
    let mut poisoned = good.clone();
    let nan_at = poisoned.len() / 2 & !3;
    poisoned[nan_at..nan_at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let e = load_err(&poisoned);
    assert!(matches!(e, ModelError::NonFinite { .. }), "{e}");
}

/// A full-integer export (int8 activations with zero points between int8 kernels, float inputs
/// and outputs; made by TensorFlow's converter with a representative dataset) loads: its int8
/// weights and its quantised biases, layer norm parameters and constants are read as the real
/// values they stand for, and the network runs with f32 activations. The interpreter rounds every
/// activation to 8 bits, the normalised harmonic distribution included, so it strays far from
/// the f32 model; ours is much closer to the f32 model, and the test states how far both are.
#[test]
fn a_full_integer_export_loads_and_runs_its_weights_with_float_activations() {
    let model = Model::load(fixture("model_a_int8.tflite")).unwrap();
    let (int8, total) = model.decoder().unwrap().matrices_of(ddsp_core::model::kernels::WeightKind::Int8);
    let avx2 = ddsp_core::simd::has_avx2_fma();
    assert_eq!((int8, total), (if avx2 { 6 } else { 0 }, 6), "every matrix int8 (f32 values without AVX2)");
    let (int8_ref, float_ref) = (reference_from("model_a_int8_ref.bin"), reference());
    assert_eq!(int8_ref[..2], float_ref[..2], "the same inputs");
    let ours = outputs(&model, &int8_ref);
    let (ours_vs_interpreter, ours_vs_f32, interpreter_vs_f32) = (
        reference_abs_diff(&ours, &int8_ref),
        reference_abs_diff(&ours, &float_ref),
        reference_abs_diff(&int8_ref, &float_ref),
    );
    let ours_vs_f32_db = reference_deviation_db(&ours, &float_ref);
    println!(
        "full-integer export, max |diff| amplitude/harmonics/noise: ours vs its interpreter {ours_vs_interpreter:?}, \
         ours vs the f32 export {ours_vs_f32:?} ({ours_vs_f32_db:?} dB), its interpreter vs the f32 export \
         {interpreter_vs_f32:?}"
    );
    // The interpreter's own distance from the f32 model bounds how close anything running this
    // file can be to it; ours stays within that distance plus our own (weight-only) error.
    for k in 0..3 {
        assert!(ours_vs_f32[k] < interpreter_vs_f32[k] / 3.0, "control {k}: closer to f32 than the interpreter");
        assert!(ours_vs_interpreter[k] <= interpreter_vs_f32[k] + ours_vs_f32[k], "control {k}");
    }
    assert!(ours_vs_f32_db.iter().all(|&d| d < 1.0), "{ours_vs_f32_db:?} dB from the f32 model");
}
