//! Timbre transfer: an audio input's tracked pitch and loudness condition the model, whose voice
//! replaces (or mixes with) the input. The engine of the effect plugin and of `ddsp render` on audio.
//!
//! Signal path:
//!
//! ```text
//! in ─┬─ tracker (f0, confidence, loudness per 1 ms) ─ pitch correction (raw / scale) ─┬─ MIDI out
//!     │     ─ input pitch / gain (conditioning: raw or corrected pitch) ─ model           │ (notes, bends)
//!     │     ─ voice (harmonics at corrected f0 · pitch shift, noise) ─ unvoiced gate ─ wet ┐
//!     └─ delay (the reported latency) ───────────────────────────────────────────── dry ─ mix ─ gain ─ out
//! ```
//!
//! MIDI out (see [`crate::tracking::notes`]) follows the pitch that is played (corrected, shifted)
//! and the loudness the model hears as a position in its trained range, as the instrument maps
//! velocity; [`TimbreTransfer::drain_midi_out`] hands the messages to the host after each block.
//!
//! Latency: the wet path answers an input change after at most half the loudness window (≤ 2 ms
//! for notes from 250 Hz up), plus on average half a model frame of waiting for the next frame
//! start, the controls then gliding to their new values over half a frame. Reported: `2 ms + ½
//! frame`, 4 ms at 250 frames/s (plus a windowed model's own delay); measured over all frame
//! phases, a dynamics step comes out 3.1 ms later on average (`tests/effect.rs`). It is reported to the host
//! and the dry path is delayed by exactly as much, so dry/wet stays phase-aligned. Note onsets from
//! silence also wait for the pitch to lock (6 ms above 440 Hz, two periods below); a model's own
//! attack is part of its timbre, not of the latency.
//!
//! That is the pitch of notes from ~300 Hz up: a lower note's pitch is known later (the tracker
//! sees a period twice: a pitch in motion within a note 5.9 ms at 220 Hz, 10.4 ms at 110 Hz, a
//! new note's first pitch 8.7 and 15.0 ms). Pitch-aligned
//! ([`EffectSettings::align_pitch_down_to_hz`]) the tracker's frames are re-timed
//! ([`crate::tracking::align`]) so that pitch, voicing and loudness all describe the input the
//! delay of a new note's pitch at that note ago (the loudness half a model frame less: waiting for
//! the next frame adds it back); that delay is the reported latency, and the host's compensation
//! lines up every note down to that one, MIDI out included.

use std::sync::Arc;

use crate::model::{Model, LOUDNESS_FLOOR_DB};
use crate::morph::MorphPosition;
use crate::swap::{SwapReceiver, VoiceSpec};
use crate::tracking::correction::hz_to_semitones;
use crate::tracking::{
    CorrectionSettings, FrameAligner, MidiOutSettings, NoteFrame, NoteSegmenter, PitchCorrector, PitchSettings,
    TimedMidiOut, Tracker, TrackerFrame,
};
use crate::voice::{LiveVoice, Voice, VoiceLevels, MAX_CHUNK};

/// What the voice does while the input has no pitch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnvoicedMode {
    /// Keep playing at the last pitch; the loudness follows the input (breath noise, decays).
    Hold,
    /// Fade the wet signal out until a pitch returns.
    Fade,
    /// Silence the harmonics, let the model's noise through (consonants, breath).
    Noise,
}

/// The effect's controls, in plain units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EffectSettings {
    /// Shifts the pitch the model is conditioned on (not what is synthesised), semitones.
    pub input_pitch_semitones: f32,
    /// Added to the loudness the model is conditioned on, dB.
    pub input_gain_db: f32,
    /// Shifts what is synthesised, semitones.
    pub pitch_shift_semitones: f32,
    pub levels: VoiceLevels,
    /// Confidence (0..1) below which the input counts as unvoiced.
    pub gate_threshold: f32,
    pub unvoiced: UnvoicedMode,
    /// 0 = dry only, 1 = wet only.
    pub dry_wet: f32,
    /// Linear output gain.
    pub output_gain: f32,
    /// Where a morph of several models sits (see [`crate::morph`]); ignored with one model.
    pub morph: MorphPosition,
    /// Raw or corrected to a scale, smoothing (what is played and sent as MIDI).
    pub pitch: CorrectionSettings,
    /// The model is conditioned on the corrected pitch (`true`) or on the raw tracked one, so it
    /// can hear the voice's own intonation while playing the corrected pitch.
    pub model_hears_corrected: bool,
    pub midi_out: MidiOutSettings,
    /// Pitch-aligned latency: the lowest note (Hz) whose pitch reaches the output at the reported
    /// latency, as its loudness does; the latency grows to the delay of a new note's pitch there
    /// (see [`crate::tracking::align`]). 0: the lowest latency (loudness and the pitch of notes from
    /// ~300 Hz up at 4 ms, lower notes' pitch later).
    pub align_pitch_down_to_hz: f32,
}

impl Default for EffectSettings {
    fn default() -> Self {
        Self {
            input_pitch_semitones: 0.0,
            input_gain_db: 0.0,
            pitch_shift_semitones: 0.0,
            levels: VoiceLevels::default(),
            gate_threshold: 0.5,
            unvoiced: UnvoicedMode::Fade,
            dry_wet: 1.0,
            output_gain: 1.0,
            morph: MorphPosition::default(),
            pitch: CorrectionSettings::default(),
            model_hears_corrected: true,
            midi_out: MidiOutSettings::default(),
            align_pitch_down_to_hz: 0.0,
        }
    }
}

/// Channels the dry path keeps (the analysis folds them to mono).
pub const MAX_CHANNELS: usize = 2;

/// Gate and gain glide times.
const GATE_MS: f32 = 10.0;
const GAIN_SMOOTHING_MS: f32 = 10.0;
/// The voice's controls glide over half a frame (the instrument's over a whole one): the wet path
/// answers half a frame sooner, and a 2 ms glide is still far too slow to be heard as a step.
const CONTROL_GLIDE: f32 = 0.5;
/// Seed of the effect voice's noise (reproducible bounces).
const EFFECT_SEED: u32 = 0x7E_55E7;
/// The dry delay line's capacity, seconds: room for any model's latency, so a live model swap
/// that changes the latency needs no reallocation.
const MAX_LATENCY_S: f64 = 1.0;
/// MIDI out messages held between two [`TimbreTransfer::drain_midi_out`] calls: a block of 48,000
/// samples at 48 kHz (1,000 tracker frames) sends at most ~3 per frame (off, bend, on) and only
/// notes need room to be guaranteed (see [`NoteSegmenter::frame`]).
pub const MAX_MIDI_OUT: usize = 4096;

/// Lifecycle: [`TimbreTransfer::new`] allocates; `process`, `set_settings` and `reset` never do.
/// The model changes live through [`TimbreTransfer::attach_swap_receiver`] (no audio restart);
/// when the new model's latency differs, [`TimbreTransfer::latency_samples`] says so from then on
/// and the dry path follows.
pub struct TimbreTransfer {
    tracker: Tracker,
    voice: LiveVoice,
    swap: Option<SwapReceiver>,
    settings: EffectSettings,
    sample_rate_hz: f32,
    latency_samples: usize,
    /// Pitch-aligned: the pitch and loudness targets (samples, see [`FrameAligner::aligned`]) and
    /// the setting they were made for.
    align: Option<(f64, f64)>,
    align_hz: f32,
    aligner: FrameAligner,
    /// Dry delay lines (rings of [`MAX_LATENCY_S`], one per channel) and the shared write position.
    dry: [Vec<f32>; MAX_CHANNELS],
    dry_pos: usize,
    frame: TrackerFrame,
    held_f0_hz: f32,
    /// The corrected pitch of the last voiced frame (0 before the first).
    held_played_hz: f32,
    corrector: PitchCorrector,
    segmenter: NoteSegmenter,
    /// MIDI out since the last drain, stamped with `block_pos`-relative samples.
    midi_out: Box<[TimedMidiOut]>,
    midi_out_len: usize,
    /// Samples processed since the last drain.
    block_pos: usize,
    gate: f32,
    output_gain: f32,
    dry_wet: f32,
    model_f0: [f32; MAX_CHUNK],
    synth_f0: [f32; MAX_CHUNK],
    loudness: [f32; MAX_CHUNK],
    gates: [f32; MAX_CHUNK],
    wet: [f32; MAX_CHUNK],
}

impl TimbreTransfer {
    /// Prepares tracker, voice and delay line for `model` at `sample_rate_hz`. Allocates.
    pub fn new(model: Arc<Model>, sample_rate_hz: f32, settings: EffectSettings) -> Self {
        let meta = &model.meta;
        let pitch = PitchSettings {
            f0_min_hz: meta.f0_min_hz.min(60.0),
            f0_max_hz: meta.f0_max_hz.max(1_000.0),
            ..PitchSettings::default()
        };
        let tracker = Tracker::new(sample_rate_hz, pitch);
        let (latency_samples, align) = Self::timing(&model, &tracker, sample_rate_hz, settings.align_pitch_down_to_hz);
        let capacity = latency_samples.max((MAX_LATENCY_S * f64::from(sample_rate_hz)) as usize) + 1;
        let spec = Self::spec(sample_rate_hz);
        let hop_s = tracker.hop_samples() as f32 / sample_rate_hz;
        let unused = TimedMidiOut { at: 0, event: crate::tracking::MidiOut::NoteOff { channel: 0, key: 0 } };
        let mut effect = Self {
            tracker,
            voice: LiveVoice::new(spec.build(model, 0), sample_rate_hz),
            swap: None,
            settings,
            sample_rate_hz,
            latency_samples,
            align,
            align_hz: settings.align_pitch_down_to_hz,
            aligner: FrameAligner::new(),
            dry: std::array::from_fn(|_| vec![0.0; capacity]),
            dry_pos: 0,
            frame: TrackerFrame::default(),
            held_f0_hz: 0.0,
            held_played_hz: 0.0,
            corrector: PitchCorrector::new(hop_s),
            segmenter: NoteSegmenter::new(hop_s),
            midi_out: vec![unused; MAX_MIDI_OUT].into_boxed_slice(),
            midi_out_len: 0,
            block_pos: 0,
            gate: 0.0,
            output_gain: settings.output_gain,
            dry_wet: settings.dry_wet,
            model_f0: [0.0; MAX_CHUNK],
            synth_f0: [0.0; MAX_CHUNK],
            loudness: [0.0; MAX_CHUNK],
            gates: [0.0; MAX_CHUNK],
            wet: [0.0; MAX_CHUNK],
        };
        effect.reset();
        effect
    }

    /// The latency (samples) and, pitch-aligned, the frame aligner's pitch and loudness targets:
    /// `2 ms + ½ frame`, or aligned the delay of a new note's pitch at `align_hz` if that is longer,
    /// plus a windowed model's own delay (see the module's documentation). The voice plays each frame's
    /// pitch from the sample it has it, and its loudness half a frame later on average (the next
    /// model frame): the loudness's target is half a frame shorter.
    fn timing(model: &Model, tracker: &Tracker, sample_rate_hz: f32, align_hz: f32) -> (usize, Option<(f64, f64)>) {
        let sr = f64::from(sample_rate_hz);
        let half_frame = 0.5 / f64::from(model.meta.frame_rate_hz) * sr;
        let low = (0.002 * sr + half_frame).round();
        let own = model.latency_samples(sample_rate_hz) as usize;
        if !(align_hz.is_finite() && align_hz > 0.0) {
            return (low as usize + own, None);
        }
        let pitch = tracker.pitch();
        let lowest = align_hz.clamp(pitch.settings().f0_min_hz, pitch.settings().f0_max_hz);
        let target = tracker.step_delay_samples(lowest).round().max(low);
        (target as usize + own, Some((target, target - half_frame)))
    }

    fn spec(sample_rate_hz: f32) -> VoiceSpec {
        VoiceSpec { sample_rate_hz, voices: 1, seed: EFFECT_SEED, control_glide: CONTROL_GLIDE }
    }

    /// How the effect's voice is built (for a [`crate::swap::ModelLoader`]).
    pub fn voice_spec(&self) -> VoiceSpec {
        Self::spec(self.sample_rate_hz)
    }

    /// Connects the audio-thread end of a [`crate::swap::swap_channel`]: models change live.
    pub fn attach_swap_receiver(&mut self, receiver: SwapReceiver) {
        self.swap = Some(receiver);
    }

    /// True while a model swap is under way.
    pub fn is_swapping(&self) -> bool {
        self.swap.as_ref().is_some_and(SwapReceiver::is_busy)
    }

    /// Samples between an input change and the output's answer; the dry path is delayed as much.
    pub fn latency_samples(&self) -> u32 {
        self.latency_samples as u32
    }

    pub fn settings(&self) -> &EffectSettings {
        &self.settings
    }

    /// Takes effect from the next sample; gains glide.
    pub fn set_settings(&mut self, settings: EffectSettings) {
        self.settings = settings;
    }

    /// The voice (its model and current controls, for the editor).
    pub fn voice(&self) -> &Voice {
        self.voice.voice()
    }

    /// The pitch played (corrected, before the pitch shift) while the input is voiced; 0 while not.
    pub fn played_hz(&self) -> f32 {
        if self.frame.voiced {
            self.held_played_hz
        } else {
            0.0
        }
    }

    /// The note MIDI out holds, if any.
    pub fn midi_out_key(&self) -> Option<u8> {
        self.segmenter.sounding().map(|(_, key)| key)
    }

    /// The latest analysis frame (for meters and the editor).
    pub fn tracked(&self) -> &TrackerFrame {
        &self.frame
    }

    /// Hands the MIDI out messages since the last call to `sink`, oldest first, each stamped with
    /// its sample counted from the first one processed after the last call (a host calls this
    /// after every block, so `at` is the sample in that block). Never allocates.
    pub fn drain_midi_out(&mut self, mut sink: impl FnMut(TimedMidiOut)) {
        self.midi_out[..self.midi_out_len].iter().for_each(|e| sink(*e));
        self.midi_out_len = 0;
        self.block_pos = 0;
    }

    /// Ends the note MIDI out holds, if any, at the next sample (transport stop). A note starts
    /// again at the next voiced frame.
    pub fn end_midi_out_notes(&mut self) {
        let (queue, len, at) = (&mut self.midi_out, &mut self.midi_out_len, self.block_pos);
        self.segmenter.end(&mut |event| push_midi(queue, len, at, event));
    }

    /// Silence and state zeroed; a note MIDI out held is ended (its note off waits for the next
    /// [`TimbreTransfer::drain_midi_out`]).
    pub fn reset(&mut self) {
        self.end_midi_out_notes();
        self.segmenter.reset();
        self.corrector.reset();
        self.held_played_hz = 0.0;
        self.tracker.reset();
        self.aligner.reset();
        self.voice.set_morph_target(self.settings.morph, true);
        self.voice.reset();
        self.dry.iter_mut().flatten().for_each(|v| *v = 0.0);
        self.dry_pos = 0;
        self.frame = TrackerFrame { loudness_db: LOUDNESS_FLOOR_DB, ..TrackerFrame::default() };
        self.held_f0_hz = 0.0;
        self.gate = 0.0;
    }

    /// Processes mono `input` into `output` (same length). Never allocates.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        let n = input.len().min(output.len());
        output[..n].copy_from_slice(&input[..n]);
        self.process_in_place(&mut [&mut output[..n]]);
    }

    /// Processes one or two channels in place: the analysis hears their mean, each channel keeps
    /// its own delayed dry signal, the wet voice is the same on both. Channels beyond
    /// [`MAX_CHANNELS`] are left as they are. Never allocates.
    pub fn process_in_place(&mut self, channels: &mut [&mut [f32]]) {
        let _ftz = crate::denormals::ScopedFlushDenormals::new();
        let n_channels = channels.len().min(MAX_CHANNELS);
        if n_channels == 0 {
            return;
        }
        let channels = &mut channels[..n_channels];
        let s = self.settings;
        let n_total = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        let input_ratio = (s.input_pitch_semitones.clamp(-48.0, 48.0) / 12.0).exp2();
        let shift_ratio = (s.pitch_shift_semitones.clamp(-48.0, 48.0) / 12.0).exp2();
        let input_gain_db = if s.input_gain_db.is_finite() { s.input_gain_db.clamp(-60.0, 60.0) } else { 0.0 };
        let gate_step = 1.0 / (GATE_MS * 0.001 * self.sample_rate_hz);
        let smoothing = 1.0 - (-1.0 / (GAIN_SMOOTHING_MS * 0.001 * self.sample_rate_hz)).exp();
        if let Some(swap) = &mut self.swap {
            let audible = self.gate > 0.0;
            if let Some(model) = swap.poll(core::iter::once((&mut self.voice, audible))) {
                self.retime(&model);
            }
        }
        if s.align_pitch_down_to_hz.to_bits() != self.align_hz.to_bits() {
            self.align_hz = s.align_pitch_down_to_hz;
            self.retime(&self.voice.model().clone());
        }
        let fallback_f0 = self.voice.model().meta.f0_min_hz;
        self.voice.set_morph_target(s.morph, false);
        let fold = 1.0 / n_channels as f32;
        let mut start = 0;
        while start < n_total {
            let n = (n_total - start).min(MAX_CHUNK);
            for i in 0..n {
                let x = channels.iter().map(|c| c[start + i]).sum::<f32>() * fold;
                let (frame, mut new_frame) = (&mut self.frame, false);
                self.tracker.process(core::slice::from_ref(&x), |f| {
                    *frame = *f;
                    new_frame = true;
                });
                if new_frame {
                    // Every frame is stamped (switching to the aligned mode finds the ring full).
                    let (f, tracker) = (&self.frame, &self.tracker);
                    let f0 = f.f0_hz.max(0.0);
                    let pitch_delay = if f0 > 0.0 {
                        tracker.latest_pitch_delay_samples()
                    } else {
                        tracker.loudness_delay_samples(0.0)
                    };
                    self.aligner.push(f, pitch_delay, tracker.loudness_delay_samples(f0));
                    if let Some((pitch, loudness)) = self.align {
                        self.frame = self.aligner.aligned(pitch, loudness, LOUDNESS_FLOOR_DB);
                    }
                }
                let voiced = self.frame.voiced && self.frame.confidence >= s.gate_threshold;
                self.loudness[i] = (self.frame.loudness_db + input_gain_db).max(LOUDNESS_FLOOR_DB);
                if new_frame {
                    self.correct_and_send(voiced, self.loudness[i], self.block_pos + start + i);
                }
                if voiced {
                    self.held_f0_hz = self.frame.f0_hz;
                }
                let f0 = if self.held_f0_hz > 0.0 { self.held_f0_hz } else { fallback_f0 };
                let played = if self.held_played_hz > 0.0 { self.held_played_hz } else { f0 };
                self.model_f0[i] = if s.model_hears_corrected { played } else { f0 } * input_ratio;
                self.synth_f0[i] = played * shift_ratio;
                let target =
                    if voiced || s.unvoiced == UnvoicedMode::Hold && self.held_f0_hz > 0.0 { 1.0 } else { 0.0 };
                self.gate += (target - self.gate).clamp(-gate_step, gate_step);
                self.gates[i] = self.gate;
            }
            let mut levels = s.levels;
            if s.unvoiced == UnvoicedMode::Noise {
                levels.harmonic_gain *= self.gates[0];
            }
            let wet = &mut self.wet[..n];
            self.voice.process_shifted(&self.model_f0[..n], &self.synth_f0[..n], &self.loudness[..n], levels, wet);
            let dry_wet_target = if s.dry_wet.is_finite() { s.dry_wet.clamp(0.0, 1.0) } else { 1.0 };
            let gain_target = if s.output_gain.is_finite() { s.output_gain.clamp(0.0, 16.0) } else { 0.0 };
            let len = self.dry[0].len();
            let delay = self.latency_samples;
            for i in 0..n {
                let wet_gate = if s.unvoiced == UnvoicedMode::Noise { 1.0 } else { self.gates[i] };
                self.dry_wet += (dry_wet_target - self.dry_wet) * smoothing;
                self.output_gain += (gain_target - self.output_gain) * smoothing;
                let wet = self.dry_wet * self.wet[i] * wet_gate;
                let next = (self.dry_pos + 1) % len;
                let read = (self.dry_pos + len - delay) % len;
                for (channel, ring) in channels.iter_mut().zip(&mut self.dry) {
                    // NaN or infinite input stays out of the output (the analysis already drops it).
                    let x = channel[start + i];
                    ring[self.dry_pos] = if x.is_finite() { x } else { 0.0 };
                    // The sample from `latency` samples ago.
                    let dry = ring[read];
                    channel[start + i] = ((1.0 - self.dry_wet) * dry + wet) * self.output_gain;
                }
                self.dry_pos = next;
            }
            start += n;
        }
        self.block_pos += n_total;
    }

    /// The latency and the aligner's targets for `model` and the current alignment setting; the
    /// dry path follows from the next sample.
    fn retime(&mut self, model: &Model) {
        let (latency, align) = Self::timing(model, &self.tracker, self.sample_rate_hz, self.align_hz);
        self.latency_samples = latency.min(self.dry[0].len() - 1);
        self.align = align;
    }

    /// A new tracker frame: its pitch corrected (held while unvoiced), then MIDI out's note,
    /// bend and pressure for the pitch played (shifted) and `loudness_db` (what the model hears),
    /// queued at sample `at` (counted from the last drain).
    fn correct_and_send(&mut self, voiced: bool, loudness_db: f32, at: usize) {
        let s = &self.settings;
        let played = self.corrector.frame(voiced.then_some(self.frame.f0_hz), &s.pitch);
        if let Some(played) = played {
            self.held_played_hz = played;
        }
        let shift = s.pitch_shift_semitones.clamp(-48.0, 48.0);
        let pitch = played.map(|hz| hz_to_semitones(hz) + shift);
        // Corrected, the note is the scale's (shifted): the bend carries the retune.
        let key = self.corrector.note(&s.pitch).map(|n| (n + shift).round().clamp(0.0, 127.0) as u8);
        let meta = &self.voice.model().meta;
        let position = (loudness_db - meta.loudness_min_db) / (meta.loudness_max_db - meta.loudness_min_db);
        let (queue, len) = (&mut self.midi_out, &mut self.midi_out_len);
        let room = MAX_MIDI_OUT - *len;
        let input = NoteFrame { pitch, confidence: self.frame.confidence, key, loudness_db, level: position };
        self.segmenter.frame(input, &s.midi_out, room, &mut |event| push_midi(queue, len, at, event));
    }
}

/// Queues one MIDI out message (the segmenter only emits what its `room` allows).
fn push_midi(queue: &mut [TimedMidiOut], len: &mut usize, at: usize, event: crate::tracking::MidiOut) {
    if let Some(slot) = queue.get_mut(*len) {
        *slot = TimedMidiOut { at, event };
        *len += 1;
    }
}
