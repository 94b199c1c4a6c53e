//! `ddsp render` against what a hostile or careless user feeds it: extreme but valid MIDI timing,
//! pieces too long to render, sample rates and channel counts at and past the limits, files that
//! are not files, output paths that are the input, Ctrl-C mid-render, the umask, FLAC headers
//! that seekers rely on, escape sequences in model metadata, and memory that must not grow with a
//! piece's length. Every crafted file is generated here.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ddsp, ddsp_ok, files_containing, path_str, tmp};
use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Fps, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// One track at `timing`: (delta ticks, message) on channel 1, after an optional tempo.
fn midi(timing: Timing, tempo_us: Option<u32>, events: &[(u32, MidiMessage)]) -> Vec<u8> {
    let ev = |delta: u32, kind| TrackEvent { delta: u28::new(delta), kind };
    let mut track = Vec::new();
    if let Some(us) = tempo_us {
        track.push(ev(0, TrackEventKind::Meta(MetaMessage::Tempo(u24::new(us)))));
    }
    for &(delta, message) in events {
        track.push(ev(delta, TrackEventKind::Midi { channel: u4::new(0), message }));
    }
    track.push(ev(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)));
    let mut bytes = Vec::new();
    Smf { header: Header::new(Format::SingleTrack, timing), tracks: vec![track] }.write_std(&mut bytes).unwrap();
    bytes
}

fn on(key: u8) -> MidiMessage {
    MidiMessage::NoteOn { key: u7::new(key), vel: u7::new(100) }
}

fn off(key: u8) -> MidiMessage {
    MidiMessage::NoteOff { key: u7::new(key), vel: u7::new(0) }
}

/// A WAV header and silence: any rate and channel count, 16-bit.
fn wav(sample_rate: u32, channels: u16, frames: u32) -> Vec<u8> {
    let data = u32::from(channels) * 2 * frames;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&sample_rate.to_le_bytes());
    b.extend_from_slice(&(sample_rate.wrapping_mul(u32::from(channels) * 2)).to_le_bytes());
    b.extend_from_slice(&(channels * 2).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    b.resize(b.len() + data as usize, 0);
    b
}

/// Runs `ddsp args`, expects exit code 1 with one line naming `expected`, and no file at `output`.
fn refused(args: &[&str], output: &Path, expected: &str) {
    let started = Instant::now();
    let out = ddsp(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "ddsp {args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line of reason, got: {stderr}");
    assert!(stderr.to_lowercase().contains(&expected.to_lowercase()), "'{expected}' not in: {stderr}");
    assert!(!output.exists(), "{} was created", output.display());
    if let Some(dir) = output.parent().filter(|d| d.is_dir()) {
        assert!(files_containing(dir, ".partial").is_empty(), "a partial file was left in {}", dir.display());
    }
    assert!(started.elapsed() < Duration::from_secs(20), "ddsp {args:?} took {:?} to refuse", started.elapsed());
}

fn wav_header(path: &Path) -> hound::WavSpec {
    hound::WavReader::open(path).unwrap().spec()
}

fn wav_frames(path: &Path) -> u32 {
    hound::WavReader::open(path).unwrap().duration()
}

#[test]
fn smpte_timing_plays_at_every_frame_rate_and_zero_subframes_is_refused() {
    let out = tmp("hostile-smpte", "out.wav");
    for (fps, rate) in [(Fps::Fps24, 24.0), (Fps::Fps25, 25.0), (Fps::Fps29, 29.97), (Fps::Fps30, 30.0)] {
        // 40 ticks a frame; the note lasts 30 frames, then a 0.25 s tail.
        let file = tmp("hostile-smpte", "smpte.mid");
        std::fs::write(&file, midi(Timing::Timecode(fps, 40), None, &[(0, on(69)), (30 * 40, off(69))])).unwrap();
        ddsp_ok(&["render", path_str(&file), "-o", path_str(&out), "--master", "off", "--tail", "0.25"]);
        let expected = ((30.0 / rate + 0.25) * 48_000.0_f64).ceil() as u32;
        assert_eq!(wav_frames(&out), expected, "{rate} frames/s");
    }
    std::fs::remove_file(&out).unwrap();
    let zero = tmp("hostile-smpte", "zero.mid");
    std::fs::write(&zero, midi(Timing::Timecode(Fps::Fps25, 0), None, &[(0, on(69)), (100, off(69))])).unwrap();
    refused(&["render", path_str(&zero), "-o", path_str(&out)], &out, "0 ticks per frame");
}

#[test]
fn pieces_past_the_length_limit_are_refused_before_any_work() {
    let out = tmp("hostile-length", "out.wav");
    let metrical = Timing::Metrical(u15::new(1));
    // A note one day in at 120 BPM, 1 tick a beat: 172,800 beats.
    let day = tmp("hostile-length", "day.mid");
    std::fs::write(&day, midi(metrical, None, &[(0, on(60)), (172_800, off(60))])).unwrap();
    refused(&["render", path_str(&day), "-o", path_str(&out)], &out, "longer than the limit");
    // The slowest tempo (16.7 s a beat) and the longest delta: centuries.
    let slow = tmp("hostile-length", "slow.mid");
    std::fs::write(&slow, midi(metrical, Some(0xFF_FFFF), &[(0, on(60)), (0x0FFF_FFFF, off(60))])).unwrap();
    refused(&["render", path_str(&slow), "-o", path_str(&out)], &out, "longer than the limit");
    // A short piece under a shorter limit.
    let short = tmp("hostile-length", "short.mid");
    std::fs::write(&short, midi(Timing::Metrical(u15::new(480)), None, &[(0, on(60)), (2880, off(60))])).unwrap();
    refused(&["render", path_str(&short), "-o", path_str(&out), "--max-length", "2"], &out, "--max-length");
    ddsp_ok(&["render", path_str(&short), "-o", path_str(&out), "--max-length", "6"]);
}

#[test]
fn sample_rates_and_channel_counts_at_and_past_the_limits() {
    let out = tmp("hostile-rates", "out.wav");
    for (rate, channels, expected) in
        [(1, 1, "sample rate 1 hz"), (2_000_000, 1, "sample rate"), (48_000, 65, "65 channels")]
    {
        let file = tmp("hostile-rates", "in.wav");
        std::fs::write(&file, wav(rate, channels, 100)).unwrap();
        refused(&["render", path_str(&file), "-o", path_str(&out)], &out, expected);
    }
    // 64 channels at 8 kHz: folded to mono, resampled to 48 kHz.
    let file = tmp("hostile-rates", "in64.wav");
    std::fs::write(&file, wav(8_000, 64, 4_000)).unwrap();
    ddsp_ok(&["render", path_str(&file), "-o", path_str(&out), "--master", "off"]);
    assert_eq!(wav_header(&out).channels, 1);
    assert_eq!(wav_frames(&out), 24_000, "0.5 s at 48 kHz");
}

#[test]
fn files_that_are_not_files_are_refused_without_waiting() {
    let dir = tmp("hostile-special", "x").parent().unwrap().to_owned();
    let fifo = dir.join("pipe.mid");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = dir.join("out.wav");
    refused(&["render", path_str(&fifo), "-o", path_str(&out)], &out, "fifo");
    refused(&["render", path_str(&dir), "-o", path_str(&out)], &out, "directory");
    let phrase = dir.join("phrase.mid");
    std::fs::write(&phrase, midi(Timing::Metrical(u15::new(480)), None, &[(0, on(60)), (480, off(60))])).unwrap();
    let fifo_model = dir.join("pipe.onnx");
    let _ = std::fs::remove_file(&fifo_model);
    assert!(Command::new("mkfifo").arg(&fifo_model).status().unwrap().success());
    refused(
        &["render", path_str(&phrase), "-o", path_str(&out), "--model", path_str(&fifo_model)],
        &out,
        "not a regular file",
    );
    refused(&["info", "/dev/zero"], &out, "not a regular file");
    // An output that names a device (through a link, with a valid extension) is not replaced.
    let device = dir.join("device.wav");
    let _ = std::fs::remove_file(&device);
    std::os::unix::fs::symlink("/dev/null", &device).unwrap();
    let out = ddsp(&["render", path_str(&phrase), "-o", path_str(&device)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
    assert!(std::fs::symlink_metadata(&device).unwrap().file_type().is_symlink());
}

#[test]
fn a_render_never_overwrites_its_input() {
    let dir = tmp("hostile-same", "x").parent().unwrap().to_owned();
    let input = dir.join("take.wav");
    let mut take = wav(48_000, 1, 4_800);
    take.iter_mut().skip(44).enumerate().for_each(|(i, b)| *b = (i * 7) as u8);
    std::fs::write(&input, &take).unwrap();
    let link = dir.join("link.wav");
    let hard = dir.join("hard.wav");
    let _ = std::fs::remove_file(&link);
    let _ = std::fs::remove_file(&hard);
    std::os::unix::fs::symlink(&input, &link).unwrap();
    std::fs::hard_link(&input, &hard).unwrap();
    for output in [&input, &link, &hard] {
        let out = ddsp(&["render", path_str(&input), "-o", path_str(output)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("is the input"), "{stderr}");
        assert_eq!(std::fs::read(&input).unwrap(), take, "the input changed");
    }
    // The model file is protected the same way.
    let model = dir.join("model.onnx");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/flute.onnx"), &model).unwrap();
    let before = std::fs::read(&model).unwrap();
    let out = ddsp(&["render", path_str(&input), "-o", path_str(&dir.join("model.wav")), "--model", path_str(&model)]);
    assert!(out.status.success());
    let renamed = dir.join("model.wav");
    std::fs::rename(&model, &renamed).unwrap();
    let out = ddsp(&["render", path_str(&input), "-o", path_str(&renamed), "--model", path_str(&renamed)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the input"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&renamed).unwrap(), before);
}

/// A sparse piece of `minutes`: one short note every 30 s.
fn sparse_piece(minutes: u32) -> Vec<u8> {
    let mut events = Vec::new();
    for i in 0..minutes * 2 {
        events.push((if i == 0 { 0 } else { 29 * 960 }, on(60 + (i % 12) as u8)));
        events.push((960, off(60 + (i % 12) as u8)));
    }
    // 480 ticks a beat at 120 BPM: 960 ticks a second.
    midi(Timing::Metrical(u15::new(480)), None, &events)
}

#[test]
fn ctrl_c_mid_render_leaves_nothing_behind() {
    let dir = tmp("hostile-sigint", "x").parent().unwrap().to_owned();
    let piece = dir.join("long.mid");
    std::fs::write(&piece, sparse_piece(120)).unwrap();
    let out = dir.join("long.wav");
    let child = Command::new(env!("CARGO_BIN_EXE_ddsp"))
        .args(["render", path_str(&piece), "-o", path_str(&out), "--master", "off"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while files_containing(&dir, ".partial").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no render started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sends a signal to our own child, which has not been waited for (its pid is live).
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!out.exists());
    assert!(files_containing(&dir, ".partial").is_empty(), "a partial file was left behind");
}

#[test]
fn rendered_files_take_the_users_umask() {
    let dir = tmp("hostile-umask", "x").parent().unwrap().to_owned();
    let piece = dir.join("p.mid");
    std::fs::write(&piece, midi(Timing::Metrical(u15::new(480)), None, &[(0, on(60)), (480, off(60))])).unwrap();
    for (umask, mode) in [("022", 0o644), ("002", 0o664), ("077", 0o600)] {
        let out = dir.join(format!("p{umask}.flac"));
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" render \"$1\" -o \"$2\" --master off"))
            .arg(env!("CARGO_BIN_EXE_ddsp"))
            .arg(&piece)
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, mode, "umask {umask}");
    }
}

#[test]
fn flac_streaminfo_declares_the_stream_block_size_and_every_sample() {
    let dir = tmp("hostile-flac", "x").parent().unwrap().to_owned();
    let piece = dir.join("p.mid");
    // 1.3 s + a 0.2 s tail = 72,000 frames: 17 blocks of 4096 and a short one of 2,368.
    std::fs::write(&piece, midi(Timing::Metrical(u15::new(480)), None, &[(0, on(64)), (1248, off(64))])).unwrap();
    let flac = dir.join("p.flac");
    ddsp_ok(&["render", path_str(&piece), "-o", path_str(&flac), "--master", "off", "--tail", "0.2"]);
    let bytes = std::fs::read(&flac).unwrap();
    assert_eq!(&bytes[..4], b"fLaC");
    let info = &bytes[8..42];
    let min_block = u16::from_be_bytes([info[0], info[1]]);
    let max_block = u16::from_be_bytes([info[2], info[3]]);
    let total = (u64::from(info[13] & 0x0F) << 32) | u64::from(u32::from_be_bytes(info[14..18].try_into().unwrap()));
    assert_eq!((min_block, max_block), (4096, 4096), "a fixed-blocksize stream: the last, short block does not count");
    assert_eq!(total, 72_000);
    assert!(info[18..34].iter().any(|&b| b != 0), "the MD5 signature is filled in");
    let reader = claxon::FlacReader::open(&flac).unwrap();
    assert_eq!(reader.streaminfo().samples, Some(72_000));
    // Every frame decodes and the sample count matches the header.
    let decoded = claxon::FlacReader::open(&flac).unwrap().samples().map(|s| s.unwrap()).count();
    assert_eq!(decoded, 72_000);
}

#[test]
fn info_prints_model_metadata_with_control_characters_escaped() {
    let dir = tmp("hostile-info", "x").parent().unwrap().to_owned();
    let mut bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/violin.onnx")).unwrap();
    // The model's name, as stored in its metadata: replaced by a terminal-clearing sequence of
    // the same length, so the protobuf stays valid.
    let at = bytes.windows(6).position(|w| w == b"Violin").unwrap();
    bytes[at..at + 6].copy_from_slice(b"\x1b[2J\x07X");
    let model = dir.join("escape.onnx");
    std::fs::write(&model, &bytes).unwrap();
    let out = ddsp_ok(&["info", path_str(&model)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains('\x1b') && !stdout.contains('\x07'), "raw control characters printed");
    assert!(stdout.contains("\\u{1b}[2J\\u{7}X"), "{stdout}");
}

/// Peak resident memory of `ddsp args` (its own, from `wait4`), bytes.
fn peak_rss(args: &[&str]) -> u64 {
    let child = Command::new(env!("CARGO_BIN_EXE_ddsp")).args(args).stdout(Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child, not yet waited for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child by pid, with valid pointers to the locals above.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "ddsp {args:?} failed");
    usage.ru_maxrss as u64 * 1024
}

#[test]
fn render_memory_does_not_grow_with_the_length_of_the_piece() {
    let dir = tmp("hostile-memory", "x").parent().unwrap().to_owned();
    let mut peaks = Vec::new();
    for minutes in [1, 20] {
        let piece = dir.join(format!("{minutes}.mid"));
        std::fs::write(&piece, sparse_piece(minutes)).unwrap();
        let out = dir.join(format!("{minutes}.wav"));
        // One pass (the default preset's loudness target would render it twice: memory is the same).
        let args = ["render", path_str(&piece), "-o", path_str(&out), "--bit-depth", "16", "--loudness", "off"];
        peaks.push(peak_rss(&args));
        assert!(wav_frames(&out) as f64 >= f64::from(minutes) * 60.0 * 48_000.0 - 48_000.0 * 30.0);
        std::fs::remove_file(&out).unwrap();
    }
    let mb = |b: u64| b as f64 / 1e6;
    println!("peak RSS: 1 minute {:.1} MB, 20 minutes {:.1} MB", mb(peaks[0]), mb(peaks[1]));
    // Held in memory, 20 minutes of stereo f32 would be 460 MB more than 1 minute.
    assert!(
        peaks[1] < peaks[0] + 16_000_000,
        "memory grew with the length: {:.1} → {:.1} MB",
        mb(peaks[0]),
        mb(peaks[1])
    );
}
