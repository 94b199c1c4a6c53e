//! The f0 and loudness tracker against signals whose answer is known: sines, band-limited saws and
//! pulses from 40 Hz to 2 kHz (steady, vibrato, glides), loudness of bin-centred sines (analytic),
//! a 20 dB step, silence; block-size independence; no allocation.

mod common;

use common::*;
use ddsp_core::tracking::loudness::a_weighting_db;
use ddsp_core::tracking::{PitchSettings, Tracker, TrackerFrame};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[derive(Clone, Copy, Debug)]
enum Wave {
    Sine,
    Saw,
    Pulse,
}

/// A band-limited waveform following `f0(t)` (per sample), amplitude `amp`.
fn synth(wave: Wave, f0: &[f64], sample_rate: f64, amp: f64) -> Vec<f32> {
    let mut phase = 0.0f64;
    f0.iter()
        .map(|&f| {
            phase = (phase + f / sample_rate).fract();
            let p = std::f64::consts::TAU * phase;
            let n = ((0.45 * sample_rate / f) as usize).max(1);
            let v = match wave {
                Wave::Sine => p.sin(),
                Wave::Saw => (1..=n).map(|k| (k as f64 * p).sin() / k as f64).sum::<f64>() * 0.6,
                Wave::Pulse => {
                    (1..=n)
                        .map(|k| (k as f64 * std::f64::consts::PI * 0.25).sin() / k as f64 * (k as f64 * p).cos())
                        .sum::<f64>()
                        * 0.8
                }
            };
            (amp * v) as f32
        })
        .collect()
}

fn track(input: &[f32], sample_rate: f32, settings: PitchSettings) -> Vec<TrackerFrame> {
    let mut tracker = Tracker::new(sample_rate, settings);
    let mut frames = Vec::new();
    tracker.process(input, |f| frames.push(*f));
    frames
}

/// Frames in a row within tolerance that make a lock.
const LOCK_RUN: usize = 10;

/// Checks every frame after lock against the true f0 over the samples the estimate was made from
/// (a pitch that changes inside the analysis span is measured as its mean there, in cents: a causal
/// tracker cannot know more); returns the lock time (s). Locked: the first of `LOCK_RUN` frames in a
/// row within 5 cents; from there on every frame must be.
fn check_locked(frames: &[TrackerFrame], truth: &[f64], sample_rate: f64, tracker: &Tracker, label: &str) -> f64 {
    let reference = |f: &TrackerFrame| {
        // The analysis span depends on the pitch being measured.
        let (delay, span) = (tracker.pitch().delay_s(f.f0_hz), tracker.pitch().span_s(f.f0_hz));
        let centre = f.at_sample as f64 - delay * sample_rate;
        let half = 0.5 * span * sample_rate;
        let (a, b) = ((centre - half).max(0.0) as usize, ((centre + half).max(1.0) as usize).min(truth.len()));
        let a = a.min(b - 1);
        let mean_cents = truth[a..b].iter().map(|&hz| 1200.0 * (hz / 440.0).log2()).sum::<f64>() / (b - a) as f64;
        440.0 * (mean_cents / 1200.0).exp2()
    };
    let within = |f: &TrackerFrame| f.voiced && cents(f64::from(f.f0_hz), reference(f)).abs() < 5.0;
    let lock = (0..frames.len().saturating_sub(LOCK_RUN))
        .find(|&i| frames[i..i + LOCK_RUN].iter().all(within))
        .unwrap_or_else(|| panic!("{label}: never locked"));
    // Physics: two periods of the note plus the analysis windows; anything slower is a failure.
    let lock_s = frames[lock].at_sample as f64 / sample_rate;
    let bound_s = 2.5 / truth[0] + 0.012;
    assert!(lock_s <= bound_s, "{label}: locked after {:.1} ms (bound {:.1} ms)", lock_s * 1e3, bound_s * 1e3);
    for f in &frames[lock..] {
        let expected = reference(f);
        assert!(f.voiced, "{label}: unvoiced at {:.4} s after locking", f.at_sample as f64 / sample_rate);
        let error = cents(f64::from(f.f0_hz), expected);
        assert!(
            error.abs() < 5.0,
            "{label}: {error:.2} cents at {:.4} s ({} Hz vs {expected:.2} Hz)",
            f.at_sample as f64 / sample_rate,
            f.f0_hz
        );
    }
    lock_s
}

#[test]
fn steady_tones_from_40_hz_to_2_khz_within_5_cents_once_locked() {
    let settings = PitchSettings::default();
    for sample_rate in [48_000.0f32, 44_100.0, 96_000.0] {
        let mut locks = Vec::new();
        for hz in [40.0, 55.0, 80.0, 110.0, 220.0, 440.0, 880.0, 1320.0, 2000.0] {
            for wave in [Wave::Sine, Wave::Saw, Wave::Pulse] {
                let truth = vec![hz; (0.5 * sample_rate) as usize];
                let input = synth(wave, &truth, f64::from(sample_rate), 0.3);
                let frames = track(&input, sample_rate, settings);
                let label = format!("{wave:?} {hz} Hz at {sample_rate}");
                let lock =
                    check_locked(&frames, &truth, f64::from(sample_rate), &Tracker::new(sample_rate, settings), &label);
                locks.push((hz, wave, lock));
            }
        }
        if sample_rate == 48_000.0 {
            println!("time to lock at 48 kHz (first of 10 estimates in a row within 5 cents) and estimate delay:");
            let tracker = Tracker::new(sample_rate, settings);
            for (hz, wave, lock) in &locks {
                let delay_ms = tracker.pitch().delay_s(*hz as f32) * 1e3;
                let step_ms = tracker.pitch().step_delay_s(*hz as f32) * 1e3;
                println!(
                    "  {hz:>6} Hz {wave:<5?}: lock {:.1} ms, delay {delay_ms:.1} ms, a new note's {step_ms:.1} ms",
                    lock * 1e3
                );
            }
        }
    }
}

#[test]
fn vibrato_and_glides_are_followed_within_5_cents() {
    let sample_rate = 48_000.0f64;
    let n = sample_rate as usize;
    let tracker = Tracker::new(sample_rate as f32, PitchSettings::default());
    for base in [110.0, 440.0, 1000.0] {
        // ±50 cents at 5.5 Hz.
        let vibrato: Vec<f64> = (0..n)
            .map(|i| base * (0.5 / 12.0 * (std::f64::consts::TAU * 5.5 * i as f64 / sample_rate).sin()).exp2())
            .collect();
        // One octave up over the second, from base/√2.
        let glide: Vec<f64> = (0..n).map(|i| base / 2f64.sqrt() * (i as f64 / sample_rate).exp2()).collect();
        for (name, truth) in [("vibrato", vibrato), ("glide", glide)] {
            let input = synth(Wave::Saw, &truth, sample_rate, 0.3);
            let frames = track(&input, sample_rate as f32, PitchSettings::default());
            let delay = tracker.pitch().delay_s(base as f32);
            let lock = check_locked(&frames, &truth, sample_rate, &tracker, &format!("{name} around {base} Hz"));
            println!(
                "{name} around {base} Hz: locked after {:.1} ms, estimate delay {:.2} ms",
                lock * 1e3,
                delay * 1e3
            );
        }
    }
}

#[test]
fn a_period_of_silence_is_unvoiced_and_a_new_note_relocks_an_octave_away() {
    let sample_rate = 48_000.0f32;
    let mut truth = vec![220.0; 24_000];
    truth.extend(vec![440.0; 24_000]);
    let mut input = synth(Wave::Saw, &truth, f64::from(sample_rate), 0.3);
    input[20_000..24_000].iter_mut().for_each(|v| *v = 0.0);
    let frames = track(&input, sample_rate, PitchSettings::default());
    let at = |s: f64| frames.iter().find(|f| f.at_sample as f64 >= s * 48_000.0).unwrap();
    assert!(!at(0.49).voiced, "silence is unvoiced");
    assert!(at(0.49).loudness_db < -100.0);
    let second = &frames.iter().position(|f| f.at_sample >= 24_000).unwrap();
    let relock =
        frames[*second..].iter().position(|f| f.voiced && cents(f64::from(f.f0_hz), 440.0).abs() < 5.0).unwrap();
    println!("relock on a new note an octave up: {} ms", relock);
    assert!(relock <= 12, "relock took {relock} ms");
}

#[test]
fn loudness_of_sines_matches_the_a_weighting_curve() {
    // A steady sine of amplitude a reads 10·log10(72 · a²/2 · A(f)²) dB (the definition).
    for sample_rate in [48_000.0f32, 44_100.0, 96_000.0] {
        for hz in [60.0, 100.0, 110.0, 440.0, 1_000.0, 3_000.0, 8_000.0, 10_000.0] {
            let amp = 0.25f64;
            let n = (0.3 * f64::from(sample_rate)) as usize;
            let input: Vec<f32> = (0..n)
                .map(|i| (amp * (std::f64::consts::TAU * hz * i as f64 / f64::from(sample_rate)).sin()) as f32)
                .collect();
            let frames = track(&input, sample_rate, PitchSettings::default());
            let tail = &frames[frames.len() - 50..];
            let expected = 10.0 * (72.0 * amp * amp / 2.0).log10() + a_weighting_db(hz);
            let (lo, hi) =
                tail.iter().fold((f32::MAX, f32::MIN), |(l, h), f| (l.min(f.loudness_db), h.max(f.loudness_db)));
            // The bilinear-transformed filter departs from the analog curve towards Nyquist; it is
            // matched at 10 kHz (IEC 61672 class 1 allows ±1.1 dB at 4 kHz, +1.5/−2.5 dB at 8 kHz).
            let tolerance = if hz > 5_000.0 { 0.5 } else { 0.25 };
            assert!(
                (f64::from(lo) - expected).abs() < tolerance && (f64::from(hi) - expected).abs() < tolerance,
                "{hz} Hz at {sample_rate}: {lo}..{hi} dB vs {expected:.2} dB"
            );
        }
    }
}

#[test]
fn loudness_tracks_a_20_db_step_within_one_frame_and_silence_is_the_floor() {
    let sample_rate = 48_000.0f32;
    let tone = |amp: f32, len: usize| synth(Wave::Saw, &vec![330.0; len], 48_000.0, f64::from(amp));
    let mut input = tone(0.03, 24_000);
    let loud = tone(0.3, 24_000);
    input.extend_from_slice(&loud);
    let frames = track(&input, sample_rate, PitchSettings::default());
    let steady = |from: u64, to: u64| {
        let v: Vec<f32> = frames.iter().filter(|f| (from..to).contains(&f.at_sample)).map(|f| f.loudness_db).collect();
        v.iter().sum::<f32>() / v.len() as f32
    };
    let (quiet_db, loud_db) = (steady(12_000, 24_000), steady(36_000, 48_000));
    assert!((loud_db - quiet_db - 20.0).abs() < 0.3, "step {quiet_db} -> {loud_db}");
    // One 4 ms frame (192 samples) after the step the estimate is in the new regime: inside the
    // range the steady loud tone reads (whole periods: no ripple worth the name).
    let steady_range = frames
        .iter()
        .filter(|f| (36_000..48_000).contains(&f.at_sample))
        .fold((f32::MAX, f32::MIN), |(lo, hi), f| (lo.min(f.loudness_db), hi.max(f.loudness_db)));
    println!(
        "20 dB step: {quiet_db:.2} -> {loud_db:.2} dB; steady ripple of a 330 Hz saw {:.2}..{:.2} dB",
        steady_range.0, steady_range.1
    );
    assert!(steady_range.1 - steady_range.0 < 0.5, "ripple {steady_range:?}");
    for f in frames.iter().filter(|f| (24_192..24_192 + 4_800).contains(&f.at_sample)) {
        assert!(
            (f.loudness_db - loud_db).abs() < 0.5,
            "{} dB at {} samples after the step (steady {loud_db})",
            f.loudness_db,
            f.at_sample - 24_000
        );
    }
    let before = frames.iter().rev().find(|f| f.at_sample <= 24_000).unwrap();
    assert!(before.loudness_db < quiet_db + 3.0, "no anticipation of the step");

    let silence = track(&vec![0.0; 4800], sample_rate, PitchSettings::default());
    assert!(silence.iter().all(|f| f.loudness_db == -120.0 && !f.voiced));
    let mut nasty = vec![f32::NAN; 2400];
    nasty.extend(vec![f32::INFINITY; 2400]);
    let frames = track(&nasty, sample_rate, PitchSettings::default());
    assert!(frames.iter().all(|f| f.loudness_db.is_finite() && f.f0_hz.is_finite() && f.confidence.is_finite()));
}

#[test]
fn an_accent_or_a_sudden_drop_on_a_held_note_keeps_it_voiced_and_in_tune() {
    // A held note whose level steps by ±20 dB (an accent, a subito piano): the waveform repeats at
    // another level, which YIN's difference function counts as aperiodicity. Before the
    // confidence left the level change out, an accent on a 110 Hz note went unvoiced for 14 ms (on
    // 82 Hz for 23) and the effect's voice faded out with it.
    let sample_rate = 48_000.0f32;
    for hz in [82.4, 110.0, 220.0, 440.0] {
        for (label, before, after, at) in [
            ("accent", 0.03, 0.3, 24_000),
            ("accent", 0.03, 0.3, 24_150),
            ("drop", 0.3, 0.03, 24_000),
            ("drop", 0.3, 0.03, 24_150),
        ] {
            let mut input = synth(Wave::Saw, &vec![hz; 48_000], 48_000.0, 1.0);
            input.iter_mut().enumerate().for_each(|(i, x)| *x *= if i < at { before } else { after });
            let frames = track(&input, sample_rate, PitchSettings::default());
            let around: Vec<&TrackerFrame> =
                frames.iter().filter(|f| (19_200..33_600).contains(&f.at_sample)).collect();
            let unvoiced = around.iter().filter(|f| !f.voiced).count();
            let worst =
                around.iter().filter(|f| f.voiced).map(|f| cents(f64::from(f.f0_hz), hz).abs()).fold(0.0, f64::max);
            let lowest = around.iter().map(|f| f.confidence).fold(1.0, f32::min);
            println!("{hz} Hz {label}: {unvoiced} unvoiced frames of {}, lowest confidence {lowest:.2}, worst {worst:.1} cents", around.len());
            // A drop leaves the loud part in the window's older half, which the level's share
            // does not always explain below ~150 Hz (and a fall of level alone is how a note
            // ends): a few hops.
            let allowed = if label == "drop" && hz < 150.0 { 6 } else { 0 };
            assert!(unvoiced <= allowed, "{hz} Hz {label}: {unvoiced} frames unvoiced around the step");
            assert!(worst < 10.0, "{hz} Hz {label}: {worst:.1} cents off");
        }
    }
}

#[test]
fn any_block_split_gives_the_same_frames_and_nothing_allocates() {
    let sample_rate = 44_100.0f32;
    let truth: Vec<f64> = (0..44_100).map(|i| 200.0 + 100.0 * i as f64 / 44_100.0).collect();
    let input = synth(Wave::Pulse, &truth, 44_100.0, 0.3);
    let whole = track(&input, sample_rate, PitchSettings::default());
    let mut tracker = Tracker::new(sample_rate, PitchSettings::default());
    let mut split = Vec::with_capacity(whole.len() + 1);
    let mut rng = TestRng(5);
    let mut pos = 0;
    let mut allocations = 0;
    while pos < input.len() {
        let len = [1usize, 7, 64, 441, 8192][rng.next_u32() as usize % 5].min(input.len() - pos);
        let ((), n) = allocations_in(|| tracker.process(&input[pos..pos + len], |f| split.push(*f)));
        allocations += n;
        pos += len;
    }
    assert_eq!(allocations, 0);
    assert_eq!(split.len(), whole.len());
    assert!(split == whole, "block split changed the frames");
}

/// White noise at 10 dB below the tone (SNR by power over the whole signal), seeded.
fn with_noise(x: &[f32], snr_db: f64, seed: u64) -> Vec<f32> {
    let power = x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64;
    // Uniform noise in ±a has power a²/3.
    let a = (3.0 * power / 10f64.powf(snr_db / 10.0)).sqrt() as f32;
    let mut rng = TestRng(seed);
    x.iter().map(|v| v + a * (2.0 * rng.unit() - 1.0)).collect()
}

#[test]
fn at_10_db_snr_white_noise_the_voicing_holds_and_the_pitch_stays_right() {
    // Saw and pulse tones from 110 Hz to 880 Hz, 0.5 s each, in white noise at 10 dB SNR: voicing
    // recall on the tone (after the first 50 ms) and raw pitch accuracy (within 50 cents) against
    // the same tone without noise.
    let sr = 48_000.0;
    for wave in [Wave::Saw, Wave::Pulse] {
        for hz in [110.0, 220.0, 440.0, 880.0] {
            let clean = synth(wave, &vec![hz; 24_000], sr, 0.3);
            let noisy = with_noise(&clean, 10.0, 11);
            let settings = PitchSettings { f0_min_hz: 60.0, f0_max_hz: 1_000.0, ..PitchSettings::default() };
            let frames: Vec<TrackerFrame> =
                track(&noisy, sr as f32, settings).into_iter().filter(|f| f.at_sample > 2_400).collect();
            let voiced: Vec<&TrackerFrame> = frames.iter().filter(|f| f.voiced).collect();
            let recall = voiced.len() as f64 / frames.len() as f64;
            let accurate = voiced.iter().filter(|f| cents(f64::from(f.f0_hz), hz).abs() < 50.0).count();
            let rpa = accurate as f64 / frames.len() as f64;
            eprintln!("{wave:?} {hz} Hz at 10 dB SNR: voicing recall {recall:.3}, raw pitch accuracy {rpa:.3}");
            assert!(recall >= 0.9, "{wave:?} {hz} Hz: voicing recall {recall:.3}");
            assert!(rpa >= 0.9, "{wave:?} {hz} Hz: raw pitch accuracy {rpa:.3}");
        }
    }
}

#[test]
fn a_swell_in_noise_keeps_its_voicing_down_to_a_local_snr_of_minus_5_db() {
    // Saws whose level swells over 20 dB (0.03 to 0.3, twice in 2 s), white noise at 10 dB SNR
    // over the whole signal: the quiet parts sit at −5…0 dB local SNR (over the last 10 ms). Raw
    // pitch accuracy (within 50 cents) counts every frame of the tone.
    let sr = 48_000.0;
    let n = 96_000;
    for hz in [110.0, 220.0, 440.0, 880.0] {
        let tone = synth(Wave::Saw, &vec![hz; n], sr, 1.0);
        let swell = |i: usize| 0.3 * 10f64.powf(-(0.5 + 0.5 * (std::f64::consts::TAU * i as f64 / 48_000.0).cos()));
        let clean: Vec<f32> = tone.iter().enumerate().map(|(i, v)| (swell(i) * f64::from(*v)) as f32).collect();
        let noisy = with_noise(&clean, 10.0, 11);
        let noise_rms = (clean.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / n as f64 / 10.0).sqrt();
        let settings = PitchSettings { f0_min_hz: 60.0, f0_max_hz: 1_000.0, ..PitchSettings::default() };
        // (frames, voiced, within 50 cents) for local SNR below 0 dB and from 0 dB up.
        let mut counts = [(0usize, 0usize, 0usize); 2];
        for f in track(&noisy, sr as f32, settings).into_iter().filter(|f| f.at_sample > 2_400) {
            let end = f.at_sample as usize;
            let recent = &clean[end - 480..end];
            let local = (recent.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / 480.0).sqrt();
            let c = &mut counts[usize::from(local >= noise_rms)];
            c.0 += 1;
            c.1 += usize::from(f.voiced);
            c.2 += usize::from(f.voiced && cents(f64::from(f.f0_hz), hz).abs() < 50.0);
        }
        for (label, (frames, voiced, accurate)) in ["below 0 dB", "0 dB and up"].iter().zip(counts) {
            let (recall, rpa) = (voiced as f64 / frames as f64, accurate as f64 / frames as f64);
            eprintln!("{hz} Hz swell, local SNR {label}: {frames} frames, voicing recall {recall:.3}, RPA {rpa:.3}");
            assert!(recall >= 0.9, "{hz} Hz, local SNR {label}: voicing recall {recall:.3}");
            // An octave-down reading in the noise must not stick (it did: 0.73 at 880 Hz).
            assert!(rpa >= 0.95, "{hz} Hz, local SNR {label}: raw pitch accuracy {rpa:.3}");
        }
    }
}

#[test]
fn a_low_voice_like_tone_under_the_noise_keeps_its_voicing_and_pitch() {
    // A voice's power sits below ~1 kHz, white noise's is spread evenly up to Nyquist: a saw gliding
    // 100 -> 140 Hz (a spoken phrase's intonation) through two one-pole low-passes at 800 Hz
    // (-12 dB per octave above), at 22.05 kHz (the benchmark's espeak voices), in white noise at
    // -6 dB SNR. Voicing recall after the first 50 ms and raw pitch accuracy (within 50 cents of the
    // f0 one tracker delay before the estimate). Before the tracker's 1 kHz tilt: recall 0.863, RPA
    // 0.733; then 1.000 and 0.984, and 0.959 since the period-long average is brought forward by
    // its slope (the slope of a noisy run is partly the noise's). (A steady synthetic source is
    // easier than a voice: the benchmark's espeak voices went unvoiced at 0-5 dB local SNR before
    // the tilt.)
    let sr = 22_050.0;
    let n = 2 * 22_050;
    let f0: Vec<f64> = (0..n).map(|i| 100.0 * 1.4f64.powf(i as f64 / n as f64)).collect();
    let saw = synth(Wave::Saw, &f0, sr, 0.3);
    let a = 1.0 - (-std::f64::consts::TAU * 800.0 / sr).exp();
    let (mut y1, mut y2) = (0.0f64, 0.0f64);
    let voice: Vec<f32> = saw
        .iter()
        .map(|&x| {
            y1 += a * (f64::from(x) - y1);
            y2 += a * (y1 - y2);
            y2 as f32
        })
        .collect();
    for snr_db in [-6.0, 10.0] {
        let noisy = with_noise(&voice, snr_db, 5);
        let settings = PitchSettings { f0_min_hz: 60.0, f0_max_hz: 1_000.0, ..PitchSettings::default() };
        let tracker = Tracker::new(sr as f32, settings);
        let frames: Vec<TrackerFrame> =
            track(&noisy, sr as f32, settings).into_iter().filter(|f| f.at_sample > 1_103).collect();
        let voiced = frames.iter().filter(|f| f.voiced).count();
        let accurate = frames
            .iter()
            .filter(|f| {
                let delay = (tracker.pitch().delay_s(f.f0_hz.max(1.0)) * sr) as usize;
                let truth = f0[(f.at_sample as usize).saturating_sub(delay).min(n - 1)];
                f.voiced && cents(f64::from(f.f0_hz), truth).abs() < 50.0
            })
            .count();
        let (recall, rpa) = (voiced as f64 / frames.len() as f64, accurate as f64 / frames.len() as f64);
        eprintln!("voice-like glide at {snr_db} dB SNR: voicing recall {recall:.3}, raw pitch accuracy {rpa:.3}");
        assert!(recall >= 0.95, "{snr_db} dB SNR: voicing recall {recall:.3}");
        assert!(rpa >= 0.95, "{snr_db} dB SNR: raw pitch accuracy {rpa:.3}");
    }
}

#[test]
fn repeated_notes_in_noise_hold_their_pitch_through_each_gap_and_never_read_a_multiple_of_the_period() {
    // A saw re-attacked four times (0.2 s notes whose last 60 ms fade 40 dB down, 40 ms at the
    // bottom, 60 ms back up), white noise at 10 dB SNR: the gaps sit ~30 dB under the noise and go
    // unvoiced. The pitch held through them must be the note's (it was whatever the tracker read as
    // the note faded into the noise: at 330 Hz wrong on 23 % of the gap frames), and the
    // voiced frames must not read a multiple of the period (in noise every multiple dips about as
    // deep). Counted from the first voiced frame; a frame is right within 50 cents.
    let sr = 48_000.0;
    let (note, gap, fade) = (9_600usize, 4_800usize, 2_880usize);
    let cycle = note + gap;
    let n = 4 * cycle + note;
    for hz in [110.0, 196.0, 330.0, 587.0, 880.0] {
        let tone = synth(Wave::Saw, &vec![hz; n], sr, 0.3);
        let level = |i: usize| {
            let p = i % cycle;
            // Samples into the fade down (0..=fade), then back up over the gap's last `fade`.
            let down = if p < note { p.saturating_sub(note - fade) } else { (cycle - p).min(fade) };
            10f64.powf(-2.0 * down as f64 / fade as f64)
        };
        let clean: Vec<f32> = tone.iter().enumerate().map(|(i, v)| (level(i) * f64::from(*v)) as f32).collect();
        let noisy = with_noise(&clean, 10.0, 7);
        let settings = PitchSettings { f0_min_hz: 60.0, f0_max_hz: 1_000.0, ..PitchSettings::default() };
        let frames = track(&noisy, sr as f32, settings);
        let first = frames.iter().position(|f| f.voiced).expect("voiced");
        let right = |f: &&&TrackerFrame| cents(f64::from(f.f0_hz), hz).abs() < 50.0;
        let (voiced, held): (Vec<&TrackerFrame>, Vec<&TrackerFrame>) = frames[first..].iter().partition(|f| f.voiced);
        let voiced_right = voiced.iter().filter(right).count() as f64 / voiced.len() as f64;
        let held_right = held.iter().filter(right).count() as f64 / held.len().max(1) as f64;
        eprintln!(
            "{hz} Hz: {} voiced frames, {:.4} right; {} unvoiced frames, {:.4} holding the note",
            voiced.len(),
            voiced_right,
            held.len(),
            held_right
        );
        assert!(held.len() >= 4 * 60, "{hz} Hz: the gaps should go unvoiced ({} unvoiced frames)", held.len());
        assert!(voiced_right >= 0.98, "{hz} Hz: {voiced_right:.4} of the voiced frames within 50 cents");
        assert!(held_right >= 0.99, "{hz} Hz: {held_right:.4} of the unvoiced frames hold the note");
    }
}

#[test]
fn the_sampled_horns_low_retongued_note_is_read_at_its_fundamental() {
    // A real recording: 0.75 s of the tracker benchmark's French horn (MuseScore General, MIT,
    // rendered dry by fluidsynth: `scripts/bench/tracker_accuracy.py`, 13.85-14.60 s, peak at
    // -0.9 dBFS, 16-bit), a G#2
    // (103.8 Hz) re-tongued twice with pitch-bend vibrato (CREPE full: 102.1-105.2 Hz). Its 4th and
    // 5th harmonics are the loudest, and as it is re-tongued a window of a few periods sees the
    // waveform nearly repeat every 3rd-6th of the period. At most 1 % of the voiced frames may be
    // off the fundamental by 50 cents or more: 2 of 731 are, 73 were before the octave check
    // looked for the sounding note's period beyond three times the lag.
    let bytes = std::fs::read(data_path("horn_gs2_retongued.i16")).unwrap();
    let x: Vec<f32> = bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0).collect();
    let frames = track(&x, 48_000.0, PitchSettings::default());
    let voiced: Vec<&TrackerFrame> = frames.iter().filter(|f| f.voiced).collect();
    let worst = voiced.iter().map(|f| cents(f64::from(f.f0_hz), 103.83).abs()).fold(0.0, f64::max);
    let wrong = voiced.iter().filter(|f| cents(f64::from(f.f0_hz), 103.83).abs() >= 50.0).count();
    eprintln!("sampled horn G#2: {} voiced frames, {wrong} off the fundamental, worst {worst:.0} cents", voiced.len());
    assert!(voiced.len() >= 650, "{} voiced frames", voiced.len());
    assert!(wrong * 100 <= voiced.len(), "{wrong} voiced frames off the fundamental (worst {worst:.0} cents)");
}
