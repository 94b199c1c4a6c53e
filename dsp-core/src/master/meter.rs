//! Loudness and peak metering per EBU R 128 / ITU-R BS.1770-4 (the `ebur128` crate): momentary,
//! short-term and integrated LUFS, true peak, sample peak.

use ebur128::{EbuR128, Mode};

/// One reading. Silence reads as `f64::NEG_INFINITY` LUFS (never NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoudnessReading {
    pub momentary_lufs: f64,
    pub short_term_lufs: f64,
    pub integrated_lufs: f64,
    /// Highest true peak since the last reading, all channels, dBTP.
    pub true_peak_dbtp: f64,
    /// Highest sample peak since the last reading, dBFS.
    pub sample_peak_dbfs: f64,
}

impl Default for LoudnessReading {
    fn default() -> Self {
        let silent = f64::NEG_INFINITY;
        Self {
            momentary_lufs: silent,
            short_term_lufs: silent,
            integrated_lufs: silent,
            true_peak_dbtp: silent,
            sample_peak_dbfs: silent,
        }
    }
}

/// Stereo meter. `new` allocates; `process` does not (histogram gating, fixed windows).
pub struct LoudnessMeter {
    meter: EbuR128,
    true_peak: f64,
    sample_peak: f64,
}

impl LoudnessMeter {
    pub fn new(sample_rate_hz: u32) -> Self {
        let mode = Mode::M | Mode::S | Mode::I | Mode::TRUE_PEAK | Mode::SAMPLE_PEAK | Mode::HISTOGRAM;
        let meter = EbuR128::new(2, sample_rate_hz.max(8_000), mode).expect("a stereo meter at a valid rate");
        Self { meter, true_peak: 0.0, sample_peak: 0.0 }
    }

    pub fn reset(&mut self) {
        self.meter.reset();
        self.true_peak = 0.0;
        self.sample_peak = 0.0;
    }

    pub fn process(&mut self, left: &[f32], right: &[f32]) {
        if self.meter.add_frames_planar_f32(&[left, right]).is_ok() {
            for channel in 0..2 {
                self.true_peak = self.true_peak.max(self.meter.prev_true_peak(channel).unwrap_or(0.0));
                self.sample_peak = self.sample_peak.max(self.meter.prev_sample_peak(channel).unwrap_or(0.0));
            }
        }
    }

    /// The loudness now and the peaks since the last call.
    pub fn take_reading(&mut self) -> LoudnessReading {
        let db = |v: f64| if v > 0.0 { 20.0 * v.log10() } else { f64::NEG_INFINITY };
        let lufs = |r: Result<f64, ebur128::Error>| r.ok().filter(|v| !v.is_nan()).unwrap_or(f64::NEG_INFINITY);
        let reading = LoudnessReading {
            momentary_lufs: lufs(self.meter.loudness_momentary()),
            short_term_lufs: lufs(self.meter.loudness_shortterm()),
            integrated_lufs: lufs(self.meter.loudness_global()),
            true_peak_dbtp: db(self.true_peak),
            sample_peak_dbfs: db(self.sample_peak),
        };
        self.true_peak = 0.0;
        self.sample_peak = 0.0;
        reading
    }

    /// Integrated (gated) loudness since `reset`, LUFS.
    pub fn integrated_lufs(&self) -> f64 {
        self.meter.loudness_global().ok().filter(|v| !v.is_nan()).unwrap_or(f64::NEG_INFINITY)
    }

    /// Highest true peak of everything measured since `reset`, dBTP.
    pub fn max_true_peak_dbtp(&self) -> f64 {
        let peak = (0..2).map(|c| self.meter.true_peak(c).unwrap_or(0.0)).fold(0.0, f64::max);
        if peak > 0.0 {
            20.0 * peak.log10()
        } else {
            f64::NEG_INFINITY
        }
    }
}
