//! `ddsp bench`: the engine's x-real-time figures on this machine, through the same code paths as
//! `ddsp render` (file encoding excluded): one voice with and without mastering at each quality,
//! four voices, and timbre transfer.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use ddsp_core::master::{MasterPreset, MasterSettings, Quality};
use ddsp_core::Model;

use crate::audio_io::{Audio, BitDepth};
use crate::render::{self, Progress, RenderOptions};
use ddsp_engine::midi::{Phrase, Selection};

const SAMPLE_RATE: u32 = 48_000;

/// The demo phrase repeated to `seconds`.
fn phrase(seconds: f64) -> Phrase {
    let one = crate::demo_phrase();
    let period = 4.5;
    let mut events = Vec::new();
    let mut offset = 0.0;
    while offset + period <= seconds.max(period) {
        events.extend(one.iter().map(|&(t, e)| (t + offset, 0, e)));
        offset += period;
    }
    let notes = events.iter().filter(|(_, _, e)| matches!(e, ddsp_core::InstrumentEvent::NoteOn { .. })).count();
    let end_s = events.last().map_or(0.0, |e| e.0);
    Phrase { events, notes, end_s }
}

fn options(master: MasterSettings, voices: usize) -> RenderOptions {
    RenderOptions {
        sample_rate: SAMPLE_RATE,
        bit_depth: BitDepth::Int24,
        master,
        master_label: String::new(),
        // One voice: the solo instrument (mono mode); more: poly with that many voices.
        instrument: ddsp_core::InstrumentSettings {
            mode: if voices == 1 { ddsp_core::VoiceMode::Mono } else { ddsp_core::VoiceMode::Poly },
            voices,
            ..ddsp_core::InstrumentSettings::default()
        },
        transpose: 0,
        tail_s: Some(1.0),
        selection: Selection::default(),
        align: true,
        align_pitch_down_to_hz: 0.0,
        max_length_s: ddsp_engine::offline::MAX_LENGTH_S,
        loudness_lufs: None,
        gain_db: 0.0,
    }
}

fn report(label: &str, audio_s: f64, started: Instant) {
    let wall = started.elapsed().as_secs_f64();
    println!("{label:<44} {audio_s:>7.1} s in {wall:>6.2} s  {:>7.1}x real time", audio_s / wall.max(1e-9));
}

pub fn run(seconds: f64) -> Result<()> {
    anyhow::ensure!(seconds.is_finite() && (1.0..=3600.0).contains(&seconds), "--seconds must be 1..3600");
    let model = Arc::new(Model::embedded_default().with_run_mode(ddsp_core::model::RunMode::Offline));
    let phrase = phrase(seconds);
    println!(
        "ddsp bench: {:.0} s phrase ({} notes), 48 kHz, embedded model '{}', {} threads available",
        phrase.end_s + 1.0,
        phrase.notes,
        model.meta.name,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let midi = |label: &str, master: MasterSettings, voices: usize| -> Result<Audio> {
        let started = Instant::now();
        let mut progress = Progress::new(0, "");
        let audio = render::render_midi(Arc::clone(&model), &phrase, &options(master, voices), &mut progress)?;
        report(label, audio.frames() as f64 / f64::from(SAMPLE_RATE), started);
        Ok(audio)
    };
    let dry = midi("render MIDI, 1 voice, master off", MasterSettings::off(), 1)?;
    for quality in Quality::ALL {
        let label = format!("render MIDI, 1 voice, master flat/{}", quality.name());
        midi(&label, MasterPreset::Flat.settings(quality), 1)?;
    }
    midi("render MIDI, 4 voices, master flat/standard", MasterPreset::Flat.settings(Quality::Standard), 4)?;

    let started = Instant::now();
    let mut progress = Progress::new(0, "");
    let input = Audio { channels: dry.channels, sample_rate: SAMPLE_RATE };
    let transfer = options(MasterPreset::Flat.settings(Quality::Standard), 1);
    let out = render::render_audio(
        Arc::clone(&model),
        input,
        &RenderOptions { tail_s: Some(0.0), ..transfer },
        &mut progress,
    )?;
    report("timbre transfer (audio in), master flat/standard", out.frames() as f64 / f64::from(SAMPLE_RATE), started);
    Ok(())
}
