//! Polyphony and per-note expression through the built instrument .clap, loaded the way a DAW
//! loads it; and the same MIDI through the plugin and `ddsp render` (one engine, same samples).

use std::path::PathBuf;
use std::process::Command;

use host_tests::analysis::{cents, midi_hz, peak_near};
use host_tests::{instrument_bundle, run_clap, Session, TimedEvent, INSTRUMENT_ID};

const SR: f64 = 48_000.0;
/// C major seventh: no note's fundamental lies on another's harmonic.
const CHORD: [u8; 4] = [60, 64, 67, 71];

fn at(seconds: f64) -> usize {
    (seconds * SR) as usize
}

fn note_peak(x: &[f32], from_s: f64, key: u8) -> (f64, f64) {
    peak_near(&x[at(from_s)..at(from_s + 0.2)], SR, midi_hz(f64::from(key)), 50.0)
}

#[test]
fn a_four_note_chord_plays_and_a_release_removes_only_its_note() {
    let mut session = Session::new(SR, 512, 1.8);
    session.events.extend(CHORD.iter().map(|&key| TimedEvent::NoteOn { at: 100, key, velocity: 0.8 }));
    session.events.push(TimedEvent::NoteOff { at: at(1.0), key: 64 });
    let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &session).unwrap();
    let x = &out.channels[0];
    assert!(x.iter().all(|v| v.is_finite()));
    for key in CHORD {
        let (hz, held) = note_peak(x, 0.6, key);
        let (_, after) = note_peak(x, 1.5, key);
        let error = cents(hz, midi_hz(f64::from(key)));
        println!("CLAP chord: note {key} at {hz:.2} Hz ({error:+.2} cents), {held:.1} dB -> {after:.1} dB");
        assert!(error.abs() < 5.0, "note {key} plays {hz:.2} Hz");
        if key == 64 {
            assert!(held - after >= 20.0, "the released E4 fell only {:.1} dB", held - after);
        } else {
            assert!((held - after).abs() < 3.0, "note {key} changed {:.1} dB when E4 was released", after - held);
        }
    }
}

#[test]
fn a_clap_tuning_expression_moves_only_its_note() {
    let mut session = Session::new(SR, 256, 1.3);
    session.events.push(TimedEvent::NoteOn { at: 100, key: 60, velocity: 0.8 });
    session.events.push(TimedEvent::NoteOn { at: 100, key: 64, velocity: 0.8 });
    session.events.push(TimedEvent::Tuning { at: at(0.6), key: 64, semitones: 0.5 });
    let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &session).unwrap();
    let (c, _) = note_peak(&out.channels[0], 0.9, 60);
    let (e, _) = note_peak(&out.channels[0], 0.9, 64);
    println!("CLAP tuning +0.5 st on E4: C4 {c:.2} Hz, E4 {e:.2} Hz (expected {:.2})", midi_hz(64.5));
    assert!(cents(e, midi_hz(64.5)).abs() < 5.0, "E4 with +0.5 st tuning plays {e:.2} Hz");
    assert!(cents(c, midi_hz(60.0)).abs() < 5.0, "C4 moved to {c:.2} Hz");
}

/// A type-0 MIDI file at 480 ticks a quarter and the default 120 bpm: one tick is 1/960 s,
/// exactly 50 samples at 48 kHz, so both hosts see each event at the same sample.
fn midi_file(events: &[(u32, [u8; 3])]) -> Vec<u8> {
    let mut track = Vec::new();
    let mut last = 0;
    for &(tick, bytes) in events {
        let mut delta = tick - last;
        let mut vlq = vec![(delta & 0x7F) as u8];
        while delta > 0x7F {
            delta >>= 7;
            vlq.insert(0, (delta & 0x7F) as u8 | 0x80);
        }
        track.extend(vlq);
        track.extend(bytes);
        last = tick;
    }
    track.extend([0x00, 0xFF, 0x2F, 0x00]);
    let mut file = b"MThd\0\0\0\x06\0\0\0\x01\x01\xE0MTrk".to_vec();
    file.extend((track.len() as u32).to_be_bytes());
    file.extend(track);
    file
}

#[test]
fn the_plugin_and_ddsp_render_play_the_same_samples() {
    // Overlapping notes with the sustain pedal, a bend and a steal-free chord on 8 voices.
    let events: Vec<(u32, [u8; 3])> = vec![
        (10, [0x90, 60, 100]),
        (200, [0x90, 64, 90]),
        (300, [0xB0, 64, 127]),
        (400, [0x80, 60, 0]),
        (500, [0x90, 67, 80]),
        (600, [0xE0, 0x00, 0x50]),
        (800, [0xB0, 64, 0]),
        (900, [0x80, 64, 0]),
        (1000, [0x80, 67, 0]),
    ];
    let dir = std::env::temp_dir().join(format!("ddsp-same-engine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mid = dir.join("phrase.mid");
    std::fs::write(&mid, midi_file(&events)).unwrap();
    let wav = dir.join("phrase.wav");
    let ddsp = std::env::var_os("DDSP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/ddsp"));
    let status = Command::new(&ddsp)
        .args(["render", mid.to_str().unwrap(), "-o", wav.to_str().unwrap(), "--master", "off", "--bit-depth", "32f"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", ddsp.display()));
    assert!(status.success());
    let rendered: Vec<f32> = hound::WavReader::open(&wav).unwrap().samples::<f32>().map(Result::unwrap).collect();

    let seconds = rendered.len() as f64 / SR;
    let mut session = Session::new(SR, 333, seconds);
    for &(tick, bytes) in &events {
        let at = tick as usize * 50;
        session.events.push(match bytes[0] & 0xF0 {
            0x90 => TimedEvent::NoteOn { at, key: bytes[1], velocity: f64::from(bytes[2]) / 127.0 },
            0x80 => TimedEvent::NoteOff { at, key: bytes[1] },
            _ => TimedEvent::Midi { at, bytes },
        });
    }
    // Every mastering stage off: the plugin's bus then passes the engine's output unchanged.
    session.params.push(("EQ".into(), "Off".into()));
    let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &session).unwrap();
    let plugin = &out.channels[0];
    let n = plugin.len().min(rendered.len());
    let worst = plugin[..n].iter().zip(&rendered[..n]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let peak = rendered.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    println!("plugin vs ddsp render: {n} samples, largest difference {worst:e} (peak {peak:.3})");
    assert!(peak > 0.01, "the phrase must sound");
    assert!(worst <= 1e-6, "the plugin and ddsp render differ by up to {worst:e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn thirty_two_voices_and_hostile_midi_play_without_allocating() {
    // The bundle is built with `assert_process_allocs`: any allocation in process() aborts this
    // host. 40 notes on 32 voices (8 steals), the pedal, an MPE configuration and member-channel
    // bends, NaN-free garbage (note-offs without note-ons), then all-sound-off.
    let rms_db = host_tests::analysis::rms_db;
    let mut session = Session::new(SR, 128, 2.0);
    session.params.push(("Voices".into(), "32".into()));
    session.events.push(TimedEvent::Midi { at: 0, bytes: [0xB0, 101, 0] });
    session.events.push(TimedEvent::Midi { at: 0, bytes: [0xB0, 100, 6] });
    session.events.push(TimedEvent::Midi { at: 0, bytes: [0xB0, 6, 15] });
    session.events.push(TimedEvent::Midi { at: 0, bytes: [0xB0, 64, 127] });
    for i in 0..40u8 {
        session.events.push(TimedEvent::NoteOn { at: 200 + usize::from(i) * 100, key: 36 + i, velocity: 0.6 });
        session.events.push(TimedEvent::Midi { at: 300 + usize::from(i) * 100, bytes: [0xE0 | (i % 16), 0, 0x50] });
        session.events.push(TimedEvent::NoteOff { at: 400 + usize::from(i) * 100, key: 100 + i % 20 });
    }
    session.events.push(TimedEvent::Midi { at: at(1.2), bytes: [0xB0, 64, 0] });
    session.events.push(TimedEvent::Midi { at: at(1.5), bytes: [0xB0, 120, 0] });
    session.events.sort_by_key(TimedEvent::at);
    let out = run_clap(&instrument_bundle(), INSTRUMENT_ID, &session).unwrap();
    let x = &out.channels[0];
    assert!(x.iter().all(|v| v.is_finite()));
    let full = rms_db(&x[at(0.6)..at(1.1)]);
    let silent = rms_db(&x[at(1.6)..]);

    let mut one = Session::new(SR, 128, 1.0);
    one.events.push(TimedEvent::NoteOn { at: 200, key: 60, velocity: 0.6 });
    let single = rms_db(&run_clap(&instrument_bundle(), INSTRUMENT_ID, &one).unwrap().channels[0][at(0.6)..]);
    println!("32 voices: {full:.1} dBFS (one note {single:.1} dBFS); after all-sound-off {silent:.1} dBFS");
    assert!(full > single + 9.0, "32 sounding voices should be far louder than one note");
    assert!(silent < -100.0, "sound after all-sound-off: {silent:.1} dBFS");
}
