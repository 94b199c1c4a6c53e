//! Shared helpers of the `ddsp` command tests: scratch files, running the binary, pitch in cents.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch file in this test binary's own folder.
pub fn tmp(test: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ddsp-cli-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

pub fn ddsp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddsp")).args(args).output().unwrap()
}

/// Runs `ddsp` and panics with its stderr when it fails.
pub fn ddsp_ok(args: &[&str]) -> Output {
    let out = ddsp(args);
    assert!(out.status.success(), "ddsp {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn cents(a: f64, b: f64) -> f64 {
    1200.0 * (a / b).log2()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Files in `dir` whose names contain `part`.
pub fn files_containing(dir: &Path, part: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(part))
        .collect()
}
