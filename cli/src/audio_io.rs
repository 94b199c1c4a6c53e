//! Audio files in and out: WAV (hound) and FLAC (claxon to read, flacenc to write), any rate and
//! channel count in, 16/24-bit integer (TPDF-dithered) or 32-bit float out, written to a temporary
//! file beside the target and renamed, so a failed run never leaves a partial file.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

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

/// Rejects what is not a regular file before anything opens it: opening a FIFO for reading waits
/// for a writer forever, and a device has no end.
pub fn check_regular_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if is_fifo(&kind) {
        "a FIFO (named pipe)"
    } else {
        "a device or socket"
    };
    bail!("{}: {what}, not a regular file", path.display())
}

#[cfg(unix)]
fn is_fifo(kind: &std::fs::FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_fifo(kind)
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::FileType) -> bool {
    false
}

pub fn sniff(path: &Path) -> Result<FileKind> {
    check_regular_file(path)?;
    let mut head = [0u8; 4];
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let n = file.read(&mut head).with_context(|| format!("cannot read {}", path.display()))?;
    match &head[..n] {
        b"MThd" => Ok(FileKind::Midi),
        b"RIFF" | b"RIFX" | b"RF64" => Ok(FileKind::Wav),
        b"fLaC" => Ok(FileKind::Flac),
        _ => bail!("{}: not a MIDI, WAV or FLAC file", path.display()),
    }
}

/// Sample rates we read: below 8 kHz nothing of an instrument is left, above 768 kHz is no audio
/// format in use (and a resampler asked for it allocates without bound).
pub const INPUT_RATES_HZ: std::ops::RangeInclusive<u32> = 8_000..=768_000;

/// The most channels an input may have (they are folded to mono above two).
pub const MAX_INPUT_CHANNELS: usize = 64;

/// Reads the whole file (any rate, any channel count up to [`MAX_INPUT_CHANNELS`], as it is).
pub fn read(path: &Path) -> Result<Audio> {
    let mut reader = Reader::open(path)?;
    let mut channels = vec![Vec::new(); reader.channels()];
    let mut block = Vec::new();
    while reader.read_block(&mut block).with_context(|| format!("cannot read {}", path.display()))? > 0 {
        ddsp_engine::offline::append_planar(&mut channels, &block);
    }
    Ok(Audio { channels, sample_rate: reader.sample_rate() })
}

/// A WAV or FLAC file read block by block: memory does not grow with the file's length.
pub struct Reader {
    source: Source,
    channels: usize,
    sample_rate: u32,
    /// Frames the header declares (0 when a FLAC stream leaves it unknown).
    frames: u64,
    interleaved: Vec<f32>,
}

enum Source {
    Wav(Box<dyn Iterator<Item = hound::Result<f32>>>),
    Flac { reader: claxon::FlacReader<File>, buffer: Vec<i32>, scale: f32 },
}

/// Frames per WAV block.
const READ_BLOCK: usize = 4096;

impl Reader {
    /// Opens `path` (checked to be a regular WAV or FLAC file with a usable rate and channel count).
    pub fn open(path: &Path) -> Result<Self> {
        let reader = match sniff(path)? {
            FileKind::Wav => Self::open_wav(path),
            FileKind::Flac => Self::open_flac(path),
            FileKind::Midi => bail!("{}: a MIDI file, not audio", path.display()),
        }
        .with_context(|| format!("cannot read {}", path.display()))?;
        if reader.frames == 0 && matches!(reader.source, Source::Wav(_)) {
            bail!("{}: no audio in the file", path.display());
        }
        if !INPUT_RATES_HZ.contains(&reader.sample_rate) {
            bail!(
                "{}: sample rate {} Hz is outside {}..{} Hz",
                path.display(),
                reader.sample_rate,
                INPUT_RATES_HZ.start(),
                INPUT_RATES_HZ.end()
            );
        }
        if reader.channels == 0 || reader.channels > MAX_INPUT_CHANNELS {
            bail!("{}: {} channels (1..{MAX_INPUT_CHANNELS} are read)", path.display(), reader.channels);
        }
        Ok(reader)
    }

    fn open_wav(path: &Path) -> Result<Self> {
        check_wav_encoding(path)?;
        let reader = hound::WavReader::new(BufReader::new(File::open(path)?))?;
        let spec = reader.spec();
        let frames = u64::from(reader.duration());
        let samples: Box<dyn Iterator<Item = hound::Result<f32>>> = match (spec.sample_format, spec.bits_per_sample) {
            // A float file may hold NaN or infinities: silence there, as a player would make.
            (hound::SampleFormat::Float, 32) => {
                Box::new(reader.into_samples::<f32>().map(|s| s.map(|v| if v.is_finite() { v } else { 0.0 })))
            }
            (hound::SampleFormat::Int, bits @ 8..=32) => {
                let scale = 1.0 / (1u64 << (bits - 1)) as f32;
                Box::new(reader.into_samples::<i32>().map(move |s| s.map(|v| v as f32 * scale)))
            }
            (format, bits) => bail!("unsupported WAV sample format: {bits}-bit {format:?}"),
        };
        Ok(Self {
            source: Source::Wav(samples),
            channels: usize::from(spec.channels),
            sample_rate: spec.sample_rate,
            frames,
            interleaved: Vec::new(),
        })
    }

    fn open_flac(path: &Path) -> Result<Self> {
        let reader = claxon::FlacReader::open(path)?;
        let info = reader.streaminfo();
        let scale = 1.0 / (1u64 << (info.bits_per_sample.clamp(1, 32) - 1)) as f32;
        Ok(Self {
            channels: info.channels as usize,
            sample_rate: info.sample_rate,
            frames: info.samples.unwrap_or(0),
            source: Source::Flac { reader, buffer: Vec::new(), scale },
            interleaved: Vec::new(),
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Frames the header declares; 0 when unknown.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The next block of the file into `out` (one `Vec` per channel, resized); returns its frames,
    /// 0 at the end. A truncated or corrupt file is an error, never a short read.
    pub fn read_block(&mut self, out: &mut Vec<Vec<f32>>) -> Result<usize> {
        out.resize_with(self.channels, Vec::new);
        out.iter_mut().for_each(Vec::clear);
        match &mut self.source {
            Source::Wav(samples) => {
                self.interleaved.clear();
                for sample in samples.by_ref().take(READ_BLOCK * self.channels) {
                    self.interleaved.push(sample?);
                }
                if self.interleaved.len() % self.channels != 0 {
                    bail!("the file ends inside a frame");
                }
                for frame in self.interleaved.chunks_exact(self.channels) {
                    for (c, &s) in frame.iter().enumerate() {
                        out[c].push(s);
                    }
                }
            }
            Source::Flac { reader, buffer, scale } => {
                let block = reader.blocks().read_next_or_eof(std::mem::take(buffer))?;
                if let Some(block) = block {
                    if block.channels() as usize != self.channels {
                        bail!("a FLAC frame with {} channels in a {}-channel stream", block.channels(), self.channels);
                    }
                    for (c, channel) in out.iter_mut().enumerate() {
                        channel.extend(block.channel(c as u32).iter().map(|&v| v as f32 * *scale));
                    }
                    *buffer = block.into_buffer();
                }
            }
        }
        Ok(out.first().map_or(0, Vec::len))
    }
}

/// The encodings a WAV header may declare that we do not read, named plainly (hound would call a
/// 64-bit float file ill-formed). Reads only the chunk headers up to `fmt `.
fn check_wav_encoding(path: &Path) -> Result<()> {
    let mut file = BufReader::new(File::open(path)?);
    file.seek(SeekFrom::Start(12))?;
    let mut header = [0u8; 8];
    while file.read_exact(&mut header).is_ok() {
        let len = u64::from(u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")));
        if &header[..4] == b"fmt " {
            let mut fmt = [0u8; 16];
            if file.read_exact(&mut fmt).is_err() {
                return Ok(()); // hound names the truncation
            }
            let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
            let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
            return match (tag, bits) {
                (1 | 0xFFFE, _) | (3, 32) => Ok(()),
                (3, bits) => bail!("unsupported sample format: {bits}-bit float (use 32-bit float or integer PCM)"),
                (tag, _) => {
                    bail!("unsupported sample format: WAV encoding 0x{tag:04x} (use integer PCM or 32-bit float)")
                }
            };
        }
        file.seek(SeekFrom::Current((len + (len & 1)) as i64))?;
    }
    Ok(())
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
    let mut writer = Writer::create(path, audio.channels.len(), audio.sample_rate, depth, audio.frames() as u64)?;
    let channels: Vec<&[f32]> = audio.channels.iter().map(Vec::as_slice).collect();
    writer.write(&channels)?;
    writer.finish()
}

/// Checks an output path before any work is done: its extension, the bit depth the format can
/// hold, its folder, that it is no special file, and that it is none of `inputs` (also through
/// symbolic or hard links): a render never overwrites what it reads.
pub fn check_output(path: &Path, depth: BitDepth, inputs: &[&Path]) -> Result<()> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("wav") => {}
        Some("flac") if depth == BitDepth::Float32 => {
            bail!("FLAC stores integers: use --bit-depth 16 or 24 for .flac")
        }
        Some("flac") => {}
        _ => bail!("{}: the output must end in .wav or .flac", path.display()),
    }
    check_destination(path, inputs)
}

/// Checks a path about to be written (any format): its folder exists, it is no special file, and
/// it is none of `inputs`, also through symbolic or hard links.
pub fn check_destination(path: &Path, inputs: &[&Path]) -> Result<()> {
    let dir = output_dir(path);
    if !dir.is_dir() {
        bail!("{}: no folder {}", path.display(), dir.display());
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            bail!("{}: exists and is not a regular file", path.display());
        }
        for input in inputs {
            if std::fs::metadata(input).is_ok_and(|m| same_file(&m, &meta)) {
                bail!("{}: is the input {} (refusing to overwrite it)", path.display(), input.display());
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

fn output_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Integrated loudness (EBU R 128 / ITU-R BS.1770, gated) and true peak of audio as it is made:
/// one channel counts as mono, two as a stereo pair.
pub struct LoudnessProbe {
    meter: Option<ebur128::EbuR128>,
}

impl LoudnessProbe {
    pub fn new(channels: usize, sample_rate: u32) -> Self {
        let mode = ebur128::Mode::I | ebur128::Mode::TRUE_PEAK;
        Self { meter: ebur128::EbuR128::new(channels.clamp(1, 64) as u32, sample_rate, mode).ok() }
    }

    pub fn add(&mut self, block: &[&[f32]]) {
        if let Some(meter) = &mut self.meter {
            let _ = meter.add_frames_planar_f32(block);
        }
    }

    /// LUFS; minus infinity for silence (below the absolute gate).
    pub fn integrated_lufs(&self) -> f64 {
        self.meter.as_ref().and_then(|m| m.loudness_global().ok()).unwrap_or(f64::NEG_INFINITY)
    }

    /// The highest true peak of any channel, dBTP.
    pub fn true_peak_dbtp(&self) -> f64 {
        let Some(meter) = &self.meter else { return f64::NEG_INFINITY };
        let peak = (0..meter.channels()).filter_map(|c| meter.true_peak(c).ok()).fold(0.0f64, f64::max);
        20.0 * peak.max(1e-12).log10()
    }
}

/// A WAV or FLAC file written block by block into a temporary file beside the target, renamed
/// over it by [`Writer::finish`]; dropped unfinished (an error, an interrupt), it leaves nothing.
/// Memory does not grow with the length. The file gets the user's umask, like any created file.
pub struct Writer {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    encoder: Encoder,
    depth: BitDepth,
    channels: usize,
    dither: Dither,
    interleaved: Vec<i32>,
    peak: f32,
    loudness: LoudnessProbe,
    frames: u64,
}

enum Encoder {
    Wav(hound::WavWriter<BufWriter<File>>),
    Flac(FlacStream),
}

/// The largest WAV data chunk (its size field is 32 bits).
const WAV_MAX_DATA_BYTES: u64 = u32::MAX as u64 - 64;

impl Writer {
    /// Creates the temporary file for `frames_hint` frames (used to refuse a WAV that would pass
    /// 4 GiB before rendering it).
    pub fn create(path: &Path, channels: usize, sample_rate: u32, depth: BitDepth, frames_hint: u64) -> Result<Self> {
        check_output(path, depth, &[])?;
        let flac = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("flac"));
        let bytes = frames_hint * channels as u64 * u64::from(depth.bits() / 8);
        if !flac && bytes > WAV_MAX_DATA_BYTES {
            bail!(
                "{}: a WAV file holds at most 4 GiB and this render needs {:.1} GiB: write .flac, or use a lower --bit-depth",
                path.display(),
                bytes as f64 / f64::from(1u32 << 30)
            );
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix(".ddsp-render-").suffix(".partial");
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let tmp = builder.tempfile_in(output_dir(path)).with_context(|| format!("cannot write {}", path.display()))?;
        let file = tmp.as_file().try_clone().with_context(|| format!("cannot write {}", path.display()))?;
        let encoder = if flac {
            Encoder::Flac(FlacStream::new(BufWriter::new(file), channels, sample_rate, depth.bits())?)
        } else {
            let spec = hound::WavSpec {
                channels: channels as u16,
                sample_rate,
                bits_per_sample: depth.bits(),
                sample_format: if depth == BitDepth::Float32 {
                    hound::SampleFormat::Float
                } else {
                    hound::SampleFormat::Int
                },
            };
            Encoder::Wav(hound::WavWriter::new(BufWriter::new(file), spec)?)
        };
        Ok(Self {
            tmp,
            path: path.to_owned(),
            encoder,
            depth,
            channels,
            dither: Dither(DITHER_SEED),
            interleaved: Vec::new(),
            peak: 0.0,
            loudness: LoudnessProbe::new(channels, sample_rate),
            frames: 0,
        })
    }

    /// Appends one block: `channels` slices of equal length.
    pub fn write(&mut self, block: &[&[f32]]) -> Result<()> {
        debug_assert_eq!(block.len(), self.channels);
        let frames = block.first().map_or(0, |c| c.len());
        self.peak = block.iter().flat_map(|c| c.iter()).fold(self.peak, |m, v| m.max(v.abs()));
        self.loudness.add(block);
        self.frames += frames as u64;
        let result = match &mut self.encoder {
            Encoder::Wav(writer) if self.depth == BitDepth::Float32 => (0..frames)
                .try_for_each(|i| block.iter().try_for_each(|c| writer.write_sample(c[i])))
                .map_err(anyhow::Error::from),
            encoder => {
                self.interleaved.clear();
                for i in 0..frames {
                    for channel in block {
                        self.interleaved.push(self.dither.quantise(channel[i], self.depth.bits()));
                    }
                }
                match encoder {
                    Encoder::Wav(writer) => {
                        self.interleaved.iter().try_for_each(|&s| writer.write_sample(s)).map_err(anyhow::Error::from)
                    }
                    Encoder::Flac(stream) => stream.write(&self.interleaved),
                }
            }
        };
        result.with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Largest absolute sample written so far (before quantisation).
    pub fn peak(&self) -> f32 {
        self.peak
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Integrated loudness of what was written, LUFS.
    pub fn loudness(&self) -> f64 {
        self.loudness.integrated_lufs()
    }

    /// Completes the headers and renames the file into place.
    pub fn finish(self) -> Result<()> {
        let Self { tmp, path, encoder, .. } = self;
        let context = || format!("cannot write {}", path.display());
        match encoder {
            Encoder::Wav(writer) => writer.finalize().with_context(context)?,
            Encoder::Flac(stream) => stream.finish().with_context(context)?,
        }
        tmp.persist(&path).map_err(|e| e.error).with_context(context)?;
        Ok(())
    }
}

/// A FLAC stream encoded frame by frame (fixed 4096-sample blocks, single-threaded so the bytes are
/// the same on every machine); STREAMINFO is written last, over a placeholder.
struct FlacStream {
    out: BufWriter<File>,
    config: flacenc::error::Verified<flacenc::config::Encoder>,
    input: (flacenc::source::FrameBuf, flacenc::source::Context),
    pending: Vec<i32>,
    sink: flacenc::bitsink::ByteSink,
    channels: usize,
    sample_rate: u32,
    bits: u16,
    frame_bytes: (usize, usize),
}

/// "fLaC", then the STREAMINFO block header: last metadata block, type 0, 34 bytes.
const FLAC_HEAD: [u8; 8] = [b'f', b'L', b'a', b'C', 0x80, 0, 0, 34];

impl FlacStream {
    fn new(mut out: BufWriter<File>, channels: usize, sample_rate: u32, bits: u16) -> Result<Self> {
        use flacenc::error::Verify;
        let mut config = flacenc::config::Encoder::default();
        config.multithread = false;
        let config = config.into_verified().map_err(|(_, e)| anyhow::anyhow!("FLAC encoder settings: {e:?}"))?;
        let block = config.block_size;
        let input = (
            flacenc::source::FrameBuf::with_size(channels, block).map_err(|e| anyhow::anyhow!("FLAC: {e:?}"))?,
            flacenc::source::Context::new(usize::from(bits), channels),
        );
        out.write_all(&FLAC_HEAD)?;
        out.write_all(&[0; 34])?;
        Ok(Self {
            out,
            config,
            input,
            pending: Vec::with_capacity(block * channels),
            sink: flacenc::bitsink::ByteSink::new(),
            channels,
            sample_rate,
            bits,
            frame_bytes: (usize::MAX, 0),
        })
    }

    fn stream_info(&self) -> Result<flacenc::component::StreamInfo> {
        flacenc::component::StreamInfo::new(self.sample_rate as usize, self.channels, usize::from(self.bits))
            .map_err(|e| anyhow::anyhow!("FLAC: {e:?}"))
    }

    fn write(&mut self, interleaved: &[i32]) -> Result<()> {
        let block = self.config.block_size * self.channels;
        let mut rest = interleaved;
        while !rest.is_empty() {
            let take = (block - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == block {
                self.encode_pending()?;
            }
        }
        Ok(())
    }

    fn encode_pending(&mut self) -> Result<()> {
        use flacenc::component::BitRepr;
        use flacenc::source::Fill;
        if self.pending.is_empty() {
            return Ok(());
        }
        self.input.fill_interleaved(&self.pending).map_err(|e| anyhow::anyhow!("FLAC: {e:?}"))?;
        self.pending.clear();
        let number = self.input.1.current_frame_number().unwrap_or(0);
        let frame = flacenc::encode_fixed_size_frame(&self.config, &self.input.0, number, &self.stream_info()?)
            .map_err(|e| anyhow::anyhow!("FLAC encoding failed: {e:?}"))?;
        self.sink.clear();
        frame.write(&mut self.sink).map_err(|e| anyhow::anyhow!("FLAC encoding failed: {e:?}"))?;
        let bytes = self.sink.as_slice();
        self.frame_bytes = (self.frame_bytes.0.min(bytes.len()), self.frame_bytes.1.max(bytes.len()));
        self.out.write_all(bytes)?;
        Ok(())
    }

    /// Encodes the last, short block and writes STREAMINFO. Its minimum block size is the stream's
    /// block size, not the last block's: the format allows the last block to be shorter, and
    /// readers that seek (libsndfile, sox) rely on min == max for a fixed-blocksize stream.
    fn finish(mut self) -> Result<()> {
        use flacenc::component::BitRepr;
        self.encode_pending()?;
        let mut info = self.stream_info()?;
        let block = self.config.block_size;
        info.set_block_sizes(block, block).map_err(|e| anyhow::anyhow!("FLAC: {e:?}"))?;
        if self.frame_bytes.1 > 0 {
            info.set_frame_sizes(self.frame_bytes.0, self.frame_bytes.1).map_err(|e| anyhow::anyhow!("FLAC: {e:?}"))?;
        }
        info.set_total_samples(self.input.1.total_samples());
        info.set_md5_digest(&self.input.1.md5_digest());
        self.sink.clear();
        info.write(&mut self.sink).map_err(|e| anyhow::anyhow!("FLAC: {e:?}"))?;
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(FLAC_HEAD.len() as u64))?;
        file.write_all(self.sink.as_slice())?;
        file.flush()?;
        Ok(())
    }
}
