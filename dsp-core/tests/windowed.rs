//! Stateless windowed ONNX models (the seed layout) against onnxruntime's outputs over a sliding
//! window (`scripts/make_reference_models.py`), offline and through the real-time worker.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ddsp_core::model::{HostPace, Model, ModelFormat, NativeRunner, PaceClock, RunMode, WINDOWED_DELAY_FRAMES};
use ddsp_core::{render_with_events, Instrument, InstrumentEvent, InstrumentSettings};

const TOLERANCE: f32 = 1e-4;
const FRAMES: usize = 120;
const K: usize = 32;
const M: usize = 33;

/// windowed_ref.bin: f0 [120], loudness [120], harmonic_amps [120, 32], harmonic_dist [120, 32],
/// noise_mags [120, 33] (the last frame of each window), float32 LE.
fn reference() -> Vec<Vec<f32>> {
    let bytes = std::fs::read(data_path("windowed_ref.bin")).unwrap();
    let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let mut it = values.into_iter();
    [FRAMES, FRAMES, FRAMES * K, FRAMES * K, FRAMES * M].iter().map(|&n| it.by_ref().take(n).collect()).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn load() -> Model {
    Model::load(data_path("windowed_ref.onnx")).unwrap()
}

#[test]
fn a_windowed_model_loads_with_its_declared_layout() {
    let model = load();
    assert_eq!(model.format(), ModelFormat::OnnxWindowed { window_frames: 16 });
    assert_eq!((model.meta.n_harmonics, model.meta.n_noise_bands), (K, M));
    assert_eq!(model.latency_frames(), WINDOWED_DELAY_FRAMES);
    let io = model.native_io();
    let names: Vec<&str> = io.outputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["harmonic_amps", "harmonic_dist", "noise_mags"]);
    assert_eq!(io.inputs[1].name, "loudness");
    assert!(io.state.is_empty());
}

#[test]
fn native_runner_matches_onnxruntime_over_a_sliding_window() {
    let model = load();
    let r = reference();
    let mut runner = NativeRunner::new(&model);
    let mut worst = [0.0f32; 3];
    for i in 0..FRAMES {
        let out = runner.step(&[vec![r[0][i]], vec![r[1][i]]]).unwrap();
        let diffs = [
            max_diff(&out[0], &r[2][i * K..(i + 1) * K]),
            max_diff(&out[1], &r[3][i * K..(i + 1) * K]),
            max_diff(&out[2], &r[4][i * M..(i + 1) * M]),
        ];
        for (w, d) in worst.iter_mut().zip(diffs) {
            *w = w.max(d);
        }
    }
    println!("windowed model vs onnxruntime, {FRAMES} frames: max |diff| amps/dist/noise = {worst:?}");
    assert!(worst.iter().all(|&d| d <= TOLERANCE), "{worst:?}");
}

/// The controls the engine should see at frame `i`: the reference of frame `i − delay`.
fn expected_controls(r: &[Vec<f32>], i: usize) -> Option<(f32, &[f32], &[f32])> {
    let j = i.checked_sub(WINDOWED_DELAY_FRAMES)?;
    let amps = &r[2][j * K..(j + 1) * K];
    Some((amps.iter().sum(), amps, &r[4][j * M..(j + 1) * M]))
}

#[test]
fn offline_stream_is_the_reference_delayed_by_the_reported_latency() {
    let model = load().with_run_mode(RunMode::Offline);
    let r = reference();
    let mut state = model.new_state();
    for i in 0..FRAMES {
        let c = model.infer(r[0][i], r[1][i], &mut state);
        match expected_controls(&r, i) {
            None => assert_eq!(c.amplitude, 0.0, "frame {i}: silence until the first result"),
            Some((amp, dist, noise)) => {
                assert!((c.amplitude - amp).abs() <= TOLERANCE, "frame {i}: {} vs {amp}", c.amplitude);
                assert!(max_diff(&c.harmonic_distribution, dist) <= TOLERANCE, "frame {i}");
                assert!(max_diff(&c.noise_magnitudes, noise) <= TOLERANCE, "frame {i}");
            }
        }
    }
}

#[test]
fn real_time_stream_never_allocates_and_delivers_on_time() {
    let model = load();
    let r = reference();
    let mut state = model.new_state();
    let mut matched = 0;
    let (mut amp_now, mut dist_now, mut noise_now) = (0.0, vec![0.0; K], vec![0.0; M]);
    for i in 0..FRAMES {
        // Frames arrive at the model's rate (4 ms), as they do from an audio callback.
        std::thread::sleep(Duration::from_millis(4));
        let ((), allocations) = allocations_in(|| {
            let c = model.infer(r[0][i], r[1][i], &mut state);
            amp_now = c.amplitude;
            dist_now.copy_from_slice(&c.harmonic_distribution);
            noise_now.copy_from_slice(&c.noise_magnitudes);
        });
        assert_eq!(allocations, 0, "frame {i}: the audio thread allocated");
        if let Some((amp, dist, noise)) = expected_controls(&r, i) {
            let on_time = (amp_now - amp).abs() <= TOLERANCE
                && max_diff(&dist_now, dist) <= TOLERANCE
                && max_diff(&noise_now, noise) <= TOLERANCE;
            if on_time {
                matched += 1;
            }
        }
    }
    let missed = model.missed_frames(&state);
    println!(
        "real-time windowed stream: {matched} of {} frames on time, {missed} missed",
        FRAMES - WINDOWED_DELAY_FRAMES
    );
    // A shared 2-core CI machine may deschedule the worker now and then; a held-over frame is the
    // designed response, so allow a few, but most frames must arrive exactly.
    assert!(matched as u64 + missed >= (FRAMES - WINDOWED_DELAY_FRAMES) as u64);
    assert!(missed <= 10, "{missed} frames missed their deadline");
}

#[test]
fn a_windowed_model_plays_a_note_and_reports_its_latency() {
    let model = Arc::new(load().with_run_mode(RunMode::Offline));
    let mut inst = Instrument::new(model, 48_000.0, InstrumentSettings::default());
    assert_eq!(inst.latency_samples(), (WINDOWED_DELAY_FRAMES * 48_000 / 250) as u32);
    let mut out = vec![0.0; 48_000];
    render_with_events(&mut inst, &mut out, &[(0, InstrumentEvent::NoteOn { note: 57, velocity: 0.9 })]);
    assert!(out.iter().all(|v| v.is_finite()));
    let steady = &out[12_000..];
    assert!(20.0 * rms(steady).log10() > -60.0, "audible");
    let peak = peak_frequency_hz(steady, 48_000.0, 1 << 18);
    let f0 = peak / (peak / 220.0).round().max(1.0);
    assert!(cents(f0, 220.0).abs() < 5.0, "{f0} Hz");
}

/// Renders a phrase through the instrument in 512-sample blocks as fast as the machine allows,
/// telling `pace` about every block the way the plugin shell does; counts allocations.
fn render_back_to_back(model: Arc<Model>, pace: &HostPace, seconds: f64) -> (Vec<f32>, usize) {
    let mut inst = Instrument::new(model, 48_000.0, InstrumentSettings::default());
    let mut clock = PaceClock::default();
    let mut out = vec![0.0f32; (seconds * 48_000.0) as usize];
    let mut allocations = 0;
    for (b, block) in out.chunks_mut(512).enumerate() {
        let events: &[(usize, InstrumentEvent)] = match b {
            0 => &[(0, InstrumentEvent::NoteOn { note: 57, velocity: 0.9 })],
            150 => &[(0, InstrumentEvent::NoteOn { note: 64, velocity: 0.7 })],
            _ => &[],
        };
        let ((), n) = allocations_in(|| {
            clock.begin_block(pace, block.len(), 48_000.0);
            render_with_events(&mut inst, block, events);
        });
        allocations += n;
    }
    (out, allocations)
}

#[test]
fn an_offline_host_gets_the_offline_render_exactly_without_allocating() {
    let reference = render_back_to_back(Arc::new(load().with_run_mode(RunMode::Offline)), &HostPace::default(), 2.0).0;
    let pace = Arc::new(HostPace::default());
    pace.set_offline(true);
    let started = std::time::Instant::now();
    let (out, allocations) = render_back_to_back(Arc::new(load().with_pace(pace.clone())), &pace, 2.0);
    println!("2 s through the worker in step: {:.2} s", started.elapsed().as_secs_f64());

    assert_eq!(allocations, 0, "the audio thread allocated");
    assert!(20.0 * rms(&out[12_000..]).log10() > -60.0, "audible");
    let first = out.iter().zip(&reference).position(|(a, b)| a != b);
    assert_eq!(first, None, "differs from the offline render at sample {first:?}");
}

#[test]
fn a_real_time_host_rendering_fast_gets_the_offline_render_once_recognised_as_fast() {
    let reference = render_back_to_back(Arc::new(load().with_run_mode(RunMode::Offline)), &HostPace::default(), 3.0).0;
    let pace = Arc::new(HostPace::default());
    let (out, allocations) = render_back_to_back(Arc::new(load().with_pace(pace.clone())), &pace, 3.0);
    assert_eq!(allocations, 0, "the audio thread allocated");
    // Recognised once FAST_HOST_LEAD_S ahead (after 0.55 s of audio at 10x real time, 1 s at
    // 2x); the window (16 frames) and the control glide then hold only frames computed in step:
    // from 1.5 s on (room for a loaded machine) the render is the offline one.
    let worst = out[72_000..].iter().zip(&reference[72_000..]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    println!("fast real-time host vs offline render after 1.5 s: max |diff| {worst:e}");
    assert_eq!(worst, 0.0);
    assert!(20.0 * rms(&out[48_000..]).log10() > -60.0, "audible");
    // Without a pace (what the plugins did before), the same back-to-back render: each frame
    // holds whatever result had arrived (how many depends on the machine's load).
    let (unpaced, _) = render_back_to_back(Arc::new(load()), &HostPace::default(), 3.0);
    let unpaced_diff =
        unpaced[48_000..].iter().zip(&reference[48_000..]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    println!(
        "RMS after 1 s: offline {:.1} dB, fast host with pace {:.1} dB, without {:.1} dB (max |diff| {unpaced_diff:e})",
        20.0 * rms(&reference[48_000..]).log10(),
        20.0 * rms(&out[48_000..]).log10(),
        20.0 * rms(&unpaced[48_000..]).log10()
    );
}
