//! The noise filter's measured magnitude response against the requested bands.

mod common;

use common::*;
use ddsp_core::noise::FilteredNoise;

/// Average power spectrum over many frames (Welch, Hann, 50 % overlap).
fn welch(x: &[f32], frame: usize) -> Vec<f64> {
    let window: Vec<f64> =
        (0..frame).map(|n| 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / frame as f64).cos()).collect();
    let mut acc = vec![0.0; frame / 2 + 1];
    let mut count = 0.0;
    for start in (0..x.len() - frame).step_by(frame / 2) {
        for (a, m) in acc.iter_mut().zip(magnitude_spectrum(&x[start..start + frame], &window, frame)) {
            *a += m * m;
        }
        count += 1.0;
    }
    acc.iter().map(|a| a / count).collect()
}

fn check_response(sample_rate_hz: f32, model_rate_hz: f32, n_bands: usize) {
    // A smooth profile spanning 40 dB with a notch and a peak.
    let bands: Vec<f32> = (0..n_bands)
        .map(|i| {
            let t = i as f32 / (n_bands - 1) as f32;
            let db = -30.0 * t + 8.0 * (std::f32::consts::TAU * 2.0 * t).sin();
            10f32.powf(db / 20.0)
        })
        .collect();
    let n = (sample_rate_hz as usize) * 20;
    let mut shaped = FilteredNoise::new(sample_rate_hz, n_bands, model_rate_hz, 1);
    shaped.set_targets(&bands, 0);
    let mut flat = FilteredNoise::new(sample_rate_hz, n_bands, model_rate_hz, 1);
    flat.set_targets(&vec![1.0; n_bands], 0);
    let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
    shaped.process(&mut a);
    flat.process(&mut b);

    let frame = 4096;
    let (pa, pb) = (welch(&a, frame), welch(&b, frame));
    let bin_hz = f64::from(sample_rate_hz) / frame as f64;
    let band_hz = f64::from(model_rate_hz) / 2.0 / (n_bands - 1) as f64;
    let mut worst = 0.0f64;
    for (i, &m) in bands.iter().enumerate().skip(1).take(n_bands - 2) {
        let centre = i as f64 * band_hz;
        if centre > 0.45 * f64::from(sample_rate_hz) {
            break; // bands above the host's Nyquist cannot be heard
        }
        // Average a few bins around the band centre (the noise estimate's variance).
        let c = (centre / bin_hz).round() as usize;
        let span = 3;
        let (sa, sb): (f64, f64) =
            (c - span..=c + span).map(|k| (pa[k], pb[k])).fold((0.0, 0.0), |s, v| (s.0 + v.0, s.1 + v.1));
        let measured_db = 10.0 * (sa / sb).log10();
        let expected_db = 20.0 * f64::from(m).log10();
        worst = worst.max((measured_db - expected_db).abs());
    }
    assert!(worst < 1.0, "{sample_rate_hz} Hz / model {model_rate_hz} Hz: response off by {worst:.2} dB");
}

#[test]
fn measured_response_matches_bands_within_1_db() {
    check_response(48_000.0, 48_000.0, 65);
    check_response(44_100.0, 48_000.0, 65);
    check_response(96_000.0, 48_000.0, 65);
}

#[test]
fn bands_of_a_16k_model_map_onto_a_48k_host() {
    check_response(48_000.0, 16_000.0, 65);
    // Above the model's Nyquist the output is silent.
    let mut noise = FilteredNoise::new(48_000.0, 65, 16_000.0, 3);
    noise.set_targets(&[1.0; 65], 0);
    let mut x = vec![0.0; 48_000 * 5];
    noise.process(&mut x);
    let p = welch(&x, 4096);
    let bin_hz = 48_000.0 / 4096.0;
    let in_band: f64 = p[(2000.0 / bin_hz) as usize..(6000.0 / bin_hz) as usize].iter().sum::<f64>();
    let above: f64 = p[(10_000.0 / bin_hz) as usize..(20_000.0 / bin_hz) as usize].iter().sum::<f64>();
    assert!(10.0 * (above / in_band).log10() < -60.0);
}

#[test]
fn same_seed_same_noise_and_reset_reproduces() {
    let mut a = FilteredNoise::new(48_000.0, 65, 48_000.0, 42);
    a.set_targets(&[0.5; 65], 0);
    let mut first = vec![0.0; 10_000];
    a.process(&mut first);
    a.reset();
    a.set_targets(&[0.5; 65], 0);
    let mut second = vec![0.0; 10_000];
    a.process(&mut second);
    assert_eq!(first, second);
    assert!(rms(&first) > 0.1);
}
