//! The mastering chain after synthesis: what makes a raw DDSP voice sit in a mix.
//!
//! ```text
//! voice (mono or stereo) ─ EQ ─ compressor ─ reverb (stereo return) ─ true-peak limiter ─ meter ─ out
//! ```
//!
//! Every stage is bypassable. Lifecycle: [`MasterChain::new`] allocates (delay lines for the longest
//! settings, interpolation filters, meter state); `process`, `set_settings` and `reset` never do. The
//! limiter's look-ahead is the chain's latency ([`MasterChain::latency_samples`]).

pub mod compressor;
pub mod eq;
pub mod limiter;
pub mod meter;
pub mod reverb;

pub use compressor::{Compressor, CompressorSettings, Detection};
pub use eq::{EqSettings, Equalizer, PeakBand};
pub use limiter::{LimiterSettings, TruePeakLimiter};
pub use meter::{LoudnessMeter, LoudnessReading};
pub use reverb::{Reverb, ReverbSettings};

/// Quality levels: limiter detection oversampling and reverb density. Costs: `cargo bench -- master`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Quality {
    /// Sample-peak limiting, 4 combs per channel.
    Draft,
    /// 4× true-peak detection (BS.1770), 8 combs.
    #[default]
    Standard,
    /// 4× true-peak detection, 12 combs.
    Professional,
    /// 8× true-peak detection, 12 combs.
    Mastering,
}

impl Quality {
    pub const ALL: [Self; 4] = [Self::Draft, Self::Standard, Self::Professional, Self::Mastering];

    pub fn limiter_oversampling(self) -> usize {
        match self {
            Self::Draft => 1,
            Self::Standard | Self::Professional => 4,
            Self::Mastering => 8,
        }
    }

    pub fn reverb_combs(self) -> usize {
        match self {
            Self::Draft => 4,
            Self::Standard => 8,
            Self::Professional | Self::Mastering => 12,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Standard => "standard",
            Self::Professional => "professional",
            Self::Mastering => "mastering",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.name().eq_ignore_ascii_case(name))
    }
}

/// Mastering presets: `Flat` (the chain neutral: flat EQ, no compressor, reverb or limiter —
/// what comes in goes out), the two starting points `Room` (flat EQ, gentle compression, a small
/// room and the true-peak limiter: the default) and `Limiter` (only the limiter), and instrument
/// voicings (an EQ plus dynamics and room suited to the instrument). Appended, never reordered:
/// the embeddable pipeline stores a preset by its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MasterPreset {
    Flat,
    Cello,
    Violin,
    Flute,
    Brass,
    Room,
    Limiter,
}

impl MasterPreset {
    pub const ALL: [Self; 7] =
        [Self::Flat, Self::Cello, Self::Violin, Self::Flute, Self::Brass, Self::Room, Self::Limiter];

    pub fn name(self) -> &'static str {
        match self {
            Self::Flat => "flat",
            Self::Cello => "cello",
            Self::Violin => "violin",
            Self::Flute => "flute",
            Self::Brass => "brass",
            Self::Room => "room",
            Self::Limiter => "limiter",
        }
    }

    /// The integrated loudness an offline render with this preset is brought to (LUFS, EBU R 128;
    /// the limiter keeps the true-peak ceiling): −16 LUFS, the level streaming services play
    /// music at, for every preset that limits; none for `Flat` (nothing is changed). Real-time
    /// hosts cannot know a piece's integrated loudness ahead, so only renders use it.
    pub fn loudness_target_lufs(self) -> Option<f64> {
        match self {
            Self::Flat => None,
            _ => Some(-16.0),
        }
    }

    /// A preset by name; `trumpet` is an alias of `brass`.
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("trumpet") {
            return Some(Self::Brass);
        }
        Self::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The preset's settings at `quality`.
    pub fn settings(self, quality: Quality) -> MasterSettings {
        let peak = |freq_hz, gain_db, q| PeakBand { freq_hz, gain_db, q };
        let eq = match self {
            Self::Flat | Self::Room | Self::Limiter => EqSettings::FLAT,
            // Body 65–500 Hz, less box, presence 2–5 kHz.
            Self::Cello => EqSettings {
                high_pass_hz: 35.0,
                low_shelf_hz: 110.0,
                low_shelf_db: 1.5,
                peaks: [peak(250.0, 2.0, 0.8), peak(700.0, -1.5, 1.2), peak(3_200.0, 2.5, 0.9)],
                high_shelf_hz: 9_000.0,
                high_shelf_db: 1.0,
                ..EqSettings::FLAT
            },
            // Warmth at 280 Hz, less nasal 1.2 kHz, brilliance 3–4 kHz, air.
            Self::Violin => EqSettings {
                high_pass_hz: 150.0,
                low_shelf_hz: 200.0,
                low_shelf_db: 0.0,
                peaks: [peak(280.0, 1.5, 1.0), peak(1_200.0, -2.0, 1.4), peak(3_500.0, 2.0, 1.0)],
                high_shelf_hz: 9_000.0,
                high_shelf_db: 1.5,
                ..EqSettings::FLAT
            },
            // Clean lows, a little body, breath and air on top.
            Self::Flute => EqSettings {
                high_pass_hz: 200.0,
                low_shelf_hz: 300.0,
                low_shelf_db: 0.0,
                peaks: [peak(600.0, 1.0, 1.0), peak(2_000.0, -1.0, 1.5), peak(6_000.0, 2.0, 1.0)],
                high_shelf_hz: 10_000.0,
                high_shelf_db: 1.0,
                ..EqSettings::FLAT
            },
            // Round body, bite at 1.2 kHz, tamed 3 kHz harshness.
            Self::Brass => EqSettings {
                high_pass_hz: 80.0,
                low_shelf_hz: 150.0,
                low_shelf_db: 1.0,
                peaks: [peak(300.0, 1.0, 1.0), peak(1_200.0, 1.5, 1.2), peak(3_000.0, -1.5, 1.5)],
                high_shelf_hz: 8_000.0,
                high_shelf_db: 1.0,
                ..EqSettings::FLAT
            },
        };
        let reverb = match self {
            Self::Flat | Self::Limiter => ReverbSettings { enabled: false, ..ReverbSettings::default() },
            Self::Room => ReverbSettings { wet_db: -18.0, ..ReverbSettings::default() },
            Self::Cello => ReverbSettings { size: 0.7, damping: 0.5, predelay_ms: 25.0, ..ReverbSettings::default() },
            Self::Violin => {
                ReverbSettings { size: 0.65, damping: 0.35, predelay_ms: 20.0, ..ReverbSettings::default() }
            }
            Self::Flute => ReverbSettings { size: 0.6, damping: 0.3, predelay_ms: 15.0, ..ReverbSettings::default() },
            Self::Brass => ReverbSettings { size: 0.55, damping: 0.45, wet_db: -16.0, ..ReverbSettings::default() },
        };
        let compressor = CompressorSettings {
            enabled: !matches!(self, Self::Flat | Self::Limiter),
            ..CompressorSettings::default()
        };
        let limiter = LimiterSettings { enabled: self != Self::Flat, ..LimiterSettings::default() };
        MasterSettings { enabled: true, eq, compressor, reverb, limiter, quality }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MasterSettings {
    /// Bypasses the whole chain (no latency either, after the next `reset`).
    pub enabled: bool,
    pub eq: EqSettings,
    pub compressor: CompressorSettings,
    pub reverb: ReverbSettings,
    pub limiter: LimiterSettings,
    pub quality: Quality,
}

impl Default for MasterSettings {
    fn default() -> Self {
        MasterPreset::Room.settings(Quality::Standard)
    }
}

impl MasterSettings {
    /// The whole chain bypassed.
    pub fn off() -> Self {
        Self { enabled: false, ..Self::default() }
    }
}

/// What the meters read since the last [`MasterChain::take_meters`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MasterMeters {
    pub compressor_reduction_db: f32,
    pub limiter_reduction_db: f32,
    pub loudness: LoudnessReading,
}

/// A render trim in dB as a linear gain: ±60 dB at most, non-finite means none. Shared by the
/// chain's pre-limiter trim and unmastered offline renders, so both read a gain the same way.
pub fn trim_gain(db: f32) -> f32 {
    if db.is_finite() {
        10f32.powf(db.clamp(-60.0, 60.0) / 20.0)
    } else {
        1.0
    }
}

pub struct MasterChain {
    settings: MasterSettings,
    eq: Equalizer,
    compressor: Compressor,
    reverb: Reverb,
    /// One limiter per oversampling factor a quality level uses, so changing quality never allocates.
    limiters: [TruePeakLimiter; 3],
    meter: LoudnessMeter,
    metering: bool,
    /// Linear gain before the limiter (1 = none): how an offline render meets a loudness target
    /// while the limiter still holds the true-peak ceiling.
    trim: f32,
    sample_rate_hz: f32,
}

impl MasterChain {
    /// Allocates every stage at `sample_rate_hz`.
    pub fn new(sample_rate_hz: f32, settings: MasterSettings) -> Self {
        let q = settings.quality;
        Self {
            settings,
            eq: Equalizer::new(sample_rate_hz, settings.eq),
            compressor: Compressor::new(sample_rate_hz, settings.compressor),
            reverb: Reverb::new(sample_rate_hz, settings.reverb, q.reverb_combs()),
            limiters: [1, 4, 8].map(|os| TruePeakLimiter::new(sample_rate_hz, settings.limiter, os)),
            meter: LoudnessMeter::new(sample_rate_hz.round() as u32),
            metering: true,
            trim: 1.0,
            sample_rate_hz,
        }
    }

    pub fn sample_rate_hz(&self) -> f32 {
        self.sample_rate_hz
    }

    /// Gain before the limiter, dB (0 by default; non-finite means 0). For loudness-targeted
    /// renders: the limiter after it keeps the true-peak ceiling.
    pub fn set_trim_db(&mut self, db: f32) {
        self.trim = trim_gain(db);
    }

    /// Meters cost ~10 % of the chain; an offline render or a closed editor may switch them off.
    pub fn set_metering(&mut self, on: bool) {
        self.metering = on;
    }

    fn limiter_index(quality: Quality) -> usize {
        match quality.limiter_oversampling() {
            1 => 0,
            4 => 1,
            _ => 2,
        }
    }

    pub fn settings(&self) -> &MasterSettings {
        &self.settings
    }

    /// Takes effect from the next sample. A change of latency (chain or limiter switched, look-ahead,
    /// quality) restarts the limiter's delay line (a few ms of silence from the limiter); hosts
    /// read the new [`MasterChain::latency_samples`].
    pub fn set_settings(&mut self, settings: MasterSettings) {
        let latency_of = |s: &MasterSettings| (s.enabled, s.limiter.enabled, s.limiter.lookahead_ms, s.quality);
        let latency_changed = latency_of(&settings) != latency_of(&self.settings);
        self.eq.set_settings(settings.eq);
        self.compressor.set_settings(settings.compressor);
        self.reverb.set_settings(settings.reverb);
        self.reverb.set_density(settings.quality.reverb_combs());
        for limiter in &mut self.limiters {
            limiter.set_settings(settings.limiter);
            if latency_changed {
                limiter.reset();
            }
        }
        self.settings = settings;
    }

    /// Clears every stage.
    pub fn reset(&mut self) {
        self.eq.reset();
        self.compressor.reset();
        self.reverb.reset();
        self.limiters.iter_mut().for_each(TruePeakLimiter::reset);
        self.meter.reset();
    }

    /// The chain's delay, samples: the limiter's look-ahead when it is on.
    pub fn latency_samples(&self) -> u32 {
        let s = &self.settings;
        if s.enabled && s.limiter.enabled {
            self.limiters[Self::limiter_index(s.quality)].latency_samples() as u32
        } else {
            0
        }
    }

    /// Processes a stereo pair in place. A mono voice: copy it into both channels first.
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        if !self.settings.enabled {
            if self.metering {
                self.meter.process(left, right);
            }
            return;
        }
        let _ftz = crate::denormals::ScopedFlushDenormals::new();
        let n = left.len().min(right.len());
        let (left, right) = (&mut left[..n], &mut right[..n]);
        // A NaN would live forever in the filter and reverb states: non-finite input becomes silence.
        for x in left.iter_mut().chain(right.iter_mut()) {
            if !x.is_finite() {
                *x = 0.0;
            }
        }
        self.eq.process(0, left);
        self.eq.process(1, right);
        self.compressor.process(left, Some(right));
        self.reverb.process(left, right);
        if self.trim != 1.0 {
            left.iter_mut().chain(right.iter_mut()).for_each(|x| *x *= self.trim);
        }
        self.limiters[Self::limiter_index(self.settings.quality)].process(left, Some(right));
        if self.metering {
            self.meter.process(left, right);
        }
    }

    /// Meter readings since the last call (gain reductions are the deepest since then).
    pub fn take_meters(&mut self) -> MasterMeters {
        let limiter = &mut self.limiters[Self::limiter_index(self.settings.quality)];
        MasterMeters {
            compressor_reduction_db: self.compressor.take_gain_reduction_db(),
            limiter_reduction_db: limiter.take_gain_reduction_db(),
            loudness: self.meter.take_reading(),
        }
    }

    /// The integrated loudness (LUFS) and the highest true peak (dBTP) since the last `reset`.
    pub fn summary(&self) -> (f64, f64) {
        (self.meter.integrated_lufs(), self.meter.max_true_peak_dbtp())
    }
}
