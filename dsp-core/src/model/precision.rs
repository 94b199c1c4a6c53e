//! How a native model's weight matrices are stored for playing: f32, f16 (half the memory traffic
//! per frame, f32 arithmetic; see [`crate::model::kernels::Dense::to_f16`]) or int8 with a scale
//! per output row (a quarter, integer products; [`crate::model::kernels::Dense::to_int8`]).
//!
//! ```text
//! load (f32, exact) ─ with_precision(Auto) ─┬ no F16C, windowed model, or forced f32 ─ f32 as loaded
//!                                           └ f16 copy ─ probe sweep vs f32 ─┬ within F16_BOUND_DB ─ f16
//!                                                                            └ beyond ─ f32 as loaded
//! load ─ with_precision(Int8) ─ int8 copy (probe sweep vs f32 reported, not bounded)
//! quantised file (int8 weights) ─ Auto or Int8: kept as stored ─ F32: their exact f32 values
//! ```
//!
//! The product's load paths (the model library, the plugins' model slot, offline renders, the C ABI)
//! apply the process's precision; [`crate::Model::load`] itself stays exact f32, which is what the
//! exporting framework computes and what reference tests compare. `DDSP_PRECISION=f32` in the
//! environment, `ddsp --precision f32` or `ddsp_set_precision` force f32 everywhere in the process.

use std::sync::atomic::{AtomicU8, Ordering};

use super::kernels::WeightKind;
use super::{Model, RunMode};

/// The weight storage asked for at load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// f16 where this CPU converts it in hardware (F16C with the AVX2 + FMA kernels) and the model
    /// plays within [`F16_BOUND_DB`] of its f32 self on the probe sweep; f32 otherwise.
    #[default]
    Auto,
    /// f32 always: exactly what the exporting framework computes.
    F32,
    /// int8 with a scale per output row: a quarter of f32's weight memory and the fastest
    /// products, for a small, reported deviation (the built-in models and the DDSP-VST export:
    /// 0.09–0.30 dB on the probe sweep, held notes within 0.06 dB in level and 0.14 dB in their
    /// harmonics; `cargo test -p ddsp-core --test precision`). Chosen by the user, never by `Auto`;
    /// on a CPU without AVX2 the weights stay f32 (the portable integer kernel is slower).
    Int8,
}

impl Precision {
    /// `"auto"`, `"f32"` or `"int8"` (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "f32" => Some(Self::F32),
            "int8" => Some(Self::Int8),
            _ => None,
        }
    }
}

/// The largest change in dB that f16 weights may make to any audible control on the probe sweep
/// (overall amplitude; harmonics and noise bands within 40 dB of the frame's strongest component:
/// see [`probe_deviation_db`]) for [`Precision::Auto`] to keep them: half the smallest level change
/// listeners notice in a steady tone (~0.5 dB). The recurrent state carries each frame's rounding
/// on, so the loudest, longest phrases deviate most: the DDSP-VST export 0.010 dB, the built-in
/// models 0.006–0.059 dB (`cargo test -p ddsp-core --test precision -- --nocapture`).
pub const F16_BOUND_DB: f32 = 0.25;

/// Frames of the probe sweep: the pitch glides over the model's whole trained range while the
/// loudness rises and falls through its range twice.
pub const PROBE_FRAMES: usize = 240;

/// The process's precision: 0 = not set yet (read `DDSP_PRECISION`), 1 = auto, 2 = f32, 3 = int8.
static PROCESS_PRECISION: AtomicU8 = AtomicU8::new(0);

/// The environment variable that forces f32 (`f32`) or int8 (`int8`) weights, or asks for the
/// automatic choice (`auto`).
pub const PRECISION_ENV: &str = "DDSP_PRECISION";

/// Sets the precision every later product load in this process uses.
pub fn set_process_precision(precision: Precision) {
    PROCESS_PRECISION.store(encode(precision), Ordering::Relaxed);
}

/// The precision product loads use: what [`set_process_precision`] set, else `DDSP_PRECISION`
/// (`auto`, `f32` or `int8`; anything else is ignored), else [`Precision::Auto`].
pub fn process_precision() -> Precision {
    if PROCESS_PRECISION.load(Ordering::Relaxed) == 0 {
        let from_env = std::env::var(PRECISION_ENV).ok().as_deref().and_then(Precision::parse).unwrap_or_default();
        // A racing set_process_precision wins: only an unset value is replaced.
        let _ = PROCESS_PRECISION.compare_exchange(0, encode(from_env), Ordering::Relaxed, Ordering::Relaxed);
    }
    match PROCESS_PRECISION.load(Ordering::Relaxed) {
        2 => Precision::F32,
        3 => Precision::Int8,
        _ => Precision::Auto,
    }
}

fn encode(precision: Precision) -> u8 {
    match precision {
        Precision::Auto => 1,
        Precision::F32 => 2,
        Precision::Int8 => 3,
    }
}

/// How a loaded model's weights are stored, for model cards and `ddsp info`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WeightStorage {
    /// Every matrix in f32.
    F32,
    /// `converted` of `total` matrices in f16 (a matrix with a weight beyond f16's range stays
    /// f32), playing within `deviation_db` of the f32 model on the probe sweep (NaN: stored so in
    /// the file, TFLite's float16 quantisation).
    F16 { converted: usize, total: usize, deviation_db: f32 },
    /// `converted` of `total` matrices in int8 with a scale per output row: quantised so in the
    /// file (`deviation_db` NaN: the file's own weights, nothing to compare with), or converted
    /// from f32 and playing within `deviation_db` of it on the probe sweep.
    Int8 { converted: usize, total: usize, deviation_db: f32 },
    /// Not a native decoder (tract runs windowed models in f32).
    Graph,
}

impl std::fmt::Display for WeightStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::F32 => write!(f, "f32"),
            Self::F16 { converted, total, deviation_db } if !deviation_db.is_finite() => {
                write!(f, "f16 as stored in the file ({converted} of {total} matrices)")
            }
            Self::F16 { converted, total, deviation_db } if converted == total => {
                write!(f, "f16 (within {deviation_db:.3} dB of f32)")
            }
            Self::F16 { converted, total, deviation_db } => {
                write!(f, "f16 for {converted} of {total} matrices (within {deviation_db:.3} dB of f32)")
            }
            Self::Int8 { converted, total, deviation_db } if !deviation_db.is_finite() => {
                write!(f, "int8 as quantised in the file ({converted} of {total} matrices)")
            }
            Self::Int8 { converted, total, deviation_db } => {
                write!(f, "int8 for {converted} of {total} matrices (within {deviation_db:.3} dB of f32)")
            }
            Self::Graph => write!(f, "f32 (windowed graph)"),
        }
    }
}

impl Model {
    /// This model stored as `precision` asks (see the module's diagram): [`Precision::Auto`] keeps
    /// an f16 copy only where the CPU has the F16C kernels and the copy plays within
    /// [`F16_BOUND_DB`] of this model on the probe sweep. Allocates and runs 2 × [`PROBE_FRAMES`]
    /// frames (~40 ms for the DDSP-VST export): load time only, never the audio thread.
    pub fn with_precision(self, precision: Precision) -> Self {
        self.with_precision_bound(precision, F16_BOUND_DB)
    }

    /// [`Model::with_precision`] with another bound (tests of the decision).
    pub fn with_precision_bound(mut self, precision: Precision, bound_db: f32) -> Self {
        let Some(decoder) = self.decoder() else { return self };
        let stored_f32 = decoder.matrices_of(WeightKind::F32);
        if precision == Precision::F32 {
            // A quantised file's weights, played as f32 (the same values).
            if stored_f32.0 < stored_f32.1 {
                self.to_f32();
                self.probe_deviation_db = None;
            }
            return self;
        }
        // Already reduced: a quantised file keeps the weights it was made with.
        if stored_f32.0 < stored_f32.1 {
            return self;
        }
        if precision == Precision::Int8 {
            let mut int8 = self.clone();
            if int8.to_int8().0 == 0 {
                return self;
            }
            int8.probe_deviation_db = Some(probe_deviation_db(&self, &int8));
            return int8;
        }
        if !crate::simd::has_avx2_fma() {
            return self;
        }
        let mut half = self.clone();
        let (converted, _) = half.to_f16();
        if converted == 0 {
            return self;
        }
        let deviation_db = probe_deviation_db(&self, &half);
        if deviation_db <= bound_db {
            half.probe_deviation_db = Some(deviation_db);
            half
        } else {
            self
        }
    }

    /// How the weights are stored now.
    pub fn weight_storage(&self) -> WeightStorage {
        let Some(decoder) = self.decoder() else { return WeightStorage::Graph };
        let deviation_db = self.probe_deviation_db.unwrap_or(f32::NAN);
        match (decoder.matrices_of(WeightKind::Int8), decoder.matrices_of(WeightKind::F16)) {
            ((converted @ 1.., total), _) => WeightStorage::Int8 { converted, total, deviation_db },
            (_, (converted @ 1.., total)) => WeightStorage::F16 { converted, total, deviation_db },
            _ => WeightStorage::F32,
        }
    }
}

/// Harmonics and noise bands compared by the probe: those whose power in the output is within
/// 40 dB of the frame's strongest component, harmonic or noise band. A component 40 dB down adds
/// 0.0004 dB to the total level; changing it by 0.1 dB changes the sound by far less than anything
/// listeners resolve, and quieter ones less still (their rounding is a larger share of them). Noise
/// bands are judged against the whole frame, not against each other: a model whose noise lies 70 dB
/// under its note has no noise band anyone hears (judged against the loudest band, the knotted
/// clarinet's int8 copy measured 0.71 dB on band 55, 74 dB under its note; against the frame 0.23).
pub const AUDIBLE_SPAN: f32 = 0.01;

/// Each component's power in the synthesised output at the model's rate, for [`probe_deviation_db`]:
/// harmonic `k` a sinusoid of amplitude `a_k` ([`crate::model::harmonic_amplitudes`]: none above
/// the model's Nyquist) has power `a_k² / 2`; noise band `j` shapes uniform noise in [−1, 1)
/// (variance 1/3, [`crate::noise`]) over its share of the spectrum, the bands being spaced evenly
/// from 0 Hz to Nyquist and interpolated linearly between (1/(n−1) of it, half that at the ends), so
/// it has power `m_j² · share / 3`. Returns the strongest of them.
fn component_powers(
    controls: &super::FrameControls,
    f0_hz: f32,
    sample_rate_hz: f32,
    harmonics: &mut [f32],
    noise: &mut [f32],
) -> f32 {
    super::harmonic_amplitudes(controls, f0_hz, sample_rate_hz, harmonics);
    harmonics.iter_mut().for_each(|a| *a = 0.5 * *a * *a);
    let spacing = 1.0 / noise.len().saturating_sub(1).max(1) as f32;
    let last = noise.len().saturating_sub(1);
    for (j, (p, &m)) in noise.iter_mut().zip(&controls.noise_magnitudes).enumerate() {
        let share = if j == 0 || j == last { 0.5 * spacing } else { spacing };
        *p = m * m * share / 3.0;
    }
    harmonics.iter().chain(noise.iter()).fold(0.0f32, |m, &p| m.max(p))
}

/// The largest change in dB between two models' controls over the probe sweep (both run from a
/// zeroed state, offline): the overall amplitude (above −100 dB), and the harmonic distribution and
/// noise bands whose components are within [`AUDIBLE_SPAN`] of the frame's strongest (measured on the
/// reference's output). NaN anywhere counts as infinitely far. Allocates.
pub fn probe_deviation_db(reference: &Model, other: &Model) -> f32 {
    let (a, b) = (reference.clone().with_run_mode(RunMode::Offline), other.clone().with_run_mode(RunMode::Offline));
    let (mut state_a, mut state_b) = (a.new_state(), b.new_state());
    let meta = &reference.meta;
    let (f0_lo, f0_hi) = (meta.f0_min_hz.max(20.0), meta.f0_max_hz.max(meta.f0_min_hz.max(20.0) + 1.0));
    let (db_lo, db_hi) = (meta.loudness_min_db, meta.loudness_max_db.max(meta.loudness_min_db));
    let db = |x: f32| 20.0 * x.max(1e-30).log10();
    let (mut harmonic_power, mut noise_power) = (Vec::new(), Vec::new());
    let mut worst = 0.0f32;
    for i in 0..PROBE_FRAMES {
        let t = i as f32 / (PROBE_FRAMES - 1) as f32;
        let f0_hz = f0_lo * (f0_hi / f0_lo).powf(t);
        // Two rises and falls through the loudness range.
        let tri = 1.0 - (2.0 * (2.0 * t).fract() - 1.0).abs();
        let loudness_db = db_lo + (db_hi - db_lo) * tri;
        let ca = a.infer(f0_hz, loudness_db, &mut state_a);
        let cb = b.infer(f0_hz, loudness_db, &mut state_b);
        let mut far = |x: f32, y: f32| {
            let d = (db(x) - db(y)).abs();
            worst = if d.is_nan() { f32::INFINITY } else { worst.max(d) };
        };
        if ca.amplitude > 1e-5 || cb.amplitude > 1e-5 {
            far(ca.amplitude, cb.amplitude);
        }
        harmonic_power.resize(ca.harmonic_distribution.len(), 0.0);
        noise_power.resize(ca.noise_magnitudes.len(), 0.0);
        let strongest = component_powers(ca, f0_hz, meta.sample_rate_hz, &mut harmonic_power, &mut noise_power);
        let audible = strongest * AUDIBLE_SPAN * AUDIBLE_SPAN;
        for ((&x, &y), &p) in ca.harmonic_distribution.iter().zip(&cb.harmonic_distribution).zip(&harmonic_power) {
            if p > audible {
                far(x, y);
            }
        }
        for ((&x, &y), &p) in ca.noise_magnitudes.iter().zip(&cb.noise_magnitudes).zip(&noise_power) {
            if p > audible {
                far(x, y);
            }
        }
        if !(ca.amplitude.is_finite() && cb.amplitude.is_finite()) {
            worst = f32::INFINITY;
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harmonic::HarmonicBank;
    use crate::model::FrameControls;
    use crate::noise::FilteredNoise;

    fn power(x: &[f32]) -> f64 {
        x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64
    }

    /// The powers the probe ranks components by are what the synthesisers play: a harmonic's
    /// sinusoid and the filtered noise, rendered at the model's rate and measured.
    #[test]
    fn component_powers_are_the_synthesised_powers() {
        let (rate, f0_hz, n_bands) = (16_000.0, 440.0, 65);
        let mut distribution = vec![0.0; 60];
        distribution[2] = 1.0;
        let controls = FrameControls {
            amplitude: 0.4,
            harmonic_distribution: distribution,
            noise_magnitudes: vec![0.02; n_bands],
        };
        let (mut harmonics, mut noise) = (vec![0.0; 60], vec![0.0; n_bands]);
        let strongest = component_powers(&controls, f0_hz, rate, &mut harmonics, &mut noise);

        let mut out = vec![0.0f32; 64_000];
        let mut filtered = FilteredNoise::new(rate, n_bands, rate, 7);
        filtered.set_targets(&controls.noise_magnitudes, 0);
        filtered.process(&mut out);
        let measured_noise = power(&out[4_000..]);
        let predicted_noise: f64 = noise.iter().map(|&p| f64::from(p)).sum();
        assert!((measured_noise / predicted_noise - 1.0).abs() < 0.03, "{measured_noise} vs {predicted_noise}");

        let mut amplitudes = vec![0.0; 60];
        crate::model::harmonic_amplitudes(&controls, f0_hz, rate, &mut amplitudes);
        let mut bank = HarmonicBank::new(rate, 60);
        bank.set_targets(&amplitudes, 0);
        bank.process(&vec![f0_hz; out.len()], &mut out);
        let measured_harmonic = power(&out[4_000..]);
        assert!(
            (measured_harmonic / f64::from(harmonics[2]) - 1.0).abs() < 0.01,
            "{measured_harmonic} vs {}",
            harmonics[2]
        );
        assert_eq!(strongest, harmonics[2]);
        // Harmonics above the model's Nyquist play nothing and count for nothing.
        let mut high = controls.clone();
        high.harmonic_distribution[2] = 0.0;
        high.harmonic_distribution[30] = 1.0;
        component_powers(&high, f0_hz, rate, &mut harmonics, &mut noise);
        assert_eq!(harmonics[30], 0.0);
    }
}
