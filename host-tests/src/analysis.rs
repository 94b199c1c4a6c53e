//! Measurements on rendered audio: pitch in cents, level in dB.

use realfft::RealFftPlanner;

/// Frequency of the strongest spectral peak (Hann window, zero-padded FFT, parabolic refinement).
pub fn peak_frequency_hz(x: &[f32], sample_rate_hz: f64) -> f64 {
    let fft_len = (x.len() * 4).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(fft_len);
    let mut input = vec![0.0; fft_len];
    for (n, (dst, &v)) in input.iter_mut().zip(x).enumerate() {
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / x.len() as f64).cos();
        *dst = f64::from(v) * w;
    }
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut input, &mut spectrum).expect("buffer sizes come from the plan");
    let mag: Vec<f64> = spectrum.iter().map(|c| c.norm().max(1e-300)).collect();
    let k = (1..mag.len() - 1).max_by(|&a, &b| mag[a].total_cmp(&mag[b])).unwrap_or(1);
    let (a, b, c) = (mag[k - 1].ln(), mag[k].ln(), mag[k + 1].ln());
    let delta = 0.5 * (a - c) / (a - 2.0 * b + c);
    (k as f64 + delta) * sample_rate_hz / fft_len as f64
}

/// The fundamental near `expected_hz`: the strongest peak divided by its harmonic number.
pub fn fundamental_hz(x: &[f32], sample_rate_hz: f64, expected_hz: f64) -> f64 {
    let peak = peak_frequency_hz(x, sample_rate_hz);
    peak / (peak / expected_hz).round().max(1.0)
}

pub fn cents(measured_hz: f64, expected_hz: f64) -> f64 {
    1200.0 * (measured_hz / expected_hz).log2()
}

pub fn rms_db(x: &[f32]) -> f64 {
    let ms = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * ms.max(1e-30).log10()
}

/// One note of a mix: the strongest peak within ±`span_cents` of `expected_hz` (Hann window,
/// zero-padded FFT, parabolic refinement), as its frequency and level in dB.
pub fn peak_near(x: &[f32], sample_rate_hz: f64, expected_hz: f64, span_cents: f64) -> (f64, f64) {
    let fft_len = (x.len() * 4).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(fft_len);
    let mut input = vec![0.0; fft_len];
    for (n, (dst, &v)) in input.iter_mut().zip(x).enumerate() {
        *dst = f64::from(v) * (0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / x.len() as f64).cos());
    }
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut input, &mut spectrum).expect("buffer sizes come from the plan");
    let mag: Vec<f64> = spectrum.iter().map(|c| c.norm().max(1e-300)).collect();
    let bin = |hz: f64| (hz * fft_len as f64 / sample_rate_hz).round() as usize;
    let ratio = 2f64.powf(span_cents / 1200.0);
    let (lo, hi) = (bin(expected_hz / ratio).max(1), bin(expected_hz * ratio).min(mag.len() - 2));
    let k = (lo..=hi).max_by(|&a, &b| mag[a].total_cmp(&mag[b])).unwrap_or(lo);
    let (a, b, c) = (mag[k - 1].ln(), mag[k].ln(), mag[k + 1].ln());
    let delta = (0.5 * (a - c) / (a - 2.0 * b + c)).clamp(-0.5, 0.5);
    ((k as f64 + delta) * sample_rate_hz / fft_len as f64, 20.0 * mag[k].log10())
}

pub fn midi_hz(note: f64) -> f64 {
    440.0 * 2f64.powf((note - 69.0) / 12.0)
}

/// A band-limited saw (30 harmonics, peak ~0.45): the effect's test input, a sung note's stand-in.
pub fn saw(hz: f64, seconds: f64, sample_rate_hz: f64) -> Vec<f32> {
    (0..(seconds * sample_rate_hz) as usize)
        .map(|i| {
            let p = std::f64::consts::TAU * hz * i as f64 / sample_rate_hz;
            0.25 * (1..=30).map(|k| (k as f64 * p).sin() / k as f64).sum::<f64>() as f32
        })
        .collect()
}
