//! Filtered noise: seeded white noise shaped by N band magnitudes, filtered by STFT overlap-add.
//!
//! # Design
//! Each frame of `fft_size = 2·hop` noise samples is windowed with a periodic √Hann, transformed with
//! realfft, multiplied bin by bin with the requested magnitude response, transformed back, windowed
//! again with √Hann and overlap-added at 50 % (√Hann² = Hann sums to exactly one, so a flat response
//! of 1 returns the input noise unchanged).
//!
//! The filter is **zero-phase** (real, non-negative gains per bin): its impulse response is centred on
//! the frame, so the noise envelope lines up with the harmonic part instead of lagging it by half an
//! impulse response as a causal linear-phase FIR would; a minimum-phase filter would need a cepstrum
//! per frame for no audible gain on noise. Phase is irrelevant for a noise excitation; timing is not.
//!
//! Bands follow DDSP's `FilteredNoise`: `n_bands` magnitudes spaced linearly from 0 Hz to the
//! *model's* Nyquist, interpolated linearly onto the host's FFT bins; bins above the model's Nyquist
//! are silent. When the model rate is below the host rate the output is scaled by
//! `√(host_rate / model_rate)` so the noise has the same level per hertz as it had at the rate the model
//! was trained at.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Shortest hop in seconds: about 2.7 ms at 48 kHz (128 samples), the time resolution of the envelope.
const MIN_HOP_SECONDS: f32 = 0.0025;

/// Small fast PRNG (xorshift32) for the noise excitation; seeded so every bounce is reproducible.
#[derive(Clone, Debug)]
pub struct NoiseRng(u32);

impl NoiseRng {
    pub fn new(seed: u32) -> Self {
        Self(seed.max(1))
    }

    /// Uniform in `[-1, 1)`, DDSP's noise source.
    #[inline]
    pub fn next_bipolar(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        // 24 random bits to a float in [0, 2), then shift to [-1, 1).
        (x >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0
    }
}

/// Where a host FFT bin reads the band magnitudes: `gain = lerp(bands[lower], bands[lower+1], frac)`.
#[derive(Clone, Copy, Debug)]
struct BinMap {
    lower: usize,
    frac: f32,
    /// False for bins above the model's Nyquist (always silent).
    inside: bool,
}

/// Time-varying noise filter. Lifecycle: [`FilteredNoise::new`] allocates every buffer and FFT plan;
/// [`set_targets`](Self::set_targets), [`process`](Self::process) and [`reset`](Self::reset) never do.
#[derive(Clone)]
pub struct FilteredNoise {
    hop: usize,
    fft_size: usize,
    seed: u32,
    rng: NoiseRng,
    window: Vec<f32>,
    bin_map: Vec<BinMap>,
    level_scale: f32,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    /// The continuous white-noise stream under the current frame, `fft_size` samples: consecutive
    /// frames share half of it, so a flat response reproduces the stream sample for sample.
    excitation: Vec<f32>,
    time: Vec<f32>,
    spectrum: Vec<Complex32>,
    scratch: Vec<Complex32>,
    /// Overlap-add accumulator: `[0, hop)` is being read out, `[hop, fft_size)` holds the tail.
    ola: Vec<f32>,
    read_pos: usize,
    /// Band magnitudes now, their per-sample step while ramping, and the target.
    bands: Vec<f32>,
    band_steps: Vec<f32>,
    band_targets: Vec<f32>,
    ramp_remaining: u32,
}

impl FilteredNoise {
    /// `n_bands` magnitudes span 0 Hz..`model_sample_rate_hz / 2`. Allocates.
    pub fn new(sample_rate_hz: f32, n_bands: usize, model_sample_rate_hz: f32, seed: u32) -> Self {
        let n_bands = n_bands.max(1);
        let model_nyquist_hz = 0.5 * model_sample_rate_hz.min(sample_rate_hz);
        // Bin spacing must resolve the band spacing: DDSP's own impulse response is 2·(n_bands-1) taps
        // at the model rate, i.e. that many seconds·rate here.
        let ir_len = (2 * n_bands.saturating_sub(1)) as f32 * sample_rate_hz / model_sample_rate_hz;
        let min_fft = (2.0 * MIN_HOP_SECONDS * sample_rate_hz).max(ir_len);
        let fft_size = (min_fft.ceil() as usize).next_power_of_two().max(16);
        let hop = fft_size / 2;

        let window = (0..fft_size).map(|n| (core::f32::consts::PI * n as f32 / fft_size as f32).sin()).collect();

        let n_bins = fft_size / 2 + 1;
        let band_per_hz = (n_bands - 1) as f32 / (0.5 * model_sample_rate_hz);
        let bin_map = (0..n_bins)
            .map(|b| {
                let hz = b as f32 * sample_rate_hz / fft_size as f32;
                let pos = hz * band_per_hz;
                let lower = (pos.floor() as usize).min(n_bands - 1);
                BinMap { lower, frac: pos - lower as f32, inside: hz <= model_nyquist_hz }
            })
            .collect();

        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(fft_size);
        let inverse = planner.plan_fft_inverse(fft_size);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        let mut noise = Self {
            hop,
            fft_size,
            seed,
            rng: NoiseRng::new(seed),
            window,
            bin_map,
            level_scale: (sample_rate_hz / model_sample_rate_hz).max(1.0).sqrt(),
            excitation: vec![0.0; fft_size],
            time: vec![0.0; fft_size],
            spectrum: forward.make_output_vec(),
            scratch: vec![Complex32::default(); scratch_len],
            forward,
            inverse,
            ola: vec![0.0; fft_size],
            // Start "at the end of a hop" so the very first sample synthesises a frame.
            read_pos: hop,
            bands: vec![0.0; n_bands],
            band_steps: vec![0.0; n_bands],
            band_targets: vec![0.0; n_bands],
            ramp_remaining: 0,
        };
        noise.reset();
        noise
    }

    /// Frame hop in samples (half the FFT size).
    pub fn hop(&self) -> usize {
        self.hop
    }

    pub fn fft_size(&self) -> usize {
        self.fft_size
    }

    /// Back to silence and the initial seed: the next output repeats the first run exactly.
    pub fn reset(&mut self) {
        self.rng = NoiseRng::new(self.seed);
        self.excitation[..self.hop].iter_mut().for_each(|x| *x = 0.0);
        for x in &mut self.excitation[self.hop..] {
            *x = self.rng.next_bipolar();
        }
        self.ola.iter_mut().for_each(|x| *x = 0.0);
        self.read_pos = self.hop;
        self.bands.iter_mut().for_each(|x| *x = 0.0);
        self.band_targets.iter_mut().for_each(|x| *x = 0.0);
        self.ramp_remaining = 0;
    }

    /// Ramps the band magnitudes (linear gain) to `magnitudes` over `ramp_samples`. Non-finite or
    /// negative values count as silence.
    pub fn set_targets(&mut self, magnitudes: &[f32], ramp_samples: u32) {
        for (i, target) in self.band_targets.iter_mut().enumerate() {
            let m = magnitudes.get(i).copied().unwrap_or(0.0);
            *target = if m.is_finite() { m.max(0.0) } else { 0.0 };
        }
        if ramp_samples == 0 {
            self.bands.copy_from_slice(&self.band_targets);
            self.ramp_remaining = 0;
        } else {
            let inv = 1.0 / ramp_samples as f32;
            for ((step, t), b) in self.band_steps.iter_mut().zip(&self.band_targets).zip(&self.bands) {
                *step = (t - b) * inv;
            }
            self.ramp_remaining = ramp_samples;
        }
    }

    /// Writes `out.len()` samples of filtered noise into `out` (overwriting it).
    pub fn process(&mut self, out: &mut [f32]) {
        let mut done = 0;
        while done < out.len() {
            if self.read_pos == self.hop {
                self.synthesise_frame();
            }
            let n = (self.hop - self.read_pos).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.ola[self.read_pos..self.read_pos + n]);
            self.advance_ramp(n as u32);
            self.read_pos += n;
            done += n;
        }
    }

    /// Moves the ramp on by `samples`. The value is derived from the samples still to go (not
    /// accumulated), so any split of the same span lands on bit-identical band gains.
    fn advance_ramp(&mut self, samples: u32) {
        if self.ramp_remaining == 0 {
            return;
        }
        self.ramp_remaining -= samples.min(self.ramp_remaining);
        let remaining = self.ramp_remaining as f32;
        for ((b, s), t) in self.bands.iter_mut().zip(&self.band_steps).zip(&self.band_targets) {
            *b = t - s * remaining;
        }
    }

    /// Shifts the overlap-add buffer by one hop and adds the next filtered, windowed noise frame.
    fn synthesise_frame(&mut self) {
        self.ola.copy_within(self.hop.., 0);
        self.ola[self.fft_size - self.hop..].iter_mut().for_each(|x| *x = 0.0);
        self.read_pos = 0;

        self.excitation.copy_within(self.hop.., 0);
        for x in &mut self.excitation[self.fft_size - self.hop..] {
            *x = self.rng.next_bipolar();
        }
        for ((t, x), w) in self.time.iter_mut().zip(&self.excitation).zip(&self.window) {
            *t = x * w;
        }
        // Cannot fail: buffer lengths come from the plans themselves.
        let _ = self.forward.process_with_scratch(&mut self.time, &mut self.spectrum, &mut self.scratch);
        let last = self.bands.len() - 1;
        let norm = self.level_scale / self.fft_size as f32;
        for (bin, map) in self.spectrum.iter_mut().zip(&self.bin_map) {
            let gain = if map.inside {
                let lo = self.bands[map.lower];
                let hi = self.bands[(map.lower + 1).min(last)];
                lo + (hi - lo) * map.frac
            } else {
                0.0
            };
            *bin *= gain * norm;
        }
        // The inverse transform requires real DC and Nyquist bins; they are (real input, real gain).
        self.spectrum[0].im = 0.0;
        if let Some(nyq) = self.spectrum.last_mut() {
            nyq.im = 0.0;
        }
        let _ = self.inverse.process_with_scratch(&mut self.spectrum, &mut self.time, &mut self.scratch);
        for ((acc, t), w) in self.ola.iter_mut().zip(&self.time).zip(&self.window) {
            *acc += t * w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_unit_response_returns_the_excitation_sample_for_sample() {
        let mut noise = FilteredNoise::new(48_000.0, 65, 48_000.0, 7);
        noise.set_targets(&[1.0; 65], 0);
        let hop = noise.hop();
        let mut out = vec![0.0; hop * 20];
        noise.process(&mut out);
        let mut rng = NoiseRng::new(7);
        let raw: Vec<f32> = (0..out.len()).map(|_| rng.next_bipolar()).collect();
        // Before the first full overlap only frame 0's fade-in exists; from one hop on, √Hann² sums to one.
        let worst = out[hop..].iter().zip(&raw[hop..]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-5, "flat response deviates from the excitation by {worst}");
    }
}
