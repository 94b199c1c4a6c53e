//! The built instrument .clap bundle, loaded the way a DAW loads it.

use host_tests::analysis::{cents, fundamental_hz, rms_db};
use host_tests::{first_difference, instrument_bundle, run_clap, Session, TimedEvent, INSTRUMENT_ID};

fn a4_session(sample_rate_hz: f64, block: usize) -> Session {
    let mut session = Session::new(sample_rate_hz, block, 1.5);
    session.events.push(TimedEvent::NoteOn { at: 100, key: 69, velocity: 0.8 });
    // Mod wheel stays at 0: no vibrato.
    session
}

#[test]
fn midi_a4_plays_440_hz_at_a_sane_level() {
    for (sr, block) in [(48_000.0, 512), (44_100.0, 64), (96_000.0, 1024)] {
        let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &a4_session(sr, block)).unwrap();
        assert_eq!(out.latency_samples, 0, "instrument mode adds no latency");
        for channel in &out.channels {
            assert!(channel.iter().all(|v| v.is_finite()), "NaN/Inf in the output");
        }
        let steady = &out.channels[0][(0.5 * sr) as usize..];
        let f0 = fundamental_hz(steady, sr, 440.0);
        let error = cents(f0, 440.0);
        let level = rms_db(steady);
        println!("{sr} Hz, blocks of {block}: f0 {f0:.3} Hz ({error:+.2} cents), {level:.1} dBFS RMS");
        assert!(error.abs() < 5.0, "fundamental {f0} Hz is {error:.2} cents from 440 Hz");
        assert!((-40.0..-3.0).contains(&level), "level {level:.1} dBFS");
        assert!(out.channels[0] == out.channels[1], "mono synth copied to both channels");
        // The note starts at its sample: the model idles quietly before it.
        let onset_db = level - rms_db(&out.channels[0][..100]);
        assert!(onset_db > 60.0, "only {onset_db:.1} dB between the idle model and the note");
    }
}

#[test]
fn state_saved_and_restored_reproduces_the_output() {
    let mut first = a4_session(48_000.0, 256);
    for (name, text) in [("Output Gain", "-6 dB"), ("Attack", "5"), ("Vibrato Depth", "80")] {
        first.params.push((name.into(), text.into()));
    }
    first.events.push(TimedEvent::Midi { at: 0, bytes: [0xB0, 1, 127] }); // full mod wheel
    let a = run_clap(&instrument_bundle(), INSTRUMENT_ID, &first).unwrap();

    // A fresh instance with only the state: same parameters, same sound.
    let mut second = a4_session(48_000.0, 256);
    second.state = Some(a.state.clone());
    second.events.push(TimedEvent::Midi { at: 0, bytes: [0xB0, 1, 127] });
    let b = run_clap(&instrument_bundle(), INSTRUMENT_ID, &second).unwrap();
    let diff = first_difference(&a.channels, &b.channels);
    assert_eq!(diff, None, "restored state must reproduce the output exactly: (channel, sample) {diff:?}");

    // And the state did carry the changes: the default session sounds different.
    let default = run_clap(&instrument_bundle(), INSTRUMENT_ID, &a4_session(48_000.0, 256)).unwrap();
    assert!(first_difference(&a.channels, &default.channels).is_some());
    let gain_db = rms_db(&a.channels[0][24_000..]) - rms_db(&default.channels[0][24_000..]);
    assert!((gain_db + 6.0).abs() < 1.0, "Output Gain -6 dB measured as {gain_db:.2} dB");
}

#[test]
fn pitch_bend_moves_the_pitch_by_the_bend_range() {
    let sr = 48_000.0;
    let mut session = a4_session(sr, 512);
    // Full bend up (14-bit 0x3FFF) with the default range of 2 semitones: B4.
    session.events.push(TimedEvent::Midi { at: 0, bytes: [0xE0, 0x7F, 0x7F] });
    let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &session).unwrap();
    let expected = 440.0 * 2f64.powf(2.0 * (16383.0 / 8192.0 - 1.0) / 12.0);
    let f0 = fundamental_hz(&out.channels[0][(0.5 * sr) as usize..], sr, expected);
    assert!(cents(f0, expected).abs() < 5.0, "bent pitch {f0} Hz, expected {expected} Hz");
}

#[test]
fn sample_rate_change_mid_session_keeps_the_pitch() {
    // One instance, re-activated at each rate and block size in turn, as when a project's rate
    // changes; a host block larger than announced is not possible in CLAP, so each session
    // announces its own maximum.
    let mut instance = host_tests::ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap();
    for (sr, block) in [(48_000.0, 128), (96_000.0, 2048), (44_100.0, 1), (192_000.0, 4096), (48_000.0, 64)] {
        let out = instance.play(&a4_session(sr, block)).unwrap();
        let steady = &out.channels[0][(0.5 * sr) as usize..];
        let f0 = fundamental_hz(steady, sr, 440.0);
        assert!(cents(f0, 440.0).abs() < 5.0, "{sr} Hz after re-activation: {f0} Hz");
        assert!(out.channels[0].iter().all(|v| v.is_finite()));
    }
}

#[test]
fn the_mastering_chain_limits_and_reports_its_latency_through_the_bundle() {
    let sr = 48_000.0;
    let mut session = a4_session(sr, 256);
    for (name, text) in [("Output Gain", "+12 dB"), ("Limiter", "On"), ("Ceiling", "-18")] {
        session.params.push((name.into(), text.into()));
    }
    let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &session).unwrap();
    // 1.5 ms look-ahead (72 samples) − 1 + the 4× interpolator's 32-sample span.
    assert_eq!(out.latency_samples, 103, "the limiter's look-ahead is reported");
    let peak_db = out.channels[0].iter().fold(0.0f32, |m, v| m.max(v.abs())).log10() * 20.0;
    let unlimited = run_clap(&instrument_bundle(), INSTRUMENT_ID, &{
        let mut s = a4_session(sr, 256);
        s.params.push(("Output Gain".into(), "+12 dB".into()));
        s
    })
    .unwrap();
    let unlimited_db = unlimited.channels[0].iter().fold(0.0f32, |m, v| m.max(v.abs())).log10() * 20.0;
    println!("peak with the limiter at -18 dBTP: {peak_db:.2} dBFS (without: {unlimited_db:.2} dBFS)");
    assert!(peak_db <= -18.0 + 0.01 && peak_db > -19.0, "limited peak {peak_db:.2} dBFS");
    assert!(unlimited_db > -14.0, "the test needs a signal that crosses the ceiling");
    let f0 = fundamental_hz(&out.channels[0][(0.5 * sr) as usize..], sr, 440.0);
    assert!(cents(f0, 440.0).abs() < 5.0, "limited note at {f0:.2} Hz");
}
