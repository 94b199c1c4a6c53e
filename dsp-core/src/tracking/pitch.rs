//! Causal, low-latency f0 tracking: a YIN-family estimator with per-lag windows, updated sample by
//! sample, refined at the host rate.
//!
//! # How it works
//! 1. **Coarse search at ~12 kHz.** The input is tilted (a one-pole low-pass at 1 kHz: −6 dB per
//!    octave above it), low-passed (8th-order Butterworth) and decimated by an integer factor to
//!    11–16 kHz. The tilt is for noise: a pitched sound's power falls with frequency and white
//!    noise's does not, so weighting the spectrum down above 1 kHz raises the share of the period
//!    in the difference function (at 10 dB SNR, voicing recall 86.0 → 89.9 % on the benchmark,
//!    the voices 78 → 90 %). The squared difference `d(τ) = Σ (x[j] − x[j−τ])²` is kept as
//!    running sums, updated per sample (add the newest term, drop the oldest), in **bands** of
//!    growing window W (2.5 ms, then ×1.25 up to the longest period): band k holds every lag up to
//!    its own W. The cost is per sample, independent of the host's block size.
//! 2. **Per hop (1 ms)** each band, shortest window first, computes YIN's cumulative-mean-normalised
//!    difference (CMNDF, all lags of a band share one window, which YIN's normalisation needs: mixing
//!    windows lets a short window that misses a sawtooth's edge fake a dip) and the first band with a
//!    dip below the threshold gives the pitch: the first dip (YIN's octave-down protection), then its
//!    local minimum. A dip within 3 % of the previous pitch wins over an octave jump whose dip is
//!    barely deeper (octave-up protection, hysteresis). A dip that a window of up to three times
//!    its lag shows clearly less periodic than a longer period is a harmonic's (octave-down check;
//!    for the note already sounding, up to seven times: low brass). In noise every multiple of the
//!    period dips about as deep (to the noise's share of the power), so which one crosses the
//!    threshold first is chance: a noisy dip (aperiodicity ≥ 0.1) with a dip at a half or a third
//!    of its lag at most 1.5 times as aperiodic is a multiple, and the shorter lag is the period.
//! 3. **Refinement at the host rate**: the difference function is evaluated at the full rate for the
//!    few lags around the coarse one, and a parabola through the minimum gives the sub-sample lag
//!    (at 12 kHz a 2 kHz period is 6 samples, too coarse to interpolate to a few cents). On the
//!    signal as played; a noisy reading on the tilted signal too, whose minimum the noise moves
//!    less, taken where the two disagree by more than 40 cents.
//! 4. **Voicing**: confidence `1 − CMNDF(τ)`, with hysteresis (on above `voicing_on`, off below
//!    `voicing_off`) and an energy gate. Unvoiced frames hold the last confident pitch of a run
//!    that lasted 8 ms: a note fading into noise is often read wrong in its last few hops, and
//!    that reading must not become the pitch held through the gap.
//! 5. **Smoothing**: a 3-point median over voiced estimates (in log frequency) removes single-hop
//!    outliers; two agreeing estimates switch to a new note at once, and a slide passes unsmeared
//!    (the median of a monotonic run is its middle value: one hop of delay, no averaging). Then a
//!    period-long mean (the phase jitter of a pitch in motion cancels in it), brought forward by
//!    the slope to the mean of the period before, so it adds no delay on a glide or a vibrato.
//!
//! # Latency, by physics
//! A period cannot be measured from less than two of them. The estimate at time t uses the last
//! `W + τ` samples of the band that found it; its effective delay is the centre of that span plus the
//! anti-alias filter, the tilt and the median's hop: 2.7 ms at 2 kHz, 3.5 ms at 440 Hz (the 2.5 ms
//! band), 5.9 ms at 220 Hz, 10.4 ms at 110 Hz, 19.5 ms at 55 Hz (48 kHz). Each band is searched on
//! its own, shortest first, so a low note's long window never delays a high note.
//! [`PitchTracker::delay_s`] gives the figure for any f0.

use std::f64::consts::PI;

/// Shortest difference window: 2.5 ms.
const MIN_WINDOW_S: f64 = 0.0025;
/// Each band's window is this much longer than the previous one.
const BAND_GROWTH: f64 = 1.25;
/// A band is searched only if its window's AC power is at least this fraction of the longest's.
const MIN_AC_FRACTION: f64 = 0.1;
/// Below this aperiodicity a dip is trusted as the period without an octave-down check. Low: with
/// the upper harmonics tilted down, a weak fundamental's half period repeats almost cleanly in a
/// short window (with 0.05 the benchmark's viola read an octave up at onsets, 206 Hz as 417; live
/// RPA viola 94.5 %, horn 94.9 %).
const OCTAVE_CHECK_MIN_APERIODICITY: f32 = 0.02;
/// A rise of level this large within the analysis span (the shortest window's level over the
/// longest's: an accent) keeps a sounding note voiced at its pitch while its estimate is unsure
/// (see `PitchTracker::estimate`). Only a rise: a fall is how a note ends.
const LEVEL_STEP_DB: f64 = 6.0;
/// Corner of the tilt in front of the coarse search.
const TILT_HZ: f64 = 1_000.0;
/// How much more periodic twice the lag must be to move the pitch an octave down.
const OCTAVE_CHECK_RATIO: f32 = 0.5;
/// ... and by at least this much (two near-zero dips are both periods).
const OCTAVE_CHECK_MARGIN: f32 = 0.05;
/// Shortest coarse lag checked (~700 Hz at the analysis rate): below it the coarse grid is too
/// sparse for the two dips' vertices to be compared fairly (except against the sounding note's
/// period, or a period no multiple of the lag: a formant's ringing, see `search`).
const OCTAVE_CHECK_MIN_LAG: usize = 16;
/// How far below a short lag a formant's note is looked for, in multiples of the lag (a voice's
/// first formant sits 4–9 times above its f0).
const FORMANT_CHECK_REACH: usize = 12;
/// A longer period at least this far (in multiples of the lag) from a whole multiple is no
/// harmonic of the short lag.
const FORMANT_MIN_OFFSET: f64 = 0.15;
/// A jump up an octave whose dip is this periodic is taken at once (no hysteresis).
const OCTAVE_UP_TRUSTED: f32 = 0.05;
/// ... as is one whose dip is within this of the old lag's in the same window (a noisy input,
/// where neither dip is clean).
const OCTAVE_UP_MARGIN: f32 = 0.02;
/// Longer periods are checked up to this many times the lag ...
const OCTAVE_CHECK_REACH: usize = 3;
/// ... and, for the period of the note already sounding, up to this many: a low horn note's
/// loudest harmonics are its 4th and 5th, and as it is re-tongued a short window reads its 3rd to
/// 6th (`tests/tracking.rs`, the sampled horn: 73 of its 731 voiced frames with the first reach
/// alone, 2 with this). Not for any period: two notes a fourth apart overlapping at a legato
/// change are periodic at four times the upper one's lag, which is neither note.
const SOUNDING_NOTE_REACH: usize = 7;
/// Hops a note must have sounded for that.
const SOUNDING_HOPS: usize = 30;
/// Among longer periods, the first dip within this of the best is taken.
const OCTAVE_CHECK_NEAR_BEST: f32 = 0.05;
/// In noise every multiple of the period dips about as deep: a shorter lag's dip at most this
/// fraction more aperiodic than a dip is the period, the dip a multiple of it ...
const MULTIPLE_NEAR_FRACTION: f32 = 0.5;
/// ... and, with no dip below the threshold, also one within this of the deepest.
const MULTIPLE_NEAR_DEEPEST: f32 = 0.05;
/// How far the refinements on the signal as played and tilted may disagree on a noisy reading
/// before the tilted one is taken, cents (see `search`).
const REFINE_AGREE_CENTS: f64 = 40.0;
/// A dip this aperiodic is a noisy one, checked for being a multiple of the period (and refined on
/// the tilted signal too).
const NOISY_APERIODICITY: f32 = 0.1;
/// A note's pitch is held through unvoiced frames once it has lasted this many hops; the estimates
/// of a shorter run (a note change fading into noise, a stray octave) are not held, nor those of a
/// note's less confident frames (below `voicing_on`: fading into the noise, where the reading
/// drifts).
const STABLE_HOPS: usize = 8;
/// Hop between estimates.
pub const HOP_S: f64 = 0.001;
/// Longest period-long average, in hops.
const MAX_AVERAGE_HOPS: usize = 32;
/// The period-long average is brought forward by the run's slope from this confidence up (in
/// part) ...
const FORWARD_MIN_CONFIDENCE: f32 = 0.8;
/// ... and wholly from this much above it.
const FORWARD_CONFIDENCE_RAMP: f32 = 0.1;
/// The share of its span a new note must fill before the CMNDF dips at its period (measured: see
/// `PitchTracker::step_delay_s`).
const STEP_SPAN_SHARE: f64 = 0.7;
/// A change larger than this between consecutive estimates is a new note.
const NOTE_CHANGE_CENTS: f32 = 60.0;
/// Target rate of the coarse search.
const ANALYSIS_RATE_HZ: f64 = 11_025.0;

/// What the tracker looks for and how sure it must be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PitchSettings {
    pub f0_min_hz: f32,
    pub f0_max_hz: f32,
    /// YIN threshold on the CMNDF for the first dip (DDSP-like material: 0.15–0.2).
    pub threshold: f32,
    /// Confidence to start a voiced region.
    pub voicing_on: f32,
    /// Confidence below which a voiced region ends.
    pub voicing_off: f32,
    /// Mean-square level (dBFS) under which the input is silence.
    pub gate_dbfs: f32,
}

impl Default for PitchSettings {
    fn default() -> Self {
        Self {
            f0_min_hz: 30.0,
            f0_max_hz: 2_000.0,
            threshold: 0.2,
            voicing_on: 0.75,
            voicing_off: 0.65,
            gate_dbfs: -70.0,
        }
    }
}

/// One estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PitchEstimate {
    /// Smoothed f0; while unvoiced, the last voiced value (0 before any).
    pub f0_hz: f32,
    /// 0..1: one minus the aperiodicity at the chosen lag.
    pub confidence: f32,
    pub voiced: bool,
}

/// A biquad section, transposed direct form II, f64 state.
#[derive(Clone, Copy, Debug, Default)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    s: [f64; 2],
}

impl Biquad {
    /// RBJ low-pass at `fc` with quality `q`.
    fn low_pass(sample_rate_hz: f64, fc_hz: f64, q: f64) -> Self {
        let w = 2.0 * PI * fc_hz / sample_rate_hz;
        let alpha = w.sin() / (2.0 * q);
        let a0 = 1.0 + alpha;
        let c = w.cos();
        Self {
            b: [(1.0 - c) / 2.0 / a0, (1.0 - c) / a0, (1.0 - c) / 2.0 / a0],
            a: [-2.0 * c / a0, (1.0 - alpha) / a0],
            s: [0.0; 2],
        }
    }

    #[inline]
    fn process(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.s[0];
        self.s[0] = self.b[1] * x - self.a[0] * y + self.s[1];
        self.s[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// Lags `1..=window` of the difference function over one window length.
struct Band {
    window: usize,
    /// Running sums, index = lag.
    sums: Vec<f64>,
    /// Running Σx and Σx² over the window: its AC power says whether the window holds signal or
    /// only the flat part of a pulse between edges (where any lag looks periodic).
    sum: f64,
    sum_sq: f64,
}

impl Band {
    fn ac_power(&self) -> f64 {
        let w = self.window as f64;
        ((self.sum_sq - self.sum * self.sum / w) / w).max(0.0)
    }
}

/// Lifecycle: [`PitchTracker::new`] allocates; `push`, `estimate` and `reset` never do.
pub struct PitchTracker {
    settings: PitchSettings,
    sample_rate_hz: f64,
    decimation: usize,
    analysis_rate_hz: f64,
    /// The tilt's coefficient and state.
    tilt: f64,
    tilt_state: f64,
    anti_alias: [Biquad; 4],
    /// Host-rate samples since the last decimated one.
    phase: usize,
    /// Decimated history (ring, power-of-two length) and write count.
    coarse: Vec<f32>,
    coarse_count: u64,
    /// Host-rate history for the refinement (ring), as played and tilted.
    fine: Vec<f32>,
    fine_tilted: Vec<f32>,
    fine_count: u64,
    tau_min: usize,
    tau_max: usize,
    bands: Vec<Band>,
    /// Running sum of x² over the longest window, for the energy gate.
    energy: f64,
    cmndf: Vec<f32>,
    voiced: bool,
    last_tau: f64,
    recent: [f32; 3],
    n_recent: usize,
    /// Medians of the current note (log Hz, ring: two periods' worth) for the period-long averages,
    /// and how many.
    run: [f32; 2 * MAX_AVERAGE_HOPS],
    run_len: usize,
    /// Hops by which the latest estimate's average lags (the part not brought forward), and the
    /// span (s) of the band its period was found in.
    average_lag_hops: f32,
    latest_span_s: f64,
    last_f0_hz: f32,
    /// The last confident estimate of a run at least `STABLE_HOPS` long: what unvoiced frames hold.
    stable_f0_hz: f32,
}

impl PitchTracker {
    /// Prepares buffers for `sample_rate_hz`. Allocates.
    pub fn new(sample_rate_hz: f32, settings: PitchSettings) -> Self {
        let sample_rate_hz = f64::from(sample_rate_hz);
        let f0_min = f64::from(settings.f0_min_hz.clamp(20.0, 1_000.0));
        let f0_max = f64::from(settings.f0_max_hz).clamp(f0_min * 2.0, sample_rate_hz / 8.0);
        let decimation = ((sample_rate_hz / ANALYSIS_RATE_HZ).floor() as usize).max(1);
        let analysis_rate_hz = sample_rate_hz / decimation as f64;
        // 8th-order Butterworth below the decimated Nyquist (sections' Q from the pole angles).
        let fc = (0.36 * analysis_rate_hz).min(0.45 * sample_rate_hz);
        let anti_alias = std::array::from_fn(|k| {
            let q = 1.0 / (2.0 * ((2 * k + 1) as f64 * PI / 16.0).sin());
            Biquad::low_pass(sample_rate_hz, fc, q)
        });
        let tau_min = ((analysis_rate_hz / f0_max).floor() as usize).max(2);
        let tau_max = (analysis_rate_hz / f0_min).ceil() as usize + 1;
        let min_window = ((MIN_WINDOW_S * analysis_rate_hz).round() as usize).max(tau_min + 2);
        let mut bands = Vec::new();
        let mut window = min_window;
        loop {
            let w = window.min(tau_max + 1);
            bands.push(Band { window: w, sums: vec![0.0; w + 1], sum: 0.0, sum_sq: 0.0 });
            if w > tau_max {
                break;
            }
            window = ((window as f64 * BAND_GROWTH).ceil() as usize).max(window + 1);
        }
        let coarse_len = (2 * (tau_max + 2) + min_window + 2).next_power_of_two();
        debug_assert!(2 * (tau_max + 1) < coarse_len, "every band's lags and window fit the ring");
        let fine_len = (decimation * coarse_len + 4 * decimation).next_power_of_two();
        Self {
            settings: PitchSettings { f0_min_hz: f0_min as f32, f0_max_hz: f0_max as f32, ..settings },
            sample_rate_hz,
            decimation,
            analysis_rate_hz,
            tilt: 1.0 - (-2.0 * PI * TILT_HZ / sample_rate_hz).exp(),
            tilt_state: 0.0,
            anti_alias,
            phase: 0,
            coarse: vec![0.0; 2 * coarse_len],
            coarse_count: 0,
            fine: vec![0.0; fine_len],
            fine_tilted: vec![0.0; fine_len],
            fine_count: 0,
            tau_min,
            tau_max,
            bands,
            energy: 0.0,
            cmndf: vec![1.0; tau_max + 3],
            voiced: false,
            last_tau: 0.0,
            recent: [0.0; 3],
            n_recent: 0,
            run: [0.0; 2 * MAX_AVERAGE_HOPS],
            run_len: 0,
            average_lag_hops: 0.0,
            latest_span_s: 0.0,
            last_f0_hz: 0.0,
            stable_f0_hz: 0.0,
        }
    }

    pub fn settings(&self) -> &PitchSettings {
        &self.settings
    }

    /// Host samples between estimates: a whole number of decimated samples, ≈ 1 ms.
    pub fn hop_samples(&self) -> usize {
        self.decimation * ((HOP_S * self.analysis_rate_hz).round() as usize).max(1)
    }

    /// Effective delay of an estimate of `f0_hz`, seconds: centre of its analysis span, the tilt's
    /// and the anti-alias filter's group delays and the median's hop. (The period-long average adds
    /// none: it is brought forward by the run's slope, see `estimate`.)
    pub fn delay_s(&self, f0_hz: f32) -> f64 {
        let span_s = self.span_s(f0_hz) / 2.0;
        let filter_s = 4.0 / (2.0 * PI * 0.36 * self.analysis_rate_hz); // ≈ Σ 1/(ω_c) for Butterworth sections
        let tilt_s = 1.0 / (2.0 * PI * TILT_HZ) / (1.0 + (f64::from(f0_hz) / TILT_HZ).powi(2)); // one pole at f0
        span_s + filter_s + tilt_s + self.hop_seconds()
    }

    /// The hop, seconds.
    fn hop_seconds(&self) -> f64 {
        self.hop_samples() as f64 / self.sample_rate_hz
    }

    /// A new note's delay where a pitch in motion within it is `contour_s` late and the estimate is
    /// made from `span_s`: the new note must fill `STEP_SPAN_SHARE` of the span, not half, and the
    /// median waits a hop for a second estimate.
    fn step_after(&self, contour_s: f64, span_s: f64) -> f64 {
        contour_s + (STEP_SPAN_SHARE - 0.5) * span_s + self.hop_seconds()
    }

    /// Delay of the first estimate of a new note (an onset, or a change of note), seconds: the
    /// CMNDF dips at the new period once the new note fills about 70 % of the span, and
    /// the median waits for a second estimate to agree. Longer than [`Self::delay_s`] (the delay
    /// of a pitch in motion within a note) by a fifth of the span and a hop: 15.0 ms at 110 Hz
    /// (10.4 within a note), 8.7 ms at 220 Hz. `tests/pitch_delay.rs` measures it on legato saw
    /// steps up and down between 110 and 587 Hz: within 1 ms (mean over 8 phases of the hop).
    pub fn step_delay_s(&self, f0_hz: f32) -> f64 {
        self.step_after(self.delay_s(f0_hz), self.span_s(f0_hz))
    }

    /// How old the pitch of the latest estimate is, seconds: [`Self::delay_s`] within a note (plus
    /// what a less confident reading's average was not brought forward: half a period at most); a
    /// new note's first estimate is [`Self::step_delay_s`] old, and the next ones describe no later
    /// instant than its start until the two delays meet.
    pub fn latest_delay_s(&self) -> f64 {
        let hop_s = self.hop_seconds();
        let f0 = self.last_f0_hz;
        if !self.voiced || self.run_len == 0 {
            return self.delay_s(f0);
        }
        // The span the estimate was made from: a period found in a longer band than its own (the
        // octave check's, for a weak fundamental) was measured over more of the past.
        let span = if self.latest_span_s > 0.0 { self.latest_span_s } else { self.span_s(f0) };
        let contour = self.delay_s(f0) + (span - self.span_s(f0)) / 2.0 + f64::from(self.average_lag_hops) * hop_s;
        let step = self.step_after(contour, span);
        let since_s = (self.run_len - 1) as f64 * hop_s;
        contour.max(step - since_s)
    }

    /// Length of the span an estimate of `f0_hz` is made from (window + one period), seconds.
    pub fn span_s(&self, f0_hz: f32) -> f64 {
        let tau = (self.analysis_rate_hz / f64::from(f0_hz.max(1.0))).round() as usize;
        (Self::whole_periods(self.band_for(tau).window, tau) + tau) as f64 / self.analysis_rate_hz
    }

    /// Hops in one period of a note of lag `tau_host` host samples (1 for notes above 1 kHz).
    fn average_hops(&self, tau_host: f64) -> usize {
        let hop = self.hop_samples() as f64;
        ((tau_host / hop).round() as usize).clamp(1, MAX_AVERAGE_HOPS)
    }

    /// The refinement's window: as many whole periods of `tau` as fit in `window` (at least one).
    fn whole_periods(window: usize, tau: usize) -> usize {
        (window / tau.max(1)).max(1) * tau
    }

    /// Forgets everything: silence, unvoiced.
    pub fn reset(&mut self) {
        self.tilt_state = 0.0;
        self.anti_alias.iter_mut().for_each(|b| b.s = [0.0; 2]);
        self.phase = 0;
        self.coarse.iter_mut().for_each(|v| *v = 0.0);
        self.fine.iter_mut().for_each(|v| *v = 0.0);
        self.fine_tilted.iter_mut().for_each(|v| *v = 0.0);
        self.coarse_count = 0;
        self.fine_count = 0;
        for band in &mut self.bands {
            band.sums.iter_mut().for_each(|v| *v = 0.0);
            (band.sum, band.sum_sq) = (0.0, 0.0);
        }
        self.energy = 0.0;
        self.voiced = false;
        self.last_tau = 0.0;
        self.n_recent = 0;
        self.run_len = 0;
        self.average_lag_hops = 0.0;
        self.latest_span_s = 0.0;
        self.last_f0_hz = 0.0;
        self.stable_f0_hz = 0.0;
    }

    /// The shortest band whose lags reach past `tau`.
    fn band_for(&self, tau: usize) -> &Band {
        self.bands.iter().find(|b| b.window > tau).unwrap_or(self.bands.last().expect("at least one band"))
    }

    /// The level of the shortest window against the longest one's, dB: how far the level has
    /// moved within the span the estimates are made from.
    fn level_step_db(&self) -> f64 {
        let short = &self.bands[0];
        let recent = short.sum_sq.max(0.0) / short.window as f64;
        let span = self.energy.max(0.0) / self.longest_window() as f64;
        10.0 * ((recent + 1e-20) / (span + 1e-20)).log10()
    }

    fn longest_window(&self) -> usize {
        self.bands.last().map_or(1, |b| b.window)
    }

    #[inline]
    fn fine_at(&self, back: usize, tilted: bool) -> f32 {
        let ring = if tilted { &self.fine_tilted } else { &self.fine };
        ring[(self.fine_count as usize).wrapping_sub(1 + back) & (ring.len() - 1)]
    }

    /// Feeds one host-rate sample. Never allocates.
    #[inline]
    pub fn push(&mut self, x: f32) {
        let x = if x.is_finite() { x.clamp(-8.0, 8.0) } else { 0.0 };
        self.tilt_state += self.tilt * (f64::from(x) - self.tilt_state);
        let mask = self.fine.len() - 1;
        self.fine[self.fine_count as usize & mask] = x;
        self.fine_tilted[self.fine_count as usize & mask] = self.tilt_state as f32;
        self.fine_count += 1;
        let mut y = self.tilt_state;
        for section in &mut self.anti_alias {
            y = section.process(y);
        }
        self.phase += 1;
        if self.phase < self.decimation {
            return;
        }
        self.phase = 0;
        self.push_coarse(y as f32);
    }

    fn push_coarse(&mut self, x: f32) {
        // The ring is written twice (at `i` and `i + n`) so the last `n` samples are always one
        // contiguous slice, and the per-lag updates below run over slices the compiler vectorises.
        let n = self.coarse.len() / 2;
        let pos = self.coarse_count as usize & (n - 1);
        self.coarse[pos] = x;
        self.coarse[pos + n] = x;
        self.coarse_count += 1;
        let history = &self.coarse[pos + 1..=pos + n]; // oldest first; history[n - 1] == x
        let back = |k: usize| history[n - 1 - k];
        let leaving = back(self.longest_window());
        self.energy += f64::from(x) * f64::from(x) - f64::from(leaving) * f64::from(leaving);
        for band in &mut self.bands {
            let w = band.window;
            let leaving = back(w);
            band.sum += f64::from(x) - f64::from(leaving);
            band.sum_sq += f64::from(x) * f64::from(x) - f64::from(leaving) * f64::from(leaving);
            // recent[w - τ] = x[t − τ] and older[w - τ] = x[t − w − τ], for τ = 1..=w.
            let recent = &history[n - 1 - w..n - 1];
            let older = &history[n - 1 - 2 * w..n - 1 - w];
            for ((sum, &r), &o) in band.sums[1..].iter_mut().zip(recent.iter().rev()).zip(older.iter().rev()) {
                let new = f64::from(x - r);
                let old = f64::from(leaving - o);
                *sum += new * new - old * old;
            }
        }
    }

    /// The estimate from everything pushed so far (call once per hop). Never allocates.
    pub fn estimate(&mut self) -> PitchEstimate {
        let warm = self.coarse_count as usize > self.bands[0].window * 2;
        let mean_square = self.energy.max(0.0) / self.longest_window() as f64;
        let audible = mean_square > 10f64.powf(f64::from(self.settings.gate_dbfs) / 10.0);
        let found = if warm && audible { self.search() } else { None };
        let (tau, raw_confidence, dip) = found.map_or((0.0, 0.0, None), |(lag, c, dip)| (lag, c, Some(dip)));
        let confidence = raw_confidence.clamp(0.0, 1.0);
        let threshold = if self.voiced { self.settings.voicing_off } else { self.settings.voicing_on };
        // A sounding note whose window holds a change of level (an accent, a subito piano) reads
        // aperiodic while it repeats exactly at the new level; its estimate there is unsure too
        // (a 20 dB accent on 82 Hz read 75 Hz for two hops). It stays voiced at the pitch it had
        // while the level's share explains the aperiodicity, or the level has just risen by
        // `LEVEL_STEP_DB`: a 20 dB accent on a held 110 Hz note went unvoiced for 14 ms
        // (confidence down to 0.24), and the effect's voice faded out with it.
        // (Measured only for such a frame: the level's share reads the window again.)
        if let Some((band, coarse)) = dip.filter(|_| self.voiced && confidence < threshold && self.last_f0_hz > 0.0) {
            let level_free = 1.0 - (1.0 - raw_confidence) * self.level_change_free(band, coarse);
            if level_free >= threshold || self.level_step_db() >= LEVEL_STEP_DB {
                return PitchEstimate { f0_hz: self.last_f0_hz, confidence: level_free.clamp(0.0, 1.0), voiced: true };
            }
        }
        self.voiced = found.is_some() && confidence >= threshold;
        if !self.voiced {
            // A run too short to be a note (a note change that faded into noise, a stray octave),
            // or a note's last unsure hops, are not what the unvoiced frames hold: the last
            // confident reading of a note is.
            if self.run_len > 0 && self.stable_f0_hz > 0.0 {
                self.last_f0_hz = self.stable_f0_hz;
            }
            self.n_recent = 0;
            self.run_len = 0;
            self.average_lag_hops = 0.0;
            return PitchEstimate { f0_hz: self.last_f0_hz, confidence, voiced: false };
        }
        self.last_tau = tau / self.decimation as f64;
        let raw_hz = (self.sample_rate_hz / tau) as f32;
        // 3-point median over the voiced run, in log frequency.
        self.recent.rotate_right(1);
        self.recent[0] = raw_hz.ln();
        self.n_recent = (self.n_recent + 1).min(3);
        let median = match self.n_recent {
            3 => {
                let [a, b, c] = self.recent;
                a.max(b).min(a.min(b).max(c))
            }
            _ => raw_hz.ln(),
        };
        // Average over one period's worth of hops: a pitch in motion makes the estimate jitter with
        // the waveform's phase, and a period-long mean cancels that. A jump beyond
        // `NOTE_CHANGE_CENTS` starts a new run, so a new note is not averaged with the old one.
        // The mean describes the pitch half a period ago; the period-long mean before it gives
        // the run's slope, which brings the mean forward to the newest hop (exact on a glide, and
        // the phase jitter still cancels in both means). Half a period is 4.5 ms at 110 Hz: with
        // it the espeak male voice's live RPA is 95.3 %, 93.8 % without it (the accuracy benchmark).
        const RING: usize = 2 * MAX_AVERAGE_HOPS;
        let previous = self.run[(self.run_len + RING - 1) % RING];
        if self.run_len > 0 && (median - previous).abs() > NOTE_CHANGE_CENTS / 1200.0 * std::f32::consts::LN_2 {
            self.run_len = 0;
        }
        self.run[self.run_len % RING] = median;
        self.run_len += 1;
        // (A run's first two periods average over as much as two means can hold.) A noisy reading
        // takes less of the slope, none below `FORWARD_MIN_CONFIDENCE`: in noise the difference of
        // the two means is partly the noise's, and carrying it forward adds to the scatter (a
        // voice-like glide at −6 dB SNR: RPA 0.986 without the slope, 0.95 with all of it, 0.959
        // so).
        let n = self.average_hops(tau).min(self.run_len / 2).max(1);
        let at = |i: usize| self.run[(self.run_len - 1 - i) % RING];
        let mean_of = |from: usize| (from..from + n).map(at).sum::<f32>() / n as f32;
        let mut mean = mean_of(0);
        self.average_lag_hops = 0.0;
        if n >= 2 {
            let share = ((confidence - FORWARD_MIN_CONFIDENCE) / FORWARD_CONFIDENCE_RAMP).clamp(0.0, 1.0);
            mean += share * (mean - mean_of(n)) / n as f32 * (n - 1) as f32 / 2.0;
            // What is not brought forward is that much older (`latest_delay_s`).
            self.average_lag_hops = (1.0 - share) * (n - 1) as f32 / 2.0;
        }
        let f0_hz = mean.exp();
        self.last_f0_hz = f0_hz;
        if self.run_len >= STABLE_HOPS && confidence >= self.settings.voicing_on {
            self.stable_f0_hz = f0_hz;
        }
        PitchEstimate { f0_hz, confidence, voiced: true }
    }

    /// The CMNDF of band `b` into `self.cmndf[..=window]`.
    fn band_cmndf(&mut self, b: usize) {
        let band = &self.bands[b];
        let mut cumulative = 0.0f64;
        self.cmndf[0] = 1.0;
        for tau in 1..band.sums.len() {
            let d = band.sums[tau].max(0.0);
            cumulative += d;
            self.cmndf[tau] = if cumulative > 1e-30 { (d * tau as f64 / cumulative) as f32 } else { 1.0 };
        }
    }

    /// Band by band, shortest window first: (band, lag) of the first confident dip; else the
    /// deepest dip of the longest band.
    fn coarse_search(&mut self) -> Option<(usize, usize, f32)> {
        let lo = self.tau_min;
        let mut fallback = None;
        let longest_ac = self.bands.last().map_or(0.0, Band::ac_power);
        for b in 0..self.bands.len() {
            if b + 1 < self.bands.len() && self.bands[b].ac_power() < MIN_AC_FRACTION * longest_ac {
                continue;
            }
            self.band_cmndf(b);
            let hi = (self.bands[b].sums.len() - 2).min(self.tau_max);
            if hi <= lo {
                continue;
            }
            let c = &self.cmndf;
            let local_min = |mut tau: usize| {
                while tau < hi && c[tau + 1] < c[tau] {
                    tau += 1;
                }
                tau
            };
            // The first dip below the threshold. A short period falls between coarse lags (a 2 kHz
            // period is 5.5 samples at 11 kHz): each local minimum is judged by the parabola's
            // vertex through it, not by its sampled value, or the dip two periods away would win.
            let vertex = |t: usize| dip_vertex(c, t);
            let first = (lo..=hi).find(|&t| {
                c[t] < self.settings.threshold || (t < hi && is_dip(c, t) && vertex(t) < self.settings.threshold)
            });
            // A dip still falling at the band's last lag belongs to a longer period: next band.
            if let Some(tau) = first.map(local_min).filter(|&t| t < hi) {
                let depth = vertex(tau);
                // In noise every multiple of the period dips about as deep, and which one crosses
                // the threshold first is chance: a dip at half or a third of the lag nearly as
                // deep is the period. (A clean dip is left alone: a weak fundamental's half
                // period dips nearly as deep on clean material too.)
                if depth >= NOISY_APERIODICITY {
                    let near = depth * (1.0 + MULTIPLE_NEAR_FRACTION);
                    let period = [3, 2].into_iter().find_map(|k| {
                        let at = (tau as f64 / k as f64).round() as usize;
                        let span = (at as f64 * 0.03).ceil() as usize;
                        (at.saturating_sub(span).max(lo)..=(at + span).min(hi - 1))
                            .filter(|&t| is_dip(c, t))
                            .find(|&t| vertex(t) <= near)
                    });
                    if let Some(t) = period {
                        return Some((b, t, vertex(t)));
                    }
                }
                return Some((b, tau, depth));
            }
            if b == self.bands.len() - 1 {
                // No dip below the threshold (noise: every multiple of the period dips to about
                // the noise's share of the power, and which one is deepest is chance). The first
                // dip nearly as deep as the deepest is the period, not a multiple of it.
                let deepest = (lo..hi).filter(|&t| is_dip(c, t)).map(vertex).fold(f32::INFINITY, f32::min);
                let near = deepest + MULTIPLE_NEAR_DEEPEST.max(MULTIPLE_NEAR_FRACTION * deepest);
                fallback = (lo..hi).find(|&t| is_dip(c, t) && vertex(t) <= near).map(|t| (b, t, vertex(t)));
            }
        }
        fallback
    }

    /// Coarse search, octave protection and host-rate refinement: (lag in host samples, confidence,
    /// the band and coarse lag of the dip it was read from).
    fn search(&mut self) -> Option<(f64, f32, (usize, usize))> {
        let (mut band, mut tau, mut aperiodicity) = self.coarse_search()?;
        // Octave-down check: with a weak fundamental (strong even harmonics: many bowed and reed
        // samples, low voices) the waveform nearly repeats every half period, and a short window
        // takes that for the period. A window long enough to hold twice the lag decides: if the
        // doubled lag is clearly more periodic there, the pitch is an octave lower.
        if aperiodicity > OCTAVE_CHECK_MIN_APERIODICITY {
            // The note already sounding (for 30 ms: a chord's common period read for a few hops at a
            // legato change is not one), if its period is further down than the first reach.
            let sounding =
                if self.voiced && self.run_len >= SOUNDING_HOPS { self.last_tau.round() as usize } else { 0 };
            let near_sounding = |t: usize| t.abs_diff(sounding) <= (sounding as f64 * 0.03).ceil() as usize;
            // A short lag (above ~700 Hz) may be a voice's formant ringing after each glottal pulse
            // (the shortest window, just after the pulse, holds nothing else: espeak's female voice
            // at 177 Hz read 781 Hz for two hops once per period, the male one at 98 Hz 815 Hz).
            // Against the sounding note's period any multiple is checked; and a short lag's dip
            // against a clearly more periodic lag that is no multiple of it (a formant is not
            // the note's harmonic; a multiple is left alone: on so coarse a grid it can look
            // more periodic than the period itself, see `OCTAVE_CHECK_MIN_LAG`).
            let short = tau < OCTAVE_CHECK_MIN_LAG;
            let times = if short { sounding.div_ceil(tau.max(1)) + 1 } else { SOUNDING_NOTE_REACH };
            let sounding_reach = (sounding > (OCTAVE_CHECK_REACH * tau) && sounding <= times * tau)
                .then(|| self.octave_below(tau, times).filter(|&(_, t, _)| near_sounding(t)))
                .flatten();
            let below = sounding_reach.or_else(|| match short {
                false => self.octave_below(tau, OCTAVE_CHECK_REACH),
                true => self.octave_below(tau, FORMANT_CHECK_REACH).filter(|&(b, t, _)| {
                    // Judged on the host-rate lags: the coarse ones are too rough for a ratio.
                    let ratio =
                        self.refine(t, self.bands[b].window, false) / self.refine(tau, self.bands[band].window, false);
                    (ratio - ratio.round()).abs() > FORMANT_MIN_OFFSET
                }),
            });
            if let Some((b, double, c_double)) = below {
                (band, tau, aperiodicity) = (b, double, c_double);
            }
        }
        // Octave protection: stay on the previous pitch when its dip is nearly as good.
        if self.voiced && self.last_tau > 0.0 {
            let prev = self.last_tau.round() as usize;
            let ratio = tau as f64 / prev as f64;
            let up = (ratio - 0.5).abs() < 0.03;
            // Up an octave: a truly periodic half lag (a signal periodic at τ is periodic at 2τ too,
            // so the old lag's dip proves nothing) is the new pitch, not an error to hold back.
            let up_is_clean = up && aperiodicity < OCTAVE_UP_TRUSTED;
            let octave_jump = ((ratio - 2.0).abs() < 0.12 || up) && !up_is_clean;
            let span = ((prev as f64 * 0.03).ceil() as usize).max(1);
            let prev_band = self.bands.iter().position(|b| b.window > prev + span);
            if let (true, Some(b)) = (octave_jump, prev_band) {
                self.band_cmndf(b);
                let c = &self.cmndf;
                let best_near = |at: usize, span: usize| {
                    (at.saturating_sub(span).max(self.tau_min)..=at + span).min_by(|&x, &y| c[x].total_cmp(&c[y]))
                };
                let near = best_near(prev, span);
                // Up, judged in the same window: in noise neither dip is clean, and the half lag
                // as periodic as the old one is the pitch (the old lag is then its multiple). Only
                // a half lag clearly worse (a weak fundamental's half period) is held back.
                let half_as_good = up
                    && best_near(tau, span.div_ceil(2))
                        .zip(near)
                        .is_some_and(|(half, old)| c[half] <= c[old] + OCTAVE_UP_MARGIN);
                if let Some(near) = near.filter(|&n| c[n] < aperiodicity + 0.1 && !half_as_good) {
                    (band, tau, aperiodicity) = (b, near, c[near]);
                }
            }
        }
        // Refined on the signal as played: its upper harmonics make the minimum sharp (on the
        // tilted one the benchmark's viola came 3.5 ms later through the effect, with three times
        // the jitter). But noise moves that minimum (a 587 Hz saw fading into noise at 10 dB SNR
        // read 608 Hz): a noisy reading is refined on the tilted signal too, and where the two
        // disagree by more than `REFINE_AGREE_CENTS` the tilted one is taken. (Not every noisy
        // reading: at an onset, whose window still holds the silence before it, the one as played
        // is the right one, and the two can differ by 25 cents.)
        let window = self.bands[band].window;
        self.latest_span_s = (Self::whole_periods(window, tau) + tau) as f64 / self.analysis_rate_hz;
        let mut lag = self.refine(tau, window, false);
        if aperiodicity >= NOISY_APERIODICITY {
            let tilted = self.refine(tau, window, true);
            if 1200.0 * (tilted / lag).log2().abs() > REFINE_AGREE_CENTS {
                lag = tilted;
            }
        }
        Some((lag, 1.0 - aperiodicity, (band, tau)))
    }

    /// The share of `d(τ)` in `band` that is not the window's change of level: `d(τ) = e₀ + e_τ −
    /// 2r`, and a waveform that repeats at a new level (an accent, a swell, a decay) leaves
    /// `(√e₀ − √e_τ)²` of it even where it repeats exactly, which is no aperiodicity (the
    /// normalised cross-correlation `r / √(e₀ e_τ)` does not see it). It keeps a sounding note
    /// voiced through a change of level (see `estimate`).
    fn level_change_free(&self, band: usize, tau: usize) -> f32 {
        let band = &self.bands[band];
        let (w, d) = (band.window, band.sums.get(tau).copied().unwrap_or(0.0));
        let ring = &self.coarse[..self.coarse.len() / 2];
        let back = |k: usize| f64::from(ring[(self.coarse_count as usize).wrapping_sub(1 + k) & (ring.len() - 1)]);
        if d <= 1e-30 || w + tau >= ring.len() {
            return 1.0;
        }
        let lagged: f64 = (tau..tau + w).map(|k| back(k) * back(k)).sum();
        let level = (band.sum_sq.max(0.0).sqrt() - lagged.sqrt()).powi(2);
        ((d - level) / d).clamp(0.0, 1.0) as f32
    }

    /// A longer period than `tau` (up to `times` it) that a window holding it shows clearly
    /// more periodic: `(band, lag, aperiodicity)` of its first nearly-best dip. Short windows take
    /// a dominant harmonic's period (or two of them) for the note's when the fundamental is weak:
    /// bowed strings, horns, low voices.
    fn octave_below(&mut self, tau: usize, times: usize) -> Option<(usize, usize, f32)> {
        let reach = times * tau + ((times * tau) as f64 * 0.03).ceil() as usize;
        let lowest = tau + tau.div_ceil(3);
        // The shortest band holding the whole reach, else the longest one holding twice `tau`.
        let holds = |b: &Band, lag: usize| b.window > lag && b.sums.len() > lag + 2;
        let b = self
            .bands
            .iter()
            .position(|b| holds(b, reach))
            .or_else(|| self.bands.iter().rposition(|b| holds(b, 2 * tau + 2)))?;
        let hi = (self.bands[b].sums.len() - 2).min(self.tau_max).min(reach);
        if hi <= lowest + 1 {
            return None;
        }
        self.band_cmndf(b);
        let c = &self.cmndf;
        // Judged by the parabola's vertex: the period falls between coarse lags, and a multiple
        // may land nearer a whole one, which alone would make it look more periodic.
        let vertex = |t: usize| dip_vertex(c, t);
        let near = (tau / 30).max(1);
        let at_tau =
            (tau.saturating_sub(near).max(self.tau_min.max(1))..=tau + near).min_by(|&x, &y| c[x].total_cmp(&c[y]))?;
        let single = vertex(at_tau);
        let mut best = f32::INFINITY;
        for t in lowest..hi {
            if is_dip(c, t) {
                best = best.min(vertex(t));
            }
        }
        let clearly = best < OCTAVE_CHECK_RATIO * single && single - best > OCTAVE_CHECK_MARGIN;
        if !clearly || best >= self.settings.threshold {
            return None;
        }
        // The first dip nearly as good as the best: not a multiple of the period.
        (lowest..hi).find(|&t| is_dip(c, t) && vertex(t) <= best + OCTAVE_CHECK_NEAR_BEST).map(|t| (b, t, vertex(t)))
    }

    /// The lag in host samples: the difference function at the host rate around `D·tau`, with a
    /// parabola through its minimum; on the tilted signal when `tilted`.
    fn refine(&self, tau: usize, window: usize, tilted: bool) -> f64 {
        let d = self.decimation;
        let periods = (window / tau.max(1)).max(1) as f64;
        // d(lag) over a window of `w` samples (fractional: the oldest sample weighs `w − floor(w)`).
        let diff = |lag: usize, w: f64| -> f64 {
            let whole = w.floor() as usize;
            let term = |j: usize| {
                let e = f64::from(self.fine_at(j, tilted)) - f64::from(self.fine_at(j + lag, tilted));
                e * e
            };
            (0..whole).map(term).sum::<f64>() + (w - whole as f64) * term(whole)
        };
        let parabola = |lag: usize, w: f64| -> f64 {
            let (a, b, c) = (diff(lag - 1, w), diff(lag, w), diff(lag + 1, w));
            let denominator = a - 2.0 * b + c;
            let shift = if denominator > 1e-30 { (0.5 * (a - c) / denominator).clamp(-0.5, 0.5) } else { 0.0 };
            lag as f64 + shift
        };
        // Pass 1: the best host-rate lag near the coarse one, over whole coarse periods.
        let center = tau * d;
        let w1 = periods * center as f64;
        let reach = d / 2 + 1;
        let lag = (center.saturating_sub(reach).max(2)..=center + reach)
            .min_by(|&a, &b| diff(a, w1).total_cmp(&diff(b, w1)))
            .unwrap_or(center);
        let estimate = parabola(lag, w1);
        // Pass 2: the window made exactly whole periods of that estimate. With a pitch in motion, a
        // window holding a fraction of a period more or less weighs the waveform's edge by its
        // phase, which shows as jitter.
        parabola(estimate.round().max(3.0) as usize, periods * estimate)
    }
}

/// Whether `c[t]` is a local minimum (a dip) of the CMNDF: no higher than either neighbour.
fn is_dip(c: &[f32], t: usize) -> bool {
    c[t] <= c[t - 1] && c[t] <= c[t + 1]
}

/// The value at the vertex of the parabola through `c[t - 1..=t + 1]` (the sampled value where the
/// three points do not curve upwards), never below 0.
fn dip_vertex(c: &[f32], t: usize) -> f32 {
    let curvature = c[t + 1] - 2.0 * c[t] + c[t - 1];
    if curvature > 0.0 {
        (c[t] - (c[t + 1] - c[t - 1]).powi(2) / (8.0 * curvature)).max(0.0)
    } else {
        c[t]
    }
}
