//! One DDSP voice: per-sample f0 and loudness in, the model at its frame rate, harmonic bank plus
//! filtered noise out.
//!
//! The model runs on the sample where a frame starts, with that sample's f0 and loudness, so the
//! controls react with no look-ahead (instrument mode reports 0 samples of latency). Its outputs are
//! ramped linearly to the next frame boundary, per sample in the harmonic bank and per noise hop in
//! the noise filter, so controls that arrive every 4 ms (or 20 ms for DDSP-VST models) never zipper.
//! Frame boundaries are counted on the voice's own sample clock (`round(n · rate / frame_rate)`), so
//! 44.1 kHz with a 250 Hz model (176.4 samples a frame) stays exact and any host block split gives
//! the same samples.

use std::sync::Arc;

use crate::harmonic::HarmonicBank;
use crate::model::{harmonic_amplitudes, Model, ModelState};
use crate::morph::{Morph, MorphPosition};
use crate::noise::FilteredNoise;

/// Longest run the voice renders at once: it sizes the stack-free scratch buffers.
pub const MAX_CHUNK: usize = 256;

/// Linear gains on the two halves of the synthesiser (the plugin's harmonic/noise levels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoiceLevels {
    pub harmonic_gain: f32,
    pub noise_gain: f32,
}

impl Default for VoiceLevels {
    fn default() -> Self {
        Self { harmonic_gain: 1.0, noise_gain: 1.0 }
    }
}

/// Lifecycle: [`Voice::new`] allocates; [`Voice::process`] and [`Voice::reset`] never do.
pub struct Voice {
    model: Arc<Model>,
    state: ModelState,
    bank: HarmonicBank,
    noise: FilteredNoise,
    /// Host samples per model frame (may be fractional).
    frame_hop_samples: f64,
    clock_samples: u64,
    /// The frame grid: frame `k` starts at `grid_shift + round(k · hop)` on this voice's clock;
    /// `frames_started` is the index of the last frame started.
    frames_started: u64,
    grid_shift: i64,
    next_frame_at: u64,
    /// The frame about to start was already run (in a batch with other voices, see
    /// [`Voice::mark_frame_prepared`]): its controls are in the model state.
    prepared: bool,
    /// Fraction of a frame over which the controls glide to a new frame's values (1 = the whole
    /// frame: smoothest; less answers sooner, then holds).
    glide_fraction: f32,
    harmonic_amps: Vec<f32>,
    noise_mags: Vec<f32>,
    noise_out: Vec<f32>,
    /// The other models this voice blends with its own (see [`crate::morph`]).
    morph: Option<Box<Morph>>,
}

impl Voice {
    /// Prepares a voice for `model` at `sample_rate_hz`; `seed` seeds its noise. Allocates.
    pub fn new(model: Arc<Model>, sample_rate_hz: f32, seed: u32) -> Self {
        let meta = &model.meta;
        let bank = HarmonicBank::new(sample_rate_hz, meta.n_harmonics);
        let noise = FilteredNoise::new(sample_rate_hz, meta.n_noise_bands, meta.sample_rate_hz, seed);
        Self {
            state: model.new_state(),
            frame_hop_samples: f64::from(sample_rate_hz) / f64::from(meta.frame_rate_hz),
            clock_samples: 0,
            frames_started: 0,
            grid_shift: 0,
            next_frame_at: 0,
            prepared: false,
            glide_fraction: 1.0,
            harmonic_amps: vec![0.0; meta.n_harmonics],
            noise_mags: vec![0.0; meta.n_noise_bands],
            noise_out: vec![0.0; MAX_CHUNK],
            bank,
            noise,
            model,
            morph: None,
        }
    }

    /// A voice blending `models` (place order A, B, C, D; `None` where a model failed to load):
    /// it plays on the first present model's grid (see [`crate::morph`]). `None` when no model is
    /// present. A single present model gives a plain voice that still knows its places. Allocates.
    pub fn with_morph(models: &[Option<Arc<Model>>], sample_rate_hz: f32, seed: u32) -> Option<Self> {
        let primary = models.iter().position(Option::is_some)?;
        let mut voice = Self::new(models[primary].clone()?, sample_rate_hz, seed);
        if models.len() > 1 {
            voice.morph = Some(Box::new(Morph::new(models, primary, sample_rate_hz)));
        }
        Some(voice)
    }

    /// The voice's morph (`None`: one model).
    pub fn morph(&self) -> Option<&Morph> {
        self.morph.as_deref()
    }

    pub fn morph_mut(&mut self) -> Option<&mut Morph> {
        self.morph.as_deref_mut()
    }

    /// Where the morph glides to (`jump`: at once, e.g. at a note start). Ignored without a morph.
    pub fn set_morph_target(&mut self, position: MorphPosition, jump: bool) {
        if let Some(morph) = &mut self.morph {
            morph.set_target(position, jump);
        }
    }

    /// Takes over `other`'s morph position and target (a voice swapped in continues the morph
    /// where the one it replaces is, instead of gliding from its own default).
    pub fn follow_morph_of(&mut self, other: &Voice) {
        if let (Some(mine), Some(theirs)) = (&mut self.morph, &other.morph) {
            mine.follow(theirs);
        }
    }

    /// Whether the voice's own model runs in the frame about to start (false at another model's
    /// corner: a batch must leave this voice out).
    pub fn runs_own_model_next(&self) -> bool {
        self.morph.as_ref().map_or(true, |m| m.runs_primary_next())
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Silence, zero model state, clocks at zero: the next output repeats the first exactly.
    pub fn reset(&mut self) {
        self.model.reset_state(&mut self.state);
        self.bank.reset();
        self.noise.reset();
        self.clock_samples = 0;
        self.frames_started = 0;
        self.grid_shift = 0;
        self.next_frame_at = 0;
        self.prepared = false;
        if let Some(morph) = &mut self.morph {
            morph.reset();
        }
    }

    /// The current frame's controls, for the editor: each harmonic's amplitude (after the
    /// harmonic level) and each noise band's magnitude.
    pub fn controls(&self) -> (&[f32], &[f32]) {
        (&self.harmonic_amps, &self.noise_mags)
    }

    /// Sets how much of each frame the controls glide over (0.25..=1).
    pub fn set_control_glide(&mut self, fraction: f32) {
        self.glide_fraction = if fraction.is_finite() { fraction.clamp(0.25, 1.0) } else { 1.0 };
    }

    /// Host samples per model frame.
    pub fn frame_hop_samples(&self) -> f64 {
        self.frame_hop_samples
    }

    /// Starts the next model frame at the next sample processed instead of waiting for the frame
    /// grid: a note starting from silence is heard at once rather than up to a frame later. The
    /// grid continues from there (one frame is shortened; the model does not see time).
    pub fn start_frame_now(&mut self) {
        self.next_frame_at = self.clock_samples;
        self.grid_shift = self.clock_samples as i64;
        self.frames_started = 0;
        self.prepared = false;
        if let Some(morph) = &mut self.morph {
            morph.restart_clocks();
        }
    }

    /// Like [`Voice::start_frame_now`], then joins a shared frame grid (frame `k` at
    /// `round(k · hop)` on a clock that reads `shared_clock` now): from the next frame on, this
    /// voice's frames start on the same samples as every other voice aligned to that grid, so
    /// their model steps can run as one batch. The first frame lasts ½ to 1½ frames.
    pub fn start_frame_aligned(&mut self, shared_clock: u64) {
        let hop = self.frame_hop_samples;
        let k = (shared_clock as f64 / hop + 0.5).ceil().max(1.0) as u64;
        self.next_frame_at = self.clock_samples;
        self.grid_shift = self.clock_samples as i64 - shared_clock as i64;
        self.frames_started = k - 1;
        self.prepared = false;
        if let Some(morph) = &mut self.morph {
            morph.restart_clocks();
        }
    }

    /// A frame starts at the next sample processed.
    pub fn frame_due(&self) -> bool {
        self.clock_samples >= self.next_frame_at
    }

    /// The model state, for running this voice's frame in a batch ([`crate::model::Model::batch_load`]).
    pub fn model_state(&self) -> &ModelState {
        &self.state
    }

    pub fn model_state_mut(&mut self) -> &mut ModelState {
        &mut self.state
    }

    /// The frame about to start has been run in a batch and its results stored in the model
    /// state: the voice uses them instead of running the model.
    pub fn mark_frame_prepared(&mut self) {
        self.prepared = true;
    }

    /// Renders `out.len()` samples (overwriting `out`); `f0_hz` and `loudness_db` give the pitch and
    /// A-weighted loudness at each sample and must be at least as long as `out`.
    pub fn process(&mut self, f0_hz: &[f32], loudness_db: &[f32], levels: VoiceLevels, out: &mut [f32]) {
        self.process_shifted(f0_hz, f0_hz, loudness_db, levels, out);
    }

    /// Like [`Voice::process`], with the model conditioned on `model_f0_hz` while the harmonics
    /// sound at `synth_f0_hz` (timbre transfer's input-pitch and pitch-shift controls).
    pub fn process_shifted(
        &mut self,
        model_f0_hz: &[f32],
        synth_f0_hz: &[f32],
        loudness_db: &[f32],
        levels: VoiceLevels,
        out: &mut [f32],
    ) {
        let n = out.len().min(model_f0_hz.len()).min(synth_f0_hz.len()).min(loudness_db.len());
        let mut pos = 0;
        while pos < n {
            if self.clock_samples >= self.next_frame_at {
                self.start_frame(model_f0_hz[pos], loudness_db[pos], levels);
            }
            let to_boundary = (self.next_frame_at - self.clock_samples) as usize;
            let len = (n - pos).min(to_boundary).min(MAX_CHUNK);
            let out = &mut out[pos..pos + len];
            self.bank.process(&synth_f0_hz[pos..pos + len], out);
            let noise = &mut self.noise_out[..len];
            self.noise.process(noise);
            for (y, v) in out.iter_mut().zip(noise.iter()) {
                *y += v;
            }
            self.clock_samples += len as u64;
            pos += len;
        }
    }

    fn start_frame(&mut self, f0_hz: f32, loudness_db: f32, levels: VoiceLevels) {
        self.frames_started += 1;
        let next = self.grid_shift + (self.frames_started as f64 * self.frame_hop_samples).round() as i64;
        self.next_frame_at = (next.max(self.clock_samples as i64 + 1)) as u64;
        let frame_samples = (self.next_frame_at - self.clock_samples) as f32;
        let ramp = ((frame_samples * self.glide_fraction).round() as u32).max(1);

        let f0_hz = if f0_hz.is_finite() { f0_hz.max(0.0) } else { 0.0 };
        let own = self.morph.as_mut().map_or(true, |m| m.begin_frame());
        let prepared = core::mem::take(&mut self.prepared) && self.model.last_controls(&self.state).is_some();
        if own {
            let controls = if prepared {
                match self.model.last_controls(&self.state) {
                    Some(controls) => controls,
                    None => unreachable!("checked above"),
                }
            } else {
                self.model.infer(f0_hz, loudness_db, &mut self.state)
            };
            harmonic_amplitudes(controls, f0_hz, self.model.meta.sample_rate_hz, &mut self.harmonic_amps);
            for (dst, &m) in self.noise_mags.iter_mut().zip(&controls.noise_magnitudes) {
                *dst = m;
            }
        }
        if let Some(morph) = &mut self.morph {
            let (now, end) = (self.clock_samples, self.next_frame_at);
            morph.blend(own, f0_hz, loudness_db, now, end, &mut self.harmonic_amps, &mut self.noise_mags);
        }
        let gain = |g: f32| if g.is_finite() { g.max(0.0) } else { 0.0 };
        let (harmonic_gain, noise_gain) = (gain(levels.harmonic_gain), gain(levels.noise_gain));
        self.noise_mags.iter_mut().for_each(|m| *m *= noise_gain);
        self.harmonic_amps.iter_mut().for_each(|a| *a *= harmonic_gain);
        self.bank.set_targets(&self.harmonic_amps, ramp);
        self.noise.set_targets(&self.noise_mags, ramp);
    }
}

/// Length of the equal-power crossfade between the old and the new model in a live swap.
pub const CROSSFADE_MS: f32 = 20.0;

/// Model frames an incoming voice runs silently, on the pitch and loudness being played, before
/// it is faded in: its recurrent state starts at zero, and a model's response from a zero state
/// is a phrase start, not the sustained note the old voice is playing.
pub const PREROLL_FRAMES: u32 = 12;

/// A [`Voice`] that changes its model live: the one voice type every engine plays (each voice of
/// the instrument, the effect's voice). A new voice handed in by [`LiveVoice::begin_swap`] runs
/// silently for [`PREROLL_FRAMES`] on what is being played, then crossfades in over
/// [`CROSSFADE_MS`]; the voice it replaces waits in [`LiveVoice::take_retired`] to be sent back to
/// the loader (see [`crate::swap`]). A voice that is silent swaps at once. Never allocates.
pub struct LiveVoice {
    voice: Box<Voice>,
    incoming: Option<Box<Voice>>,
    retired: Option<Box<Voice>>,
    /// Samples into the swap; negative during the silent pre-roll.
    crossfade_pos: i64,
    crossfade_len: u32,
    sample_rate_hz: f32,
    crossfade_out: [f32; MAX_CHUNK],
    /// dB added to the loudness the incoming model hears (see
    /// [`LiveVoice::set_incoming_loudness_offset`]), and the scratch it is added in.
    incoming_offset_db: f32,
    incoming_loudness: [f32; MAX_CHUNK],
}

impl LiveVoice {
    pub fn new(voice: Voice, sample_rate_hz: f32) -> Self {
        Self {
            voice: Box::new(voice),
            incoming: None,
            retired: None,
            crossfade_pos: 0,
            crossfade_len: ((CROSSFADE_MS * 0.001 * sample_rate_hz) as u32).max(1),
            sample_rate_hz,
            crossfade_out: [0.0; MAX_CHUNK],
            incoming_offset_db: 0.0,
            incoming_loudness: [0.0; MAX_CHUNK],
        }
    }

    /// The voice playing (the outgoing one during a crossfade).
    pub fn voice(&self) -> &Voice {
        &self.voice
    }

    pub fn voice_mut(&mut self) -> &mut Voice {
        &mut self.voice
    }

    pub fn model(&self) -> &Arc<Model> {
        self.voice.model()
    }

    /// Where the morph glides to, for the voice playing and one coming in (see
    /// [`Voice::set_morph_target`]).
    pub fn set_morph_target(&mut self, position: MorphPosition, jump: bool) {
        self.voice.set_morph_target(position, jump);
        if let Some(incoming) = &mut self.incoming {
            incoming.set_morph_target(position, jump);
        }
    }

    /// True while a new model is pre-rolling or crossfading in.
    pub fn is_swapping(&self) -> bool {
        self.incoming.is_some()
    }

    /// The model pre-rolling or crossfading in, while a swap is under way.
    pub fn incoming_model(&self) -> Option<&Arc<Model>> {
        self.incoming.as_ref().map(|v| v.model())
    }

    /// Where the conditioning loudness is a position in the playing model's trained range (the
    /// instrument's velocity), the incoming model must hear the same position in its own range,
    /// or it pre-rolls and fades in on another loudness and jumps when the swap ends: `offset_db`
    /// is added to the loudness the incoming voice hears until then.
    pub fn set_incoming_loudness_offset(&mut self, offset_db: f32) {
        self.incoming_offset_db = if offset_db.is_finite() { offset_db } else { 0.0 };
    }

    /// Starts replacing the model with `voice`'s. `audible`: the voice is sounding, so the new
    /// model pre-rolls and crossfades; otherwise it takes over at once. Gives the voice back while
    /// a swap is under way or the last replaced voice has not been taken yet.
    pub fn begin_swap(&mut self, mut voice: Box<Voice>, audible: bool) -> Result<(), Box<Voice>> {
        if self.incoming.is_some() || self.retired.is_some() {
            return Err(voice);
        }
        let preroll = (f64::from(PREROLL_FRAMES) * f64::from(self.sample_rate_hz)
            / f64::from(voice.model().meta.frame_rate_hz)) as i64;
        voice.follow_morph_of(&self.voice);
        self.incoming = Some(voice);
        self.crossfade_pos = -preroll;
        if !audible {
            self.finish_swap();
        }
        Ok(())
    }

    /// Ends a swap: the new voice plays, the old one waits in [`Self::take_retired`] (a swap
    /// cannot start while that slot is full, so nothing is ever dropped here).
    fn finish_swap(&mut self) {
        if self.retired.is_none() {
            if let Some(new) = self.incoming.take() {
                self.retired = Some(core::mem::replace(&mut self.voice, new));
            }
        }
    }

    /// Finishes a swap under way at once (a voice falling silent needs no crossfade).
    pub fn complete_swap(&mut self) {
        self.finish_swap();
    }

    /// The voice a finished swap replaced, to be handed back to the loader.
    pub fn take_retired(&mut self) -> Option<Box<Voice>> {
        self.retired.take()
    }

    /// Silence, zero model state, clocks at zero; a swap under way completes.
    pub fn reset(&mut self) {
        self.finish_swap();
        self.voice.reset();
        if let Some(incoming) = &mut self.incoming {
            incoming.reset();
            self.crossfade_pos = i64::from(self.crossfade_len);
        }
    }

    pub fn start_frame_now(&mut self) {
        self.voice.start_frame_now();
        if let Some(incoming) = &mut self.incoming {
            incoming.start_frame_now();
        }
    }

    /// [`Voice::start_frame_aligned`] (the incoming voice of a swap starts now, unaligned).
    pub fn start_frame_aligned(&mut self, shared_clock: u64) {
        self.voice.start_frame_aligned(shared_clock);
        if let Some(incoming) = &mut self.incoming {
            incoming.start_frame_now();
        }
    }

    /// [`Voice::process_shifted`], crossfading to an incoming model while a swap is under way.
    pub fn process_shifted(
        &mut self,
        model_f0_hz: &[f32],
        synth_f0_hz: &[f32],
        loudness_db: &[f32],
        levels: VoiceLevels,
        out: &mut [f32],
    ) {
        for (start, chunk) in (0..).step_by(MAX_CHUNK).zip(out.chunks_mut(MAX_CHUNK)) {
            let n = chunk.len();
            let range = start..start + n;
            let (model_f0, synth_f0, loudness) =
                (&model_f0_hz[range.clone()], &synth_f0_hz[range.clone()], &loudness_db[range]);
            self.voice.process_shifted(model_f0, synth_f0, loudness, levels, chunk);
            let Some(incoming) = &mut self.incoming else { continue };
            // Equal-power crossfade: the two models' outputs are only partly correlated.
            let fresh = &mut self.crossfade_out[..n];
            let incoming_loudness = &mut self.incoming_loudness[..n];
            for (dst, &db) in incoming_loudness.iter_mut().zip(loudness) {
                *dst = db + self.incoming_offset_db;
            }
            incoming.process_shifted(model_f0, synth_f0, incoming_loudness, levels, fresh);
            for (y, &x) in chunk.iter_mut().zip(fresh.iter()) {
                let t = (self.crossfade_pos as f32 / self.crossfade_len as f32).clamp(0.0, 1.0);
                let (new_gain, old_gain) = (core::f32::consts::FRAC_PI_2 * t).sin_cos();
                *y = *y * old_gain + x * new_gain;
                self.crossfade_pos += 1;
            }
            if self.crossfade_pos >= i64::from(self.crossfade_len) {
                self.finish_swap();
            }
        }
    }

    pub fn process(&mut self, f0_hz: &[f32], loudness_db: &[f32], levels: VoiceLevels, out: &mut [f32]) {
        self.process_shifted(f0_hz, f0_hz, loudness_db, levels, out);
    }
}
