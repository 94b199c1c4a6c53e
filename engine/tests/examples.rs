//! The C and C++ examples (`examples/`) build with the system compiler against the committed header
//! and this build's libddsp (the C one against `libddsp.so`, the C++ one against `libddsp.a`), run,
//! and pass their own checks: pitch within 5 cents of a YIN measurement, level following loudness,
//! bad paths and arguments handled, a live model swap from another thread.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory holding this build's libddsp.so and libddsp.a (target/<profile>/).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("libddsp.so").exists() && dir.join("libddsp.a").exists(),
        "libddsp not built in {}",
        dir.display()
    );
    dir
}

fn compile_and_run(compiler: &str, source: &str, link: &[&str], out_name: &str) {
    let lib = lib_dir();
    let exe = lib.join(out_name);
    let mut build = Command::new(compiler);
    build
        .arg(repo().join(source))
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-Wl,-z,noexecstack"])
        .arg(format!("-I{}", repo().join("include").display()))
        .arg(format!("-L{}", lib.display()))
        .args(link)
        .arg("-o")
        .arg(&exe);
    if compiler == "c++" {
        build.arg("-std=c++17");
    } else {
        build.arg("-std=c99").arg("-D_POSIX_C_SOURCE=199309L");
    }
    let built = build.output().expect("a C/C++ compiler (cc, c++)");
    assert!(built.status.success(), "{source} does not build:\n{}", String::from_utf8_lossy(&built.stderr));
    let run = Command::new(&exe).env("LD_LIBRARY_PATH", &lib).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    assert!(run.status.success(), "{source} failed its checks:\n{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("all checks passed"));
}

#[test]
fn c_example_against_the_shared_library() {
    compile_and_run("cc", "examples/c/pipeline.c", &["-lddsp", "-lm"], "example-pipeline-c");
}

#[test]
fn cpp_example_against_the_static_library() {
    let lib = lib_dir().join("libddsp.a");
    let lib = lib.to_str().unwrap();
    compile_and_run("c++", "examples/cpp/pipeline.cpp", &[lib, "-lpthread", "-ldl", "-lm"], "example-pipeline-cpp");
}
