//! Standard MIDI files (type 0, 1 and 2) to timed instrument events: tempo map, notes, velocity,
//! pitch bend, CC1/CC11/CC64 and channel pressure, all tracks and channels merged or one selected.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use ddsp_core::InstrumentEvent;
use midly::{MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};

/// Which part of the file plays.
#[derive(Clone, Copy, Debug, Default)]
pub struct Selection {
    /// Track number, counted from 1 as DAWs (and MIDI channels) count; all when `None`.
    pub track: Option<usize>,
    /// MIDI channel 1..=16; all when `None`.
    pub channel: Option<u8>,
    /// Semitones added to every note.
    pub transpose: i32,
}

/// The events to play, in time order (seconds from the file's start, MIDI channel 0-based).
pub struct Phrase {
    pub events: Vec<(f64, u8, InstrumentEvent)>,
    pub notes: usize,
    /// Time of the last event, seconds.
    pub end_s: f64,
}

impl Phrase {
    /// The most notes held at once (sounding keys per channel; pedals not counted): what a render
    /// needs as voices to play every note of a chord.
    pub fn max_simultaneous_notes(&self) -> usize {
        let mut held = std::collections::HashSet::new();
        let mut most = 0;
        for &(_, channel, event) in &self.events {
            match event {
                InstrumentEvent::NoteOn { note, .. } => {
                    held.insert((channel, note));
                    most = most.max(held.len());
                }
                InstrumentEvent::NoteOff { note } => {
                    held.remove(&(channel, note));
                }
                _ => {}
            }
        }
        most
    }

    /// When the first chord starts, seconds: a note-on within [`CHORD_SPREAD_S`] of another still
    /// held note's onset on the same channel (a strummed or rolled chord, not a legato overlap,
    /// whose notes start further apart). What a mono render would play as one note.
    pub fn first_chord_s(&self) -> Option<f64> {
        let mut held: Vec<(u8, u8, f64)> = Vec::new();
        for &(t, channel, event) in &self.events {
            match event {
                InstrumentEvent::NoteOn { note, .. } => {
                    if held.iter().any(|&(c, n, onset)| c == channel && n != note && t - onset <= CHORD_SPREAD_S) {
                        return Some(t);
                    }
                    held.push((channel, note, t));
                }
                InstrumentEvent::NoteOff { note } => held.retain(|&(c, n, _)| !(c == channel && n == note)),
                _ => {}
            }
        }
        None
    }
}

/// Note-ons this close together (seconds) are one chord.
pub const CHORD_SPREAD_S: f64 = 0.03;

/// Default tempo before the first tempo event: 120 BPM.
const DEFAULT_TEMPO_US: f64 = 500_000.0;

/// Checks the chunk structure before parsing: midly tolerates a cut-off track (and plays what is
/// left); a renderer must not quietly drop the end of a piece.
fn check_chunks(bytes: &[u8]) -> Result<()> {
    if bytes.len() < 14 || &bytes[..4] != b"MThd" {
        bail!("not a standard MIDI file (no MThd header)");
    }
    // An SMPTE division names its frame rate as a negative byte: -24, -25, -29 (29.97) or -30.
    // (Checked here: midly negates the byte first, which overflows on -128.)
    if bytes[12] & 0x80 != 0 && ![0xE8, 0xE7, 0xE3, 0xE2].contains(&bytes[12]) {
        bail!(
            "invalid MIDI file: SMPTE time division with frame rate byte 0x{:02x} (not 24, 25, 29.97 or 30)",
            bytes[12]
        );
    }
    let mut pos = 0;
    let mut index = 0;
    while pos < bytes.len() {
        if bytes.len() - pos < 8 {
            bail!("truncated MIDI file: {} stray bytes after chunk {index}", bytes.len() - pos);
        }
        let len = u32::from_be_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        let available = bytes.len() - pos - 8;
        if len > available {
            bail!("truncated MIDI file: chunk {index} declares {len} bytes, {available} present");
        }
        pos += 8 + len;
        index += 1;
    }
    Ok(())
}

/// The largest MIDI file read: far above any real piece (a 100k-note file is ~1 MB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Reads and parses a standard MIDI file; special files (FIFO, device, directory) are refused
/// before opening, and no more than [`MAX_FILE_BYTES`] are read whatever the file system says.
pub fn read(path: &Path, selection: Selection) -> Result<Phrase> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{}: not a regular file", path.display());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        bail!("{}: larger than {} MB, not a MIDI file we play", path.display(), MAX_FILE_BYTES >> 20);
    }
    parse(&bytes, selection).with_context(|| format!("{}", path.display()))
}

pub fn parse(bytes: &[u8], selection: Selection) -> Result<Phrase> {
    check_chunks(bytes)?;
    let smf = Smf::parse(bytes).map_err(|e| anyhow::anyhow!("invalid MIDI file: {e}"))?;
    if let Timing::Timecode(fps, 0) = smf.header.timing {
        bail!("invalid MIDI file: SMPTE time division ({} frames/s) with 0 ticks per frame", fps.as_f32());
    }
    if let Some(track) = selection.track {
        match smf.tracks.len() {
            _ if track == 0 => bail!("no track 0: tracks count from 1, as channels do"),
            0 => bail!("no track {track}: the file has no tracks"),
            n if track > n => bail!("no track {track}: the file has {n} (1..{n})"),
            _ => {}
        }
    }

    // Absolute ticks of every event: (tick, track, order, kind).
    let mut timed = Vec::new();
    let mut tempo_map: Vec<(u64, f64)> = Vec::new();
    for (t, track) in smf.tracks.iter().enumerate() {
        let mut tick = 0u64;
        for (order, event) in track.iter().enumerate() {
            tick += u64::from(event.delta.as_int());
            match event.kind {
                TrackEventKind::Meta(MetaMessage::Tempo(us)) => tempo_map.push((tick, f64::from(us.as_int()))),
                TrackEventKind::Midi { channel, message } => {
                    let wanted = selection.track.is_none_or(|s| s == t + 1)
                        && selection.channel.is_none_or(|c| c == channel.as_int() + 1);
                    if wanted {
                        timed.push((tick, t, order, channel.as_int(), message));
                    }
                }
                _ => {}
            }
        }
    }
    tempo_map.sort_by_key(|&(tick, _)| tick);
    timed.sort_by_key(|&(tick, t, order, _, _)| (tick, t, order));

    // Seconds at a tick, for ticks in increasing order: one walk along the tempo map, so a file
    // with many tempo changes costs events + tempos, not their product.
    let mut tempo_at = 0; // tempo_map entries already passed
    let (mut tempo_seconds, mut tempo_tick, mut tempo_us) = (0.0, 0u64, DEFAULT_TEMPO_US);
    let mut seconds_at = |tick: u64| -> f64 {
        match smf.header.timing {
            Timing::Timecode(fps, subframes) => tick as f64 / (f64::from(fps.as_f32()) * f64::from(subframes)),
            Timing::Metrical(tpb) => {
                let seconds_per_tick = |us: f64| us / f64::from(tpb.as_int().max(1)) * 1e-6;
                while let Some(&(at, us)) = tempo_map.get(tempo_at).filter(|&&(at, _)| at < tick) {
                    tempo_seconds += (at - tempo_tick) as f64 * seconds_per_tick(tempo_us);
                    (tempo_tick, tempo_us) = (at, us);
                    tempo_at += 1;
                }
                tempo_seconds + (tick - tempo_tick) as f64 * seconds_per_tick(tempo_us)
            }
        }
    };

    let unit = |v: u8| f32::from(v) / 127.0;
    let key = |k: u8| (i32::from(k) + selection.transpose).clamp(0, 127) as u8;
    let mut events = Vec::with_capacity(timed.len());
    let mut notes = 0;
    for (tick, _, _, channel, message) in timed {
        let event = match message {
            MidiMessage::NoteOn { key: k, vel } if vel.as_int() > 0 => {
                notes += 1;
                InstrumentEvent::NoteOn { note: key(k.as_int()), velocity: unit(vel.as_int()) }
            }
            MidiMessage::NoteOn { key: k, .. } | MidiMessage::NoteOff { key: k, .. } => {
                InstrumentEvent::NoteOff { note: key(k.as_int()) }
            }
            MidiMessage::PitchBend { bend } => InstrumentEvent::PitchBend { value: bend.as_f32() },
            MidiMessage::Controller { controller, value } => {
                InstrumentEvent::ControlChange { cc: controller.as_int(), value: unit(value.as_int()) }
            }
            MidiMessage::ChannelAftertouch { vel } => InstrumentEvent::ChannelPressure { value: unit(vel.as_int()) },
            MidiMessage::Aftertouch { key: k, vel } => InstrumentEvent::NoteExpression {
                note: key(k.as_int()),
                expression: ddsp_core::NoteExpression::Pressure,
                value: unit(vel.as_int()),
            },
            _ => continue,
        };
        events.push((seconds_at(tick), channel, event));
    }
    if notes == 0 {
        let scope = match (selection.track, selection.channel) {
            (None, None) => String::new(),
            (track, channel) => format!(
                " in the selection (track {}, channel {})",
                track.map_or("all".to_owned(), |t| t.to_string()),
                channel.map_or("all".to_owned(), |c| c.to_string())
            ),
        };
        bail!("the MIDI file has no notes{scope}");
    }
    let end_s = events.last().map_or(0.0, |e| e.0);
    Ok(Phrase { events, notes, end_s })
}
