//! The effect's pitch modes and live MIDI out, against the known pitches of synthetic input: a
//! detached and a legato melody come out as their notes (note on within 10 ms of each detached
//! onset, 12 ms of a legato change; bends within 10 cents of the detuning), a glide snaps to the scale in the set retune time, the
//! model plays the corrected pitch while it can hear the raw one, and bad input never leaves a
//! note hanging or allocates.

mod common;

use std::sync::Arc;

use common::*;
use ddsp_core::effect::{EffectSettings, TimbreTransfer};
use ddsp_core::tracking::correction::{self, CorrectionSettings, PitchMode};
use ddsp_core::tracking::notes::bend_semitones;
use ddsp_core::tracking::{MidiOut, MidiOutMode, MidiOutSettings};
use ddsp_core::Model;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SR: f32 = 48_000.0;
const BLOCK: usize = 480;

fn effect(settings: EffectSettings) -> TimbreTransfer {
    TimbreTransfer::new(Arc::new(Model::embedded_default()), SR, settings)
}

/// A band-limited saw whose pitch (MIDI note number, fractional; `None`: silence) is `pitch(t_s)`,
/// with 5 ms fades at each start and end so onsets are clean.
fn tone(seconds: f64, pitch: impl Fn(f64) -> Option<f64>) -> Vec<f32> {
    shaped_tone(seconds, pitch, |_| 1.0)
}

/// [`tone`] with its amplitude scaled by `gain(t_s)`.
fn shaped_tone(seconds: f64, pitch: impl Fn(f64) -> Option<f64>, gain: impl Fn(f64) -> f64) -> Vec<f32> {
    let n = (seconds * f64::from(SR)) as usize;
    let (mut phase, mut level) = (0.0f64, 0.0f64);
    let fade = 1.0 / (0.005 * f64::from(SR));
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(SR);
            let target = if pitch(t).is_some() { 1.0 } else { 0.0 };
            level += (target - level).clamp(-fade, fade);
            let hz = midi_hz(pitch(t).unwrap_or(60.0));
            phase = (phase + hz / f64::from(SR)).fract();
            let p = std::f64::consts::TAU * phase;
            let harmonics = (20_000.0 / hz) as usize;
            let v: f64 = (1..=harmonics.min(40)).map(|k| (k as f64 * p).sin() / k as f64).sum();
            (0.3 * level * gain(t) * v) as f32
        })
        .collect()
}

/// Runs `input` through `fx` in blocks as a host does, draining MIDI out after each: the messages
/// at their absolute sample, and the output.
fn play(fx: &mut TimbreTransfer, input: &[f32]) -> (Vec<(usize, MidiOut)>, Vec<f32>) {
    let mut out = vec![0.0; input.len()];
    let mut events = Vec::new();
    for (start, (i, o)) in input.chunks(BLOCK).zip(out.chunks_mut(BLOCK)).enumerate() {
        fx.process(i, o);
        fx.drain_midi_out(|e| events.push((start * BLOCK + e.at, e.event)));
    }
    (events, out)
}

/// The notes in `events`: (key, on sample, off sample), checking every note on has its note off
/// on the same channel before the next note on.
fn notes(events: &[(usize, MidiOut)]) -> Vec<(u8, usize, usize)> {
    let mut notes = Vec::new();
    let mut open: Option<(u8, u8, usize)> = None;
    for &(at, e) in events {
        match e {
            MidiOut::NoteOn { channel, key, velocity } => {
                assert!(open.is_none(), "note on at {at} while {open:?} sounds");
                assert!((1.0 / 127.0..=1.0).contains(&velocity));
                open = Some((channel, key, at));
            }
            MidiOut::NoteOff { channel, key } => {
                let (c, k, on) = open.take().expect("note off without note on");
                assert_eq!((c, k), (channel, key));
                notes.push((key, on, at));
            }
            _ => {}
        }
    }
    assert!(open.is_none(), "a note was left on: {open:?}");
    notes
}

/// The played pitch (key + bend) at each sample where a note sounds, from the messages.
fn played_pitch(events: &[(usize, MidiOut)], range: f32, len: usize) -> Vec<Option<f32>> {
    let mut pitch = vec![None; len];
    let (mut key, mut bend) = (None, 0.0);
    let mut next = 0;
    for (i, p) in pitch.iter_mut().enumerate() {
        while next < events.len() && events[next].0 <= i {
            match events[next].1 {
                MidiOut::NoteOn { key: k, .. } => key = Some(k),
                MidiOut::NoteOff { .. } => key = None,
                MidiOut::PitchBend { value, .. } => bend = bend_semitones(value, range),
                MidiOut::Pressure { .. } => {}
            }
            next += 1;
        }
        *p = key.map(|k| f32::from(k) + bend);
    }
    pitch
}

#[test]
fn a_detached_melody_comes_out_as_its_notes() {
    // Eight notes of 240 ms with 80 ms rests, some detuned: (key, cents).
    let melody = [(57, 0.0), (60, 20.0), (64, -35.0), (62, 0.0), (67, 10.0), (72, -20.0), (69, 40.0), (65, 0.0)];
    let (note_s, step_s) = (0.24, 0.32);
    let input = tone(melody.len() as f64 * step_s + 0.2, |t| {
        let i = (t / step_s) as usize;
        let within = t - i as f64 * step_s;
        melody.get(i).filter(|_| within < note_s).map(|&(k, c)| f64::from(k) + c / 100.0)
    });
    let mut fx = effect(EffectSettings::default());
    let (events, _) = play(&mut fx, &input);
    let notes = notes(&events);
    let keys: Vec<u8> = notes.iter().map(|n| n.0).collect();
    assert_eq!(keys, melody.map(|m| m.0), "{notes:?}");
    let played = played_pitch(&events, 2.0, input.len());
    for (i, (&(key, cents), &(_, on, off))) in melody.iter().zip(&notes).enumerate() {
        let onset = (i as f64 * step_s * f64::from(SR)) as usize;
        let late_ms = (on as f64 - onset as f64) * 1e3 / f64::from(SR);
        eprintln!("note {key} {cents:+} cents: on {late_ms:.1} ms after its onset");
        assert!((0.0..=10.0).contains(&late_ms), "note {key}: on {late_ms:.1} ms after its onset");
        let ends_ms = (off as f64 - onset as f64) * 1e3 / f64::from(SR) - note_s * 1e3;
        // mir_eval's offset tolerance is 50 ms (or a fifth of the note).
        assert!((0.0..=50.0).contains(&ends_ms), "note {key}: off {ends_ms:.1} ms after its end");
        // The bend in the middle of the note says its detuning.
        let middle = played[onset + (note_s / 2.0 * f64::from(SR)) as usize].unwrap();
        let error_cents = 100.0 * (middle - f32::from(key)) - cents as f32;
        assert!(error_cents.abs() < 10.0, "note {key} {cents:+} cents: bent to {error_cents:+.1} cents off");
    }
}

#[test]
fn repeated_notes_are_new_notes_and_a_swell_or_a_tremolo_is_not() {
    // One key (D4) re-attacked four times without going silent: each note's last 60 ms fall to
    // -20 dB (a release under the next note, as a sample's fills a short gap), then the next
    // attack rises in 5 ms. The tracker stays voiced throughout.
    let (note_s, dip_s) = (0.3, 0.06);
    let attack = |t: f64| {
        let within = t % note_s;
        let fall = ((within - (note_s - dip_s)) / 0.01).clamp(0.0, 1.0); // 10 ms down to -20 dB
        let rise = (within / 0.005).min(1.0);
        let low = 10f64.powf(-20.0 / 20.0);
        if t < note_s {
            1.0 - fall * (1.0 - low)
        } else {
            low + (1.0 - low) * rise - fall * (1.0 - low) * rise
        }
    };
    let input = shaped_tone(4.0 * note_s + 0.1, |t| (t < 4.0 * note_s).then_some(62.0), attack);
    let mut fx = effect(EffectSettings::default());
    let sent = notes(&play(&mut fx, &input).0);
    let late_ms: Vec<f64> =
        sent.iter().enumerate().map(|(i, n)| (n.1 as f64 / f64::from(SR) - i as f64 * note_s) * 1e3).collect();
    eprintln!("re-attacked D4: {} notes, on {late_ms:.1?} ms after each attack", sent.len());
    assert_eq!(sent.iter().map(|n| n.0).collect::<Vec<_>>(), [62; 4], "{sent:?}");
    assert!(late_ms.iter().all(|ms| (0.0..=12.0).contains(ms)), "{late_ms:.1?}");

    // A swell (+20 dB over a second, then back) and a tremolo (±3 dB at 6 Hz): one note each.
    let swell = |t: f64| 10f64.powf((-20.0 + 20.0 * (1.0 - (t - 1.0).abs())) / 20.0);
    let tremolo = |t: f64| 10f64.powf(3.0 * (std::f64::consts::TAU * 6.0 * t).sin() / 20.0);
    for (name, gain) in [("swell", &swell as &dyn Fn(f64) -> f64), ("tremolo", &tremolo)] {
        let input = shaped_tone(2.1, |t| (t < 2.0).then_some(62.0), gain);
        let mut fx = effect(EffectSettings::default());
        let sent = notes(&play(&mut fx, &input).0);
        assert_eq!(sent.len(), 1, "{name}: {sent:?}");
    }
}

#[test]
fn a_legato_melody_changes_note_within_12_ms() {
    let melody = [60, 62, 64, 65, 67, 65, 64, 62, 60, 67, 60];
    let step_s = 0.2;
    let input = tone(melody.len() as f64 * step_s + 0.1, |t| melody.get((t / step_s) as usize).map(|&k| f64::from(k)));
    for mode in [MidiOutMode::Mono, MidiOutMode::Mpe] {
        let midi_out = MidiOutSettings { mode, ..MidiOutSettings::default() };
        let mut fx = effect(EffectSettings { midi_out, ..EffectSettings::default() });
        let (events, _) = play(&mut fx, &input);
        let notes = notes(&events);
        assert_eq!(notes.iter().map(|n| n.0).collect::<Vec<_>>(), melody, "{mode:?}");
        let late_ms: Vec<f64> = notes
            .iter()
            .enumerate()
            .map(|(i, &(_, on, _))| (on as f64 - i as f64 * step_s * f64::from(SR)) * 1e3 / f64::from(SR))
            .collect();
        eprintln!("{mode:?}: note changes {late_ms:.1?} ms after they are played");
        assert!(late_ms.iter().all(|ms| (0.0..=12.0).contains(ms)), "{mode:?}: {late_ms:.1?}");
        if mode == MidiOutMode::Mpe {
            // Each note on its own member channel, in turn.
            let channels: Vec<u8> = events
                .iter()
                .filter_map(|(_, e)| if let MidiOut::NoteOn { channel, .. } = e { Some(*channel) } else { None })
                .collect();
            assert_eq!(channels, (1..=melody.len() as u8).collect::<Vec<_>>());
        }
    }
}

#[test]
fn scale_correction_snaps_a_glide_to_the_scale_in_the_retune_time() {
    // A3 up to A4 at one semitone per second; C major, 30 ms retune time. (A faster glide makes
    // the held note lag by `rate · retune time / 3`: 1 cent here.)
    let (from, rate, seconds) = (57.0, 1.0, 12.0);
    let input = tone(seconds + 0.3, |t| (t < seconds).then(|| from + rate * t));
    let retune_ms = 30.0;
    let pitch = CorrectionSettings {
        mode: PitchMode::Scale,
        scale: correction::MAJOR,
        retune_ms,
        ..CorrectionSettings::default()
    };
    let mut fx = effect(EffectSettings { pitch, ..EffectSettings::default() });
    let (events, _) = play(&mut fx, &input);
    let scale = [57u8, 59, 60, 62, 64, 65, 67, 69];
    let keys: Vec<u8> = notes(&events).iter().map(|n| n.0).collect();
    assert_eq!(keys, scale, "the scale's notes, in order");
    let played = played_pitch(&events, 2.0, input.len());
    let ms = |samples: usize| samples as f32 * 1e3 / SR;
    // An exponential glide takes ln(20) − ln(1/0.95) time constants from 5 % to 95 % of its way;
    // the retune time is ln(20) of them.
    let expected_ms = retune_ms * (1.0 - (1.0 / 0.95f32).ln() / 20.0f32.ln());
    let mut i = (0.05 * SR) as usize;
    for pair in scale.windows(2) {
        let (a, b) = (f32::from(pair[0]), f32::from(pair[1]));
        let step = b - a;
        let left = (i..played.len()).find(|&j| played[j].is_some_and(|p| p > a + 0.05 * step)).unwrap();
        // Until then the note holds, in tune, while the input glides on.
        for p in played[i..left].iter().step_by(48) {
            let p = p.expect("a note sounds");
            assert!((p - a).abs() < 0.02, "{a} held at {:.1} cents", 100.0 * (p - a));
        }
        let arrived = (left..played.len()).find(|&j| played[j].is_some_and(|p| p >= b - 0.05 * step)).unwrap();
        let took = ms(arrived - left);
        eprintln!("{a} to {b}: 5 % to 95 % of the way in {took:.1} ms (expected {expected_ms:.1})");
        assert!(
            (took - expected_ms).abs() < 3.0,
            "{a} to {b} at {:.0} ms: took {took:.1} ms, expected {expected_ms:.1}",
            ms(left)
        );
        // Two retune times on, the rest of the way (0.25 %) is gone too.
        i = arrived + (2.0 * retune_ms * 1e-3 * SR) as usize;
    }
}

#[test]
fn the_model_plays_the_corrected_pitch_and_can_hear_the_raw_one() {
    // A4 sung 30 cents sharp, corrected at once to A4.
    let input = tone(1.5, |_| Some(69.3));
    let pitch = CorrectionSettings { mode: PitchMode::Scale, retune_ms: 0.0, ..CorrectionSettings::default() };
    let hears_raw = EffectSettings { pitch, model_hears_corrected: false, ..EffectSettings::default() };
    let mut fx = effect(hears_raw);
    let (_, out) = play(&mut fx, &input);
    let f0 = peak_frequency_hz(&out[24_000..], f64::from(SR), 1 << 17);
    let f0 = f0 / (f0 / 440.0).round();
    assert!(cents(f0, 440.0).abs() < 2.0, "plays {f0:.2} Hz");
    // The model hears what it hears with correction off (the reference): the same controls.
    let mut reference = effect(EffectSettings::default());
    play(&mut reference, &input);
    assert_eq!(fx.voice().controls(), reference.voice().controls());
    // Hearing the corrected pitch instead changes them.
    let mut corrected = effect(EffectSettings { model_hears_corrected: true, ..hears_raw });
    play(&mut corrected, &input);
    assert_ne!(corrected.voice().controls(), reference.voice().controls());
}

#[test]
fn bad_input_leaves_no_note_on_and_allocates_nothing() {
    let n = 48_000;
    let mut rng = TestRng(7);
    let mut input = tone(1.0, |t| Some(60.0 + 12.0 * (t * 3.0).fract()));
    // Silence, DC, clipping, noise only, two notes at once, NaN, infinities and denormals.
    input[4_800..9_600].fill(0.0);
    input[9_600..14_400].fill(0.5);
    input[14_400..19_200].iter_mut().for_each(|v| *v = (*v * 40.0).clamp(-1.0, 1.0));
    input[19_200..24_000].iter_mut().for_each(|v| *v = rng.unit() - 0.5);
    let chord = tone(0.1, |_| Some(67.0));
    input[24_000..28_800].iter_mut().zip(&chord).for_each(|(v, c)| *v += c);
    input[28_800..33_600].iter_mut().enumerate().for_each(|(i, v)| {
        *v = [f32::NAN, f32::INFINITY, 1e-40, *v][i % 4];
    });
    for mode in [MidiOutMode::Mono, MidiOutMode::Mpe] {
        let midi_out = MidiOutSettings { mode, ..MidiOutSettings::default() };
        let mut fx = effect(EffectSettings { midi_out, ..EffectSettings::default() });
        let mut out = vec![0.0; n];
        let mut events = Vec::with_capacity(100_000);
        let ((), allocations) = allocations_in(|| {
            for (i, o) in input.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
                fx.process(i, o);
                fx.drain_midi_out(|e| events.push(e.event));
            }
        });
        assert_eq!(allocations, 0);
        assert!(out.iter().all(|v| v.is_finite()));
        // The voice sounds at the end (the last tone is still on): a reset ends its note.
        fx.reset();
        fx.drain_midi_out(|e| events.push(e.event));
        let timed: Vec<(usize, MidiOut)> = events.iter().map(|&e| (0, e)).collect();
        assert!(!notes(&timed).is_empty());
    }
}
