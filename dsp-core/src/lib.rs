//! ddsp-core: everything that makes sound, with no knowledge of plugins or GUIs.
//!
//! Signal path of the instrument:
//!
//! ```text
//! MIDI ─ instrument (notes, envelope, bend, glide, expression) ─ f0, loudness per sample
//!      ─ voice: model (frame rate) ─ controls ─ harmonic bank + filtered noise ─ out
//! ```
//!
//! Real-time contract: constructors (`new`, `prepare`) allocate; `process`/`render`/`reset`/`handle`
//! never allocate, lock, wait or log. Tests check it with an allocation guard.

pub mod denormals;
pub mod effect;
pub mod harmonic;
pub mod instrument;
pub mod library;
pub mod master;
pub mod model;
pub mod noise;
pub mod poly;
pub mod swap;
pub mod tracking;
pub mod voice;

pub use instrument::{render_with_events, ControlTarget, InstrumentEvent, InstrumentSettings, MonoInstrument};
pub use library::{ModelChoice, ModelLibrary, ModelRef};
pub use model::{BuiltInModel, Model, ModelError, ModelLoadError, ModelMeta, ModelSource};
pub use poly::PolyInstrument;
pub use voice::{Voice, VoiceLevels};
