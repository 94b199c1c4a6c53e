//! Mutation fuzzing of what `ddsp render` reads: the MIDI reader (then the render of what it
//! accepts) and the WAV/FLAC reader, from the seed corpus in `tests/corpus/` (written by
//! `scripts/make-fuzz-corpus.py`). Every mutated file must give a one-line error or a finite
//! result: never a panic, an abort or a hang. The model loaders are fuzzed in dsp-core
//! (`tests/model_fuzz.rs`). Bounded for CI: `DDSP_FUZZ_CASES` cases per seed file (default 150 for
//! MIDI, 300 for audio); executions per target are printed.

#[path = "../../dsp-core/tests/common/mutate.rs"]
mod mutate;

use std::path::PathBuf;
use std::sync::Arc;

use ddsp_cli::audio_io::Reader;
use ddsp_core::{InstrumentSettings, Model};
use ddsp_engine::midi::{self, Selection};
use ddsp_engine::offline::{self, RenderSettings};
use proptest::prelude::*;

fn corpus(extensions: &[&str]) -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| extensions.iter().any(|x| e == *x)))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seed files in {}", dir.display());
    files
}

#[test]
fn fuzz_the_midi_reader_and_the_render_of_what_it_accepts() {
    let model = Arc::new(Model::embedded_default().with_run_mode(ddsp_core::model::RunMode::Offline));
    // Short renders only: the length limit is part of what is checked.
    let settings = RenderSettings {
        tail_s: Some(0.1),
        max_length_s: 1.5,
        instrument: InstrumentSettings { voices: 4, ..InstrumentSettings::default() },
        ..RenderSettings::default()
    };
    let seeds = corpus(&["mid"]);
    let (mut tried, mut parsed, mut rendered) = (0, 0, 0);
    for seed in &seeds {
        let good = std::fs::read(seed).unwrap();
        mutate::run(&good, mutate::cases(150), |bytes| {
            tried += 1;
            let selection = Selection { track: Some(2), channel: Some(10), transpose: 7 };
            if let Err(e) = midi::parse(bytes, selection) {
                let message = format!("{e:#}");
                prop_assert!(!message.is_empty());
            }
            match midi::parse(bytes, Selection::default()) {
                Err(e) => {
                    let message = format!("{e:#}");
                    prop_assert!(!message.contains('\n'), "one line: {}", message);
                }
                Ok(phrase) => {
                    parsed += 1;
                    prop_assert!(phrase.end_s.is_finite() && phrase.end_s >= 0.0);
                    if offline::midi_render_frames(&phrase, &settings).is_ok() {
                        rendered += 1;
                        let out = offline::render_midi(model.clone(), &phrase, &settings, &mut |_| {}).unwrap();
                        prop_assert!(out.iter().flatten().all(|v| v.is_finite()), "non-finite output");
                    }
                }
            }
            Ok(())
        });
    }
    println!(
        "fuzz MIDI: {} seeds, {tried} mutated files, {parsed} parsed, {rendered} rendered (≤ 1.5 s), {} refused with an error, 0 crashes",
        seeds.len(),
        tried - parsed
    );
}

#[test]
fn fuzz_the_wav_and_flac_reader() {
    let scratch = std::env::temp_dir().join(format!("ddsp-cli-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let seeds = corpus(&["wav", "flac"]);
    let (mut tried, mut read) = (0, 0);
    for seed in &seeds {
        let good = std::fs::read(seed).unwrap();
        let file = scratch.join(seed.file_name().unwrap());
        mutate::run(&good, mutate::cases(300), |bytes| {
            tried += 1;
            std::fs::write(&file, bytes).unwrap();
            let result = Reader::open(&file).and_then(|mut reader| {
                let mut block = Vec::new();
                let mut frames = 0;
                loop {
                    let n = reader.read_block(&mut block)?;
                    if n == 0 {
                        return Ok(frames);
                    }
                    anyhow::ensure!(block.len() == reader.channels(), "block channels");
                    anyhow::ensure!(block.iter().all(|c| c.len() == n), "ragged block");
                    // Finite; not necessarily within full scale (a float file may hold any value,
                    // a damaged FLAC frame may disagree with its stream's bit depth).
                    anyhow::ensure!(block.iter().flatten().all(|v| v.is_finite()), "sample out of range");
                    frames += n;
                    // A FLAC frame of a few bytes may hold up to 65,535 constant samples; more than
                    // that per byte would be a reader making audio up.
                    anyhow::ensure!(frames <= bytes.len() * 65_535, "more frames than bytes");
                }
            });
            match result {
                Ok(_) => read += 1,
                Err(e) => {
                    let message = format!("{e:#}");
                    prop_assert!(!message.contains("block channels") && !message.contains("ragged"), "{}", message);
                    prop_assert!(!message.contains("out of range") && !message.contains("more frames"), "{}", message);
                }
            }
            Ok(())
        });
    }
    println!(
        "fuzz WAV/FLAC: {} seeds, {tried} mutated files, {read} read to the end, {} refused with an error, 0 crashes",
        seeds.len(),
        tried - read
    );
    std::fs::remove_dir_all(&scratch).unwrap();
}
