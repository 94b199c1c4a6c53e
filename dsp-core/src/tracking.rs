//! Real-time analysis of an audio input into the model's conditioning: f0 (with confidence and
//! voicing) and A-weighted loudness, one frame per ≈1 ms hop, causal, for timbre transfer.
//!
//! The same code runs in the effect plugin, `ddsp render` of audio and `ddsp track`, so a pitch curve
//! written by `ddsp track` is exactly what the plugin played from.

pub mod align;
pub mod correction;
pub mod loudness;
pub mod notes;
pub mod pitch;

pub use align::FrameAligner;
pub use correction::{CorrectionSettings, PitchCorrector, PitchMode};
pub use loudness::Loudness;
pub use notes::{MidiOut, MidiOutMode, MidiOutSettings, NoteFrame, NoteSegmenter, TimedMidiOut};
pub use pitch::{PitchEstimate, PitchSettings, PitchTracker};

/// One analysis frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrackerFrame {
    /// Input samples consumed when this frame became available (its time stamp).
    pub at_sample: u64,
    pub f0_hz: f32,
    pub confidence: f32,
    pub voiced: bool,
    pub loudness_db: f32,
}

/// Lifecycle: [`Tracker::new`] allocates; [`Tracker::process`] and [`Tracker::reset`] never do.
pub struct Tracker {
    pitch: PitchTracker,
    loudness: Loudness,
    sample_rate_hz: f32,
    hop_samples: usize,
    until_hop: usize,
    consumed: u64,
    /// Sample count at the last voiced frame: the loudness keeps measuring whole periods of the
    /// last pitch for a while after voicing drops (a dynamics change can break periodicity briefly).
    last_voiced_at: Option<u64>,
    latest: TrackerFrame,
}

/// How long after the last voiced frame the loudness keeps the note's period, seconds.
const PERIOD_HOLD_S: f64 = 0.05;

impl Tracker {
    /// Prepares the tracker for `sample_rate_hz`. Allocates.
    pub fn new(sample_rate_hz: f32, settings: PitchSettings) -> Self {
        let pitch = PitchTracker::new(sample_rate_hz, settings);
        let loudness = Loudness::new(sample_rate_hz);
        let hop_samples = pitch.hop_samples();
        Self {
            sample_rate_hz,
            until_hop: hop_samples,
            hop_samples,
            consumed: 0,
            last_voiced_at: None,
            latest: TrackerFrame { loudness_db: -loudness::LOUDNESS_RANGE_DB, ..TrackerFrame::default() },
            pitch,
            loudness,
        }
    }

    pub fn hop_samples(&self) -> usize {
        self.hop_samples
    }

    pub fn pitch(&self) -> &PitchTracker {
        &self.pitch
    }

    /// Delay of the loudness path for a note of `f0_hz` (0: unvoiced), in samples: the centre of
    /// its window of whole periods (2 ms for unvoiced input and notes ≥ 250 Hz, half a period for
    /// lower notes).
    pub fn loudness_delay_samples(&self, f0_hz: f32) -> f64 {
        let period = (f0_hz > 0.0).then(|| f64::from(self.sample_rate_hz / f0_hz));
        self.loudness.window_samples(period) / 2.0
    }

    /// Delay of the pitch path for a note of `f0_hz`, in samples ([`PitchTracker::delay_s`]).
    pub fn pitch_delay_samples(&self, f0_hz: f32) -> f64 {
        self.pitch.delay_s(f0_hz) * f64::from(self.sample_rate_hz)
    }

    /// Delay of a new note's first pitch estimate, `f0_hz`, in samples
    /// ([`PitchTracker::step_delay_s`]): the longest the pitch path takes at that note.
    pub fn step_delay_samples(&self, f0_hz: f32) -> f64 {
        self.pitch.step_delay_s(f0_hz) * f64::from(self.sample_rate_hz)
    }

    /// How old the latest frame's pitch is, in samples ([`PitchTracker::latest_delay_s`]).
    pub fn latest_pitch_delay_samples(&self) -> f64 {
        self.pitch.latest_delay_s() * f64::from(self.sample_rate_hz)
    }

    /// The most recent frame.
    pub fn latest(&self) -> &TrackerFrame {
        &self.latest
    }

    pub fn reset(&mut self) {
        self.pitch.reset();
        self.loudness.reset();
        self.until_hop = self.hop_samples;
        self.consumed = 0;
        self.last_voiced_at = None;
        self.latest = TrackerFrame { loudness_db: -loudness::LOUDNESS_RANGE_DB, ..TrackerFrame::default() };
    }

    /// Analyses `input` (mono), calling `on_frame` at every hop boundary inside it. Any block size;
    /// the frames do not depend on how the input is split. Never allocates.
    pub fn process(&mut self, input: &[f32], mut on_frame: impl FnMut(&TrackerFrame)) {
        for &x in input {
            let x = if x.is_finite() { x } else { 0.0 };
            self.pitch.push(x);
            self.loudness.push(x);
            self.consumed += 1;
            self.until_hop -= 1;
            if self.until_hop == 0 {
                self.until_hop = self.hop_samples;
                let estimate = self.pitch.estimate();
                if estimate.voiced {
                    self.last_voiced_at = Some(self.consumed);
                }
                let hold = (PERIOD_HOLD_S * f64::from(self.sample_rate_hz)) as u64;
                let recent = self.last_voiced_at.is_some_and(|at| self.consumed - at <= hold);
                let period = (recent && estimate.f0_hz > 0.0).then(|| f64::from(self.sample_rate_hz / estimate.f0_hz));
                let window = self.loudness.window_samples(period);
                self.latest = TrackerFrame {
                    at_sample: self.consumed,
                    f0_hz: estimate.f0_hz,
                    confidence: estimate.confidence,
                    voiced: estimate.voiced,
                    loudness_db: self.loudness.measure(window),
                };
                on_frame(&self.latest);
            }
        }
    }
}
