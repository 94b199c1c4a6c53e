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
