//! The timbre-transfer effect as a standalone application (JACK or ALSA audio in and out).
fn main() {
    nice_plug::nice_export_standalone::<ddsp_plugin::DdspEffect>();
}
