//! Feed-forward compressor: peak or RMS detection, soft-knee static curve in dB, attack/release
//! smoothing of the gain reduction, make-up gain; stereo-linked.
//!
//! The static curve (Giannoulis, Massberg & Reiss, "Digital Dynamic Range Compressor Design", JAES
//! 2012), for input level `x` dB, threshold `T`, ratio `R`, knee width `W`:
//!
//! ```text
//! y = x                                   2(x − T) < −W
//! y = x + (1/R − 1)(x − T + W/2)² / 2W    |2(x − T)| ≤ W
//! y = T + (x − T)/R                       2(x − T) > W
//! ```

/// How the level is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detection {
    /// Instantaneous |x| (of the louder channel).
    Peak,
    /// Mean square over `RMS_WINDOW_MS` (one-pole), both channels.
    Rms,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompressorSettings {
    pub enabled: bool,
    pub threshold_db: f32,
    /// `R : 1`, ≥ 1.
    pub ratio: f32,
    pub knee_db: f32,
    pub attack_ms: f32,
    pub release_ms: f32,
    pub makeup_db: f32,
    pub detection: Detection,
}

impl Default for CompressorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold_db: -18.0,
            ratio: 3.0,
            knee_db: 6.0,
            attack_ms: 10.0,
            release_ms: 120.0,
            makeup_db: 3.0,
            detection: Detection::Rms,
        }
    }
}

impl CompressorSettings {
    /// The static curve's output level for an input level, dB (make-up not included).
    pub fn static_curve_db(&self, input_db: f32) -> f32 {
        let (t, r, w) = (self.threshold_db, self.ratio.max(1.0), self.knee_db.max(0.0));
        let over = input_db - t;
        if 2.0 * over < -w {
            input_db
        } else if 2.0 * over <= w && w > 0.0 {
            input_db + (1.0 / r - 1.0) * (over + w / 2.0).powi(2) / (2.0 * w)
        } else {
            t + over / r
        }
    }
}

/// Averaging time of RMS detection.
pub const RMS_WINDOW_MS: f32 = 10.0;

/// Allocation-free; [`Compressor::gain_reduction_db`] is the meter.
pub struct Compressor {
    sample_rate_hz: f32,
    settings: CompressorSettings,
    attack_coeff: f32,
    release_coeff: f32,
    rms_coeff: f32,
    mean_square: f32,
    /// Smoothed gain reduction, dB (≥ 0).
    reduction_db: f32,
    /// Largest reduction since the meter was last read.
    meter_db: f32,
}

impl Compressor {
    pub fn new(sample_rate_hz: f32, settings: CompressorSettings) -> Self {
        let mut c = Self {
            sample_rate_hz,
            settings,
            attack_coeff: 0.0,
            release_coeff: 0.0,
            rms_coeff: 0.0,
            mean_square: 0.0,
            reduction_db: 0.0,
            meter_db: 0.0,
        };
        c.set_settings(settings);
        c
    }

    pub fn set_settings(&mut self, settings: CompressorSettings) {
        let coeff = |ms: f32| (-1.0 / (ms.max(0.01) * 0.001 * self.sample_rate_hz)).exp();
        self.attack_coeff = coeff(settings.attack_ms);
        self.release_coeff = coeff(settings.release_ms);
        self.rms_coeff = coeff(RMS_WINDOW_MS);
        self.settings = settings;
    }

    pub fn reset(&mut self) {
        self.mean_square = 0.0;
        self.reduction_db = 0.0;
        self.meter_db = 0.0;
    }

    /// Current gain reduction, dB (positive), the largest since the last call.
    pub fn take_gain_reduction_db(&mut self) -> f32 {
        core::mem::take(&mut self.meter_db)
    }

    pub fn gain_reduction_db(&self) -> f32 {
        self.reduction_db
    }

    /// Compresses `left` and `right` (same length; pass the same data twice for mono) in place.
    pub fn process(&mut self, left: &mut [f32], mut right: Option<&mut [f32]>) {
        let s = self.settings;
        if !s.enabled {
            return;
        }
        let makeup = 10f32.powf(s.makeup_db / 20.0);
        for i in 0..left.len() {
            let (l, r) = (left[i], right.as_deref().map_or(left[i], |r| r[i]));
            let level_db = match s.detection {
                Detection::Peak => 20.0 * l.abs().max(r.abs()).max(1e-10).log10(),
                Detection::Rms => {
                    let square = 0.5 * (l * l + r * r);
                    self.mean_square = square + self.rms_coeff * (self.mean_square - square);
                    10.0 * self.mean_square.max(1e-20).log10()
                }
            };
            let wanted = level_db - s.static_curve_db(level_db);
            // Smooth branching: attack while the reduction grows, release while it shrinks.
            let coeff = if wanted > self.reduction_db { self.attack_coeff } else { self.release_coeff };
            self.reduction_db = wanted + coeff * (self.reduction_db - wanted);
            self.meter_db = self.meter_db.max(self.reduction_db);
            let gain = 10f32.powf(-self.reduction_db / 20.0) * makeup;
            left[i] *= gain;
            if let Some(r) = right.as_deref_mut() {
                r[i] *= gain;
            }
        }
    }
}
