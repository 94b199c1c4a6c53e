//! Audio files in and out: WAV (hound) and FLAC (claxon to read, flacenc to write), any rate and
//! channel count in, 16/24-bit integer (TPDF-dithered) or 32-bit float out, written to a temporary
//! file beside the target and renamed, so a failed run never leaves a partial file.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Planar audio: one `Vec` per channel.
pub struct Audio {
    pub channels: Vec<Vec<f32>>,
    pub sample_rate: u32,
}

impl Audio {
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// The channels averaged into one.
    pub fn mono(&self) -> Vec<f32> {
        let n = self.channels.len().max(1) as f32;
        (0..self.frames()).map(|i| self.channels.iter().map(|c| c[i]).sum::<f32>() / n).collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BitDepth {
    #[value(name = "16")]
    Int16,
    #[value(name = "24")]
    Int24,
    #[value(name = "32f")]
    Float32,
}

impl BitDepth {
    fn bits(self) -> u16 {
        match self {
            Self::Int16 => 16,
            Self::Int24 => 24,
            Self::Float32 => 32,
        }
    }
}

/// What the first bytes say the file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Midi,
    Wav,
    Flac,
}

pub fn sniff(path: &Path) -> Result<FileKind> {
    let mut head = [0u8; 4];
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let n = std::io::Read::read(&mut file, &mut head).with_context(|| format!("cannot read {}", path.display()))?;
    match &head[..n] {
        b"MThd" => Ok(FileKind::Midi),
        b"RIFF" | b"RIFX" | b"RF64" => Ok(FileKind::Wav),
        b"fLaC" => Ok(FileKind::Flac),
        _ => bail!("{}: not a MIDI, WAV or FLAC file", path.display()),
    }
}

pub fn read(path: &Path) -> Result<Audio> {
    let audio = match sniff(path)? {
        FileKind::Wav => read_wav(path),
        FileKind::Flac => read_flac(path),
        FileKind::Midi => bail!("a MIDI file, not audio"),
    }
    .with_context(|| format!("cannot read {}", path.display()))?;
    if audio.frames() == 0 {
        bail!("{}: no audio in the file", path.display());
    }
    Ok(audio)
}

fn planar(interleaved: Vec<f32>, channels: usize, sample_rate: u32) -> Audio {
    let channels = channels.max(1);
    let frames = interleaved.len() / channels;
    let mut out = vec![Vec::with_capacity(frames); channels];
    for frame in interleaved.chunks_exact(channels) {
        for (c, &s) in frame.iter().enumerate() {
            out[c].push(s);
        }
    }
    Audio { channels: out, sample_rate }
}

/// The encodings a WAV header may declare that we do not read, named plainly (hound would call a
/// 64-bit float file ill-formed).
fn check_wav_encoding(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path)?;
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        if &bytes[pos..pos + 4] == b"fmt " && pos + 24 <= bytes.len() {
            let tag = u16::from_le_bytes([bytes[pos + 8], bytes[pos + 9]]);
            let bits = u16::from_le_bytes([bytes[pos + 22], bytes[pos + 23]]);
            match (tag, bits) {
                (1 | 0xFFFE, _) | (3, 32) => return Ok(()),
                (3, bits) => bail!("unsupported sample format: {bits}-bit float (use 32-bit float or integer PCM)"),
                (tag, _) => {
                    bail!("unsupported sample format: WAV encoding 0x{tag:04x} (use integer PCM or 32-bit float)")
                }
            }
        }
        pos += 8 + len + (len & 1);
    }
    Ok(())
}

fn read_wav(path: &Path) -> Result<Audio> {
    check_wav_encoding(path)?;
    let mut reader = hound::WavReader::open(path)?;
    let spec = reader.spec();
    let samples: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader.samples::<f32>().collect::<Result<_, _>>()?,
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()?
        }
        (format, bits) => bail!("unsupported WAV sample format: {bits}-bit {format:?}"),
    };
    Ok(planar(samples, usize::from(spec.channels), spec.sample_rate))
}

fn read_flac(path: &Path) -> Result<Audio> {
    let mut reader = claxon::FlacReader::open(path)?;
    let info = reader.streaminfo();
    let scale = 1.0 / (1u64 << (info.bits_per_sample - 1)) as f32;
    let samples: Vec<f32> = reader.samples().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()?;
    Ok(planar(samples, info.channels as usize, info.sample_rate))
}

/// TPDF dither (±1 LSB triangular) from a fixed-seed generator: renders stay byte-identical.
struct Dither(u64);

impl Dither {
    fn uniform(&mut self) -> f64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    }

    /// `x` (full scale ±1) quantised to `bits`, dithered.
    fn quantise(&mut self, x: f32, bits: u16) -> i32 {
        let full = f64::from(1u32 << (bits - 1));
        let noise = self.uniform() - self.uniform();
        (f64::from(x) * full + noise).round().clamp(-full, full - 1.0) as i32
    }
}

const DITHER_SEED: u64 = 0xD17E_5EED;

/// Writes `audio` to `path` (`.wav` or `.flac`) at `depth`, through a temporary file.
pub fn write(path: &Path, audio: &Audio, depth: BitDepth) -> Result<()> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let flac = match extension.as_deref() {
        Some("wav") => false,
        Some("flac") => true,
        _ => bail!("{}: the output must end in .wav or .flac", path.display()),
    };
    if flac && depth == BitDepth::Float32 {
        bail!("FLAC stores integers: use --bit-depth 16 or 24 for .flac");
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".ddsp-render-")
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let bytes = if flac { encode_flac(audio, depth)? } else { encode_wav(audio, depth)? };
    tmp.write_all(&bytes).with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn interleaved_ints(audio: &Audio, bits: u16) -> Vec<i32> {
    let mut dither = Dither(DITHER_SEED);
    let mut out = Vec::with_capacity(audio.frames() * audio.channels.len());
    for i in 0..audio.frames() {
        for channel in &audio.channels {
            out.push(dither.quantise(channel[i], bits));
        }
    }
    out
}

fn encode_wav(audio: &Audio, depth: BitDepth) -> Result<Vec<u8>> {
    let spec = hound::WavSpec {
        channels: audio.channels.len() as u16,
        sample_rate: audio.sample_rate,
        bits_per_sample: depth.bits(),
        sample_format: if depth == BitDepth::Float32 { hound::SampleFormat::Float } else { hound::SampleFormat::Int },
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut writer = hound::WavWriter::new(&mut cursor, spec)?;
        if depth == BitDepth::Float32 {
            for i in 0..audio.frames() {
                for channel in &audio.channels {
                    writer.write_sample(channel[i])?;
                }
            }
        } else {
            for s in interleaved_ints(audio, depth.bits()) {
                writer.write_sample(s)?;
            }
        }
        writer.finalize()?;
    }
    Ok(cursor.into_inner())
}

fn encode_flac(audio: &Audio, depth: BitDepth) -> Result<Vec<u8>> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;

    let samples = interleaved_ints(audio, depth.bits());
    // Single-threaded: the same bytes on every machine.
    let mut config = flacenc::config::Encoder::default();
    config.multithread = false;
    let config = config.into_verified().map_err(|(_, e)| anyhow::anyhow!("FLAC encoder settings: {e:?}"))?;
    let source = flacenc::source::MemSource::from_samples(
        &samples,
        audio.channels.len(),
        usize::from(depth.bits()),
        audio.sample_rate as usize,
    );
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| anyhow::anyhow!("FLAC encoding failed: {e:?}"))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(|e| anyhow::anyhow!("FLAC encoding failed: {e:?}"))?;
    Ok(sink.into_inner())
}
