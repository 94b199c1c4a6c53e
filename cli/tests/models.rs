//! The shipped models (`models/*.onnx`): each loads, meets the shipping limits (48 kHz, 250
//! frames/s, ≤ 5 MB, a model card), and the Rust runtime reproduces the trainer's own outputs,
//! written at export (`models/reference/NAME.in.csv` → `NAME.out.csv`), within 1e-4, from the file
//! and from the copy built into the binary (asked for by its library name).

mod common;

use common::{ddsp_ok, path_str, tmp};
use std::path::{Path, PathBuf};

const SHIPPED: [&str; 4] = ["violin", "cello", "flute", "trumpet"];

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(str::to_owned).collect();
    (header, lines.map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect())
}

#[test]
fn shipped_models_reproduce_the_trainer_within_1e_4() {
    for name in SHIPPED {
        let dir = models_dir();
        let model = dir.join(format!("{name}.onnx"));
        let bytes = std::fs::metadata(&model).unwrap_or_else(|e| panic!("{}: {e}", model.display())).len();
        assert!(bytes <= 5_000_000, "{name}: {bytes} bytes");
        assert!(dir.join(format!("{name}.md")).is_file(), "{name} has no model card");

        let info = String::from_utf8(ddsp_ok(&["info", path_str(&model)]).stdout).unwrap();
        assert!(info.contains("48000") && info.contains("250"), "{name}: {info}");

        let input = dir.join(format!("reference/{name}.in.csv"));
        let (want_header, want) = read_csv(&dir.join(format!("reference/{name}.out.csv")));
        for (how, spec) in [("file", path_str(&model)), ("built in", name)] {
            let out = tmp("models", &format!("{name}-{}.csv", how.replace(' ', "-")));
            ddsp_ok(&["infer", spec, "--raw", path_str(&input), "-o", path_str(&out)]);
            let (header, got) = read_csv(&out);
            assert_eq!(header, want_header, "{name}");
            assert_eq!(got.len(), want.len(), "{name}");
            let worst = got.iter().flatten().zip(want.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            println!(
                "{name} ({how}): {} frames × {} values, max |diff| vs the trainer {worst:.1e}",
                got.len(),
                header.len()
            );
            assert!(worst < 1e-4, "{name} ({how}): {worst}");
        }
    }
}
