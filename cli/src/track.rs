//! `ddsp track IN.wav -o OUT.csv`: the real-time tracker over a file, one row per tracker hop;
//! `--midi OUT.mid`: the effect's live MIDI out over the same file, as a standard MIDI file.
//!
//! `time_s` is when the real-time path has the estimate (the end of its hop), so the tracker's delay
//! is visible against any reference.

use std::path::Path;

use std::sync::Arc;

use anyhow::{Context, Result};
use ddsp_core::effect::{EffectSettings, TimbreTransfer};
use ddsp_core::tracking::{MidiOut, MidiOutMode, PitchSettings, Tracker};
use ddsp_core::Model;
use midly::live::LiveEvent;
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// Reads a WAV or FLAC file as mono f32 (channels averaged) and its sample rate.
pub fn read_mono(path: &Path) -> Result<(Vec<f32>, u32)> {
    let audio = crate::audio_io::read(path)?;
    Ok((audio.mono(), audio.sample_rate))
}

pub fn run(input: &Path, output: &Path, settings: PitchSettings) -> Result<()> {
    let (audio, sample_rate) = read_mono(input)?;
    let mut tracker = Tracker::new(sample_rate as f32, settings);
    let tmp = output.with_extension("csv.partial");
    let result = (|| -> Result<usize> {
        let mut writer = csv::Writer::from_path(&tmp).with_context(|| format!("cannot write {}", output.display()))?;
        writer.write_record(["time_s", "f0_hz", "confidence", "voiced", "loudness_db"])?;
        let mut rows = Vec::new();
        tracker.process(&audio, |f| rows.push(*f));
        for f in &rows {
            writer.write_record([
                format!("{:.6}", f.at_sample as f64 / f64::from(sample_rate)),
                format!("{:.3}", f.f0_hz),
                format!("{:.4}", f.confidence),
                u8::from(f.voiced).to_string(),
                format!("{:.3}", f.loudness_db),
            ])?;
        }
        writer.flush()?;
        Ok(rows.len())
    })();
    match result {
        Ok(rows) => {
            std::fs::rename(&tmp, output).with_context(|| format!("cannot write {}", output.display()))?;
            println!(
                "{rows} frames ({:.1} ms hop) from {:.2} s of audio at {sample_rate} Hz to {}",
                1e3 * tracker.hop_samples() as f64 / f64::from(sample_rate),
                audio.len() as f64 / f64::from(sample_rate),
                output.display()
            );
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// What `ddsp track --midi` wrote.
pub struct MidiSummary {
    pub notes: usize,
    pub bends: usize,
    /// The effect's reported latency the events were moved earlier by, s.
    pub latency_s: f64,
}

/// MIDI file resolution: ticks per quarter note at [`TEMPO_US_PER_QUARTER`] (1,920 ticks a
/// second: half a millisecond).
const TICKS_PER_QUARTER: u16 = 960;
const TEMPO_US_PER_QUARTER: u32 = 500_000;

/// Runs `input` through the effect (its tracker, pitch correction and MIDI out, exactly as the
/// plugin does) with `model` and `settings`, and writes the MIDI it sends as a type-0 standard
/// MIDI file at 120 BPM. Events are moved earlier by the effect's reported latency, as a host's
/// delay compensation moves its audio. The file starts by setting the receiver's bend range
/// (RPN 0) on every channel it uses, and in MPE mode the zone (MCM: 15 member channels).
pub fn write_midi(input: &Path, output: &Path, model: Arc<Model>, settings: EffectSettings) -> Result<MidiSummary> {
    let (audio, sample_rate) = read_mono(input)?;
    let mut fx = TimbreTransfer::new(model, sample_rate as f32, settings);
    let latency = fx.latency_samples() as usize;
    let mut events: Vec<(usize, MidiOut)> = Vec::new();
    let mut scratch = vec![0.0f32; 1024];
    let mut pos = 0;
    for block in audio.chunks(scratch.len()) {
        fx.process(block, &mut scratch[..block.len()]);
        fx.drain_midi_out(|e| events.push((pos + e.at, e.event)));
        pos += block.len();
    }
    fx.end_midi_out_notes();
    fx.drain_midi_out(|e| events.push((pos + e.at, e.event)));

    let ticks_per_second = f64::from(TICKS_PER_QUARTER) * 1e6 / f64::from(TEMPO_US_PER_QUARTER);
    let tick = |sample: usize| {
        (sample.saturating_sub(latency) as f64 / f64::from(sample_rate) * ticks_per_second).round() as u32
    };
    let mut track = vec![TrackEvent {
        delta: 0.into(),
        kind: TrackEventKind::Meta(MetaMessage::Tempo(TEMPO_US_PER_QUARTER.into())),
    }];
    let range = settings.midi_out.bend_range_semitones.round().clamp(1.0, 96.0) as u8;
    let channels: Vec<u8> = match settings.midi_out.mode {
        MidiOutMode::Mpe => {
            // MPE configuration message on the manager channel: a lower zone of 15 members.
            track.extend(rpn(0, 6, 15));
            (1..16).collect()
        }
        _ => vec![settings.midi_out.channel.min(15)],
    };
    for &channel in &channels {
        track.extend(rpn(channel, 0, range));
    }
    let (mut last, mut notes, mut bends) = (0u32, 0, 0);
    for (at, event) in &events {
        let now = tick(*at);
        match event {
            MidiOut::NoteOn { .. } => notes += 1,
            MidiOut::PitchBend { .. } => bends += 1,
            _ => {}
        }
        // The same bytes the plugin and the embedding API send.
        let (bytes, len) = event.to_bytes();
        let Ok(LiveEvent::Midi { channel, message }) = LiveEvent::parse(&bytes[..len]) else {
            unreachable!("MidiOut::to_bytes makes channel messages")
        };
        track.push(TrackEvent { delta: (now - last.min(now)).into(), kind: TrackEventKind::Midi { channel, message } });
        last = last.max(now);
    }
    track.push(TrackEvent { delta: 0.into(), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) });
    let smf = Smf {
        header: Header::new(Format::SingleTrack, Timing::Metrical(TICKS_PER_QUARTER.into())),
        tracks: vec![track],
    };
    let tmp = output.with_extension("mid.partial");
    let result = smf.save(&tmp).with_context(|| format!("cannot write {}", output.display()));
    match result
        .and_then(|()| std::fs::rename(&tmp, output).with_context(|| format!("cannot write {}", output.display())))
    {
        Ok(()) => Ok(MidiSummary { notes, bends, latency_s: latency as f64 / f64::from(sample_rate) }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Sets registered parameter `parameter` of `channel` to `value` (data entry MSB), then deselects
/// it (RPN null), as receivers expect.
fn rpn(channel: u8, parameter: u8, value: u8) -> Vec<TrackEvent<'static>> {
    [(101, 0), (100, parameter), (6, value), (38, 0), (101, 127), (100, 127)]
        .into_iter()
        .map(|(controller, v): (u8, u8)| TrackEvent {
            delta: 0.into(),
            kind: TrackEventKind::Midi {
                channel: channel.into(),
                message: MidiMessage::Controller { controller: controller.into(), value: v.into() },
            },
        })
        .collect()
}
