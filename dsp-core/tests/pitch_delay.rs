//! How late the effect's pitch follows its input, against the input's analytic pitch: a vibrato
//! and a glide, through the tracker alone and through the whole effect (the output's pitch
//! measured by an independent estimator, centred 12 ms autocorrelation frames at 1 ms steps). The
//! delay that fits the contours best must not exceed the latency the effect reports, so what a
//! listener hears for pitch is what the host compensates.

mod common;

use std::sync::Arc;

use common::*;
use ddsp_core::effect::{EffectSettings, TimbreTransfer};
use ddsp_core::tracking::{PitchSettings, Tracker};
use ddsp_core::Model;

const SR: f64 = 48_000.0;

/// A band-limited saw following `pitch(t)` (MIDI note number).
fn tone(seconds: f64, pitch: &dyn Fn(f64) -> f64) -> Vec<f32> {
    let mut phase = 0.0f64;
    (0..(seconds * SR) as usize)
        .map(|i| {
            let hz = midi_hz(pitch(i as f64 / SR));
            phase = (phase + hz / SR).fract();
            let p = std::f64::consts::TAU * phase;
            let v: f64 = (1..=(16_000.0 / hz) as usize).map(|k| (k as f64 * p).sin() / k as f64).sum();
            (0.3 * v) as f32
        })
        .collect()
}

/// Pitch (MIDI note number) of `x` around sample `centre`: the normalised autocorrelation's
/// highest peak within ±3 semitones of `near`, over a 12 ms window centred there, refined by a
/// parabola. Independent of the tracker under test.
fn pitch_at(x: &[f32], centre: usize, near: f64) -> Option<f64> {
    let half = (0.006 * SR) as usize;
    let (start, end) = (centre.checked_sub(half)?, centre + half);
    let lag_of = |note: f64| SR / midi_hz(note);
    let (lo, hi) = (lag_of(near + 3.0).floor() as usize, lag_of(near - 3.0).ceil() as usize);
    let w = x.get(start..end + hi + 1)?;
    let n = end - start;
    let r = |lag: usize| -> f64 {
        let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n {
            let (a, b) = (f64::from(w[i]), f64::from(w[i + lag]));
            xy += a * b;
            xx += a * a;
            yy += b * b;
        }
        xy / (xx * yy).sqrt().max(1e-12)
    };
    let values: Vec<f64> = (lo - 1..=hi + 1).map(r).collect();
    let (i, _) = values[1..values.len() - 1].iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let (a, b, c) = (values[i], values[i + 1], values[i + 2]);
    let offset = 0.5 * (a - c) / (a - 2.0 * b + c);
    let lag = (lo + i) as f64 + offset.clamp(-0.5, 0.5);
    Some(69.0 + 12.0 * (SR / lag / 440.0).log2())
}

/// The delay (ms, 0.25 ms steps from 0 to 30) at which `measured(t)` best matches `truth(t − delay)`
/// over `times` (mean absolute difference in cents), and that difference.
fn best_delay(measured: &[(f64, f64)], truth: &dyn Fn(f64) -> f64) -> (f64, f64) {
    (0..=120)
        .map(|quarter_ms| {
            let ms = f64::from(quarter_ms) * 0.25;
            let d = ms * 1e-3;
            let error = measured.iter().map(|&(t, p)| (p - truth(t - d)).abs()).sum::<f64>() / measured.len() as f64;
            (ms, 100.0 * error)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
}

#[test]
fn pitch_follows_vibrato_and_glides_within_the_reported_latency() {
    let vibrato = |t: f64| 67.0 + 0.5 * (std::f64::consts::TAU * 5.5 * t).sin();
    let glide = |t: f64| 60.0 + 12.0 * ((t - 0.3) / 0.8).clamp(0.0, 1.0);
    let cases: [(&str, &dyn Fn(f64) -> f64); 2] =
        [("vibrato ±50 cents at 5.5 Hz", &vibrato), ("glide C4–C5 in 0.8 s", &glide)];
    let model = Arc::new(Model::embedded_default());
    for (name, truth) in cases {
        let seconds = 1.6;
        let input = tone(seconds, truth);
        let times: Vec<f64> = (300..1500).map(|ms| f64::from(ms) * 1e-3).collect();

        // The tracker alone: each frame's estimate against the truth, by its time stamp.
        let mut tracker =
            Tracker::new(SR as f32, PitchSettings { f0_min_hz: 60.0, f0_max_hz: 1000.0, ..Default::default() });
        let mut frames = Vec::new();
        tracker.process(&input, |f| {
            let t = f.at_sample as f64 / SR;
            if f.voiced && (0.3..1.5).contains(&t) {
                frames.push((t, 69.0 + 12.0 * (f64::from(f.f0_hz) / 440.0).log2()));
            }
        });
        let (tracker_ms, tracker_cents) = best_delay(&frames, truth);

        // The whole effect: the output's pitch, measured independently.
        let mut fx = TimbreTransfer::new(model.clone(), SR as f32, EffectSettings::default());
        let latency_ms = f64::from(fx.latency_samples()) * 1e3 / SR;
        let mut out = vec![0.0; input.len()];
        fx.process(&input, &mut out);
        let measured: Vec<(f64, f64)> =
            times.iter().filter_map(|&t| pitch_at(&out, (t * SR) as usize, truth(t)).map(|p| (t, p))).collect();
        assert!(measured.len() > times.len() * 9 / 10, "{name}: the output has a pitch");
        let (effect_ms, effect_cents) = best_delay(&measured, truth);
        eprintln!(
            "{name}: tracker {tracker_ms} ms late ({tracker_cents:.1} cents mean error there), \
             effect output {effect_ms} ms late ({effect_cents:.1} cents), reported latency {latency_ms} ms"
        );
        assert!(effect_ms <= latency_ms + 0.5, "{name}: the pitch comes {effect_ms} ms late, {latency_ms} ms reported");
        assert!(effect_cents < 10.0, "{name}: {effect_cents:.1} cents off the delayed input");
        // The voice plays each frame's pitch from the sample it exists: no delay of its own.
        assert!((tracker_ms - effect_ms).abs() <= 1.0, "{name}: tracker {tracker_ms} ms, effect {effect_ms} ms");
    }
}
