//! Offline jobs on the one engine, shared by `ddsp` and the Python package so both give the same
//! samples: a MIDI phrase through the instrument, audio through timbre transfer (each then through
//! the mastering chain), and the real-time tracker over a recording.
//!
//! Renders run models in [`RunMode::Offline`] (every frame computed, none skipped) with seeded
//! noise, so two renders of the same input are identical.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use ddsp_core::effect::{EffectSettings, TimbreTransfer};
use ddsp_core::master::{trim_gain, MasterChain, MasterPreset, MasterSettings, Quality};
use ddsp_core::model::RunMode;
use ddsp_core::tracking::{PitchSettings, Tracker, TrackerFrame};
use ddsp_core::{BuiltInModel, Engine, Instrument, InstrumentSettings, Model, ModelChoice, ModelLibrary, TimedEvent};

use crate::midi::Phrase;

/// Samples per engine call: events are still applied at their exact sample.
const BLOCK: usize = 4096;

/// Default tail after the last MIDI event: release and reverb.
pub const MIDI_TAIL_S: f64 = 2.0;

/// A model by file path, library name (built-in models included) or `default` / `None` (the
/// embedded default), in `mode`, its weights stored in the process's precision
/// ([`ddsp_core::model::precision`]).
pub fn load_model(spec: Option<&str>, mode: RunMode) -> Result<Model> {
    let model = match spec.map(str::trim) {
        None | Some("" | "default") => ModelChoice::load_built_in(BuiltInModel::default_model()),
        Some(spec) if Path::new(spec).exists() => ModelChoice::File(spec.into()).load()?,
        Some(spec)
            if spec.contains(std::path::MAIN_SEPARATOR) || spec.ends_with(".onnx") || spec.ends_with(".tflite") =>
        {
            bail!("no model file at {spec} (not found)")
        }
        Some(name) => match ModelLibrary::standard().find(name) {
            Some(entry) => entry.choice.load()?,
            None => bail!("no model file or library model named '{name}' (see `ddsp models`)"),
        },
    };
    Ok(model.with_run_mode(mode))
}

/// What a render plays: one model, or a morph of up to four (place order A, B, C, D; see
/// `ddsp_core::morph`). Every render function takes `impl Into<Playing>`, so an `Arc<Model>` is one.
#[derive(Clone, Debug)]
pub struct Playing {
    models: Vec<Arc<Model>>,
}

impl From<Arc<Model>> for Playing {
    fn from(model: Arc<Model>) -> Self {
        Self { models: vec![model] }
    }
}

impl Playing {
    /// A morph of `models` (1..=4; the first sets the voice's grid). Fails on none or too many.
    pub fn morph(models: Vec<Arc<Model>>) -> Result<Self> {
        if models.is_empty() || models.len() > ddsp_core::MAX_MORPH_MODELS {
            bail!("a morph takes 1 to {} models, not {}", ddsp_core::MAX_MORPH_MODELS, models.len());
        }
        Ok(Self { models })
    }

    /// The first model (the one the engine is prepared for).
    pub fn first(&self) -> &Arc<Model> {
        &self.models[0]
    }

    pub fn models(&self) -> &[Arc<Model>] {
        &self.models
    }

    /// A name for messages: the model's, or `A → B → …` for a morph.
    pub fn label(&self) -> String {
        self.models.iter().map(|m| m.meta.name.as_str()).collect::<Vec<_>>().join(" → ")
    }

    /// A prepared engine plays this (a morph is handed to it before its first sample).
    fn apply(&self, engine: &mut impl Engine) {
        if self.models.len() > 1 {
            let places: Vec<_> = self.models.iter().cloned().map(Some).collect();
            ddsp_core::play_morph_now(engine, &places);
        }
    }
}

/// The mastering chain for a preset name (`off`, `flat`, `cello`, `violin`, `flute`, `brass`) and
/// a quality name (`draft`, `standard`, `professional`, `mastering`).
pub fn master_settings(preset: &str, quality: &str) -> Result<MasterSettings> {
    let Some(quality) = Quality::from_name(quality) else {
        bail!("unknown quality '{quality}' (draft, standard, professional, mastering)")
    };
    if preset.eq_ignore_ascii_case("off") {
        return Ok(MasterSettings::off());
    }
    match MasterPreset::from_name(preset) {
        Some(preset) => Ok(preset.settings(quality)),
        None => bail!("unknown mastering preset '{preset}' (off, room, limiter, flat, cello, violin, flute, brass)"),
    }
}

/// The longest render by default: six hours. Longer pieces are refused before anything is
/// allocated (a file whose tempo map or a stray event puts a note days away would otherwise
/// ask for that much audio).
pub const MAX_LENGTH_S: f64 = 6.0 * 3600.0;

/// What an offline render plays with.
#[derive(Clone, Copy, Debug)]
pub struct RenderSettings {
    pub sample_rate: u32,
    pub master: MasterSettings,
    pub instrument: InstrumentSettings,
    pub effect: EffectSettings,
    /// Seconds rendered after the last event (MIDI; default [`MIDI_TAIL_S`]) or the input (audio; default 0).
    pub tail_s: Option<f64>,
    /// Remove the engine's latency so the output lines up with the input.
    pub align: bool,
    /// The longest output accepted, seconds (default [`MAX_LENGTH_S`]).
    pub max_length_s: f64,
    /// Gain, dB: before the limiter when mastered (the true-peak ceiling holds), on the output
    /// when not. How a loudness target is met (0 by default).
    pub gain_db: f32,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            sample_rate: 48_000,
            master: MasterSettings::off(),
            instrument: InstrumentSettings::default(),
            effect: EffectSettings::default(),
            tail_s: None,
            align: true,
            max_length_s: MAX_LENGTH_S,
            gain_db: 0.0,
        }
    }
}

/// Receives a render block by block: one slice per output channel, all the same length, the
/// engine's latency already removed when aligned.
pub type Sink<'a> = dyn FnMut(&[&[f32]]) -> Result<()> + 'a;

fn hms(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "forever".to_owned();
    }
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Output frames of `phrase` rendered with `settings` (the tail included), refused when it is
/// longer than `settings.max_length_s`.
pub fn midi_render_frames(phrase: &Phrase, settings: &RenderSettings) -> Result<usize> {
    let seconds = phrase.end_s + settings.tail_s.unwrap_or(MIDI_TAIL_S);
    check_length(seconds, settings, || format!("its last event is at {}", hms(phrase.end_s)))?;
    Ok((seconds * f64::from(settings.sample_rate)).ceil() as usize)
}

/// Refuses a render of `seconds` over the limit; `why` says where the length comes from.
pub fn check_length(seconds: f64, settings: &RenderSettings, why: impl Fn() -> String) -> Result<()> {
    if !(seconds.is_finite() && seconds <= settings.max_length_s) {
        bail!(
            "the render would last {} ({}), longer than the limit of {} (--max-length, seconds)",
            hms(seconds),
            why(),
            hms(settings.max_length_s)
        );
    }
    Ok(())
}

/// The instrument on `phrase`, mastered (stereo when the chain is on, else mono), handed to `sink`
/// block by block: memory does not depend on the phrase's length. Returns the frames rendered.
pub fn render_midi_to(
    playing: impl Into<Playing>,
    phrase: &Phrase,
    settings: &RenderSettings,
    sink: &mut Sink,
) -> Result<usize> {
    let body = midi_render_frames(phrase, settings)?;
    let sr = settings.sample_rate;
    let playing = playing.into();
    let mut instrument = Instrument::new(playing.first().clone(), sr as f32, settings.instrument);
    playing.apply(&mut instrument);
    let mut chain = MasterChain::new(sr as f32, settings.master);
    chain.set_metering(false);
    chain.set_trim_db(settings.gain_db);
    let dry_gain = dry_gain(settings);
    let latency = if settings.align { (instrument.latency_samples() + chain.latency_samples()) as usize } else { 0 };
    let total = body + latency;
    let at = |t: f64| (t * f64::from(sr)).round() as usize;

    let mastered = settings.master.enabled;
    let mut left = vec![0.0f32; BLOCK];
    let mut right = vec![0.0f32; if mastered { BLOCK } else { 0 }];
    let mut next_event = 0;
    for start in (0..total).step_by(BLOCK) {
        let end = (start + BLOCK).min(total);
        let n = end - start;
        let first = next_event;
        while next_event < phrase.events.len() && at(phrase.events[next_event].0) < end {
            next_event += 1;
        }
        let block_events = phrase.events[first..next_event].iter().map(|&(t, channel, event)| TimedEvent {
            at: at(t).saturating_sub(start),
            channel,
            event,
        });
        left[..n].fill(0.0);
        instrument.process(block_events, &mut [&mut left[..n]]);
        if mastered {
            right[..n].copy_from_slice(&left[..n]);
            chain.process(&mut left[..n], &mut right[..n]);
        } else if dry_gain != 1.0 {
            left[..n].iter_mut().for_each(|x| *x *= dry_gain);
        }
        let from = latency.saturating_sub(start).min(n);
        if from < n {
            if mastered {
                sink(&[&left[from..n], &right[from..n]])?;
            } else {
                sink(&[&left[from..n]])?;
            }
        }
    }
    Ok(body)
}

/// The linear gain an unmastered render applies to its output (a mastered one trims in the chain).
fn dry_gain(settings: &RenderSettings) -> f32 {
    if settings.master.enabled {
        1.0
    } else {
        trim_gain(settings.gain_db)
    }
}

/// [`render_midi_to`] collected in memory; `progress` hears the frames done after each block.
pub fn render_midi(
    model: impl Into<Playing>,
    phrase: &Phrase,
    settings: &RenderSettings,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<f32>>> {
    let mut channels: Vec<Vec<f32>> = Vec::new();
    render_midi_to(model, phrase, settings, &mut |block| {
        append_planar(&mut channels, block);
        progress(block[0].len());
        Ok(())
    })?;
    Ok(channels)
}

/// Appends a planar `block` to planar `channels` (created on the first block).
pub fn append_planar<S: AsRef<[f32]>>(channels: &mut Vec<Vec<f32>>, block: &[S]) {
    channels.resize_with(block.len(), Vec::new);
    for (all, part) in channels.iter_mut().zip(block) {
        all.extend_from_slice(part.as_ref());
    }
}

/// `channels` averaged into one, as long as the shortest.
pub fn fold_to_mono(channels: &[Vec<f32>]) -> Vec<f32> {
    let n = channels.iter().map(Vec::len).min().unwrap_or(0);
    let scale = 1.0 / channels.len() as f32;
    (0..n).map(|i| channels.iter().map(|c| c[i]).sum::<f32>() * scale).collect()
}

/// Timbre transfer fed block by block: [`AudioRender::push`] the input as it is read,
/// [`AudioRender::finish`] at its end; the output goes to a sink as it is made. Memory does not
/// depend on the input's length.
pub struct AudioRender {
    effect: TimbreTransfer,
    chain: MasterChain,
    mastered: bool,
    in_channels: usize,
    /// Output samples still to drop: the engine's latency, when aligned.
    skip: usize,
    latency: usize,
    tail: usize,
    dry_gain: f32,
    buffers: [Vec<f32>; 2],
}

impl AudioRender {
    /// Input of `in_channels` (1 or 2; fold more to mono first) at `settings.sample_rate`.
    pub fn new(playing: impl Into<Playing>, in_channels: usize, settings: &RenderSettings) -> Result<Self> {
        if !(1..=2).contains(&in_channels) {
            bail!("timbre transfer takes 1 or 2 channels, not {in_channels}");
        }
        let sr = settings.sample_rate;
        let playing = playing.into();
        let mut effect = TimbreTransfer::new(playing.first().clone(), sr as f32, settings.effect);
        playing.apply(&mut effect);
        let mut chain = MasterChain::new(sr as f32, settings.master);
        chain.set_metering(false);
        chain.set_trim_db(settings.gain_db);
        let latency = if settings.align { (effect.latency_samples() + chain.latency_samples()) as usize } else { 0 };
        let tail = settings.tail_s.unwrap_or(0.0);
        if !(tail.is_finite() && tail >= 0.0) {
            bail!("the tail must be a positive number of seconds, not {tail}");
        }
        Ok(Self {
            effect,
            chain,
            mastered: settings.master.enabled,
            in_channels,
            skip: latency,
            latency,
            tail: (tail * f64::from(sr)).round() as usize,
            dry_gain: dry_gain(settings),
            buffers: [vec![0.0; BLOCK], vec![0.0; BLOCK]],
        })
    }

    /// Output channels: the input's, or two when the mastering chain is on.
    pub fn channels(&self) -> usize {
        if self.mastered {
            2
        } else {
            self.in_channels
        }
    }

    /// Processes `input` (`in_channels` slices of equal length, any length).
    pub fn push(&mut self, input: &[&[f32]], sink: &mut Sink) -> Result<()> {
        let frames = input.first().map_or(0, |c| c.len());
        for start in (0..frames).step_by(BLOCK) {
            let end = (start + BLOCK).min(frames);
            let [left, right] = &mut self.buffers;
            left[..end - start].copy_from_slice(&input[0][start..end]);
            match input.get(1) {
                Some(second) => right[..end - start].copy_from_slice(&second[start..end]),
                None => right[..end - start].fill(0.0),
            }
            self.run(end - start, sink)?;
        }
        Ok(())
    }

    /// Plays the tail and the latency out of the engine.
    pub fn finish(mut self, sink: &mut Sink) -> Result<()> {
        let mut left = self.tail + self.latency;
        while left > 0 {
            let n = left.min(BLOCK);
            self.buffers.iter_mut().for_each(|b| b[..n].fill(0.0));
            self.run(n, sink)?;
            left -= n;
        }
        Ok(())
    }

    fn run(&mut self, n: usize, sink: &mut Sink) -> Result<()> {
        let stereo_out = self.channels() == 2;
        let [left, right] = &mut self.buffers;
        let (left, right) = (&mut left[..n], &mut right[..n]);
        match (self.mastered, self.in_channels) {
            (true, _) => {
                Engine::process(&mut self.effect, [], &mut [&mut *left, &mut *right]);
                self.chain.process(left, right);
            }
            (false, 1) => Engine::process(&mut self.effect, [], &mut [&mut *left]),
            (false, _) => Engine::process(&mut self.effect, [], &mut [&mut *left, &mut *right]),
        }
        if !self.mastered && self.dry_gain != 1.0 {
            left.iter_mut().chain(right.iter_mut()).for_each(|x| *x *= self.dry_gain);
        }
        let from = self.skip.min(n);
        self.skip -= from;
        if from < n {
            let (left, right) = (&left[from..], &right[from..]);
            if stereo_out {
                sink(&[left, right])?;
            } else {
                sink(&[left])?;
            }
        }
        Ok(())
    }
}

/// Timbre transfer of `channels` (one or two, at `settings.sample_rate`; more are folded to mono),
/// mastered (a mono input comes out stereo when the chain is on), in memory.
pub fn render_audio(
    model: impl Into<Playing>,
    mut channels: Vec<Vec<f32>>,
    settings: &RenderSettings,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<f32>>> {
    if channels.len() > 2 {
        channels = vec![fold_to_mono(&channels)];
    }
    if channels.is_empty() {
        return Ok(channels);
    }
    let frames = channels.iter().map(Vec::len).min().unwrap_or(0);
    let seconds = (frames as f64 + settings.tail_s.unwrap_or(0.0) * f64::from(settings.sample_rate))
        / f64::from(settings.sample_rate);
    check_length(seconds, settings, || "the input and its tail".to_owned())?;
    let mut render = AudioRender::new(model, channels.len(), settings)?;
    let mut out: Vec<Vec<f32>> = Vec::new();
    let mut sink = |block: &[&[f32]]| {
        append_planar(&mut out, block);
        progress(block[0].len());
        Ok(())
    };
    let input: Vec<&[f32]> = channels.iter().map(|c| &c[..frames]).collect();
    render.push(&input, &mut sink)?;
    render.finish(&mut sink)?;
    Ok(out)
}

/// The effect's real-time tracker over mono `audio`: one frame per hop, each stamped with the
/// sample count at which the real-time path has it.
pub fn track(audio: &[f32], sample_rate_hz: f32, settings: PitchSettings) -> Vec<TrackerFrame> {
    let mut tracker = Tracker::new(sample_rate_hz, settings);
    let mut frames = Vec::with_capacity(audio.len() / tracker.hop_samples().max(1) + 1);
    tracker.process(audio, |f| frames.push(*f));
    frames
}
