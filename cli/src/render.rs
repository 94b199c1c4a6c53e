//! `ddsp render`: a MIDI file through the instrument, or audio through timbre transfer, then the
//! mastering chain, into a WAV or FLAC file. The same dsp-core engine as the plugins, run offline:
//! models in `RunMode::Offline`, seeded noise and dither, so two renders are byte-identical.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ddsp_core::effect::EffectSettings;
use ddsp_core::master::MasterSettings;
use ddsp_core::{InstrumentSettings, VoiceMode};
use ddsp_engine::midi::{self, Phrase, Selection};
use ddsp_engine::offline::{self, Playing, RenderSettings};
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
    /// Audio: the effect's pitch-aligned latency (see `EffectSettings::align_pitch_down_to_hz`).
    pub align_pitch_down_to_hz: f32,
    /// The longest render accepted, seconds.
    pub max_length_s: f64,
    /// Integrated loudness to bring the render to (EBU R 128, LUFS), or as it comes.
    pub loudness_lufs: Option<f64>,
    /// Gain of this pass, dB (set by the loudness target).
    pub gain_db: f32,
}

impl RenderOptions {
    /// What the shared offline renderer needs of these options.
    fn offline(&self) -> RenderSettings {
        RenderSettings {
            sample_rate: self.sample_rate,
            master: self.master,
            instrument: self.instrument,
            effect: EffectSettings {
                morph: self.instrument.morph,
                align_pitch_down_to_hz: self.align_pitch_down_to_hz,
                ..EffectSettings::default()
            },
            tail_s: self.tail_s,
            align: self.align,
            max_length_s: self.max_length_s,
            gain_db: self.gain_db,
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

/// Set by Ctrl-C / SIGTERM while a render runs: the render stops at its next block and its
/// temporary file is removed (outside a render the signal ends the process at once).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static RENDERING: AtomicBool = AtomicBool::new(false);

/// Installs the SIGINT/SIGTERM handler (once, at start-up).
pub fn handle_interrupts() {
    let _ = ctrlc::set_handler(|| {
        if RENDERING.load(Ordering::SeqCst) && !INTERRUPTED.swap(true, Ordering::SeqCst) {
            return; // the render loop stops and cleans up
        }
        std::process::exit(130);
    });
}

fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted: nothing written");
    }
    Ok(())
}

/// The instrument on `phrase`, mastered: stereo when the chain is on, else mono (in memory).
pub fn render_midi(
    model: impl Into<Playing>,
    phrase: &Phrase,
    options: &RenderOptions,
    progress: &mut Progress,
) -> Result<Audio> {
    let channels = offline::render_midi(model, phrase, &options.offline(), &mut |n| progress.advance(n))?;
    Ok(Audio { channels, sample_rate: options.sample_rate })
}

/// Streaming sample-rate conversion (rubato's FFT resampler): blocks in, blocks out, its start-up
/// delay trimmed and its tail flushed, so the output is the input at the new rate, sample-aligned.
struct StreamResampler {
    resampler: rubato::Fft<f32>,
    ratio: f64,
    pending: Vec<Vec<f32>>,
    out: Vec<Vec<f32>>,
    to_trim: usize,
    frames_in: u64,
    frames_out: u64,
}

impl StreamResampler {
    fn new(from: u32, to: u32, channels: usize) -> Result<Self> {
        use rubato::Resampler;
        let resampler = rubato::Fft::<f32>::new(from as usize, to as usize, 1024, channels, rubato::FixedSync::Input)
            .context("cannot set up the resampler")?;
        let to_trim = resampler.output_delay();
        let out_max = resampler.output_frames_max();
        Ok(Self {
            ratio: f64::from(to) / f64::from(from),
            pending: vec![Vec::new(); channels],
            out: vec![vec![0.0; out_max]; channels],
            to_trim,
            frames_in: 0,
            frames_out: 0,
            resampler,
        })
    }

    fn push(&mut self, input: &[Vec<f32>], emit: &mut dyn FnMut(&[&[f32]]) -> Result<()>) -> Result<()> {
        use rubato::Resampler;
        for (pending, part) in self.pending.iter_mut().zip(input) {
            pending.extend_from_slice(part);
        }
        self.frames_in += input.first().map_or(0, Vec::len) as u64;
        while self.pending[0].len() >= self.resampler.input_frames_next() {
            let used = self.chunk(None, emit)?;
            self.pending.iter_mut().for_each(|p| drop(p.drain(..used)));
        }
        Ok(())
    }

    /// Flushes what is left: the last partial chunk, then zeros until every frame the input
    /// implies has come out.
    fn finish(mut self, emit: &mut dyn FnMut(&[&[f32]]) -> Result<()>) -> Result<()> {
        let expected = (self.ratio * self.frames_in as f64).ceil() as u64;
        let partial = self.pending[0].len();
        self.chunk(Some(partial), emit)?;
        while self.frames_out < expected {
            self.chunk(Some(0), emit)?;
        }
        Ok(())
    }

    /// One resampler call on the pending input; emits what is past the start-up delay and within
    /// the expected length (once known). Returns the input frames consumed.
    fn chunk(&mut self, partial: Option<usize>, emit: &mut dyn FnMut(&[&[f32]]) -> Result<()>) -> Result<usize> {
        use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
        use rubato::Resampler;
        let channels = self.pending.len();
        let need = self.resampler.input_frames_next();
        let available = self.pending[0].len();
        // rubato reads a whole chunk even when told only part of it is valid: pad with zeros.
        self.pending.iter_mut().for_each(|p| p.resize(available.max(need), 0.0));
        let input =
            SequentialSliceOfVecs::new(&self.pending, channels, available.max(need)).context("resampler input")?;
        let out_len = self.out[0].len();
        let mut output =
            SequentialSliceOfVecs::new_mut(&mut self.out, channels, out_len).context("resampler output")?;
        let indexing =
            rubato::Indexing { input_offset: 0, output_offset: 0, active_channels_mask: None, partial_len: partial };
        let (used, written) =
            self.resampler.process_into_buffer(&input, &mut output, Some(&indexing)).context("resampling failed")?;
        self.pending.iter_mut().for_each(|p| p.truncate(available));
        let trim = self.to_trim.min(written);
        self.to_trim -= trim;
        let mut end = written;
        if partial.is_some() {
            let expected = (self.ratio * self.frames_in as f64).ceil() as u64;
            end = end.min(trim + (expected - self.frames_out.min(expected)) as usize);
        }
        if end > trim {
            let block: Vec<&[f32]> = self.out.iter().map(|c| &c[trim..end]).collect();
            emit(&block)?;
            self.frames_out += (end - trim) as u64;
        }
        Ok(used.min(available))
    }
}

/// Timbre transfer of `input` (any rate, any channels; more than two are folded to mono),
/// mastered, in memory (`ddsp bench`).
pub fn render_audio(
    model: impl Into<Playing>,
    input: Audio,
    options: &RenderOptions,
    progress: &mut Progress,
) -> Result<Audio> {
    let mut out: Vec<Vec<f32>> = Vec::new();
    let channels = input.channels.len();
    let blocks = std::iter::once(Ok(input.channels));
    transfer(model.into(), blocks, channels, input.sample_rate, options, &mut |block| {
        offline::append_planar(&mut out, block);
        progress.advance(block[0].len());
        Ok(())
    })?;
    Ok(Audio { channels: out, sample_rate: options.sample_rate })
}

/// The effect's settings for a render: the model hears the transposed pitch too, so it plays the
/// register it is asked for.
fn transfer_settings(options: &RenderOptions) -> RenderSettings {
    let transpose = options.transpose as f32;
    let offline = options.offline();
    RenderSettings {
        effect: EffectSettings { input_pitch_semitones: transpose, pitch_shift_semitones: transpose, ..offline.effect },
        ..offline
    }
}

/// Output channels of a transfer of `in_channels`.
fn transfer_channels(in_channels: usize, options: &RenderOptions) -> usize {
    if options.master.enabled {
        2
    } else if in_channels > 2 {
        1
    } else {
        in_channels
    }
}

/// Timbre transfer of planar `blocks` (`in_channels` each, at `rate`): folded to mono above two
/// channels, resampled to the render rate, through the effect and the chain, to `sink`.
fn transfer(
    playing: Playing,
    blocks: impl Iterator<Item = Result<Vec<Vec<f32>>>>,
    in_channels: usize,
    rate: u32,
    options: &RenderOptions,
    sink: &mut dyn FnMut(&[&[f32]]) -> Result<()>,
) -> Result<()> {
    let fold = in_channels > 2;
    let channels = if fold { 1 } else { in_channels };
    let mut render = offline::AudioRender::new(playing, channels, &transfer_settings(options))?;
    let mut resampler = if rate == options.sample_rate {
        None
    } else {
        Some(StreamResampler::new(rate, options.sample_rate, channels)?)
    };
    let mut to_engine = |block: &[&[f32]]| render.push(block, sink);
    for block in blocks {
        let block = block?;
        let block = if fold { vec![offline::fold_to_mono(&block)] } else { block };
        match resampler.as_mut() {
            Some(r) => r.push(&block, &mut to_engine)?,
            None => to_engine(&block.iter().map(Vec::as_slice).collect::<Vec<_>>())?,
        }
    }
    if let Some(r) = resampler {
        r.finish(&mut to_engine)?;
    }
    render.finish(sink)
}

/// What a render plays, read once: a MIDI phrase, or an audio file (re-opened for each pass).
enum Job {
    Midi(Phrase),
    Audio { in_channels: usize, rate: u32 },
}

/// One render job and what every pass of it shares.
struct Render<'a> {
    job: Job,
    input: &'a Path,
    playing: Playing,
    options: &'a RenderOptions,
    /// Output frames and channels.
    frames: u64,
    channels: usize,
    /// What was read, for the report.
    what: String,
}

impl<'a> Render<'a> {
    /// Reads `input` (of `kind`) and checks the render's length.
    fn read(input: &'a Path, kind: FileKind, playing: Playing, options: &'a RenderOptions) -> Result<Self> {
        let settings = options.offline();
        let (job, frames, channels, what) = match kind {
            FileKind::Midi => {
                let phrase = midi::read(input, options.selection)?;
                let frames = offline::midi_render_frames(&phrase, &settings)? as u64;
                let chord = phrase.max_simultaneous_notes();
                let voices = options.instrument.voices;
                if options.instrument.mode == VoiceMode::Poly && chord > voices {
                    eprintln!(
                        "ddsp: warning: the piece plays up to {chord} notes at once and --voices is {voices}: \
                         the oldest notes are cut short (--voices {chord} plays them all)"
                    );
                }
                if options.instrument.mode == VoiceMode::Mono {
                    if let Some(t) = phrase.first_chord_s() {
                        eprintln!(
                            "ddsp: warning: the piece has chords (the first at {t:.2} s) and --mono plays one note \
                             at a time: each chord sounds as one note (without --mono, --voices {chord} plays them all)"
                        );
                    }
                }
                let what = format!("{} notes", phrase.notes);
                (Job::Midi(phrase), frames, if options.master.enabled { 2 } else { 1 }, what)
            }
            FileKind::Wav | FileKind::Flac => {
                let reader = audio_io::Reader::open(input)?;
                let what = format!("{}-channel {} Hz audio", reader.channels(), reader.sample_rate());
                let seconds = reader.frames() as f64 / f64::from(reader.sample_rate()) + options.tail_s.unwrap_or(0.0);
                offline::check_length(seconds, &settings, || "the input and its tail".to_owned())?;
                let frames = (seconds * f64::from(options.sample_rate)).ceil() as u64;
                let channels = transfer_channels(reader.channels(), options);
                (Job::Audio { in_channels: reader.channels(), rate: reader.sample_rate() }, frames, channels, what)
            }
        };
        Ok(Self { job, input, playing, options, frames, channels, what })
    }

    /// One whole render at `gain_db` into `sink`, with a progress bar labelled `label`.
    fn pass(&self, gain_db: f32, label: &str, sink: &mut dyn FnMut(&[&[f32]]) -> Result<()>) -> Result<()> {
        let mut progress = Progress::new(self.frames as usize, label);
        let mut sink = |block: &[&[f32]]| {
            check_interrupt()?;
            progress.advance(block[0].len());
            sink(block)
        };
        let options = RenderOptions { gain_db, ..self.options.clone() };
        match &self.job {
            Job::Midi(phrase) => {
                offline::render_midi_to(self.playing.clone(), phrase, &options.offline(), &mut sink)?;
            }
            Job::Audio { in_channels, rate } => {
                let input = self.input;
                let mut reader = audio_io::Reader::open(input)?;
                let mut read_frames = 0u64;
                let blocks = std::iter::from_fn(|| {
                    let mut block = Vec::new();
                    match reader.read_block(&mut block).with_context(|| format!("cannot read {}", input.display())) {
                        Ok(0) => None,
                        Ok(n) => {
                            read_frames += n as u64;
                            Some(Ok(block))
                        }
                        Err(e) => Some(Err(e)),
                    }
                });
                transfer(self.playing.clone(), blocks, *in_channels, *rate, &options, &mut sink)?;
                if read_frames == 0 {
                    bail!("{}: no audio in the file", input.display());
                }
            }
        }
        progress.finish();
        Ok(())
    }

    /// Integrated loudness (LUFS) and true peak (dBTP) of a pass at `gain_db`, nothing written.
    fn measure(&self, gain_db: f32) -> Result<(f64, f64)> {
        let mut probe = audio_io::LoudnessProbe::new(self.channels, self.options.sample_rate);
        self.pass(gain_db, "measuring loudness", &mut |block| {
            probe.add(block);
            Ok(())
        })?;
        Ok((probe.integrated_lufs(), probe.true_peak_dbtp()))
    }

    /// The gain that brings the render to `target` LUFS integrated: measured, then corrected
    /// while the limiter takes some of it. Unmastered renders (no limiter) keep their true peak at
    /// or below [`DRY_CEILING_DBTP`], so they may end quieter than asked (said on stderr).
    fn gain_for(&self, target: f64) -> Result<f32> {
        let (loudness, peak) = self.measure(0.0)?;
        if !loudness.is_finite() {
            // Too short or too quiet for the gate (400 ms blocks above -70 LUFS): written as it is.
            eprintln!("ddsp: warning: the render has no measurable loudness (silent or under 0.4 s): written without the {target} LUFS gain");
            return Ok(0.0);
        }
        let mut gain = target - loudness;
        if !self.options.master.enabled {
            let room = DRY_CEILING_DBTP - peak;
            if gain > room {
                eprintln!(
                    "ddsp: warning: {target} LUFS would put the unmastered render's true peak above {DRY_CEILING_DBTP} dBTP: \
                     it reaches {:.1} LUFS (use --master to limit it)",
                    loudness + room
                );
                gain = room;
            }
            return Ok(gain as f32);
        }
        // The limiter holds the ceiling, so louder may come out less than asked: correct until
        // within 0.2 LU (three passes at most).
        for _ in 0..3 {
            let (reached, _) = self.measure(gain as f32)?;
            if !reached.is_finite() || (reached - target).abs() <= 0.2 {
                break;
            }
            gain += target - reached;
        }
        Ok(gain.clamp(-60.0, 60.0) as f32)
    }
}

/// The true-peak ceiling of an unmastered render brought to a loudness target, dBTP.
const DRY_CEILING_DBTP: f64 = -1.0;

/// The `render` command: read, render and write block by block, report. `kind`: what
/// [`audio_io::sniff`] found `input` to be. Memory does not grow with the piece's length; an
/// error or an interrupt leaves no file behind. With a loudness target the render runs first to
/// measure (and once more to check when the limiter reduces it), then to write.
pub fn run(input: &Path, kind: FileKind, output: &Path, playing: Playing, options: &RenderOptions) -> Result<()> {
    let started = Instant::now();
    let model_name = playing.label();
    RENDERING.store(true, Ordering::SeqCst);
    let result = (|| -> Result<(audio_io::Writer, String)> {
        let render = Render::read(input, kind, playing, options)?;
        let mut writer =
            audio_io::Writer::create(output, render.channels, options.sample_rate, options.bit_depth, render.frames)?;
        let gain_db = match options.loudness_lufs {
            Some(target) => render.gain_for(target)?,
            None => 0.0,
        };
        let label = if kind == FileKind::Midi { "rendering" } else { "transferring" };
        render.pass(gain_db, label, &mut |block| writer.write(block))?;
        Ok((writer, render.what))
    })();
    RENDERING.store(false, Ordering::SeqCst);
    let (writer, what) = result?;
    if writer.frames() == 0 {
        bail!("nothing to render");
    }
    let (frames, peak, loudness) = (writer.frames(), writer.peak(), writer.loudness());
    writer.finish()?;
    let seconds = frames as f64 / f64::from(options.sample_rate);
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "rendered {seconds:.2} s ({what}) with '{model_name}', {} Hz {:?}, master {}: {:.1} LUFS integrated, peak {:.1} dBFS, to {} in {elapsed:.2} s ({:.0}x real time)",
        options.sample_rate,
        options.bit_depth,
        options.master_label,
        loudness,
        20.0 * peak.max(1e-9).log10(),
        output.display(),
        seconds / elapsed.max(1e-9)
    );
    Ok(())
}
