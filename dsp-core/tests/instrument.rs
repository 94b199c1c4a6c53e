//! The MIDI instrument's musical behaviour, measured on its output: pitch in cents, level in dB.

mod common;

use std::sync::Arc;

use common::*;
use ddsp_core::{render_with_events, ControlTarget, Instrument, InstrumentEvent, InstrumentSettings, Model, VoiceMode};

const SR: f32 = 48_000.0;

fn render(settings: InstrumentSettings, seconds: f32, events: &[(f32, InstrumentEvent)]) -> Vec<f32> {
    let mut inst = Instrument::new(Arc::new(Model::embedded_default()), SR, settings);
    let events: Vec<(usize, InstrumentEvent)> = events.iter().map(|&(t, e)| ((t * SR) as usize, e)).collect();
    let mut out = vec![0.0; (seconds * SR) as usize];
    render_with_events(&mut inst, &mut out, &events);
    out
}

fn no_vibrato() -> InstrumentSettings {
    InstrumentSettings { mod_wheel_target: ControlTarget::Off, ..InstrumentSettings::default() }
}

/// The solo instrument: one voice, legato, last-note priority.
fn mono() -> InstrumentSettings {
    InstrumentSettings { mode: VoiceMode::Mono, ..no_vibrato() }
}

fn midi_hz(note: f32) -> f64 {
    440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0)
}

/// Fundamental in a 40 ms window starting at `t` seconds, looking near `expected_hz`.
fn pitch_at(x: &[f32], t: f32, expected_hz: f64) -> f64 {
    let start = (t * SR) as usize;
    let w = &x[start..start + (0.04 * SR) as usize];
    let peak = peak_frequency_hz(w, f64::from(SR), 1 << 16);
    peak / (peak / expected_hz).round().max(1.0)
}

fn level_db(x: &[f32], from: f32, to: f32) -> f64 {
    20.0 * rms(&x[(from * SR) as usize..(to * SR) as usize]).log10()
}

#[test]
fn legato_glides_to_the_new_note_without_restarting_the_envelope() {
    let settings = InstrumentSettings { glide_ms: 60.0, ..mono() };
    let out = render(
        settings,
        1.6,
        &[
            (0.0, InstrumentEvent::NoteOn { note: 60, velocity: 0.8 }),
            (0.8, InstrumentEvent::NoteOn { note: 67, velocity: 0.8 }),
            (0.82, InstrumentEvent::NoteOff { note: 60 }),
        ],
    );
    let before = pitch_at(&out, 0.6, midi_hz(60.0));
    let after = pitch_at(&out, 1.4, midi_hz(67.0));
    assert!(cents(before, midi_hz(60.0)).abs() < 5.0, "before: {before} Hz");
    assert!(cents(after, midi_hz(67.0)).abs() < 5.0, "after: {after} Hz");
    // Mid-glide the pitch is between the two notes.
    // (A linear 60 ms glide from 0.80 s: the 40 ms window from 0.81 s spans 61.2 to 65.8.)
    let middle = pitch_at(&out, 0.81, midi_hz(63.5));
    assert!(middle > midi_hz(60.5) && middle < midi_hz(66.5), "mid-glide pitch {middle} Hz");
    // No dip in level across the change: the envelope kept going.
    let steady = level_db(&out, 0.5, 0.78);
    let worst =
        (0..20).map(|i| 0.78 + i as f32 * 0.01).map(|t| level_db(&out, t, t + 0.01)).fold(f64::INFINITY, f64::min);
    assert!(steady - worst < 6.0, "level dipped {:.1} dB at the legato change", steady - worst);
}

#[test]
fn releasing_the_top_note_returns_to_the_held_one() {
    let out = render(
        InstrumentSettings { glide_ms: 0.0, ..mono() },
        1.5,
        &[
            (0.0, InstrumentEvent::NoteOn { note: 57, velocity: 0.8 }),
            (0.4, InstrumentEvent::NoteOn { note: 64, velocity: 0.8 }),
            (0.8, InstrumentEvent::NoteOff { note: 64 }),
        ],
    );
    assert!(cents(pitch_at(&out, 0.6, midi_hz(64.0)), midi_hz(64.0)).abs() < 5.0);
    assert!(cents(pitch_at(&out, 1.2, midi_hz(57.0)), midi_hz(57.0)).abs() < 5.0);
}

#[test]
fn mod_wheel_vibrato_has_the_set_depth() {
    let settings =
        InstrumentSettings { vibrato_depth_cents: 50.0, vibrato_rate_hz: 5.0, ..InstrumentSettings::default() };
    let out = render(
        settings,
        2.0,
        &[
            (0.0, InstrumentEvent::NoteOn { note: 69, velocity: 0.8 }),
            (0.0, InstrumentEvent::ControlChange { cc: 1, value: 1.0 }),
        ],
    );
    let deviations: Vec<f64> = (0..50).map(|i| cents(pitch_at(&out, 0.5 + i as f32 * 0.02, 440.0), 440.0)).collect();
    let (lo, hi) = deviations.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &d| (l.min(d), h.max(d)));
    // A 40 ms window averages the 5 Hz sine a little: the peak-to-peak reads slightly under 100.
    assert!((70.0..110.0).contains(&(hi - lo)), "vibrato swing {:.1} cents ({lo:.1}..{hi:.1})", hi - lo);
}

#[test]
fn expression_and_velocity_shape_the_level() {
    let play = |velocity: f32, expression: f32| {
        let out = render(
            no_vibrato(),
            1.0,
            &[
                (0.0, InstrumentEvent::ControlChange { cc: 11, value: expression }),
                (0.0, InstrumentEvent::NoteOn { note: 62, velocity }),
            ],
        );
        level_db(&out, 0.5, 0.9)
    };
    let full = play(1.0, 1.0);
    let soft = play(0.3, 1.0);
    let quiet = play(1.0, 0.25);
    assert!(full - soft > 6.0, "velocity 1.0 vs 0.3: {full:.1} vs {soft:.1} dB");
    assert!(full - quiet > 15.0, "CC11 at 0.25 should cut ~30 dB of loudness: {full:.1} vs {quiet:.1} dB");
}

#[test]
fn the_voice_falls_silent_after_the_release() {
    let out = render(
        no_vibrato(),
        1.5,
        &[(0.0, InstrumentEvent::NoteOn { note: 62, velocity: 0.8 }), (0.5, InstrumentEvent::NoteOff { note: 62 })],
    );
    // Default release 250 ms, then the idle gate: nothing left a few hundred ms later.
    assert!(level_db(&out, 1.2, 1.5) < -120.0);
}

/// The plugin registers VST3 controller parameters only for `MIDI_CONTROLLERS` (one hidden host
/// parameter per controller and channel), so every controller the instrument answers must be on
/// the list: a controller off the list changes nothing, the audible ones on it change the sound.
#[test]
fn every_controller_the_instrument_answers_is_in_the_registered_list() {
    use ddsp_core::instrument::MIDI_CONTROLLERS;
    let with_cc = |cc: u8| {
        render(
            InstrumentSettings::default(),
            0.35,
            &[
                (0.0, InstrumentEvent::NoteOn { note: 67, velocity: 0.8 }),
                (0.1, InstrumentEvent::ControlChange { cc, value: 1.0 }),
                (0.15, InstrumentEvent::ControlChange { cc, value: 0.0 }),
                (0.17, InstrumentEvent::ControlChange { cc, value: 1.0 }),
                (0.2, InstrumentEvent::NoteOff { note: 67 }),
            ],
        )
    };
    let plain = render(
        InstrumentSettings::default(),
        0.35,
        &[(0.0, InstrumentEvent::NoteOn { note: 67, velocity: 0.8 }), (0.2, InstrumentEvent::NoteOff { note: 67 })],
    );
    let mut answered = Vec::new();
    for cc in 0..128u8 {
        if with_cc(cc) != plain {
            answered.push(cc);
        }
    }
    println!("controllers that change the sound: {answered:?}; registered: {MIDI_CONTROLLERS:?}");
    for cc in &answered {
        assert!(MIDI_CONTROLLERS.contains(cc), "CC{cc} changes the sound but is not registered for VST3");
    }
    // The ones with an audible effect on their own (RPN select/data entry and reset need a
    // sequence; channel pressure and pitch bend are their own events).
    for cc in [1, 11, 64, 66, 120, 123] {
        assert!(answered.contains(&cc), "CC{cc} is registered but changed nothing");
    }
    assert!(MIDI_CONTROLLERS.contains(&128) && MIDI_CONTROLLERS.contains(&129));
}
