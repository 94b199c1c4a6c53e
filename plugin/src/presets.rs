//! Presets: the model and every parameter, in a file a user saves and loads, and the factory ones
//! compiled in (`plugin/presets/*.json`).
//!
//! A preset file is JSON:
//! `{ "format": "ddsp-instrument-preset", "version": 1, "plugin": "DDSP Instrument", "name": "…",
//! "state": <the plugin state as nice-plug serialises it: version, params, fields> }`.
//! `state` is what a host's session holds, so a preset loads through the same checks as a saved
//! session ([`crate::session::check`]: a newer plugin version, another plugin's parameters, a
//! damaged model reference, values out of range), and further: a newer preset format, the other
//! plugin's preset, and a model that is not here (a built-in name this version lacks, a file that
//! is gone) are refused with a message naming what is wrong. A refused preset changes nothing.
//! A loaded or saved preset's name goes into the state's `preset` field, so a session remembers it.
//! User presets live in `<data dir>/ddsp-instrument/presets/<plugin name>/`, one file each, written
//! atomically (a temporary file, then a rename).

use std::path::{Path, PathBuf};

use ddsp_core::library::Resolution;
use ddsp_core::{ModelLibrary, ModelRef};
use nice_plug::params::persist::{deserialize_field, serialize_field};
use nice_plug::plugin::ParamValue;
use nice_plug::prelude::*;

use crate::session::{self, LOAD_ERROR_FIELD, MODEL_FIELD};

/// The `format` field of every preset file.
pub const FORMAT: &str = "ddsp-instrument-preset";
/// The preset format this version writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;
/// The persistent field that names the preset loaded or saved last (shown by the editor; a
/// session keeps it).
pub const PRESET_FIELD: &str = "preset";
/// A preset file larger than this is not one (a preset is a few kilobytes).
const MAX_PRESET_BYTES: u64 = 1 << 20;

/// The factory presets: (plugin name, file content).
pub const FACTORY: [(&str, &str); 16] = [
    ("DDSP Instrument", include_str!("../presets/flute-solo.json")),
    ("DDSP Instrument", include_str!("../presets/violin-ensemble.json")),
    ("DDSP Instrument", include_str!("../presets/cello.json")),
    ("DDSP Instrument", include_str!("../presets/trumpet.json")),
    ("DDSP Instrument", include_str!("../presets/sax.json")),
    ("DDSP Instrument", include_str!("../presets/clarinet.json")),
    ("DDSP Instrument", include_str!("../presets/horn.json")),
    ("DDSP Instrument", include_str!("../presets/choir.json")),
    ("DDSP Effect", include_str!("../presets/effect-flute.json")),
    ("DDSP Effect", include_str!("../presets/effect-violin.json")),
    ("DDSP Effect", include_str!("../presets/effect-cello.json")),
    ("DDSP Effect", include_str!("../presets/effect-trumpet.json")),
    ("DDSP Effect", include_str!("../presets/effect-sax.json")),
    ("DDSP Effect", include_str!("../presets/effect-clarinet.json")),
    ("DDSP Effect", include_str!("../presets/effect-horn.json")),
    ("DDSP Effect", include_str!("../presets/effect-choir.json")),
];

/// The file format. `state` stays raw JSON until the header has been checked, so a preset from a
/// newer format says so instead of failing on a field it does not know.
#[derive(serde::Serialize, serde::Deserialize)]
struct PresetFile<S> {
    format: String,
    version: u64,
    plugin: String,
    name: String,
    state: S,
}

/// Where a preset comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Compiled in: the file's content.
    Factory(&'static str),
    /// A user preset file.
    User(PathBuf),
}

/// One preset in the list (not read further than its name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresetEntry {
    pub name: String,
    pub source: Source,
}

/// A preset that passed every check, ready for `GuiContext::set_state`.
#[derive(Debug)]
pub struct Loaded {
    pub name: String,
    pub state: PluginState,
    /// Values that were clamped or dropped on the way, or a model found elsewhere: said, not refused.
    pub note: Option<String>,
}

/// Why a preset was not loaded or saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresetError {
    Read {
        path: PathBuf,
        error: String,
    },
    /// Cut off before its end (`truncated`) or not JSON at all.
    NotJson {
        truncated: bool,
        detail: String,
    },
    NotAPreset,
    NewerFormat {
        version: u64,
    },
    OtherPlugin {
        plugin: String,
    },
    BadState(String),
    /// The session checks refused the state.
    Refused(String),
    /// The model the preset names is not here.
    MissingModel(String),
    BadName(String),
    Write {
        path: PathBuf,
        error: String,
    },
}

impl std::fmt::Display for PresetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read { path, error } => write!(f, "{} cannot be read ({error})", path.display()),
            Self::NotJson { truncated: true, detail } => write!(f, "the file is truncated ({detail})"),
            Self::NotJson { truncated: false, detail } => write!(f, "the file is not a preset: not JSON ({detail})"),
            Self::NotAPreset => write!(f, "the file is not a DDSP Instrument preset (no \"format\": \"{FORMAT}\")"),
            Self::NewerFormat { version } => {
                write!(f, "it is a version {version} preset, newer than this plugin reads ({FORMAT_VERSION})")
            }
            Self::OtherPlugin { plugin } => write!(f, "it is a preset for {plugin}"),
            Self::BadState(detail) => write!(f, "its settings are damaged ({detail})"),
            Self::Refused(why) => write!(f, "{why}"),
            Self::MissingModel(model) => write!(f, "its model {model} is not here"),
            Self::BadName(why) => write!(f, "{why}"),
            Self::Write { path, error } => write!(f, "{} cannot be written ({error})", path.display()),
        }
    }
}

impl std::error::Error for PresetError {}

/// User presets of `plugin`: `<data dir>/ddsp-instrument/presets/<plugin>/` (`None`: no data dir).
pub fn user_folder(plugin: &str) -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("ddsp-instrument").join("presets").join(plugin))
}

/// The factory presets of `plugin`, then the user presets in `folder` (sorted by name). Reads the
/// folder; main thread.
pub fn list(plugin: &str, folder: Option<&Path>) -> Vec<PresetEntry> {
    let name_of = |text: &str| serde_json::from_str::<PresetFile<serde::de::IgnoredAny>>(text).ok().map(|p| p.name);
    let mut entries: Vec<PresetEntry> = FACTORY
        .iter()
        .filter(|(p, _)| *p == plugin)
        .filter_map(|(_, text)| Some(PresetEntry { name: name_of(text)?, source: Source::Factory(text) }))
        .collect();
    let mut user: Vec<PresetEntry> = folder
        .and_then(|f| std::fs::read_dir(f).ok())
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .map(|path| {
            // A damaged file is still listed (by its file name): loading it says what is wrong.
            let name = read(&path).ok().and_then(|t| name_of(&t)).unwrap_or_else(|| stem(&path));
            PresetEntry { name, source: Source::User(path) }
        })
        .collect();
    user.sort_by_key(|e| e.name.to_lowercase());
    entries.extend(user);
    entries
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn read(path: &Path) -> Result<String, PresetError> {
    use std::io::Read;
    let error = |e: std::io::Error| PresetError::Read { path: path.to_owned(), error: e.to_string() };
    let mut text = String::new();
    std::fs::File::open(path).map_err(error)?.take(MAX_PRESET_BYTES).read_to_string(&mut text).map_err(error)?;
    Ok(text)
}

/// What a preset is checked against: the plugin it is loaded into.
pub struct Target<'a> {
    pub plugin: &'a str,
    pub version: &'a str,
    /// A default instance of the plugin's parameters (their IDs and ranges).
    pub defaults: &'a dyn Params,
    pub library: &'a ModelLibrary,
}

/// Reads and checks `entry`; see [`parse`].
pub fn load(entry: &PresetEntry, target: &Target) -> Result<Loaded, PresetError> {
    match &entry.source {
        Source::Factory(text) => parse(text, target),
        Source::User(path) => parse(&read(path)?, target),
    }
}

/// Parses and checks a preset file's text (module docs): the state to apply, or why not. Reads
/// model files (to find a moved one); main thread.
pub fn parse(text: &str, target: &Target) -> Result<Loaded, PresetError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| PresetError::NotJson { truncated: e.is_eof(), detail: e.to_string() })?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(PresetError::NotAPreset);
    }
    let file: PresetFile<serde_json::Value> =
        serde_json::from_value(value).map_err(|e| PresetError::BadState(e.to_string()))?;
    if file.version > FORMAT_VERSION {
        return Err(PresetError::NewerFormat { version: file.version });
    }
    if file.plugin != target.plugin {
        return Err(PresetError::OtherPlugin { plugin: file.plugin });
    }
    let mut state: PluginState =
        serde_json::from_value(file.state).map_err(|e| PresetError::BadState(e.to_string()))?;
    state.fields.remove(LOAD_ERROR_FIELD);
    let mut notes = Vec::new();
    match session::check(&mut state, target.defaults, target.plugin, target.version) {
        Err(why) => return Err(PresetError::Refused(why)),
        Ok(Some(fixed)) => notes.push(format!("values out of range: {fixed}")),
        Ok(None) => {}
    }
    if let Some(field) = state.fields.get(MODEL_FIELD) {
        // `check` refused a reference that does not parse.
        let wanted: ModelRef = deserialize_field(field).unwrap_or_default();
        match target.library.resolve(&wanted) {
            Resolution::UnknownBuiltIn(name) => return Err(PresetError::MissingModel(format!("'{name}' (built in)"))),
            Resolution::Missing(path) => return Err(PresetError::MissingModel(path.display().to_string())),
            Resolution::Moved { from, to } => {
                notes.push(format!("model {} was found at {}", from.display(), to.display()));
                let moved = ModelRef { path: Some(to.to_string_lossy().into_owned()), ..wanted };
                state.fields.insert(MODEL_FIELD.into(), serialize_field(&moved).unwrap_or_default());
            }
            Resolution::Changed(path) => notes.push(format!("model {} has changed since", path.display())),
            Resolution::BuiltIn(_) | Resolution::Found(_) => {}
        }
    }
    // A preset is the whole sound: one saved before morphing empties the morph's places.
    let no_morph = || serialize_field(&crate::morph_places::MorphPlaces::default()).unwrap_or_default();
    state.fields.entry(crate::morph_places::MORPH_FIELD.into()).or_insert_with(no_morph);
    state.fields.insert(PRESET_FIELD.into(), serialize_field(&Some(file.name.clone())).unwrap_or_default());
    Ok(Loaded { name: file.name, state, note: (!notes.is_empty()).then(|| notes.join("; ")) })
}

/// The preset file's text for `state` (a load message it carries is left out).
pub fn to_json(plugin: &str, name: &str, state: &PluginState) -> String {
    let mut state = state.clone();
    state.fields.remove(LOAD_ERROR_FIELD);
    state.fields.insert(PRESET_FIELD.into(), serialize_field(&Some(name.to_owned())).unwrap_or_default());
    let file =
        PresetFile { format: FORMAT.into(), version: FORMAT_VERSION, plugin: plugin.into(), name: name.into(), state };
    serde_json::to_string_pretty(&file).unwrap_or_default() + "\n"
}

/// The file name a preset called `name` is saved under: letters, digits, spaces, `-` and `_`
/// kept, anything else (path separators, dots) made `_`.
pub fn file_name(name: &str) -> Result<String, PresetError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(PresetError::BadName("a preset needs a name".into()));
    }
    if name.chars().count() > 100 {
        return Err(PresetError::BadName("a preset name has at most 100 characters".into()));
    }
    let safe: String =
        name.chars().map(|c| if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_') { c } else { '_' }).collect();
    Ok(format!("{safe}.json"))
}

/// Saves `state` as the preset `name` in `folder` (created if needed), replacing one of the same
/// name: written to a temporary file first, then renamed, so a crash leaves the old file or the
/// new one, never half of one. Returns the file's path.
pub fn save(folder: &Path, plugin: &str, name: &str, state: &PluginState) -> Result<PathBuf, PresetError> {
    let path = folder.join(file_name(name)?);
    let error = |e: std::io::Error| PresetError::Write { path: path.clone(), error: e.to_string() };
    std::fs::create_dir_all(folder).map_err(error)?;
    let temp = folder.join(format!(".{}.{}.tmp", file_name(name)?, std::process::id()));
    let written =
        std::fs::write(&temp, to_json(plugin, name.trim(), state)).and_then(|()| std::fs::rename(&temp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(error(e));
    }
    Ok(path)
}

/// The state of `params` as nice-plug saves it (every parameter, unmodulated, and the persistent
/// fields), stamped with `version`. For tests and generating the factory presets; the editor takes
/// the live state from the host wrapper instead.
pub fn state_of(params: &dyn Params, version: &str) -> PluginState {
    let values = params
        .param_map()
        .into_iter()
        .map(|(id, ptr, _)| {
            // SAFETY: `ptr` points into `params`, which outlives this call.
            let value = unsafe {
                match ptr {
                    ParamPtr::FloatParam(p) => ParamValue::F32((*p).unmodulated_plain_value()),
                    ParamPtr::IntParam(p) => ParamValue::I32((*p).unmodulated_plain_value()),
                    ParamPtr::BoolParam(p) => ParamValue::Bool((*p).unmodulated_plain_value()),
                    ParamPtr::EnumParam(p) => match (*p).unmodulated_plain_id() {
                        Some(id) => ParamValue::String(id.to_owned()),
                        None => ParamValue::I32((*p).unmodulated_plain_value()),
                    },
                }
            };
            (id, value)
        })
        .collect();
    PluginState { version: version.into(), params: values, fields: params.serialize_fields() }
}

#[cfg(test)]
#[path = "presets/tests.rs"]
mod tests;
