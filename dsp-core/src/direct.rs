//! Direct control: the caller sets the pitch and loudness (the DDSP real-time pipeline's
//! `setF0Hz` / `setLoudnessNorm`), one live voice plays them. The engine behind the embeddable
//! pipeline's seed calls (`engine/`), next to the instrument (notes) and the effect (audio in).
//!
//! ```text
//! f0, loudness (any thread, any rate) ─ one-pole glide per sample ─ live voice ─ × gate ─ × gain ─ out
//! ```
//!
//! The glide (5 ms by default) keeps a control set once per host block or UI frame from
//! zippering; the voice's model runs at its own frame rate on the glided values. While the gate is
//! closed and has faded out for [`IDLE_AFTER_MS`], the voice stops (no model, no synthesis) and
//! restarts from a clean state when played again, as an instrument voice does.

use std::ops::Range;
use std::sync::Arc;

use crate::model::{Model, LOUDNESS_FLOOR_DB};
use crate::morph::MorphPosition;
use crate::swap::{SwapReceiver, VoiceSpec};
use crate::voice::{LiveVoice, Voice, VoiceLevels, MAX_CHUNK};

/// Seed of the direct voice's noise (reproducible renders).
const DIRECT_SEED: u32 = 0xD1_5EC7;
/// The gate's fade in and out.
const GATE_MS: f32 = 10.0;
/// Silence after the gate closed before the voice stops.
pub const IDLE_AFTER_MS: f32 = 100.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DirectSettings {
    /// Time constant of the pitch and loudness glide, ms (0: every change is a step).
    pub smoothing_ms: f32,
    pub levels: VoiceLevels,
    /// Linear output gain.
    pub output_gain: f32,
    /// Where a morph of several models sits (see [`crate::morph`]); ignored with one model.
    pub morph: MorphPosition,
}

impl Default for DirectSettings {
    fn default() -> Self {
        Self { smoothing_ms: 5.0, levels: VoiceLevels::default(), output_gain: 1.0, morph: MorphPosition::default() }
    }
}

/// Lifecycle: [`Direct::new`] allocates; everything else never does.
pub struct Direct {
    voice: LiveVoice,
    swap: Option<SwapReceiver>,
    settings: DirectSettings,
    sample_rate_hz: f32,
    target_f0_hz: f32,
    target_loudness_db: f32,
    gate_open: bool,
    /// Glided values: log2 of f0, loudness in dB; the gate's gain.
    log_f0: f32,
    loudness_db: f32,
    gate: f32,
    output_gain: f32,
    /// The voice is running (it stops once silent for a while).
    active: bool,
    silent_samples: u32,
    f0: [f32; MAX_CHUNK],
    loudness: [f32; MAX_CHUNK],
}

impl Direct {
    pub fn new(model: Arc<Model>, sample_rate_hz: f32, settings: DirectSettings) -> Self {
        let spec = Self::spec(sample_rate_hz);
        Self {
            voice: LiveVoice::new(spec.build(model, 0), sample_rate_hz),
            swap: None,
            settings,
            sample_rate_hz,
            target_f0_hz: 440.0,
            target_loudness_db: LOUDNESS_FLOOR_DB,
            gate_open: false,
            log_f0: 440f32.log2(),
            loudness_db: LOUDNESS_FLOOR_DB,
            gate: 0.0,
            output_gain: settings.output_gain,
            active: false,
            silent_samples: 0,
            f0: [0.0; MAX_CHUNK],
            loudness: [0.0; MAX_CHUNK],
        }
    }

    fn spec(sample_rate_hz: f32) -> VoiceSpec {
        VoiceSpec { sample_rate_hz, voices: 1, seed: DIRECT_SEED, control_glide: 1.0 }
    }

    /// The pitch to play, Hz (clamped to 1 Hz .. Nyquist); non-finite values are ignored.
    pub fn set_f0_hz(&mut self, hz: f32) {
        if hz.is_finite() {
            self.target_f0_hz = hz.clamp(1.0, 0.5 * self.sample_rate_hz);
        }
    }

    /// The A-weighted loudness the model is conditioned on, dB (clamped to −120..0); non-finite
    /// values are ignored.
    pub fn set_loudness_db(&mut self, db: f32) {
        if db.is_finite() {
            self.target_loudness_db = db.clamp(LOUDNESS_FLOOR_DB, 0.0);
        }
    }

    /// Open: the voice sounds; closed: it fades out over 10 ms, then stops.
    pub fn set_gate(&mut self, open: bool) {
        self.gate_open = open;
    }

    /// Pitch and loudness being played now (after the glide).
    pub fn played(&self) -> (f32, f32, bool) {
        (self.log_f0.exp2(), self.loudness_db, self.active)
    }

    pub fn settings(&self) -> &DirectSettings {
        &self.settings
    }

    pub fn set_settings(&mut self, settings: DirectSettings) {
        self.settings = settings;
    }

    pub fn voice(&self) -> &Voice {
        self.voice.voice()
    }

    pub fn voice_spec(&self) -> VoiceSpec {
        Self::spec(self.sample_rate_hz)
    }

    pub fn attach_swap_receiver(&mut self, receiver: SwapReceiver) {
        self.swap = Some(receiver);
    }

    /// Silence, state zeroed; the targets stay as set.
    pub fn reset(&mut self) {
        self.voice.reset();
        self.active = false;
        self.gate = 0.0;
        self.silent_samples = 0;
    }

    /// Renders mono `out` (overwriting it). Never allocates.
    pub fn render(&mut self, out: &mut [f32]) {
        let _ftz = crate::denormals::ScopedFlushDenormals::new();
        if let Some(swap) = &mut self.swap {
            swap.poll(core::iter::once((&mut self.voice, self.active)));
        }
        let sr = self.sample_rate_hz;
        let ms = if self.settings.smoothing_ms.is_finite() { self.settings.smoothing_ms.max(0.0) } else { 5.0 };
        let glide = if ms > 0.0 { 1.0 - (-1.0 / (ms * 0.001 * sr)).exp() } else { 1.0 };
        let gate_step = 1.0 / (GATE_MS * 0.001 * sr);
        let target_gain =
            if self.settings.output_gain.is_finite() { self.settings.output_gain.clamp(0.0, 16.0) } else { 0.0 };
        let gain_glide = 1.0 - (-1.0 / (10.0 * 0.001 * sr)).exp();
        let idle_after = (IDLE_AFTER_MS * 0.001 * sr) as u32;
        let target_log_f0 = self.target_f0_hz.log2();
        if !self.active {
            if !self.gate_open {
                out.fill(0.0);
                return;
            }
            // From silence: start on the values asked for, at once.
            self.active = true;
            self.silent_samples = 0;
            self.log_f0 = target_log_f0;
            self.loudness_db = self.target_loudness_db;
            self.voice.set_morph_target(self.settings.morph, true);
            self.voice.start_frame_now();
        }
        self.voice.set_morph_target(self.settings.morph, false);
        for out in out.chunks_mut(MAX_CHUNK) {
            let n = out.len();
            for i in 0..n {
                self.log_f0 += (target_log_f0 - self.log_f0) * glide;
                self.loudness_db += (self.target_loudness_db - self.loudness_db) * glide;
                self.f0[i] = self.log_f0.exp2();
                self.loudness[i] = self.loudness_db;
            }
            self.voice.process(&self.f0[..n], &self.loudness[..n], self.settings.levels, out);
            let gate_target = if self.gate_open { 1.0 } else { 0.0 };
            for y in out.iter_mut() {
                self.gate += (gate_target - self.gate).clamp(-gate_step, gate_step);
                self.output_gain += (target_gain - self.output_gain) * gain_glide;
                *y *= self.gate * self.output_gain;
            }
            if self.gate_open || self.gate > 0.0 {
                self.silent_samples = 0;
            } else {
                self.silent_samples = self.silent_samples.saturating_add(n as u32);
            }
        }
        if self.silent_samples >= idle_after {
            self.voice.complete_swap();
            self.voice.reset();
            self.active = false;
        }
    }

    pub fn model(&self) -> &Arc<Model> {
        self.voice.model()
    }
}

impl crate::engine::Engine for Direct {
    type Settings = DirectSettings;

    fn prepare(model: Arc<Model>, sample_rate_hz: f32, settings: DirectSettings) -> Self {
        Direct::new(model, sample_rate_hz, settings)
    }
    fn set_settings(&mut self, settings: DirectSettings) {
        Direct::set_settings(self, settings);
    }
    /// The model answers a control on the next frame start (as the instrument answers a note).
    fn latency_samples(&self) -> u32 {
        self.voice.model().latency_samples(self.sample_rate_hz)
    }
    fn reset(&mut self) {
        Direct::reset(self);
    }
    /// Pitch and loudness come from [`Direct::set_f0_hz`] and [`Direct::set_loudness_db`], not MIDI.
    fn handle(&mut self, _channel: u8, _event: crate::InstrumentEvent) {}
    /// Renders mono into the first channel and copies it to the others.
    fn process_range(&mut self, channels: &mut [&mut [f32]], range: Range<usize>) {
        crate::engine::render_mono(channels, range, |out| self.render(out));
    }
    fn voice_spec(&self) -> VoiceSpec {
        Direct::voice_spec(self)
    }
    fn attach_swap_receiver(&mut self, receiver: SwapReceiver) {
        Direct::attach_swap_receiver(self, receiver);
    }
    fn model(&self) -> &Arc<Model> {
        Direct::model(self)
    }
    fn view(&self) -> crate::EngineView<'_> {
        let (f0_hz, loudness_db, sounding) = self.played();
        crate::EngineView {
            voice: self.voice(),
            f0_hz,
            loudness_db,
            confidence: 1.0,
            sounding,
            voice_activity: u32::from(sounding),
            played_hz: f0_hz,
            midi_out_key: None,
        }
    }
}
