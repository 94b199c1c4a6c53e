//! Criterion benchmarks of the real-time entry points at 48 kHz, reported in "x real time"
//! (seconds of audio processed per second of CPU, one core) beside the raw criterion timings.
//!
//! Run: `cargo bench -p ddsp-benches` (a summary table is printed at the end).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use ddsp_core::harmonic::{HarmonicBank, NaiveHarmonicBank};
use ddsp_core::model::decoder::{DecoderShape, DecoderWeights};
use ddsp_core::model::{Precision, RunMode};
use ddsp_core::noise::FilteredNoise;
use ddsp_core::tracking::{PitchSettings, Tracker};
use ddsp_core::{
    BuiltInModel, Instrument, InstrumentEvent, InstrumentSettings, Model, ModelMeta, ModelSource, MorphPosition,
    VoiceMode, MAX_VOICES,
};

const SAMPLE_RATE: f32 = 48_000.0;
/// One second of audio per iteration, processed in host-sized blocks.
const SECONDS: usize = 1;
const BLOCK: usize = 64;

/// A model shaped like DDSP-VST's (GRU 512, 16 kHz, 50 frames/s) with random weights.
fn ddsp_vst_sized_model() -> Model {
    let shape = DecoderShape::DDSP_VST;
    let meta = ModelMeta {
        name: "DDSP-VST-sized (random weights)".into(),
        instrument: "benchmark".into(),
        licence: "n/a".into(),
        description: String::new(),
        sample_rate_hz: 16_000.0,
        frame_rate_hz: 50.0,
        n_harmonics: shape.n_harmonics,
        n_noise_bands: shape.n_noise_bands,
        f0_min_hz: 30.0,
        f0_max_hz: 2000.0,
        loudness_min_db: -80.0,
        loudness_max_db: 0.0,
    };
    Model::from_parts(meta, DecoderWeights::random(shape, 42), ModelSource::Embedded("bench"))
}

fn models() -> Vec<(&'static str, Arc<Model>)> {
    vec![("default-model", Arc::new(Model::embedded_default())), ("ddsp-vst-sized", Arc::new(ddsp_vst_sized_model()))]
}

fn bench_instrument(c: &mut Criterion) {
    let mut group = c.benchmark_group("instrument-1-voice-48k-64");
    let n = SECONDS * SAMPLE_RATE as usize;
    group.throughput(Throughput::Elements(n as u64));
    for (name, model) in models() {
        let settings = InstrumentSettings { mode: VoiceMode::Mono, ..InstrumentSettings::default() };
        let mut inst = Instrument::new(model, SAMPLE_RATE, settings);
        inst.handle(InstrumentEvent::NoteOn { note: 62, velocity: 0.8 });
        inst.handle(InstrumentEvent::ControlChange { cc: 1, value: 0.5 });
        let mut out = vec![0.0f32; n];
        bench_render(&mut group, name, &mut inst, &mut out);
    }
    group.finish();
}

/// One benchmark: `inst` renders `out` in [`BLOCK`]-sample blocks per iteration.
fn bench_render(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: impl Into<String>,
    inst: &mut Instrument,
    out: &mut [f32],
) {
    group.bench_function(label.into(), |b| {
        b.iter(|| {
            for block in out.chunks_mut(BLOCK) {
                inst.render(block);
            }
            black_box(&out);
        })
    });
}

/// Voice counts the polyphony benches play.
const POLY_VOICES: [usize; 5] = [1, 4, 8, 16, 32];

/// The instrument with `voices` notes held (a spread of pitches, each voice its own model state),
/// in 64-sample blocks; and 16 voices that have finished their release (held-but-silent), beside
/// no voice at all: idle voices must cost nothing.
fn bench_polyphony(c: &mut Criterion) {
    let n = SECONDS * SAMPLE_RATE as usize;
    // What the plugins play: the default model in the precision chosen at load (f16 where the CPU
    // has F16C and the model stays within its bound).
    let auto = Arc::new(Model::embedded_default().with_precision(Precision::Auto));
    println!("default-model-auto-precision: weights {}", auto.weight_storage());
    // And as the user may force it: int8 weights with integer products.
    let int8 = Arc::new(Model::embedded_default().with_precision(Precision::Int8));
    println!("default-model-int8: weights {}", int8.weight_storage());
    let reduced = [("default-model-auto-precision", auto), ("default-model-int8", int8)];
    for (name, model) in models().into_iter().chain(reduced) {
        let mut group = c.benchmark_group(format!("poly-48k-64-{name}"));
        group.throughput(Throughput::Elements(n as u64));
        let counts: &[usize] = match name {
            "default-model" => &POLY_VOICES,
            "default-model-auto-precision" | "default-model-int8" => &[1, 16, 32],
            _ => &[1, 16],
        };
        for &voices in counts {
            // Batched (the default) and voice by voice, where batching can matter.
            let modes: &[bool] =
                if voices >= 4 && !name.starts_with("default-model-") { &[true, false] } else { &[true] };
            for &batched in modes {
                let settings = InstrumentSettings { voices: MAX_VOICES, ..InstrumentSettings::default() };
                let mut inst = Instrument::new(model.clone(), SAMPLE_RATE, settings);
                inst.set_batched_inference(batched);
                for v in 0..voices {
                    inst.handle(InstrumentEvent::NoteOn { note: 40 + (v as u8 * 5) % 48, velocity: 0.8 });
                }
                let mut out = vec![0.0f32; n];
                let label =
                    if batched { format!("{voices}-voices") } else { format!("{voices}-voices-voice-by-voice") };
                bench_render(&mut group, label, &mut inst, &mut out);
            }
        }
        if name == "default-model" {
            for (label, played) in [("no-voices", 0usize), ("16-released-voices", 16)] {
                let mut inst = Instrument::new(
                    model.clone(),
                    SAMPLE_RATE,
                    InstrumentSettings { voices: 16, ..InstrumentSettings::default() },
                );
                let mut out = vec![0.0f32; n];
                for v in 0..played {
                    inst.handle(InstrumentEvent::NoteOn { note: 48 + v as u8, velocity: 0.8 });
                }
                inst.render(&mut out);
                for v in 0..played {
                    inst.handle(InstrumentEvent::NoteOff { note: 48 + v as u8 });
                }
                inst.render(&mut out); // past the release and the idle gate
                bench_render(&mut group, label, &mut inst, &mut out);
            }
        }
        group.finish();
    }
}

/// A morph (issue 17): one voice blending 1, 2 and 4 shipped models (halfway: every model runs),
/// four models at a corner (one runs), and 8 voices of 2 models; note held, 64-sample blocks.
fn bench_morph(c: &mut Criterion) {
    let n = SECONDS * SAMPLE_RATE as usize;
    let shipped: Vec<Arc<Model>> = ["Flute", "Violin", "Cello", "Trumpet"]
        .iter()
        .map(|m| Arc::new(BuiltInModel::find(m).unwrap().load()))
        .collect();
    let mut group = c.benchmark_group("morph-48k-64");
    group.throughput(Throughput::Elements(n as u64));
    let cases: [(&str, usize, MorphPosition, usize); 5] = [
        ("1-voice-1-model", 1, MorphPosition::new(0.0, 0.0), 1),
        ("1-voice-2-models", 2, MorphPosition::new(0.5, 0.0), 1),
        ("1-voice-4-models", 4, MorphPosition::new(0.5, 0.5), 1),
        ("1-voice-4-models-at-a-corner", 4, MorphPosition::new(1.0, 1.0), 1),
        ("8-voices-2-models", 2, MorphPosition::new(0.5, 0.0), 8),
    ];
    for (label, models, position, voices) in cases {
        let settings = InstrumentSettings { voices: MAX_VOICES, morph: position, ..InstrumentSettings::default() };
        let mut inst = Instrument::new(shipped[0].clone(), SAMPLE_RATE, settings);
        let places: Vec<_> = shipped[..models].iter().cloned().map(Some).collect();
        if models > 1 {
            ddsp_core::play_morph_now(&mut inst, &places);
        }
        for v in 0..voices {
            inst.handle(InstrumentEvent::NoteOn { note: 55 + (v as u8 * 3) % 24, velocity: 0.8 });
        }
        let mut out = vec![0.0f32; n];
        bench_render(&mut group, label, &mut inst, &mut out);
    }
    group.finish();
}

/// The genuine DDSP-VST export used by the parity tests, imported from its `.tflite`.
fn ddsp_vst_fixture() -> Arc<Model> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dsp-core/tests/data/ddsp-vst/model_a.tflite");
    Arc::new(Model::load(&path).expect("fixture model"))
}

/// A test model from dsp-core's test data.
fn test_model(name: &str) -> Model {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dsp-core/tests/data").join(name);
    Model::load(&path).expect("test model")
}

fn bench_inference(c: &mut Criterion) {
    let mut group = c.benchmark_group("inference-per-frame");
    let mut cases: Vec<(String, Arc<Model>)> = models().into_iter().map(|(n, m)| (n.to_owned(), m)).collect();
    cases.push(("ddsp-vst-fixture".into(), ddsp_vst_fixture()));
    // The same models with their weights stored as f16 (half the weight traffic per frame) and
    // as int8 with a scale per row (a quarter).
    for (name, model) in
        [("default-model", Arc::new(Model::embedded_default())), ("ddsp-vst-fixture", ddsp_vst_fixture())]
    {
        let (mut half, mut int8) = (Arc::unwrap_or_clone(model.clone()), Arc::unwrap_or_clone(model));
        half.to_f16();
        int8.to_int8();
        cases.push((format!("{name}-f16"), Arc::new(half)));
        cases.push((format!("{name}-int8"), Arc::new(int8)));
    }
    // The dynamic-range quantised export of the fixture, as TensorFlow's converter stored it.
    cases.push(("ddsp-vst-dynamic-tflite".into(), Arc::new(test_model("ddsp-vst/model_a_dynamic.tflite"))));
    cases.push(("decoder-ref-onnx".into(), Arc::new(test_model("decoder_ref.onnx"))));
    // The default model's int8 file (`ddsp quantize`), as ONNX Runtime runs it too
    // (`scripts/bench/onnxruntime_per_frame.py`).
    let int8_file = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/int8/flute.onnx");
    cases.push(("default-model-int8-onnx".into(), Arc::new(Model::load(int8_file).expect("models/int8/flute.onnx"))));
    // A windowed model's worker cost: tract on a 16-frame window, run inline here.
    cases
        .push(("windowed-ref-tract".into(), Arc::new(test_model("windowed_ref.onnx").with_run_mode(RunMode::Offline))));
    for (name, model) in cases {
        let mut state = model.new_state();
        let mut i = 0u32;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let f0 = 220.0 + (i % 100) as f32;
                black_box(model.infer(black_box(f0), black_box(-30.0), &mut state).amplitude)
            })
        });
    }
    group.finish();

    // 16 voices' frames: one batch (each weight row read once for four voices) vs 16 single
    // steps; the time is per batch of 16 voice frames.
    let mut group = c.benchmark_group("inference-16-voices");
    for (name, model) in models() {
        let mut states: Vec<_> = (0..16).map(|_| model.new_state()).collect();
        let Some(mut batch) = model.new_batch(16) else { continue };
        group.bench_function(format!("{name}-batched"), |b| {
            b.iter(|| {
                for (slot, state) in states.iter().enumerate() {
                    model.batch_load(&mut batch, slot, 220.0 + slot as f32, -30.0, state);
                }
                model.infer_batch(&mut batch, 16);
                for (slot, state) in states.iter_mut().enumerate() {
                    model.batch_store(&batch, slot, state);
                }
            })
        });
        group.bench_function(format!("{name}-voice-by-voice"), |b| {
            b.iter(|| {
                for (slot, state) in states.iter_mut().enumerate() {
                    black_box(model.infer(220.0 + slot as f32, -30.0, state).amplitude);
                }
            })
        });
    }
    group.finish();
}

fn bench_harmonic_bank(c: &mut Criterion) {
    let mut group = c.benchmark_group("harmonic-bank-60-48k");
    let n = SECONDS * SAMPLE_RATE as usize;
    group.throughput(Throughput::Elements(n as u64));
    let amps: Vec<f32> = (1..=60).map(|k| 0.3 / k as f32).collect();
    let f0: Vec<f32> = (0..n).map(|i| 110.0 + 220.0 * i as f32 / n as f32).collect();
    let mut out = vec![0.0f32; n];
    let mut bank = HarmonicBank::new(SAMPLE_RATE, 60);
    bank.set_targets(&amps, 0);
    group.bench_function("simd", |b| b.iter(|| bank.process(black_box(&f0), &mut out)));
    let mut portable = HarmonicBank::new(SAMPLE_RATE, 60).without_avx2();
    portable.set_targets(&amps, 0);
    group.bench_function("simd-portable-sse2", |b| b.iter(|| portable.process(black_box(&f0), &mut out)));
    let mut naive = NaiveHarmonicBank::new(SAMPLE_RATE, &amps);
    group.bench_function("naive-scalar-sin", |b| b.iter(|| naive.process(black_box(&f0), &mut out)));
    group.finish();
}

fn bench_noise(c: &mut Criterion) {
    let mut group = c.benchmark_group("filtered-noise-65-48k");
    let n = SECONDS * SAMPLE_RATE as usize;
    group.throughput(Throughput::Elements(n as u64));
    let mut noise = FilteredNoise::new(SAMPLE_RATE, 65, SAMPLE_RATE, 1);
    let bands: Vec<f32> = (0..65).map(|i| 0.01 / (1.0 + i as f32)).collect();
    noise.set_targets(&bands, 0);
    let mut out = vec![0.0f32; n];
    group.bench_function("overlap-add", |b| {
        b.iter(|| {
            for block in out.chunks_mut(BLOCK) {
                noise.process(block);
            }
        })
    });
    group.finish();
}

/// The timbre-transfer analysis: pitch (30 Hz–2 kHz) and loudness over a sung-like saw with vibrato.
fn bench_tracker(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracker-48k");
    let n = SECONDS * SAMPLE_RATE as usize;
    group.throughput(Throughput::Elements(n as u64));
    let mut phase = 0.0f32;
    let input: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE;
            let hz = 220.0 * (0.03 * (std::f32::consts::TAU * 5.5 * t).sin()).exp2();
            phase = (phase + hz / SAMPLE_RATE).fract();
            0.3 * (1..=12).map(|k| (std::f32::consts::TAU * k as f32 * phase).sin() / k as f32).sum::<f32>()
        })
        .collect();
    let mut tracker = Tracker::new(SAMPLE_RATE, PitchSettings::default());
    group.bench_function("pitch-and-loudness", |b| {
        b.iter(|| {
            let mut voiced = 0usize;
            for block in input.chunks(BLOCK) {
                tracker.process(black_box(block), |f| voiced += usize::from(f.voiced));
            }
            black_box(voiced)
        })
    });
    group.finish();
}

/// The mastering chain at each quality level (stereo, 48 kHz, meters on as in the plugins), and
/// each stage alone at standard quality.
fn bench_master(c: &mut Criterion) {
    use ddsp_core::master::{MasterChain, MasterPreset, MasterSettings, Quality};
    let mut group = c.benchmark_group("master-chain-48k-stereo");
    let n = SECONDS * SAMPLE_RATE as usize;
    group.throughput(Throughput::Elements(n as u64));
    let input: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE;
            0.5 * (std::f32::consts::TAU * 196.0 * t).sin() * (0.5 + 0.5 * (std::f32::consts::TAU * 0.5 * t).sin())
        })
        .collect();
    let (mut left, mut right) = (input.clone(), input.clone());
    let mut run = |name: &str, settings: MasterSettings, metering: bool| {
        let mut chain = MasterChain::new(SAMPLE_RATE, settings);
        chain.set_metering(metering);
        group.bench_function(name, |b| {
            b.iter(|| {
                left.copy_from_slice(&input);
                right.copy_from_slice(&input);
                for (l, r) in left.chunks_mut(BLOCK).zip(right.chunks_mut(BLOCK)) {
                    chain.process(l, r);
                }
                black_box(left[0])
            })
        });
    };
    for quality in Quality::ALL {
        run(quality.name(), MasterPreset::Cello.settings(quality), true);
    }
    run("standard-no-meters", MasterPreset::Cello.settings(Quality::Standard), false);
    let alone = |stage: &str| {
        let mut s = MasterPreset::Cello.settings(Quality::Standard);
        s.eq.enabled = stage == "eq";
        s.compressor.enabled = stage == "compressor";
        s.reverb.enabled = stage == "reverb";
        s.limiter.enabled = stage == "limiter";
        s
    };
    for stage in ["eq", "compressor", "reverb", "limiter"] {
        run(&format!("only-{stage}"), alone(stage), false);
    }
    run("only-meters", MasterSettings::off(), true);
    group.finish();
}

/// Mean time per iteration (ns) from criterion's saved estimates.
fn mean_ns(group: &str, bench: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let text =
        std::fs::read_to_string(dir.join("criterion").join(group).join(bench).join("new/estimates.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    bench_instrument(&mut c);
    bench_polyphony(&mut c);
    bench_morph(&mut c);
    bench_inference(&mut c);
    bench_harmonic_bank(&mut c);
    bench_noise(&mut c);
    bench_tracker(&mut c);
    bench_master(&mut c);
    c.final_summary();

    println!("\nAVX2+FMA kernels in use: {}", ddsp_core::simd::has_avx2_fma());
    let audio_ns = SECONDS as f64 * 1e9;
    println!("\n| benchmark | time | x real time (48 kHz, one core) |");
    println!("|---|---|---|");
    for (group, bench) in [
        ("morph-48k-64", "1-voice-1-model"),
        ("morph-48k-64", "1-voice-2-models"),
        ("morph-48k-64", "1-voice-4-models"),
        ("morph-48k-64", "1-voice-4-models-at-a-corner"),
        ("morph-48k-64", "8-voices-2-models"),
        ("poly-48k-64-default-model", "1-voices"),
        ("poly-48k-64-default-model", "4-voices"),
        ("poly-48k-64-default-model", "4-voices-voice-by-voice"),
        ("poly-48k-64-default-model", "8-voices"),
        ("poly-48k-64-default-model", "8-voices-voice-by-voice"),
        ("poly-48k-64-default-model", "16-voices"),
        ("poly-48k-64-default-model", "16-voices-voice-by-voice"),
        ("poly-48k-64-default-model", "32-voices"),
        ("poly-48k-64-default-model", "32-voices-voice-by-voice"),
        ("poly-48k-64-default-model", "no-voices"),
        ("poly-48k-64-default-model", "16-released-voices"),
        ("poly-48k-64-default-model-auto-precision", "1-voices"),
        ("poly-48k-64-default-model-auto-precision", "16-voices"),
        ("poly-48k-64-default-model-auto-precision", "32-voices"),
        ("poly-48k-64-ddsp-vst-sized", "1-voices"),
        ("poly-48k-64-ddsp-vst-sized", "16-voices"),
        ("poly-48k-64-ddsp-vst-sized", "16-voices-voice-by-voice"),
        ("instrument-1-voice-48k-64", "default-model"),
        ("instrument-1-voice-48k-64", "ddsp-vst-sized"),
        ("harmonic-bank-60-48k", "simd"),
        ("harmonic-bank-60-48k", "simd-portable-sse2"),
        ("harmonic-bank-60-48k", "naive-scalar-sin"),
        ("filtered-noise-65-48k", "overlap-add"),
        ("tracker-48k", "pitch-and-loudness"),
        ("master-chain-48k-stereo", "draft"),
        ("master-chain-48k-stereo", "standard"),
        ("master-chain-48k-stereo", "professional"),
        ("master-chain-48k-stereo", "mastering"),
        ("master-chain-48k-stereo", "standard-no-meters"),
        ("master-chain-48k-stereo", "only-eq"),
        ("master-chain-48k-stereo", "only-compressor"),
        ("master-chain-48k-stereo", "only-reverb"),
        ("master-chain-48k-stereo", "only-limiter"),
        ("master-chain-48k-stereo", "only-meters"),
    ] {
        if let Some(ns) = mean_ns(group, bench) {
            println!("| {group}/{bench} | {:.2} ms per s of audio | {:.0}x |", ns / 1e6, audio_ns / ns);
        }
    }
    for bench in [
        "default-model-batched",
        "default-model-voice-by-voice",
        "ddsp-vst-sized-batched",
        "ddsp-vst-sized-voice-by-voice",
    ] {
        if let Some(ns) = mean_ns("inference-16-voices", bench) {
            println!("| inference-16-voices/{bench} | {:.1} µs per voice frame | |", ns / 1e3 / 16.0);
        }
    }
    let inference = [
        ("default-model", 250.0),
        ("ddsp-vst-sized", 50.0),
        ("ddsp-vst-fixture", 50.0),
        ("decoder-ref-onnx", 250.0),
        ("windowed-ref-tract", 250.0),
    ];
    for (bench, fps) in inference {
        if let Some(ns) = mean_ns("inference-per-frame", bench) {
            println!(
                "| inference-per-frame/{bench} | {:.1} µs per frame | {:.0}x at {fps} frames/s |",
                ns / 1e3,
                1e9 / (ns * fps)
            );
        }
    }
}
