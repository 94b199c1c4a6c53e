//! How late the effect's pitch follows its input, against the input's analytic pitch: a vibrato
//! and a glide, through the tracker alone and through the whole effect (the output's pitch
//! measured by an independent estimator, centred 12 ms autocorrelation frames at 1 ms steps). At
//! the lowest latency a G4's pitch comes within 1 ms of the reported latency (which is the
//! loudness's) and a low note's later; pitch-aligned, every note down to the one aligned comes
//! at the reported latency, so what a listener hears for pitch is what the host compensates.

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

/// Pitch (MIDI note number) of `x` at sample `centre`: the normalised autocorrelation's highest
/// peak within ±3 semitones of `near`, refined by a parabola; each lag's product of a 12 ms window
/// with itself that lag later is centred on `centre` (the window starts half the lag earlier), so
/// the estimate describes `centre` at every pitch. Independent of the tracker under test.
fn pitch_at(x: &[f32], centre: usize, near: f64) -> Option<f64> {
    let n = (0.012 * SR) as usize;
    let lag_of = |note: f64| SR / midi_hz(note);
    let (lo, hi) = (lag_of(near + 3.0).floor() as usize, lag_of(near - 3.0).ceil() as usize);
    let start = centre.checked_sub(n / 2 + (hi + 1) / 2 + 1)?;
    x.get(centre + n / 2 + (hi + 1) / 2 + 1)?;
    let r = |lag: usize| -> f64 {
        let first = start + (hi + 1) / 2 + 1 - lag / 2;
        let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
        for i in first..first + n {
            let (a, b) = (f64::from(x[i]), f64::from(x[i + lag]));
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

/// The whole effect with `settings` on `input`: how late its output's pitch (measured
/// independently at `times`) follows `truth` (ms), the mean error there (cents), and the reported
/// latency (ms).
fn effect_delay(
    model: &Arc<Model>,
    settings: EffectSettings,
    input: &[f32],
    truth: &dyn Fn(f64) -> f64,
    times: &[f64],
    name: &str,
) -> (f64, f64, f64) {
    let mut fx = TimbreTransfer::new(model.clone(), SR as f32, settings);
    let latency_ms = f64::from(fx.latency_samples()) * 1e3 / SR;
    let mut out = vec![0.0; input.len()];
    fx.process(input, &mut out);
    let measured: Vec<(f64, f64)> =
        times.iter().filter_map(|&t| pitch_at(&out, (t * SR) as usize, truth(t)).map(|p| (t, p))).collect();
    assert!(measured.len() > times.len() * 9 / 10, "{name}: the output has a pitch");
    let (ms, cents) = best_delay(&measured, truth);
    (ms, cents, latency_ms)
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
        let (effect_ms, effect_cents, latency_ms) =
            effect_delay(&model, EffectSettings::default(), &input, truth, &times, name);
        eprintln!(
            "{name}: tracker {tracker_ms} ms late ({tracker_cents:.1} cents mean error there), \
             effect output {effect_ms} ms late ({effect_cents:.1} cents), reported latency {latency_ms} ms"
        );
        // The tracker needs two of G4's periods (5.1 ms) and more of C4's: the reported 4 ms is
        // the loudness's, the pitch within a millisecond of it.
        assert!(effect_ms <= latency_ms + 1.0, "{name}: the pitch comes {effect_ms} ms late, {latency_ms} ms reported");
        assert!(effect_cents < 10.0, "{name}: {effect_cents:.1} cents off the delayed input");
        // The voice plays each frame's pitch from the sample it exists: no delay of its own.
        assert!((tracker_ms - effect_ms).abs() <= 1.0, "{name}: tracker {tracker_ms} ms, effect {effect_ms} ms");
    }
}

#[test]
fn aligned_pitch_reaches_the_output_at_the_reported_latency_down_to_its_note() {
    // Vibratos (±50 cents at 5.5 Hz) on A2, C3, A3 and G4. Aligned down to A2 (110 Hz) every one's
    // pitch comes out at the reported latency; at the lowest latency the low notes' pitch comes
    // later than reported (the tracker must see a period twice), which is what the mode is for.
    let model = Arc::new(Model::embedded_default());
    let times: Vec<f64> = (300..1500).map(|ms| f64::from(ms) * 1e-3).collect();
    for centre in [45.0, 48.0, 57.0, 67.0] {
        let truth = move |t: f64| centre + 0.5 * (std::f64::consts::TAU * 5.5 * t).sin();
        let input = tone(1.6, &truth);
        for align_hz in [0.0, 110.0] {
            let settings = EffectSettings { align_pitch_down_to_hz: align_hz, ..EffectSettings::default() };
            let (effect_ms, cents, latency_ms) =
                effect_delay(&model, settings, &input, &truth, &times, &format!("note {centre}"));
            eprintln!(
                "vibrato on {:.0} Hz, aligned down to {align_hz} Hz: pitch {effect_ms} ms late ({cents:.1} cents \
                 mean error there), reported latency {latency_ms:.2} ms",
                midi_hz(centre)
            );
            assert!(cents < 10.0, "note {centre}: {cents:.1} cents off the delayed input");
            if align_hz > 0.0 {
                assert!(
                    (effect_ms - latency_ms).abs() <= 1.0,
                    "aligned, note {centre}: the pitch comes {effect_ms} ms late, {latency_ms:.2} ms reported"
                );
            } else if midi_hz(centre) < 150.0 {
                assert!(effect_ms > latency_ms + 4.0, "note {centre}: {effect_ms} ms, {latency_ms:.2} ms reported");
            }
        }
    }
}

#[test]
fn a_new_notes_pitch_comes_at_the_step_delay() {
    // Legato steps between saws (the tracker alone; the step's instant is the input's own): the
    // first estimate within 50 cents of the new note, averaged over 8 phases of the hop clock,
    // comes within 1 ms of `PitchTracker::step_delay_s`, which the aligned effect's latency and its
    // time stamps use; a pitch in motion within a note comes at the shorter `delay_s` (above).
    let tracker = Tracker::new(SR as f32, PitchSettings::default());
    for (from, to) in [(50.0, 45.0), (45.0, 50.0), (52.0, 57.0), (57.0, 62.0), (62.0, 57.0), (69.0, 74.0), (74.0, 69.0)]
    {
        let mut delays = Vec::new();
        for phase in 0..8 {
            let step_s = 0.5 + phase as f64 * 0.000_137;
            let input = tone(0.7, &|t| if t < step_s { from } else { to });
            let mut t = Tracker::new(SR as f32, PitchSettings::default());
            let mut first = None;
            t.process(&input, |f| {
                let at_s = f.at_sample as f64 / SR;
                let near = f.voiced && (12.0 * (f64::from(f.f0_hz) / midi_hz(to)).log2()).abs() < 0.5;
                if first.is_none() && at_s > step_s && near {
                    first = Some(at_s - step_s);
                }
            });
            delays.push(first.expect("the new note is found"));
        }
        let mean_ms = delays.iter().sum::<f64>() / delays.len() as f64 * 1e3;
        let expected_ms = tracker.pitch().step_delay_s(midi_hz(to) as f32) * 1e3;
        let within_ms = tracker.pitch().delay_s(midi_hz(to) as f32) * 1e3;
        println!(
            "step {from} -> {to}: new pitch after {mean_ms:.1} ms (step delay {expected_ms:.1} ms, within a note \
             {within_ms:.1} ms)"
        );
        assert!((mean_ms - expected_ms).abs() <= 1.0, "step {from} -> {to}: {mean_ms:.1} ms vs {expected_ms:.1} ms");
    }
}
