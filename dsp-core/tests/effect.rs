//! The timbre-transfer engine: an input's pitch comes out at the requested pitch, the controls do
//! what they say, the dry path sits exactly at the reported latency and the wet path answers a
//! dynamics step at it; no allocation; any block split gives the same output.

mod common;

use std::sync::Arc;

use common::*;
use ddsp_core::effect::{EffectSettings, TimbreTransfer, UnvoicedMode};
use ddsp_core::Model;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SR: f32 = 48_000.0;

/// A band-limited saw at `hz` with amplitude `amp(i)` per sample.
fn saw(hz: f64, n: usize, amp: impl Fn(usize) -> f32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let p = std::f64::consts::TAU * hz * i as f64 / f64::from(SR);
            let v: f64 = (1..=30).map(|k| (k as f64 * p).sin() / k as f64).sum();
            0.5 * v as f32 * amp(i)
        })
        .collect()
}

fn effect(settings: EffectSettings) -> TimbreTransfer {
    TimbreTransfer::new(Arc::new(Model::embedded_default()), SR, settings)
}

fn run(fx: &mut TimbreTransfer, input: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; input.len()];
    fx.process(input, &mut out);
    out
}

fn played_f0(out: &[f32], near_hz: f64) -> f64 {
    let peak = peak_frequency_hz(out, f64::from(SR), 1 << 18);
    peak / (peak / near_hz).round().max(1.0)
}

#[test]
fn the_input_pitch_comes_out_and_pitch_shift_moves_it() {
    let input = saw(220.0, 72_000, |_| 0.5);
    for (shift, expected) in [(0.0, 220.0), (12.0, 440.0), (-7.0, 220.0 * (-7.0f64 / 12.0).exp2())] {
        let mut fx = effect(EffectSettings { pitch_shift_semitones: shift, ..EffectSettings::default() });
        let out = run(&mut fx, &input);
        assert!(out.iter().all(|v| v.is_finite()));
        let steady = &out[24_000..];
        assert!(20.0 * rms(steady).log10() > -50.0, "audible");
        let f0 = played_f0(steady, expected);
        assert!(cents(f0, expected).abs() < 5.0, "shift {shift}: plays {f0:.2} Hz, expected {expected:.2}");
    }
}

#[test]
fn input_pitch_and_gain_change_the_conditioning_not_the_pitch() {
    let input = saw(220.0, 72_000, |_| 0.5);
    let plain = run(&mut effect(EffectSettings::default()), &input);
    for settings in [
        EffectSettings { input_pitch_semitones: 12.0, ..EffectSettings::default() },
        EffectSettings { input_gain_db: -20.0, ..EffectSettings::default() },
    ] {
        let out = run(&mut effect(settings), &input);
        let f0 = played_f0(&out[24_000..], 220.0);
        assert!(cents(f0, 220.0).abs() < 5.0, "{settings:?}: plays {f0:.2} Hz");
        let change_db = 20.0 * (rms(&out[24_000..]) / rms(&plain[24_000..])).log10();
        let timbre_moved = out[24_000..].iter().zip(&plain[24_000..]).any(|(a, b)| (a - b).abs() > 1e-3);
        assert!(timbre_moved, "{settings:?} changed nothing");
        println!("{settings:?}: level change {change_db:.1} dB");
    }
    // −20 dB of input gain makes the model play softer.
    let softer = run(&mut effect(EffectSettings { input_gain_db: -20.0, ..EffectSettings::default() }), &input);
    assert!(rms(&softer[24_000..]) < 0.5 * rms(&plain[24_000..]));
}

#[test]
fn the_dry_path_is_delayed_by_exactly_the_reported_latency() {
    let mut fx = effect(EffectSettings { dry_wet: 0.0, ..EffectSettings::default() });
    let latency = fx.latency_samples() as usize;
    assert_eq!(latency, 192, "2 ms + half a 250 Hz frame at 48 kHz: 4 ms");
    let mut input = vec![0.0; 4_800];
    input[1_000] = 1.0;
    let out = run(&mut fx, &input);
    let peak = out.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap();
    assert_eq!(peak.0, 1_000 + latency, "the impulse comes out at {} samples", peak.0);
    assert!((peak.1 - 1.0).abs() < 1e-6);
}

#[test]
fn stereo_keeps_each_dry_channel_and_shares_the_wet_voice() {
    let mut fx = effect(EffectSettings { dry_wet: 0.5, ..EffectSettings::default() });
    let latency = fx.latency_samples() as usize;
    let tone = saw(220.0, 24_000, |_| 0.5);
    let mut left = tone.clone();
    let mut right = vec![0.0; 24_000];
    right[2_000] = 1.0; // an impulse on the right only
    fx.process_in_place(&mut [&mut left, &mut right]);
    // Wet is identical on both channels; the difference is the two dry signals, delayed.
    let diff: Vec<f32> = left.iter().zip(&right).map(|(l, r)| l - r).collect();
    for (i, d) in diff.iter().enumerate().skip(latency + 300) {
        let expected = 0.5 * (tone[i - latency] - if i == 2_000 + latency { 1.0 } else { 0.0 });
        assert!((d - expected).abs() < 1e-3, "sample {i}: {d} vs {expected}");
    }
}

/// First sample at which an RMS envelope of `x` (over `window` samples, centred) after `from`
/// reaches halfway (in dB) between its level before and after a step.
fn step_time_over(x: &[f32], from: usize, before_db: f64, after_db: f64, window: usize) -> usize {
    let half = 0.5 * (before_db + after_db);
    (from..x.len() - window)
        .find(|&i| 20.0 * rms(&x[i..i + window]).max(1e-12).log10() >= half)
        .map(|i| i + window / 2)
        .unwrap()
}

/// [`step_time_over`] a 1 ms window.
fn step_time(x: &[f32], from: usize, before_db: f64, after_db: f64) -> usize {
    step_time_over(x, from, before_db, after_db, 48)
}

#[test]
fn the_wet_path_answers_a_dynamics_step_at_the_reported_latency() {
    // A held 330 Hz note that steps up by 20 dB at 0.5 s (an accent): the pitch is locked, so
    // only the loudness path and the model frames stand between input and output.
    let step = 24_000;
    let input = saw(330.0, 48_000, |i| if i < step { 0.05 } else { 0.5 });
    let mut fx = effect(EffectSettings::default());
    let latency = fx.latency_samples() as f64;
    let out = run(&mut fx, &input);
    let level = |x: &[f32], a: usize, b: usize| 20.0 * rms(&x[a..b]).log10();
    let (in_before, in_after) = (level(&input, 12_000, step - 480), level(&input, step + 4_800, 48_000));
    let (out_before, out_after) = (level(&out, 12_000, step - 480), level(&out, step + 4_800, 48_000));
    assert!(out_after - out_before > 6.0, "the model plays louder after the accent");
    let input_at = step_time(&input, step - 480, in_before, in_after) as f64;
    let output_at = step_time(&out, step - 480, out_before, out_after) as f64;
    let delay = output_at - input_at;
    println!("dynamics step: input at {input_at}, output at {output_at}: delay {delay} samples, reported {latency}");
    // The model runs once per 192-sample frame, so where the step falls in a frame moves the
    // answer by up to a frame around the reported (average) latency.
    assert!((delay - latency).abs() <= 192.0, "delay {delay} vs reported {latency}");
    // Steps at other phases of the frame clock: the mean delay is the reported latency.
    let (mean, latency) = mean_step_delay(330.0, EffectSettings::default());
    assert!((mean - latency).abs() <= 64.0, "mean delay {mean} vs reported {latency}");
}

/// The mean delay (samples) of a 20 dB dynamics step on a held `hz` saw over 8 phases of the
/// frame clock, and the reported latency.
fn mean_step_delay(hz: f64, settings: EffectSettings) -> (f64, f64) {
    let step = 24_000;
    let level = |x: &[f32], a: usize, b: usize| 20.0 * rms(&x[a..b]).log10();
    let mut delays = Vec::new();
    let mut latency = 0.0;
    for offset in (0..192).step_by(24) {
        let at = step + offset;
        let input = saw(hz, 48_000, |i| if i < at { 0.05 } else { 0.5 });
        let mut fx = effect(settings);
        latency = f64::from(fx.latency_samples());
        let out = run(&mut fx, &input);
        let (in_before, in_after) = (level(&input, 12_000, step - 480), level(&input, step + 4_800, 48_000));
        let (out_before, out_after) = (level(&out, 12_000, step - 480), level(&out, step + 4_800, 48_000));
        // A whole period of the note (at least 1 ms): a low saw's level within a period is uneven.
        let window = if hz >= 250.0 { 48 } else { (f64::from(SR) / hz).round() as usize };
        let input_at = step_time_over(&input, at - 480, in_before, in_after, window) as f64;
        delays.push(step_time_over(&out, at - 480, out_before, out_after, window) as f64 - input_at);
    }
    let mean = delays.iter().sum::<f64>() / delays.len() as f64;
    println!("{hz} Hz, aligned down to {} Hz: dynamics-step delay over the frame phase {delays:?}, mean {mean:.0} samples, reported {latency}", settings.align_pitch_down_to_hz);
    (mean, latency)
}

#[test]
fn aligned_to_a_low_note_its_dynamics_come_out_at_the_reported_latency_too() {
    // Pitch-aligned down to A2 the latency grows to the tracker's pitch delay there; the loudness
    // waits as long, on a low note (whose loudness window is a whole period) and a high one.
    for hz in [110.0, 330.0] {
        let (_, lowest) = mean_step_delay(hz, EffectSettings::default());
        let (mean, latency) =
            mean_step_delay(hz, EffectSettings { align_pitch_down_to_hz: 110.0, ..EffectSettings::default() });
        assert!(latency > 2.0 * lowest, "aligned down to 110 Hz: {latency} samples reported, lowest {lowest}");
        assert!((mean - latency).abs() <= 128.0, "{hz} Hz: mean delay {mean} vs reported {latency}");
    }
}

#[test]
fn unvoiced_modes_and_silence() {
    let mut input = saw(220.0, 48_000, |_| 0.5);
    input[24_000..].iter_mut().for_each(|v| *v = 0.0);
    for mode in [UnvoicedMode::Fade, UnvoicedMode::Hold, UnvoicedMode::Noise] {
        let out = run(&mut effect(EffectSettings { unvoiced: mode, ..EffectSettings::default() }), &input);
        assert!(out.iter().all(|v| v.is_finite()));
        // After the input stops, everything dies away (the loudness falls to the floor).
        let tail = 20.0 * rms(&out[40_000..]).max(1e-12).log10();
        assert!(tail < -60.0, "{mode:?}: {tail:.1} dB after the input stopped");
    }
    // Silence in, silence out, from the start.
    let out = run(&mut effect(EffectSettings::default()), &vec![0.0; 9_600]);
    assert!(out.iter().all(|v| v.abs() < 1e-4));
}

#[test]
fn any_block_split_gives_the_same_output_and_nothing_allocates() {
    let input = saw(196.0, 24_000, |i| 0.2 + 0.3 * (i as f32 / 24_000.0));
    // The lowest latency, and pitch-aligned down to A2 (frames re-timed through a ring).
    for settings in [EffectSettings::default(), EffectSettings { align_pitch_down_to_hz: 110.0, ..Default::default() }]
    {
        let whole = run(&mut effect(settings), &input);
        let mut fx = effect(settings);
        let mut out = vec![0.0; input.len()];
        let (mut pos, mut rng, mut allocations) = (0, TestRng(3), 0);
        while pos < input.len() {
            let len = [1usize, 13, 64, 480, 4096][rng.next_u32() as usize % 5].min(input.len() - pos);
            let ((), n) = allocations_in(|| fx.process(&input[pos..pos + len], &mut out[pos..pos + len]));
            allocations += n;
            pos += len;
        }
        assert_eq!(allocations, 0);
        let worst = whole.iter().zip(&out).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "block split changed the output by {worst}");
    }
}
