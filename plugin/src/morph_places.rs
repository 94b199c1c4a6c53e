//! The morph's places: A is the plugin's model (`crate::model_slot`), B, C and D are saved with
//! the session beside it (the same [`ModelRef`]s) and loaded together with
//! [`ModelLoader::load_morph`] on the loader thread, never the audio thread.
//!
//! Where each place sits on the X-Y pad (as in `ddsp_core::morph`): the morph has A and every place
//! up to the last one set. Two places lie on a line along x (A at 0, B at 1), three along it (A at
//! 0, B at ½, C at 1), four at the corners (A bottom left (0, 0), B bottom right (1, 0), C top left
//! (0, 1), D top right (1, 1)). A place left empty in between, or whose model fails, keeps its
//! spot with no weight: the morph goes on with the others. With B, C and D all empty the plugin
//! plays its one model exactly as without morphing.

use std::path::Path;
use std::sync::Arc;

use ddsp_core::library::Resolution;
use ddsp_core::swap::{LoadError, ModelLoader};
use ddsp_core::{Model, ModelChoice, ModelLibrary, ModelRef, MAX_MORPH_MODELS};

/// The places' persistent field (`#[persist]`); sessions saved before morphing lack it and load
/// with every place empty.
pub const MORPH_FIELD: &str = "morph";

/// Each place's letter, in place order.
pub const PLACE_NAMES: [&str; MAX_MORPH_MODELS] = ["A", "B", "C", "D"];

/// The saved references of places B, C and D (`None`: empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MorphPlaces {
    pub b: Option<ModelRef>,
    pub c: Option<ModelRef>,
    pub d: Option<ModelRef>,
}

impl MorphPlaces {
    /// Place `place` (1..=3: B, C, D); `None` for A and beyond D.
    pub fn get(&self, place: usize) -> Option<&ModelRef> {
        match place {
            1 => self.b.as_ref(),
            2 => self.c.as_ref(),
            3 => self.d.as_ref(),
            _ => None,
        }
    }

    /// Sets or clears place `place` (1..=3); A and beyond D are ignored.
    pub fn set(&mut self, place: usize, reference: Option<ModelRef>) {
        match place {
            1 => self.b = reference,
            2 => self.c = reference,
            3 => self.d = reference,
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.b.is_none() && self.c.is_none() && self.d.is_none()
    }

    /// Places the morph has: A and every place up to the last one set (1: A alone, no morph).
    pub fn count(&self) -> usize {
        (1..MAX_MORPH_MODELS).rev().find(|&i| self.get(i).is_some()).map_or(1, |last| last + 1)
    }
}

/// What the editor shows of each place (index 0 is A): the model that loaded there, or why none did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MorphStatus {
    pub names: [Option<String>; MAX_MORPH_MODELS],
    pub errors: [Option<String>; MAX_MORPH_MODELS],
}

/// A reference's name for a label: the built-in model's, or the file's stem.
pub fn reference_name(reference: &ModelRef) -> String {
    match (&reference.path, &reference.built_in) {
        (Some(path), _) => Path::new(path).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        (None, Some(name)) => name.clone(),
        (None, None) => ddsp_core::BuiltInModel::default_model().name.to_owned(),
    }
}

/// What a saved reference loads as, or why it cannot (reads and hashes files).
pub fn choice_of(library: &ModelLibrary, reference: &ModelRef) -> Result<ModelChoice, String> {
    match library.resolve(reference) {
        Resolution::BuiltIn(model) => Ok(ModelChoice::BuiltIn(model)),
        Resolution::UnknownBuiltIn(name) => Err(format!("this version has no built-in model '{name}'")),
        Resolution::Missing(path) => Err(format!("model {} is missing", path.display())),
        found => match found.path() {
            Some(path) => Ok(ModelChoice::File(path.to_owned())),
            None => Err("the model cannot be found".to_owned()),
        },
    }
}

/// A morph load's outcome: place A's model (or why it failed) and every place's status.
pub struct MorphLoad {
    pub primary: Result<Arc<Model>, String>,
    pub status: MorphStatus,
}

/// Loads `primary` (place A) with the saved `places` and queues the blend for the audio thread.
/// A place whose reference is not found or whose model fails is reported in the status and left
/// out; `Err` only when nothing could be sent. Allocates, reads files and may wait for the queue:
/// the loader thread or `activate`, never `process`.
pub fn load(
    loader: &mut ModelLoader,
    library: &ModelLibrary,
    primary: &ModelChoice,
    places: &MorphPlaces,
) -> Result<MorphLoad, LoadError> {
    let mut status = MorphStatus::default();
    let choices: Vec<Option<ModelChoice>> = (0..places.count())
        .map(|i| match i {
            0 => Some(primary.clone()),
            _ => places.get(i).and_then(|reference| match choice_of(library, reference) {
                Ok(choice) => Some(choice),
                Err(why) => {
                    status.errors[i] = Some(why);
                    None
                }
            }),
        })
        .collect();
    let loaded = loader.load_morph(&choices)?;
    let mut primary = Err(format!("model {primary} was not loaded"));
    for (i, result) in loaded.into_iter().enumerate() {
        match result {
            Ok(Some(model)) => {
                status.names[i] = Some(model.meta.name.clone());
                if i == 0 {
                    primary = Ok(model);
                }
            }
            Ok(None) => {}
            Err(e) => {
                if i == 0 {
                    primary = Err(e.to_string());
                }
                status.errors[i] = Some(e.to_string());
            }
        }
    }
    Ok(MorphLoad { primary, status })
}
