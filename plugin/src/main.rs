//! The instrument as a standalone application (JACK or ALSA audio, MIDI input); `--help` says more.
fn main() -> std::process::ExitCode {
    ddsp_plugin::standalone::main::<ddsp_plugin::DdspInstrument>(&ddsp_plugin::standalone::INSTRUMENT)
}
