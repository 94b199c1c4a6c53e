//! A windowed (stateless ONNX) model through the built .clap rendering faster than real time, as
//! a DAW export does: with the host's offline flag the output is the offline render (dsp-core's
//! instrument with `RunMode::Offline`, the engine `ddsp render` uses) sample for sample; without
//! it, once the host is recognised as faster than real time (half a second of audio ahead of the
//! wall clock, `ddsp_core::model::pace`), it is again. Never silence.
//! (Own test binary: it sets the process environment the plugin reads.)

use std::path::PathBuf;
use std::sync::Arc;

use ddsp_core::model::RunMode;
use ddsp_core::{render_with_events, Instrument, InstrumentEvent, InstrumentSettings, Model};
use host_tests::analysis::rms_db;
use host_tests::{instrument_bundle, ClapInstance, Session, TimedEvent, INSTRUMENT_ID};

const RATE: f64 = 48_000.0;
const SECONDS: f64 = 3.0;

fn windowed_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dsp-core/tests/data/windowed_ref.onnx")
}

/// What `ddsp render` computes for the phrase: the instrument at its default settings (the
/// plugin's defaults; mastering off), the model run in step.
fn offline_reference(notes: &[(usize, u8, f32)]) -> Vec<f32> {
    let model = Model::load(windowed_model()).unwrap().with_run_mode(RunMode::Offline);
    let mut inst = Instrument::new(Arc::new(model), RATE as f32, InstrumentSettings::default());
    let events: Vec<(usize, InstrumentEvent)> =
        notes.iter().map(|&(at, note, velocity)| (at, InstrumentEvent::NoteOn { note, velocity })).collect();
    let mut out = vec![0.0; (SECONDS * RATE) as usize];
    render_with_events(&mut inst, &mut out, &events);
    out
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn a_windowed_model_renders_faster_than_real_time_exactly_as_offline() {
    std::env::set_var("DDSP_INSTRUMENT_MODEL", windowed_model());
    let notes = [(0, 57u8, 0.75f32), (76_800, 64, 0.5)];
    let reference = offline_reference(&notes);
    assert!(rms_db(&reference[12_000..]) > -60.0, "the reference is audible");
    let mut plugin = ClapInstance::load(&instrument_bundle(), INSTRUMENT_ID).unwrap();
    for offline in [true, false] {
        let mut session = Session::new(RATE, 512, SECONDS);
        session.offline = offline;
        session.events = notes
            .iter()
            .map(|&(at, key, velocity)| TimedEvent::NoteOn { at, key, velocity: f64::from(velocity) })
            .collect();
        let started = std::time::Instant::now();
        let out = plugin.play(&session).unwrap();
        let wall = started.elapsed().as_secs_f64();
        let left = &out.channels[0];
        // Offline: in step from the first sample. Real time: from when the host is recognised
        // as fast (a lead of 0.5 s: after 0.55 s of audio at the measured 15x real time, 1 s at
        // 2x), plus the model's window (16 frames) and the control glide; 1.5 s leaves room for
        // a loaded machine.
        let from = if offline { 0 } else { (1.5 * RATE) as usize };
        let diff = max_abs_diff(&left[from..], &reference[from..]);
        println!(
            "offline flag {offline}: {SECONDS} s in {wall:.2} s ({:.0}x real time), {:.1} dB RMS, \
             max |diff| vs the offline render from {from}: {diff:e}",
            SECONDS / wall,
            rms_db(&left[from..])
        );
        assert!(rms_db(&left[12_000..]) > -60.0, "offline flag {offline}: silent");
        assert!(wall < SECONDS, "offline flag {offline}: slower than real time ({wall:.2} s)");
        assert_eq!(diff, 0.0, "offline flag {offline}: differs from the offline render");
    }
}
