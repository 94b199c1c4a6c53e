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
    let bytes = std::fs::read(fixture("model_a_ref.bin")).unwrap();
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
    let r = reference();
    let (f0s, pws, amp, harm, noise) = (&r[0], &r[1], &r[3], &r[4], &r[5]);
    let mut state = model.new_state();
    let db = |x: f32| 20.0 * x.max(1e-12).log10();
    let (mut amp_db, mut harm_db, mut noise_db) = (0.0f32, 0.0f32, 0.0f32);
    for i in 0..200 {
        let c = model.infer_scaled(f0s[i], pws[i], &mut state).clone();
        let dist = masked_distribution(&c.harmonic_distribution, f0s[i]);
        amp_db = amp_db.max((db(c.amplitude) - db(amp[i])).abs());
        for (got, want) in dist.iter().zip(&harm[i * 60..(i + 1) * 60]) {
            if *want > 1e-4 {
                harm_db = harm_db.max((db(*got) - db(*want)).abs());
            }
        }
        for (got, want) in c.noise_magnitudes.iter().zip(&noise[i * 65..(i + 1) * 65]) {
            if *want > 1e-5 {
                noise_db = noise_db.max((db(*got) - db(*want)).abs());
            }
        }
    }
    println!("f16 weights vs TFLite interpreter, 200 frames: max |dB| amplitude {amp_db}, harmonics (> -80 dB) {harm_db}, noise (> -100 dB) {noise_db}");
    assert!(amp_db < 0.05 && harm_db < 0.1 && noise_db < 0.1, "{amp_db} {harm_db} {noise_db}");
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
