//! The model library: the built-in models, the user's model folders (ours and DDSP-VST's), recently
//! used files, and how a session's saved model reference is found again.
//!
//! A session stores a [`ModelRef`]: a built-in model's name, or a file's path and its content hash
//! (SHA-256). Restoring it never swaps silently: [`ModelLibrary::resolve`] says whether the file was found where it was,
//! found elsewhere by its hash (moved or renamed), changed since the session was saved, or missing,
//! and the caller shows that message and names the model it plays instead.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::model::{process_precision, BuiltInModel, Model, ModelLoadError, ModelSource, MAX_MODEL_BYTES};

/// File extensions the library lists.
pub const MODEL_EXTENSIONS: [&str; 2] = ["onnx", "tflite"];
/// Extra model folders, separated like `PATH` (`:` on Unix, `;` on Windows).
pub const MODEL_PATH_ENV: &str = "DDSP_MODEL_PATH";
/// How many recently used files are remembered.
pub const MAX_RECENTS: usize = 10;

/// A session's reference to a model: a file (where it was and what it contained) or a built-in
/// model by name. Neither: the embedded default.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ModelRef {
    pub path: Option<String>,
    /// Lower-case hex SHA-256 of the file's bytes when it was chosen.
    pub sha256: Option<String>,
    /// A [`BuiltInModel`]'s name, used when `path` is `None` (sessions saved before built-in
    /// models existed lack it and get the default).
    pub built_in: Option<String>,
}

impl ModelRef {
    /// A reference to `path`, hashing its content now. Reads the file.
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        Ok(Self { path: Some(path.to_string_lossy().into_owned()), sha256: Some(file_sha256(path)?), built_in: None })
    }

    /// A reference to a built-in model.
    pub fn to_built_in(name: &str) -> Self {
        Self { built_in: Some(name.to_owned()), ..Self::default() }
    }

    /// The reference that brings `choice` back. Reads (hashes) a file.
    pub fn to_choice(choice: &ModelChoice) -> std::io::Result<Self> {
        match choice {
            ModelChoice::BuiltIn(model) => Ok(Self::to_built_in(model.name)),
            ModelChoice::File(path) => Self::to_file(path),
        }
    }
}

/// A model the user picks: one built into the binary, or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelChoice {
    BuiltIn(&'static BuiltInModel),
    File(PathBuf),
}

impl ModelChoice {
    /// The choice that `source` came from; none for a model made from bytes that is not built in.
    pub fn of(source: &ModelSource) -> Option<Self> {
        match source {
            ModelSource::Embedded(name) => BuiltInModel::find(name).map(Self::BuiltIn),
            ModelSource::File(path) => Some(Self::File(path.clone())),
        }
    }

    /// Loads and validates it, its weights stored in the process's precision
    /// ([`crate::model::precision`]): every load the product plays goes through here. Allocates
    /// and reads files: never on the audio thread.
    pub fn load(&self) -> Result<Model, ModelLoadError> {
        match self {
            Self::BuiltIn(model) => Ok(Self::load_built_in(model)),
            Self::File(path) => Ok(Model::load(path)?.with_precision(process_precision())),
        }
    }

    /// [`ModelChoice::load`] of a built-in model, which cannot fail.
    pub fn load_built_in(model: &'static BuiltInModel) -> Model {
        model.load().with_precision(process_precision())
    }
}

impl std::fmt::Display for ModelChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BuiltIn(model) => write!(f, "{} (built in)", model.name),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Hex SHA-256 of a file (at most [`MAX_MODEL_BYTES`] are read: larger files are not models).
/// Anything but a regular file is an error before opening (a FIFO would block the open).
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut file = std::fs::File::open(path)?.take(MAX_MODEL_BYTES + 1);
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

/// Hex SHA-256 of bytes in memory.
pub fn bytes_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a library entry comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryOrigin {
    BuiltIn,
    Folder(PathBuf),
    Recent,
}

/// One model the user can pick (not loaded: listing is cheap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryEntry {
    /// File stem, or the built-in model's name.
    pub name: String,
    /// What picking this entry loads.
    pub choice: ModelChoice,
    pub origin: EntryOrigin,
}

impl LibraryEntry {
    fn file(path: PathBuf, origin: EntryOrigin) -> Self {
        Self { name: stem(&path), choice: ModelChoice::File(path), origin }
    }

    /// The model file (`None`: a built-in model).
    pub fn path(&self) -> Option<&Path> {
        match &self.choice {
            ModelChoice::File(path) => Some(path),
            ModelChoice::BuiltIn(_) => None,
        }
    }
}

/// What became of a session's [`ModelRef`].
#[derive(Debug)]
pub enum Resolution {
    /// A built-in model was asked for (the default when the session names none).
    BuiltIn(&'static BuiltInModel),
    /// The session names a built-in model this version does not have.
    UnknownBuiltIn(String),
    /// The file is where it was, with the same content (or the session stored no hash).
    Found(PathBuf),
    /// The path is gone but a file with the same content is in the library.
    Moved { from: PathBuf, to: PathBuf },
    /// The file is there but its content changed since the session was saved; it is used.
    Changed(PathBuf),
    /// Neither the path nor the content can be found.
    Missing(PathBuf),
}

impl Resolution {
    /// The file to load (`None`: a built-in model, or keep the current/fallback model).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Found(p) | Self::Changed(p) | Self::Moved { to: p, .. } => Some(p),
            Self::BuiltIn(_) | Self::UnknownBuiltIn(_) | Self::Missing(_) => None,
        }
    }

    /// A sentence for the log and the editor, naming the model that plays (`playing`) when the
    /// requested one is unavailable. `None` when there is nothing to say.
    pub fn message(&self, playing: &str) -> Option<String> {
        match self {
            Self::BuiltIn(_) | Self::Found(_) => None,
            Self::UnknownBuiltIn(name) => {
                Some(format!("this version has no built-in model '{name}'; playing '{playing}' instead"))
            }
            Self::Moved { from, to } => {
                Some(format!("model {} was not found; the same model was found at {}", from.display(), to.display()))
            }
            Self::Changed(p) => Some(format!("model {} has changed since this session was saved", p.display())),
            Self::Missing(p) => Some(format!("model {} is missing; playing '{playing}' instead", p.display())),
        }
    }
}

/// The folders and recents the library lists. Nothing here runs on the audio thread.
#[derive(Clone, Debug)]
pub struct ModelLibrary {
    pub folders: Vec<PathBuf>,
    /// File that stores recently used model paths, one per line (`None`: not remembered).
    pub recents_file: Option<PathBuf>,
}

impl ModelLibrary {
    /// The standard places on this platform: our own model folder, DDSP-VST's
    /// (`~/Documents/Magenta/DDSP/Models`), then any folders in `DDSP_MODEL_PATH`.
    pub fn standard() -> Self {
        let mut folders = Vec::new();
        if let Some(data) = dirs::data_dir() {
            folders.push(data.join("ddsp-instrument").join("models"));
        }
        if let Some(documents) = dirs::document_dir().or_else(|| dirs::home_dir().map(|h| h.join("Documents"))) {
            folders.push(documents.join("Magenta").join("DDSP").join("Models"));
        }
        if let Some(extra) = std::env::var_os(MODEL_PATH_ENV) {
            folders.extend(std::env::split_paths(&extra).filter(|p| !p.as_os_str().is_empty()));
        }
        let recents_file = dirs::config_dir().map(|c| c.join("ddsp-instrument").join("recent-models.txt"));
        Self { folders, recents_file }
    }

    /// The built-in models (the default first), every model file in the folders (not recursing
    /// deeper than two levels; sorted by name), then recently used files that are not in a folder.
    pub fn entries(&self) -> Vec<LibraryEntry> {
        let mut entries: Vec<LibraryEntry> = crate::model::BUILT_IN_MODELS
            .iter()
            .map(|m| LibraryEntry {
                name: m.name.to_owned(),
                choice: ModelChoice::BuiltIn(m),
                origin: EntryOrigin::BuiltIn,
            })
            .collect();
        for folder in &self.folders {
            let mut files = Vec::new();
            collect_models(folder, 2, &mut files);
            files.sort();
            entries.extend(files.into_iter().map(|path| LibraryEntry::file(path, EntryOrigin::Folder(folder.clone()))));
        }
        for path in self.recents() {
            if !entries.iter().any(|e| e.path() == Some(&path)) {
                entries.push(LibraryEntry::file(path, EntryOrigin::Recent));
            }
        }
        entries
    }

    /// Recently used model files that still exist, most recent first.
    pub fn recents(&self) -> Vec<PathBuf> {
        let Some(file) = &self.recents_file else { return vec![] };
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .take(MAX_RECENTS)
            .collect()
    }

    /// Puts `path` first in the recents (best effort: a read-only home is not an error).
    pub fn remember(&self, path: &Path) {
        let Some(file) = &self.recents_file else { return };
        let mut list: Vec<PathBuf> = vec![path.to_owned()];
        list.extend(self.recents().into_iter().filter(|p| p != path));
        list.truncate(MAX_RECENTS);
        let text: String = list.iter().map(|p| format!("{}\n", p.display())).collect();
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(file, text);
    }

    /// Finds a library model by name (a built-in model's or a file stem, case-insensitive; the
    /// built-in model first when both have it).
    pub fn find(&self, name: &str) -> Option<LibraryEntry> {
        self.entries().into_iter().find(|e| e.name.eq_ignore_ascii_case(name))
    }

    /// What became of a saved reference (reads and hashes files; never loads a model).
    pub fn resolve(&self, wanted: &ModelRef) -> Resolution {
        let Some(path) = wanted.path.as_deref().map(PathBuf::from) else {
            return match wanted.built_in.as_deref() {
                None => Resolution::BuiltIn(BuiltInModel::default_model()),
                Some(name) => BuiltInModel::find(name)
                    .map_or_else(|| Resolution::UnknownBuiltIn(name.to_owned()), Resolution::BuiltIn),
            };
        };
        if path.is_file() {
            return match (&wanted.sha256, file_sha256(&path)) {
                (Some(saved), Ok(now)) if *saved != now => Resolution::Changed(path),
                _ => Resolution::Found(path),
            };
        }
        if let Some(hash) = &wanted.sha256 {
            let candidates = self.entries().into_iter().filter_map(|e| e.path().map(Path::to_path_buf));
            // Same file name first: the common case is a moved folder.
            let (same_name, others): (Vec<_>, Vec<_>) = candidates.partition(|p| p.file_name() == path.file_name());
            for candidate in same_name.into_iter().chain(others) {
                if file_sha256(&candidate).is_ok_and(|h| h == *hash) {
                    return Resolution::Moved { from: path, to: candidate };
                }
            }
        }
        Resolution::Missing(path)
    }

    /// Resolves and loads a saved reference: the model (or `None` to keep the current/fallback
    /// one), and the message to show, if any. `playing` names the fallback for the message.
    pub fn restore(&self, wanted: &ModelRef, playing: &str) -> (Option<Model>, Option<String>) {
        let resolution = self.resolve(wanted);
        let message = resolution.message(playing);
        if let Resolution::BuiltIn(built_in) = resolution {
            return (Some(ModelChoice::load_built_in(built_in)), None);
        }
        match resolution.path() {
            None => (None, message),
            Some(path) => match ModelChoice::File(path.to_path_buf()).load() {
                Ok(model) => (Some(model), message),
                Err(ModelLoadError { error, .. }) => (
                    None,
                    Some(format!("model {} cannot be loaded ({error}); playing '{playing}' instead", path.display())),
                ),
            },
        }
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn collect_models(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) {
    let Ok(read) = std::fs::read_dir(dir) else { return };
    for entry in read.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if depth > 0 {
                collect_models(&path, depth - 1, out);
            }
        } else if path.is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| MODEL_EXTENSIONS.iter().any(|m| e.eq_ignore_ascii_case(m)))
        {
            out.push(path);
        }
    }
}
