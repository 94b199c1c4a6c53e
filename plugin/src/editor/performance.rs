//! The performance view: the pitch and loudness the model is conditioned on, drawn over the last
//! seconds against the range the model was trained on (the sweet spot), and the current frame's
//! harmonic distribution and noise magnitudes. The effect draws its pitch on a piano roll: the
//! tracked (raw) pitch, the corrected one it plays, and the notes its MIDI out sends.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use ddsp_core::tracking::correction::hz_to_semitones;
use ddsp_core::ModelMeta;
use egui::{Color32, Pos2, Rect, Stroke, Vec2};

use crate::gui_data::GuiData;

/// Points kept, one per [`POINT_INTERVAL_S`]: the last 6 seconds.
const HISTORY: usize = 180;
/// The history's time step, whatever the editor's frame rate (it draws only when something moves).
const POINT_INTERVAL_S: f64 = 1.0 / 30.0;
const IN_RANGE: Color32 = Color32::from_rgba_premultiplied(40, 90, 60, 90);
const LINE: Color32 = Color32::from_rgb(120, 220, 160);
const OUT_OF_RANGE: Color32 = Color32::from_rgb(240, 150, 80);

/// One moment of the history.
#[derive(Clone, Copy)]
struct Point {
    f0_hz: f32,
    loudness_db: f32,
    sounding: bool,
    played_hz: f32,
    midi_out_key: Option<u8>,
}

/// The recent points.
#[derive(Default)]
pub struct History {
    points: VecDeque<Point>,
    last_frame: u32,
    /// When the last point was taken (egui seconds).
    last_point_s: f64,
}

impl History {
    /// Takes a point when the audio thread published a new frame and a time step has passed.
    fn update(&mut self, gui: &GuiData, now_s: f64) {
        let frame = gui.frames.load(Ordering::Acquire);
        // A little early still counts: frames drawn exactly one step apart must not skip one.
        if frame == self.last_frame || now_s - self.last_point_s < 0.8 * POINT_INTERVAL_S {
            return;
        }
        self.last_frame = frame;
        self.last_point_s = now_s;
        let key = gui.midi_out_key.load(Ordering::Relaxed);
        let point = Point {
            f0_hz: gui.f0_hz.load(Ordering::Relaxed),
            loudness_db: gui.loudness_db.load(Ordering::Relaxed),
            sounding: gui.sounding.load(Ordering::Relaxed),
            played_hz: gui.played_hz.load(Ordering::Relaxed),
            midi_out_key: u8::try_from(key).ok(),
        };
        if self.points.len() == HISTORY {
            self.points.pop_front();
        }
        self.points.push_back(point);
    }

    /// A sounding point is still on screen: the history scrolls while frames arrive.
    pub fn is_scrolling(&self) -> bool {
        self.points.iter().any(|p| p.sounding || p.midi_out_key.is_some())
    }
}

fn midi_note(hz: f32) -> f32 {
    hz_to_semitones(hz.max(1.0))
}

const NOTE_NAMES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];

/// The nearest note's name and how far `hz` is from it, as musicians read a tuner: "A4 +0 ¢",
/// "D#5 −1 ¢" (MIDI 60 is C4; cents from −50 to +50, a real minus sign). "–" for no pitch.
pub fn note_name(hz: f32) -> String {
    if !(hz.is_finite() && hz > 0.0) {
        return "–".to_owned();
    }
    let midi = hz_to_semitones(hz);
    let note = midi.round();
    let cents = ((midi - note) * 100.0).round() as i32;
    let note = note as i32;
    let name = NOTE_NAMES[note.rem_euclid(12) as usize];
    let octave = note.div_euclid(12) - 1;
    let sign = if cents < 0 { "−" } else { "+" };
    format!("{name}{octave} {sign}{} ¢", cents.abs())
}

/// One strip chart: value range `lo..hi`, the trained range shaded, the history as a line.
fn strip(
    ui: &mut egui::Ui,
    label: &str,
    size: Vec2,
    (lo, hi): (f32, f32),
    trained: Option<(f32, f32)>,
    values: &[Option<f32>],
) {
    ui.add(egui::Label::new(label).truncate());
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let y = |v: f32| rect.bottom() - (v.clamp(lo, hi) - lo) / (hi - lo) * rect.height();
    if let Some((a, b)) = trained {
        painter.rect_filled(Rect::from_x_y_ranges(rect.x_range(), y(b)..=y(a)), 0.0, IN_RANGE);
    }
    let step = rect.width() / HISTORY as f32;
    let points = values.iter().enumerate().map(|(i, value)| {
        value.map(|v| {
            let inside = trained.is_none_or(|(a, b)| v >= a && v <= b);
            (Pos2::new(rect.left() + i as f32 * step, y(v)), if inside { LINE } else { OUT_OF_RANGE })
        })
    });
    polyline(&painter, points, 1.5);
}

/// Joins consecutive points with segments of each point's colour; `None` breaks the line.
fn polyline(painter: &egui::Painter, points: impl IntoIterator<Item = Option<(Pos2, Color32)>>, width: f32) {
    let mut previous: Option<Pos2> = None;
    for point in points {
        if let (Some(from), Some((to, colour))) = (previous, point) {
            painter.line_segment([from, to], Stroke::new(width, colour));
        }
        previous = point.map(|(p, _)| p);
    }
}

/// Semitones a piano roll shows.
const ROLL_SPAN: f32 = 19.0;
const RAW: Color32 = Color32::from_rgb(150, 150, 150);
const NOTE_BOX: Color32 = Color32::from_rgba_premultiplied(70, 110, 200, 150);

/// The effect's pitch on a piano roll: a lane per semitone (sharps darker, C labelled) around
/// the recent pitches, the notes MIDI out sent as boxes, the raw pitch grey and the played
/// (corrected) pitch green.
fn piano_roll(ui: &mut egui::Ui, size: Vec2, points: &VecDeque<Point>) {
    ui.add(egui::Label::new("Pitch: raw (grey), played (green), MIDI out (boxes)").truncate());
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    // Centred on the middle of the recent pitches (or C4), a whole number of semitones.
    let voiced: Vec<f32> = points.iter().filter(|p| p.sounding).map(|p| midi_note(p.played_hz.max(p.f0_hz))).collect();
    let (lo, hi) = voiced.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let centre = if voiced.is_empty() { 60.0 } else { ((lo + hi) / 2.0).round() };
    let bottom = (centre - (ROLL_SPAN / 2.0).floor()).clamp(0.0, 127.0 - ROLL_SPAN);
    let lane = rect.height() / ROLL_SPAN;
    let y = |note: f32| rect.bottom() - (note - bottom + 0.5) * lane;
    for k in 0..ROLL_SPAN as i32 {
        let note = bottom as i32 + k;
        let sharp = matches!(note.rem_euclid(12), 1 | 3 | 6 | 8 | 10);
        let band = Rect::from_x_y_ranges(rect.x_range(), (y(note as f32) - lane / 2.0)..=(y(note as f32) + lane / 2.0));
        if sharp {
            painter.rect_filled(band, 0.0, ui.visuals().faint_bg_color);
        }
        if note.rem_euclid(12) == 0 {
            let text = format!("C{}", note.div_euclid(12) - 1);
            painter.text(band.left_center(), egui::Align2::LEFT_CENTER, text, egui::FontId::monospace(9.0), RAW);
        }
    }
    let step = rect.width() / HISTORY as f32;
    let x = |i: usize| rect.left() + i as f32 * step;
    // Note boxes: runs of the same key.
    let mut run: Option<(usize, u8)> = None;
    for (i, p) in points.iter().map(|p| p.midi_out_key).chain([None]).enumerate() {
        if run.map(|(_, key)| Some(key)) != Some(p) {
            if let Some((start, key)) = run.take() {
                let top = y(f32::from(key)) - lane / 2.0;
                painter.rect_filled(
                    Rect::from_min_max(Pos2::new(x(start), top), Pos2::new(x(i), top + lane)),
                    1.0,
                    NOTE_BOX,
                );
            }
            run = p.map(|key| (i, key));
        }
    }
    let line = |value: fn(&Point) -> f32, colour: Color32, width: f32| {
        let drawn = points.iter().enumerate().map(|(i, p)| {
            let hz = value(p);
            (p.sounding && hz > 0.0).then(|| (Pos2::new(x(i), y(midi_note(hz))), colour))
        });
        polyline(&painter, drawn, width);
    };
    line(|p| p.f0_hz, RAW, 1.0);
    line(|p| p.played_hz, LINE, 1.5);
}

/// Bars of `values` (linear) on a dB scale from −80 dB of the largest.
fn bars(ui: &mut egui::Ui, label: &str, size: Vec2, values: &[f32], color: Color32) {
    ui.add(egui::Label::new(label).truncate());
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let peak = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if values.is_empty() || peak <= 0.0 {
        return;
    }
    let width = rect.width() / values.len() as f32;
    for (i, v) in values.iter().enumerate() {
        let db = 20.0 * (v.abs() / peak).max(1e-4).log10();
        let height = (1.0 + db / 80.0) * rect.height();
        let x = rect.left() + i as f32 * width;
        let bar = Rect::from_min_max(
            Pos2::new(x, rect.bottom() - height),
            Pos2::new(x + (width - 1.0).max(1.0), rect.bottom()),
        );
        painter.rect_filled(bar, 0.0, color);
    }
}

/// `piano_roll`: draw the pitch as the effect plays it (raw, corrected, MIDI out notes).
pub fn show(ui: &mut egui::Ui, history: &mut History, gui: &GuiData, meta: Option<&ModelMeta>, piano_roll: bool) {
    history.update(gui, ui.input(|i| i.time));
    ui.heading("Performance");
    let width = ui.available_width();
    // Smaller charts in a short window leave the parameters room to scroll.
    let tall = ui.available_height() >= 560.0;
    let half = Vec2::new(((width - 12.0) / 2.0).max(60.0), if tall { 90.0 } else { 64.0 });
    let bars_height = if tall { 60.0 } else { 40.0 };
    let loudness: Vec<Option<f32>> = history.points.iter().map(|p| p.sounding.then_some(p.loudness_db)).collect();
    let (harmonics, noise) = gui.controls();
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            ui.set_width(half.x);
            if piano_roll {
                self::piano_roll(ui, half, &history.points);
            } else {
                let pitch: Vec<Option<f32>> =
                    history.points.iter().map(|p| p.sounding.then(|| midi_note(p.f0_hz))).collect();
                let trained = meta.map(|m| (midi_note(m.f0_min_hz), midi_note(m.f0_max_hz)));
                strip(ui, "Pitch (C1–C8) vs trained range", half, (24.0, 108.0), trained, &pitch);
            }
        });
        ui.vertical(|ui| {
            ui.set_width(half.x);
            let trained = meta.map(|m| (m.loudness_min_db, m.loudness_max_db));
            strip(ui, "Loudness (dB) vs trained range", half, (-100.0, 0.0), trained, &loudness);
        });
    });
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            ui.set_width(half.x);
            bars(ui, "Harmonic distribution", Vec2::new(half.x, bars_height), &harmonics, LINE)
        });
        ui.vertical(|ui| {
            ui.set_width(half.x);
            let colour = Color32::from_rgb(150, 160, 230);
            bars(ui, "Noise magnitudes", Vec2::new(half.x, bars_height), &noise, colour)
        });
    });
    let f0 = gui.f0_hz.load(Ordering::Relaxed);
    let sounding = gui.sounding.load(Ordering::Relaxed);
    let now = if sounding {
        format!(
            "now: {} ({f0:.1} Hz), {:.1} dB, confidence {:.2}",
            note_name(f0),
            gui.loudness_db.load(Ordering::Relaxed),
            gui.confidence.load(Ordering::Relaxed)
        )
    } else {
        "now: silent".to_owned()
    };
    ui.add(egui::Label::new(now).truncate());
}
