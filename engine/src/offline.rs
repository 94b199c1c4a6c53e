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
use ddsp_core::master::{MasterChain, MasterPreset, MasterSettings, Quality};
use ddsp_core::model::RunMode;
use ddsp_core::tracking::{PitchSettings, Tracker, TrackerFrame};
use ddsp_core::{Engine, Instrument, InstrumentSettings, Model, ModelLibrary, TimedEvent};

use crate::midi::Phrase;

/// Samples per engine call: events are still applied at their exact sample.
const BLOCK: usize = 4096;

/// Default tail after the last MIDI event: release and reverb.
pub const MIDI_TAIL_S: f64 = 2.0;

/// A model by file path, library name (built-in models included) or `default` / `None` (the
/// embedded default), in `mode`.
pub fn load_model(spec: Option<&str>, mode: RunMode) -> Result<Model> {
    let model = match spec.map(str::trim) {
        None | Some("" | "default") => Model::embedded_default(),
        Some(spec) if Path::new(spec).exists() => Model::load(spec)?,
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
        None => bail!("unknown mastering preset '{preset}' (off, flat, cello, violin, flute, brass)"),
    }
}

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
        }
    }
}

/// The instrument on `phrase`, mastered: stereo when the chain is on, else mono. `progress` hears
/// the samples done after each block.
pub fn render_midi(
    model: Arc<Model>,
    phrase: &Phrase,
    settings: &RenderSettings,
    progress: &mut dyn FnMut(usize),
) -> Vec<Vec<f32>> {
    let sr = settings.sample_rate;
    let mut instrument = Instrument::new(model, sr as f32, settings.instrument);
    let mut chain = MasterChain::new(sr as f32, settings.master);
    chain.set_metering(false);
    let latency = if settings.align { (instrument.latency_samples() + chain.latency_samples()) as usize } else { 0 };
    let body = ((phrase.end_s + settings.tail_s.unwrap_or(MIDI_TAIL_S)) * f64::from(sr)).ceil() as usize;
    let total = body + latency;
    let events: Vec<TimedEvent> = phrase
        .events
        .iter()
        .map(|&(t, channel, event)| TimedEvent { at: (t * f64::from(sr)).round() as usize, channel, event })
        .collect();

    let mastered = settings.master.enabled;
    let mut left = vec![0.0f32; total];
    let mut right = if mastered { vec![0.0f32; total] } else { Vec::new() };
    let mut next_event = 0;
    for start in (0..total).step_by(BLOCK) {
        let end = (start + BLOCK).min(total);
        let first = next_event;
        while next_event < events.len() && events[next_event].at < end {
            next_event += 1;
        }
        let block_events =
            events[first..next_event].iter().map(|e| TimedEvent { at: e.at.saturating_sub(start), ..*e });
        instrument.process(block_events, &mut [&mut left[start..end]]);
        if mastered {
            right[start..end].copy_from_slice(&left[start..end]);
            chain.process(&mut left[start..end], &mut right[start..end]);
        }
        progress(end - start);
    }
    let mut channels = vec![left];
    if mastered {
        channels.push(right);
    }
    for channel in &mut channels {
        channel.drain(..latency);
    }
    channels
}

/// Timbre transfer of `channels` (one or two, at `settings.sample_rate`; more are folded to mono),
/// mastered (a mono input comes out stereo when the chain is on).
pub fn render_audio(
    model: Arc<Model>,
    mut channels: Vec<Vec<f32>>,
    settings: &RenderSettings,
    progress: &mut dyn FnMut(usize),
) -> Vec<Vec<f32>> {
    let sr = settings.sample_rate;
    if channels.len() > 2 {
        let n = channels.iter().map(Vec::len).min().unwrap_or(0);
        let scale = 1.0 / channels.len() as f32;
        channels = vec![(0..n).map(|i| channels.iter().map(|c| c[i]).sum::<f32>() * scale).collect()];
    }
    if channels.is_empty() {
        return channels;
    }
    let mut effect = TimbreTransfer::new(model, sr as f32, settings.effect);
    let mut chain = MasterChain::new(sr as f32, settings.master);
    chain.set_metering(false);
    let latency = if settings.align { (effect.latency_samples() + chain.latency_samples()) as usize } else { 0 };
    let tail = (settings.tail_s.unwrap_or(0.0) * f64::from(sr)).round() as usize;
    let frames = channels.iter().map(Vec::len).min().unwrap_or(0);
    let total = frames + tail + latency;
    for channel in &mut channels {
        channel.resize(total, 0.0);
    }
    let mastered = settings.master.enabled;
    if mastered && channels.len() == 1 {
        channels.push(vec![0.0; total]);
    }
    for start in (0..total).step_by(BLOCK) {
        let end = (start + BLOCK).min(total);
        if mastered {
            let (left, right) = channels.split_at_mut(1);
            let (left, right) = (&mut left[0][start..end], &mut right[0][start..end]);
            Engine::process(&mut effect, [], &mut [&mut *left, &mut *right]);
            chain.process(left, right);
        } else {
            let mut blocks: Vec<&mut [f32]> = channels.iter_mut().map(|c| &mut c[start..end]).collect();
            Engine::process(&mut effect, [], &mut blocks);
        }
        progress(end - start);
    }
    for channel in &mut channels {
        channel.drain(..latency);
    }
    channels
}

/// The effect's real-time tracker over mono `audio`: one frame per hop, each stamped with the
/// sample count at which the real-time path has it.
pub fn track(audio: &[f32], sample_rate_hz: f32, settings: PitchSettings) -> Vec<TrackerFrame> {
    let mut tracker = Tracker::new(sample_rate_hz, settings);
    let mut frames = Vec::with_capacity(audio.len() / tracker.hop_samples().max(1) + 1);
    tracker.process(audio, |f| frames.push(*f));
    frames
}
