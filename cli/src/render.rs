//! `ddsp render`: a MIDI file through the instrument, or audio through timbre transfer, then the
//! mastering chain, into a WAV or FLAC file. The same dsp-core engine as the plugins, run offline:
//! models in `RunMode::Offline`, seeded noise and dither, so two renders are byte-identical.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ddsp_core::effect::EffectSettings;
use ddsp_core::master::MasterSettings;
use ddsp_core::{InstrumentSettings, Model};
use ddsp_engine::midi::{self, Phrase, Selection};
use ddsp_engine::offline::{self, RenderSettings, MIDI_TAIL_S};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::audio_io::{self, Audio, BitDepth, FileKind};

#[derive(Clone, Debug)]
pub struct RenderOptions {
    pub sample_rate: u32,
    pub bit_depth: BitDepth,
    pub master: MasterSettings,
    /// Name of the preset and quality, for the report.
    pub master_label: String,
    /// The instrument's voice mode and polyphony (the plugin's defaults unless asked).
    pub instrument: InstrumentSettings,
    pub transpose: i32,
    /// Seconds rendered after the last event (MIDI) or the end of the input (audio).
    pub tail_s: Option<f64>,
    pub selection: Selection,
    /// Remove the engine's latency so the output lines up with the input.
    pub align: bool,
}

impl RenderOptions {
    /// What the shared offline renderer needs of these options.
    fn offline(&self) -> RenderSettings {
        RenderSettings {
            sample_rate: self.sample_rate,
            master: self.master,
            instrument: self.instrument,
            effect: EffectSettings::default(),
            tail_s: self.tail_s,
            align: self.align,
        }
    }
}

/// A progress bar that appears only once a job has run for a second (short renders stay quiet).
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

impl Progress {
    pub fn new(total_samples: usize, label: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total_samples as u64), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {percent:>3}% {elapsed_precise} eta {eta}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(label.to_owned());
        Self { bar, started: Instant::now(), shown: false }
    }

    pub fn advance(&mut self, samples: usize) {
        self.bar.inc(samples as u64);
        if !self.shown && self.started.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// The instrument on `phrase`, mastered: stereo when the chain is on, else mono.
pub fn render_midi(model: Arc<Model>, phrase: &Phrase, options: &RenderOptions, progress: &mut Progress) -> Audio {
    let channels = offline::render_midi(model, phrase, &options.offline(), &mut |n| progress.advance(n));
    Audio { channels, sample_rate: options.sample_rate }
}

/// Resamples every channel to `rate` (rubato's FFT resampler, its delay trimmed).
fn resample(audio: Audio, rate: u32) -> Result<Audio> {
    use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
    use rubato::Resampler;

    if audio.sample_rate == rate {
        return Ok(audio);
    }
    let (channels, frames) = (audio.channels.len(), audio.frames());
    let mut resampler =
        rubato::Fft::<f32>::new(audio.sample_rate as usize, rate as usize, 1024, channels, rubato::FixedSync::Input)
            .context("cannot set up the resampler")?;
    let input = SequentialSliceOfVecs::new(&audio.channels, channels, frames).context("resampler input")?;
    let output = resampler.process_all(&input, frames, None).context("resampling failed")?;
    let data = output.take_data();
    let out_frames = data.len() / channels;
    let planar = (0..channels).map(|c| (0..out_frames).map(|i| data[i * channels + c]).collect()).collect();
    Ok(Audio { channels: planar, sample_rate: rate })
}

/// Timbre transfer of `input` (any rate, any channels; more than two are folded to mono), mastered.
pub fn render_audio(
    model: Arc<Model>,
    input: Audio,
    options: &RenderOptions,
    progress: &mut Progress,
) -> Result<Audio> {
    let mut input = input;
    if input.channels.len() > 2 {
        input.channels = vec![input.mono()];
    }
    let audio = resample(input, options.sample_rate)?;
    let transpose = options.transpose as f32;
    let settings = RenderSettings {
        effect: EffectSettings {
            // The model hears the transposed pitch too, so it plays the register it is asked for.
            input_pitch_semitones: transpose,
            pitch_shift_semitones: transpose,
            ..EffectSettings::default()
        },
        ..options.offline()
    };
    let channels = offline::render_audio(model, audio.channels, &settings, &mut |n| progress.advance(n));
    Ok(Audio { channels, sample_rate: options.sample_rate })
}

/// The `render` command: read, render, write, report.
/// `kind`: what [`audio_io::sniff`] found `input` to be.
pub fn run(input: &Path, kind: FileKind, output: &Path, model: Arc<Model>, options: &RenderOptions) -> Result<()> {
    let started = Instant::now();
    let model_name = model.meta.name.clone();
    let (audio, what) = match kind {
        FileKind::Midi => {
            let phrase = midi::read(input, options.selection)?;
            let seconds = phrase.end_s + options.tail_s.unwrap_or(MIDI_TAIL_S);
            let mut progress = Progress::new((seconds * f64::from(options.sample_rate)) as usize, "rendering");
            let audio = render_midi(model, &phrase, options, &mut progress);
            progress.finish();
            (audio, format!("{} notes", phrase.notes))
        }
        FileKind::Wav | FileKind::Flac => {
            let source = audio_io::read(input)?;
            let what = format!("{}-channel {} Hz audio", source.channels.len(), source.sample_rate);
            let seconds = source.frames() as f64 / f64::from(source.sample_rate);
            let mut progress = Progress::new((seconds * f64::from(options.sample_rate)) as usize, "transferring");
            let audio = render_audio(model, source, options, &mut progress)?;
            progress.finish();
            (audio, what)
        }
    };
    if audio.frames() == 0 {
        bail!("nothing to render");
    }
    audio_io::write(output, &audio, options.bit_depth)?;
    let seconds = audio.frames() as f64 / f64::from(audio.sample_rate);
    let elapsed = started.elapsed().as_secs_f64();
    let peak = audio.channels.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
    println!(
        "rendered {seconds:.2} s ({what}) with '{model_name}', {} Hz {:?}, master {}: peak {:.1} dBFS, to {} in {elapsed:.2} s ({:.0}x real time)",
        options.sample_rate,
        options.bit_depth,
        options.master_label,
        20.0 * peak.max(1e-9).log10(),
        output.display(),
        seconds / elapsed.max(1e-9)
    );
    Ok(())
}
