//! Model files that parse but must not play: a DDSP-VST export without its metadata, a windowed
//! model truncated among its metadata, a model that cannot make a sound at its own trained range,
//! and paths that are not files. Every crafted file is made here, from the fixtures, by code.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use ddsp_core::model::{Model, ModelError, ModelLoadError, ModelSource, MAX_MODEL_BYTES};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ddsp-hostile-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Loads `path` on another thread: a load that blocks (a FIFO) fails the test instead of hanging it.
fn load_within(path: &Path, limit: Duration) -> Result<Model, ModelLoadError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(Model::load(path));
    });
    rx.recv_timeout(limit).expect("the load returned")
}

#[test]
fn a_ddsp_vst_model_without_its_metadata_tail_is_refused_saying_so() {
    let good = std::fs::read(data_path("ddsp-vst/model_a.tflite")).unwrap();
    let zip_start = good.windows(4).rposition(|w| w == b"PK\x03\x04").expect("the fixture has a ZIP tail");
    let dir = temp_dir("tflite");
    // The case (the last byte missing: the ZIP's end record is damaged) and the whole
    // ZIP missing.
    for (name, bytes) in [("one-byte-short.tflite", &good[..good.len() - 1]), ("no-zip.tflite", &good[..zip_start])] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let e = Model::load(&path).expect_err(name);
        assert!(matches!(e.error, ModelError::DamagedMetadata { .. }), "{name}: {e}");
        let message = e.to_string();
        assert!(message.contains(name) && message.contains("metadata"), "{message}");
        println!("{message}");
    }
    // The intact file still loads with its own ranges.
    let model = Model::from_bytes(&good, ModelSource::Embedded("model_a")).unwrap();
    assert!((model.meta.f0_min_hz - 234.53).abs() < 0.01 && (model.meta.loudness_max_db + 8.94).abs() < 0.01);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Where each top-level protobuf field of an ONNX file ends (field number, end offset).
fn field_ends(bytes: &[u8]) -> Vec<(u64, usize)> {
    fn varint(b: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let x = b[*at];
            *at += 1;
            v |= u64::from(x & 0x7f) << shift;
            shift += 7;
            if x < 0x80 {
                return v;
            }
        }
    }
    let (mut at, mut ends) = (0, vec![]);
    while at < bytes.len() {
        let key = varint(bytes, &mut at);
        match key & 7 {
            0 => drop(varint(bytes, &mut at)),
            1 => at += 8,
            2 => at += varint(bytes, &mut at) as usize,
            5 => at += 4,
            w => panic!("wire type {w}"),
        }
        ends.push((key >> 3, at));
    }
    ends
}

#[test]
fn a_windowed_model_truncated_among_its_metadata_is_refused() {
    let good = std::fs::read(data_path("windowed_ref.onnx")).unwrap();
    // ModelProto.metadata_props is field 14: a cut after any entry but the last is a valid
    // protobuf that used to load with default ranges (30-2000 Hz, -70..-10 dB).
    let cuts: Vec<usize> = field_ends(&good).into_iter().filter(|&(f, _)| f == 14).map(|(_, end)| end).collect();
    assert!(cuts.len() >= 8, "{cuts:?}");
    for &end in &cuts[..cuts.len() - 1] {
        let e = Model::from_bytes(&good[..end], ModelSource::Embedded("cut")).expect_err("truncated");
        assert!(matches!(e, ModelError::MissingMetadata { .. }), "cut at {end}: {e}");
    }
    let whole = Model::from_bytes(&good, ModelSource::Embedded("whole")).unwrap();
    assert_eq!((whole.meta.f0_min_hz, whole.meta.loudness_max_db), (40.0, -5.0));
}

#[test]
fn a_model_that_cannot_make_a_sound_is_refused_by_the_validation_render() {
    // windowed_ref's exp-sigmoid heads compute 2 · sigmoid(x)^ln 10 + 1e-7: with the 2 zeroed
    // (the float's bytes patched) every amplitude and noise magnitude is 1e-7, i.e. -140 dB.
    let good = std::fs::read(data_path("windowed_ref.onnx")).unwrap();
    let two = 2.0f32.to_le_bytes();
    let mut mute = good.clone();
    let mut patched = 0;
    for at in 0..mute.len() - 4 {
        if mute[at..at + 4] == two {
            mute[at..at + 4].copy_from_slice(&0.0f32.to_le_bytes());
            patched += 1;
        }
    }
    assert!(patched >= 1);
    let e = Model::from_bytes(&mute, ModelSource::Embedded("mute")).expect_err("a mute model loads");
    assert!(matches!(e, ModelError::Silent { .. }), "{e}");
    println!("{e}");
    // A model that sounds passes the same check.
    Model::from_bytes(&good, ModelSource::Embedded("good")).unwrap().check_sounds().unwrap();
    Model::embedded_default().check_sounds().unwrap();
}

#[test]
fn special_files_are_refused_before_opening() {
    let dir = temp_dir("special");
    let limit = Duration::from_secs(5);
    let kind = |path: &Path| match load_within(path, limit) {
        Err(ModelLoadError { error: ModelError::NotAFile { kind }, .. }) => kind,
        other => panic!("{}: {:?}", path.display(), other.map(|m| m.meta.name)),
    };
    assert_eq!(kind(&dir), "directory");
    #[cfg(unix)]
    {
        // Reading /dev/zero never ends; a FIFO with no writer blocks the open forever.
        assert_eq!(kind(Path::new("/dev/zero")), "device");
        let fifo = dir.join("model.onnx");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().map(|s| s.success());
        if made.unwrap_or(false) {
            assert_eq!(kind(&fifo), "FIFO");
        } else {
            println!("mkfifo unavailable: FIFO case skipped");
        }
    }
    // A regular file larger than the bound is refused without reading it (sparse: no disk used).
    let big = dir.join("big.onnx");
    std::fs::File::create(&big).unwrap().set_len(MAX_MODEL_BYTES + 1).unwrap();
    let e = load_within(&big, limit).unwrap_err();
    assert!(matches!(e.error, ModelError::TooLarge { .. }), "{e}");
    // A file whose reported size is 0 but which has content (procfs) is read, not trusted.
    #[cfg(target_os = "linux")]
    {
        let e = load_within(Path::new("/proc/self/status"), limit).unwrap_err();
        assert!(matches!(e.error, ModelError::NotOnnx(_)), "{e}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_fifo_in_a_model_folder_never_blocks_the_library() {
    use ddsp_core::library::{ModelLibrary, Resolution};
    use ddsp_core::ModelRef;
    let dir = temp_dir("library");
    let fifo = dir.join("moved.onnx");
    if !std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        println!("mkfifo unavailable: skipped");
        return;
    }
    // A session whose file moved: restoring it hashes the library's files to find it again;
    // opening the FIFO to hash it would block the plugin's activation forever.
    let library = ModelLibrary { folders: vec![dir.clone()], recents_file: None };
    let wanted = ModelRef {
        path: Some(dir.join("gone/moved.onnx").to_string_lossy().into_owned()),
        sha256: Some("0".repeat(64)),
        built_in: None,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let listed = library.entries().iter().filter(|e| e.path().is_some()).count();
        let _ = tx.send((listed, library.resolve(&wanted)));
    });
    let (listed, resolution) = rx.recv_timeout(Duration::from_secs(5)).expect("the library answered");
    assert_eq!(listed, 0, "a FIFO is not listed as a model");
    assert!(matches!(resolution, Resolution::Missing(_)), "{resolution:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
