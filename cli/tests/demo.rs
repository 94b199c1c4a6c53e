//! The `ddsp` binary end to end: renders the demo phrase and the output is real audio.

use std::process::Command;

fn ddsp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ddsp"))
}

#[test]
fn demo_renders_a_finite_non_silent_wav() {
    let dir = std::env::temp_dir().join(format!("ddsp-cli-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("demo.wav");
    let status = ddsp().args(["demo", "-o"]).arg(&out).args(["--sample-rate", "44100"]).status().unwrap();
    assert!(status.success());
    let mut reader = hound::WavReader::open(&out).unwrap();
    assert_eq!(reader.spec().sample_rate, 44_100);
    let samples: Vec<f32> = reader.samples::<f32>().map(Result::unwrap).collect();
    assert!((4.0..5.0).contains(&(samples.len() as f64 / 44_100.0)));
    assert!(samples.iter().all(|v| v.is_finite()));
    let peak = samples.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak > 0.05 && peak < 1.0, "peak {peak}");
    assert!(!dir.join("demo.wav.partial").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_model_path_fails_with_a_one_line_reason() {
    let out = ddsp().args(["info", "/nonexistent/model.onnx"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/model.onnx"), "{stderr}");
}
