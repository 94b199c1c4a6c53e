//! Morphing: one voice plays a live blend of up to [`MAX_MORPH_MODELS`] models.
//!
//! ```text
//! f0, loudness ─┬─ model A (the voice's own: its grid, bank and noise) ─ controls ┐
//!               ├─ model B (its own state, frame clock, trained range) ─ controls ┤ blend at the
//!               ├─ model C ─ controls ────────────────────────────────────────────┤ morph position
//!               └─ model D ─ controls ────────────────────────────────────────────┘ ─ bank + noise
//! ```
//!
//! - **Where each model sits.** Two models lie at the ends of a line (`x`: 0 → A, 1 → B), three
//!   along it (A at 0, B at ½, C at 1), four at the corners of a square (A (0,0), B (1,0), C (0,1),
//!   D (1,1)), weighted bilinearly. A model with no weight does not run: at a corner a voice costs
//!   one model step, on an edge two.
//! - **The blend.** Per harmonic, the linear amplitudes (distribution × amplitude, harmonics above a
//!   model's own Nyquist removed, as DDSP does) are interpolated in log magnitude, which is how
//!   loudness is heard: halfway between −20 dB and −40 dB is −30 dB. A log blend of two different
//!   spectra sums to less than either (where one model is strong the other is weak), so the result
//!   is renormalised towards the dB-interpolated overall amplitude, but never lifted above the
//!   louder model on any harmonic: every harmonic stays between the models' values. Noise bands are
//!   interpolated in log magnitude too. Values are floored at [`MORPH_FLOOR`] (−100 dB) first.
//! - **Different models.** The voice plays on its first model's grid (harmonic count, noise bands,
//!   model rate); the others are mapped onto it: harmonics by number (missing ones are silent),
//!   noise bands by frequency. Each model steps on its own frame clock; a coarser model's controls
//!   are interpolated along its own ramp to the voice's frame ends, a finer one steps several times.
//!   Each model hears the loudness mapped from the first model's trained range onto its own, and the
//!   pitch moved by octaves into its own trained range (the harmonics sound at the played pitch).
//! - **A model coming in** (its weight rises from zero) starts from its state as it was; it never
//!   ramps from a stale frame: its first frame is held.
//! - **The position** glides to its target with a [`MORPH_SMOOTHING_MS`] time constant, advanced at
//!   frame starts only, so the same events give the same samples at any block size.
//!
//! Built by [`Morph::new`] (allocates); everything else never allocates.

use std::sync::Arc;

use crate::model::{harmonic_amplitudes, Model, ModelMeta, ModelState};

/// Most models one voice blends.
pub const MAX_MORPH_MODELS: usize = 4;

/// Amplitudes and magnitudes are floored here (−100 dB) before their logarithm is taken; a blend
/// at or below it is silence.
pub const MORPH_FLOOR: f32 = 1e-5;

/// Time constant of the position's glide to its target, ms.
pub const MORPH_SMOOTHING_MS: f32 = 15.0;

/// Weights below this are treated as zero (that model does not run).
const MIN_WEIGHT: f32 = 1e-4;

/// The glide snaps to its target once this close (so a corner is reached exactly).
const SNAP: f32 = 1e-4;

/// A morph position: `x`, `y` in 0..=1 (see the module's documentation for where each model sits).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MorphPosition {
    pub x: f32,
    pub y: f32,
}

impl MorphPosition {
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }

    /// Clamped to 0..=1; a non-finite coordinate is 0.
    pub fn sanitised(self) -> Self {
        let fix = |v: f32| if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
        Self { x: fix(self.x), y: fix(self.y) }
    }
}

/// What moves the morph position's `x` while notes play (the instrument; `y` always comes from the
/// position set). Until a value arrives, the set position rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MorphSource {
    /// The set position only.
    #[default]
    Off,
    /// A MIDI controller on any channel (0..=119). It then drives nothing else (the mod wheel no
    /// vibrato, expression no loudness).
    Controller(u8),
    /// CC74 / MPE timbre: per note on member channels and by note expression, else the channel's.
    /// The harmonic/noise balance it otherwise sets stays neutral.
    Timbre,
    /// Pressure: per note (polyphonic aftertouch, MPE, note expression), else channel pressure.
    /// It then sets no loudness.
    Pressure,
}

/// The weight of each of `n` models (1..=[`MAX_MORPH_MODELS`]) at `position`; they sum to 1.
pub fn morph_weights(n: usize, position: MorphPosition) -> [f32; MAX_MORPH_MODELS] {
    let MorphPosition { x, y } = position.sanitised();
    match n {
        0 | 1 => [1.0, 0.0, 0.0, 0.0],
        2 => [1.0 - x, x, 0.0, 0.0],
        3 if x <= 0.5 => [1.0 - 2.0 * x, 2.0 * x, 0.0, 0.0],
        3 => [0.0, 2.0 - 2.0 * x, 2.0 * x - 1.0, 0.0],
        _ => [(1.0 - x) * (1.0 - y), x * (1.0 - y), (1.0 - x) * y, x * y],
    }
}

/// What fills each place of the morph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// The voice's own model.
    Primary,
    /// `slots[i]`.
    Slot(usize),
    /// Its model failed to load or none was given: its weight goes to the others.
    Missing,
}

/// A voice noise band's place among another model's bands.
#[derive(Clone, Copy, Debug)]
struct BandMap {
    lower: usize,
    frac: f32,
    /// Below the other model's Nyquist (above it, that model never heard anything).
    inside: bool,
}

/// One more model of a voice: its state, its frame clock and its controls mapped onto the voice.
struct Slot {
    model: Arc<Model>,
    state: ModelState,
    hop: f64,
    grid_shift: u64,
    frames_started: u64,
    frame_start: u64,
    next_frame_at: u64,
    /// It stepped last frame (else it restarts its clock and holds its first frame).
    running: bool,
    /// Same frame rate as the voice: it steps exactly on the voice's frames.
    locked: bool,
    /// Its next frame was run in a batch with other voices': the results are in `state`.
    prepared: bool,
    /// Controls of its previous and current frame on the voice's harmonics and bands (linear).
    prev_amps: Vec<f32>,
    cur_amps: Vec<f32>,
    prev_noise: Vec<f32>,
    cur_noise: Vec<f32>,
    /// Its frame's amplitudes on its own harmonics, and this frame's targets on the voice's grid.
    own_amps: Vec<f32>,
    amps: Vec<f32>,
    noise: Vec<f32>,
    /// `None`: the same bands as the voice.
    band_map: Option<Vec<BandMap>>,
    /// Conditioning loudness = `loudness · scale + offset` (the primary's range onto its own).
    loudness_scale: f32,
    loudness_offset: f32,
}

/// Most frames a model steps to catch up within one voice frame (a finer model steps several).
const MAX_CATCH_UP: u32 = 64;

impl Slot {
    fn new(model: Arc<Model>, primary: &ModelMeta, voice_sample_rate_hz: f32) -> Self {
        let meta = &model.meta;
        let locked = meta.frame_rate_hz == primary.frame_rate_hz;
        let (n_harmonics, n_bands) = (primary.n_harmonics, primary.n_noise_bands);
        let same_bands = meta.n_noise_bands == n_bands && meta.sample_rate_hz == primary.sample_rate_hz;
        let band_map = (!same_bands).then(|| {
            let voice_hz_per_band = 0.5 * primary.sample_rate_hz / (n_bands.max(2) - 1) as f32;
            let own_bands_per_hz = (meta.n_noise_bands.max(2) - 1) as f32 / (0.5 * meta.sample_rate_hz);
            (0..n_bands)
                .map(|j| {
                    let hz = j as f32 * voice_hz_per_band;
                    let pos = hz * own_bands_per_hz;
                    let lower = (pos.floor() as usize).min(meta.n_noise_bands - 1);
                    BandMap { lower, frac: pos - lower as f32, inside: hz <= 0.5 * meta.sample_rate_hz }
                })
                .collect()
        });
        let primary_range = primary.loudness_max_db - primary.loudness_min_db;
        let own_range = meta.loudness_max_db - meta.loudness_min_db;
        let loudness_scale = if primary_range > 0.0 { own_range / primary_range } else { 1.0 };
        Self {
            state: model.new_state(),
            hop: f64::from(voice_sample_rate_hz) / f64::from(meta.frame_rate_hz),
            grid_shift: 0,
            frames_started: 0,
            frame_start: 0,
            next_frame_at: 0,
            running: false,
            locked,
            prepared: false,
            prev_amps: vec![0.0; n_harmonics],
            cur_amps: vec![0.0; n_harmonics],
            prev_noise: vec![0.0; n_bands],
            cur_noise: vec![0.0; n_bands],
            own_amps: vec![0.0; meta.n_harmonics],
            amps: vec![0.0; n_harmonics],
            noise: vec![0.0; n_bands],
            band_map,
            loudness_scale,
            loudness_offset: meta.loudness_min_db - primary.loudness_min_db * loudness_scale,
            model,
        }
    }

    fn reset(&mut self) {
        self.model.reset_state(&mut self.state);
        (self.running, self.prepared) = (false, false);
        (self.grid_shift, self.frames_started, self.frame_start, self.next_frame_at) = (0, 0, 0, 0);
    }

    /// The pitch and loudness this model hears for the voice's `f0_hz` and `loudness_db`.
    fn conditioning(&self, f0_hz: f32, loudness_db: f32) -> (f32, f32) {
        (self.conditioning_f0(f0_hz), loudness_db * self.loudness_scale + self.loudness_offset)
    }

    /// The pitch this model hears: `f0_hz` moved by octaves into its trained range.
    fn conditioning_f0(&self, f0_hz: f32) -> f32 {
        let meta = &self.model.meta;
        let (lo, hi) = (meta.f0_min_hz, meta.f0_max_hz);
        if !(f0_hz > 0.0 && f0_hz.is_finite()) || hi < 2.0 * lo {
            return f0_hz;
        }
        let mut f = f0_hz;
        for _ in 0..16 {
            if f < lo {
                f *= 2.0;
            } else if f > hi {
                f *= 0.5;
            } else {
                break;
            }
        }
        f
    }

    /// Steps the frames due by `now` (voice clock) and sets `amps`/`noise` to this model's controls
    /// at `frame_end`, along its own ramp.
    fn advance(&mut self, f0_hz: f32, loudness_db: f32, now: u64, frame_end: u64) {
        let (cond_f0, cond_loudness) = self.conditioning(f0_hz, loudness_db);
        if self.locked {
            self.step(f0_hz, cond_f0, cond_loudness);
            self.running = true;
            self.amps.copy_from_slice(&self.cur_amps);
            self.noise.copy_from_slice(&self.cur_noise);
            return;
        }
        let fresh = !self.running;
        if fresh {
            (self.grid_shift, self.frames_started, self.next_frame_at) = (now, 0, now);
            self.running = true;
        }
        let mut steps = 0;
        while self.next_frame_at <= now {
            if steps == MAX_CATCH_UP {
                // Far behind (cannot happen while the voice runs its frames): rejoin at `now`.
                (self.grid_shift, self.frames_started, self.next_frame_at) = (now, 0, now);
            }
            self.step(f0_hz, cond_f0, cond_loudness);
            self.frame_start = self.next_frame_at;
            self.frames_started += 1;
            let next = self.grid_shift + (self.frames_started as f64 * self.hop).round() as u64;
            self.next_frame_at = next.max(self.frame_start + 1);
            steps += 1;
        }
        if fresh {
            self.prev_amps.copy_from_slice(&self.cur_amps);
            self.prev_noise.copy_from_slice(&self.cur_noise);
        }
        let span = (self.next_frame_at - self.frame_start) as f32;
        let t = frame_end.saturating_sub(self.frame_start) as f32 / span;
        if t >= 1.0 {
            self.amps.copy_from_slice(&self.cur_amps);
            self.noise.copy_from_slice(&self.cur_noise);
        } else {
            let lerp = |dst: &mut [f32], a: &[f32], b: &[f32]| {
                for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
                    *d = a + (b - a) * t;
                }
            };
            lerp(&mut self.amps, &self.prev_amps, &self.cur_amps);
            lerp(&mut self.noise, &self.prev_noise, &self.cur_noise);
        }
    }

    /// One frame of this model, mapped onto the voice's harmonics and bands.
    fn step(&mut self, f0_hz: f32, cond_f0_hz: f32, loudness_db: f32) {
        core::mem::swap(&mut self.prev_amps, &mut self.cur_amps);
        core::mem::swap(&mut self.prev_noise, &mut self.cur_noise);
        let prepared = core::mem::take(&mut self.prepared) && self.model.last_controls(&self.state).is_some();
        let controls = match self.model.last_controls(&self.state) {
            Some(controls) if prepared => controls,
            _ => self.model.infer(cond_f0_hz, loudness_db, &mut self.state),
        };
        harmonic_amplitudes(controls, f0_hz.max(0.0), self.model.meta.sample_rate_hz, &mut self.own_amps);
        let n = self.own_amps.len().min(self.cur_amps.len());
        self.cur_amps[..n].copy_from_slice(&self.own_amps[..n]);
        self.cur_amps[n..].iter_mut().for_each(|a| *a = 0.0);
        let own = &controls.noise_magnitudes;
        match &self.band_map {
            None => self.cur_noise.copy_from_slice(own),
            Some(map) => {
                for (dst, m) in self.cur_noise.iter_mut().zip(map) {
                    let upper = (m.lower + 1).min(own.len() - 1);
                    *dst = if m.inside { own[m.lower] + (own[upper] - own[m.lower]) * m.frac } else { 0.0 };
                }
            }
        }
    }
}

/// A voice's morph: the models beside its own, where each sits, the position and the blend scratch.
pub struct Morph {
    places: [Place; MAX_MORPH_MODELS],
    n_places: usize,
    slots: Vec<Slot>,
    target: MorphPosition,
    position: MorphPosition,
    /// Per-frame glide coefficient of the position.
    coeff: f32,
    weights: [f32; MAX_MORPH_MODELS],
    log_amps: Vec<f32>,
    max_amps: Vec<f32>,
}

impl Morph {
    /// The morph of a voice whose own model is `models[primary]`: `models` in place order (A, B,
    /// C, D), `None` where a model is missing. Allocates.
    pub fn new(models: &[Option<Arc<Model>>], primary: usize, voice_sample_rate_hz: f32) -> Self {
        let n_places = models.len().clamp(1, MAX_MORPH_MODELS);
        let meta = models[primary].as_ref().map(|m| m.meta.clone()).expect("the primary model is present");
        let mut places = [Place::Missing; MAX_MORPH_MODELS];
        let mut slots = Vec::new();
        for (i, model) in models.iter().take(n_places).enumerate() {
            places[i] = match model {
                _ if i == primary => Place::Primary,
                Some(model) => {
                    slots.push(Slot::new(model.clone(), &meta, voice_sample_rate_hz));
                    Place::Slot(slots.len() - 1)
                }
                None => Place::Missing,
            };
        }
        let hop_s = 1.0 / meta.frame_rate_hz;
        Self {
            places,
            n_places,
            slots,
            target: MorphPosition::default(),
            position: MorphPosition::default(),
            coeff: 1.0 - (-hop_s / (MORPH_SMOOTHING_MS * 0.001)).exp(),
            weights: [1.0, 0.0, 0.0, 0.0],
            log_amps: vec![0.0; meta.n_harmonics],
            max_amps: vec![0.0; meta.n_harmonics],
        }
    }

    /// Places in the morph (2..=4 for a real morph), present or not.
    pub fn places(&self) -> usize {
        self.n_places
    }

    /// Whether place `i`'s model is there (false: it failed to load or none was given).
    pub fn is_present(&self, i: usize) -> bool {
        i < self.n_places && self.places[i] != Place::Missing
    }

    /// The model at place `i`, unless it is the voice's own or missing.
    pub fn model(&self, i: usize) -> Option<&Arc<Model>> {
        match self.places.get(i) {
            Some(Place::Slot(s)) => Some(&self.slots[*s].model),
            _ => None,
        }
    }

    /// Where the position glides to (non-finite coordinates are 0).
    pub fn set_target(&mut self, position: MorphPosition, jump: bool) {
        self.target = position.sanitised();
        if jump {
            self.position = self.target;
        }
    }

    /// Takes `other`'s target and current position.
    pub(crate) fn follow(&mut self, other: &Morph) {
        (self.target, self.position) = (other.target, other.position);
    }

    pub fn position(&self) -> MorphPosition {
        self.position
    }

    /// Each place's weight in the last frame.
    pub fn weights(&self) -> [f32; MAX_MORPH_MODELS] {
        self.weights
    }

    /// The voice restarted its frame grid (a note from silence): every other model rejoins it at
    /// the voice's next frame.
    pub(crate) fn restart_clocks(&mut self) {
        self.slots.iter_mut().for_each(|s| s.running = false);
    }

    /// Zeroes every state and clock; the position jumps to its target.
    pub fn reset(&mut self) {
        self.slots.iter_mut().for_each(Slot::reset);
        self.position = self.target;
    }

    /// The position the next frame will use.
    fn next_position(&self) -> MorphPosition {
        let glide = |p: f32, t: f32| {
            let next = p + (t - p) * self.coeff;
            if (t - next).abs() < SNAP {
                t
            } else {
                next
            }
        };
        MorphPosition { x: glide(self.position.x, self.target.x), y: glide(self.position.y, self.target.y) }
    }

    /// Per place, the weight at `position`, a missing model's share going to the others (to the
    /// voice's own model when every present one has none).
    fn weights_at(&self, position: MorphPosition) -> [f32; MAX_MORPH_MODELS] {
        let raw = morph_weights(self.n_places, position);
        let mut w = [0.0; MAX_MORPH_MODELS];
        for i in 0..self.n_places {
            if self.places[i] != Place::Missing && raw[i] >= MIN_WEIGHT {
                w[i] = raw[i];
            }
        }
        let sum: f32 = w.iter().sum();
        if sum <= 0.0 {
            let primary = self.places.iter().position(|p| *p == Place::Primary).unwrap_or(0);
            w = [0.0; MAX_MORPH_MODELS];
            w[primary] = 1.0;
        } else {
            w.iter_mut().for_each(|v| *v /= sum);
        }
        w
    }

    fn primary_weight(&self, w: &[f32; MAX_MORPH_MODELS]) -> f32 {
        self.places.iter().zip(w).filter(|(p, _)| **p == Place::Primary).map(|(_, &w)| w).sum()
    }

    /// The other models (not the voice's own), by slot: slot `s` of every voice built from one
    /// [`crate::swap::VoiceSet`] holds the same model, so a batch can run them together.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub fn slot_model(&self, s: usize) -> &Arc<Model> {
        &self.slots[s].model
    }

    /// Whether slot `s` steps exactly at the frame about to start (it has weight there and runs on
    /// the voice's frames): then a batch may run its step ([`Morph::slot_batch_load`]).
    pub fn slot_runs_next(&self, s: usize) -> bool {
        let weights = self.weights_at(self.next_position());
        let place = self.places.iter().position(|p| *p == Place::Slot(s));
        self.slots[s].locked && place.is_some_and(|i| weights[i] > 0.0)
    }

    /// Puts slot `s`'s step for the voice's `f0_hz` and `loudness_db` into row `row` of `batch`
    /// (false: it cannot be batched, and the slot runs alone).
    pub fn slot_batch_load(
        &self,
        s: usize,
        batch: &mut crate::model::DecoderBatch,
        row: usize,
        f0_hz: f32,
        loudness_db: f32,
    ) -> bool {
        let slot = &self.slots[s];
        let (f0, loudness) = slot.conditioning(f0_hz, loudness_db);
        slot.model.batch_load(batch, row, f0, loudness, &slot.state)
    }

    /// Takes row `row`'s results as slot `s`'s next step.
    pub fn slot_batch_store(&mut self, s: usize, batch: &crate::model::DecoderBatch, row: usize) {
        let slot = &mut self.slots[s];
        slot.model.batch_store(batch, row, &mut slot.state);
        slot.prepared = true;
    }

    /// Whether the voice's own model runs in the next frame (a batch must not run it otherwise).
    pub fn runs_primary_next(&self) -> bool {
        self.primary_weight(&self.weights_at(self.next_position())) > 0.0
    }

    /// Advances the position to this frame's; true when the voice's own model runs this frame.
    pub(crate) fn begin_frame(&mut self) -> bool {
        self.position = self.next_position();
        self.weights = self.weights_at(self.position);
        for (place, &w) in self.places.iter().zip(&self.weights) {
            if let (Place::Slot(s), true) = (place, w <= 0.0) {
                (self.slots[*s].running, self.slots[*s].prepared) = (false, false);
            }
        }
        self.primary_weight(&self.weights) > 0.0
    }

    /// Runs this frame's other models and blends: `amps`/`noise` hold the voice's own model's
    /// controls when it ran (`with_primary`) and receive the blend. `now` is the voice's clock,
    /// `frame_end` where this frame ends.
    pub(crate) fn blend(
        &mut self,
        with_primary: bool,
        f0_hz: f32,
        loudness_db: f32,
        now: u64,
        frame_end: u64,
        amps: &mut [f32],
        noise: &mut [f32],
    ) {
        let weights = self.weights;
        let mut active = 0;
        let mut only_slot = None;
        for (place, &w) in self.places.iter().zip(&weights) {
            if w <= 0.0 {
                continue;
            }
            active += 1;
            if let Place::Slot(s) = *place {
                self.slots[s].advance(f0_hz, loudness_db, now, frame_end);
                only_slot = Some(s);
            }
        }
        if active == 1 {
            if let (Some(s), false) = (only_slot, with_primary) {
                amps.copy_from_slice(&self.slots[s].amps);
                noise.copy_from_slice(&self.slots[s].noise);
            }
            return;
        }
        let ln = |v: f32| v.max(MORPH_FLOOR).ln();
        let floor_ln = MORPH_FLOOR.ln();
        // Harmonics: Σ w·ln(a) per harmonic, the louder model's value, and Σ w·ln(total).
        let mut log_total = 0.0;
        let (log_amps, max_amps) = (&mut self.log_amps, &mut self.max_amps);
        let mut first = true;
        for (place, &w) in self.places.iter().zip(&weights) {
            let source: &[f32] = match *place {
                _ if w <= 0.0 => continue,
                Place::Primary => amps,
                Place::Slot(s) => &self.slots[s].amps,
                Place::Missing => continue,
            };
            log_total += w * ln(source.iter().sum());
            for ((l, m), &a) in log_amps.iter_mut().zip(max_amps.iter_mut()).zip(source) {
                if first {
                    (*l, *m) = (w * ln(a), a);
                } else {
                    *l += w * ln(a);
                    *m = m.max(a);
                }
            }
            first = false;
        }
        let mut sum = 0.0;
        let mut limit = f32::INFINITY;
        for ((a, &l), &m) in amps.iter_mut().zip(log_amps.iter()).zip(max_amps.iter()) {
            *a = if l <= floor_ln + 1e-3 { 0.0 } else { l.exp() };
            if *a > 0.0 {
                sum += *a;
                limit = limit.min(m / *a);
            }
        }
        if sum > 0.0 {
            let scale = (log_total.exp() / sum).min(limit).max(1.0f32.min(limit));
            amps.iter_mut().for_each(|a| *a *= scale);
        }
        // Noise bands: Σ w·ln(m), in place over the voice's own values (folded in first).
        let primary_weight = self.primary_weight(&weights);
        let mut first = true;
        if with_primary && primary_weight > 0.0 {
            noise.iter_mut().for_each(|n| *n = primary_weight * ln(*n));
            first = false;
        }
        for (place, &w) in self.places.iter().zip(&weights) {
            let (Place::Slot(s), true) = (*place, w > 0.0) else { continue };
            let src = &self.slots[s].noise;
            if first {
                noise.iter_mut().zip(src).for_each(|(n, &v)| *n = w * ln(v));
            } else {
                noise.iter_mut().zip(src).for_each(|(n, &v)| *n += w * ln(v));
            }
            first = false;
        }
        noise.iter_mut().for_each(|n| *n = if *n <= floor_ln + 1e-3 { 0.0 } else { n.exp() });
    }
}
