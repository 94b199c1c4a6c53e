//! The real-time contract: no allocation on the audio path at any rate or block size, the same
//! output for any block split, reproducible after reset, finite whatever the input.

mod common;

use std::sync::Arc;

use common::*;
use ddsp_core::{render_with_events, Instrument, InstrumentEvent, InstrumentSettings, Model};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const RATES: [f32; 5] = [44_100.0, 48_000.0, 88_200.0, 96_000.0, 192_000.0];

/// A phrase touching every event type, as (sample, event).
fn phrase(sample_rate_hz: f32) -> Vec<(usize, InstrumentEvent)> {
    let s = |seconds: f32| (seconds * sample_rate_hz) as usize;
    vec![
        (s(0.01), InstrumentEvent::NoteOn { note: 60, velocity: 0.8 }),
        (s(0.10), InstrumentEvent::ControlChange { cc: 1, value: 0.7 }),
        (s(0.15), InstrumentEvent::NoteOn { note: 67, velocity: 0.6 }), // legato
        (s(0.20), InstrumentEvent::PitchBend { value: 0.5 }),
        (s(0.25), InstrumentEvent::ControlChange { cc: 11, value: 0.4 }),
        (s(0.28), InstrumentEvent::NoteOff { note: 67 }), // back to 60
        (s(0.30), InstrumentEvent::ChannelPressure { value: 0.9 }),
        (s(0.35), InstrumentEvent::NoteOff { note: 60 }),
        (s(0.45), InstrumentEvent::NoteOn { note: 81, velocity: 1.0 }),
        (s(0.55), InstrumentEvent::AllNotesOff),
    ]
}

fn instrument(sample_rate_hz: f32) -> Instrument {
    Instrument::new(Arc::new(Model::embedded_default()), sample_rate_hz, InstrumentSettings::default())
}

/// Renders `total` samples in blocks from `sizes`, dispatching events inside each block.
fn render_in_blocks(
    inst: &mut Instrument,
    events: &[(usize, InstrumentEvent)],
    total: usize,
    sizes: &mut dyn FnMut() -> usize,
    out: &mut [f32],
) {
    let mut block_events = Vec::with_capacity(events.len());
    render_in_blocks_with(inst, events, total, sizes, out, &mut block_events);
}

/// [`render_in_blocks`] with the per-block event list allocated by the caller (host-side scratch).
fn render_in_blocks_with(
    inst: &mut Instrument,
    events: &[(usize, InstrumentEvent)],
    total: usize,
    sizes: &mut dyn FnMut() -> usize,
    out: &mut [f32],
    block_events: &mut Vec<(usize, InstrumentEvent)>,
) {
    let mut pos = 0;
    while pos < total {
        let end = (pos + sizes()).min(total);
        block_events.clear();
        block_events.extend(events.iter().filter(|(t, _)| *t >= pos && *t < end).map(|&(t, e)| (t - pos, e)));
        render_with_events(inst, &mut out[pos..end], block_events);
        pos = end;
    }
}

#[test]
fn audio_path_never_allocates_at_any_rate_or_block_size() {
    for &sr in &RATES {
        let events = phrase(sr);
        let total = (0.6 * sr) as usize;
        for &block in &[1usize, 2, 3, 16, 64, 100, 256, 1024, 4096, 8192] {
            let mut inst = instrument(sr);
            let mut out = vec![0.0f32; total];
            let mut sizes = || block;
            let mut block_events = Vec::with_capacity(events.len());
            let ((), allocations) = allocations_in(|| {
                render_in_blocks_with(&mut inst, &events, total, &mut sizes, &mut out, &mut block_events);
                // Zero-length blocks, settings changes and reset are on the audio thread too.
                inst.render(&mut []);
                let mut settings = *inst.settings();
                settings.output_gain = 0.5;
                settings.glide_ms = f32::NAN;
                inst.set_settings(settings);
                inst.reset();
                inst.render(&mut out[..block.min(total)]);
            });
            assert_eq!(allocations, 0, "{sr} Hz, blocks of {block}: {allocations} allocator calls on the audio path");
            assert!(out.iter().all(|v| v.is_finite()));
        }
    }
}

/// The reduced-precision kernels (f16 as the plugins choose it, int8 as a user forces it or a
/// quantised file brings it: inputs rounded on the stack) play a phrase of overlapping notes,
/// so single voices and batches, without an allocator call.
#[test]
fn reduced_precision_weights_never_allocate() {
    use ddsp_core::model::Precision;
    for precision in [Precision::Auto, Precision::Int8] {
        let model = Arc::new(Model::embedded_default().with_precision(precision));
        let mut inst = Instrument::new(model.clone(), 48_000.0, InstrumentSettings::default());
        let events = phrase(48_000.0);
        let total = 28_800;
        let mut out = vec![0.0f32; total];
        let mut sizes = || 64;
        let mut block_events = Vec::with_capacity(events.len());
        let ((), allocations) = allocations_in(|| {
            render_in_blocks_with(&mut inst, &events, total, &mut sizes, &mut out, &mut block_events);
        });
        let storage = model.weight_storage();
        assert_eq!(allocations, 0, "{storage}: {allocations} allocator calls on the audio path");
        assert!(out.iter().all(|v| v.is_finite()) && out.iter().any(|v| v.abs() > 1e-3), "{storage}: sound");
    }
}

#[test]
fn random_block_sizes_give_the_same_output_as_one_pass() {
    for &sr in &[44_100.0f32, 48_000.0, 96_000.0] {
        let events = phrase(sr);
        let total = (0.6 * sr) as usize;
        let mut one_pass = vec![0.0; total];
        let mut inst = instrument(sr);
        render_in_blocks(&mut inst, &events, total, &mut || total, &mut one_pass);

        let mut rng = TestRng(sr as u64);
        let mut split = vec![0.0; total];
        let mut inst = instrument(sr);
        render_in_blocks(&mut inst, &events, total, &mut || rng.range(1, 4096), &mut split);
        let worst = one_pass.iter().zip(&split).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst <= 1e-6, "{sr} Hz: random blocks differ from one pass by {worst:e}");
        assert!(rms(&one_pass) > 1e-3, "the phrase must actually sound");
    }
}

#[test]
fn reset_reproduces_the_output() {
    let sr = 48_000.0;
    let events = phrase(sr);
    let total = (0.6 * sr) as usize;
    let mut inst = instrument(sr);
    let mut first = vec![0.0; total];
    render_in_blocks(&mut inst, &events, total, &mut || 512, &mut first);
    inst.reset();
    let mut second = vec![0.0; total];
    render_in_blocks(&mut inst, &events, total, &mut || 333, &mut second);
    let first_difference = first.iter().zip(&second).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "after reset the output differs from sample {first_difference:?}");
}

#[test]
fn non_finite_controls_and_parameters_give_finite_output() {
    let sr = 48_000.0;
    let mut inst = instrument(sr);
    let mut settings = InstrumentSettings::default();
    settings.output_gain = f32::INFINITY;
    settings.levels.harmonic_gain = f32::NAN;
    settings.velocity_curve = f32::NEG_INFINITY;
    settings.envelope.attack_ms = f32::NAN;
    inst.set_settings(settings);
    let events = [
        (0, InstrumentEvent::NoteOn { note: 69, velocity: f32::NAN }),
        (10, InstrumentEvent::NoteOn { note: 200, velocity: 1.0 }),
        (100, InstrumentEvent::PitchBend { value: f32::INFINITY }),
        (200, InstrumentEvent::ControlChange { cc: 11, value: f32::NAN }),
        (300, InstrumentEvent::ChannelPressure { value: -f32::INFINITY }),
    ];
    let mut out = vec![0.0; 48_000];
    render_with_events(&mut inst, &mut out, &events);
    assert!(out.iter().all(|v| v.is_finite()), "non-finite output");
    assert!(out.iter().all(|v| v.abs() < 4.0), "runaway level");
}

#[test]
fn a4_plays_440_hz_at_a_sane_level_at_every_rate() {
    for &sr in &RATES {
        let mut inst = instrument(sr);
        let mut settings = InstrumentSettings::default();
        settings.mod_wheel_target = ddsp_core::ControlTarget::Off; // no vibrato
        inst.set_settings(settings);
        let mut out = vec![0.0; (sr * 1.5) as usize];
        render_with_events(&mut inst, &mut out, &[(0, InstrumentEvent::NoteOn { note: 69, velocity: 0.8 })]);
        let steady = &out[(0.5 * sr) as usize..];
        let f = peak_frequency_hz(steady, f64::from(sr), 1 << 20);
        // The strongest partial may be a harmonic: divide by its number.
        let k = (f / 440.0).round();
        let error = cents(f / k, 440.0);
        assert!(error.abs() < 5.0, "{sr} Hz: fundamental {:.3} Hz ({error:.2} cents)", f / k);
        let level_db = 20.0 * rms(steady).log10();
        assert!((-40.0..-3.0).contains(&level_db), "{sr} Hz: level {level_db:.1} dBFS");
    }
}

#[test]
fn note_on_is_sample_accurate() {
    // Silence before the note's sample; sound within one model frame (4 ms) after it.
    let sr = 48_000.0;
    let mut inst = instrument(sr);
    let at = 10_007;
    let mut out = vec![0.0; 20_000];
    render_with_events(&mut inst, &mut out, &[(at, InstrumentEvent::NoteOn { note: 69, velocity: 1.0 })]);
    let before = rms(&out[at - 2000..at]);
    let after = rms(&out[at + 192..at + 2000]);
    assert!(20.0 * (after / before.max(1e-12)).log10() > 60.0, "before {before:e}, after {after:e}");
}
