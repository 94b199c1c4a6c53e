//! The model library: listing the built-in models, folders and recents, and restoring a session's
//! model reference (a built-in model's name, or path + content hash when the file is where it was,
//! moved, changed or missing).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ddsp_core::library::{EntryOrigin, ModelChoice, ModelLibrary, ModelRef, Resolution};
use ddsp_core::model::BUILT_IN_MODELS;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ddsp-library-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_to(from: &Path, dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    to
}

fn library(root: &Path) -> ModelLibrary {
    ModelLibrary {
        folders: vec![root.join("ours"), root.join("Magenta/DDSP/Models")],
        recents_file: Some(root.join("config/recent-models.txt")),
    }
}

#[test]
fn lists_built_in_folder_and_recent_models() {
    let tmp = TempDir::new("list");
    let lib = library(&tmp.0);
    copy_to(&data_path("decoder_ref.onnx"), &tmp.0.join("ours/strings"), "Viola.onnx");
    copy_to(&data_path("ddsp-vst/model_a.tflite"), &tmp.0.join("Magenta/DDSP/Models"), "Voice.tflite");
    std::fs::write(tmp.0.join("ours/readme.txt"), "not a model").unwrap();
    let elsewhere = copy_to(&data_path("decoder_ref.onnx"), &tmp.0.join("downloads"), "Recorder.onnx");
    lib.remember(&elsewhere);

    let entries = lib.entries();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["Flute", "Violin", "Cello", "Trumpet", "Sax", "Clarinet", "Horn", "Choir", "Viola", "Voice", "Recorder"]
    );
    assert!(entries[..8].iter().all(|e| e.origin == EntryOrigin::BuiltIn && e.path().is_none()));
    assert_eq!(entries[9].origin, EntryOrigin::Folder(tmp.0.join("Magenta/DDSP/Models")));
    assert_eq!(entries[10].origin, EntryOrigin::Recent);
    assert_eq!(lib.find("viola").unwrap().path().unwrap(), tmp.0.join("ours/strings/Viola.onnx"));
    assert_eq!(lib.find("VIOLA").unwrap().choice, ModelChoice::File(tmp.0.join("ours/strings/Viola.onnx")));
    // Built-in models are found by name, ahead of a file with the same stem.
    copy_to(&data_path("decoder_ref.onnx"), &tmp.0.join("ours"), "cello.onnx");
    assert_eq!(lib.find("cello").unwrap().choice, ModelChoice::BuiltIn(&BUILT_IN_MODELS[2]));
    assert_eq!(lib.find("cello").unwrap().choice.load().unwrap().meta.name, "Cello");
    // Recents: most recent first, no duplicates, vanished files dropped.
    let other = copy_to(&data_path("decoder_ref.onnx"), &tmp.0.join("downloads"), "Oboe.onnx");
    lib.remember(&other);
    lib.remember(&elsewhere);
    assert_eq!(lib.recents(), [elsewhere.clone(), other.clone()]);
    std::fs::remove_file(&other).unwrap();
    assert_eq!(lib.recents(), [elsewhere]);
}

#[test]
fn a_saved_reference_is_found_moved_changed_or_missing_and_says_so() {
    let tmp = TempDir::new("resolve");
    let lib = library(&tmp.0);
    let original = copy_to(&data_path("ddsp-vst/model_a.tflite"), &tmp.0.join("session-folder"), "Violin.tflite");
    let saved = ModelRef::to_file(&original).unwrap();
    assert_eq!(saved.sha256.as_ref().unwrap().len(), 64);

    // Where it was.
    assert!(matches!(lib.resolve(&saved), Resolution::Found(ref p) if *p == original));
    let (model, message) = lib.restore(&saved, "Flute");
    assert!(model.is_some() && message.is_none());

    // Moved into a library folder (renamed too): found again by its content.
    let moved = tmp.0.join("Magenta/DDSP/Models/My Violin.tflite");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&original, &moved).unwrap();
    let resolution = lib.resolve(&saved);
    assert!(matches!(resolution, Resolution::Moved { ref to, .. } if *to == moved), "{resolution:?}");
    let (model, message) = lib.restore(&saved, "Flute");
    assert!(model.is_some());
    assert!(message.unwrap().contains("My Violin.tflite"));

    // Changed content at the saved path: loaded, and said.
    copy_to(&data_path("decoder_ref.onnx"), &tmp.0.join("session-folder"), "Violin.tflite");
    assert!(matches!(lib.resolve(&saved), Resolution::Changed(_)));
    let (model, message) = lib.restore(&saved, "Flute");
    assert!(model.is_some());
    assert!(message.unwrap().contains("changed"));

    // Missing everywhere: nothing loads, and the message names what plays instead.
    std::fs::remove_file(&moved).unwrap();
    std::fs::remove_file(&original).unwrap();
    let (model, message) = lib.restore(&saved, "Flute");
    assert!(model.is_none());
    let message = message.unwrap();
    assert!(message.contains("Violin.tflite") && message.contains("missing"), "{message}");
    assert!(message.contains("playing 'Flute' instead"), "{message}");

    // A bad file at the path: the load error, and the fallback, are named.
    let bad = tmp.0.join("session-folder/Violin.tflite");
    std::fs::write(&bad, b"TFL3 but not really").unwrap();
    let (model, message) = lib.restore(&ModelRef { path: Some(bad.display().to_string()), ..ModelRef::default() }, "X");
    assert!(model.is_none());
    assert!(message.unwrap().contains("playing 'X' instead"));

    // No path: the embedded default.
    let (model, message) = lib.restore(&ModelRef::default(), "X");
    assert_eq!(model.unwrap().meta.name, ddsp_core::Model::embedded_default().meta.name);
    assert!(message.is_none());
}

#[test]
fn a_saved_built_in_model_comes_back_and_an_unknown_one_says_so() {
    let lib = ModelLibrary { folders: Vec::new(), recents_file: None };
    for name in ["Violin", "cello", "Trumpet", "Flute"] {
        let saved: ModelRef =
            serde_json::from_str(&serde_json::to_string(&ModelRef::to_built_in(name)).unwrap()).unwrap();
        assert!(matches!(lib.resolve(&saved), Resolution::BuiltIn(m) if m.name.eq_ignore_ascii_case(name)));
        let (model, message) = lib.restore(&saved, "X");
        assert!(model.unwrap().meta.name.eq_ignore_ascii_case(name) && message.is_none());
    }
    // A session from a version with a model this one lacks: nothing loads, and it is said.
    let (model, message) = lib.restore(&ModelRef::to_built_in("Harp"), "Flute");
    assert!(model.is_none());
    let message = message.unwrap();
    assert!(message.contains("'Harp'") && message.contains("playing 'Flute' instead"), "{message}");
    // A file path wins over a built-in name.
    let both = ModelRef { path: Some("/nowhere/x.onnx".into()), built_in: Some("Violin".into()), sha256: None };
    assert!(matches!(lib.resolve(&both), Resolution::Missing(_)));
}

#[test]
fn old_sessions_without_a_hash_or_built_in_name_still_load() {
    let old: ModelRef = serde_json::from_str(r#"{"path":"/somewhere/model.onnx"}"#).unwrap();
    assert_eq!(old.path.as_deref(), Some("/somewhere/model.onnx"));
    assert_eq!((old.sha256, old.built_in), (None, None));
    // A session saved with the embedded default: still the default.
    let old: ModelRef = serde_json::from_str(r#"{"path":null,"sha256":null}"#).unwrap();
    let lib = ModelLibrary { folders: Vec::new(), recents_file: None };
    assert!(matches!(lib.resolve(&old), Resolution::BuiltIn(m) if m.name == "Flute"));
}
