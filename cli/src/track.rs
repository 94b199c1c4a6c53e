//! `ddsp track IN.wav -o OUT.csv`: the real-time tracker over a file, one row per tracker hop.
//!
//! `time_s` is when the real-time path has the estimate (the end of its hop), so the tracker's delay
//! is visible against any reference.

use std::path::Path;

use anyhow::{Context, Result};
use ddsp_core::tracking::{PitchSettings, Tracker};

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
