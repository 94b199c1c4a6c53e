//! `ddsp infer MODEL --raw IN.csv -o OUT.csv`: a model's native tensors, frame by frame.
//!
//! Both files have a header; a tensor of n values spans n columns `TENSOR[0]`..`TENSOR[n-1]`, in
//! any order. The recurrent state (or a windowed model's window) is carried by the runtime: state
//! tensors are neither read nor written.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use ddsp_core::model::{NativeRunner, TensorSpec};
use ddsp_core::Model;

/// Column names of a tensor: `NAME[0]`..`NAME[n-1]`.
fn columns(spec: &TensorSpec) -> impl Iterator<Item = String> + '_ {
    (0..spec.len()).map(|i| format!("{}[{i}]", spec.name))
}

pub fn run(model: &Model, input: &Path, output: &Path) -> Result<()> {
    let io = model.native_io();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let header: HashMap<String, usize> = reader
        .headers()
        .with_context(|| format!("{}: no header row", input.display()))?
        .iter()
        .enumerate()
        .map(|(i, name)| (name.to_owned(), i))
        .collect();
    // Where each input value comes from.
    let mut sources: Vec<Vec<usize>> = Vec::new();
    for spec in &io.inputs {
        let mut slots = Vec::new();
        for column in columns(spec) {
            match header.get(&column) {
                Some(&i) => slots.push(i),
                None => {
                    let expected: Vec<String> = io.inputs.iter().flat_map(columns).collect();
                    bail!("{}: no column '{column}' (the model's inputs are {})", input.display(), expected.join(","));
                }
            }
        }
        sources.push(slots);
    }
    let known: Vec<String> = io.inputs.iter().flat_map(columns).collect();
    if let Some(unknown) = header.keys().find(|k| !known.contains(k)) {
        let state = io.state.iter().any(|s| unknown.starts_with(&format!("{}[", s.name)));
        let why = if state { "state is carried by the runtime" } else { "not an input of this model" };
        bail!("{}: column '{unknown}' ({why}; inputs are {})", input.display(), known.join(","));
    }

    let tmp = output.with_extension("csv.partial");
    let result = (|| -> Result<usize> {
        let mut writer = csv::Writer::from_path(&tmp).with_context(|| format!("cannot write {}", output.display()))?;
        writer.write_record(io.outputs.iter().flat_map(columns))?;
        let mut runner = NativeRunner::new(model);
        let mut frames = 0;
        for (row, record) in reader.records().enumerate() {
            let record = record.with_context(|| format!("{}: row {}", input.display(), row + 2))?;
            let mut inputs = Vec::with_capacity(sources.len());
            for slots in &sources {
                let mut values = Vec::with_capacity(slots.len());
                for &i in slots {
                    let text = record.get(i).unwrap_or("");
                    let value: f32 = text.parse().with_context(|| {
                        format!("{}: row {}, column {}: '{text}' is not a number", input.display(), row + 2, i + 1)
                    })?;
                    values.push(value);
                }
                inputs.push(values);
            }
            let outputs = runner.step(&inputs)?;
            writer.write_record(outputs.iter().flatten().map(|v| format!("{v:e}")))?;
            frames += 1;
        }
        writer.flush()?;
        Ok(frames)
    })();
    match result {
        Ok(frames) => {
            std::fs::rename(&tmp, output).with_context(|| format!("cannot write {}", output.display()))?;
            println!("{frames} frames through '{}' ({}) to {}", model.meta.name, model.format(), output.display());
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
