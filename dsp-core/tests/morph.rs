//! Morphing between models (`ddsp_core::morph`): corners equal the single model, halfway lies
//! between the two on every harmonic, sweeps do not click, automation is block-size invariant,
//! models of other rates and sizes blend, missing models and bad positions are survived, and the
//! audio thread never allocates while four-model morphs load and swap.

mod common;

use std::sync::Arc;

use common::*;
use ddsp_core::engine::TimedEvent;
use ddsp_core::morph::{morph_weights, MorphPosition, MorphSource, MORPH_FLOOR};
use ddsp_core::swap::{swap_channel, ModelLoader, SwapSender, VoiceSet};
use ddsp_core::voice::VoiceLevels;
use ddsp_core::{
    BuiltInModel, ControlTarget, Engine, Instrument, InstrumentEvent, InstrumentSettings, Model, ModelChoice, Voice,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SR: f32 = 48_000.0;
const SEED: u32 = 7;

fn built_in(name: &str) -> Arc<Model> {
    Arc::new(BuiltInModel::find(name).unwrap().load())
}

fn four() -> Vec<Arc<Model>> {
    ["Flute", "Violin", "Cello", "Trumpet"].iter().map(|n| built_in(n)).collect()
}

fn settings() -> InstrumentSettings {
    InstrumentSettings { mod_wheel_target: ControlTarget::Off, ..InstrumentSettings::default() }
}

/// An instrument playing a morph of `models` (built and handed over the way a loader does).
fn morph_instrument(models: &[Option<Arc<Model>>], settings: InstrumentSettings) -> (Instrument, SwapSender) {
    let first = models.iter().flatten().next().unwrap().clone();
    let mut inst = Instrument::new(first, SR, settings);
    let (mut sender, receiver) = swap_channel();
    inst.attach_swap_receiver(receiver);
    let set = VoiceSet::build_morph(models, &inst.voice_spec()).unwrap();
    assert!(sender.send(set).is_ok());
    let mut silence = [0.0f32; 64];
    inst.render(&mut silence); // takes the set
    inst.render(&mut silence); // sends the old voices back
    assert!(!inst.is_swapping(), "a silent instrument takes the morph at once");
    inst.reset(); // the frame grid's clock back to zero, as in a fresh instrument
    (inst, sender)
}

/// A phrase: two notes and a chord, with a loudness change.
fn phrase() -> Vec<(usize, InstrumentEvent)> {
    let s = |t: f32| (t * SR) as usize;
    vec![
        (0, InstrumentEvent::NoteOn { note: 69, velocity: 0.8 }),
        (s(0.4), InstrumentEvent::NoteOff { note: 69 }),
        (s(0.45), InstrumentEvent::NoteOn { note: 72, velocity: 0.5 }),
        (s(0.5), InstrumentEvent::NoteOn { note: 76, velocity: 0.9 }),
        (s(0.9), InstrumentEvent::NoteOff { note: 72 }),
        (s(1.0), InstrumentEvent::NoteOff { note: 76 }),
    ]
}

fn render(engine: &mut impl Engine, events: &[(usize, InstrumentEvent)], seconds: f32) -> Vec<f32> {
    let mut out = vec![0.0; (seconds * SR) as usize];
    ddsp_core::render_with_events(engine, &mut out, events);
    out
}

fn max_step(x: &[f32]) -> f32 {
    x.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max)
}

/// The loudness model `to` hears when a morph whose first model is `from` is given `db`.
fn mapped_loudness(from: &Model, to: &Model, db: f32) -> f32 {
    let (a, b) = (&from.meta, &to.meta);
    b.loudness_min_db
        + (db - a.loudness_min_db) * (b.loudness_max_db - b.loudness_min_db) / (a.loudness_max_db - a.loudness_min_db)
}

#[test]
fn weights_place_two_three_and_four_models() {
    let p = MorphPosition::new;
    assert_eq!(morph_weights(2, p(0.25, 0.9)), [0.75, 0.25, 0.0, 0.0]);
    assert_eq!(morph_weights(3, p(0.5, 0.0)), [0.0, 1.0, 0.0, 0.0]);
    assert_eq!(morph_weights(3, p(0.75, 0.0)), [0.0, 0.5, 0.5, 0.0]);
    assert_eq!(morph_weights(4, p(1.0, 1.0)), [0.0, 0.0, 0.0, 1.0]);
    assert_eq!(morph_weights(4, p(0.5, 0.5)), [0.25; 4]);
    assert_eq!(morph_weights(4, p(f32::NAN, f32::INFINITY)), [1.0, 0.0, 0.0, 0.0]);
    for n in 1..=4 {
        for i in 0..=10 {
            let w = morph_weights(n, p(i as f32 / 10.0, 1.0 - i as f32 / 10.0));
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6 && w.iter().all(|&v| v >= 0.0), "{n} models: {w:?}");
        }
    }
}

#[test]
fn at_corner_a_the_instrument_plays_the_first_model_bit_for_bit() {
    let models = four();
    let events = phrase();
    let mut alone = Instrument::new(models[0].clone(), SR, settings());
    let expected = render(&mut alone, &events, 1.5);
    for n in [2, 4] {
        let morph: Vec<_> = models[..n].iter().cloned().map(Some).collect();
        let (mut inst, _sender) = morph_instrument(&morph, settings());
        let got = render(&mut inst, &events, 1.5);
        assert!(got == expected, "{n} models at corner A differ from the first model alone");
    }
}

/// Every other corner: the voice equals that model's own voice fed the loudness mapped onto its
/// trained range (to 1e-6), and the models without weight do not run.
#[test]
fn at_every_other_corner_the_voice_plays_that_model() {
    let models = four();
    let corners =
        [(1, MorphPosition::new(1.0, 0.0)), (2, MorphPosition::new(0.0, 1.0)), (3, MorphPosition::new(1.0, 1.0))];
    let n = (0.5 * SR) as usize;
    // A swell in the pitch range every model was trained on.
    let f0: Vec<f32> = (0..n).map(|i| 330.0 * (1.0 + 0.05 * (i as f32 / n as f32))).collect();
    let loudness: Vec<f32> = (0..n).map(|i| -50.0 + 30.0 * (i as f32 / n as f32)).collect();
    for (place, position) in corners {
        let morph: Vec<_> = models.iter().cloned().map(Some).collect();
        let mut voice = Voice::with_morph(&morph, SR, SEED).unwrap();
        voice.set_morph_target(position, true);
        let mut got = vec![0.0; n];
        voice.process(&f0, &loudness, VoiceLevels::default(), &mut got);

        let target = &models[place];
        let mapped: Vec<f32> = loudness.iter().map(|&l| mapped_loudness(&models[0], target, l)).collect();
        let mut alone = Voice::new(target.clone(), SR, SEED);
        let mut expected = vec![0.0; n];
        alone.process(&f0, &mapped, VoiceLevels::default(), &mut expected);
        let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        println!("corner {place}: largest difference {worst:e}");
        assert!(worst <= 1e-6, "corner {place} ({}) differs by {worst}", target.meta.name);
        assert_eq!(voice.morph().unwrap().weights()[place], 1.0);
    }
}

/// Halfway between two models, each harmonic's amplitude (dB) lies between theirs, frame by frame.
#[test]
fn halfway_every_harmonic_lies_between_the_two_models() {
    let (a, b) = (built_in("Flute"), built_in("Violin"));
    let mut morph = Voice::with_morph(&[Some(a.clone()), Some(b.clone())], SR, SEED).unwrap();
    morph.set_morph_target(MorphPosition::new(0.5, 0.0), true);
    let mut va = Voice::new(a.clone(), SR, SEED);
    let mut vb = Voice::new(b.clone(), SR, SEED);
    let hop = morph.frame_hop_samples().round() as usize;
    let db = |v: f32| 20.0 * v.max(MORPH_FLOOR).log10();
    let (mut checked, mut gained) = (0, 0.0f32);
    let mut out = vec![0.0; hop];
    for frame in 0..200 {
        let f0 = vec![440.0 * (1.0 + 0.1 * (frame as f32 * 0.05).sin()); hop];
        let loud = vec![-45.0 + 25.0 * (frame as f32 / 200.0); hop];
        let mapped: Vec<f32> = loud.iter().map(|&l| mapped_loudness(&a, &b, l)).collect();
        morph.process(&f0, &loud, VoiceLevels::default(), &mut out);
        va.process(&f0, &loud, VoiceLevels::default(), &mut out);
        vb.process(&f0, &mapped, VoiceLevels::default(), &mut out);
        let (m, x, y) = (morph.controls().0, va.controls().0, vb.controls().0);
        for k in 0..m.len() {
            let (lo, hi) = (db(x[k]).min(db(y[k])), db(x[k]).max(db(y[k])));
            let v = db(m[k]);
            assert!(v >= lo - 1e-3 && v <= hi + 1e-3, "frame {frame}, harmonic {}: {v} dB outside {lo}..{hi}", k + 1);
            gained = gained.max(v - 0.5 * (db(x[k]) + db(y[k])));
            checked += 1;
        }
        // Noise bands likewise.
        let (m, x, y) = (morph.controls().1, va.controls().1, vb.controls().1);
        for j in 0..m.len() {
            let (lo, hi) = (db(x[j]).min(db(y[j])), db(x[j]).max(db(y[j])));
            assert!(db(m[j]) >= lo - 1e-3 && db(m[j]) <= hi + 1e-3, "frame {frame}, band {j}");
        }
    }
    println!("{checked} harmonic values between the models; renormalisation lifted them by up to {gained:.2} dB");
}

/// A sweep from one corner to the other and back, by a MIDI controller, while a note holds: no
/// step larger than either model's own steady playing makes.
#[test]
fn a_morph_sweep_does_not_click() {
    let models = [built_in("Flute"), built_in("Trumpet")];
    let s = InstrumentSettings { morph_source: MorphSource::Controller(1), ..settings() };
    let note = InstrumentEvent::NoteOn { note: 67, velocity: 0.8 };
    let steady = |x: f32| {
        let morph = [Some(models[0].clone()), Some(models[1].clone())];
        let (mut inst, _s) = morph_instrument(&morph, s);
        let cc = InstrumentEvent::ControlChange { cc: 1, value: x };
        let out = render(&mut inst, &[(0, cc), (0, note)], 2.0);
        max_step(&out[(0.3 * SR) as usize..])
    };
    let steady = steady(0.0).max(steady(1.0));
    let morph = [Some(models[0].clone()), Some(models[1].clone())];
    let (mut inst, _s) = morph_instrument(&morph, s);
    let mut events = vec![(0, InstrumentEvent::ControlChange { cc: 1, value: 0.0 }), (0, note)];
    // 0 → 1 → 0 over 1.6 s in 7-bit steps, as a controller sends them.
    for i in 0..=254usize {
        let v = if i <= 127 { i } else { 254 - i } as f32 / 127.0;
        events.push(((0.3 * SR) as usize + i * 300, InstrumentEvent::ControlChange { cc: 1, value: v }));
    }
    let out = render(&mut inst, &events, 2.0);
    let during = max_step(&out[(0.3 * SR) as usize..]);
    println!("largest step during the sweep {during:.5}, steady playing at the corners {steady:.5}");
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(during <= steady, "the sweep steps by {during}, steady playing by {steady}");
}

/// The mod wheel moving the morph adds no vibrato: at full, it is the set position at B.
#[test]
fn a_controller_that_moves_the_morph_drives_nothing_else() {
    let models = [Some(built_in("Flute")), Some(built_in("Violin"))];
    let vibrato = InstrumentSettings { mod_wheel_target: ControlTarget::Vibrato, ..InstrumentSettings::default() };
    let note = (0, InstrumentEvent::NoteOn { note: 69, velocity: 0.8 });
    let by_wheel = InstrumentSettings { morph_source: MorphSource::Controller(1), ..vibrato };
    let (mut inst, _s) = morph_instrument(&models, by_wheel);
    let wheel = render(&mut inst, &[(0, InstrumentEvent::ControlChange { cc: 1, value: 1.0 }), note], 0.6);
    let at_b = InstrumentSettings { morph: MorphPosition::new(1.0, 0.0), ..vibrato };
    let (mut inst, _s) = morph_instrument(&models, at_b);
    let set = render(&mut inst, &[note], 0.6);
    assert!(wheel == set, "the mod wheel moved the morph and also did something else");
}

/// The same events at any block size give the same samples, morph automation included.
#[test]
fn morph_automation_is_block_size_invariant() {
    let models: Vec<_> = four().into_iter().map(Some).collect();
    let s = InstrumentSettings {
        morph_source: MorphSource::Controller(16),
        morph: MorphPosition::new(0.2, 0.7),
        ..settings()
    };
    let mut events = vec![
        TimedEvent::new(0, InstrumentEvent::NoteOn { note: 64, velocity: 0.7 }),
        TimedEvent::new(9_000, InstrumentEvent::NoteOn { note: 71, velocity: 0.6 }),
    ];
    for i in 0..40 {
        events.push(TimedEvent::new(
            1_000 + i * 1_111,
            InstrumentEvent::ControlChange { cc: 16, value: (i % 9) as f32 / 8.0 },
        ));
    }
    events.sort_by_key(|e| e.at);
    let total = 60_000;
    let run = |block: usize| {
        let (mut inst, _s) = morph_instrument(&models, s);
        let mut out = vec![0.0f32; total];
        for (b, chunk) in out.chunks_mut(block).enumerate() {
            let start = b * block;
            let len = chunk.len();
            let evs = events.iter().filter(|e| e.at >= start && e.at < start + len);
            inst.process(evs.map(|e| TimedEvent { at: e.at - start, ..*e }), &mut [chunk]);
        }
        out
    };
    let reference = run(total);
    assert!(rms(&reference) > 1e-3, "the morph sounds");
    for block in [1, 64, 441, 1000, 4096] {
        assert!(run(block) == reference, "block size {block} changes the output");
    }
}

/// MPE: each note's own timbre (CC74 on its member channel) moves its own morph.
#[test]
fn per_note_timbre_moves_each_notes_morph() {
    let models = [built_in("Flute"), built_in("Cello")];
    let s = InstrumentSettings { morph_source: MorphSource::Timbre, mpe: true, ..settings() };
    let solo = |timbre: f32| {
        let (mut inst, _s) = morph_instrument(&[Some(models[0].clone()), Some(models[1].clone())], s);
        let mut out = vec![0.0; (0.5 * SR) as usize];
        let events = [
            TimedEvent { at: 0, channel: 1, event: InstrumentEvent::ControlChange { cc: 74, value: timbre } },
            TimedEvent { at: 0, channel: 1, event: InstrumentEvent::NoteOn { note: 60, velocity: 0.8 } },
        ];
        inst.process(events, &mut [&mut out]);
        out
    };
    let (flute, cello) = (solo(0.0), solo(1.0));
    let mut alone = Instrument::new(models[0].clone(), SR, s);
    let mut reference = vec![0.0; flute.len()];
    alone.process(
        [TimedEvent { at: 0, channel: 1, event: InstrumentEvent::NoteOn { note: 60, velocity: 0.8 } }],
        &mut [&mut reference],
    );
    assert!(flute == reference, "timbre 0 plays the first model");
    let diff = flute.iter().zip(&cello).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff > 1e-3, "timbre 1 plays the other model");
}

/// A DDSP-VST export (16 kHz, 50 frames/s, its own harmonic and band counts) morphs with a
/// shipped model (48 kHz, 250 frames/s): finite, sounding, no allocation, and halfway its
/// loudness lies between the two corners'.
#[test]
fn models_of_different_rates_and_sizes_blend() {
    let vst = Arc::new(Model::load(data_path("ddsp-vst/model_a.tflite")).unwrap());
    let flute = built_in("Flute");
    assert_ne!(vst.meta.frame_rate_hz, flute.meta.frame_rate_hz);
    let level = |first: &Arc<Model>, second: &Arc<Model>, x: f32| {
        let mut voice = Voice::with_morph(&[Some(first.clone()), Some(second.clone())], SR, SEED).unwrap();
        voice.set_morph_target(MorphPosition::new(x, 0.0), true);
        let n = SR as usize;
        let f0 = vec![392.0; n];
        let loudness = vec![-30.0; n];
        let mut out = vec![0.0; n];
        let ((), allocations) = allocations_in(|| voice.process(&f0, &loudness, VoiceLevels::default(), &mut out));
        assert_eq!(allocations, 0);
        assert!(out.iter().all(|v| v.is_finite()));
        rms(&out[n / 2..])
    };
    for (first, second) in [(&flute, &vst), (&vst, &flute)] {
        let (a, half, b) = (level(first, second, 0.0), level(first, second, 0.5), level(first, second, 1.0));
        println!("{} → {}: rms {a:.4} / {half:.4} / {b:.4}", first.meta.name, second.meta.name);
        assert!(a > 1e-4 && b > 1e-4 && half > 1e-4, "every position sounds");
        assert!(half >= 0.5 * a.min(b) && half <= 2.0 * a.max(b), "halfway is not between the corners");
    }
}

/// A place whose model failed to load: the morph goes on with the others, its weight theirs.
#[test]
fn a_missing_model_leaves_the_others_playing() {
    let (a, c) = (built_in("Flute"), built_in("Cello"));
    let n = (0.3 * SR) as usize;
    let (f0, loudness) = (vec![300.0; n], vec![-30.0; n]);
    let play = |models: &[Option<Arc<Model>>], position: MorphPosition| {
        let mut voice = Voice::with_morph(models, SR, SEED).unwrap();
        voice.set_morph_target(position, true);
        let mut out = vec![0.0; n];
        voice.process(&f0, &loudness, VoiceLevels::default(), &mut out);
        out
    };
    let alone = play(&[Some(a.clone())], MorphPosition::default());
    // Two places, B missing: every position plays A.
    for x in [0.0, 0.5, 1.0] {
        assert!(play(&[Some(a.clone()), None], MorphPosition::new(x, 0.0)) == alone, "x = {x}");
    }
    // A missing: the voice is built on the first model present and plays it at A's corner too.
    let cello_alone = {
        let mut voice = Voice::new(c.clone(), SR, SEED);
        let mut out = vec![0.0; n];
        voice.process(&f0, &loudness, VoiceLevels::default(), &mut out);
        out
    };
    assert!(play(&[None, Some(c.clone())], MorphPosition::default()) == cello_alone);
    assert!(Voice::with_morph(&[None, None], SR, SEED).is_none());

    // Through the loader: the bad file is reported for its place, the rest is sent.
    let inst = Instrument::new(a.clone(), SR, settings());
    let (sender, _receiver) = swap_channel();
    let mut loader = ModelLoader::new(sender, inst.voice_spec());
    let bad = std::env::temp_dir().join("ddsp-morph-missing.onnx");
    std::fs::write(&bad, b"not a model").unwrap();
    let results = loader
        .load_morph(&[
            Some(ModelChoice::BuiltIn(BuiltInModel::find("Flute").unwrap())),
            Some(ModelChoice::File(bad.clone())),
        ])
        .unwrap();
    assert!(matches!(results[0], Ok(Some(_))) && results[1].is_err());
    println!("place B: {}", results[1].as_ref().unwrap_err());
    let _ = std::fs::remove_file(bad);
}

/// Four-model morphs loading and swapping during a chord, the position moving and NaN positions
/// arriving: the audio thread never allocates and the output stays finite.
#[test]
fn four_model_morphs_swap_live_without_allocating() {
    let models = four();
    let s = InstrumentSettings { morph_source: MorphSource::Controller(1), ..settings() };
    let mut inst = Instrument::new(models[0].clone(), SR, s);
    let (mut sender, receiver) = swap_channel();
    inst.attach_swap_receiver(receiver);
    let spec = inst.voice_spec();
    for note in [60, 64, 67, 71] {
        inst.handle(InstrumentEvent::NoteOn { note, velocity: 0.7 });
    }
    let mut block = vec![0.0f32; 480];
    let (mut sent, mut allocations, mut pending, mut samples) = (0, 0, None, Vec::new());
    for b in 0..400 {
        if pending.is_none() && sent < 12 {
            let order: Vec<_> = (0..4).map(|i| Some(models[(i + sent) % 4].clone())).collect();
            let mut order = order;
            if sent % 3 == 2 {
                order[1] = None; // a place that failed to load
            }
            pending = VoiceSet::build_morph(&order, &spec);
        }
        if let Some(set) = pending.take() {
            match sender.send(set) {
                Ok(()) => sent += 1,
                Err(set) => pending = Some(set),
            }
        }
        let x = (b as f32 * 0.05).sin() * 0.5 + 0.5;
        let mut settings = s;
        settings.morph = MorphPosition::new(if b % 50 == 7 { f32::NAN } else { 0.3 }, x);
        let ((), n) = allocations_in(|| {
            inst.set_settings(settings);
            inst.handle(InstrumentEvent::ControlChange { cc: 1, value: 1.0 - x });
            inst.render(&mut block);
        });
        allocations += n;
        samples.extend_from_slice(&block);
        sender.collect_garbage();
    }
    assert_eq!(allocations, 0, "allocator calls on the audio thread");
    assert!(sent >= 10, "only {sent} morphs were taken");
    assert!(samples.iter().all(|v| v.is_finite()));
    assert!(rms(&samples) > 1e-3);
}

/// A chord of morphing voices: each morph model's steps run batched across the voices (the
/// first model's and every other's), and the output is bit-identical to voice by voice.
#[test]
fn batched_morph_models_play_exactly_what_voice_by_voice_plays() {
    let models: Vec<_> = four().into_iter().map(Some).collect();
    let s = InstrumentSettings {
        morph_source: MorphSource::Controller(1),
        morph: MorphPosition::new(0.3, 0.6),
        ..settings()
    };
    let mut events = vec![];
    for (k, note) in [60u8, 64, 67, 71, 74].iter().enumerate() {
        events.push(TimedEvent::new(k * 1_111, InstrumentEvent::NoteOn { note: *note, velocity: 0.7 }));
    }
    for i in 0..30 {
        let value = if i % 10 == 9 { 0.0 } else { (i % 7) as f32 / 6.0 }; // corners and edges too
        events.push(TimedEvent::new(2_000 + i * 1_013, InstrumentEvent::ControlChange { cc: 1, value }));
    }
    events.push(TimedEvent::new(30_000, InstrumentEvent::NoteOff { note: 64 }));
    events.sort_by_key(|e| e.at);
    let render = |batched: bool, models: &[Option<Arc<Model>>]| {
        let (mut inst, _s) = morph_instrument(models, s);
        inst.set_batched_inference(batched);
        let mut out = vec![0.0; 48_000];
        inst.process(events.iter().copied(), &mut [&mut out[..]]);
        (out, inst.batched_frames())
    };
    let ((batched, in_batches), (alone, none)) = (render(true, &models), render(false, &models));
    let (_, first_model_only) = render(true, &models[..1]);
    println!("{in_batches} voice frames of 4-model morphs ran in batches ({first_model_only} with one model)");
    assert_eq!(none, 0);
    assert!(rms(&alone) > 1e-3);
    assert!(in_batches > 2 * first_model_only, "the other models' steps are batched too");
    let first = batched.iter().zip(&alone).position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(first, None, "batched morph inference differs from voice-by-voice from sample {first:?}");
}
