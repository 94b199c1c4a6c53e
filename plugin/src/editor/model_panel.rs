//! The model panel: the library (built in, model folders, recently used), a file browser for any
//! model file, and the playing model's card. Load errors are shown in plain words at the top.

use std::path::{Path, PathBuf};

use ddsp_core::library::EntryOrigin;
use ddsp_core::ModelChoice;

use super::EditorModel;
use crate::model_slot::ModelStatus;

/// Model files the browser lists.
const MODEL_EXTENSIONS: [&str; 2] = ["onnx", "tflite"];

/// A small file browser drawn with egui itself: works in every host (no native dialog, no portal).
pub struct FileBrowser {
    pub open: bool,
    pub folder: PathBuf,
    /// Folders and model files of `folder`, read when it changes.
    entries: Vec<(PathBuf, bool)>,
    listed: Option<PathBuf>,
    typed: String,
}

impl Default for FileBrowser {
    fn default() -> Self {
        let folder = dirs_home();
        Self { open: false, typed: folder.display().to_string(), folder, entries: Vec::new(), listed: None }
    }
}

fn dirs_home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"))
}

impl FileBrowser {
    fn refresh(&mut self) {
        if self.listed.as_deref() == Some(self.folder.as_path()) {
            return;
        }
        let mut entries: Vec<(PathBuf, bool)> = std::fs::read_dir(&self.folder)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
                    .filter_map(|p| {
                        if p.is_dir() {
                            Some((p, true))
                        } else if is_model_file(&p) {
                            Some((p, false))
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.entries = entries;
        self.listed = Some(self.folder.clone());
        self.typed = self.folder.display().to_string();
    }

    /// Draws the browser; returns a model file the user picked.
    fn show(&mut self, ui: &mut egui::Ui) -> Option<PathBuf> {
        self.refresh();
        let mut picked = None;
        ui.horizontal(|ui| {
            if ui.button("Up").on_hover_text("Parent folder").clicked() {
                if let Some(parent) = self.folder.parent() {
                    self.folder = parent.to_path_buf();
                }
            }
            let name = ui.label("Folder");
            let response = ui.text_edit_singleline(&mut self.typed).labelled_by(name.id);
            if response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                let typed = PathBuf::from(self.typed.trim());
                if typed.is_dir() {
                    self.folder = typed;
                } else if is_model_file(&typed) {
                    picked = Some(typed);
                }
            }
        });
        egui::ScrollArea::vertical().id_salt("browser").max_height(160.0).show(ui, |ui| {
            if self.entries.is_empty() {
                ui.weak("no folders or .onnx/.tflite files here");
            }
            for (path, is_dir) in &self.entries {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if *is_dir {
                    if ui.selectable_label(false, format!("{name}/")).clicked() {
                        self.folder = path.clone();
                    }
                } else if ui.selectable_label(false, name).clicked() {
                    picked = Some(path.clone());
                }
            }
        });
        picked
    }
}

fn is_model_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MODEL_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

pub fn show(ui: &mut egui::Ui, model: &mut EditorModel, status: &ModelStatus) {
    ui.heading("Model");
    let mut picked: Option<ModelChoice> = None;
    egui::ScrollArea::vertical().id_salt("library").max_height(250.0).show(ui, |ui| {
        for entry in model.library.entries() {
            let playing = status.choice.as_ref() == Some(&entry.choice);
            let origin = match entry.origin {
                EntryOrigin::BuiltIn => "built in",
                EntryOrigin::Recent => "recent",
                _ => "folder",
            };
            let label = ui.selectable_label(playing, format!("{}  ·  {origin}", entry.name));
            let label = match entry.path() {
                Some(path) => label.on_hover_text(path.display().to_string()),
                None => label,
            };
            if label.clicked() && !playing {
                picked = Some(entry.choice.clone());
            }
        }
    });
    let browse = if model.browser.open { "Close browser" } else { "Load model file…" };
    if ui.button(browse).clicked() {
        model.browser.open = !model.browser.open;
    }
    if model.browser.open {
        if let Some(path) = model.browser.show(ui) {
            picked = Some(ModelChoice::File(path));
        }
    }
    if let Some(choice) = picked {
        model.pick(choice, ui.input(|i| i.time));
    }

    ui.separator();
    ui.heading("Model card");
    let Some(meta) = &status.meta else {
        ui.weak("no model");
        return;
    };
    egui::Grid::new("card").num_columns(2).striped(true).show(ui, |ui| {
        let mut row = |key: &str, value: String| {
            ui.label(key);
            ui.add(egui::Label::new(value).wrap());
            ui.end_row();
        };
        row("Name", meta.name.clone());
        row("Instrument", meta.instrument.clone());
        row("Sample rate", format!("{} Hz", meta.sample_rate_hz));
        row("Frame rate", format!("{} frames/s", meta.frame_rate_hz));
        row("Harmonics", meta.n_harmonics.to_string());
        row("Noise bands", meta.n_noise_bands.to_string());
        row("Pitch range", format!("{:.0}–{:.0} Hz", meta.f0_min_hz, meta.f0_max_hz));
        // `+ 0.0` turns a rounded -0 into 0.
        let db = |x: f32| x.round() + 0.0;
        row("Loudness range", format!("{} to {} dB", db(meta.loudness_min_db), db(meta.loudness_max_db)));
        row("Weights", status.weights.clone());
        row("Licence", meta.licence.clone());
    });
    if !meta.description.is_empty() {
        // Body size: the card is read, not glanced at (it was egui's 9 px small text).
        ui.add_space(4.0);
        ui.add(egui::Label::new(&meta.description).wrap());
    }
}
