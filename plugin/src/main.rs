//! The instrument as a standalone application (JACK or ALSA audio, MIDI input).
fn main() {
    nice_plug::nice_export_standalone::<ddsp_plugin::DdspInstrument>();
}
