//! The timbre-transfer effect as a standalone application (JACK or ALSA audio in and out); `--help`
//! says more.
fn main() -> std::process::ExitCode {
    ddsp_plugin::standalone::main::<ddsp_plugin::DdspEffect>(&ddsp_plugin::standalone::EFFECT)
}
