//! One engine for every host: the instrument and the effect behind one trait, so the CLAP and
//! VST3 plugins, the standalone apps, every `ddsp` command and an embedding application drive the
//! same code and get the same samples from the same events.
//!
//! ```text
//! host block + events ─ Engine::process: render up to each event's sample, apply it, go on ─ out
//! ```
//!
//! Lifecycle: [`Engine::prepare`] allocates (call it off the audio thread, at activation);
//! [`Engine::process`], [`Engine::handle`], [`Engine::set_settings`] and [`Engine::reset`] never
//! allocate, lock or wait.

use std::ops::Range;
use std::sync::Arc;

use crate::effect::{EffectSettings, TimbreTransfer};
use crate::instrument::{Instrument, InstrumentEvent, InstrumentSettings};
use crate::model::Model;
use crate::swap::{SwapReceiver, VoiceSpec};
use crate::tracking::TimedMidiOut;
use crate::voice::Voice;

/// An event at a sample of the block being processed, from a MIDI channel (0-based).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimedEvent {
    pub at: usize,
    pub channel: u8,
    pub event: InstrumentEvent,
}

impl TimedEvent {
    /// An event on channel 0.
    pub fn new(at: usize, event: InstrumentEvent) -> Self {
        Self { at, channel: 0, event }
    }
}

/// What the editor shows of a running engine.
#[derive(Clone, Copy)]
pub struct EngineView<'a> {
    /// The voice whose controls the performance view draws (the last note started; the effect's).
    pub voice: &'a Voice,
    /// Pitch and loudness the model was last conditioned on.
    pub f0_hz: f32,
    pub loudness_db: f32,
    /// Tracking confidence (1 for notes).
    pub confidence: f32,
    pub sounding: bool,
    /// Bit `i` set: voice `i` is running.
    pub voice_activity: u32,
    /// The pitch played: the effect's corrected pitch (its input's with correction off), the
    /// instrument's `f0_hz`.
    pub played_hz: f32,
    /// The note the effect's MIDI out holds.
    pub midi_out_key: Option<u8>,
}

/// The instrument or the effect, as a host drives it.
pub trait Engine: Send {
    type Settings: Copy + Send;

    /// Builds the engine for `model` at `sample_rate_hz` (blocks of any length are processed:
    /// longer ones in internal chunks). Allocates.
    fn prepare(model: Arc<Model>, sample_rate_hz: f32, settings: Self::Settings) -> Self
    where
        Self: Sized;

    /// Takes effect from the next sample; gains glide.
    fn set_settings(&mut self, settings: Self::Settings);

    /// Samples between an input (event or audio) and the output's answer.
    fn latency_samples(&self) -> u32;

    /// Silence, no notes, state zeroed: the next output repeats the first exactly.
    fn reset(&mut self);

    /// Applies one event at the current sample.
    fn handle(&mut self, channel: u8, event: InstrumentEvent);

    /// Processes `range` of every channel: the instrument writes its output there (overwriting),
    /// the effect reads its input there and writes its output in place.
    fn process_range(&mut self, channels: &mut [&mut [f32]], range: Range<usize>);

    /// How the engine's voices are built, for a [`crate::swap::ModelLoader`].
    fn voice_spec(&self) -> VoiceSpec;

    /// Connects the audio-thread end of a swap channel: models then change live, click-free.
    fn attach_swap_receiver(&mut self, receiver: SwapReceiver);

    /// The model playing.
    fn model(&self) -> &Arc<Model>;

    fn view(&self) -> EngineView<'_>;
    /// Hands the MIDI the engine sent since the last call to `sink` (the effect's MIDI out; the
    /// instrument sends none), each stamped with its sample counted from the first processed
    /// after that call: a host calls it after every block. Never allocates.
    fn drain_midi_out(&mut self, _sink: impl FnMut(TimedMidiOut)) {}
    /// Ends every note the engine's MIDI out holds, at the next sample (transport stop).
    fn end_midi_out_notes(&mut self) {}

    /// Processes a block with `events` (sorted by `at`) applied at their sample: the one
    /// event-splitting loop of every host. The channels' common length is the block; an event
    /// past its end is applied at the end.
    fn process(&mut self, events: impl IntoIterator<Item = TimedEvent>, channels: &mut [&mut [f32]]) {
        let n = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        let mut pos = 0;
        for e in events {
            let at = e.at.clamp(pos, n);
            if at > pos {
                self.process_range(channels, pos..at);
                pos = at;
            }
            self.handle(e.channel, e.event);
        }
        if n > pos {
            self.process_range(channels, pos..n);
        }
    }
}

/// A mono engine's `process_range`: `render` writes `range` of the first channel, which is copied
/// to the others.
pub(crate) fn render_mono(channels: &mut [&mut [f32]], range: Range<usize>, render: impl FnOnce(&mut [f32])) {
    let Some((first, rest)) = channels.split_first_mut() else { return };
    let first = &mut first[range.clone()];
    render(first);
    for channel in rest {
        channel[range.clone()].copy_from_slice(first);
    }
}

/// Makes a freshly prepared (or reset) engine play a morph of `models` (place order A, B, C, D;
/// `None` where one is missing; see [`crate::morph`]) from its first sample, through the same
/// swap path a loader uses: the voices are built, handed over while every voice is silent, and the
/// engine is reset (its clocks back at zero). For offline renderers and tests; a live host sends a
/// [`crate::swap::VoiceSet`] from its loader instead. Replaces a swap receiver attached before.
/// Returns false (and changes nothing) when no model is present. Allocates.
pub fn play_morph_now(engine: &mut impl Engine, models: &[Option<Arc<Model>>]) -> bool {
    let Some(set) = crate::swap::VoiceSet::build_morph(models, &engine.voice_spec()) else { return false };
    let (mut sender, receiver) = crate::swap::swap_channel();
    engine.attach_swap_receiver(receiver);
    if sender.send(set).is_err() {
        return false;
    }
    settle_swaps(engine);
    sender.collect_garbage();
    true
}

/// Lets a silent engine (prepared or reset, before its first sample) take the model or morph a
/// loader has just queued, at once and whole, then starts it over from silence (clocks at zero): a
/// host's first note then plays the new voices from their first frame instead of crossfading to
/// them. Two one-sample blocks of silence: the first takes the set, the second sends the old
/// voices back. Allocates nothing; call it where a host may block (activation).
pub fn settle_swaps(engine: &mut impl Engine) {
    let mut scratch = [0.0f32; 1];
    for _ in 0..2 {
        scratch[0] = 0.0;
        engine.process(core::iter::empty(), &mut [&mut scratch]);
    }
    engine.reset();
}

/// Renders mono `out` with `events` (sample offset, event on channel 0) applied at their sample.
pub fn render_with_events(engine: &mut impl Engine, out: &mut [f32], events: &[(usize, InstrumentEvent)]) {
    engine.process(events.iter().map(|&(at, event)| TimedEvent::new(at, event)), &mut [out]);
}

impl Engine for Instrument {
    type Settings = InstrumentSettings;

    fn prepare(model: Arc<Model>, sample_rate_hz: f32, settings: InstrumentSettings) -> Self {
        Instrument::new(model, sample_rate_hz, settings)
    }
    fn set_settings(&mut self, settings: InstrumentSettings) {
        Instrument::set_settings(self, settings);
    }
    fn latency_samples(&self) -> u32 {
        Instrument::latency_samples(self)
    }
    fn reset(&mut self) {
        Instrument::reset(self);
    }
    fn handle(&mut self, channel: u8, event: InstrumentEvent) {
        self.handle_on(channel, event);
    }
    /// Renders mono into the first channel and copies it to the others.
    fn process_range(&mut self, channels: &mut [&mut [f32]], range: Range<usize>) {
        render_mono(channels, range, |out| self.render(out));
    }
    fn voice_spec(&self) -> VoiceSpec {
        Instrument::voice_spec(self)
    }
    fn attach_swap_receiver(&mut self, receiver: SwapReceiver) {
        Instrument::attach_swap_receiver(self, receiver);
    }
    fn model(&self) -> &Arc<Model> {
        Instrument::model(self)
    }
    fn view(&self) -> EngineView<'_> {
        let (f0_hz, loudness_db, sounding) = self.played();
        EngineView {
            voice: self.voice(),
            f0_hz,
            loudness_db,
            confidence: if sounding { 1.0 } else { 0.0 },
            sounding,
            voice_activity: self.voice_activity(),
            played_hz: f0_hz,
            midi_out_key: None,
        }
    }
}

impl Engine for TimbreTransfer {
    type Settings = EffectSettings;

    fn prepare(model: Arc<Model>, sample_rate_hz: f32, settings: EffectSettings) -> Self {
        TimbreTransfer::new(model, sample_rate_hz, settings)
    }
    fn set_settings(&mut self, settings: EffectSettings) {
        TimbreTransfer::set_settings(self, settings);
    }
    fn latency_samples(&self) -> u32 {
        TimbreTransfer::latency_samples(self)
    }
    fn reset(&mut self) {
        TimbreTransfer::reset(self);
    }
    /// The effect plays what it hears; MIDI does not drive it.
    fn handle(&mut self, _channel: u8, _event: InstrumentEvent) {}
    fn process_range(&mut self, channels: &mut [&mut [f32]], range: Range<usize>) {
        match channels {
            [] => {}
            [a] => self.process_in_place(&mut [&mut a[range]]),
            [a, b, ..] => self.process_in_place(&mut [&mut a[range.clone()], &mut b[range]]),
        }
    }
    fn voice_spec(&self) -> VoiceSpec {
        TimbreTransfer::voice_spec(self)
    }
    fn attach_swap_receiver(&mut self, receiver: SwapReceiver) {
        TimbreTransfer::attach_swap_receiver(self, receiver);
    }
    fn model(&self) -> &Arc<Model> {
        self.voice().model()
    }
    fn drain_midi_out(&mut self, sink: impl FnMut(TimedMidiOut)) {
        TimbreTransfer::drain_midi_out(self, sink);
    }
    fn end_midi_out_notes(&mut self) {
        TimbreTransfer::end_midi_out_notes(self);
    }
    fn view(&self) -> EngineView<'_> {
        let tracked = self.tracked();
        EngineView {
            voice: self.voice(),
            f0_hz: tracked.f0_hz,
            loudness_db: tracked.loudness_db,
            confidence: tracked.confidence,
            sounding: tracked.voiced,
            voice_activity: u32::from(tracked.voiced),
            played_hz: self.played_hz(),
            midi_out_key: self.midi_out_key(),
        }
    }
}
