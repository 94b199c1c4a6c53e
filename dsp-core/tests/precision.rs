//! Weight precision chosen at load (`ddsp_core::model::precision`): f32 when forced is the model as
//! loaded, sample for sample; the automatic choice stores f16 where the CPU converts it in hardware
//! and the notes it plays measure the same as f32's in the rendered audio (level, pitch, harmonic
//! levels: an FFT of the output, not the probe that made the choice); a model beyond the bound and
//! a windowed model keep f32; the process-wide setting reaches the library's loads.

mod common;

use std::sync::Arc;

use common::*;
use ddsp_core::model::precision::F16_BOUND_DB;
use ddsp_core::model::{set_process_precision, Precision, WeightStorage};
use ddsp_core::{
    render_with_events, BuiltInModel, ControlTarget, Instrument, InstrumentEvent, InstrumentSettings, Model,
    ModelChoice,
};

const SR: f32 = 48_000.0;

/// A held note (the middle of the model's range), 1.5 s.
fn note(model: &Model) -> (Vec<f32>, f64) {
    let mid_hz = (model.meta.f0_min_hz.max(30.0) * model.meta.f0_max_hz).sqrt() as f64;
    let note = (69.0 + 12.0 * (mid_hz / 440.0).log2()).round().clamp(24.0, 100.0) as u8;
    let settings = InstrumentSettings { mod_wheel_target: ControlTarget::Off, ..InstrumentSettings::default() };
    let mut inst = Instrument::new(Arc::new(model.clone()), SR, settings);
    let mut out = vec![0.0; 72_000];
    render_with_events(&mut inst, &mut out, &[(0, InstrumentEvent::NoteOn { note, velocity: 0.8 })]);
    (out, midi_hz(f64::from(note)))
}

/// The first ten harmonics' levels in dB (the strongest FFT bin within ±30 cents of each).
fn harmonic_levels_db(x: &[f32], f0_hz: f64) -> Vec<f64> {
    (1..=10)
        .filter(|&k| f64::from(k) * f0_hz < 0.45 * f64::from(SR))
        .map(|k| peak_near(x, f64::from(SR), f64::from(k) * f0_hz, 30.0, 1 << 17).1)
        .collect()
}

#[test]
fn forced_f32_is_the_model_as_loaded_sample_for_sample() {
    for built_in in &ddsp_core::model::BUILT_IN_MODELS {
        let exact = built_in.load();
        let forced = exact.clone().with_precision(Precision::F32);
        assert_eq!(forced.weight_storage(), WeightStorage::F32, "{}", built_in.name);
        assert_eq!(note(&exact).0, note(&forced).0, "{}", built_in.name);
    }
}

#[test]
fn auto_stores_f16_where_the_cpu_converts_it_and_the_notes_measure_the_same() {
    for built_in in &ddsp_core::model::BUILT_IN_MODELS {
        let exact = built_in.load();
        let auto = exact.clone().with_precision(Precision::Auto);
        let storage = auto.weight_storage();
        if !ddsp_core::simd::has_avx2_fma() {
            assert_eq!(storage, WeightStorage::F32, "no F16C: f32 is kept ({})", built_in.name);
            continue;
        }
        let WeightStorage::F16 { converted, total, deviation_db } = storage else {
            let mut half = exact.clone();
            half.to_f16();
            let d = ddsp_core::model::precision::probe_deviation_db(&exact, &half);
            panic!("{}: auto kept {storage} (the f16 copy is {d} dB away on the probe)", built_in.name);
        };
        assert!(converted == total && deviation_db <= F16_BOUND_DB, "{}: {storage}", built_in.name);
        let [level_db, pitch, harmonics_db] = note_difference(&exact, &auto, &format!("{}: {storage}", built_in.name));
        // The note's level and colour within the bound the probe applies to the controls.
        assert!(level_db.abs() < f64::from(F16_BOUND_DB), "{}: level {level_db} dB", built_in.name);
        assert!(pitch.abs() < 0.5, "{}: pitch {pitch} cents", built_in.name);
        assert!(harmonics_db < f64::from(F16_BOUND_DB), "{}: harmonics {harmonics_db} dB", built_in.name);
    }
}

/// A held note rendered by `other` against `exact`, measured in the audio: `[level change dB,
/// pitch change cents, largest change of harmonics 1–10 within 60 dB of the strongest, dB]`.
fn note_difference(exact: &Model, other: &Model, label: &str) -> [f64; 3] {
    let ((a, hz), (b, _)) = (note(exact), note(other));
    let (steady_a, steady_b) = (&a[24_000..], &b[24_000..]);
    let level_db = 20.0 * (rms(steady_b) / rms(steady_a)).log10();
    // The strongest peak divided by its harmonic number: the note's f0, whichever harmonic leads.
    let f0 = |x: &[f32]| {
        let peak = peak_frequency_hz(x, 48_000.0, 1 << 18);
        peak / (peak / hz).round().max(1.0)
    };
    let pitch = cents(f0(steady_b), f0(steady_a));
    let (ha, hb) = (harmonic_levels_db(steady_a, hz), harmonic_levels_db(steady_b, hz));
    let strongest = ha.iter().cloned().fold(f64::MIN, f64::max);
    // Harmonics within 60 dB of the strongest: what a listener hears of the note's colour.
    let harmonics_db =
        ha.iter().zip(&hb).filter(|(x, _)| **x > strongest - 60.0).map(|(x, y)| (x - y).abs()).fold(0.0f64, f64::max);
    println!(
        "{label}; rendered note {hz:.1} Hz: level {level_db:+.4} dB, pitch {pitch:+.3} cents, \
         harmonics 1-10 max |diff| {harmonics_db:.4} dB"
    );
    [level_db, pitch, harmonics_db]
}

/// Forced int8 (every matrix with a scale per row, where the CPU has AVX2): the card reports the
/// probe's deviation, and the notes played measure within INT8_NOTE_DB of f32 in level and colour.
#[test]
fn forced_int8_plays_every_model_close_to_f32_and_reports_how_close() {
    const INT8_NOTE_DB: f64 = 0.5;
    let fixture = Model::load(data_path("ddsp-vst/model_a.tflite")).unwrap();
    let models = ddsp_core::model::BUILT_IN_MODELS.iter().map(|b| (b.name.to_owned(), b.load()));
    for (name, exact) in models.chain([("DDSP-VST export".to_owned(), fixture)]) {
        let int8 = exact.clone().with_precision(Precision::Int8);
        let storage = int8.weight_storage();
        if !ddsp_core::simd::has_avx2_fma() {
            assert_eq!(storage, WeightStorage::F32, "no AVX2: f32 is kept ({name})");
            continue;
        }
        let WeightStorage::Int8 { converted, total, deviation_db } = storage else { panic!("{name}: {storage}") };
        assert!(converted == total && deviation_db.is_finite(), "{name}: {storage}");
        let [level_db, pitch, harmonics_db] = note_difference(&exact, &int8, &format!("{name}: {storage}"));
        assert!(level_db.abs() < INT8_NOTE_DB, "{name}: level {level_db} dB");
        assert!(pitch.abs() < 0.5, "{name}: pitch {pitch} cents");
        assert!(harmonics_db < INT8_NOTE_DB, "{name}: harmonics {harmonics_db} dB");
    }
}

#[test]
fn a_model_beyond_the_bound_and_a_windowed_model_keep_f32() {
    let flute = BuiltInModel::default_model().load();
    // Any f16 copy changes something: with a zero bound it is refused.
    assert_eq!(flute.clone().with_precision_bound(Precision::Auto, 0.0).weight_storage(), WeightStorage::F32);
    let windowed = Model::load(data_path("windowed_ref.onnx")).unwrap();
    let kept = windowed.with_precision(Precision::Auto);
    assert_eq!(kept.weight_storage(), WeightStorage::Graph);
}

/// The process-wide setting (what `ddsp --precision`, `DDSP_PRECISION` and `ddsp_set_precision`
/// set) reaches the library's loads. One test: the setting is shared by the whole binary.
#[test]
fn the_process_precision_reaches_the_library_loads() {
    assert_eq!(Precision::parse(" F32 "), Some(Precision::F32));
    assert_eq!(Precision::parse("auto"), Some(Precision::Auto));
    assert_eq!(Precision::parse("Int8"), Some(Precision::Int8));
    assert_eq!(Precision::parse("f16"), None, "f16 is chosen, not forced");
    let cello = ModelChoice::BuiltIn(BuiltInModel::find("Cello").unwrap());
    set_process_precision(Precision::F32);
    assert_eq!(cello.load().unwrap().weight_storage(), WeightStorage::F32);
    set_process_precision(Precision::Auto);
    let auto = cello.load().unwrap().weight_storage();
    assert_eq!(matches!(auto, WeightStorage::F16 { .. }), ddsp_core::simd::has_avx2_fma(), "{auto}");
    set_process_precision(Precision::Int8);
    let int8 = cello.load().unwrap().weight_storage();
    assert_eq!(matches!(int8, WeightStorage::Int8 { .. }), ddsp_core::simd::has_avx2_fma(), "{int8}");
    set_process_precision(Precision::Auto);
}
