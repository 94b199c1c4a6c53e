//! The mastering chain against references: analytic (analog-prototype) EQ responses, the
//! compressor's static-curve formula, EBU Tech 3341 loudness signals, true peaks measured by an
//! independent band-limited 16× interpolation and by the `ebur128` meter.

mod common;

use std::f64::consts::{PI, TAU};

use common::{allocations_in, TestRng};
use ddsp_core::master::eq::BiquadCoeffs;
use ddsp_core::master::{
    Compressor, CompressorSettings, Detection, EqSettings, Equalizer, LimiterSettings, LoudnessMeter, MasterChain,
    MasterPreset, MasterSettings, PeakBand, Quality, ReverbSettings, TruePeakLimiter,
};
use num_complex::Complex64 as C;
use realfft::RealFftPlanner;

#[global_allocator]
static ALLOCATOR: common::CountingAllocator = common::CountingAllocator;

/// The analog prototype behind each RBJ design, evaluated at the bilinear-warped frequency: an
/// independent statement of what the band should do.
#[derive(Clone, Copy, Debug)]
enum Band {
    HighPass { freq_hz: f64, q: f64 },
    Peak { freq_hz: f64, gain_db: f64, q: f64 },
    LowShelf { freq_hz: f64, gain_db: f64 },
    HighShelf { freq_hz: f64, gain_db: f64 },
}

impl Band {
    fn analytic_db(self, f: f64, sr: f64) -> f64 {
        let warp = |f0: f64| (PI * f / sr).tan() / (PI * f0 / sr).tan();
        let h = match self {
            Band::HighPass { freq_hz, q } => {
                let s = C::new(0.0, warp(freq_hz));
                s * s / (s * s + s / q + 1.0)
            }
            Band::Peak { freq_hz, gain_db, q } => {
                let a = 10f64.powf(gain_db / 40.0);
                let s = C::new(0.0, warp(freq_hz));
                (s * s + s * (a / q) + 1.0) / (s * s + s / (a * q) + 1.0)
            }
            Band::LowShelf { freq_hz, gain_db } => {
                let a = 10f64.powf(gain_db / 40.0);
                let (s, k) = (C::new(0.0, warp(freq_hz)), a.sqrt() * 2f64.sqrt());
                a * (s * s + s * k + a) / (s * s * a + s * k + 1.0)
            }
            Band::HighShelf { freq_hz, gain_db } => {
                let a = 10f64.powf(gain_db / 40.0);
                let (s, k) = (C::new(0.0, warp(freq_hz)), a.sqrt() * 2f64.sqrt());
                a * (s * s * a + s * k + 1.0) / (s * s + s * k + a)
            }
        };
        20.0 * h.norm().log10()
    }

    fn settings(self) -> EqSettings {
        let mut eq = EqSettings::FLAT;
        match self {
            Band::HighPass { freq_hz, .. } => eq.high_pass_hz = freq_hz as f32,
            Band::Peak { freq_hz, gain_db, q } => {
                eq.peaks[1] = PeakBand { freq_hz: freq_hz as f32, gain_db: gain_db as f32, q: q as f32 }
            }
            Band::LowShelf { freq_hz, gain_db } => {
                (eq.low_shelf_hz, eq.low_shelf_db) = (freq_hz as f32, gain_db as f32)
            }
            Band::HighShelf { freq_hz, gain_db } => {
                (eq.high_shelf_hz, eq.high_shelf_db) = (freq_hz as f32, gain_db as f32)
            }
        }
        eq
    }
}

/// |DFT| of `h` at `f`, dB.
fn measured_db(h: &[f32], f: f64, sr: f64) -> f64 {
    let w = TAU * f / sr;
    let sum: C = h.iter().enumerate().map(|(n, &v)| f64::from(v) * C::from_polar(1.0, -w * n as f64)).sum();
    20.0 * sum.norm().log10()
}

#[test]
fn eq_bands_match_their_analog_prototypes_within_0_1_db() {
    let bands = [
        Band::HighPass { freq_hz: 40.0, q: core::f64::consts::FRAC_1_SQRT_2 },
        Band::HighPass { freq_hz: 150.0, q: core::f64::consts::FRAC_1_SQRT_2 },
        Band::Peak { freq_hz: 250.0, gain_db: 6.0, q: 0.8 },
        Band::Peak { freq_hz: 1_200.0, gain_db: -9.0, q: 2.0 },
        Band::Peak { freq_hz: 3_500.0, gain_db: 3.0, q: 1.0 },
        Band::LowShelf { freq_hz: 65.0, gain_db: 4.0 },
        Band::LowShelf { freq_hz: 500.0, gain_db: -6.0 },
        Band::HighShelf { freq_hz: 5_000.0, gain_db: 6.0 },
        Band::HighShelf { freq_hz: 10_000.0, gain_db: -4.0 },
    ];
    let probes = [30.0, 65.0, 100.0, 250.0, 500.0, 1_000.0, 1_200.0, 2_000.0, 3_500.0, 5_000.0, 10_000.0, 16_000.0];
    let mut worst: f64 = 0.0;
    for sr in [44_100.0, 48_000.0, 96_000.0] {
        for band in bands {
            let mut eq = Equalizer::new(sr as f32, band.settings());
            let mut h = vec![0.0f32; 1 << 16];
            h[0] = 1.0;
            eq.process(0, &mut h);
            for &f in &probes {
                let (measured, expected) = (measured_db(&h, f, sr), band.analytic_db(f, sr));
                let error = (measured - expected).abs();
                worst = worst.max(error);
                assert!(
                    error < 0.1,
                    "{band:?} at {sr} Hz, {f} Hz: measured {measured:.3} dB, analytic {expected:.3} dB"
                );
            }
            // The band's defining point: gain at the centre / shelf extremes.
            match band {
                Band::Peak { freq_hz, gain_db, .. } => {
                    assert!((measured_db(&h, freq_hz, sr) - gain_db).abs() < 0.05, "{band:?} centre gain")
                }
                Band::HighPass { freq_hz, .. } => {
                    assert!((measured_db(&h, freq_hz, sr) + 3.0103).abs() < 0.05, "{band:?} −3 dB point")
                }
                Band::LowShelf { freq_hz, gain_db } | Band::HighShelf { freq_hz, gain_db } => {
                    assert!((measured_db(&h, freq_hz, sr) - gain_db / 2.0).abs() < 0.05, "{band:?} midpoint")
                }
            }
        }
    }
    // The coefficient-side formula agrees with the prototype too.
    let c = BiquadCoeffs::peaking(1_000.0, 6.0, 1.0, 48_000.0);
    assert!((c.response_db(1_000.0, 48_000.0) - 6.0).abs() < 1e-9);
    println!("EQ: worst deviation from the analytic response {worst:.4} dB (9 bands × 3 rates × 12 frequencies)");
}

#[test]
fn eq_bypass_and_flat_pass_audio_unchanged() {
    let mut rng = TestRng(7);
    let input: Vec<f32> = (0..4096).map(|_| rng.unit() * 2.0 - 1.0).collect();
    for settings in [EqSettings::FLAT, EqSettings { enabled: false, ..MasterPreset::Cello.settings(Quality::Draft).eq }]
    {
        let mut eq = Equalizer::new(48_000.0, settings);
        let mut x = input.clone();
        eq.process(0, &mut x);
        assert!(x.iter().zip(&input).all(|(a, b)| a == b));
    }
}

#[test]
fn compressor_static_curve_matches_the_formula_within_0_1_db() {
    let sr = 48_000.0;
    for detection in [Detection::Peak, Detection::Rms] {
        let settings = CompressorSettings {
            enabled: true,
            threshold_db: -20.0,
            ratio: 4.0,
            knee_db: 6.0,
            attack_ms: 1.0,
            release_ms: 5.0,
            makeup_db: 2.0,
            detection,
        };
        let mut worst: f64 = 0.0;
        for level_db in (-40..=0).step_by(2).map(|l| l as f32).chain([-23.0, -21.0, -19.0, -17.0]) {
            let mut comp = Compressor::new(sr, settings);
            // Peak detection: a constant level. RMS: a 1 kHz sine whose RMS is `level_db`.
            let amplitude = 10f32.powf(level_db / 20.0);
            let mut x: Vec<f32> = match detection {
                Detection::Peak => vec![amplitude; 24_000],
                Detection::Rms => (0..24_000)
                    .map(|n| amplitude * 2f32.sqrt() * (TAU * 1_000.0 * n as f64 / f64::from(sr)).sin() as f32)
                    .collect(),
            };
            let reference = x.clone();
            comp.process(&mut x, None);
            let tail = 12_000..;
            let gain_db = 20.0 * (common::rms(&x[tail.clone()]) / common::rms(&reference[tail])).log10();
            let expected = f64::from(settings.static_curve_db(level_db) - level_db + settings.makeup_db);
            worst = worst.max((gain_db - expected).abs());
            assert!(
                (gain_db - expected).abs() < 0.1,
                "{detection:?} at {level_db} dB: gain {gain_db:.3} dB, formula {expected:.3} dB"
            );
        }
        println!("compressor ({detection:?}): worst deviation from the static curve {worst:.4} dB");
    }
    // The formula's own landmarks: below the knee unchanged, above it 1/R.
    let s = CompressorSettings { threshold_db: -20.0, ratio: 4.0, knee_db: 6.0, ..CompressorSettings::default() };
    assert_eq!(s.static_curve_db(-30.0), -30.0);
    assert!((s.static_curve_db(0.0) - (-20.0 + 20.0 / 4.0)).abs() < 1e-5);
}

/// The largest |x| of the band-limited signal through `x`, found by 16× FFT interpolation.
fn true_peak_16x(x: &[f32]) -> f64 {
    let n = (x.len() + 4096).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(n);
    let mut input: Vec<f64> = x.iter().map(|&v| f64::from(v)).chain(std::iter::repeat(0.0)).take(n).collect();
    let mut spectrum = forward.make_output_vec();
    forward.process(&mut input, &mut spectrum).unwrap();
    let up = 16 * n;
    let inverse = planner.plan_fft_inverse(up);
    let mut padded = inverse.make_input_vec();
    padded[..spectrum.len()].copy_from_slice(&spectrum);
    // Halve the Nyquist bin (it becomes an interior bin).
    padded[n / 2] *= 0.5;
    let mut output = inverse.make_output_vec();
    inverse.process(&mut padded, &mut output).unwrap();
    output.iter().fold(0.0f64, |m, &v| m.max(v.abs())) / n as f64
}

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

/// Test signals with inter-sample peaks: full-scale square and sine bursts, and EBU Tech 3341/3342
/// style sines at fs/4 and fs/6 whose samples miss the crest (true peak up to +3 dBTP).
fn peak_test_signals(sr: f64) -> Vec<(String, Vec<f32>)> {
    let len = (sr * 0.5) as usize;
    let burst = |f: f64, phase: f64, amplitude: f64, shape: fn(f64) -> f64| -> Vec<f32> {
        (0..len)
            .map(|n| {
                let on = n > len / 10 && n < len * 7 / 10;
                if on {
                    (amplitude * shape(TAU * f * n as f64 / sr + phase)) as f32
                } else {
                    0.0
                }
            })
            .collect()
    };
    // A band-limited square (odd harmonics up to 20 kHz): Gibbs overshoot, +0.8 dBTP.
    let square = |p: f64| -> f64 {
        let harmonics = (20_000.0 / 1_000.0) as usize;
        (0..harmonics).map(|k| (2 * k + 1) as f64).map(|h| (h * p).sin() / h).sum::<f64>() * 4.0 / PI
    };
    let mut signals = vec![
        ("band-limited square 1 kHz".to_owned(), burst(1_000.0, 0.1, 1.0, square)),
        ("sine 997 Hz 0 dBFS".to_owned(), burst(997.0, 0.0, 1.0, f64::sin)),
        ("sine 10 kHz 0 dBFS".to_owned(), burst(10_000.0, 0.2, 1.0, f64::sin)),
    ];
    // fs/4 at 45°: samples at ±A/√2, so scale to 0 dBFS samples and a +3.01 dBTP crest.
    for (fraction, phase_deg) in [(4.0, 45.0), (4.0, 60.0), (6.0, 30.0), (4.0, 67.5)] {
        let phase = phase_deg * PI / 180.0;
        let f = sr / fraction;
        let sample_peak =
            (0..fraction as usize).map(|n| (TAU * n as f64 / fraction + phase).sin().abs()).fold(0.0, f64::max);
        signals.push((format!("sine fs/{fraction} at {phase_deg}°"), burst(f, phase, 1.0 / sample_peak, f64::sin)));
    }
    signals
}

#[test]
fn limiter_output_true_peak_never_exceeds_the_ceiling_by_more_than_0_1_db() {
    let mut worst_over: f64 = f64::NEG_INFINITY;
    for sr in [44_100.0, 48_000.0, 96_000.0] {
        for quality in [Quality::Standard, Quality::Mastering] {
            for ceiling in [-1.0f32, -0.1] {
                for (name, signal) in peak_test_signals(sr) {
                    let settings = LimiterSettings { ceiling_dbtp: ceiling, ..LimiterSettings::default() };
                    let mut limiter = TruePeakLimiter::new(sr as f32, settings, quality.limiter_oversampling());
                    let input_peak = db(true_peak_16x(&signal));
                    let mut out = signal.clone();
                    limiter.process(&mut out, None);
                    let ours = db(true_peak_16x(&out));
                    let mut meter = LoudnessMeter::new(sr as u32);
                    meter.process(&out, &out);
                    let metered = meter.max_true_peak_dbtp();
                    let over = ours.max(metered) - f64::from(ceiling);
                    worst_over = worst_over.max(over);
                    assert!(
                        over <= 0.1,
                        "{name} at {sr} Hz, {quality:?}, ceiling {ceiling}: in {input_peak:.2} dBTP, out {ours:.3} dBTP \
                         (16× FFT), {metered:.3} dBTP (ebur128)"
                    );
                    // The limiter limits, it does not duck: the crest arrives close to the ceiling.
                    assert!(over > -1.0, "{name}: output peak {ours:.2} dBTP, far below the ceiling {ceiling}");
                }
            }
        }
    }
    println!("limiter: highest output true peak relative to the ceiling {worst_over:+.3} dB");
}

#[test]
fn limiter_holds_naive_full_scale_squares_to_the_ceiling_as_bs1770_measures_them() {
    // A naive square has aliased energy right up to Nyquist, which no finite interpolator (the
    // BS.1770 meter's included) reconstructs exactly; the standard's 4× measurement is the reference.
    for sr in [44_100.0f64, 48_000.0, 96_000.0] {
        for f in [1_000.0, 3_000.0, 5_512.5] {
            let signal: Vec<f32> = (0..(sr * 0.3) as usize)
                .map(|n| if (TAU * f * n as f64 / sr + 0.2).sin() >= 0.0 { 1.0 } else { -1.0 })
                .collect();
            let mut limiter = TruePeakLimiter::new(sr as f32, LimiterSettings::default(), 4);
            let mut out = signal;
            limiter.process(&mut out, None);
            let mut meter = LoudnessMeter::new(sr as u32);
            meter.process(&out, &out);
            let over = meter.max_true_peak_dbtp() + 1.0;
            println!(
                "naive square {f} Hz at {sr} Hz: {over:+.3} dB re ceiling (BS.1770), {:+.3} dB (ideal 16×)",
                db(true_peak_16x(&out)) + 1.0
            );
            assert!(over <= 0.1, "naive square {f} Hz at {sr} Hz: {over:+.3} dB over the ceiling");
        }
    }
}

#[test]
fn limiter_delays_by_its_reported_latency_and_passes_quiet_audio_unchanged() {
    for (sr, oversampling) in [(44_100.0, 1), (48_000.0, 4), (96_000.0, 8)] {
        let mut limiter = TruePeakLimiter::new(sr, LimiterSettings::default(), oversampling);
        let latency = limiter.latency_samples();
        let mut x = vec![0.0f32; 2048];
        x[100] = 0.5;
        limiter.process(&mut x, None);
        let at = x.iter().position(|&v| v != 0.0).unwrap();
        assert_eq!(at, 100 + latency, "{sr} Hz ×{oversampling}");
        assert!((x[at] - 0.5).abs() < 1e-6, "below the ceiling the gain is exactly 1");
    }
}

fn stereo_sine(sr: f64, seconds: f64, level_dbfs: f64) -> Vec<f32> {
    let amplitude = 10f64.powf(level_dbfs / 20.0);
    (0..(sr * seconds) as usize).map(|n| (amplitude * (TAU * 1_000.0 * n as f64 / sr).sin()) as f32).collect()
}

#[test]
fn loudness_meter_reads_ebu_tech_3341_signals_within_0_1_lu() {
    let sr = 48_000.0;
    // Tech 3341 cases 1–5: (segments of (seconds, dBFS per channel), expected integrated LUFS).
    let cases: [(&str, Vec<(f64, f64)>, f64); 5] = [
        ("1: −23 dBFS 20 s", vec![(20.0, -23.0)], -23.0),
        ("2: −33 dBFS 20 s", vec![(20.0, -33.0)], -33.0),
        ("3: −36/−23/−36", vec![(10.0, -36.0), (60.0, -23.0), (10.0, -36.0)], -23.0),
        (
            "4: −72/−36/−23/−36/−72",
            vec![(10.0, -72.0), (10.0, -36.0), (60.0, -23.0), (10.0, -36.0), (10.0, -72.0)],
            -23.0,
        ),
        ("5: −26/−20/−26", vec![(20.0, -26.0), (20.1, -20.0), (20.0, -26.0)], -23.0),
    ];
    for (name, segments, expected) in cases {
        let mut meter = LoudnessMeter::new(sr as u32);
        let mut last = Default::default();
        for &(seconds, level) in &segments {
            let x = stereo_sine(sr, seconds, level);
            for block in x.chunks(480) {
                meter.process(block, block);
            }
            last = meter.take_reading();
        }
        assert!((meter.integrated_lufs() - expected).abs() <= 0.1, "case {name}: I = {:.2}", meter.integrated_lufs());
        if segments.len() == 1 {
            // Tech 3341 cases 1 and 2 also fix momentary and short-term.
            assert!((last.momentary_lufs - expected).abs() <= 0.1, "case {name}: M = {:.2}", last.momentary_lufs);
            assert!((last.short_term_lufs - expected).abs() <= 0.1, "case {name}: S = {:.2}", last.short_term_lufs);
        }
    }
    let mut silent = LoudnessMeter::new(48_000);
    silent.process(&[0.0; 4800], &[0.0; 4800]);
    let reading = silent.take_reading();
    assert!(reading.integrated_lufs == f64::NEG_INFINITY && !reading.momentary_lufs.is_nan());
}

fn voice_like(sr: f64, seconds: f64, seed: u64) -> Vec<f32> {
    // A bowed-string-like test tone: harmonics with a slow swell and some noise.
    let mut rng = TestRng(seed);
    (0..(sr * seconds) as usize)
        .map(|n| {
            let t = n as f64 / sr;
            let swell = 0.2 + 0.8 * (PI * t / seconds).sin().powi(2);
            let tone: f64 = (1..12).map(|k| (TAU * 196.0 * k as f64 * t).sin() / k as f64).sum();
            (swell * 0.6 * tone) as f32 + 0.01 * (rng.unit() - 0.5)
        })
        .collect()
}

/// Runs the chain over `left`/`right` in random block sizes.
fn run_blocks(chain: &mut MasterChain, left: &mut [f32], right: &mut [f32], blocks: &mut TestRng) {
    let mut pos = 0;
    while pos < left.len() {
        let n = blocks.range(1, 700).min(left.len() - pos);
        chain.process(&mut left[pos..pos + n], &mut right[pos..pos + n]);
        pos += n;
    }
}

fn run_chain(chain: &mut MasterChain, mono: &[f32], blocks: &mut TestRng) -> (Vec<f32>, Vec<f32>) {
    let (mut left, mut right) = (mono.to_vec(), mono.to_vec());
    run_blocks(chain, &mut left, &mut right, blocks);
    (left, right)
}

#[test]
fn chain_is_block_size_independent_resettable_and_allocation_free() {
    let sr = 48_000.0;
    let input = voice_like(f64::from(sr), 1.5, 3);
    for preset in MasterPreset::ALL {
        for quality in Quality::ALL {
            let settings = preset.settings(quality);
            let mut chain = MasterChain::new(sr, settings);
            let (one_pass_l, one_pass_r) = {
                let (mut l, mut r) = (input.clone(), input.clone());
                chain.process(&mut l, &mut r);
                (l, r)
            };
            chain.reset();
            let (mut l, mut r) = (input.clone(), input.clone());
            let ((), allocations) = allocations_in(|| {
                run_blocks(&mut chain, &mut l, &mut r, &mut TestRng(11));
                chain.set_settings(MasterPreset::Violin.settings(quality));
                chain.set_settings(settings);
                let _ = chain.take_meters();
            });
            assert_eq!(allocations, 0, "{preset:?} {quality:?}: the chain allocated");
            let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(
                max_diff(&l, &one_pass_l) < 1e-6 && max_diff(&r, &one_pass_r) < 1e-6,
                "{preset:?} {quality:?}: random blocks differ from one pass"
            );
            // Every preset but flat ends in the limiter.
            let peak = l.iter().chain(&r).fold(0.0f32, |m, v| m.max(v.abs()));
            let ceiling = if settings.limiter.enabled { 10f32.powf(-1.0 / 20.0) + 1e-6 } else { f32::INFINITY };
            assert!(peak <= ceiling, "{preset:?} {quality:?}: sample peak {peak} over −1 dBTP");
        }
    }
}

#[test]
fn chain_reports_its_latency_and_bypass_is_transparent() {
    let sr = 48_000.0;
    let mut chain = MasterChain::new(sr, MasterSettings::off());
    assert_eq!(chain.latency_samples(), 0);
    let input = voice_like(f64::from(sr), 0.2, 5);
    let (l, _) = run_chain(&mut chain, &input, &mut TestRng(1));
    assert!(l.iter().zip(&input).all(|(a, b)| a == b), "bypassed chain changed the audio");

    // Only the limiter on: an impulse below the ceiling comes out at exactly the reported latency.
    let mut settings = MasterPreset::Limiter.settings(Quality::Standard);
    settings.eq.enabled = false;
    chain.set_settings(settings);
    chain.reset();
    let latency = chain.latency_samples() as usize;
    assert!(latency > 0);
    assert!(latency as f32 <= 0.002 * sr + 16.0, "1.5 ms look-ahead + the 4× interpolator: {latency} samples");
    let mut x = vec![0.0f32; 1024];
    x[10] = 0.25;
    let mut y = x.clone();
    chain.process(&mut x, &mut y);
    assert_eq!(x.iter().position(|&v| v != 0.0), Some(10 + latency));
}

#[test]
fn reverb_tail_grows_with_size_and_stays_finite_on_bad_input() {
    let sr = 48_000.0;
    let tail_energy = |size: f32| {
        let settings = ReverbSettings { size, predelay_ms: 0.0, ..ReverbSettings::default() };
        let mut reverb = ddsp_core::master::Reverb::new(sr, settings, 8);
        let (mut l, mut r) = (vec![0.0f32; 96_000], vec![0.0f32; 96_000]);
        l[0] = 1.0;
        r[0] = 1.0;
        reverb.process(&mut l, &mut r);
        common::rms(&l[48_000..])
    };
    let (small, large) = (tail_energy(0.2), tail_energy(0.9));
    assert!(large > 10.0 * small && small > 0.0, "tail after 1 s: size 0.2 {small:.2e}, size 0.9 {large:.2e}");

    let mut chain = MasterChain::new(sr, MasterPreset::Cello.settings(Quality::Professional));
    let mut bad: Vec<f32> = (0..4800).map(|n| [f32::NAN, f32::INFINITY, 1e-40, 4.0, -4.0][n % 5]).collect();
    let mut bad_r = bad.clone();
    chain.process(&mut bad, &mut bad_r);
    let mut after = voice_like(f64::from(sr), 0.5, 9);
    let mut after_r = after.clone();
    chain.process(&mut after, &mut after_r);
    assert!(after.iter().all(|v| v.is_finite() && v.abs() <= 1.0), "the chain must recover from NaN/Inf input");
}

/// "flat" changes nothing (users found it switched the reverb and limiter on); the reverb and
/// limiter starting points are presets of their own, and "room" is the default chain.
#[test]
fn flat_is_transparent_and_room_and_limiter_are_what_they_say() {
    let sr = 48_000.0;
    let input: Vec<f32> = voice_like(f64::from(sr), 0.5, 9).iter().map(|v| v * 3.0).collect(); // peaks past 0 dBFS
    for quality in Quality::ALL {
        let mut chain = MasterChain::new(sr, MasterPreset::Flat.settings(quality));
        assert_eq!(chain.latency_samples(), 0, "flat at {quality:?} adds latency");
        let (l, r) = run_chain(&mut chain, &input, &mut TestRng(4));
        let worst =
            l.iter().chain(&r).zip(input.iter().chain(&input)).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "flat at {quality:?} changed the audio by {worst}");
    }
    let room = MasterPreset::Room.settings(Quality::Standard);
    assert_eq!(room, MasterSettings::default());
    assert!(room.reverb.enabled && room.limiter.enabled && room.compressor.enabled);
    let limiter = MasterPreset::Limiter.settings(Quality::Standard);
    assert!(limiter.limiter.enabled && !limiter.reverb.enabled && !limiter.compressor.enabled);
    assert_eq!(MasterPreset::Flat.loudness_target_lufs(), None);
    assert_eq!(MasterPreset::from_name("ROOM"), Some(MasterPreset::Room));
}
