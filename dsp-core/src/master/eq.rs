//! Parametric EQ: high-pass, low shelf, three peaking bands, high shelf (RBJ cookbook biquads).
//!
//! Each band is a second-order section in transposed direct form II (64-bit state: low shelves at
//! 65 Hz put poles within 1e-3 of the unit circle, where f32 state drifts audibly). Coefficient
//! changes are applied at block starts; the plugin smooths its parameters before they arrive.

use core::f64::consts::PI;

/// A biquad's normalised coefficients (`a0 = 1`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BiquadCoeffs {
    pub b0: f64,
    pub b1: f64,
    pub b2: f64,
    pub a1: f64,
    pub a2: f64,
}

impl BiquadCoeffs {
    pub const IDENTITY: Self = Self { b0: 1.0, b1: 0.0, b2: 0.0, a1: 0.0, a2: 0.0 };

    fn normalised(b: [f64; 3], a: [f64; 3]) -> Self {
        Self { b0: b[0] / a[0], b1: b[1] / a[0], b2: b[2] / a[0], a1: a[1] / a[0], a2: a[2] / a[0] }
    }

    /// Second-order high-pass (Butterworth at `q = 1/√2`).
    pub fn high_pass(freq_hz: f64, q: f64, sample_rate_hz: f64) -> Self {
        let (cos, alpha) = Self::angle(freq_hz, q, sample_rate_hz);
        Self::normalised([(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0], [1.0 + alpha, -2.0 * cos, 1.0 - alpha])
    }

    /// Peaking band: `gain_db` at `freq_hz`, bandwidth set by `q`.
    pub fn peaking(freq_hz: f64, gain_db: f64, q: f64, sample_rate_hz: f64) -> Self {
        let a = 10f64.powf(gain_db / 40.0);
        let (cos, alpha) = Self::angle(freq_hz, q, sample_rate_hz);
        Self::normalised([1.0 + alpha * a, -2.0 * cos, 1.0 - alpha * a], [1.0 + alpha / a, -2.0 * cos, 1.0 - alpha / a])
    }

    /// Low shelf with shelf slope 1 (the steepest without overshoot); `freq_hz` is the midpoint.
    pub fn low_shelf(freq_hz: f64, gain_db: f64, sample_rate_hz: f64) -> Self {
        let a = 10f64.powf(gain_db / 40.0);
        let (cos, alpha) = Self::angle(freq_hz, core::f64::consts::FRAC_1_SQRT_2, sample_rate_hz);
        let k = 2.0 * a.sqrt() * alpha;
        Self::normalised(
            [
                a * ((a + 1.0) - (a - 1.0) * cos + k),
                2.0 * a * ((a - 1.0) - (a + 1.0) * cos),
                a * ((a + 1.0) - (a - 1.0) * cos - k),
            ],
            [(a + 1.0) + (a - 1.0) * cos + k, -2.0 * ((a - 1.0) + (a + 1.0) * cos), (a + 1.0) + (a - 1.0) * cos - k],
        )
    }

    /// High shelf with shelf slope 1; `freq_hz` is the midpoint.
    pub fn high_shelf(freq_hz: f64, gain_db: f64, sample_rate_hz: f64) -> Self {
        let a = 10f64.powf(gain_db / 40.0);
        let (cos, alpha) = Self::angle(freq_hz, core::f64::consts::FRAC_1_SQRT_2, sample_rate_hz);
        let k = 2.0 * a.sqrt() * alpha;
        Self::normalised(
            [
                a * ((a + 1.0) + (a - 1.0) * cos + k),
                -2.0 * a * ((a - 1.0) + (a + 1.0) * cos),
                a * ((a + 1.0) + (a - 1.0) * cos - k),
            ],
            [(a + 1.0) - (a - 1.0) * cos + k, 2.0 * ((a - 1.0) - (a + 1.0) * cos), (a + 1.0) - (a - 1.0) * cos - k],
        )
    }

    /// `cos(w0)` and `alpha = sin(w0) / 2q`, with the frequency kept below Nyquist.
    fn angle(freq_hz: f64, q: f64, sample_rate_hz: f64) -> (f64, f64) {
        let w0 = 2.0 * PI * freq_hz.clamp(1.0, 0.49 * sample_rate_hz) / sample_rate_hz;
        (w0.cos(), w0.sin() / (2.0 * q.max(0.05)))
    }

    /// The analytic magnitude response at `freq_hz`, dB: `|H(e^{jw})|`.
    pub fn response_db(&self, freq_hz: f64, sample_rate_hz: f64) -> f64 {
        let w = 2.0 * PI * freq_hz / sample_rate_hz;
        let (c1, s1, c2, s2) = (w.cos(), w.sin(), (2.0 * w).cos(), (2.0 * w).sin());
        let num = (self.b0 + self.b1 * c1 + self.b2 * c2).hypot(self.b1 * s1 + self.b2 * s2);
        let den = (1.0 + self.a1 * c1 + self.a2 * c2).hypot(self.a1 * s1 + self.a2 * s2);
        20.0 * (num / den).log10()
    }
}

/// One section's state, transposed direct form II.
#[derive(Clone, Copy, Debug, Default)]
struct Section {
    s1: f64,
    s2: f64,
}

impl Section {
    #[inline]
    fn tick(&mut self, c: &BiquadCoeffs, x: f64) -> f64 {
        let y = c.b0 * x + self.s1;
        self.s1 = c.b1 * x - c.a1 * y + self.s2;
        self.s2 = c.b2 * x - c.a2 * y;
        y
    }
}

/// A peaking band's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeakBand {
    pub freq_hz: f32,
    pub gain_db: f32,
    pub q: f32,
}

/// The EQ's settings. A band at 0 dB (or a high-pass at `0` Hz) is skipped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EqSettings {
    pub enabled: bool,
    /// 0 = off.
    pub high_pass_hz: f32,
    pub low_shelf_hz: f32,
    pub low_shelf_db: f32,
    pub peaks: [PeakBand; 3],
    pub high_shelf_hz: f32,
    pub high_shelf_db: f32,
}

impl EqSettings {
    /// Every band at 0 dB, no high-pass.
    pub const FLAT: Self = Self {
        enabled: true,
        high_pass_hz: 0.0,
        low_shelf_hz: 120.0,
        low_shelf_db: 0.0,
        peaks: [
            PeakBand { freq_hz: 400.0, gain_db: 0.0, q: 1.0 },
            PeakBand { freq_hz: 1_500.0, gain_db: 0.0, q: 1.0 },
            PeakBand { freq_hz: 4_000.0, gain_db: 0.0, q: 1.0 },
        ],
        high_shelf_hz: 8_000.0,
        high_shelf_db: 0.0,
    };

    /// The section coefficients in signal order (high-pass, low shelf, peaks, high shelf); `None`
    /// for a band that does nothing.
    pub fn sections(&self, sample_rate_hz: f64) -> [Option<BiquadCoeffs>; MAX_SECTIONS] {
        let active = |gain_db: f32| gain_db.is_finite() && gain_db.abs() > 1e-3;
        let sr = sample_rate_hz;
        let mut out = [None; MAX_SECTIONS];
        if self.high_pass_hz.is_finite() && self.high_pass_hz > 0.0 {
            out[0] = Some(BiquadCoeffs::high_pass(f64::from(self.high_pass_hz), core::f64::consts::FRAC_1_SQRT_2, sr));
        }
        if active(self.low_shelf_db) {
            out[1] = Some(BiquadCoeffs::low_shelf(f64::from(self.low_shelf_hz), f64::from(self.low_shelf_db), sr));
        }
        for (slot, band) in out[2..5].iter_mut().zip(&self.peaks) {
            if active(band.gain_db) {
                *slot = Some(BiquadCoeffs::peaking(
                    f64::from(band.freq_hz),
                    f64::from(band.gain_db),
                    f64::from(band.q),
                    sr,
                ));
            }
        }
        if active(self.high_shelf_db) {
            out[5] = Some(BiquadCoeffs::high_shelf(f64::from(self.high_shelf_hz), f64::from(self.high_shelf_db), sr));
        }
        out
    }
}

/// High-pass, low shelf, 3 peaks, high shelf.
pub const MAX_SECTIONS: usize = 6;

/// The EQ for up to two channels. Allocation-free.
pub struct Equalizer {
    sample_rate_hz: f64,
    settings: EqSettings,
    coeffs: [Option<BiquadCoeffs>; MAX_SECTIONS],
    state: [[Section; MAX_SECTIONS]; 2],
}

impl Equalizer {
    pub fn new(sample_rate_hz: f32, settings: EqSettings) -> Self {
        let mut eq = Self {
            sample_rate_hz: f64::from(sample_rate_hz),
            settings,
            coeffs: [None; MAX_SECTIONS],
            state: [[Section::default(); MAX_SECTIONS]; 2],
        };
        eq.set_settings(settings);
        eq
    }

    /// Recomputes the coefficients when the settings changed; the filter state is kept.
    pub fn set_settings(&mut self, settings: EqSettings) {
        if settings != self.settings || self.coeffs.iter().all(Option::is_none) {
            self.coeffs = settings.sections(self.sample_rate_hz);
        }
        self.settings = settings;
    }

    pub fn reset(&mut self) {
        self.state = [[Section::default(); MAX_SECTIONS]; 2];
    }

    /// Filters `samples` in place as channel `channel` (0 or 1).
    pub fn process(&mut self, channel: usize, samples: &mut [f32]) {
        if !self.settings.enabled {
            return;
        }
        let state = &mut self.state[channel.min(1)];
        for (section, coeffs) in state.iter_mut().zip(&self.coeffs) {
            let Some(c) = coeffs else { continue };
            for x in samples.iter_mut() {
                *x = section.tick(c, f64::from(*x)) as f32;
            }
        }
    }
}
