//! `ddsp`: the engine of the plugins, offline: `render` (MIDI through the instrument or audio
//! through timbre transfer, mastered, to WAV/FLAC), `demo` (the built-in phrase), `models` (the
//! library), `info` (a model's card and tensors), `track` (pitch and loudness of a file), `infer`
//! (a model's native tensors frame by frame from CSV), `quantize` (int8 weights), `bench`
//! (x-real-time figures).

mod bench;
mod infer;
mod render;
mod track;

use ddsp_cli::audio_io;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ddsp_core::library::EntryOrigin;
use ddsp_core::model::{set_process_precision, Precision, RunMode};
use ddsp_core::{
    render_with_events, BuiltInModel, Instrument, InstrumentEvent, InstrumentSettings, Model, ModelLibrary,
    MorphPosition, MorphSource, VoiceMode,
};
use ddsp_engine::offline::Playing;

#[derive(Parser)]
#[command(name = "ddsp", version, about = "Neural DDSP instrument: offline rendering and model tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Weight storage of the models loaded: auto (f16 where this CPU converts it in hardware and the
    /// model plays within 0.25 dB of f32 on a probe at load; the default, and what the plugins do),
    /// f32 (exactly what the exporting framework computes; the default of `infer`) or int8 (a scale
    /// per row: a quarter of the memory and the fastest, ~0.1–0.3 dB from f32; `ddsp info` says how
    /// far). A quantised .tflite keeps its int8 weights unless f32 is asked for. The environment
    /// variable DDSP_PRECISION does the same for the plugins.
    #[arg(long, global = true, value_parser = parse_precision)]
    precision: Option<Precision>,
}

fn parse_precision(text: &str) -> Result<Precision, String> {
    Precision::parse(text).ok_or_else(|| format!("'{text}' is not auto, f32 or int8"))
}

#[derive(Subcommand)]
enum Command {
    /// Render a MIDI file (SMF 0/1/2) through the instrument, or a WAV/FLAC file through timbre
    /// transfer, then the mastering chain, to a WAV or FLAC file.
    Render {
        /// Input: .mid, .wav or .flac (recognised by content).
        input: PathBuf,
        /// Output: .wav or .flac.
        #[arg(short, long)]
        output: PathBuf,
        /// Model: a file (.onnx, .tflite) or a library name (`ddsp models`); the embedded default
        /// when omitted.
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 48_000, value_parser = parse_render_rate)]
        sample_rate: u32,
        #[arg(long, value_enum, default_value = "24")]
        bit_depth: audio_io::BitDepth,
        /// Mastering preset: room (the default: a little compression and room, the true-peak
        /// limiter), limiter (only the limiter), flat (the chain neutral), cello, violin, flute,
        /// brass/trumpet; or `off` (mono, no chain).
        #[arg(long, default_value = "room")]
        master: String,
        /// draft | standard | professional | mastering: limiter oversampling and reverb density.
        #[arg(long, default_value = "standard")]
        quality: String,
        /// Polyphony: voices for chords (the plugin's default, 8; up to 32).
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=32))]
        voices: u16,
        /// One voice with legato glides and last-note priority (solo lines), instead of --voices.
        #[arg(long)]
        mono: bool,
        /// Transpose, semitones (MIDI notes; for audio, the pitch the model hears and plays).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-48..=48))]
        transpose: i32,
        /// Seconds rendered after the last MIDI event (default 2) or after the input audio (default 0).
        #[arg(long)]
        tail: Option<f64>,
        /// MIDI: play only this track (1 = the file's first, as DAWs and --channel count).
        #[arg(long)]
        track: Option<usize>,
        /// MIDI: play only this channel (1..16).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
        channel: Option<u8>,
        /// Keep the engine's latency (the real-time path's delay) instead of aligning output to input.
        #[arg(long)]
        no_align: bool,
        /// Audio: pitch-aligned latency, as the effect's Latency parameter: the pitch of every note
        /// down to this one (Hz, e.g. 110) reaches the output with its loudness, at a latency grown
        /// to the delay of a new note's pitch there (15.0 ms at 110 Hz). Default: the lowest latency
        /// (4 ms; the pitch of notes under ~300 Hz later).
        #[arg(long, value_parser = parse_align_hz)]
        align_pitch_to: Option<f32>,
        /// The longest render accepted, seconds (default 6 hours): a file whose tempo map or a
        /// stray event puts a note days away is refused before any work.
        #[arg(long, default_value_t = ddsp_engine::offline::MAX_LENGTH_S)]
        max_length: f64,
        /// Bring the render to this integrated loudness, LUFS (EBU R 128; e.g. -16 for streaming,
        /// -23 for broadcast), or `off`: measured in a first pass, then applied before the
        /// limiter, which keeps the true-peak ceiling (with --master off the true peak stays at or
        /// below -1 dBTP). Default: the preset's target (-16 for every preset that limits; none
        /// for flat and off).
        #[arg(long, allow_negative_numbers = true, value_parser = parse_loudness)]
        loudness: Option<Loudness>,
        /// Morph between two to four models (files or library names, comma-separated, in place
        /// order A,B,C,D) instead of playing one: two lie along x, three along x (B at 0.5), four
        /// at the corners of an x-y square (A 0,0; B 1,0; C 0,1; D 1,1).
        #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "model")]
        morph: Vec<String>,
        /// Where the morph sits: `x` or `x,y`, each 0..1 (default 0: model A).
        #[arg(long, value_parser = parse_morph_position, requires = "morph")]
        morph_position: Option<MorphPosition>,
        /// MIDI: let this controller (0..119, e.g. 1 for the mod wheel) move the morph's x while
        /// notes play; --morph-position holds until its first value.
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=119), requires = "morph")]
        morph_cc: Option<u8>,
    },
    /// Print this machine's x-real-time figures for the engine: instrument, voices, mastering
    /// qualities, timbre transfer, and a 60 s render with mastering.
    Bench {
        /// Length of the benchmark phrase, seconds.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
    },
    /// Render the built-in demo phrase (legato, leaps, vibrato, a crescendo) to a 32-bit float WAV.
    Demo {
        /// Output WAV file.
        #[arg(short, long)]
        output: PathBuf,
        /// Model: a file (.onnx, .tflite) or a library name (`ddsp models`); the embedded default
        /// when omitted.
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 48_000)]
        sample_rate: u32,
    },
    /// List the models the plugin offers: embedded, the model folders, recently used files.
    Models,
    /// Print a model's card, format, native tensors, rates, sizes and metadata.
    Info {
        /// A file or a library name; the embedded default when omitted.
        model: Option<String>,
    },
    /// Track pitch and loudness in a WAV file exactly as the real-time effect does; one CSV row per
    /// tracker hop (time_s,f0_hz,confidence,voiced,loudness_db), time_s = when the estimate exists.
    /// With --midi, also write the effect's live MIDI out (notes, bends) as a MIDI file.
    #[command(group = clap::ArgGroup::new("outputs").required(true).multiple(true).args(["output", "midi"]))]
    Track {
        /// Input WAV or FLAC (any rate; stereo is folded to mono).
        input: PathBuf,
        /// Output CSV.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Write the notes the effect's MIDI out sends (with --model's loudness range for velocity)
        /// to this standard MIDI file, moved earlier by the effect's latency.
        #[arg(long)]
        midi: Option<PathBuf>,
        /// Pitch correction for --midi: the key's root (C, F#, Bb, ...); raw pitch when omitted.
        #[arg(long, requires = "midi")]
        key: Option<String>,
        /// The scale with --key: chromatic, major, minor or degrees ("1 2 b3 4 5 b6 b7").
        #[arg(long, default_value = "major", requires = "key")]
        scale: String,
        /// Time to retune to the scale note with --key, ms.
        #[arg(long, default_value_t = 20.0, requires = "key")]
        retune_ms: f32,
        /// One member channel per note (MPE lower zone), with --midi.
        #[arg(long, requires = "midi")]
        mpe: bool,
        /// The receiver's pitch bend range for --midi, semitones [default: 2, 48 with --mpe].
        #[arg(long, requires = "midi")]
        bend_range: Option<f32>,
        /// Take the f0 range from this model (file or library name); else --f0-min/--f0-max.
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 30.0)]
        f0_min: f32,
        #[arg(long, default_value_t = 2000.0)]
        f0_max: f32,
    },
    /// Store a model's weight matrices as int8 with one scale per output channel (weight-only
    /// quantisation: a quarter of the weight memory, integer products in the native runtime);
    /// writes a standard ONNX file (DequantizeLinear, opset 13+) that ONNX Runtime and tract run
    /// too, and prints its size and how far it plays from the original.
    Quantize {
        /// A models/FORMAT.md .onnx file, or a built-in model's name.
        model: String,
        /// Output .onnx.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Run a model's native tensors frame by frame from a CSV file (columns `TENSOR[i]`, any
    /// order, header row), carrying the recurrent state itself; write every other native output.
    Infer {
        /// A file or a library name.
        model: String,
        /// Input CSV: one row per frame, one column per value of each native input tensor.
        #[arg(long)]
        raw: PathBuf,
        /// Output CSV.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// A model by file path, library name (built-in models included) or `default`; offline run mode
/// (reproducible renders).
/// The effect's settings for `ddsp track --midi`: correction to `key`'s `scale` when a key is
/// given, MIDI out on one channel or MPE.
fn midi_settings(
    key: Option<&str>,
    scale: &str,
    retune_ms: f32,
    mpe: bool,
    bend_range: Option<f32>,
) -> Result<ddsp_core::effect::EffectSettings> {
    use ddsp_core::tracking::correction::{parse_key, string_to_scale};
    use ddsp_core::tracking::{CorrectionSettings, MidiOutMode, MidiOutSettings, PitchMode};
    let mut pitch = CorrectionSettings::default();
    if let Some(key) = key {
        pitch.mode = PitchMode::Scale;
        pitch.root =
            parse_key(key).ok_or_else(|| anyhow::anyhow!("--key {key:?}: expected a note name such as C, F# or Bb"))?;
        pitch.scale = string_to_scale(scale).ok_or_else(|| {
            anyhow::anyhow!(
                "--scale {scale:?}: expected chromatic, major, minor or degrees such as \"1 2 b3 4 5 b6 b7\""
            )
        })?;
        anyhow::ensure!(retune_ms.is_finite() && retune_ms >= 0.0, "--retune-ms {retune_ms}: expected 0 or more");
        pitch.retune_ms = retune_ms;
    }
    let bend_range_semitones = bend_range.unwrap_or(if mpe { 48.0 } else { 2.0 });
    anyhow::ensure!(
        (1.0..=96.0).contains(&bend_range_semitones),
        "--bend-range {bend_range_semitones}: expected 1 to 96 semitones"
    );
    let mode = if mpe { MidiOutMode::Mpe } else { MidiOutMode::Mono };
    Ok(ddsp_core::effect::EffectSettings {
        pitch,
        midi_out: MidiOutSettings { mode, bend_range_semitones, ..MidiOutSettings::default() },
        ..ddsp_core::effect::EffectSettings::default()
    })
}

fn load_model(spec: Option<&str>) -> Result<Model> {
    ddsp_engine::offline::load_model(spec, RunMode::Offline)
}

/// `ddsp quantize`: reads `model` (a file, else a built-in model's name), writes its int8 form.
fn quantize(model: &str, output: &Path) -> Result<()> {
    let path = Path::new(model);
    let bytes = match BuiltInModel::find(model) {
        Some(built_in) if !path.exists() => built_in.onnx.to_vec(),
        _ => {
            audio_io::check_regular_file(path)?;
            std::fs::read(path).with_context(|| format!("cannot read {model}"))?
        }
    };
    audio_io::check_destination(output, &[path])?;
    let quantized = ddsp_core::model::onnx::quantize(&bytes).with_context(|| format!("cannot quantise {model}"))?;
    std::fs::write(output, &quantized.bytes).with_context(|| format!("cannot write {}", output.display()))?;
    let mb = |n: usize| n as f64 / 1e6;
    println!(
        "{}: {} weight matrices in int8 ({:.2} MB of weights, were {:.2} MB); file {:.2} MB (was {:.2} MB); \
         controls within {:.3} dB of the original on the probe sweep",
        output.display(),
        quantized.matrices,
        mb(quantized.weight_bytes.1),
        mb(quantized.weight_bytes.0),
        mb(quantized.bytes.len()),
        mb(bytes.len()),
        quantized.deviation_db
    );
    Ok(())
}

fn models() -> Result<()> {
    let library = ModelLibrary::standard();
    println!("model folders:");
    for folder in &library.folders {
        let state = if folder.is_dir() { "" } else { " (not present)" };
        println!("  {}{state}", folder.display());
    }
    println!("models:");
    for entry in library.entries() {
        let place = match (&entry.origin, entry.path()) {
            (EntryOrigin::BuiltIn, _) if entry.name == BuiltInModel::default_model().name => {
                "built in (the default)".to_owned()
            }
            (EntryOrigin::BuiltIn, _) => "built in".to_owned(),
            (EntryOrigin::Recent, Some(p)) => format!("recent: {}", p.display()),
            (_, Some(p)) => p.display().to_string(),
            (_, None) => String::new(),
        };
        println!("  {:<24} {place}", entry.name);
    }
    Ok(())
}

/// The demo phrase: (seconds, event).
pub(crate) fn demo_phrase() -> Vec<(f64, InstrumentEvent)> {
    use InstrumentEvent::*;
    let mut events = vec![(0.0, ControlChange { cc: 11, value: 0.8 })];
    // A legato line in D minor, then a leap and a held note with vibrato and a crescendo.
    let notes = [(62, 0.1, 0.5), (64, 0.6, 0.3), (65, 0.9, 0.3), (67, 1.2, 0.3), (69, 1.5, 0.6), (74, 2.1, 1.6)];
    for &(note, start, length) in &notes {
        events.push((start, NoteOn { note, velocity: 0.85 }));
        events.push((start + length + 0.02, NoteOff { note })); // overlap: legato glide
    }
    for i in 0..=20 {
        let t = 2.3 + 1.2 * f64::from(i) / 20.0;
        events.push((t, ControlChange { cc: 1, value: f32::from(i as u8) / 20.0 * 0.8 }));
        events.push((t, ControlChange { cc: 11, value: 0.8 + 0.2 * f32::from(i as u8) / 20.0 }));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    events
}

fn demo(output: &Path, model: Option<&str>, sample_rate: u32) -> Result<()> {
    let model = Arc::new(load_model(model)?);
    let name = model.meta.name.clone();
    // A solo line: the instrument in mono mode, so the overlapping notes glide.
    let settings = InstrumentSettings { mode: VoiceMode::Mono, ..InstrumentSettings::default() };
    let mut instrument = Instrument::new(model, sample_rate as f32, settings);
    let sr = f64::from(sample_rate);
    let events: Vec<(usize, InstrumentEvent)> =
        demo_phrase().into_iter().map(|(t, e)| ((t * sr).round() as usize, e)).collect();
    let mut audio = vec![0.0f32; (4.5 * sr) as usize];
    render_with_events(&mut instrument, &mut audio, &events);

    let peak = audio.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let seconds = audio.len() as f64 / sr;
    let channels = vec![audio];
    audio_io::write(output, &audio_io::Audio { channels, sample_rate }, audio_io::BitDepth::Float32)?;
    println!(
        "rendered {seconds:.1} s with '{name}' at {sample_rate} Hz to {} (peak {:.1} dBFS)",
        output.display(),
        20.0 * peak.max(1e-9).log10()
    );
    Ok(())
}

/// Text from a model file, printable: control characters (an escape sequence in a name would
/// drive the terminal) shown escaped, everything else as written.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn info(spec: Option<&str>) -> Result<()> {
    let model = load_model(spec)?;
    let m = &model.meta;
    println!("name:        {}", printable(&m.name));
    println!("instrument:  {}", printable(&m.instrument));
    println!("licence:     {}", printable(&m.licence));
    match &model.source {
        ddsp_core::ModelSource::File(path) => println!("file:        {}", printable(&path.display().to_string())),
        ddsp_core::ModelSource::Embedded(name) => println!("source:      built in ({})", printable(name)),
    }
    println!("description: {}", printable(&m.description));
    println!("sample rate: {} Hz, {} frames/s", m.sample_rate_hz, m.frame_rate_hz);
    println!("harmonics:   {}, noise bands: {}", m.n_harmonics, m.n_noise_bands);
    println!("f0 range:    {} .. {} Hz", m.f0_min_hz, m.f0_max_hz);
    println!("loudness:    {} .. {} dB", m.loudness_min_db, m.loudness_max_db);
    println!("format:      {}", model.format());
    if let Some(decoder) = model.decoder() {
        println!(
            "network:     GRU {} units, {} multiply-adds per frame (native kernels)",
            model.n_hidden(),
            decoder.macs_per_frame()
        );
    }
    println!("weights:     {}", model.weight_storage());
    if model.latency_frames() > 0 {
        println!(
            "latency:     {} frames ({:.1} ms)",
            model.latency_frames(),
            1e3 * model.latency_frames() as f32 / m.frame_rate_hz
        );
    }
    if let ddsp_core::ModelSource::File(path) = &model.source {
        println!("sha256:      {}", ddsp_core::library::file_sha256(path)?);
    }
    let io = model.native_io();
    let list = |label: &str, tensors: &[ddsp_core::model::TensorSpec]| {
        for t in tensors {
            println!("{label:<12} {} {:?}", printable(&t.name), t.shape);
        }
    };
    list("input:", &io.inputs);
    list("output:", &io.outputs);
    list("state:", &io.state);
    Ok(())
}

fn parse_render_rate(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(rate @ (44_100 | 48_000 | 88_200 | 96_000)) => Ok(rate),
        _ => Err("one of 44100, 48000, 88200, 96000".to_owned()),
    }
}

/// `--align-pitch-to`: a note's frequency in the range the engine aligns, Hz.
fn parse_align_hz(s: &str) -> Result<f32, String> {
    use ddsp_engine::{MAX_ALIGN_HZ, MIN_ALIGN_HZ};
    match s.parse::<f32>() {
        Ok(hz) if (MIN_ALIGN_HZ..=MAX_ALIGN_HZ).contains(&hz) => Ok(hz),
        _ => Err(format!(
            "a frequency from {MIN_ALIGN_HZ} to {MAX_ALIGN_HZ} Hz (the lowest note whose pitch is aligned)"
        )),
    }
}

/// `--loudness`: a target in LUFS, or `off` (none, not even the preset's).
#[derive(Clone, Copy, Debug)]
enum Loudness {
    Off,
    Lufs(f64),
}

fn parse_loudness(s: &str) -> Result<Loudness, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Loudness::Off);
    }
    match s.parse::<f64>() {
        Ok(lufs) if lufs.is_finite() && (-70.0..=0.0).contains(&lufs) => Ok(Loudness::Lufs(lufs)),
        _ => Err("a loudness in LUFS from -70 to 0 (e.g. -16), or off".to_owned()),
    }
}

#[allow(clippy::too_many_arguments)]
/// `x` or `x,y`, each 0..1.
fn parse_morph_position(s: &str) -> Result<MorphPosition, String> {
    let values: Vec<f32> = s
        .split(',')
        .map(|v| v.trim().parse::<f32>().map_err(|_| format!("'{v}' is not a number")))
        .collect::<Result<_, _>>()?;
    let ok = |v: &f32| v.is_finite() && (0.0..=1.0).contains(v);
    match values[..] {
        [x] if ok(&x) => Ok(MorphPosition::new(x, 0.0)),
        [x, y] if ok(&x) && ok(&y) => Ok(MorphPosition::new(x, y)),
        [_] | [_, _] => Err("each coordinate must lie in 0..1".into()),
        _ => Err("give x or x,y".into()),
    }
}

/// What `ddsp render` plays: `--model`, or the `--morph` models with their position and controller.
struct Voicing<'a> {
    model: Option<&'a str>,
    morph: &'a [String],
    position: Option<MorphPosition>,
    cc: Option<u8>,
}

impl Voicing<'_> {
    fn load(&self) -> Result<Playing> {
        if self.morph.is_empty() {
            return Ok(Arc::new(load_model(self.model)?).into());
        }
        anyhow::ensure!(
            (2..=ddsp_core::MAX_MORPH_MODELS).contains(&self.morph.len()),
            "--morph takes 2 to {} models, not {}",
            ddsp_core::MAX_MORPH_MODELS,
            self.morph.len()
        );
        let models = self
            .morph
            .iter()
            .map(|spec| load_model(Some(spec)).map(Arc::new).with_context(|| format!("--morph model '{spec}'")))
            .collect::<Result<Vec<_>>>()?;
        Playing::morph(models)
    }

    /// Model files named, so a render never overwrites one.
    fn files(&self) -> Vec<&Path> {
        self.model
            .into_iter()
            .chain(self.morph.iter().map(String::as_str))
            .map(Path::new)
            .filter(|p| p.is_file())
            .collect()
    }
}

fn render_command(
    input: &Path,
    output: &Path,
    voicing: Voicing,
    sample_rate: u32,
    bit_depth: audio_io::BitDepth,
    master: &str,
    quality: &str,
    voices: (u16, bool),
    transpose: i32,
    tail: Option<f64>,
    selection: (Option<usize>, Option<u8>),
    (no_align, align_pitch_to): (bool, Option<f32>),
    max_length_s: f64,
    loudness: Option<Loudness>,
) -> Result<()> {
    use ddsp_core::master::{MasterPreset, MasterSettings, Quality};
    let quality = Quality::from_name(quality)
        .with_context(|| format!("unknown quality '{quality}' (draft, standard, professional, mastering)"))?;
    let (settings, label, preset_target) = if master.eq_ignore_ascii_case("off") {
        (MasterSettings::off(), "off".to_owned(), None)
    } else {
        let preset = MasterPreset::from_name(master).with_context(|| {
            format!("unknown mastering preset '{master}' (off, room, limiter, flat, cello, violin, flute, brass)")
        })?;
        (preset.settings(quality), format!("{}/{}", preset.name(), quality.name()), preset.loudness_target_lufs())
    };
    let loudness_lufs = match loudness {
        None => preset_target,
        Some(Loudness::Off) => None,
        Some(Loudness::Lufs(lufs)) => Some(lufs),
    };
    if let Some(t) = tail {
        anyhow::ensure!(t.is_finite() && (0.0..=600.0).contains(&t), "--tail must be 0..600 seconds");
    }
    anyhow::ensure!(
        max_length_s.is_finite() && max_length_s > 0.0,
        "--max-length must be a positive number of seconds"
    );
    let options = render::RenderOptions {
        sample_rate,
        bit_depth,
        master: settings,
        master_label: label,
        instrument: InstrumentSettings {
            voices: usize::from(voices.0),
            mode: if voices.1 { VoiceMode::Mono } else { VoiceMode::Poly },
            morph: voicing.position.unwrap_or_default(),
            morph_source: voicing.cc.map_or(MorphSource::Off, MorphSource::Controller),
            ..InstrumentSettings::default()
        },
        transpose,
        tail_s: tail,
        selection: ddsp_engine::midi::Selection { track: selection.0, channel: selection.1, transpose },
        align: !no_align,
        align_pitch_down_to_hz: align_pitch_to.unwrap_or(0.0),
        max_length_s,
        loudness_lufs,
        gain_db: 0.0,
    };
    // Check the input and the output before loading the model: a bad path is reported as such,
    // quickly, and a render never overwrites its input or its model.
    let kind = audio_io::sniff(input)?;
    let mut keep = vec![input];
    keep.extend(voicing.files());
    audio_io::check_output(output, bit_depth, &keep)?;
    if voicing.cc.is_some() && kind != audio_io::FileKind::Midi {
        eprintln!("ddsp: warning: --morph-cc moves the morph only in MIDI renders; audio uses --morph-position");
    }
    let playing = voicing.load()?;
    render::run(input, kind, output, playing, &options)
}

fn main() {
    // SAFETY: called first, before any thread exists; restores the default action of SIGPIPE
    // (Rust ignores it), so a closed pipe (`ddsp info | head`) ends the process like any Unix tool
    // instead of making `println!` panic.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    render::handle_interrupts();
    // `infer` reproduces the exporting framework's outputs: f32 unless asked otherwise.
    match (cli.precision, &cli.command) {
        (Some(precision), _) => set_process_precision(precision),
        (None, Command::Infer { .. }) => set_process_precision(Precision::F32),
        (None, _) => {}
    }
    let result = match &cli.command {
        Command::Render {
            input,
            output,
            model,
            sample_rate,
            bit_depth,
            master,
            quality,
            voices,
            mono,
            transpose,
            tail,
            track,
            channel,
            no_align,
            align_pitch_to,
            max_length,
            loudness,
            morph,
            morph_position,
            morph_cc,
        } => render_command(
            input,
            output,
            Voicing { model: model.as_deref(), morph, position: *morph_position, cc: *morph_cc },
            *sample_rate,
            *bit_depth,
            master,
            quality,
            (*voices, *mono),
            *transpose,
            *tail,
            (*track, *channel),
            (*no_align, *align_pitch_to),
            *max_length,
            *loudness,
        ),
        Command::Bench { seconds } => bench::run(*seconds),
        Command::Demo { output, model, sample_rate } => demo(output, model.as_deref(), *sample_rate),
        Command::Models => models(),
        Command::Info { model } => info(model.as_deref()),
        Command::Track { input, output, midi, key, scale, retune_ms, mpe, bend_range, model, f0_min, f0_max } => {
            let range = match model {
                Some(spec) => load_model(Some(spec)).map(|m| (m.meta.f0_min_hz, m.meta.f0_max_hz)),
                None => Ok((*f0_min, *f0_max)),
            };
            let csv = |(f0_min_hz, f0_max_hz)| -> Result<()> {
                let Some(output) = output else { return Ok(()) };
                let settings = ddsp_core::tracking::PitchSettings {
                    f0_min_hz,
                    f0_max_hz,
                    ..ddsp_core::tracking::PitchSettings::default()
                };
                audio_io::check_destination(output, &[input])?;
                track::run(input, output, settings)
            };
            range.and_then(csv).and_then(|()| {
                let Some(midi) = midi else { return Ok(()) };
                audio_io::check_destination(midi, &[input])?;
                let settings = midi_settings(key.as_deref(), scale, *retune_ms, *mpe, *bend_range)?;
                let model = std::sync::Arc::new(load_model(model.as_deref())?);
                let written = track::write_midi(input, midi, model, settings)?;
                println!(
                    "{} notes, {} pitch bends to {} (moved {:.1} ms earlier: the effect's latency)",
                    written.notes,
                    written.bends,
                    midi.display(),
                    written.latency_s * 1e3
                );
                Ok(())
            })
        }
        Command::Quantize { model, output } => quantize(model, output),
        Command::Infer { model, raw, output } => audio_io::check_regular_file(raw)
            .and_then(|()| audio_io::check_destination(output, &[raw]))
            .and_then(|()| load_model(Some(model)))
            .and_then(|m| infer::run(&m, raw, output)),
    };
    if let Err(e) = result {
        eprintln!("ddsp: {e:#}");
        std::process::exit(1);
    }
}
