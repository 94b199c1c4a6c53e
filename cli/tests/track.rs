//! `ddsp track`: a generated two-note stereo WAV through the real-time tracker: header, one row per
//! 1 ms hop, time stamps, pitch in cents; a damaged file is a one-line error.

mod common;

use common::{cents, ddsp};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    common::tmp("track", name)
}

#[test]
fn tracks_a_two_note_stereo_wav_with_visible_delay() {
    let sr = 44_100u32;
    let wav = tmp("two-notes.wav");
    let spec =
        hound::WavSpec { channels: 2, sample_rate: sr, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    let mut phase = 0.0f64;
    for i in 0..sr as usize {
        let hz = if i < sr as usize / 2 { 220.0 } else { 330.0 };
        phase = (phase + hz / f64::from(sr)).fract();
        let p = std::f64::consts::TAU * phase;
        let v: f64 = (1..=20).map(|k| (k as f64 * p).sin() / k as f64).sum::<f64>() * 0.2;
        // Left and right differ in level only: the fold to mono keeps the pitch.
        writer.write_sample((v * 32767.0) as i16).unwrap();
        writer.write_sample((0.5 * v * 32767.0) as i16).unwrap();
    }
    writer.finalize().unwrap();

    let csv = tmp("two-notes.csv");
    let run = ddsp(&["track", wav.to_str().unwrap(), "-o", csv.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "time_s,f0_hz,confidence,voiced,loudness_db");
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    // 1 ms hops (44 samples at 44.1 kHz): one row each, time stamps strictly increasing.
    assert_eq!(rows.len(), sr as usize / 44);
    assert!(rows.windows(2).all(|w| (w[1][0] - w[0][0] - 44.0 / 44_100.0).abs() < 1e-6));
    for (from, to, hz) in [(0.1, 0.5, 220.0), (0.6, 1.0, 330.0)] {
        for row in rows.iter().filter(|r| r[0] > from && r[0] < to) {
            assert_eq!(row[3], 1.0, "voiced at {}", row[0]);
            assert!(cents(row[1], hz).abs() < 5.0, "{} Hz at {} s", row[1], row[0]);
            assert!(row[4] > -40.0 && row[4] < 20.0, "loudness {}", row[4]);
        }
    }
    // The new note shows up after the change, by the tracker's delay, not before.
    let switch = rows.iter().find(|r| r[0] > 0.5 && cents(r[1], 330.0).abs() < 50.0).unwrap()[0];
    println!("note change at 0.500 s seen at {switch:.4} s");
    assert!(switch > 0.5 && switch < 0.515, "{switch}");
}

#[test]
fn a_damaged_wav_is_a_one_line_error_and_leaves_no_file() {
    let bad = tmp("bogus.wav");
    std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEfmt nonsense").unwrap();
    let out = tmp("never.csv");
    let run = ddsp(&["track", bad.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bogus.wav"), "{stderr}");
    assert!(!out.exists() && !out.with_extension("csv.partial").exists());
}

/// (on s, off s, key, bend in semitones held through the note; the bend range is ±2).
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

/// The phrase as a MIDI file at 120 BPM (960 ticks a second).
fn phrase_midi() -> Vec<u8> {
    use midly::num::{u15, u4, u7};
    use midly::{Format, Header, MetaMessage, MidiMessage, PitchBend, Smf, Timing, TrackEvent, TrackEventKind};
    let tick = |s: f64| (s * 960.0).round() as u32;
    let midi = |message| TrackEventKind::Midi { channel: u4::new(0), message };
    let mut timed = Vec::new();
    for &(on, off, key, bend) in &PHRASE {
        timed.push((tick(on) - 20, midi(MidiMessage::PitchBend { bend: PitchBend::from_f32((bend / 2.0) as f32) })));
        timed.push((tick(on), midi(MidiMessage::NoteOn { key: u7::new(key), vel: u7::new(100) })));
        timed.push((tick(off), midi(MidiMessage::NoteOff { key: u7::new(key), vel: u7::new(64) })));
    }
    let mut track =
        vec![TrackEvent { delta: 0.into(), kind: TrackEventKind::Meta(MetaMessage::Tempo(500_000.into())) }];
    let mut last = 0;
    for (t, kind) in timed {
        track.push(TrackEvent { delta: (t - last).into(), kind });
        last = t;
    }
    track.push(TrackEvent { delta: 0.into(), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) });
    let smf = Smf { header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(480))), tracks: vec![track] };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).unwrap();
    bytes
}

/// Notes of a MIDI file written at 120 BPM: (on s, off s, key, bend in semitones at ±`range`
/// halfway through the note), on any channel.
fn read_notes(bytes: &[u8], range: f64) -> Vec<(f64, f64, u8, f64)> {
    use midly::{MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};
    let smf = Smf::parse(bytes).unwrap();
    let Timing::Metrical(tpb) = smf.header.timing else { panic!("timecode timing") };
    let seconds_per_tick = 0.5 / f64::from(tpb.as_int());
    let mut events = Vec::new();
    let mut ticks = 0u64;
    for e in &smf.tracks[0] {
        ticks += u64::from(e.delta.as_int());
        let t = ticks as f64 * seconds_per_tick;
        match e.kind {
            TrackEventKind::Meta(MetaMessage::Tempo(us)) => assert_eq!(us.as_int(), 500_000),
            TrackEventKind::Midi { channel, message } => events.push((t, channel.as_int(), message)),
            _ => {}
        }
    }
    let mut notes = Vec::new();
    for (i, &(on, channel, message)) in events.iter().enumerate() {
        let MidiMessage::NoteOn { key, vel } = message else { continue };
        assert!(vel.as_int() > 0);
        let off = events[i..]
            .iter()
            .find(|(_, c, m)| *c == channel && matches!(m, MidiMessage::NoteOff { key: k, .. } if *k == key))
            .expect("every note on has its note off")
            .0;
        let middle = (on + off) / 2.0;
        let bend = events
            .iter()
            .filter(|(t, c, m)| *t <= middle && *c == channel && matches!(m, MidiMessage::PitchBend { .. }))
            .filter_map(|(_, _, m)| if let MidiMessage::PitchBend { bend } = m { Some(bend.as_f64()) } else { None })
            .last()
            .unwrap_or(0.0);
        notes.push((on, off, key.as_int(), bend * range));
    }
    notes
}

#[test]
fn track_midi_gives_back_the_notes_of_a_rendered_phrase() {
    let mid = tmp("phrase.mid");
    std::fs::write(&mid, phrase_midi()).unwrap();
    let wav = tmp("phrase.wav");
    // One voice, as a player or singer plays into the effect (poly, a note's release overlaps the
    // next note: a chord the tracker cannot follow).
    let run = ddsp(&["render", mid.to_str().unwrap(), "-o", wav.to_str().unwrap(), "--master", "off", "--mono"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let out = tmp("phrase-out.mid");
    let run = ddsp(&["track", wav.to_str().unwrap(), "--midi", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    println!("{}", String::from_utf8_lossy(&run.stdout));
    let notes = read_notes(&std::fs::read(&out).unwrap(), 2.0);
    assert_eq!(notes.iter().map(|n| n.2).collect::<Vec<_>>(), PHRASE.map(|p| p.2), "{notes:?}");
    for (i, (&(on, off, key, bend), &(src_on, src_off, _, src_bend))) in notes.iter().zip(&PHRASE).enumerate() {
        let (onset_ms, offset_ms) = (1e3 * (on - src_on), 1e3 * (off - src_off));
        let bend_cents = 100.0 * (bend - src_bend);
        println!("{key}: onset {onset_ms:+.1} ms, offset {offset_ms:+.1} ms, bend {bend_cents:+.1} cents");
        assert!(onset_ms.abs() <= 10.0, "{key}: onset {onset_ms:+.1} ms");
        // The note sounds on through the instrument's release, until the next note (mono).
        let next_on = PHRASE.get(i + 1).map_or(f64::INFINITY, |n| n.0);
        assert!(offset_ms >= 0.0 && off <= next_on + 0.01, "{key}: offset {offset_ms:+.1} ms");
        assert!(bend_cents.abs() <= 10.0, "{key}: bend {bend_cents:+.1} cents off");
    }

    // Rendered poly, each note's release sounds under the next one's start: a chord the tracker
    // reads with low confidence (often an octave or more below) for a few ms. No note comes of it.
    let poly = tmp("phrase-poly.wav");
    let run = ddsp(&["render", mid.to_str().unwrap(), "-o", poly.to_str().unwrap(), "--master", "off"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let run = ddsp(&["track", poly.to_str().unwrap(), "--midi", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let notes = read_notes(&std::fs::read(&out).unwrap(), 2.0);
    assert_eq!(notes.iter().map(|n| n.2).collect::<Vec<_>>(), PHRASE.map(|p| p.2), "{notes:?}");
    for (&(on, _, key, _), &(src_on, ..)) in notes.iter().zip(&PHRASE) {
        println!("poly {key}: onset {:+.1} ms", 1e3 * (on - src_on));
    }

    // Corrected to C major with MPE: the bent notes come back on their scale notes, in tune.
    let run = ddsp(&["track", wav.to_str().unwrap(), "--midi", out.to_str().unwrap(), "--key", "C", "--mpe"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let notes = read_notes(&std::fs::read(&out).unwrap(), 48.0);
    assert_eq!(notes.iter().map(|n| n.2).collect::<Vec<_>>(), PHRASE.map(|p| p.2));
    assert!(notes.iter().all(|n| (100.0 * n.3).abs() < 3.0), "{notes:?}");
    // Bad options are one-line errors.
    let run = ddsp(&["track", wav.to_str().unwrap(), "--midi", out.to_str().unwrap(), "--key", "H"]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--key"));
}
