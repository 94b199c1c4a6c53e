//! `include/ddsp.h` is what cbindgen makes of `engine/src/capi.rs` today: a stale committed header
//! fails here. `DDSP_BLESS=1 cargo test -p ddsp-engine --test header` rewrites it.

use std::path::Path;

#[test]
fn committed_header_matches_the_c_abi() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("engine/cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen parses engine/src");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let header = crate_dir.join("../include/ddsp.h");
    if std::env::var_os("DDSP_BLESS").is_some() {
        std::fs::write(&header, &generated).expect("write include/ddsp.h");
    }
    let committed = std::fs::read_to_string(&header).unwrap_or_default();
    assert!(
        committed == generated,
        "include/ddsp.h is stale: regenerate it with `DDSP_BLESS=1 cargo test -p ddsp-engine --test header`"
    );
    for name in [
        "ddsp_pipeline_new",
        "ddsp_pipeline_load_model",
        "ddsp_pipeline_last_error",
        "ddsp_pipeline_set_f0_hz",
        "ddsp_pipeline_set_loudness_norm",
        "ddsp_pipeline_process",
        "ddsp_pipeline_free",
        "typedef struct DdspPipeline DdspPipeline",
    ] {
        assert!(generated.contains(name), "{name} missing from the header");
    }
}
