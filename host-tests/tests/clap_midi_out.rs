//! The effect's live MIDI out through the built `.clap`: a phrase whose MIDI is known (notes,
//! detuning bends) is played by the instrument plugin of the same bundle, its audio goes through
//! the effect, and the notes the effect sends to the host come back: the same keys, note on within
//! 10 ms of each onset (once the host moves them by the reported latency, as delay compensation
//! does), bends within 10 cents, every note on with its note off; with MPE, a channel per note.

use host_tests::{instrument_bundle, run_clap, OutputEvent, Session, TimedEvent, INSTRUMENT_ID};

const EFFECT_ID: &str = "dev.ddsp-instrument.effect";
const SR: f64 = 48_000.0;
const BLOCK: usize = 480;

/// (on s, off s, key, bend in semitones at the instrument's ±2 range, held through the note).
const PHRASE: [(f64, f64, u8, f64); 8] = [
    (0.25, 0.55, 60, 0.0),
    (0.70, 1.00, 64, 0.25),
    (1.15, 1.45, 67, 0.0),
    (1.60, 1.90, 72, -0.40),
    (2.05, 2.35, 69, 0.0),
    (2.50, 2.80, 65, 0.0),
    (2.95, 3.25, 62, 0.15),
    (3.40, 3.70, 60, 0.0),
];
const SECONDS: f64 = 4.5;

fn sample(s: f64) -> usize {
    (s * SR).round() as usize
}

/// The phrase played by the instrument in mono (one voice, as a player plays into the effect).
fn phrase_audio() -> Vec<f32> {
    let mut session = Session::new(SR, BLOCK, SECONDS);
    session.params = vec![("Voice Mode".into(), "Mono".into())];
    for &(on, off, key, bend) in &PHRASE {
        let value = (8192.0 + bend / 2.0 * 8192.0).round().clamp(0.0, 16383.0) as u16;
        let bytes = [0xE0, (value & 0x7F) as u8, (value >> 7) as u8];
        session.events.push(TimedEvent::Midi { at: sample(on - 0.02), bytes });
        session.events.push(TimedEvent::NoteOn { at: sample(on), key, velocity: 0.8 });
        session.events.push(TimedEvent::NoteOff { at: sample(off), key });
    }
    let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &session).unwrap();
    out.channels[0].clone()
}

/// (on sample, off sample, channel, key, bend in semitones at `range` halfway through).
fn notes(events: &[OutputEvent], range: f64) -> Vec<(usize, usize, i16, i16, f64)> {
    let mut notes = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let OutputEvent::NoteOn { at: on, channel, key, velocity } = *e else { continue };
        assert!(velocity > 0.0 && velocity <= 1.0);
        let off = events[i..]
            .iter()
            .find_map(|e| match *e {
                OutputEvent::NoteOff { at, channel: c, key: k } if c == channel && k == key => Some(at),
                _ => None,
            })
            .unwrap_or_else(|| panic!("note {key} at {on} has no note off"));
        let middle = (on + off) / 2;
        let bend = events
            .iter()
            .filter_map(|e| match *e {
                OutputEvent::Midi { at, bytes: [status, lsb, msb] }
                    if at <= middle && status == 0xE0 | channel as u8 =>
                {
                    Some((u16::from(msb) << 7 | u16::from(lsb)) as f64)
                }
                _ => None,
            })
            .last()
            .map_or(0.0, |v| (v - 8192.0) / 8192.0 * range);
        notes.push((on, off, channel, key, bend));
    }
    notes
}

#[test]
fn the_effect_sends_the_notes_of_a_played_phrase() {
    let audio = phrase_audio();
    for (mode, range) in [("On (one channel)", 2.0), ("MPE", 48.0)] {
        let mut session = Session::new(SR, BLOCK, SECONDS);
        session.input = vec![audio.clone(), audio.clone()];
        session.params = vec![("MIDI Out".into(), mode.into()), ("MIDI Out Bend Range".into(), format!("{range}"))];
        let out = run_clap(&instrument_bundle(), EFFECT_ID, &session).unwrap();
        let latency = out.latency_samples as usize;
        let notes = notes(&out.events_out, range);
        let keys: Vec<i16> = notes.iter().map(|n| n.3).collect();
        assert_eq!(keys, PHRASE.map(|p| i16::from(p.2)), "{mode}: {notes:?}");
        for (i, (&(on, off, _, key, bend), &(src_on, _, _, src_bend))) in notes.iter().zip(&PHRASE).enumerate() {
            let onset_ms = ((on - latency) as f64 - src_on * SR) * 1e3 / SR;
            let bend_cents = 100.0 * (bend - src_bend);
            println!("{mode} {key}: onset {onset_ms:+.1} ms after latency compensation, bend {bend_cents:+.1} cents");
            assert!(onset_ms.abs() <= 10.0, "{mode} {key}: onset {onset_ms:+.1} ms");
            assert!(bend_cents.abs() <= 10.0, "{mode} {key}: bend {bend_cents:+.1} cents off");
            // A note ends before the next one starts (mono), at the latest with the session.
            let next_on = notes.get(i + 1).map_or(usize::MAX, |n| n.0);
            assert!(off <= next_on, "{mode} {key} overlaps the next note");
        }
        let channels: Vec<i16> = notes.iter().map(|n| n.2).collect();
        if mode == "MPE" {
            assert_eq!(channels, (1..=8).collect::<Vec<_>>(), "a member channel per note");
        } else {
            assert!(channels.iter().all(|&c| c == 0), "{channels:?}");
        }
    }
}
