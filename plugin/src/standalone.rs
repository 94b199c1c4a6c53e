//! The standalone applications' command line: what the program is, `--version`, `--model` and
//! `--list-models`, in front of nice-plug's own audio/MIDI/window options (which it parses).
//!
//! ```text
//! argv ─ ours (--help header, --version, --model, --list-models) ─ the rest ─ nice-plug standalone
//!                      └ model_slot::set_startup_model (played when the session names none)
//! ```

use std::path::Path;
use std::process::ExitCode;

use ddsp_core::library::EntryOrigin;
use ddsp_core::{BuiltInModel, ModelChoice, ModelLibrary, ModelRef};
use nice_plug::prelude::Plugin;

use crate::model_slot::{set_startup_model, StartupModel};

/// One standalone program: its binary name, a line on what it is, and usage examples.
pub struct App {
    pub binary: &'static str,
    pub about: &'static str,
    pub examples: &'static str,
}

pub const INSTRUMENT: App = App {
    binary: "ddsp-instrument",
    about: "a neural instrument played from MIDI: a trained model (flute, violin, cello, trumpet, alto \
            sax, clarinet, French horn and choir \"aah\" built in, or your own ONNX / DDSP-VST .tflite file) \
            drives a harmonic-plus-noise synthesiser. Polyphonic, MPE, sustain pedal.",
    examples: "\
  ddsp-instrument                                    JACK if it runs, else ALSA; default devices
  ddsp-instrument --model violin                     a built-in or library model by name
  ddsp-instrument --model ~/models/oboe.onnx         a model file (ONNX or DDSP-VST .tflite)
  ddsp-instrument --backend alsa --midi-input ''     list the MIDI inputs (any unknown name lists them)
  ddsp-instrument --backend alsa --output-device '' --midi-input 'Keystation 49 MIDI 1'
  ddsp-instrument --backend jack --connect-jack-midi-input 'system:midi_capture_1'
  ddsp-instrument --backend dummy                    no audio hardware (tests, screenshots)",
};

pub const EFFECT: App = App {
    binary: "ddsp-effect",
    about: "timbre transfer: a voice or a monophonic instrument in, a trained model's instrument out \
            (eight instruments built in, or your own model), following its pitch and \
            loudness with 4 ms of latency (the pitch of notes below ~300 Hz: two of their periods), and \
            sending the notes it hears as MIDI.",
    examples: "\
  ddsp-effect --backend alsa --input-device ''       list the audio inputs (ALSA connects no input unless named)
  ddsp-effect --backend alsa --input-device 'default' --output-device 'default' --model cello
  ddsp-effect --backend jack --connect-jack-inputs 'system:capture_1'
  ddsp-effect --model ~/Documents/Magenta/DDSP/Models/Violin.tflite
  ddsp-effect --backend alsa --midi-output ''        list the MIDI ports the tracked notes can go to
  ddsp-effect --backend jack --connect-jack-midi-output 'synth:midi_in'   MIDI out to another program
  ddsp-effect --backend dummy                        no audio hardware (tests, screenshots)",
};

/// What our part of the command line asked for.
#[derive(Debug, PartialEq)]
pub struct Parsed {
    /// `--model`'s value.
    pub model: Option<String>,
    pub version: bool,
    pub help: bool,
    pub list_models: bool,
    /// Everything else, for nice-plug (program name first).
    pub rest: Vec<String>,
}

/// Splits our options off the command line (`--model X`, `--model=X`, `--version`/`-V`,
/// `--help`/`-h`, `--list-models`); the rest goes to nice-plug unchanged.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut args = args.into_iter();
    let mut parsed = Parsed {
        model: None,
        version: false,
        help: false,
        list_models: false,
        rest: args.next().into_iter().collect(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--version" | "-V" => parsed.version = true,
            "--help" | "-h" => parsed.help = true,
            "--list-models" => parsed.list_models = true,
            "--model" => match args.next() {
                Some(value) => parsed.model = Some(value),
                None => return Err("--model needs a value: a model name (--list-models) or a file".into()),
            },
            _ => match arg.strip_prefix("--model=") {
                Some(value) => parsed.model = Some(value.to_owned()),
                None => parsed.rest.push(arg),
            },
        }
    }
    Ok(parsed)
}

/// What `--model SPEC` plays: a file when SPEC is one, else a library model by name (built-in
/// names first). `Err` says why there is none (the default then plays).
pub fn resolve_model(spec: &str, library: &ModelLibrary) -> Result<ModelRef, String> {
    let path = Path::new(spec);
    if path.exists() {
        // A bad file is refused when it loads, with the reason, and the default plays.
        return Ok(ModelRef { path: Some(spec.to_owned()), sha256: None, built_in: None });
    }
    match library.find(spec) {
        Some(entry) => match entry.choice {
            ModelChoice::BuiltIn(model) => Ok(ModelRef::to_built_in(model.name)),
            ModelChoice::File(path) => {
                Ok(ModelRef { path: Some(path.to_string_lossy().into_owned()), ..ModelRef::default() })
            }
        },
        None => {
            let names: Vec<String> = library.entries().into_iter().map(|e| e.name).collect();
            Err(format!(
                "--model {spec}: no such file and no model of that name (the library has: {}); playing the default '{}'",
                names.join(", "),
                BuiltInModel::default_model().name
            ))
        }
    }
}

fn list_models(library: &ModelLibrary) {
    for entry in library.entries() {
        let place = match (&entry.origin, entry.choice) {
            (EntryOrigin::BuiltIn, ModelChoice::BuiltIn(m)) if m.name == BuiltInModel::default_model().name => {
                "built in (the default)".to_owned()
            }
            (EntryOrigin::BuiltIn, _) => "built in".to_owned(),
            (_, ModelChoice::File(path)) => path.display().to_string(),
            (_, ModelChoice::BuiltIn(_)) => String::new(),
        };
        println!("{:<24} {place}", entry.name);
    }
}

/// Runs the standalone `P` as `app`: our options first, then nice-plug's.
pub fn main<P: Plugin>(app: &App) -> ExitCode {
    let parsed = match parse(std::env::args()) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{}: {message}", app.binary);
            return ExitCode::from(2);
        }
    };
    if parsed.version {
        println!("{} {} ({}, nice-plug standalone)", app.binary, P::VERSION, P::NAME);
        return ExitCode::SUCCESS;
    }
    let library = ModelLibrary::standard();
    if parsed.list_models {
        list_models(&library);
        return ExitCode::SUCCESS;
    }
    if parsed.help {
        println!("{} {} — {}\n", P::NAME, P::VERSION, app.about);
        println!("Examples:\n{}\n", app.examples);
        println!("Options of {}:", app.binary);
        println!("      --model <NAME|PATH>  The model to play: a built-in or library name (--list-models) or a");
        println!(
            "                           file. A bad one is reported (here and in the editor) and the default plays"
        );
        println!("      --list-models        List the model library (built-in models, model folders, recent files)");
        println!("  -V, --version            Print the version\n");
        println!("Audio, MIDI and window options (nice-plug's standalone):");
        // nice-plug prints its options and exits.
        let help = parsed.rest.iter().take(1).cloned().chain(["--help".to_owned()]);
        nice_plug::prelude::nice_export_standalone_with_args::<P, _>(help);
        return ExitCode::SUCCESS;
    }
    if let Some(spec) = &parsed.model {
        let startup = match resolve_model(spec, &library) {
            Ok(reference) => StartupModel { reference: Some(reference), message: None },
            Err(message) => {
                eprintln!("{}: {message}", app.binary);
                StartupModel { reference: None, message: Some(message) }
            }
        };
        set_startup_model(startup);
    }
    if nice_plug::prelude::nice_export_standalone_with_args::<P, _>(parsed.rest) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn our_options_are_taken_out_and_the_rest_passes_through_in_order() {
        let parsed = parse(args(&["prog", "--backend", "dummy", "--model", "violin", "-p", "256", "-V"])).unwrap();
        assert_eq!(parsed.model.as_deref(), Some("violin"));
        assert!(parsed.version && !parsed.help && !parsed.list_models);
        assert_eq!(parsed.rest, args(&["prog", "--backend", "dummy", "-p", "256"]));
        let parsed = parse(args(&["prog", "--model=cello", "--help", "--list-models"])).unwrap();
        assert_eq!(parsed.model.as_deref(), Some("cello"));
        assert!(parsed.help && parsed.list_models);
        assert_eq!(parsed.rest, args(&["prog"]));
        assert!(parse(args(&["prog", "--model"])).unwrap_err().contains("needs a value"));
    }

    #[test]
    fn models_resolve_by_name_case_insensitively_or_by_path_and_unknown_names_say_what_exists() {
        let library = ModelLibrary { folders: Vec::new(), recents_file: None };
        assert_eq!(resolve_model("violin", &library).unwrap(), ModelRef::to_built_in("Violin"));
        assert_eq!(resolve_model("CELLO", &library).unwrap().built_in.as_deref(), Some("Cello"));
        let file = std::env::temp_dir().join(format!("ddsp-standalone-test-{}.onnx", std::process::id()));
        std::fs::write(&file, b"not a model").unwrap();
        let spec = file.to_string_lossy().into_owned();
        // A file is taken as asked; whether it loads is decided (and said) when it loads.
        assert_eq!(resolve_model(&spec, &library).unwrap().path.as_deref(), Some(spec.as_str()));
        std::fs::remove_file(&file).unwrap();
        let error = resolve_model("bassoon", &library).unwrap_err();
        assert!(
            error.contains("bassoon") && error.contains("Flute") && error.contains("playing the default"),
            "{error}"
        );
    }
}
