//! A-weighted loudness in dB, causal: the A-weighted mean power over whole periods of the note.
//!
//! # Definition (shared with the trainer, `models/FORMAT.md`)
//! `loudness_db = 10·log10(72 · P_A)`, floor −120 dB, where `P_A` is the mean square of the signal
//! through an IEC 61672 A-weighting filter (the analog prototype, bilinear-transformed with its
//! corners pre-warped, 0 dB at 1 kHz) over the last `L` samples:
//! - voiced, period `T`: `L = max(1, floor(4 ms / T)) · T` — whole periods, at most 4 ms when
//!   f0 ≥ 250 Hz, one period below (a period is the least that holds the note's whole waveform);
//! - unvoiced (or `T` > 50 ms): `L` = 4 ms.
//!
//! The offset `10·log10(72)` = 18.57 dB makes the value equal DDSP's `compute_loudness` (A-weighted
//! power spectrum of a periodic-Hann STFT, mean over bins, `ref_db = 0`) with `n_fft` = 192 at
//! 48 kHz, for any stationary signal: `mean_k |X_k|² ≈ Σw² · P = (3/8)·192 · P`.
//!
//! Why not DDSP's STFT on a short window: a 4 ms window on a 330 Hz sawtooth holds 1.3 periods and
//! its power swings by ~10 dB with the waveform's phase (measured), which a model turns into
//! flutter. Whole periods make a periodic note's loudness ripple-free, and a 20 dB step is tracked
//! within one 4 ms frame for notes from 250 Hz up (within one period below).

use std::f64::consts::PI;

/// Window of unvoiced input, seconds (one 250 Hz model frame).
pub const LOUDNESS_WINDOW_S: f64 = 0.004;
/// Longest period measured by whole periods; longer ones use [`LOUDNESS_WINDOW_S`].
pub const MAX_PERIOD_S: f64 = 0.05;
/// `10·log10(72)`: DDSP `compute_loudness` at `n_fft` = 192 for a stationary signal of power 1.
pub const DDSP_OFFSET_DB: f64 = 18.573_324_964_312_685;
/// Samples between rebasings of the running power sum.
const REBASE_EVERY: u64 = 1 << 20;
/// DDSP's `range_db`: the floor, reported for silence.
pub const LOUDNESS_RANGE_DB: f32 = 120.0;

/// librosa's `A_weighting(f, min_db=-80)` in dB (the analytic curve the filter follows).
pub fn a_weighting_db(frequency_hz: f64) -> f64 {
    const C: [f64; 4] = [12194.217 * 12194.217, 20.598997 * 20.598997, 107.65265 * 107.65265, 737.86223 * 737.86223];
    let f_sq = frequency_hz * frequency_hz;
    if f_sq <= 0.0 {
        return -80.0;
    }
    let w = 2.0
        + 20.0
            * (C[0].log10() + 2.0 * f_sq.log10()
                - (f_sq + C[0]).log10()
                - (f_sq + C[1]).log10()
                - 0.5 * (f_sq + C[2]).log10()
                - 0.5 * (f_sq + C[3]).log10());
    w.max(-80.0)
}

/// Warped-domain corner (rad/s) of the two 12194 Hz low-pass sections, chosen so the digital
/// filter equals the analog curve at `min(10 kHz, 0.4·fs)` rather than at the corner itself:
/// pre-warping the corner leaves +0.6 dB at 10 kHz (48 kHz); this leaves < 0.4 dB up to 10 kHz.
fn high_corner_warped(sample_rate_hz: f64) -> f64 {
    let match_hz = 10_000f64.min(0.4 * sample_rate_hz);
    2.0 * sample_rate_hz * (PI * match_hz / sample_rate_hz).tan() * 12194.217 / match_hz
}

/// First-order section `(b0 + b1 z⁻¹) / (1 + a1 z⁻¹)`.
#[derive(Clone, Copy, Debug, Default)]
struct FirstOrder {
    b0: f64,
    b1: f64,
    a1: f64,
    x1: f64,
    y1: f64,
}

impl FirstOrder {
    /// Bilinear transform of `s/(s+ω)` (`high_pass`) or `ω/(s+ω)`, corner pre-warped.
    fn new(sample_rate_hz: f64, corner_hz: f64, high_pass: bool) -> Self {
        let c = 2.0 * sample_rate_hz;
        Self::warped(sample_rate_hz, c * (PI * corner_hz / sample_rate_hz).tan(), high_pass)
    }

    /// Bilinear transform with the prototype's corner `w` (rad/s) given in the warped domain.
    fn warped(sample_rate_hz: f64, w: f64, high_pass: bool) -> Self {
        let c = 2.0 * sample_rate_hz;
        let a0 = c + w;
        let (b0, b1) = if high_pass { (c / a0, -c / a0) } else { (w / a0, w / a0) };
        Self { b0, b1, a1: (w - c) / a0, ..Self::default() }
    }

    #[inline]
    fn process(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.b1 * self.x1 - self.a1 * self.y1;
        self.x1 = x;
        self.y1 = y;
        y
    }

    /// |H| at `f` (for the 1 kHz normalisation).
    fn gain(&self, sample_rate_hz: f64, f: f64) -> f64 {
        let w = 2.0 * PI * f / sample_rate_hz;
        let (c, s) = (w.cos(), w.sin());
        let num = ((self.b0 + self.b1 * c).powi(2) + (self.b1 * s).powi(2)).sqrt();
        let den = ((1.0 + self.a1 * c).powi(2) + (self.a1 * s).powi(2)).sqrt();
        num / den
    }
}

/// Lifecycle: [`Loudness::new`] allocates; `push`, `measure` and `reset` never do.
pub struct Loudness {
    sample_rate_hz: f64,
    sections: [FirstOrder; 6],
    gain: f64,
    /// Running Σ y² after each sample (ring, power-of-two length), and the write count.
    prefix: Vec<f64>,
    total: f64,
    count: u64,
}

impl Loudness {
    /// Prepares the filter and history for `sample_rate_hz`. Allocates.
    pub fn new(sample_rate_hz: f32) -> Self {
        let sr = f64::from(sample_rate_hz);
        // Corners of IEC 61672's A-weighting; s⁴ / ((s+ω1)²(s+ω2)(s+ω3)(s+ω4)²).
        let (f1, f2, f3) = (20.598997, 107.65265, 737.86223);
        let w4 = high_corner_warped(sr);
        let sections = [
            FirstOrder::new(sr, f1, true),
            FirstOrder::new(sr, f1, true),
            FirstOrder::new(sr, f2, true),
            FirstOrder::new(sr, f3, true),
            FirstOrder::warped(sr, w4, false),
            FirstOrder::warped(sr, w4, false),
        ];
        let at_1k: f64 = sections.iter().map(|s| s.gain(sr, 1_000.0)).product();
        let len = ((MAX_PERIOD_S * sr) as usize + 2).next_power_of_two();
        Self { sample_rate_hz: sr, sections, gain: 1.0 / at_1k, prefix: vec![0.0; len], total: 0.0, count: 0 }
    }

    pub fn reset(&mut self) {
        self.sections.iter_mut().for_each(|s| (s.x1, s.y1) = (0.0, 0.0));
        self.prefix.iter_mut().for_each(|v| *v = 0.0);
        self.total = 0.0;
        self.count = 0;
    }

    /// Feeds one sample. Never allocates.
    #[inline]
    pub fn push(&mut self, x: f32) {
        let mut y = f64::from(if x.is_finite() { x.clamp(-8.0, 8.0) } else { 0.0 }) * self.gain;
        for section in &mut self.sections {
            y = section.process(y);
        }
        self.total += y * y;
        let mask = self.prefix.len() - 1;
        self.prefix[self.count as usize & mask] = self.total;
        self.count += 1;
        if self.count.is_multiple_of(REBASE_EVERY) {
            // Keep the running total small so differences keep their precision over hours.
            let base = self.total;
            self.prefix.iter_mut().for_each(|v| *v -= base);
            self.total = 0.0;
        }
    }

    /// The window for a note of period `period_samples` (`None`: unvoiced), per the definition.
    pub fn window_samples(&self, period_samples: Option<f64>) -> f64 {
        let frame = LOUDNESS_WINDOW_S * self.sample_rate_hz;
        match period_samples {
            Some(t) if t > 0.0 && t <= MAX_PERIOD_S * self.sample_rate_hz => (frame / t).floor().max(1.0) * t,
            _ => frame,
        }
    }

    /// Loudness in dB over the last `window_samples` (fractional: the oldest sample counts in part).
    /// Never allocates; never NaN.
    pub fn measure(&self, window_samples: f64) -> f32 {
        let mask = self.prefix.len() - 1;
        let max = (self.prefix.len() - 2) as f64;
        let window = window_samples.clamp(1.0, max);
        let prefix_back = |back: usize| -> f64 {
            // Σ y² up to `back` samples before the newest (0 before the first sample).
            if back as u64 >= self.count {
                0.0
            } else {
                self.prefix[(self.count as usize - 1 - back) & mask]
            }
        };
        let whole = window.floor() as usize;
        let frac = window - whole as f64;
        let before = prefix_back(whole) * (1.0 - frac) + prefix_back(whole + 1) * frac;
        let power = (self.total - before) / window;
        let db = if power > 0.0 { 10.0 * power.log10() + DDSP_OFFSET_DB } else { f64::NEG_INFINITY };
        db.max(-f64::from(LOUDNESS_RANGE_DB)) as f32
    }
}
