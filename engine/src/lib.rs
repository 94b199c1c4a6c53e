//! ddsp-engine: the plugins' engine for applications that embed it.
//!
//! - [`Pipeline`]: the real-time pipeline (direct pitch/loudness control, notes, audio in,
//!   mastering, live model loads), the object behind the C ABI ([`capi`], `include/ddsp.h`,
//!   `libddsp.so` / `libddsp.a`) and the Python package (`bindings/python`).
//! - [`offline`]: MIDI and audio renders and the tracker over a file, shared by `ddsp` and Python
//!   so they give the same samples; [`midi`]: Standard MIDI Files to timed events.

pub mod capi;
pub mod midi;
pub mod offline;
pub mod pipeline;

pub use pipeline::{
    decode_midi, MidiOutMessage, ModelInfo, Pipeline, MAX_ALIGN_HZ, MAX_MIDI_OUT, MAX_PITCH_SMOOTHING_MS, MIN_ALIGN_HZ,
};

/// The library's model names: built-in models, then those in the model folders.
pub fn model_names() -> Vec<String> {
    ddsp_core::ModelLibrary::standard().entries().into_iter().map(|e| e.name).collect()
}
