//! The harmonic bank against analytic expectations: pitch in cents, distortion and aliasing in dB.

mod common;

use common::*;
use ddsp_core::harmonic::HarmonicBank;

const RATES: [f32; 5] = [44_100.0, 48_000.0, 88_200.0, 96_000.0, 192_000.0];

fn render(bank: &mut HarmonicBank, f0: impl Fn(usize) -> f32, n: usize) -> Vec<f32> {
    let f0: Vec<f32> = (0..n).map(f0).collect();
    let mut out = vec![0.0; n];
    // Odd block sizes on purpose: the bank must be phase-continuous across calls.
    let mut pos = 0;
    for block in [1usize, 7, 64, 333, 4096].iter().cycle() {
        if pos >= n {
            break;
        }
        let end = (pos + block).min(n);
        bank.process(&f0[pos..end], &mut out[pos..end]);
        pos = end;
    }
    out
}

#[test]
fn single_harmonic_peak_is_within_a_tenth_of_a_cent() {
    for &sr in &RATES {
        for &(k, f0) in &[(1usize, 27.5f32), (1, 440.0), (3, 1396.9), (1, 4186.01)] {
            let mut amps = vec![0.0; 8];
            amps[k - 1] = 0.5;
            let mut bank = HarmonicBank::new(sr, 8);
            bank.set_targets(&amps, 0);
            let n = (sr as usize) * 2;
            let out = render(&mut bank, |_| f0, n);
            let expected = f64::from(f0) * k as f64;
            let measured = peak_frequency_hz(&out, f64::from(sr), 1 << 22);
            let error = cents(measured, expected);
            assert!(error.abs() < 0.1, "{sr} Hz, harmonic {k} of {f0} Hz: peak {measured} Hz, {error:.4} cents off");
        }
    }
}

#[test]
fn pure_sine_thd_is_below_minus_100_db() {
    for &sr in &RATES {
        // Coherent sampling: the tone sits exactly on a bin, so a rectangular window leaks nothing.
        let n = 1 << 16;
        let bin = 1024.0 * 48_000.0 / sr;
        let bin = bin.round();
        let f0 = bin as f32 * sr / n as f32;
        let mut bank = HarmonicBank::new(sr, 1);
        bank.set_targets(&[0.9], 0);
        let out = render(&mut bank, |_| f0, n);
        let rect = vec![1.0; n];
        let mag = magnitude_spectrum(&out, &rect, n);
        let fundamental = mag[bin as usize];
        let mut harmonics_power = 0.0;
        let mut h = 2;
        while (bin as usize) * h < mag.len() {
            harmonics_power += mag[bin as usize * h].powi(2);
            h += 1;
        }
        let thd_db = 10.0 * (harmonics_power / fundamental.powi(2)).log10();
        assert!(thd_db < -100.0, "{sr} Hz: THD {thd_db:.1} dB at {f0} Hz");
    }
}

#[test]
fn sweep_to_nyquist_leaves_no_aliases_above_minus_90_db() {
    for &sr in &[44_100.0f32, 48_000.0, 96_000.0] {
        let n_harm = 12;
        let amp = 0.1f32;
        let mut bank = HarmonicBank::new(sr, n_harm);
        bank.set_targets(&vec![amp; n_harm], 0);
        // f0 glides so that harmonics 4..12 cross Nyquist during the sweep.
        let (start, end) = (0.04 * sr, 0.16 * sr);
        let n = (sr as usize) * 2;
        let f0 = |i: usize| start + (end - start) * i as f32 / n as f32;
        let out = render(&mut bank, f0, n);

        let frame = 2048;
        let window = kaiser(frame, 14.0);
        let reference = amp as f64 * window.iter().sum::<f64>() / 2.0; // a full-scale partial's peak
        let bin_hz = f64::from(sr) / frame as f64;
        let mut worst_db = f64::NEG_INFINITY;
        for start_i in (0..n - frame).step_by(frame) {
            let mag = magnitude_spectrum(&out[start_i..start_i + frame], &window, frame);
            let (f_lo, f_hi) = (f64::from(f0(start_i)), f64::from(f0(start_i + frame)));
            let nyquist = f64::from(sr) / 2.0;
            let sr64 = f64::from(sr);
            for (b, m) in mag.iter().enumerate() {
                let hz = b as f64 * bin_hz;
                // Where an unfiltered partial above Nyquist would fold to: sr - k·f0.
                let on_alias = (1..=n_harm).any(|k| {
                    let (lo, hi) = (k as f64 * f_lo, k as f64 * f_hi);
                    lo > nyquist && hz >= sr64 - hi && hz <= sr64 - lo
                });
                // Bins shared with a real partial below Nyquist (its sweep plus the window's main
                // lobe) measure that partial, not an alias.
                let near_partial = (1..=n_harm).any(|k| {
                    let (lo, hi) = (k as f64 * f_lo, k as f64 * f_hi);
                    lo < nyquist && hz > lo - 8.0 * bin_hz && hz < hi + 8.0 * bin_hz
                });
                if on_alias && !near_partial {
                    worst_db = worst_db.max(20.0 * (m / reference).log10());
                }
            }
        }
        println!("{sr} Hz: strongest alias {worst_db:.1} dB");
        assert!(worst_db < -90.0, "{sr} Hz: energy {worst_db:.1} dB outside the partials (aliasing)");
    }
}

#[test]
fn long_notes_do_not_drift() {
    // Ten minutes' worth of phase accumulation at 192 kHz in one f64: the partial stays on pitch.
    let sr = 192_000.0;
    let mut bank = HarmonicBank::new(sr, 1);
    bank.set_targets(&[0.5], 0);
    let mut scratch = vec![0.0; 192_000];
    for _ in 0..60 {
        bank.process(&vec![440.0; 192_000], &mut scratch);
    }
    let measured = peak_frequency_hz(&scratch, f64::from(sr), 1 << 21);
    assert!(cents(measured, 440.0).abs() < 0.1);
}
