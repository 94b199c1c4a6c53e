//! `ddsp render` end to end: a generated MIDI phrase (tempo change, velocities, a pitch bend) and
//! generated audio through the real binary. Onsets in ms against the MIDI times, pitch in cents by
//! our tracker and by an independent DFT peak search, WAV = FLAC sample for sample, byte-identical
//! reruns, and the malformed inputs a batch job meets.

mod common;

use std::f64::consts::TAU;
use std::path::Path;

use common::{cents, ddsp, ddsp_ok, files_containing, path_str, tmp};
use ddsp_core::tracking::{PitchSettings, Tracker};
use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, PitchBend, Smf, Timing, TrackEvent, TrackEventKind};

const TPB: u16 = 480;

/// (on tick, off tick, key, velocity, bend in [-1, 1] held through the note).
const NOTES: [(u32, u32, u8, u8, f32); 4] =
    [(240, 720, 60, 100, 0.0), (1200, 1680, 67, 64, 0.0), (2240, 2720, 57, 120, 0.5), (3200, 3520, 72, 90, 0.0)];
/// 120 BPM until tick 1920 (2 s), then 80 BPM.
const TEMPO_CHANGE_TICK: u32 = 1920;

fn seconds_at(tick: u32) -> f64 {
    let beat = f64::from(TPB);
    if tick < TEMPO_CHANGE_TICK {
        f64::from(tick) / beat * 0.5
    } else {
        2.0 + f64::from(tick - TEMPO_CHANGE_TICK) / beat * 0.75
    }
}

/// Expected pitch of a note: bend range is ±2 semitones.
fn expected_hz(key: u8, bend: f32) -> f64 {
    440.0 * ((f64::from(key) + 2.0 * f64::from(bend) - 69.0) / 12.0).exp2()
}

fn midi_bytes() -> Vec<u8> {
    let ev = |delta: u32, kind| TrackEvent { delta: u28::new(delta), kind };
    let tempo = vec![
        ev(0, TrackEventKind::Meta(MetaMessage::Tempo(u24::new(500_000)))),
        ev(TEMPO_CHANGE_TICK, TrackEventKind::Meta(MetaMessage::Tempo(u24::new(750_000)))),
        ev(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)),
    ];
    let midi = |message| TrackEventKind::Midi { channel: u4::new(2), message };
    let mut timed: Vec<(u32, TrackEventKind)> = Vec::new();
    for &(on, off, key, vel, bend) in &NOTES {
        if bend != 0.0 {
            timed.push((on - 40, midi(MidiMessage::PitchBend { bend: PitchBend::from_f32(bend) })));
            timed.push((off + 200, midi(MidiMessage::PitchBend { bend: PitchBend::from_f32(0.0) })));
        }
        timed.push((on, midi(MidiMessage::NoteOn { key: u7::new(key), vel: u7::new(vel) })));
        // Note-off as note-on with velocity 0 for one of them: both forms occur in the wild.
        let off_message = if key == 67 {
            MidiMessage::NoteOn { key: u7::new(key), vel: u7::new(0) }
        } else {
            MidiMessage::NoteOff { key: u7::new(key), vel: u7::new(64) }
        };
        timed.push((off, midi(off_message)));
    }
    timed.push((0, midi(MidiMessage::Controller { controller: u7::new(11), value: u7::new(127) })));
    timed.sort_by_key(|e| e.0);
    let mut notes = Vec::new();
    let mut last = 0;
    for (tick, kind) in timed {
        notes.push(ev(tick - last, kind));
        last = tick;
    }
    notes.push(ev(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)));
    let smf =
        Smf { header: Header::new(Format::Parallel, Timing::Metrical(u15::new(TPB))), tracks: vec![tempo, notes] };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).unwrap();
    bytes
}

fn read_wav(path: &Path) -> (Vec<Vec<f32>>, u32) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / f32::from(1u16 << 15) / (1 << (spec.bits_per_sample - 16)) as f32;
            reader.samples::<i32>().map(|s| s.unwrap() as f32 * scale).collect()
        }
    };
    let n = usize::from(spec.channels);
    let channels = (0..n).map(|c| samples.iter().skip(c).step_by(n).copied().collect()).collect();
    (channels, spec.sample_rate)
}

/// RMS per 1 ms frame.
fn envelope(x: &[f32], sr: u32) -> Vec<f64> {
    let hop = (sr / 1000) as usize;
    x.chunks(hop).map(|c| (c.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / c.len() as f64).sqrt()).collect()
}

/// Strongest DFT peak within ±100 cents of `near_hz`, searched on a 1-cent grid and refined by a
/// parabola: independent of our tracker.
fn dft_peak_hz(x: &[f32], sr: u32, near_hz: f64) -> f64 {
    let window: Vec<f64> = (0..x.len()).map(|n| 0.5 - 0.5 * (TAU * n as f64 / x.len() as f64).cos()).collect();
    let power = |f: f64| {
        let w = TAU * f / f64::from(sr);
        let (mut re, mut im) = (0.0, 0.0);
        for (n, (&v, &h)) in x.iter().zip(&window).enumerate() {
            let (s, c) = (w * n as f64).sin_cos();
            re += f64::from(v) * h * c;
            im -= f64::from(v) * h * s;
        }
        (re * re + im * im).ln()
    };
    let grid: Vec<f64> = (-100..=100).map(|c| near_hz * (f64::from(c) / 1200.0).exp2()).collect();
    let values: Vec<f64> = grid.iter().map(|&f| power(f)).collect();
    let k = (1..values.len() - 1).max_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap();
    let (a, b, c) = (values[k - 1], values[k], values[k + 1]);
    let delta = 0.5 * (a - c) / (a - 2.0 * b + c);
    near_hz * ((k as f64 - 100.0 + delta) / 1200.0).exp2()
}

/// Median f0 of our real-time tracker over `[from, to)` seconds.
fn tracked_hz(x: &[f32], sr: u32, from: f64, to: f64) -> f64 {
    let mut tracker = Tracker::new(sr as f32, PitchSettings::default());
    let mut f0 = Vec::new();
    tracker.process(x, |frame| {
        let t = frame.at_sample as f64 / f64::from(sr);
        if frame.voiced && t >= from && t < to {
            f0.push(f64::from(frame.f0_hz));
        }
    });
    assert!(!f0.is_empty(), "no voiced frames in {from}..{to} s");
    f0.sort_by(f64::total_cmp);
    f0[f0.len() / 2]
}

fn check_notes(wav: &Path, label: &str, check_onsets: bool) {
    let (channels, sr) = read_wav(wav);
    let x = &channels[0];
    let env = envelope(x, sr);
    for &(on, off, key, _, bend) in &NOTES {
        let (t_on, t_off) = (seconds_at(on), seconds_at(off));
        let frame = |t: f64| (t * 1000.0) as usize;
        let steady =
            env[frame(t_on + 0.12)..frame(t_off)].iter().sum::<f64>() / (frame(t_off) - frame(t_on + 0.12)) as f64;
        // Onset: the first millisecond above −30 dB of the note's steady level and 6 dB above
        // what was sounding before (the previous note's reverb tail).
        let background = env[frame(t_on - 0.1)..frame(t_on - 0.03)].iter().fold(0.0f64, |m, &v| m.max(v));
        let threshold = (steady * 10f64.powf(-30.0 / 20.0)).max(background * 2.0);
        let onset = (frame(t_on - 0.03)..frame(t_on + 0.1)).find(|&i| env[i] > threshold).unwrap() as f64 / 1000.0;
        let error_ms = (onset - t_on) * 1000.0;
        let (from, to) = (t_on + 0.12, t_off - 0.02);
        let segment = &x[(from * f64::from(sr)) as usize..(to * f64::from(sr)) as usize];
        let expected = expected_hz(key, bend);
        let (ours, dft) = (tracked_hz(x, sr, from, to), dft_peak_hz(segment, sr, expected));
        println!(
            "{label}: note {key} (bend {bend:+}) at {t_on:.3} s: onset {error_ms:+.1} ms, pitch {:+.2} cents (tracker), \
             {:+.2} cents (DFT)",
            cents(ours, expected),
            cents(dft, expected)
        );
        if check_onsets {
            assert!(error_ms.abs() <= 5.0, "{label}: note {key} onset {error_ms:+.1} ms from its MIDI time");
        }
        assert!(cents(ours, expected).abs() < 10.0, "{label}: note {key}: tracker {ours:.2} Hz vs {expected:.2}");
        assert!(cents(dft, expected).abs() < 10.0, "{label}: note {key}: DFT {dft:.2} Hz vs {expected:.2}");
    }
}

#[test]
fn midi_phrase_renders_notes_on_time_and_in_tune() {
    let mid = tmp("render", "phrase.mid");
    std::fs::write(&mid, midi_bytes()).unwrap();
    for master in ["off", "cello"] {
        let wav = tmp("render", &format!("phrase-{master}.wav"));
        // The cello pass picks the notes by number: track 2 (the first holds the tempo map) and
        // channel 3, both counted from 1.
        let mut args = vec!["render", path_str(&mid), "-o", path_str(&wav), "--master", master, "--bit-depth", "32f"];
        if master == "cello" {
            args.extend(["--track", "2", "--channel", "3"]);
        }
        let out = ddsp_ok(&args);
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(report.contains("4 notes"), "{report}");
        let (channels, sr) = read_wav(&wav);
        assert_eq!((channels.len(), sr), (if master == "off" { 1 } else { 2 }, 48_000));
        // Last note off at 4.5 s plus the 2 s default tail, latency removed.
        assert_eq!(channels[0].len(), (6.5 * 48_000.0) as usize);
        // Onsets are measured on the dry render; the mastered one (reverb tails blur envelopes)
        // must line up with it: the chain's look-ahead is removed from the file.
        check_notes(&wav, &format!("master {master}"), master == "off");
    }
    let (dry, sr) = read_wav(&tmp("render", "phrase-off.wav"));
    let (mastered, _) = read_wav(&tmp("render", "phrase-cello.wav"));
    let max_lag = (sr / 100) as i64;
    let correlation = |lag: i64| -> f64 {
        (max_lag..(sr as i64 * 5))
            .map(|i| f64::from(dry[0][i as usize]) * f64::from(mastered[0][(i + lag) as usize]))
            .sum()
    };
    let best = (-max_lag..=max_lag).max_by(|&a, &b| correlation(a).total_cmp(&correlation(b))).unwrap();
    println!("mastered vs dry render: best alignment at {best} samples");
    assert!(best.abs() <= (sr / 1000) as i64, "the mastered render is {best} samples off the dry one");
}

#[test]
fn wav_and_flac_hold_the_same_24_bit_samples_and_reruns_are_byte_identical() {
    let mid = tmp("render", "formats.mid");
    std::fs::write(&mid, midi_bytes()).unwrap();
    let render = |name: &str| {
        let path = tmp("render", name);
        ddsp_ok(&[
            "render",
            path_str(&mid),
            "-o",
            path_str(&path),
            "--bit-depth",
            "24",
            "--quality",
            "draft",
            "--tail",
            "0.5",
        ]);
        path
    };
    let (wav, flac) = (render("a.wav"), render("a.flac"));
    let mut reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!(reader.spec().bits_per_sample, 24);
    let wav_samples: Vec<i32> = reader.samples::<i32>().map(Result::unwrap).collect();
    let mut flac_reader = claxon::FlacReader::open(&flac).unwrap();
    assert_eq!(flac_reader.streaminfo().bits_per_sample, 24);
    let flac_samples: Vec<i32> = flac_reader.samples().map(Result::unwrap).collect();
    assert_eq!(wav_samples.len(), flac_samples.len());
    assert!(wav_samples == flac_samples, "the FLAC file decodes to other samples than the WAV file");
    assert!(wav_samples.iter().any(|&s| s.abs() > 1 << 18), "the render is silent");

    for (first, name) in [(&wav, "b.wav"), (&flac, "b.flac")] {
        let again = render(name);
        assert!(std::fs::read(first).unwrap() == std::fs::read(&again).unwrap(), "{name}: not byte-identical");
    }
}

/// A sung-like input: a harmonic tone whose pitch steps at known times, at 44.1 kHz stereo.
fn write_steps_wav(path: &Path) -> Vec<(f64, f64)> {
    let sr = 44_100u32;
    let steps = [(0.0, 220.0), (0.6, 330.0), (1.2, 247.0)];
    let spec =
        hound::WavSpec { channels: 2, sample_rate: sr, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    let mut phase = 0.0f64;
    for i in 0..(1.8 * f64::from(sr)) as usize {
        let t = i as f64 / f64::from(sr);
        let hz = steps.iter().rev().find(|s| t >= s.0).unwrap().1;
        phase = (phase + hz / f64::from(sr)).fract();
        let v: f64 = (1..=12).map(|k| (k as f64 * TAU * phase).sin() / k as f64).sum::<f64>() * 0.25;
        writer.write_sample((v * 32767.0) as i16).unwrap();
        writer.write_sample((0.7 * v * 32767.0) as i16).unwrap();
    }
    writer.finalize().unwrap();
    steps.to_vec()
}

/// When the tracker first reports a pitch within 50 cents of `hz` after `after` seconds.
fn pitch_arrives(x: &[f32], sr: u32, after: f64, hz: f64) -> f64 {
    let mut tracker = Tracker::new(sr as f32, PitchSettings::default());
    let mut at = None;
    tracker.process(x, |frame| {
        let t = frame.at_sample as f64 / f64::from(sr);
        if at.is_none() && t > after && frame.voiced && cents(f64::from(frame.f0_hz), hz).abs() < 50.0 {
            at = Some(t);
        }
    });
    at.expect("the pitch never arrived")
}

#[test]
fn audio_is_transferred_at_any_rate_and_aligned_unless_asked_not_to() {
    let input = tmp("render", "steps.wav");
    let steps = write_steps_wav(&input);
    let (source, in_sr) = read_wav(&input);
    let mono: Vec<f32> = source[0].iter().zip(&source[1]).map(|(l, r)| 0.5 * (l + r)).collect();

    let aligned = tmp("render", "steps-aligned.wav");
    ddsp_ok(&["render", path_str(&input), "-o", path_str(&aligned), "--master", "off", "--bit-depth", "32f"]);
    let delayed = tmp("render", "steps-delayed.wav");
    ddsp_ok(&[
        "render",
        path_str(&input),
        "-o",
        path_str(&delayed),
        "--master",
        "off",
        "--bit-depth",
        "32f",
        "--no-align",
    ]);
    // Pitch-aligned (the effect's Latency parameter): the pitch, not only the loudness, lines up.
    let pitch_aligned = tmp("render", "steps-pitch-aligned.wav");
    ddsp_ok(&[
        "render",
        path_str(&input),
        "-o",
        path_str(&pitch_aligned),
        "--master",
        "off",
        "--bit-depth",
        "32f",
        "--align-pitch-to",
        "110",
    ]);
    let (out, sr) = read_wav(&aligned);
    let (late, _) = read_wav(&delayed);
    let (pitch_out, _) = read_wav(&pitch_aligned);
    assert_eq!(pitch_out[0].len(), out[0].len(), "the same length: the longer latency is taken back");
    assert_eq!(sr, 48_000);
    let expected_len = (mono.len() as f64 * 48_000.0 / f64::from(in_sr)).round() as i64;
    assert!((out[0].len() as i64 - expected_len).abs() <= 1, "{} vs {expected_len} samples", out[0].len());

    for &(t, hz) in &steps[1..] {
        let input_at = pitch_arrives(&mono, in_sr, t - 0.05, hz);
        let output_at = pitch_arrives(&out[0], sr, t - 0.05, hz);
        let late_at = pitch_arrives(&late[0], sr, t - 0.05, hz);
        let (aligned_ms, delayed_ms) = ((output_at - input_at) * 1e3, (late_at - input_at) * 1e3);
        let pitch_aligned_ms = (pitch_arrives(&pitch_out[0], sr, t - 0.05, hz) - input_at) * 1e3;
        println!(
            "step to {hz} Hz at {t} s: aligned output {aligned_ms:+.1} ms, --no-align {delayed_ms:+.1} ms, \
             --align-pitch-to 110 {pitch_aligned_ms:+.1} ms"
        );
        assert!(aligned_ms.abs() <= 5.0, "aligned output is {aligned_ms:+.1} ms off the input");
        assert!(pitch_aligned_ms.abs() <= 1.5, "pitch-aligned output is {pitch_aligned_ms:+.1} ms off the input");
        assert!(delayed_ms > aligned_ms + 3.0, "--no-align should keep the engine's delay");
        let segment = &out[0][((t + 0.1) * 48_000.0) as usize..((t + 0.5) * 48_000.0) as usize];
        let dft = dft_peak_hz(segment, sr, hz);
        assert!(cents(dft, hz).abs() < 20.0, "transferred pitch {dft:.1} Hz vs input {hz} Hz");
    }
}

fn expect_failure(args: &[&str], output: &Path, expected: &str) {
    let out = ddsp(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ddsp {args:?} should fail");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line of reason, got: {stderr}");
    assert!(stderr.to_lowercase().contains(expected), "'{expected}' not in: {stderr}");
    assert!(!output.exists(), "{} was created", output.display());
    if let Some(dir) = output.parent().filter(|d| d.is_dir()) {
        assert!(files_containing(dir, ".partial").is_empty(), "a partial file was left in {}", dir.display());
    }
}

#[test]
fn malformed_input_is_a_one_line_error_and_leaves_no_file() {
    let good = midi_bytes();
    let out = tmp("render-bad", "out.wav");
    let out_str = path_str(&out).to_owned();

    let truncated = tmp("render-bad", "truncated.mid");
    std::fs::write(&truncated, &good[..good.len() - 20]).unwrap();
    expect_failure(&["render", path_str(&truncated), "-o", &out_str], &out, "truncated");

    // A file with only the tempo track.
    let mut no_notes = Vec::new();
    let ev = |delta: u32, kind| TrackEvent { delta: u28::new(delta), kind };
    Smf {
        header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(TPB))),
        tracks: vec![vec![
            ev(0, TrackEventKind::Meta(MetaMessage::Tempo(u24::new(500_000)))),
            ev(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)),
        ]],
    }
    .write_std(&mut no_notes)
    .unwrap();
    let empty = tmp("render-bad", "empty.mid");
    std::fs::write(&empty, no_notes).unwrap();
    expect_failure(&["render", path_str(&empty), "-o", &out_str], &out, "no notes");

    let phrase = tmp("render-bad", "phrase.mid");
    std::fs::write(&phrase, &good).unwrap();
    expect_failure(&["render", path_str(&phrase), "-o", &out_str, "--channel", "5"], &out, "no notes");
    // Tracks count from 1, as channels do: the first holds only the tempo map, there is no third.
    expect_failure(&["render", path_str(&phrase), "-o", &out_str, "--track", "1"], &out, "no notes");
    expect_failure(&["render", path_str(&phrase), "-o", &out_str, "--track", "0"], &out, "count from 1");
    expect_failure(&["render", path_str(&phrase), "-o", &out_str, "--track", "3"], &out, "has 2 (1..2)");

    let bogus = tmp("render-bad", "bogus.wav");
    std::fs::write(&bogus, b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunkjunkjunk").unwrap();
    expect_failure(&["render", path_str(&bogus), "-o", &out_str], &out, "cannot read");

    // 64-bit float samples: a valid WAV that the renderer does not take.
    let mut f64_wav = Vec::new();
    let data_len = 8u32 * 100;
    f64_wav.extend_from_slice(b"RIFF");
    f64_wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    f64_wav.extend_from_slice(b"WAVEfmt ");
    f64_wav.extend_from_slice(&16u32.to_le_bytes());
    f64_wav.extend_from_slice(&3u16.to_le_bytes()); // IEEE float, but 64-bit
    f64_wav.extend_from_slice(&1u16.to_le_bytes());
    f64_wav.extend_from_slice(&48_000u32.to_le_bytes());
    f64_wav.extend_from_slice(&(48_000u32 * 8).to_le_bytes());
    f64_wav.extend_from_slice(&8u16.to_le_bytes());
    f64_wav.extend_from_slice(&64u16.to_le_bytes());
    f64_wav.extend_from_slice(b"data");
    f64_wav.extend_from_slice(&data_len.to_le_bytes());
    f64_wav.extend(std::iter::repeat_n(0u8, data_len as usize));
    let unsupported = tmp("render-bad", "f64.wav");
    std::fs::write(&unsupported, f64_wav).unwrap();
    expect_failure(&["render", path_str(&unsupported), "-o", &out_str], &out, "unsupported sample format");
    let mut alaw = std::fs::read(&unsupported).unwrap();
    alaw[20] = 6; // A-law
    std::fs::write(&unsupported, alaw).unwrap();
    expect_failure(&["render", path_str(&unsupported), "-o", &out_str], &out, "unsupported sample format");

    expect_failure(&["render", path_str(&phrase), "-o", &out_str, "--model", "/no/such/model.onnx"], &out, "no model");

    let unwritable = Path::new("/no/such/folder/out.wav");
    expect_failure(&["render", path_str(&phrase), "-o", path_str(unwritable)], unwritable, "no folder");

    let as_dir = tmp("render-bad", "a-folder.wav");
    std::fs::create_dir_all(&as_dir).unwrap();
    let out_dir = ddsp(&["render", path_str(&phrase), "-o", path_str(&as_dir)]);
    assert!(!out_dir.status.success() && as_dir.is_dir());
    assert!(files_containing(as_dir.parent().unwrap(), ".partial").is_empty());

    expect_failure(
        &["render", path_str(&phrase), "-o", path_str(&tmp("render-bad", "x.flac")), "--bit-depth", "32f"],
        &tmp("render-bad", "x.flac"),
        "flac stores integers",
    );
}

/// A one-track file at 480 ticks a quarter, 120 BPM (a tick is 1/960 s): (tick, message), channel 1.
fn simple_midi(events: &[(u32, MidiMessage)]) -> Vec<u8> {
    let ev = |delta: u32, kind| TrackEvent { delta: u28::new(delta), kind };
    let mut track = Vec::new();
    let mut last = 0;
    for &(tick, message) in events {
        track.push(ev(tick - last, TrackEventKind::Midi { channel: u4::new(0), message }));
        last = tick;
    }
    track.push(ev(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)));
    let smf = Smf { header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(TPB))), tracks: vec![track] };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).unwrap();
    bytes
}

fn level_db(x: &[f32], sr: u32, from_s: f64, to_s: f64) -> f64 {
    let w = &x[(from_s * f64::from(sr)) as usize..(to_s * f64::from(sr)) as usize];
    10.0 * (w.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / w.len() as f64).max(1e-30).log10()
}

#[test]
fn the_sustain_pedal_holds_notes_in_every_mode_and_chords_keep_every_note() {
    let on = |key: u8| MidiMessage::NoteOn { key: u7::new(key), vel: u7::new(100) };
    let pedal = |value: u8| MidiMessage::Controller { controller: u7::new(64), value: u7::new(value) };
    let note_off = |key: u8| MidiMessage::NoteOff { key: u7::new(key), vel: u7::new(0) };
    // Pedal down, a note released at 0.5 s, pedal up at 1.5 s (ticks: 960 a second).
    let mid = tmp("render", "pedal.mid");
    std::fs::write(&mid, simple_midi(&[(0, pedal(127)), (48, on(62)), (480, note_off(62)), (1440, pedal(0))])).unwrap();
    for mode in [&[][..], &["--mono"][..], &["--voices", "1"][..]] {
        let wav = tmp("render", "pedal.wav");
        let mut args = vec!["render", path_str(&mid), "-o", path_str(&wav), "--master", "off", "--bit-depth", "32f"];
        args.extend_from_slice(mode);
        ddsp_ok(&args);
        let (channels, sr) = read_wav(&wav);
        let (playing, held, lifted) = (
            level_db(&channels[0], sr, 0.2, 0.4),
            level_db(&channels[0], sr, 1.1, 1.4),
            level_db(&channels[0], sr, 2.0, 2.4),
        );
        println!("ddsp render {mode:?}: playing {playing:.1} dB, held by the pedal {held:.1} dB, after it lifts {lifted:.1} dB");
        assert!(playing - held < 3.0, "{mode:?}: the pedal did not hold the note");
        assert!(playing - lifted > 60.0, "{mode:?}: the note did not end when the pedal lifted");
    }
    // The default (8 voices) keeps every note of a chord: the old default of one voice kept one.
    let chord = tmp("render", "chord.mid");
    let keys = [60u8, 64, 67, 71];
    let mut events: Vec<(u32, MidiMessage)> = keys.iter().map(|&k| (48, on(k))).collect();
    events.extend(keys.iter().map(|&k| (1440, note_off(k))));
    std::fs::write(&chord, simple_midi(&events)).unwrap();
    let wav = tmp("render", "chord.wav");
    ddsp_ok(&["render", path_str(&chord), "-o", path_str(&wav), "--master", "off", "--bit-depth", "32f"]);
    let (channels, sr) = read_wav(&wav);
    let steady = &channels[0][sr as usize / 2..sr as usize];
    for key in keys {
        let expected = expected_hz(key, 0.0);
        let hz = dft_peak_hz(steady, sr, expected);
        println!("chord through ddsp render: note {key} at {hz:.2} Hz ({:+.2} cents)", cents(hz, expected));
        assert!(cents(hz, expected).abs() < 5.0, "note {key} of the chord: {hz:.2} Hz");
    }
}

#[test]
fn a_chord_with_too_few_voices_is_rendered_with_a_warning() {
    let key = |k: u8| u7::new(k);
    let mut events = Vec::new();
    for k in [60, 64, 67, 72] {
        events.push((0, MidiMessage::NoteOn { key: key(k), vel: u7::new(100) }));
    }
    for k in [60, 64, 67, 72] {
        events.push((960, MidiMessage::NoteOff { key: key(k), vel: u7::new(0) }));
    }
    let chord = tmp("render-chord-warning", "chord.mid");
    std::fs::write(&chord, simple_midi(&events)).unwrap();
    let out = tmp("render-chord-warning", "out.wav");
    let run = |extra: &[&str]| {
        let mut args = vec!["render", path_str(&chord), "-o", path_str(&out), "--master", "off", "--tail", "0.1"];
        args.extend_from_slice(extra);
        String::from_utf8_lossy(&ddsp_ok(&args).stderr).into_owned()
    };
    let warned = run(&["--voices", "2"]);
    assert!(
        warned.contains("warning") && warned.contains("up to 4 notes") && warned.contains("--voices 4"),
        "{warned}"
    );
    assert!(out.exists(), "the render is still written");
    for quiet in [&[][..], &["--voices", "4"][..]] {
        let stderr = run(quiet);
        assert!(!stderr.contains("warning"), "{quiet:?}: {stderr}");
    }
    // --mono plays a chord as one note: said. A legato line (overlapping notes that start 0.5 s
    // apart) is what --mono is for: not a chord, no warning.
    let mono = run(&["--mono"]);
    assert!(mono.contains("warning") && mono.contains("has chords (the first at 0.00 s)"), "{mono}");
    let legato = tmp("render-chord-warning", "legato.mid");
    std::fs::write(
        &legato,
        simple_midi(&[
            (0, MidiMessage::NoteOn { key: key(60), vel: u7::new(100) }),
            (480, MidiMessage::NoteOn { key: key(62), vel: u7::new(100) }),
            (520, MidiMessage::NoteOff { key: key(60), vel: u7::new(0) }),
            (960, MidiMessage::NoteOff { key: key(62), vel: u7::new(0) }),
        ]),
    )
    .unwrap();
    let args = ["render", path_str(&legato), "-o", path_str(&out), "--master", "off", "--tail", "0.1", "--mono"];
    let stderr = String::from_utf8_lossy(&ddsp_ok(&args).stderr).into_owned();
    assert!(!stderr.contains("warning"), "legato in --mono: {stderr}");
}

/// Integrated loudness (LUFS) and true peak (dBTP) of a WAV file, by the ebur128 crate (the
/// BS.1770 implementation the mastering meter is checked with against EBU Tech 3341).
fn loudness_of(path: &Path) -> (f64, f64) {
    let (channels, sr) = read_wav(path);
    let mode = ebur128::Mode::I | ebur128::Mode::TRUE_PEAK;
    let mut meter = ebur128::EbuR128::new(channels.len() as u32, sr, mode).unwrap();
    let planar: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
    meter.add_frames_planar_f32(&planar).unwrap();
    let peak = (0..channels.len() as u32).map(|c| meter.true_peak(c).unwrap()).fold(0.0f64, f64::max);
    (meter.loudness_global().unwrap(), 20.0 * peak.log10())
}

#[test]
fn a_loudness_target_is_met_and_the_true_peak_ceiling_kept() {
    let phrase = tmp("render-loudness", "phrase.mid");
    std::fs::write(&phrase, midi_bytes()).unwrap();
    let out = tmp("render-loudness", "out.wav");
    let render = |extra: &[&str]| {
        let mut args = vec!["render", path_str(&phrase), "-o", path_str(&out), "--bit-depth", "32f"];
        args.extend_from_slice(extra);
        let run = ddsp_ok(&args);
        (loudness_of(&out), String::from_utf8_lossy(&run.stderr).into_owned())
    };
    let ((as_is, _), _) = render(&["--loudness", "off"]);
    // The default preset (room) and the instrument presets bring a render to -16 LUFS by themselves.
    for preset in ["room", "cello"] {
        let ((lufs, peak), _) = render(&["--master", preset]);
        println!("--master {preset}: {lufs:.2} LUFS (without its target: {as_is:.1}), true peak {peak:.2} dBTP");
        assert!((lufs + 16.0).abs() <= 0.5 && peak <= -0.9, "{preset}: {lufs:.2} LUFS, {peak:.2} dBTP");
    }
    for (target, extra) in [(-16.0, &[][..]), (-23.0, &[][..]), (-10.0, &[][..]), (-20.0, &["--master", "off"][..])] {
        let target_arg = format!("{target}");
        let mut args = vec!["--loudness", target_arg.as_str()];
        args.extend_from_slice(extra);
        let ((lufs, peak), _) = render(&args);
        println!("--loudness {target} {extra:?}: {lufs:.2} LUFS (as rendered: {as_is:.1}), true peak {peak:.2} dBTP");
        assert!((lufs - target).abs() <= 0.5, "{target} LUFS asked, {lufs:.2} measured");
        assert!(peak <= -0.9, "true peak {peak:.2} dBTP above the -1 dBTP ceiling");
    }
    // Unmastered and asked for more than the ceiling allows: as loud as the ceiling lets it, said.
    let ((lufs, peak), stderr) = render(&["--master", "off", "--loudness", "-6"]);
    assert!(stderr.contains("warning") && stderr.contains("-1 dBTP"), "{stderr}");
    assert!(lufs < -6.5 && peak <= -0.9, "{lufs:.2} LUFS, {peak:.2} dBTP");
}

/// `--morph`: at place A's corner the render is byte-identical to `--model A`; halfway it differs
/// from both corners and its level lies between theirs; a controller moves it; bad lists and
/// positions are refused with a message.
#[test]
fn morph_renders_between_models_and_equals_the_model_at_its_corner() {
    let mid = tmp("render", "morph.mid");
    std::fs::write(&mid, midi_bytes()).unwrap();
    let render = |name: &str, extra: &[&str]| {
        let wav = tmp("render", name);
        let mut args = vec!["render", path_str(&mid), "-o", path_str(&wav), "--master", "off", "--bit-depth", "32f"];
        args.extend_from_slice(extra);
        ddsp_ok(&args);
        (std::fs::read(&wav).unwrap(), wav)
    };
    let rms = |(_, wav): &(Vec<u8>, std::path::PathBuf)| {
        let samples = &read_wav(wav).0[0];
        (samples.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / samples.len() as f64).sqrt()
    };
    let violin = render("violin.wav", &["--model", "violin"]);
    let corner = render("corner.wav", &["--morph", "violin,flute", "--morph-position", "0"]);
    assert!(violin.0 == corner.0, "--morph violin,flute at 0 must equal --model violin byte for byte");
    let flute_corner = render("flute-corner.wav", &["--morph", "violin,flute", "--morph-position", "1"]);
    let half = render("half.wav", &["--morph", "violin,flute", "--morph-position", "0.5"]);
    assert!(half.0 != violin.0 && half.0 != flute_corner.0);
    let (a, m, b) = (rms(&violin), rms(&half), rms(&flute_corner));
    println!("rms violin {a:.5}, halfway {m:.5}, flute corner {b:.5}");
    assert!(m > a.min(b) * 0.9 && m < a.max(b) * 1.1, "halfway level {m} is not between {a} and {b}");
    // Four models on the square, and a controller that never moves: the set position holds.
    let square = render("square.wav", &["--morph", "flute,violin,cello,trumpet", "--morph-position", "0.5,0.5"]);
    assert!(rms(&square) > 1e-4);
    let cc = render("cc.wav", &["--morph", "violin,flute", "--morph-cc", "1"]);
    assert!(cc.0 == violin.0, "a controller that never arrives leaves the morph at its position");

    for (bad, says) in [
        (vec!["--morph", "a,b,c,d,e"], "2 to 4"),
        (vec!["--morph", "flute"], "2 to 4"),
        (vec!["--morph", "flute,nosuch"], "nosuch"),
        (vec!["--morph", "flute,violin", "--morph-position", "1.5"], "0..1"),
        (vec!["--morph", "flute,violin", "--morph-position", "nan"], "0..1"),
        (vec!["--morph-position", "0.5"], "--morph"),
        (vec!["--model", "flute", "--morph", "flute,violin"], "--morph"),
    ] {
        let wav = tmp("render", "bad-morph.wav");
        let mut args = vec!["render", path_str(&mid), "-o", path_str(&wav)];
        args.extend_from_slice(&bad);
        let out = ddsp(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{bad:?}: {err}");
    }
}
