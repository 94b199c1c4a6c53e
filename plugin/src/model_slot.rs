//! The model a plugin instance plays, restored from the session: shared by both plugins.

use std::sync::{Arc, Mutex, OnceLock, RwLock};

use ddsp_core::{BuiltInModel, Model, ModelChoice, ModelLibrary, ModelMeta, ModelRef, ModelSource};
use nice_plug::prelude::*;

/// Environment variable naming a model file to play when the session names none (for hosts and
/// scripts; the standalones take `--model`).
pub const MODEL_ENV: &str = "DDSP_INSTRUMENT_MODEL";

/// The model a standalone was started with (`--model`), played when the session names none, and
/// why there is none when the name was not found.
#[derive(Debug, Default, Clone)]
pub struct StartupModel {
    pub reference: Option<ModelRef>,
    pub message: Option<String>,
}

static STARTUP_MODEL: OnceLock<StartupModel> = OnceLock::new();

/// Sets the startup model, once per process, before the plugin activates (the standalones' `main`).
pub fn set_startup_model(startup: StartupModel) {
    let _ = STARTUP_MODEL.set(startup);
}

/// What the editor and the log show about the model: what plays, and why it is not the one asked
/// for. Written by the main and background threads; the audio thread never touches it.
#[derive(Debug, Default, Clone)]
pub struct ModelStatus {
    pub playing: String,
    pub message: Option<String>,
    /// The playing model's card, for the editor.
    pub meta: Option<ModelMeta>,
    /// What the playing model was picked as, so the library can mark it.
    pub choice: Option<ModelChoice>,
    /// The morph's places (`crate::morph_places`): what loaded where, and why a place did not.
    pub morph: crate::morph_places::MorphStatus,
    /// How the playing model's weights are stored ("f16 (within 0.004 dB of f32)", "f32").
    pub weights: String,
}

impl ModelStatus {
    pub fn playing(model: &Model, message: Option<String>) -> Self {
        Self {
            playing: model.meta.name.clone(),
            message,
            meta: Some(model.meta.clone()),
            choice: ModelChoice::of(&model.source),
            morph: Default::default(),
            weights: model.weight_storage().to_string(),
        }
    }
}

/// The library, the embedded default, the model in use and the session reference it came from.
pub struct ModelSlot {
    pub library: ModelLibrary,
    embedded: Arc<Model>,
    model: Arc<Model>,
    model_ref: Option<ModelRef>,
    pub status: Arc<Mutex<ModelStatus>>,
}

impl Default for ModelSlot {
    fn default() -> Self {
        let embedded = Arc::new(ModelChoice::load_built_in(BuiltInModel::default_model()));
        let status = Arc::new(Mutex::new(ModelStatus::playing(&embedded, None)));
        Self { library: ModelLibrary::standard(), model: embedded.clone(), embedded, model_ref: None, status }
    }
}

impl ModelSlot {
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    fn set_status(&self, message: Option<String>) {
        if let Some(message) = &message {
            nice_warn!("{message}");
        }
        if let Ok(mut status) = self.status.lock() {
            *status = ModelStatus::playing(&self.model, message);
        }
    }

    /// Loads the model the session asks for (`saved`): found, moved (found again by its content
    /// hash), changed or missing, each said in the status and the log; on failure the previous
    /// model keeps playing and is named. Allocates and reads files: `activate` only, never
    /// `process`.
    pub fn sync(&mut self, saved: &RwLock<ModelRef>) {
        let mut wanted = saved.read().map(|c| c.clone()).unwrap_or_default();
        let mut startup_message = None;
        if wanted.path.is_none() && wanted.built_in.is_none() {
            let startup = STARTUP_MODEL.get().cloned().unwrap_or_default();
            startup_message = startup.message;
            match startup.reference {
                Some(reference) => wanted = reference,
                None => wanted.path = std::env::var(MODEL_ENV).ok().filter(|p| !p.is_empty()),
            }
        }
        if self.model_ref.as_ref() == Some(&wanted) {
            return;
        }
        let (model, message) = self.library.restore(&wanted, &self.model.meta.name);
        let message = message.or(startup_message);
        if let Some(model) = model {
            if model.source == self.embedded.source {
                self.model = self.embedded.clone();
            } else if let ModelSource::Embedded(name) = model.source {
                nice_log!("playing built-in model '{name}'");
                self.model = Arc::new(model);
            } else {
                nice_log!("loaded model '{}' ({})", model.meta.name, model.format());
                if let ModelSource::File(path) = &model.source {
                    // Store the hash (and new location) so the next restore can find the file again.
                    if let (Ok(reference), Ok(mut session)) = (ModelRef::to_file(path), saved.write()) {
                        if session.path.is_some() {
                            *session = reference;
                        }
                    }
                    self.library.remember(path);
                }
                self.model = Arc::new(model);
            }
        }
        self.set_status(message);
        // What the session holds now (a file reference gains its hash above); what was played
        // when it holds nothing, so the next activation does not load the same model again.
        let session = saved.read().map(|c| c.clone()).unwrap_or_default();
        let nothing_saved = session.path.is_none() && session.built_in.is_none();
        self.model_ref = Some(if nothing_saved { wanted } else { session });
    }
}
