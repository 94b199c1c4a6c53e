//! The morph section: the X-Y pad over the morph position, its parameters, and the four places
//! (A is the model panel's model; B, C and D are picked here from the library, or cleared).
//!
//! The pad: x to the right, y up, each place's letter where `crate::morph_places` puts it (two:
//! A left, B right, on a line along x; three: A, B, C along it; four: the corners, A bottom left,
//! B bottom right, C top left, D top right). The ring is the parameters' position, the dot where
//! the voice is now (it glides there). Dragging goes through the host's parameter gestures, so a
//! host records it as automation.

use std::sync::atomic::Ordering;

use ddsp_core::{ModelChoice, ModelLibrary};
use nice_plug::context::gui::ParamSetter;
use nice_plug::prelude::FloatParam;

use super::PluginParams;
use crate::gui_data::GuiData;
use crate::model_slot::ModelStatus;
use crate::morph_places::{reference_name, MorphPlaces, PLACE_NAMES};

/// The pad's side, logical pixels.
pub const PAD_SIZE: f32 = 140.0;
/// The place pickers' width, and the width a place row needs (letter, picker, clear button),
/// logical pixels.
const PICKER_WIDTH: f32 = 140.0;
const PLACES_WIDTH: f32 = 240.0;
/// Red, as the title bar's model messages.
const ERROR_COLOUR: egui::Color32 = egui::Color32::from_rgb(235, 110, 90);

/// What the user asked of a place: set it to a model or clear it (`None`).
pub type PlaceRequest = (usize, Option<ModelChoice>);

/// Where place `i` of a morph of `places` sits on the pad (x, y in 0..=1).
pub fn place_position(places: usize, i: usize) -> (f32, f32) {
    match places {
        4 => [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)][i.min(3)],
        3 => (i.min(2) as f32 * 0.5, 0.5),
        _ => (i.min(1) as f32, 0.5),
    }
}

/// Draws the section; returns a place the user set or cleared.
pub fn show(
    ui: &mut egui::Ui,
    params: &PluginParams,
    setter: &ParamSetter,
    gui: &GuiData,
    status: &ModelStatus,
    library: &ModelLibrary,
) -> Option<PlaceRequest> {
    let places = params.morph_places().read().map(|p| p.clone()).unwrap_or_default();
    let (x, y) = match params {
        PluginParams::Instrument(p) => (&p.morph_x, &p.morph_y),
        PluginParams::Effect(p) => (&p.morph_x, &p.morph_y),
    };
    let mut request = None;
    egui::CollapsingHeader::new("Morph").id_salt("Morph").default_open(true).show(ui, |ui| {
        super::controls::param_rows(ui, "Morph", |ui| {
            super::controls::slider(ui, x, setter);
            super::controls::slider(ui, y, setter);
            if let PluginParams::Instrument(p) = params {
                super::controls::slider(ui, &p.morph_source, setter);
            }
        });
        ui.add_space(4.0);
        // Side by side where the column is wide enough, else the places under the pad.
        if ui.available_width() >= PAD_SIZE + PLACES_WIDTH {
            ui.horizontal_top(|ui| {
                pad(ui, x, y, setter, gui, &places, status);
                ui.add_space(8.0);
                ui.vertical(|ui| request = place_rows(ui, &places, status, library));
            });
        } else {
            pad(ui, x, y, setter, gui, &places, status);
            ui.add_space(4.0);
            request = place_rows(ui, &places, status, library);
        }
    });
    request
}

/// The X-Y pad (see the module docs).
fn pad(
    ui: &mut egui::Ui,
    x: &FloatParam,
    y: &FloatParam,
    setter: &ParamSetter,
    gui: &GuiData,
    places: &MorphPlaces,
    status: &ModelStatus,
) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(PAD_SIZE, PAD_SIZE), egui::Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Slider, true, "Morph pad"));
    let at = |p: egui::Pos2| {
        let v = (p - rect.left_bottom()) / rect.size();
        (v.x.clamp(0.0, 1.0), (-v.y).clamp(0.0, 1.0))
    };
    let set = |p: egui::Pos2| {
        let (vx, vy) = at(p);
        setter.set_parameter(x, vx);
        setter.set_parameter(y, vy);
    };
    let pointer = response.interact_pointer_pos();
    if response.drag_started() {
        setter.begin_set_parameter(x);
        setter.begin_set_parameter(y);
    }
    if let (true, Some(p)) = (response.dragged(), pointer) {
        set(p);
    }
    if response.drag_stopped() {
        setter.end_set_parameter(x);
        setter.end_set_parameter(y);
    }
    if let (true, Some(p)) = (response.clicked(), pointer) {
        setter.begin_set_parameter(x);
        setter.begin_set_parameter(y);
        set(p);
        setter.end_set_parameter(x);
        setter.end_set_parameter(y);
    }

    let visuals = ui.visuals();
    let painter = ui.painter_at(rect.expand(1.0));
    let to_screen =
        |(px, py): (f32, f32)| egui::pos2(rect.left() + px * rect.width(), rect.bottom() - py * rect.height());
    painter.rect_filled(rect, 3.0, visuals.extreme_bg_color);
    let grid = egui::Stroke::new(1.0, visuals.faint_bg_color);
    painter.line_segment([rect.center_top(), rect.center_bottom()], grid);
    painter.line_segment([rect.left_center(), rect.right_center()], grid);
    let count = places.count().max(2);
    let font = egui::FontId::proportional(13.0);
    // Inside the pad, against the edge a place sits on: an alignment and an inset per axis.
    let edge = |v: f32| match v {
        v if v < 0.25 => (egui::Align::Min, 4.0),
        v if v > 0.75 => (egui::Align::Max, -4.0),
        _ => (egui::Align::Center, 0.0),
    };
    for (i, letter) in PLACE_NAMES.iter().enumerate().take(count) {
        let (px, py) = place_position(count, i);
        let set = i == 0 || places.get(i).is_some();
        let colour = match (set, status.morph.errors[i].is_some()) {
            (_, true) => ERROR_COLOUR,
            (true, false) => visuals.strong_text_color(),
            (false, false) => visuals.weak_text_color(),
        };
        let ((align_x, inset_x), (align_y, inset_y)) = (edge(px), edge(1.0 - py));
        let at = to_screen((px, py)) + egui::vec2(inset_x, inset_y);
        painter.text(at, egui::Align2([align_x, align_y]), letter, font.clone(), colour);
    }
    // The parameters' position (a ring) and, while a morph plays, the voice's (a dot).
    let accent = visuals.selection.bg_fill;
    painter.circle_stroke(to_screen((x.value(), y.value())), 6.0, egui::Stroke::new(1.5, accent));
    if gui.morph_places.load(Ordering::Relaxed) > 0 {
        let live = (gui.morph_x.load(Ordering::Relaxed), gui.morph_y.load(Ordering::Relaxed));
        painter.circle_filled(to_screen(live), 3.5, visuals.strong_text_color());
    }
    painter.rect_stroke(
        rect,
        3.0,
        egui::Stroke::new(1.0, visuals.widgets.noninteractive.bg_stroke.color),
        egui::StrokeKind::Inside,
    );
}

/// A row per place: its letter, its model (A: the one playing; B, C, D: a picker from the library
/// and a clear button), and in red why its model did not load.
fn place_rows(
    ui: &mut egui::Ui,
    places: &MorphPlaces,
    status: &ModelStatus,
    library: &ModelLibrary,
) -> Option<PlaceRequest> {
    let mut request = None;
    let entries = library.entries();
    for (i, letter_text) in PLACE_NAMES.iter().enumerate() {
        ui.horizontal(|ui| {
            let letter = ui.label(egui::RichText::new(*letter_text).strong());
            if i == 0 {
                ui.label(&status.playing);
                return;
            }
            let name = status.morph.names[i].clone().or_else(|| places.get(i).map(reference_name));
            let shown = name.clone().unwrap_or_else(|| "—".to_owned());
            let picker = egui::ComboBox::from_id_salt(("morph place", i)).width(PICKER_WIDTH).selected_text(shown);
            let combo = picker.show_ui(ui, |ui| {
                for entry in &entries {
                    if ui.selectable_label(name.as_deref() == Some(entry.name.as_str()), &entry.name).clicked() {
                        request = Some((i, Some(entry.choice.clone())));
                    }
                }
            });
            combo.response.labelled_by(letter.id).on_hover_text(format!("The model at place {letter_text}"));
            if places.get(i).is_some()
                && ui.button("Clear").on_hover_text(format!("Empty place {letter_text}")).clicked()
            {
                request = Some((i, None));
            }
        });
        if let Some(error) = &status.morph.errors[i] {
            ui.add(egui::Label::new(egui::RichText::new(error).color(ERROR_COLOUR)).wrap());
        }
    }
    if places.is_empty() {
        ui.weak("Pick a model for B to morph between A and B.");
    }
    request
}
