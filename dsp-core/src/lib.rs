//! ddsp-core: everything that makes sound, with no knowledge of plugins or GUIs.
//!
//! One engine ([`engine::Engine`]) behind every host: the [`Instrument`] (MIDI in), the effect
//! ([`effect::TimbreTransfer`], audio in) and direct control ([`direct::Direct`], pitch and loudness
//! set by an embedding application). Signal path of the instrument:
//!
//! ```text
//! MIDI ─ instrument: voice allocation, pedals, MPE ─ per voice: f0, loudness per sample
//!      ─ live voice: model (frame rate) ─ controls ─ harmonic bank + filtered noise ─ Σ ─ out
//! ```
//!
//! Layers, from the ground up: `simd` ─ `harmonic`, `noise`, `model` ─ `morph` ─ `voice` ─ `swap` ─
//! `instrument`, `effect`, `direct` ─ `engine` (each uses only the layers below it).
//!
//! Real-time contract: constructors (`new`, `prepare`) allocate; `process`/`render`/`reset`/`handle`
//! never allocate, lock, wait or log. Tests check it with an allocation guard.

pub mod denormals;
pub mod direct;
pub mod effect;
pub mod engine;
pub mod harmonic;
pub mod instrument;
pub mod library;
pub mod master;
pub mod model;
pub mod morph;
pub mod noise;
pub mod simd;
pub mod swap;
pub mod tracking;
pub mod voice;

pub use engine::{play_morph_now, render_with_events, Engine, EngineView, TimedEvent};
pub use instrument::{
    ControlTarget, GlideMode, Instrument, InstrumentEvent, InstrumentSettings, NoteExpression, VoiceMode, MAX_VOICES,
};
pub use library::{ModelChoice, ModelLibrary, ModelRef};
pub use model::{BuiltInModel, Model, ModelError, ModelLoadError, ModelMeta, ModelSource};
pub use morph::{MorphPosition, MorphSource, MAX_MORPH_MODELS};
pub use voice::{LiveVoice, Voice, VoiceLevels};
