//! `ddsp infer --raw` against other runtimes' outputs: the TensorFlow Lite interpreter's on a
//! genuine DDSP-VST export, onnxruntime's on a stateful and a windowed ONNX model. And `ddsp info`.

mod common;

use common::ddsp;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dsp-core/tests/data").join(name)
}

fn floats(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn tmp(name: &str) -> PathBuf {
    common::tmp("infer", name)
}

/// Writes `columns` (name, one value per frame) as a CSV, in the given column order.
fn write_csv(path: &Path, columns: &[(&str, &[f32])]) {
    let mut text = columns.iter().map(|c| c.0).collect::<Vec<_>>().join(",") + "\n";
    for i in 0..columns[0].1.len() {
        text += &(columns.iter().map(|c| c.1[i].to_string()).collect::<Vec<_>>().join(",") + "\n");
    }
    std::fs::write(path, text).unwrap();
}

/// The output CSV: header and rows of numbers.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f32>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(str::to_owned).collect();
    (header, lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect())
}

/// Runs `ddsp infer` and compares the first columns of every row to `expected` (per frame).
fn infer_and_compare(model: &Path, input: &Path, expected: &[Vec<f32>], header_start: &[&str]) -> f32 {
    let out = tmp(&format!("{}.out.csv", input.file_stem().unwrap().to_string_lossy()));
    let run = ddsp(&["infer", model.to_str().unwrap(), "--raw", input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let (header, rows) = read_csv(&out);
    assert_eq!(&header[..header_start.len()], header_start);
    assert_eq!(rows.len(), expected.len());
    let mut worst = 0.0f32;
    for (row, want) in rows.iter().zip(expected) {
        assert_eq!(row.len(), want.len());
        worst = row.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
    }
    worst
}

#[test]
fn ddsp_vst_model_matches_the_tflite_interpreter() {
    let r = floats(&data("ddsp-vst/model_a_ref.bin"));
    // f0 [200], pw [200], state_in [200*512], amplitude [200], harmonics [200*60], noise [200*65], ...
    let (f0, rest) = r.split_at(200);
    let (pw, rest) = rest.split_at(200);
    let rest = &rest[200 * 512..];
    let (amp, rest) = rest.split_at(200);
    let (harm, rest) = rest.split_at(200 * 60);
    let noise = &rest[..200 * 65];
    let input = tmp("vst_in.csv");
    // Columns in the other order than the model declares: order must not matter.
    write_csv(&input, &[("call_pw_scaled:0[0]", pw), ("call_f0_scaled:0[0]", f0)]);
    let expected: Vec<Vec<f32>> = (0..200)
        .map(|i| [&amp[i..i + 1], &harm[i * 60..(i + 1) * 60], &noise[i * 65..(i + 1) * 65]].concat())
        .collect();
    let worst = infer_and_compare(
        &data("ddsp-vst/model_a.tflite"),
        &input,
        &expected,
        &["StatefulPartitionedCall:0[0]", "StatefulPartitionedCall:1[0]"],
    );
    println!("ddsp infer vs TFLite interpreter, 200 frames: max |diff| {worst:e}");
    assert!(worst <= 1e-4, "{worst}");
}

#[test]
fn onnx_models_match_onnxruntime() {
    // Stateful: decoder_ref.bin holds f0, loudness, amplitude, harmonics [60], noise [65], state.
    let r = floats(&data("decoder_ref.bin"));
    let (f0, rest) = r.split_at(200);
    let (ld, rest) = rest.split_at(200);
    let (amp, rest) = rest.split_at(200);
    let (harm, rest) = rest.split_at(200 * 60);
    let noise = &rest[..200 * 65];
    let input = tmp("stateful_in.csv");
    write_csv(&input, &[("f0_hz[0]", f0), ("loudness_db[0]", ld)]);
    let expected: Vec<Vec<f32>> = (0..200)
        .map(|i| [&amp[i..i + 1], &harm[i * 60..(i + 1) * 60], &noise[i * 65..(i + 1) * 65]].concat())
        .collect();
    let worst = infer_and_compare(&data("decoder_ref.onnx"), &input, &expected, &["amplitude[0]"]);
    println!("ddsp infer vs onnxruntime (stateful), 200 frames: max |diff| {worst:e}");
    assert!(worst <= 1e-4, "{worst}");

    // Windowed: f0, loudness, harmonic_amps [32], harmonic_dist [32], noise_mags [33].
    let r = floats(&data("windowed_ref.bin"));
    let (f0, rest) = r.split_at(120);
    let (ld, rest) = rest.split_at(120);
    let (amps, rest) = rest.split_at(120 * 32);
    let (dist, noise) = rest.split_at(120 * 32);
    let input = tmp("windowed_in.csv");
    write_csv(&input, &[("f0_hz[0]", f0), ("loudness[0]", ld)]);
    let expected: Vec<Vec<f32>> = (0..120)
        .map(|i| [&amps[i * 32..(i + 1) * 32], &dist[i * 32..(i + 1) * 32], &noise[i * 33..(i + 1) * 33]].concat())
        .collect();
    let worst = infer_and_compare(&data("windowed_ref.onnx"), &input, &expected, &["harmonic_amps[0]"]);
    println!("ddsp infer vs onnxruntime (windowed), 120 frames: max |diff| {worst:e}");
    assert!(worst <= 1e-4, "{worst}");
}

#[test]
fn bad_csv_input_is_a_one_line_error_and_leaves_no_file() {
    let model = data("decoder_ref.onnx");
    let out = tmp("never.csv");
    for (name, text, says) in [
        ("missing.csv", "f0_hz[0]\n440\n", "no column 'loudness_db[0]'"),
        ("state.csv", "f0_hz[0],loudness_db[0],state_in[0]\n440,-20,0\n", "state is carried by the runtime"),
        ("nan.csv", "f0_hz[0],loudness_db[0]\n440,loud\n", "row 2"),
    ] {
        let input = tmp(name);
        std::fs::write(&input, text).unwrap();
        let run =
            ddsp(&["infer", model.to_str().unwrap(), "--raw", input.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success());
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!out.exists() && !out.with_extension("csv.partial").exists(), "{name}: a file was left behind");
    }
}

#[test]
fn info_prints_format_tensors_and_metadata() {
    let run = ddsp(&["info", data("ddsp-vst/model_a.tflite").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success());
    for needle in [
        "TensorFlow Lite",
        "16000 Hz, 50 frames/s",
        "call_f0_scaled:0 [1]",
        "StatefulPartitionedCall:1 [60]",
        "StatefulPartitionedCall:2 [65]",
        "call_state:0 [512]",
        "sha256:",
    ] {
        assert!(text.contains(needle), "missing '{needle}' in:\n{text}");
    }
    let run = ddsp(&["info", data("windowed_ref.onnx").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("stateless windowed (16 frames)") && text.contains("latency:"), "{text}");
    let run = ddsp(&["info", "/no/such/model.onnx"]);
    assert!(!run.status.success());
}

/// How the weights are stored: `info` says it; the default (what the plugins play) is f16 where the
/// CPU converts it in hardware, `--precision f32` and `DDSP_PRECISION=f32` keep f32, `--precision
/// int8` converts to int8, a quantised export keeps its int8 weights, and `infer` (a reference
/// check) runs f32 unless asked otherwise.
#[test]
fn info_names_the_weight_storage_and_precision_can_be_forced() {
    let model = data("ddsp-vst/model_a.tflite");
    let weights = |run: std::process::Output| {
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let text = String::from_utf8_lossy(&run.stdout).into_owned();
        text.lines()
            .find(|l| l.starts_with("weights:"))
            .unwrap_or_else(|| panic!("no weights line:\n{text}"))
            .to_owned()
    };
    let auto = weights(ddsp(&["info", model.to_str().unwrap()]));
    println!("ddsp info (default precision): {auto}");
    if ddsp_core::simd::has_avx2_fma() {
        assert!(auto.contains("f16 (within 0.0"), "{auto}");
    } else {
        assert!(auto.ends_with(" f32"), "{auto}");
    }
    assert!(weights(ddsp(&["--precision", "f32", "info", model.to_str().unwrap()])).ends_with(" f32"));
    assert!(weights(ddsp(&["info", model.to_str().unwrap(), "--precision=F32"])).ends_with(" f32"));
    let env = std::process::Command::new(env!("CARGO_BIN_EXE_ddsp"))
        .args(["info", model.to_str().unwrap()])
        .env("DDSP_PRECISION", "f32")
        .output()
        .unwrap();
    assert!(weights(env).ends_with(" f32"));
    let bad = ddsp(&["--precision", "f16", "info", model.to_str().unwrap()]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("not auto, f32 or int8"));
    // int8 when asked (where the CPU multiplies it in integers), with how far the probe found it
    // from f32.
    let avx2 = ddsp_core::simd::has_avx2_fma();
    let int8 = weights(ddsp(&["--precision", "int8", "info", model.to_str().unwrap()]));
    assert!(if avx2 { int8.contains("int8 for 6 of 6 matrices (within 0.") } else { int8.ends_with(" f32") }, "{int8}");
    // A quantised export keeps its int8 weights by default, and plays them as f32 when asked.
    let quantised = data("ddsp-vst/model_a_dynamic.tflite");
    let kept = weights(ddsp(&["info", quantised.to_str().unwrap()]));
    assert!(!avx2 || kept.contains("int8 as quantised in the file (4 of 6 matrices"), "{kept}");
    assert!(weights(ddsp(&["--precision", "f32", "info", quantised.to_str().unwrap()])).ends_with(" f32"));
}
