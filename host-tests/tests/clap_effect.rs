//! The effect plugin (timbre transfer) in the built `.clap`, through clack-host with audio input:
//! the reported latency, the dry path at exactly that latency, the played pitch and pitch shift.

use host_tests::analysis::{cents, fundamental_hz};
use host_tests::{instrument_bundle, run_clap, Session};

const EFFECT_ID: &str = "dev.ddsp-instrument.effect";
const SR: f64 = 48_000.0;

/// A stereo band-limited 220 Hz saw (right channel at half level).
fn stereo_saw(seconds: f64) -> Vec<Vec<f32>> {
    let n = (seconds * SR) as usize;
    let left: Vec<f32> = (0..n)
        .map(|i| {
            let p = std::f64::consts::TAU * 220.0 * i as f64 / SR;
            0.25 * (1..=30).map(|k| (k as f64 * p).sin() / k as f64).sum::<f64>() as f32
        })
        .collect();
    let right = left.iter().map(|v| 0.5 * v).collect();
    vec![left, right]
}

fn session(params: &[(&str, &str)]) -> Session {
    let mut session = Session::new(SR, 480, 1.5);
    session.input = stereo_saw(1.5);
    session.params = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    session
}

#[test]
fn the_effect_plays_the_input_pitch_and_reports_its_latency() {
    let bundle = instrument_bundle();
    let out = run_clap(&bundle, EFFECT_ID, &session(&[])).unwrap();
    assert_eq!(out.latency_samples, 192, "2 ms + half a model frame at 48 kHz: 4 ms");
    assert!(out.channels.iter().flatten().all(|v| v.is_finite()));
    let f0 = fundamental_hz(&out.channels[0][24_000..], SR, 220.0);
    assert!(cents(f0, 220.0).abs() < 5.0, "plays {f0} Hz");
    assert_eq!(out.channels[0][30_000..], out.channels[1][30_000..], "the wet voice is the same on both sides");

    let shifted = run_clap(&bundle, EFFECT_ID, &session(&[("Pitch Shift", "12")])).unwrap();
    let f0 = fundamental_hz(&shifted.channels[0][24_000..], SR, 440.0);
    assert!(cents(f0, 440.0).abs() < 5.0, "+12 st plays {f0} Hz");
}

#[test]
fn fully_dry_is_the_input_delayed_by_exactly_the_reported_latency() {
    let s = session(&[("Dry/Wet", "0%")]);
    let out = run_clap(&instrument_bundle(), EFFECT_ID, &s).unwrap();
    let latency = out.latency_samples as usize;
    // The mix glides from its default (fully wet) over ~10 ms; after that it is the dry input.
    for (channel, input) in out.channels.iter().zip(&s.input) {
        let worst = (24_000..input.len()).map(|i| (channel[i] - input[i - latency]).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "dry path differs from the input delayed by {latency}: {worst}");
    }
}
