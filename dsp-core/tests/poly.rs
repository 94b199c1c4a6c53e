//! The one instrument engine as a player meets it: chords, pedals, voice stealing, MPE and note
//! expressions, mono solo lines; measured on the output (each note's own spectral peak, in cents
//! and dB), under the allocation counter, and across host block splits.

mod common;

use std::sync::Arc;

use common::*;
use ddsp_core::{
    ControlTarget, Engine, GlideMode, Instrument, InstrumentEvent, InstrumentSettings, Model, NoteExpression,
    TimedEvent, VoiceMode, MAX_VOICES,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SR: f32 = 48_000.0;
const FFT: usize = 1 << 16;

fn settings() -> InstrumentSettings {
    InstrumentSettings { mod_wheel_target: ControlTarget::Off, ..InstrumentSettings::default() }
}

fn on(at: f32, note: u8) -> TimedEvent {
    TimedEvent::new((at * SR) as usize, InstrumentEvent::NoteOn { note, velocity: 0.8 })
}

fn off(at: f32, note: u8) -> TimedEvent {
    TimedEvent::new((at * SR) as usize, InstrumentEvent::NoteOff { note })
}

fn cc(at: f32, channel: u8, cc: u8, value: f32) -> TimedEvent {
    TimedEvent { at: (at * SR) as usize, channel, event: InstrumentEvent::ControlChange { cc, value } }
}

fn play(settings: InstrumentSettings, seconds: f32, events: &[TimedEvent]) -> Vec<f32> {
    let mut inst = Instrument::new(Arc::new(Model::embedded_default()), SR, settings);
    let mut out = vec![0.0; (seconds * SR) as usize];
    inst.process(events.iter().copied(), &mut [&mut out[..]]);
    out
}

/// 0.2 s of `x` from `t` seconds.
fn window(x: &[f32], t: f32) -> &[f32] {
    &x[(t * SR) as usize..((t + 0.2) * SR) as usize]
}

/// One note of a mix: its fundamental's frequency and level near `note`.
fn note_peak(x: &[f32], t: f32, note: u8) -> (f64, f64) {
    peak_near(window(x, t), f64::from(SR), midi_hz(f64::from(note)), 50.0, FFT)
}

fn max_step(x: &[f32]) -> f32 {
    x.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max)
}

/// C major seventh: no note's fundamental lies on another's harmonic.
const CHORD: [u8; 4] = [60, 64, 67, 71];

#[test]
fn a_chord_sounds_every_note_and_releasing_one_removes_only_it() {
    let mut events: Vec<TimedEvent> = CHORD.iter().map(|&n| on(0.05, n)).collect();
    events.push(off(1.0, 64));
    let out = play(settings(), 1.8, &events);
    for &note in &CHORD {
        let (hz, db) = note_peak(&out, 0.6, note);
        let error = cents(hz, midi_hz(f64::from(note)));
        println!("note {note}: {hz:.2} Hz ({error:+.2} cents), {db:.1} dB");
        assert!(error.abs() < 5.0, "note {note} plays at {hz:.2} Hz ({error:+.1} cents)");
    }
    // After E4's release (250 ms) it is gone; the others stay.
    for &note in &CHORD {
        let (_, before) = note_peak(&out, 0.6, note);
        let (_, after) = note_peak(&out, 1.5, note);
        println!("note {note}: {before:.1} dB held, {after:.1} dB after E4's release");
        if note == 64 {
            assert!(before - after >= 20.0, "the released note fell only {:.1} dB", before - after);
        } else {
            assert!((before - after).abs() < 3.0, "note {note} changed by {:.1} dB", after - before);
        }
    }
}

#[test]
fn the_sustain_pedal_holds_released_notes_in_poly_and_mono() {
    for mode in [VoiceMode::Poly, VoiceMode::Mono] {
        let settings = InstrumentSettings { mode, ..settings() };
        let events = [cc(0.0, 0, 64, 1.0), on(0.05, 62), off(0.4, 62), cc(1.2, 0, 64, 0.0)];
        let out = play(settings, 2.0, &events);
        let held = rms(window(&out, 0.9));
        let lifted = rms(window(&out, 1.75));
        let playing = rms(window(&out, 0.2));
        println!("{mode:?}: playing {playing:.4}, pedal holding {held:.4}, after lift {lifted:.6}");
        assert!(20.0 * (held / playing).log10() > -3.0, "{mode:?}: the pedal did not hold the note");
        assert!(lifted < playing * 1e-3, "{mode:?}: the note did not release when the pedal lifted");
    }
}

#[test]
fn sostenuto_holds_only_the_notes_down_when_it_was_pressed() {
    // D4 held, sostenuto down, D4 up (held by the pedal); A4 played and released after: it ends.
    let events = [on(0.05, 62), cc(0.2, 0, 66, 1.0), off(0.3, 62), on(0.4, 69), off(0.6, 69), cc(1.6, 0, 66, 0.0)];
    let out = play(settings(), 2.2, &events);
    let (_, d_held) = note_peak(&out, 1.2, 62);
    let (_, a_after) = note_peak(&out, 1.2, 69);
    let (_, a_playing) = note_peak(&out, 0.41, 69);
    let (_, d_after) = note_peak(&out, 1.95, 62);
    println!("sostenuto: D4 {d_held:.1} dB held, A4 {a_playing:.1} -> {a_after:.1} dB, D4 after lift {d_after:.1} dB");
    assert!(a_playing - a_after > 20.0, "A4 was held by sostenuto");
    assert!(d_held - d_after > 20.0, "D4 did not end when sostenuto lifted");
    assert!(d_held > a_after + 20.0, "D4 not held by sostenuto");
}

#[test]
fn stealing_a_voice_never_clicks() {
    // Two voices, a third note: the quietest held voice is stolen (faded out, then reused).
    let settings = InstrumentSettings { voices: 2, ..settings() };
    // The reference: the largest step of each pair of notes the phrase holds, started together
    // on free voices (attack and decay included: a steal is a note start).
    let steady = [[60, 67], [67, 72], [58, 59]]
        .iter()
        .map(|pair| max_step(&play(settings, 1.0, &[on(0.0, pair[0]), on(0.0, pair[1])])))
        .fold(0.0, f32::max);
    let mut events = vec![on(0.0, 60), on(0.0, 67), on(0.6, 72)];
    // And a burst: 12 notes in 60 ms on two voices.
    events.extend((0..12).map(|i| on(1.0 + i as f32 * 0.005, 48 + i)));
    let out = play(settings, 1.6, &events);
    let from = (0.3 * SR) as usize;
    let during = max_step(&out[from..]);
    let at = out[from..].windows(2).position(|w| (w[1] - w[0]).abs() == during).unwrap_or(0) + from;
    println!("stealing: largest step {during:.5} at {:.4} s; steady pairs {steady:.5}", at as f32 / SR);
    assert!(during <= steady * 1.05, "a steal stepped {during} (steady {steady})");
    // The stolen voice now plays the new note.
    let (hz, _) = note_peak(&out, 0.75, 72);
    assert!(cents(hz, midi_hz(72.0)).abs() < 5.0, "the stolen voice plays {hz:.1} Hz");
}

#[test]
fn mpe_bend_and_pressure_move_only_their_note() {
    // Configuration Message: RPN 6 on the manager channel (1) = 15 member channels.
    let mut events = vec![cc(0.0, 0, 101, 0.0), cc(0.0, 0, 100, 6.0 / 127.0), cc(0.0, 0, 6, 15.0 / 127.0)];
    let note_on = |at: f32, channel: u8, note: u8| TimedEvent {
        at: (at * SR) as usize,
        channel,
        event: InstrumentEvent::NoteOn { note, velocity: 0.7 },
    };
    events.push(note_on(0.05, 1, 60));
    events.push(note_on(0.05, 2, 67));
    // A bend sent before its note (as MPE controllers do for the initial pitch): G3 starts at A3.
    events.push(TimedEvent {
        at: (0.04 * SR) as usize,
        channel: 3,
        event: InstrumentEvent::PitchBend { value: 2.0 / 48.0 },
    });
    events.push(note_on(0.05, 3, 55));
    // Channel 2's note bends +1 semitone (48-semitone range: 1/48 of full scale) at 0.7 s...
    let bend = 1.0 / 48.0;
    events.push(TimedEvent { at: (0.7 * SR) as usize, channel: 1, event: InstrumentEvent::PitchBend { value: bend } });
    // ...and channel 3's note gets full pressure at 1.3 s (louder than its velocity).
    events.push(TimedEvent {
        at: (1.3 * SR) as usize,
        channel: 2,
        event: InstrumentEvent::ChannelPressure { value: 1.0 },
    });
    events.sort_by_key(|e| e.at);
    let out = play(settings(), 1.9, &events);

    let (c_before, c_db_before) = note_peak(&out, 0.4, 60);
    let (g_before, g_db_before) = note_peak(&out, 0.4, 67);
    let (a3, _) = note_peak(&out, 0.4, 57);
    println!("G3 with a +2 st bend sent before it: {a3:.2} Hz");
    assert!(cents(a3, midi_hz(57.0)).abs() < 10.0, "the pre-note bend was lost: {a3:.2} Hz");
    let (c_bent, _) = note_peak(&out, 1.0, 61);
    let (g_after_bend, _) = note_peak(&out, 1.0, 67);
    println!("before: {c_before:.2} / {g_before:.2} Hz; after the bend: {c_bent:.2} / {g_after_bend:.2} Hz");
    assert!(cents(c_bent, midi_hz(61.0)).abs() < 10.0, "the bent note plays {c_bent:.2} Hz, not C#4");
    assert!(cents(g_after_bend, midi_hz(67.0)).abs() < 5.0, "the other note moved to {g_after_bend:.2} Hz");
    let (_, c_db_after) = note_peak(&out, 1.6, 61);
    let (_, g_db_after) = note_peak(&out, 1.6, 67);
    println!("pressure on G4's channel: G4 {g_db_before:.1} -> {g_db_after:.1} dB, C4 {c_db_before:.1} -> {c_db_after:.1} dB");
    assert!(g_db_after - g_db_before > 3.0, "pressure did not make its note louder");
    assert!(
        (c_db_after - c_db_before).abs() < 1.5,
        "pressure on another channel changed C4 by {:.1} dB",
        c_db_after - c_db_before
    );
}

#[test]
fn a_note_expression_moves_only_its_note() {
    let tuning = TimedEvent::new(
        (0.7 * SR) as usize,
        InstrumentEvent::NoteExpression { note: 64, expression: NoteExpression::Tuning, value: 0.5 },
    );
    let out = play(settings(), 1.3, &[on(0.05, 60), on(0.05, 64), tuning]);
    let (c, _) = note_peak(&out, 1.0, 60);
    let (e, _) = note_peak(&out, 1.0, 64);
    let expected_e = midi_hz(64.5);
    println!("tuning +0.5 st on E4: C4 {c:.2} Hz, E4 {e:.2} Hz (expected {expected_e:.2})");
    assert!(cents(e, expected_e).abs() < 5.0, "E4 tuned to {e:.2} Hz");
    assert!(cents(c, midi_hz(60.0)).abs() < 5.0, "C4 moved to {c:.2} Hz");
}

#[test]
fn detached_notes_start_on_pitch_in_both_modes() {
    // A phrase of detached notes, 150 ms rests while the last note's release still sounds: the
    // scoop the old mono instrument had (a glide from the previous note) must be gone.
    for mode in [VoiceMode::Poly, VoiceMode::Mono] {
        let notes = [62u8, 67, 60, 65, 69];
        let mut events = Vec::new();
        for (i, &n) in notes.iter().enumerate() {
            let t = 0.05 + i as f32 * 0.5;
            events.push(on(t, n));
            events.push(off(t + 0.35, n));
        }
        let out = play(InstrumentSettings { mode, ..settings() }, 2.7, &events);
        for (i, &n) in notes.iter().enumerate() {
            let onset = (0.05 + i as f32 * 0.5 + 0.03) * SR;
            let w = &out[onset as usize..onset as usize + (0.04 * SR) as usize];
            let hz = peak_near(w, f64::from(SR), midi_hz(f64::from(n)), 100.0, FFT).0;
            let error = cents(hz, midi_hz(f64::from(n)));
            println!("{mode:?}: note {n} 30-70 ms after its onset: {error:+.2} cents");
            assert!(error.abs() < 5.0, "{mode:?}: note {n} is {error:+.1} cents off 30 ms in");
        }
    }
}

#[test]
fn a_mono_legato_glide_arrives_in_its_set_time() {
    let glide_ms = 120.0;
    let settings = InstrumentSettings { mode: VoiceMode::Mono, glide_ms, ..settings() };
    let out = play(settings, 1.2, &[on(0.05, 60), on(0.6, 67), off(0.62, 60)]);
    // From the glide's end on, the pitch is G4.
    let arrived = 0.6 + glide_ms / 1000.0;
    let w = &out[(arrived * SR) as usize..((arrived + 0.04) * SR) as usize];
    let hz = peak_near(w, f64::from(SR), midi_hz(67.0), 300.0, FFT).0;
    println!("glide of {glide_ms} ms: {:+.2} cents at its end", cents(hz, midi_hz(67.0)));
    assert!(cents(hz, midi_hz(67.0)).abs() < 5.0, "not arrived after {glide_ms} ms: {hz:.2} Hz");
    // Halfway it is between the notes.
    let mid = 0.6 + glide_ms / 2000.0 - 0.01;
    let w = &out[(mid * SR) as usize..((mid + 0.02) * SR) as usize];
    let hz = peak_near(w, f64::from(SR), midi_hz(63.5), 350.0, FFT).0;
    assert!(hz > midi_hz(61.0) && hz < midi_hz(66.0), "mid-glide {hz:.1} Hz");
    // "Always" glides into detached notes too.
    let always = InstrumentSettings { glide_mode: GlideMode::Always, ..settings };
    let out = play(always, 1.2, &[on(0.05, 60), off(0.3, 60), on(0.6, 67)]);
    let w = &out[((0.6 + 0.03) * SR) as usize..((0.6 + 0.05) * SR) as usize];
    let hz = peak_near(w, f64::from(SR), midi_hz(63.5), 500.0, FFT).0;
    assert!(hz < midi_hz(66.0), "glide 'always' did not glide: {hz:.1} Hz 30 ms in");
}

/// A busy phrase on 8 voices: chords, a pedal, MPE bends, stealing.
fn busy_phrase() -> Vec<TimedEvent> {
    let mut events = vec![cc(0.0, 0, 64, 1.0)];
    for i in 0..24u8 {
        let t = 0.01 + f32::from(i) * 0.02;
        events.push(TimedEvent {
            at: (t * SR) as usize,
            channel: i % 4,
            event: InstrumentEvent::NoteOn { note: 48 + i * 2, velocity: 0.5 },
        });
        events.push(TimedEvent {
            at: ((t + 0.15) * SR) as usize,
            channel: i % 4,
            event: InstrumentEvent::NoteOff { note: 48 + i * 2 },
        });
    }
    events.push(cc(0.3, 0, 64, 0.0));
    events.push(TimedEvent::new((0.35 * SR) as usize, InstrumentEvent::PitchBend { value: -0.3 }));
    events.push(cc(0.4, 0, 1, 0.8));
    events.sort_by_key(|e| e.at);
    events
}

#[test]
fn random_block_sizes_with_eight_voices_equal_one_pass() {
    let events = busy_phrase();
    let total = (0.8 * SR) as usize;
    let model = Arc::new(Model::embedded_default());
    let mut one = vec![0.0; total];
    Instrument::new(model.clone(), SR, settings()).process(events.iter().copied(), &mut [&mut one[..]]);
    let mut split = vec![0.0; total];
    let mut inst = Instrument::new(model, SR, settings());
    let mut rng = TestRng(7);
    let mut pos = 0;
    while pos < total {
        let end = (pos + rng.range(1, 2048)).min(total);
        let block = events.iter().filter(|e| e.at >= pos && e.at < end).map(|e| TimedEvent { at: e.at - pos, ..*e });
        inst.process(block, &mut [&mut split[pos..end]]);
        pos = end;
    }
    let worst = one.iter().zip(&split).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(rms(&one) > 1e-3, "the phrase must sound");
    assert!(worst <= 1e-6, "random blocks differ from one pass by {worst:e}");
}

#[test]
fn thirty_two_voices_and_bad_input_never_allocate_and_stay_finite() {
    let settings = InstrumentSettings { voices: MAX_VOICES, mpe: true, ..settings() };
    let mut inst = Instrument::new(Arc::new(Model::embedded_default()), SR, settings);
    let mut events = Vec::with_capacity(1024);
    // 128 notes at once on 32 voices, repeated note-ons, note-offs without note-ons, MPE
    // messages on every channel, NaN everywhere, then all-notes-off and all-sound-off.
    for note in 0..128u8 {
        events.push(TimedEvent { at: 10, channel: note % 16, event: InstrumentEvent::NoteOn { note, velocity: 1.0 } });
    }
    for ch in 0..16u8 {
        events.push(TimedEvent { at: 500, channel: ch, event: InstrumentEvent::PitchBend { value: f32::NAN } });
        events.push(TimedEvent {
            at: 500,
            channel: ch,
            event: InstrumentEvent::ChannelPressure { value: f32::INFINITY },
        });
        events.push(cc(0.0, ch, 74, f32::NAN));
        events.push(TimedEvent {
            at: 600,
            channel: ch,
            event: InstrumentEvent::NoteOn { note: 60, velocity: f32::NAN },
        });
        events.push(TimedEvent { at: 600, channel: ch, event: InstrumentEvent::NoteOff { note: 127 - ch } });
    }
    events.push(TimedEvent::new(
        700,
        InstrumentEvent::NoteExpression { note: 5, expression: NoteExpression::Tuning, value: f32::NAN },
    ));
    events.push(TimedEvent::new(
        700,
        InstrumentEvent::NoteExpression { note: 6, expression: NoteExpression::Volume, value: 1e30 },
    ));
    events.push(TimedEvent::new(800, InstrumentEvent::NoteOn { note: 200, velocity: 0.5 }));
    events.push(cc(0.5, 0, 123, 1.0));
    events.push(cc(0.5, 0, 120, 1.0));
    events.sort_by_key(|e| e.at);
    let mut out = vec![0.0f32; SR as usize];
    let ((), allocations) = allocations_in(|| {
        for (i, block) in out.chunks_mut(256).enumerate() {
            let start = i * 256;
            let block_events = events
                .iter()
                .filter(|e| e.at >= start && e.at < start + 256)
                .map(|e| TimedEvent { at: e.at - start, ..*e });
            inst.process(block_events, &mut [block]);
        }
    });
    assert_eq!(allocations, 0, "allocator calls with 32 voices and hostile input");
    assert!(out.iter().all(|v| v.is_finite()), "non-finite output");
    assert!(rms(&out[(0.01 * SR) as usize..(0.4 * SR) as usize]) > 1e-3, "the notes must sound");
    // All sound off: silent within a few ms, no voice left running.
    assert!(rms(&out[(0.52 * SR) as usize..]) < 1e-6, "still sounding after CC120");
    assert_eq!(inst.voice_activity(), 0, "voices still running after all-sound-off");
}

#[test]
fn finished_voices_stop_running() {
    let mut inst = Instrument::new(Arc::new(Model::embedded_default()), SR, settings());
    let mut out = vec![0.0; (0.1 * SR) as usize];
    for note in CHORD {
        inst.handle(InstrumentEvent::NoteOn { note, velocity: 0.8 });
    }
    inst.render(&mut out);
    assert_eq!(inst.voice_activity().count_ones(), 4);
    for note in CHORD {
        inst.handle(InstrumentEvent::NoteOff { note });
    }
    let mut tail = vec![0.0; (0.5 * SR) as usize];
    inst.render(&mut tail);
    // Release (250 ms) and the idle gate (5 ms): every voice has stopped, the output is silence.
    assert_eq!(inst.voice_activity(), 0, "voices still running after their release");
    assert!(tail[(0.3 * SR) as usize..].iter().all(|&v| v == 0.0));
}

#[test]
fn batched_inference_plays_exactly_what_voice_by_voice_plays() {
    // Chords of up to 8 voices at 44.1 kHz (176.4 samples a frame: the grid's rounding matters),
    // notes starting between grid samples, stealing, a pedal: the model steps of the voices whose
    // frames start together run as one batch, and the output must not change by a bit.
    let model = Arc::new(Model::embedded_default());
    let sr = 44_100.0;
    let mut events = busy_phrase();
    events.iter_mut().for_each(|e| e.at = (e.at as f32 * sr / SR) as usize + 3);
    let total = (0.8 * sr) as usize;
    let render = |batched: bool| {
        let mut inst = Instrument::new(model.clone(), sr, settings());
        inst.set_batched_inference(batched);
        let mut out = vec![0.0; total];
        inst.process(events.iter().copied(), &mut [&mut out[..]]);
        (out, inst.batched_frames())
    };
    let ((batched, in_batches), (alone, none)) = (render(true), render(false));
    println!("{in_batches} voice frames ran in batches");
    assert!(rms(&alone) > 1e-3);
    assert_eq!(none, 0);
    // 0.8 s at 250 frames/s with up to 8 voices sounding: most frames of most voices batched.
    assert!(in_batches > 500, "only {in_batches} voice frames ran in batches");
    let first = batched.iter().zip(&alone).position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(first, None, "batched inference differs from voice-by-voice from sample {first:?}");
}
