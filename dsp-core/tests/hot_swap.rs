//! Model hot-swap during playback, in every engine (the instrument's voices and the effect's): 100
//! swaps in a row through the lock-free handoff, with the audio path under allocation counting and
//! the output checked for clicks.

mod common;

use std::sync::Arc;

use common::*;
use ddsp_core::effect::{EffectSettings, TimbreTransfer};
use ddsp_core::swap::{swap_channel, VoiceSet};
use ddsp_core::{ControlTarget, Engine, Instrument, InstrumentEvent, InstrumentSettings, Model, VoiceMode};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SR: f32 = 48_000.0;
const BLOCK: usize = 480; // 10 ms: swaps arrive faster than the 20 ms crossfades finish

fn settings() -> InstrumentSettings {
    InstrumentSettings { mod_wheel_target: ControlTarget::Off, ..InstrumentSettings::default() }
}

/// Largest sample-to-sample step: a click shows up as a step far above the signal's own.
fn max_step(x: &[f32]) -> f32 {
    x.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max)
}

/// The largest step of `model` holding the test's note for `samples` after its onset: as long as
/// the swap run it is compared with, since the noise's largest step grows with the time watched.
fn steady_max_step(model: &Arc<Model>, samples: usize) -> f32 {
    let mut inst = Instrument::new(model.clone(), SR, settings());
    inst.handle(InstrumentEvent::NoteOn { note: 62, velocity: 0.8 });
    let onset = (0.3 * SR) as usize;
    let mut out = vec![0.0; onset + samples];
    inst.render(&mut out);
    max_step(&out[onset..])
}

#[test]
fn a_hundred_swaps_during_playback_never_allocate_and_never_click() {
    let models =
        [Arc::new(Model::embedded_default()), Arc::new(Model::load(data_path("ddsp-vst/model_a.tflite")).unwrap())];
    let mut inst = Instrument::new(models[0].clone(), SR, settings());
    let (mut loader, receiver) = swap_channel();
    inst.attach_swap_receiver(receiver);
    inst.handle(InstrumentEvent::NoteOn { note: 62, velocity: 0.8 });
    let mut warm_up = vec![0.0; (0.3 * SR) as usize];
    inst.render(&mut warm_up);

    let mut output = Vec::with_capacity(SR as usize * 10);
    let mut block = vec![0.0f32; BLOCK];
    let (mut sent, mut freed, mut allocations, mut pending) = (0usize, 0usize, 0usize, None);
    while freed < 100 {
        // Loader thread's work: prepare the next voice (allocates), send, free retired voices.
        if sent < 100 && pending.is_none() {
            pending = Some(VoiceSet::build(&models[(sent + 1) % 2], &inst.voice_spec()));
        }
        if let Some(voice) = pending.take() {
            match loader.send(voice) {
                Ok(()) => sent += 1,
                Err(voice) => pending = Some(voice), // queue full: retry next block
            }
        }
        // Audio thread's work, watched.
        let ((), n) = allocations_in(|| inst.render(&mut block));
        allocations += n;
        output.extend_from_slice(&block);
        freed += loader.collect_garbage();
        assert!(output.len() < SR as usize * 60, "swaps stalled: {sent} sent, {freed} returned");
    }
    assert_eq!(allocations, 0, "allocator calls on the audio thread during 100 swaps");
    assert!(output.iter().all(|v| v.is_finite()));
    // The threshold: no step larger than 1.2x the largest step either model makes on its own
    // (measured 1.00x; an equal-power crossfade of two in-phase models could reach 1.41x for a
    // moment, and an incoming model conditioned on the outgoing one's loudness range made 1.51x).
    let steady = models.iter().map(|m| steady_max_step(m, output.len())).fold(0.0, f32::max);
    let during = max_step(&output);
    println!("100 swaps in {:.2} s of audio: largest step {during:.5} vs steady {steady:.5}", output.len() as f32 / SR);
    assert!(during <= 1.2 * steady, "click during swaps: step {during} vs steady playing {steady}");
    // The last model sent is the one playing.
    assert_eq!(inst.model().meta.name, models[100 % 2].meta.name);
}

#[test]
fn a_loader_thread_swapping_models_while_the_audio_thread_plays() {
    use ddsp_core::swap::ModelLoader;
    let tflite = data_path("ddsp-vst/model_a.tflite");
    let embedded = Arc::new(Model::embedded_default());
    let violin = ddsp_core::ModelChoice::BuiltIn(ddsp_core::BuiltInModel::find("Violin").unwrap());
    let played = [embedded.clone(), Arc::new(Model::load(&tflite).unwrap()), Arc::new(violin.load().unwrap())];
    let mut inst = Instrument::new(embedded.clone(), SR, settings());
    let spec = inst.voice_spec();
    let (sender, receiver) = swap_channel();
    inst.attach_swap_receiver(receiver);
    inst.handle(InstrumentEvent::NoteOn { note: 62, velocity: 0.8 });

    // The loader thread: 100 loads, alternating a file read from disk or a built-in model (as the
    // editor asks for them) with the embedded default.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loader_done = done.clone();
    let loader = std::thread::spawn(move || {
        let mut loader = ModelLoader::new(sender, spec);
        for i in 0..100 {
            if i % 4 == 0 {
                loader.load(&ddsp_core::ModelChoice::File(tflite.clone())).expect("the fixture loads");
            } else if i % 4 == 2 {
                loader.load(&violin).expect("a built-in model loads");
            } else {
                loader.send(embedded.clone()).expect("the queue drains");
            }
        }
        loader_done.store(true, std::sync::atomic::Ordering::Release);
        loader
    });

    // The audio thread: blocks at roughly real-time pace, watched for allocations.
    let mut block = vec![0.0f32; BLOCK];
    let (mut output, mut allocations) = (Vec::with_capacity(SR as usize * 60), 0);
    while !done.load(std::sync::atomic::Ordering::Acquire) {
        let ((), n) = allocations_in(|| inst.render(&mut block));
        allocations += n;
        output.extend_from_slice(&block);
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert!(output.len() < SR as usize * 600, "the loader stalled");
    }
    // The loader is done, but sets may still wait in the queue between two swaps: play on (freeing
    // what comes back, as the loader's thread would) until no swap has run for 10 blocks.
    let mut loader = loader.join().unwrap();
    let mut idle_blocks = 0;
    while idle_blocks < 10 {
        idle_blocks = if inst.is_swapping() { 0 } else { idle_blocks + 1 };
        let ((), n) = allocations_in(|| inst.render(&mut block));
        allocations += n;
        output.extend_from_slice(&block);
        loader.collect_garbage();
        assert!(output.len() < SR as usize * 600, "the queued swaps never finished");
    }
    loader.collect_garbage();
    assert_eq!(allocations, 0, "allocator calls on the audio thread");
    let steady = played.iter().map(|m| steady_max_step(m, output.len())).fold(0.0, f32::max);
    let during = max_step(&output);
    println!(
        "loader thread, 100 loads: {:.2} s of audio, largest step {during:.5} vs steady {steady:.5}",
        output.len() as f32 / SR
    );
    assert!(during <= 1.2 * steady, "click during swaps: step {during} vs steady {steady}");
    assert_eq!(inst.model().meta.name, Model::embedded_default().meta.name, "the last model sent plays");
}

/// A chord of three notes and a released note in its tail while 40 swaps go through: every voice,
/// sounding or silent, takes each model, without allocating or clicking.
#[test]
fn swaps_reach_every_voice_of_a_chord() {
    let models =
        [Arc::new(Model::embedded_default()), Arc::new(Model::load(data_path("ddsp-vst/model_a.tflite")).unwrap())];
    let settings = InstrumentSettings { mode: VoiceMode::Poly, ..settings() };
    let steady = |model: &Arc<Model>, samples: usize| {
        let mut inst = Instrument::new(model.clone(), SR, settings);
        for note in [57, 62, 65] {
            inst.handle(InstrumentEvent::NoteOn { note, velocity: 0.8 });
        }
        let onset = (0.3 * SR) as usize;
        let mut out = vec![0.0; onset + samples];
        inst.render(&mut out);
        max_step(&out[onset..])
    };
    let mut inst = Instrument::new(models[0].clone(), SR, settings);
    let (mut sender, receiver) = swap_channel();
    inst.attach_swap_receiver(receiver);
    for note in [57, 62, 65, 69] {
        inst.handle(InstrumentEvent::NoteOn { note, velocity: 0.8 });
    }
    let mut warm_up = vec![0.0; (0.3 * SR) as usize];
    inst.render(&mut warm_up);
    inst.handle(InstrumentEvent::NoteOff { note: 69 });
    let mut output = Vec::with_capacity(SR as usize * 20);
    let mut block = vec![0.0f32; BLOCK];
    let (mut sent, mut freed, mut allocations, mut pending) = (0usize, 0usize, 0usize, None);
    while freed < 40 {
        if sent < 40 && pending.is_none() {
            pending = Some(VoiceSet::build(&models[(sent + 1) % 2], &inst.voice_spec()));
        }
        if let Some(set) = pending.take() {
            match sender.send(set) {
                Ok(()) => sent += 1,
                Err(set) => pending = Some(set),
            }
        }
        let ((), n) = allocations_in(|| inst.render(&mut block));
        allocations += n;
        output.extend_from_slice(&block);
        freed += sender.collect_garbage();
        assert!(output.len() < SR as usize * 60, "swaps stalled: {sent} sent, {freed} returned");
    }
    assert_eq!(allocations, 0, "allocator calls on the audio thread during 40 swaps of 32 voices");
    let steady = models.iter().map(|m| steady(m, output.len())).fold(0.0, f32::max);
    let during = max_step(&output);
    println!("40 chord swaps: largest step {during:.5} vs steady {steady:.5}");
    assert!(during <= 1.2 * steady, "click during chord swaps: step {during} vs steady {steady}");
    assert_eq!(inst.model().meta.name, models[40 % 2].meta.name);
}

/// The effect changes models live through the same swap (no audio restart): no allocation, no
/// click, and the new model plays.
#[test]
fn the_effect_swaps_models_live() {
    let models =
        [Arc::new(Model::embedded_default()), Arc::new(Model::load(data_path("ddsp-vst/model_a.tflite")).unwrap())];
    let input: Vec<f32> =
        (0..SR as usize * 8).map(|i| 0.3 * (core::f32::consts::TAU * 293.66 * i as f32 / SR).sin()).collect();
    let steady = |model: &Arc<Model>| {
        let mut fx = TimbreTransfer::new(model.clone(), SR, EffectSettings::default());
        let mut out = input.clone();
        Engine::process(&mut fx, [], &mut [&mut out[..]]);
        max_step(&out[(0.3 * SR) as usize..])
    };
    let steady = models.iter().map(steady).fold(0.0, f32::max);
    let mut fx = TimbreTransfer::new(models[0].clone(), SR, EffectSettings::default());
    let (mut sender, receiver) = swap_channel();
    fx.attach_swap_receiver(receiver);
    let mut output = input.clone();
    let (mut sent, mut allocations) = (0, 0);
    for (i, block) in output.chunks_mut(BLOCK).enumerate() {
        // A new model every 0.5 s, from 0.3 s on.
        if i >= 30 && (i - 30) % 50 == 0 {
            sender.collect_garbage();
            let set = VoiceSet::build(&models[(sent + 1) % 2], &fx.voice_spec());
            assert!(sender.send(set).is_ok());
            sent += 1;
        }
        let ((), n) = allocations_in(|| Engine::process(&mut fx, [], &mut [block]));
        allocations += n;
    }
    assert_eq!(allocations, 0, "allocator calls on the effect's audio thread during {sent} swaps");
    assert!(sent >= 10);
    let during = max_step(&output[(0.3 * SR) as usize..]);
    println!("effect, {sent} live swaps: largest step {during:.5} vs steady {steady:.5}");
    assert!(during <= 1.2 * steady, "click during the effect's swaps: step {during} vs steady {steady}");
    assert_eq!(fx.voice().model().meta.name, models[sent % 2].meta.name, "the last model sent plays");
}
