//! What the embedding layer costs: the same held note (Violin, at the geometric middle of its
//! range, loudness 0.7, 48 kHz, 256-sample blocks, 10 s) rendered by the bare engine (dsp-core's
//! direct-control voice, as the plugins run their engines) and through `ddsp::Pipeline` (what the
//! C ABI and Python call). Best of five runs each, interleaved. `scripts/bench-embedding.sh` runs
//! this next to the C example and Python.
//!
//! cargo run --release -p ddsp-engine --example speed

use std::sync::Arc;
use std::time::Instant;

use ddsp::offline::load_model;
use ddsp_core::direct::{Direct, DirectSettings};
use ddsp_core::model::RunMode;

const SR: f32 = 48_000.0;
const BLOCK: usize = 256;
const SECONDS: f32 = 10.0;

fn main() {
    let model = Arc::new(load_model(Some("Violin"), RunMode::RealTime).expect("the built-in Violin"));
    let m = &model.meta;
    let f0 = (m.f0_min_hz * m.f0_max_hz).sqrt();
    let db = m.loudness_min_db + 0.7 * (m.loudness_max_db - m.loudness_min_db);
    let blocks = (SECONDS * SR) as usize / BLOCK;
    let mut out = [0.0f32; BLOCK];
    let (mut engine_best, mut pipeline_best) = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        let mut direct = Direct::new(model.clone(), SR, DirectSettings::default());
        direct.set_f0_hz(f0);
        direct.set_loudness_db(db);
        direct.set_gate(true);
        let t = Instant::now();
        for _ in 0..blocks {
            direct.render(&mut out);
        }
        engine_best = engine_best.min(t.elapsed().as_secs_f64());

        let mut pipeline = ddsp::Pipeline::new(f64::from(SR), BLOCK as u32, false).unwrap();
        pipeline.load_model_now("Violin").unwrap();
        pipeline.set_f0_hz(f0);
        pipeline.set_loudness_norm(0.7);
        let t = Instant::now();
        for _ in 0..blocks {
            pipeline.process(&mut out);
        }
        pipeline_best = pipeline_best.min(t.elapsed().as_secs_f64());
    }
    let x = |s: f64| f64::from(SECONDS) / s;
    println!("engine (dsp-core direct voice): {:>7.1}x real time", x(engine_best));
    println!(
        "ddsp::Pipeline::process:        {:>7.1}x real time ({:+.1} % time vs the engine)",
        x(pipeline_best),
        100.0 * (pipeline_best / engine_best - 1.0)
    );
}
