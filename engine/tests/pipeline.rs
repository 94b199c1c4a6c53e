//! The embeddable pipeline against references: the pitch it plays (an FFT peak, not our tracker),
//! MIDI from the pipeline equal to the instrument's own render, the real-time contract (no
//! allocation in process or in any event or control call), live loads from another thread, and
//! bad input.

#[path = "../../dsp-core/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::{allocations_in, cents, peak_near, rms, CountingAllocator};
use ddsp::Pipeline;
use ddsp_core::model::process_precision;
use ddsp_core::{Engine, Instrument, InstrumentEvent, InstrumentSettings, Model, TimedEvent};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SR: f64 = 48_000.0;
const BLOCK: usize = 256;

fn render(p: &mut Pipeline, seconds: f64) -> Vec<f32> {
    let mut out = vec![0.0; (seconds * SR) as usize];
    for block in out.chunks_mut(BLOCK) {
        p.process(block);
    }
    out
}

/// Raw MIDI at sample positions as the instrument's timed events.
fn timed_events(events: &[(usize, [u8; 3])]) -> Vec<TimedEvent> {
    events
        .iter()
        .map(|(at, bytes)| {
            let (channel, event) = ddsp::decode_midi(bytes).unwrap();
            TimedEvent { at: *at, channel, event }
        })
        .collect()
}

#[test]
fn direct_control_plays_the_pitch_and_follows_the_loudness() {
    let mut p = Pipeline::new(SR, BLOCK as u32, false).unwrap();
    let info = p.load_model_now("Violin").unwrap();
    assert_eq!(info.n_harmonics, 64);
    assert!(render(&mut p, 0.2).iter().all(|&x| x == 0.0), "silent until a loudness is set");
    p.set_f0_hz(523.25);
    let mut levels = Vec::new();
    for norm in [0.25, 0.5, 0.75, 1.0] {
        p.set_loudness_norm(norm);
        let out = render(&mut p, 0.5);
        let steady = &out[12_000..];
        let (hz, _) = peak_near(steady, SR, 523.25, 60.0, 1 << 14);
        assert!(cents(hz, 523.25).abs() < 5.0, "loudness {norm}: {hz} Hz");
        levels.push(20.0 * rms(steady).log10());
    }
    assert!(levels.windows(2).all(|w| w[1] > w[0] + 2.0), "level rises with loudness: {levels:?}");
    p.set_loudness_norm(0.0);
    let out = render(&mut p, 0.3);
    assert!(out[(0.02 * SR) as usize..].iter().all(|&x| x == 0.0), "0 fades out within 10 ms and stays silent");
}

#[test]
fn notes_through_the_pipeline_are_the_instruments_samples() {
    // The same events through the pipeline (queued MIDI bytes with sample offsets) and through the
    // instrument directly: identical output.
    let mut p = Pipeline::new(SR, BLOCK as u32, false).unwrap();
    let mut out = vec![0.0f32; 24_000];
    let mut reference = vec![0.0f32; 24_000];
    let events = [(100usize, [0x90u8, 60, 100]), (130, [0x90, 64, 90]), (9_000, [0x80, 60, 0]), (9_001, [0xE0, 0, 80])];
    for (i, block) in out.chunks_mut(BLOCK).enumerate() {
        for (at, bytes) in &events {
            if at / BLOCK == i {
                assert!(p.midi(bytes, (at % BLOCK) as u32));
            }
        }
        p.process(block);
    }
    // The model as the pipeline loads it: in the process's precision (f16 where the CPU has F16C).
    let model = Arc::new(Model::embedded_default().with_precision(process_precision()));
    let mut instrument = Instrument::new(model, SR as f32, InstrumentSettings::default());
    let timed = timed_events(&events);
    instrument.process(timed, &mut [&mut reference]);
    assert!(rms(&out) > 1e-3);
    assert_eq!(out, reference);
}

#[test]
fn process_and_every_event_and_control_call_never_allocate() {
    let mut p = Pipeline::new(SR, BLOCK as u32, false).unwrap();
    p.set_master("violin", "professional").unwrap();
    let input: Vec<f32> = (0..BLOCK).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
    let mut out = vec![0.0f32; BLOCK];
    let mut right = vec![0.0f32; BLOCK];
    // Warm up: the first blocks start voices and the mastering chain.
    for _ in 0..20 {
        p.process_audio(&input, &mut out);
    }
    let ((), allocations) = allocations_in(|| {
        for i in 0..400u32 {
            p.set_f0_hz(220.0 + i as f32);
            p.set_loudness_norm(0.5 + 0.001 * i as f32);
            p.set_loudness_db(f32::NAN);
            if i % 20 == 0 {
                p.event(3, 0, InstrumentEvent::NoteOn { note: 48 + (i / 20 % 30) as u8, velocity: 0.7 });
                p.midi(&[0xB0, 64, 127], 10);
                p.midi(&[0xE1, 0, 70], 5);
            }
            if i % 30 == 0 {
                p.event(0, 0, InstrumentEvent::AllNotesOff);
            }
            if i % 50 == 0 {
                // Timbre transfer's pitch controls, taken up by the next process call.
                assert!(p.set_pitch_correction(
                    Some((i / 50 % 12) as u8),
                    ddsp_core::tracking::correction::MAJOR,
                    20.0
                ));
                assert!(p.set_pitch_options(0.5 + 0.001 * i as f32, 30.0, i % 100 == 0));
            }
            match i % 3 {
                0 => p.process(&mut out),
                1 => p.process_stereo(&mut out, &mut right),
                _ => p.process_audio(&input, &mut out),
            }
        }
        p.set_polyphony(32);
        p.reset();
        p.process(&mut out);
        p.set_master("off", "draft").unwrap();
        p.process(&mut out[..0]);
    });
    assert_eq!(allocations, 0, "process / events / controls allocated");
}

#[test]
fn a_model_loaded_on_another_thread_takes_over_while_audio_plays() {
    let p = Arc::new(Pipeline::new(SR, BLOCK as u32, false).unwrap());
    p.set_f0_hz(330.0);
    p.set_loudness_norm(0.7);
    let loader = {
        let p = p.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            // More loads than any swap queue holds: each engine takes every one (the effect too,
            // though no audio comes in), so none waits or fails.
            for name in ["Trumpet", "Violin", "Flute", "Trumpet", "Violin"] {
                assert_eq!(p.load_model(name).unwrap().name, name);
            }
            let cello = p.load_model("Cello").map(|i| i.name);
            let bad = p.load_model("/nowhere/x.onnx").is_err();
            (cello, bad)
        })
    };
    let mut played = Vec::new();
    let mut block = [0.0f32; BLOCK];
    let started = std::time::Instant::now();
    while !loader.is_finished() || played.len() < 48_000 {
        // SAFETY: this thread is the only one processing.
        unsafe { p.process_shared(None, &mut block, None) };
        played.extend_from_slice(&block);
        if started.elapsed().as_secs() > 60 {
            panic!("the load never finished");
        }
    }
    let (cello, bad) = loader.join().unwrap();
    assert_eq!(cello.unwrap(), "Cello");
    assert!(bad, "a missing file fails");
    assert_eq!(p.model_info().name, "Cello", "a failed load keeps the previous model");
    assert!(played.iter().all(|x| x.is_finite()));
    // No gap: every 10 ms window after the onset sounds.
    for window in played[2_400..].chunks(480) {
        assert!(rms(window) > 1e-4, "a silent window across the swap");
    }
}

#[test]
fn bad_arguments_are_refused_or_ignored() {
    assert!(Pipeline::new(0.0, 256, false).is_err());
    assert!(Pipeline::new(10e6, 256, false).is_err());
    assert!(Pipeline::new(f64::NAN, 256, false).is_err());
    assert!(Pipeline::new(SR, 0, false).is_err());
    let mut p = Pipeline::new(SR, 64, false).unwrap();
    for f in [f32::NAN, f32::INFINITY, -5.0, 0.0, 1e9] {
        p.set_f0_hz(f);
    }
    for l in [f32::NAN, f32::NEG_INFINITY, -3.0, 40.0] {
        p.set_loudness_norm(l);
        p.set_loudness_db(l);
    }
    assert!(p.set_master("nope", "standard").is_err());
    assert!(p.set_master("flat", "nope").is_err());
    assert!(!p.midi(&[], 0));
    assert!(!p.midi(&[0xF8], 0), "clock is not an instrument message");
    assert!(!p.midi(&[0x90, 200, 1], 0), "data bytes above 127");
    p.set_loudness_norm(0.8);
    p.set_f0_hz(f32::NAN); // ignored: 440 Hz stays
    let mut out = vec![0.0f32; 1000]; // longer than max_block
    p.process(&mut out);
    p.event(u32::MAX, 0, InstrumentEvent::NoteOn { note: 60, velocity: 1.0 }); // past the block: at its end
    p.process(&mut out);
    assert!(out.iter().all(|x| x.is_finite()) && rms(&out) > 1e-4);
    let err = p.load_model_now("no-such-model").unwrap_err().to_string();
    assert!(err.contains("no-such-model"), "{err}");
    assert_eq!(p.model_info().name, "Flute", "the default keeps playing");
}

#[test]
fn a_real_time_pipeline_driven_faster_than_real_time_plays_a_windowed_model_in_step() {
    // A bounce through an embedding: the pipeline made for real time, driven as fast as the CPU
    // goes. Once it runs half a second ahead of the wall clock, a windowed model's voices wait for
    // their worker (as in the plugins), so the output is the offline pipeline's, sample for sample.
    let model =
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../dsp-core/tests/data/windowed_ref.onnx"));
    let model = model.to_str().unwrap();
    let mut outputs = Vec::new();
    for offline in [true, false] {
        let mut p = Pipeline::new(SR, BLOCK as u32, offline).unwrap();
        p.load_model_now(model).unwrap();
        p.set_f0_hz(220.0);
        p.set_loudness_norm(0.7);
        outputs.push(render(&mut p, 3.0));
    }
    let from = (1.5 * SR) as usize;
    let (reference, fast) = (&outputs[0][from..], &outputs[1][from..]);
    let level = 20.0 * rms(reference).log10();
    assert!(level > -60.0, "the offline render sounds: {level:.1} dB");
    let worst = reference.iter().zip(fast).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!(
        "windowed model, real-time pipeline at full speed vs offline, from 1.5 s: {level:.1} dB, max diff {worst:e}"
    );
    assert!(worst < 1e-6, "max difference {worst}");
}

#[test]
fn a_morph_through_the_pipeline_is_the_instruments_morph_and_never_allocates() {
    let mut p = Pipeline::new(SR, BLOCK as u32, false).unwrap();
    assert_eq!(p.load_morph(&["Flute", "Cello"]).unwrap(), Vec::<usize>::new());
    p.set_morph(0.4, 0.0);
    let events = [(100usize, [0x90u8, 55, 100]), (12_000, [0x80, 55, 0])];
    let mut out = vec![0.0f32; 24_000];
    for (i, block) in out.chunks_mut(BLOCK).enumerate() {
        for (at, bytes) in &events {
            if at / BLOCK == i {
                assert!(p.midi(bytes, (at % BLOCK) as u32));
            }
        }
        p.process(block);
    }
    // The same morph and events through the instrument directly.
    let load = |model: Model| Arc::new(model.with_precision(process_precision()));
    let (flute, cello) =
        (load(Model::embedded_default()), load(ddsp_core::BuiltInModel::find("Cello").unwrap().load()));
    let settings =
        InstrumentSettings { morph: ddsp_core::MorphPosition::new(0.4, 0.0), ..InstrumentSettings::default() };
    let mut instrument = Instrument::new(flute.clone(), SR as f32, settings);
    assert!(ddsp_core::play_morph_now(&mut instrument, &[Some(flute), Some(cello)]));
    let timed = timed_events(&events);
    let mut reference = vec![0.0f32; out.len()];
    instrument.process(timed, &mut [&mut reference]);
    assert!(rms(&out) > 1e-3);
    assert_eq!(out, reference);

    // Moving the morph and its source while notes play: no allocation.
    assert!(p.midi(&[0x90, 60, 100], 0));
    let mut block = vec![0.0f32; BLOCK];
    p.process(&mut block);
    let ((), n) = allocations_in(|| {
        for i in 0..200 {
            p.set_morph(i as f32 / 200.0, f32::NAN);
            assert!(p.set_morph_source(if i % 2 == 0 { 1 } else { -1 }));
            p.process(&mut block);
        }
    });
    assert_eq!(n, 0, "allocator calls while the morph moves");

    // A place that fails: reported, the others play; none at all: refused.
    assert_eq!(p.load_morph(&["Violin", "no-such-model"]).unwrap(), vec![1]);
    assert!(p.load_morph(&["no-such-a", "no-such-b"]).is_err());
    assert!(p.load_morph(&[]).is_err());
    assert!(!p.set_morph_source(120));
}

#[test]
fn timbre_transfer_sends_the_notes_it_hears_as_midi() {
    // Four detached notes, 0.25 s each with 0.1 s rests: C4 E4 G4 C5, in 256-sample calls.
    let keys = [60u8, 64, 67, 72];
    let step = (0.35 * SR) as usize;
    let n = keys.len() * step + (0.2 * SR) as usize;
    let mut phase = 0.0f64;
    let input: Vec<f32> = (0..n)
        .map(|i| {
            let Some(&key) = keys.get(i / step).filter(|_| i % step < (0.25 * SR) as usize) else { return 0.0 };
            phase = (phase + 440.0 * ((f64::from(key) - 69.0) / 12.0).exp2() / SR).fract();
            let p = std::f64::consts::TAU * phase;
            (0.3 * (p.sin() + 0.5 * (2.0 * p).sin() + 0.25 * (3.0 * p).sin())) as f32
        })
        .collect();
    let mut p = Pipeline::new(SR, BLOCK as u32, false).unwrap();
    let mut out = vec![0.0f32; 256];
    let mut taken = [ddsp::MidiOutMessage::default(); 64];
    let mut messages = Vec::with_capacity(4096);
    let ((), allocations) = allocations_in(|| {
        for (i, block) in input.chunks(256).enumerate() {
            p.process_audio(block, &mut out[..block.len()]);
            let count = p.take_midi_out(&mut taken);
            messages.extend(taken[..count].iter().map(|m| (i * 256 + m.offset as usize, m.len, m.bytes)));
        }
    });
    assert_eq!(allocations, 0);
    let ons: Vec<(usize, u8)> = messages
        .iter()
        .filter(|m| m.2[0] == 0x90)
        .map(|&(at, len, bytes)| {
            assert_eq!(len, 3);
            assert!(bytes[2] >= 1);
            (at, bytes[1])
        })
        .collect();
    assert_eq!(ons.iter().map(|o| o.1).collect::<Vec<_>>(), keys);
    for (i, &(at, key)) in ons.iter().enumerate() {
        let late_ms = (at - i * step) as f64 * 1e3 / SR;
        assert!(late_ms <= 10.0, "note {key}: on {late_ms:.1} ms after its onset");
    }
    let offs = messages.iter().filter(|m| m.2[0] == 0x80).count();
    assert_eq!(offs, keys.len(), "every note on gets its note off");
    // A note held at a reset ends with it.
    p.process_audio(&input[..(0.1 * SR) as usize], &mut vec![0.0; (0.1 * SR) as usize]);
    p.reset();
    p.process(&mut out);
    let count = p.take_midi_out(&mut taken);
    let ended = taken[..count].iter().filter(|m| m.bytes[0] == 0x80).count();
    let started = taken[..count].iter().filter(|m| m.bytes[0] == 0x90).count();
    assert_eq!((started, ended), (1, 1));
}

#[test]
fn midi_out_mode_and_pitch_correction_are_set_from_any_thread() {
    // C#4 sung 20 cents sharp, 0.3 s, then silence: corrected to C major it is D4 (the nearer
    // scale note), sent in MPE on the first member channel with a centred bend (in tune).
    let n = (0.5 * SR) as usize;
    let hz = 440.0 * ((61.2f64 - 69.0) / 12.0).exp2();
    let input: Vec<f32> = (0..n)
        .map(|i| {
            if i >= (0.3 * SR) as usize {
                return 0.0;
            }
            let p = std::f64::consts::TAU * hz * i as f64 / SR;
            (0.3 * (p.sin() + 0.5 * (2.0 * p).sin())) as f32
        })
        .collect();
    let mut p = Pipeline::new(SR, BLOCK as u32, false).unwrap();
    assert!(p.set_midi_out(2, 1, 48));
    assert!(p.set_pitch_correction(Some(0), ddsp_core::tracking::correction::MAJOR, 0.0));
    // Refused, nothing changed.
    assert!(!p.set_midi_out(3, 1, 2) && !p.set_midi_out(1, 17, 2) && !p.set_midi_out(1, 1, 0));
    assert!(!p.set_pitch_correction(Some(12), 0xAB5, 0.0) && !p.set_pitch_correction(None, 0, 0.0));
    assert!(!p.set_pitch_correction(None, 0xAB5, f32::NAN));
    let mut out = vec![0.0f32; 256];
    let mut taken = [ddsp::MidiOutMessage::default(); 256];
    let mut messages = Vec::new();
    for block in input.chunks(256) {
        p.process_audio(block, &mut out[..block.len()]);
        let count = p.take_midi_out(&mut taken);
        messages.extend_from_slice(&taken[..count]);
    }
    let ons: Vec<[u8; 3]> = messages.iter().filter(|m| m.bytes[0] & 0xF0 == 0x90).map(|m| m.bytes).collect();
    assert_eq!(ons.len(), 1, "{messages:?}");
    assert_eq!(ons[0][..2], [0x91, 62], "D4 on member channel 2");
    // The last bend before the note off: in tune within 3 cents at ±48 semitones.
    let bend = messages.iter().filter(|m| m.bytes[0] == 0xE1).last().unwrap();
    let value = f64::from(u16::from(bend.bytes[2]) << 7 | u16::from(bend.bytes[1]));
    let cents = (value - 8192.0) / 8192.0 * 4800.0;
    assert!(cents.abs() < 3.0, "bent {cents:.1} cents");
    assert!(messages.iter().any(|m| m.bytes[0] == 0xD1 && m.len == 2), "MPE pressure");
    assert_eq!(messages.iter().filter(|m| m.bytes[0] == 0x81).count(), 1, "its note off");
    // Off: nothing more is sent.
    assert!(p.set_midi_out(0, 1, 2));
    p.process_audio(&input[..2560], &mut vec![0.0; 2560]);
    assert_eq!(p.take_midi_out(&mut taken), 0);
}

#[test]
fn pitch_strength_and_what_the_model_hears_are_set_from_any_thread() {
    // C#4 sung 20 cents sharp, corrected to C major (D4): at strength 1 the bend is in tune, at
    // 0.5 the pitch goes half way (80 cents up becomes 40: the bend -40 cents from D4), at 0 it
    // stays as sung (-80). Letting the model hear the raw pitch changes the sound, not the notes.
    let hz = 440.0 * ((61.2f64 - 69.0) / 12.0).exp2();
    let n = (0.4 * SR) as usize;
    let input: Vec<f32> = (0..n)
        .map(|i| {
            let p = std::f64::consts::TAU * hz * i as f64 / SR;
            (0.3 * (p.sin() + 0.5 * (2.0 * p).sin())) as f32
        })
        .collect();
    let play = |strength: f32, hears_corrected: bool| {
        let mut p = Pipeline::new(SR, BLOCK as u32, false).unwrap();
        assert!(p.set_midi_out(2, 1, 48));
        assert!(p.set_pitch_correction(Some(0), ddsp_core::tracking::correction::MAJOR, 0.0));
        assert!(p.set_pitch_options(strength, 0.0, hears_corrected));
        let (mut out, mut audio) = (vec![0.0f32; BLOCK], Vec::new());
        let mut taken = [ddsp::MidiOutMessage::default(); 256];
        let mut last_bend = None;
        for block in input.chunks(BLOCK) {
            p.process_audio(block, &mut out[..block.len()]);
            audio.extend_from_slice(&out[..block.len()]);
            let count = p.take_midi_out(&mut taken);
            for m in taken[..count].iter().filter(|m| m.bytes[0] == 0xE1) {
                last_bend =
                    Some((f64::from(u16::from(m.bytes[2]) << 7 | u16::from(m.bytes[1])) - 8192.0) / 8192.0 * 4800.0);
            }
        }
        (last_bend.expect("bends were sent"), audio)
    };
    let (full, heard_corrected) = play(1.0, true);
    let (half, _) = play(0.5, true);
    let (none, _) = play(0.0, true);
    println!("bend from D4 at strength 1 / 0.5 / 0: {full:.1} / {half:.1} / {none:.1} cents");
    assert!(full.abs() < 3.0, "{full}");
    assert!((half + 40.0).abs() < 4.0, "{half}");
    assert!((none + 80.0).abs() < 4.0, "{none}");
    let (raw_bend, heard_raw) = play(1.0, false);
    assert!((raw_bend - full).abs() < 0.5, "the notes sent do not depend on what the model hears");
    let differs = heard_raw.iter().zip(&heard_corrected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(differs > 1e-3, "the model heard the same pitch: {differs}");
    // Refused, nothing changed.
    let p = Pipeline::new(SR, BLOCK as u32, false).unwrap();
    for (strength, smoothing) in [(1.5, 0.0), (-0.1, 0.0), (f32::NAN, 0.0), (1.0, -1.0), (1.0, 501.0), (1.0, f32::NAN)]
    {
        assert!(!p.set_pitch_options(strength, smoothing, true), "{strength} {smoothing}");
    }
    assert!(p.set_pitch_options(0.3, 500.0, false));
}

#[test]
fn pitch_aligned_latency_is_set_from_any_thread_and_reported() {
    // Aligned down to A2, timbre transfer reports the delay of a new note's pitch there (15.0 ms at
    // 48 kHz) from the next block on, and a low note's pitch comes out that late (dsp-core's
    // tests/pitch_delay.rs measures it); back to 0, the lowest latency again.
    let mut p = Pipeline::new(SR, BLOCK as u32, false).unwrap();
    let (input, mut out) = (vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]);
    p.process_audio(&input, &mut out);
    let lowest = p.audio_latency_samples();
    assert!(p.set_pitch_latency(110.0));
    p.process_audio(&input, &mut out);
    let aligned = p.audio_latency_samples();
    println!("audio latency: lowest {lowest} samples, aligned down to 110 Hz {aligned}");
    assert!((f64::from(aligned - lowest) - (0.0150 - 0.004) * SR).abs() < 0.001 * SR, "{lowest} -> {aligned}");
    for bad in [-1.0, 10.0, 5_000.0, f32::NAN, f32::INFINITY] {
        assert!(!p.set_pitch_latency(bad), "{bad}");
    }
    assert!(p.set_pitch_latency(0.0));
    p.process_audio(&input, &mut out);
    assert_eq!(p.audio_latency_samples(), lowest);
}
