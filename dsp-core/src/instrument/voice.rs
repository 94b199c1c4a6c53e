//! One voice of the instrument: a note's pitch (glide, bend, vibrato, per-note tuning), its
//! loudness (velocity, envelope, expression, pressure) and timbre, conditioning a [`LiveVoice`]
//! (model state, oscillators, noise and its own hot-swap crossfade).
//!
//! A voice that has finished its release, and faded its idle gate, stops at that sample: its model
//! does not run while it is silent, so idle voices cost nothing. A stolen voice fades out over
//! [`STEAL_FADE_MS`] and then starts its new note from silence, so stealing never clicks.

use super::{Adsr, InstrumentSettings, LOUDNESS_FLOOR_DB};
use crate::model::Model;
use crate::morph::{MorphPosition, MorphSource};
use crate::voice::{LiveVoice, VoiceLevels, MAX_CHUNK};

/// Fade time of the idle gate, ms: once the envelope has finished, whatever the model makes of
/// silence (a trained model's residual hiss) fades out; then the voice stops.
const IDLE_FADE_MS: f32 = 5.0;

/// Fade-out of a stolen voice (and of every voice on all-sound-off, CC120), ms.
pub const STEAL_FADE_MS: f32 = 3.0;

/// A note waiting for its stolen voice to fade out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub note: u8,
    pub channel: u8,
    pub velocity: f32,
    pub since: u64,
    pub glide_from: Option<f32>,
}

/// Per-sample inputs shared by all voices for one chunk (computed once by the instrument).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shared {
    pub settings: InstrumentSettings,
    /// Channel bend, vibrato and expression in effect for every voice.
    pub bend_semitones: f32,
    pub vibrato_semitones: f32,
    pub expression_db: f32,
    /// Brightness (0..1, 0.5 neutral) from a channel-wide CC74.
    pub brightness: f32,
    /// MPE: each member channel's bend, semitones (0 on channels that are not members), so a
    /// note starts at the bend its channel was given before the note-on.
    pub member_bend_semitones: [f32; 16],
    /// MPE: each member channel's latest timbre and pressure (negative: none, or not a member).
    pub member_timbre: [f32; 16],
    pub member_pressure: [f32; 16],
    pub sample_rate_hz: f32,
    /// The channel-wide value of the morph source, once one has arrived.
    pub morph_value: Option<f32>,
}

pub(crate) struct NoteVoice {
    pub live: LiveVoice,
    envelope: Adsr,
    /// The key it plays (kept through the release, for the editor); `None` when never used.
    pub note: Option<u8>,
    pub channel: u8,
    /// The key is physically down.
    pub key_down: bool,
    /// Released while the sustain pedal (or sostenuto, see `latched`) held it.
    pub sustained: bool,
    /// Held by the sostenuto pedal (CC66): the key was down when the pedal went down.
    pub latched: bool,
    /// Event counter at note-on, or at release once released (allocation: older = smaller).
    pub since: u64,
    /// Sounding pitch in semitones (MIDI numbers) and where it glides to, linearly, by
    /// `glide_step` semitones a sample, so a glide arrives exactly when it is set to.
    pitch: f32,
    target_pitch: f32,
    glide_step: f32,
    velocity: f32,
    /// Per-note expression: MPE member-channel bend (semitones), CLAP tuning (semitones),
    /// pressure (0..1, negative: none yet, the velocity rules), volume (linear) and
    /// brightness (0..1, negative: the channel's).
    pub note_bend: f32,
    pub tuning: f32,
    pub pressure: f32,
    pub volume: f32,
    pub brightness: f32,
    volume_smoothed: f32,
    vibrato_phase: f32,
    idle_gate: f32,
    /// Steal fade, 1 (playing) to 0; `fading` while it falls.
    fade: f32,
    fading: bool,
    pub pending: Option<Pending>,
    active: bool,
    f0_hz: [f32; MAX_CHUNK],
    loudness_db: [f32; MAX_CHUNK],
    gain: [f32; MAX_CHUNK],
    pub out: [f32; MAX_CHUNK],
    pub last_f0_hz: f32,
    pub last_loudness_db: f32,
}

impl NoteVoice {
    pub fn new(live: LiveVoice, sample_rate_hz: f32, settings: &InstrumentSettings) -> Self {
        Self {
            live,
            envelope: Adsr::new(sample_rate_hz, settings.envelope),
            note: None,
            channel: 0,
            key_down: false,
            sustained: false,
            latched: false,
            since: 0,
            pitch: super::REST_PITCH,
            target_pitch: super::REST_PITCH,
            glide_step: 0.0,
            velocity: 0.0,
            note_bend: 0.0,
            tuning: 0.0,
            pressure: -1.0,
            volume: 1.0,
            brightness: -1.0,
            volume_smoothed: 1.0,
            vibrato_phase: 0.0,
            idle_gate: 0.0,
            fade: 1.0,
            fading: false,
            pending: None,
            active: false,
            f0_hz: [0.0; MAX_CHUNK],
            loudness_db: [0.0; MAX_CHUNK],
            gain: [0.0; MAX_CHUNK],
            out: [0.0; MAX_CHUNK],
            last_f0_hz: 0.0,
            last_loudness_db: LOUDNESS_FLOOR_DB,
        }
    }

    pub fn reset(&mut self) {
        self.live.reset();
        self.envelope.reset();
        self.note = None;
        (self.key_down, self.sustained, self.latched, self.since) = (false, false, false, 0);
        self.pitch = super::REST_PITCH;
        self.target_pitch = super::REST_PITCH;
        self.glide_step = 0.0;
        self.reset_expression();
        self.volume_smoothed = 1.0;
        self.vibrato_phase = 0.0;
        self.idle_gate = 0.0;
        (self.fade, self.fading, self.pending, self.active) = (1.0, false, None, false);
        self.last_loudness_db = LOUDNESS_FLOOR_DB;
    }

    fn reset_expression(&mut self) {
        (self.note_bend, self.tuning, self.pressure, self.volume, self.brightness) = (0.0, 0.0, -1.0, 1.0, -1.0);
    }

    pub fn set_envelope(&mut self, settings: &InstrumentSettings) {
        self.envelope.set_settings(settings.envelope);
    }

    /// Running: sounding, fading, or about to start a note. An inactive voice costs nothing.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Audible at all (a swap into a silent voice needs no crossfade).
    pub fn is_audible(&self) -> bool {
        self.active && (self.envelope.is_active() || self.idle_gate > 0.0)
    }

    /// A key holds it (down, or held by a pedal).
    pub fn is_held(&self) -> bool {
        self.note.is_some() && (self.key_down || self.sustained || self.latched) && self.pending.is_none()
    }

    /// Loudness for "quietest first" stealing: envelope level in dB plus the velocity.
    pub fn level_db(&self) -> f32 {
        20.0 * self.envelope.level().max(1e-6).log10() + 40.0 * self.velocity
    }

    /// Starts `note` now. `glide_from`: the pitch to glide from (else it starts on pitch);
    /// `retrigger`: restart the envelope (from wherever it is, so no click).
    /// `clock`: the instrument's sample clock now (the voice joins its frame grid).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        note: u8,
        channel: u8,
        velocity: f32,
        since: u64,
        glide_from: Option<f32>,
        retrigger: bool,
        shared: &Shared,
        clock: u64,
    ) {
        let was_sounding = self.active && self.envelope.is_active();
        if !was_sounding {
            self.reset_expression();
            let ch = usize::from(channel & 15);
            (self.brightness, self.pressure) = (shared.member_timbre[ch], shared.member_pressure[ch]);
        }
        self.note = Some(note);
        self.channel = channel;
        self.note_bend = shared.member_bend_semitones[usize::from(channel & 15)];
        (self.key_down, self.sustained, self.latched, self.since) = (true, false, false, since);
        self.velocity = velocity;
        self.target_pitch = f32::from(note);
        self.retarget(glide_from, shared);
        if !self.active || !self.envelope.is_active() {
            // From silence, the model hears the note now, not at the next frame boundary; from
            // the next frame on, it runs on the instrument's frame grid, batched with the others.
            // Its morph starts where the position is, not where the last note left it.
            self.live.set_morph_target(self.morph_position(shared), true);
            self.live.start_frame_aligned(clock);
            self.active = true;
        }
        if retrigger || !self.envelope.is_active() {
            self.envelope.trigger();
        }
    }

    /// Moves to a new pitch (legato: the envelope goes on), at `velocity`.
    pub fn legato_to(&mut self, note: u8, velocity: f32, glide: bool, retrigger: bool, shared: &Shared) {
        self.note = Some(note);
        self.velocity = velocity;
        self.target_pitch = f32::from(note);
        self.retarget(if glide { Some(self.pitch) } else { None }, shared);
        if retrigger {
            self.envelope.trigger();
        }
    }

    fn retarget(&mut self, glide_from: Option<f32>, shared: &Shared) {
        let glide_samples = shared.settings.glide_ms * 0.001 * shared.sample_rate_hz;
        match glide_from {
            Some(from) if glide_samples >= 1.0 => {
                self.pitch = from;
                self.glide_step = (self.target_pitch - from).abs() / glide_samples;
            }
            _ => {
                self.pitch = self.target_pitch;
                self.glide_step = 0.0;
            }
        }
    }

    /// Key up (or pedal up): the release begins.
    pub fn release(&mut self, since: u64) {
        (self.key_down, self.sustained, self.latched, self.since) = (false, false, false, since);
        self.envelope.release();
    }

    /// Fades out over [`STEAL_FADE_MS`], then plays `next` (or stays silent).
    pub fn steal(&mut self, next: Option<Pending>) {
        if self.is_audible() {
            self.fading = true;
            self.pending = next;
            self.active = true;
        } else {
            self.silence();
            self.pending = next;
            self.active = next.is_some();
        }
    }

    fn silence(&mut self) {
        self.envelope.reset();
        self.idle_gate = 0.0;
        (self.fade, self.fading) = (1.0, false);
        (self.key_down, self.sustained, self.latched) = (false, false, false);
    }

    /// First half of a span from `pos`: a pending note starts (`start_pending(self, pos)`), the
    /// conditioning is filled up to `n` or the sample where the voice falls silent or its steal
    /// fade ends. Returns the span's end (`pos` when the voice is not running).
    pub fn condition_span(
        &mut self,
        pos: usize,
        n: usize,
        shared: &Shared,
        start_pending: &mut impl FnMut(&mut Self, usize),
    ) -> usize {
        if pos >= n || !self.active {
            return pos;
        }
        if !self.fading && self.pending.is_some() {
            start_pending(self, pos);
        }
        // Before a batch looks at which models this voice's next frame runs.
        self.live.set_morph_target(self.morph_position(shared), false);
        self.condition(pos, n, shared)
    }

    /// Second half: renders the conditioned span `pos..end` and adds it to `out`.
    pub fn render_span(&mut self, out: &mut [f32], pos: usize, end: usize, shared: &Shared) {
        if end <= pos {
            return;
        }
        let levels = self.levels(shared);
        let span = pos..end;
        self.live.process(
            &self.f0_hz[span.clone()],
            &self.loudness_db[span.clone()],
            levels,
            &mut self.out[span.clone()],
        );
        for ((y, &v), &g) in out[span.clone()].iter_mut().zip(&self.out[span.clone()]).zip(&self.gain[span]) {
            *y += v * g;
        }
        (self.last_f0_hz, self.last_loudness_db) = (self.f0_hz[end - 1], self.loudness_db[end - 1]);
        if self.fading && self.fade <= 0.0 {
            // The stolen note has faded out: start the pending one (next span) or stop.
            self.silence();
            self.active = self.pending.is_some();
        } else if !self.envelope.is_active() && self.idle_gate <= 0.0 && self.pending.is_none() {
            self.active = false;
        }
        if !self.active {
            self.live.complete_swap();
        }
    }

    /// Renders this voice from `pos` to the end of `out` (≤ [`MAX_CHUNK`]), adding it to `out`.
    pub fn render_add(
        &mut self,
        out: &mut [f32],
        mut pos: usize,
        shared: &Shared,
        start_pending: &mut impl FnMut(&mut Self, usize),
    ) {
        let n = out.len();
        while pos < n && self.active {
            let end = self.condition_span(pos, n, shared, start_pending);
            self.render_span(out, pos, end, shared);
            pos = end;
        }
    }

    /// The conditioning at the start of the span just filled, for running this voice's frame in
    /// a batch: (f0, loudness) at `pos` (`Model::batch_load` cleans them as `Model::infer` does).
    pub fn conditioning_at(&self, pos: usize) -> (f32, f32) {
        (self.f0_hz[pos], self.loudness_db[pos])
    }

    /// Fills the conditioning for `pos..` up to `n`, stopping early at the sample where the voice
    /// falls silent or its steal fade ends. Returns the end of the span.
    fn condition(&mut self, pos: usize, n: usize, shared: &Shared) -> usize {
        let s = &shared.settings;
        let sr = shared.sample_rate_hz;
        let gate_step = 1.0 / (IDLE_FADE_MS * 0.001 * sr);
        let fade_step = 1.0 / (STEAL_FADE_MS * 0.001 * sr);
        let gain_coeff = 1.0 - (-1.0 / (super::GAIN_SMOOTHING_MS * 0.001 * sr)).exp();
        let vibrato_step = s.vibrato_rate_hz / sr;
        let hop_samples = self.live.voice().frame_hop_samples() as f32;
        // Pressure, once a note has it, sets its loudness position instead of the velocity
        // (unless it moves the morph).
        let pressure = if s.morph_source == MorphSource::Pressure { -1.0 } else { self.pressure };
        let position = if pressure >= 0.0 { pressure } else { self.velocity }.clamp(0.0, 1.0).powf(s.velocity_curve);
        let base_db_of = |model: &Model| {
            let meta = &model.meta;
            meta.loudness_min_db + (meta.loudness_max_db - meta.loudness_min_db) * position
        };
        let base_db = base_db_of(self.live.model());
        // A model swapping in hears the same position in its own range.
        let incoming_offset_db = self.live.incoming_model().map_or(0.0, |m| base_db_of(m) - base_db);
        self.live.set_incoming_loudness_offset(incoming_offset_db);
        let bend = shared.bend_semitones + self.note_bend + self.tuning;
        // exp2 and log10 per sample are a tenth of a held voice's cost: recompute them only when
        // their argument changes (a steady note, a sustained envelope), so the values are exact.
        let (mut memo_pitch, mut memo_f0) = (f32::NAN, 0.0);
        let (mut memo_env, mut memo_env_db) = (f32::NAN, 0.0);
        for i in pos..n {
            let gate_target = if self.envelope.is_active() { 1.0 } else { 0.0 };
            self.idle_gate += (gate_target - self.idle_gate).clamp(-gate_step, gate_step);
            if self.fading {
                self.fade = (self.fade - fade_step).max(0.0);
            }
            self.volume_smoothed += (self.volume - self.volume_smoothed) * gain_coeff;
            self.gain[i] = self.idle_gate * self.fade * self.volume_smoothed;
            if self.pitch != self.target_pitch {
                let d = self.target_pitch - self.pitch;
                self.pitch = if d.abs() <= self.glide_step {
                    self.target_pitch
                } else {
                    self.pitch + self.glide_step * d.signum()
                };
            }
            let vibrato = if shared.vibrato_semitones == 0.0 {
                0.0
            } else {
                shared.vibrato_semitones * (core::f32::consts::TAU * self.vibrato_phase).sin()
            };
            self.vibrato_phase = (self.vibrato_phase + vibrato_step).fract();
            let pitch = self.pitch + bend + vibrato;
            if pitch != memo_pitch {
                (memo_pitch, memo_f0) = (pitch, 440.0 * ((pitch - 69.0) / 12.0).exp2());
            }
            self.f0_hz[i] = memo_f0;
            // The model's controls glide to their target over one frame: condition it on where
            // the envelope will be at the frame's end, so the sound is not a frame late.
            self.envelope.next();
            let env = self.envelope.predict(hop_samples);
            if env != memo_env {
                memo_env = env;
                memo_env_db = if env > 1e-6 { 20.0 * env.log10() } else { LOUDNESS_FLOOR_DB };
            }
            let env_db = memo_env_db;
            self.loudness_db[i] = (base_db + env_db + shared.expression_db).max(LOUDNESS_FLOOR_DB);
            let silent = !self.envelope.is_active() && self.idle_gate <= 0.0;
            if (self.fading && self.fade <= 0.0) || silent {
                return i + 1;
            }
        }
        n
    }

    /// The voice's harmonic/noise levels: the user's, balanced by its brightness (0.5 neutral,
    /// 1 harmonics only, 0 noise only).
    fn levels(&self, shared: &Shared) -> VoiceLevels {
        let brightness = if shared.settings.morph_source == MorphSource::Timbre {
            0.5
        } else if self.brightness >= 0.0 {
            self.brightness
        } else {
            shared.brightness
        };
        let b = if brightness.is_finite() { brightness.clamp(0.0, 1.0) } else { 0.5 };
        let levels = shared.settings.levels;
        VoiceLevels {
            harmonic_gain: levels.harmonic_gain * (2.0 * b).min(1.0),
            noise_gain: levels.noise_gain * (2.0 * (1.0 - b)).min(1.0),
        }
    }

    /// Where this voice's morph sits: the set position, its `x` moved by the morph source (this
    /// note's timbre or pressure when it has one, else the channel's latest value).
    fn morph_position(&self, shared: &Shared) -> MorphPosition {
        let s = &shared.settings;
        let own = match s.morph_source {
            MorphSource::Timbre if self.brightness >= 0.0 => Some(self.brightness),
            MorphSource::Pressure if self.pressure >= 0.0 => Some(self.pressure),
            MorphSource::Off => None,
            _ => shared.morph_value,
        };
        MorphPosition { x: own.unwrap_or(s.morph.x), y: s.morph.y }
    }
}
