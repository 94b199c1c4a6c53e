//! Parameter groups (how the plugin plays, its sound and output, the mastering chain), meters and
//! the mastering presets. Every slider is nice-plug-egui's `ParamSlider`: units, drag, double-click or
//! Ctrl+click to reset, click the value to type one.

use std::sync::atomic::Ordering;

use ddsp_core::master::MasterPreset;
use nice_plug::context::gui::ParamSetter;
use nice_plug::prelude::Param;
use nice_plug_egui::widgets::ParamSlider;

use super::PluginParams;
use crate::gui_data::GuiData;
use crate::master_params::MasterParams;

pub(super) fn slider(ui: &mut egui::Ui, param: &impl Param, setter: &ParamSetter) {
    // One line: a group column is never narrower than GROUP_COLUMN_MIN_WIDTH, which holds the
    // longest name, so names neither wrap nor get cut.
    ui.add(egui::Label::new(param.name()).extend());
    ui.add(ParamSlider::for_param(param, setter).with_width(SLIDER_WIDTH));
    ui.end_row();
}

const SLIDER_WIDTH: f32 = 80.0;
/// The name column's width: names line up from group to group.
const NAME_WIDTH: f32 = 112.0;

/// A collapsible group of parameter rows. `title` names it (and keys its open state); `state`,
/// when given, is shown after it so a closed group still says whether its stage is on.
fn group(ui: &mut egui::Ui, title: &str, state: Option<bool>, open: bool, add: impl FnOnce(&mut egui::Ui)) {
    let heading = match state {
        Some(true) => format!("{title} · on"),
        Some(false) => format!("{title} · off"),
        None => title.to_owned(),
    };
    egui::CollapsingHeader::new(heading).id_salt(title).default_open(open).show(ui, |ui| param_rows(ui, title, add));
}

/// Rows of [`slider`]s, their names lined up with every group's; `id` keys the grid.
pub(super) fn param_rows(ui: &mut egui::Ui, id: &str, add: impl FnOnce(&mut egui::Ui)) {
    egui::Grid::new(id).num_columns(2).min_col_width(NAME_WIDTH).spacing([12.0, 4.0]).show(ui, add);
}

/// Width one column of groups needs: the longest name, the slider and the widest value text
/// ("Expression (CC11)", 80 px, "Legato notes"). Narrower than two of these, the groups stack.
const GROUP_COLUMN_MIN_WIDTH: f32 = 320.0;

/// The parameter groups in the order the host lists them: how the plugin plays first (open), then
/// its sound and output, then the mastering chain (closed; the presets beside set it whole).
/// `morph` draws the morph section (`super::morph`), between the synth levels and the output.
pub fn groups(
    ui: &mut egui::Ui,
    params: &PluginParams,
    setter: &ParamSetter,
    gui: &GuiData,
    morph: impl FnOnce(&mut egui::Ui),
) {
    if ui.available_width() >= 2.0 * GROUP_COLUMN_MIN_WIDTH {
        ui.columns(2, |columns| {
            let (left, right) = columns.split_at_mut(1);
            playing_groups(&mut left[0], params, setter, gui);
            sound_groups(&mut right[0], params, setter, morph);
            mastering_groups(&mut right[0], params.master(), setter);
        });
    } else {
        playing_groups(ui, params, setter, gui);
        sound_groups(ui, params, setter, morph);
        mastering_groups(ui, params.master(), setter);
    }
}
/// One square per voice the polyphony allows, lit while that voice runs (sounds or releases),
/// and how many run.
fn voice_activity(ui: &mut egui::Ui, active: u32, voices: usize) {
    ui.label("Playing");
    ui.horizontal(|ui| {
        let voices = voices.min(32);
        let (rect, _) = ui.allocate_exact_size(egui::vec2(voices as f32 * 9.0 / 2.0, 20.0), egui::Sense::hover());
        // Two rows of squares, voice 1 top left.
        for i in 0..voices {
            let (col, row) = ((i / 2) as f32, (i % 2) as f32);
            let square = egui::Rect::from_min_size(rect.min + egui::vec2(col * 9.0, row * 10.0), egui::vec2(7.0, 8.0));
            let lit = active & (1 << i) != 0;
            let colour = if lit { ui.visuals().selection.bg_fill } else { ui.visuals().faint_bg_color };
            ui.painter().rect_filled(square, 1.0, colour);
        }
        ui.label(format!("{} of {voices}", (active & voice_mask(voices)).count_ones()));
    });
    ui.end_row();
}

fn voice_mask(voices: usize) -> u32 {
    if voices >= 32 {
        u32::MAX
    } else {
        (1u32 << voices) - 1
    }
}

/// What one plays with: the instrument's voices, envelope and expression; the effect's mix, pitch
/// and gate, then what conditions its input.
fn playing_groups(ui: &mut egui::Ui, params: &PluginParams, setter: &ParamSetter, gui: &GuiData) {
    match params {
        PluginParams::Instrument(p) => {
            group(ui, "Voices", None, true, |ui| {
                slider(ui, &p.mode, setter);
                slider(ui, &p.voices, setter);
                let voices = match p.mode.value() {
                    crate::params::PlayMode::Poly => p.voices.value() as usize,
                    crate::params::PlayMode::Mono => 1,
                };
                voice_activity(ui, gui.voice_activity.load(Ordering::Relaxed), voices);
                slider(ui, &p.legato, setter);
                slider(ui, &p.glide_ms, setter);
                slider(ui, &p.glide_mode, setter);
            });
            group(ui, "Envelope", None, true, |ui| {
                for param in [&p.attack_ms, &p.decay_ms, &p.sustain, &p.release_ms] {
                    slider(ui, param, setter);
                }
            });
            group(ui, "Expression", None, true, |ui| {
                for param in [&p.velocity_curve, &p.vibrato_rate_hz, &p.vibrato_depth_cents] {
                    slider(ui, param, setter);
                }
                slider(ui, &p.bend_range, setter);
                slider(ui, &p.mpe, setter);
                slider(ui, &p.mpe_bend_range, setter);
                slider(ui, &p.mod_wheel, setter);
                slider(ui, &p.expression, setter);
                slider(ui, &p.pressure, setter);
            });
        }
        PluginParams::Effect(p) => {
            group(ui, "Play", None, true, |ui| {
                for param in [&p.dry_wet, &p.input_pitch, &p.pitch_shift, &p.gate_threshold] {
                    slider(ui, param, setter);
                }
            });
            group(ui, "Input", None, true, |ui| {
                slider(ui, &p.input_gain, setter);
                slider(ui, &p.unvoiced, setter);
                slider(ui, &p.pitch_latency, setter);
            });
            let pitch = &p.pitch;
            let corrected = pitch.mode.value() == crate::pitch_params::PitchModeChoice::Scale;
            group(ui, "Pitch", Some(corrected), true, |ui| {
                slider(ui, &pitch.mode, setter);
                slider(ui, &pitch.key, setter);
                slider(ui, &pitch.scale, setter);
                if pitch.scale.value() == crate::pitch_params::ScaleChoice::Custom {
                    scale_notes(ui, pitch, setter);
                }
                for param in [&pitch.strength, &pitch.retune_ms, &pitch.smoothing_ms] {
                    slider(ui, param, setter);
                }
                slider(ui, &pitch.heard, setter);
            });
            let midi = &p.midi_out;
            let sending = midi.mode.value() != crate::pitch_params::MidiOutChoice::Off;
            group(ui, "MIDI Out", Some(sending), false, |ui| {
                slider(ui, &midi.mode, setter);
                slider(ui, &midi.channel, setter);
                slider(ui, &midi.bend_range, setter);
            });
        }
    }
}

/// The custom scale as twelve toggles, the root first: each click sets the "Custom Scale" mask.
fn scale_notes(ui: &mut egui::Ui, pitch: &crate::pitch_params::PitchParams, setter: &ParamSetter) {
    ui.label("Notes");
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = 2.0;
        let mask = pitch.custom_scale.value();
        for degree in 0..12 {
            let on = mask & (1 << degree) != 0;
            let text = egui::RichText::new(ddsp_core::tracking::correction::scale_to_string(1 << degree)).small();
            if ui.add(egui::Button::new(text).selected(on).min_size(egui::vec2(20.0, 18.0))).clicked() {
                let toggled = mask ^ (1 << degree);
                // The root always stays, so the scale is never empty.
                let next = if toggled & 1 == 0 { toggled | 1 } else { toggled };
                setter.begin_set_parameter(&pitch.custom_scale);
                setter.set_parameter(&pitch.custom_scale, next);
                setter.end_set_parameter(&pitch.custom_scale);
            }
        }
    });
    ui.end_row();
}

/// The voice's levels, the morph and the plugin's output.
fn sound_groups(ui: &mut egui::Ui, params: &PluginParams, setter: &ParamSetter, morph: impl FnOnce(&mut egui::Ui)) {
    let (harmonic, noise, output) = match params {
        PluginParams::Instrument(p) => (&p.harmonic_level, &p.noise_level, &p.output_gain),
        PluginParams::Effect(p) => (&p.harmonic_level, &p.noise_level, &p.output_gain),
    };
    group(ui, "Synth", None, true, |ui| {
        slider(ui, harmonic, setter);
        slider(ui, noise, setter);
    });
    morph(ui);
    group(ui, "Output", None, true, |ui| slider(ui, output, setter));
}

/// The mastering chain in signal order, closed (each header says whether its stage is on).
fn mastering_groups(ui: &mut egui::Ui, m: &MasterParams, setter: &ParamSetter) {
    ui.add_space(6.0);
    ui.label(egui::RichText::new("Mastering chain").strong());
    let e = &m.eq;
    group(ui, "EQ", Some(e.on.value()), false, |ui| {
        slider(ui, &e.on, setter);
        slider(ui, &e.high_pass_on, setter);
        for param in [
            &e.high_pass_hz,
            &e.low_shelf_hz,
            &e.low_shelf_db,
            &e.peak1_hz,
            &e.peak1_db,
            &e.peak1_q,
            &e.peak2_hz,
            &e.peak2_db,
            &e.peak2_q,
            &e.peak3_hz,
            &e.peak3_db,
            &e.peak3_q,
            &e.high_shelf_hz,
            &e.high_shelf_db,
        ] {
            slider(ui, param, setter);
        }
    });
    let d = &m.dynamics;
    group(ui, "Dynamics", Some(d.on.value()), false, |ui| {
        slider(ui, &d.on, setter);
        for param in [&d.threshold_db, &d.ratio, &d.knee_db, &d.attack_ms, &d.release_ms, &d.makeup_db] {
            slider(ui, param, setter);
        }
        slider(ui, &d.detection, setter);
    });
    let r = &m.reverb;
    group(ui, "Reverb", Some(r.on.value()), false, |ui| {
        slider(ui, &r.on, setter);
        for param in [&r.size, &r.damping, &r.predelay_ms, &r.width, &r.wet_db] {
            slider(ui, param, setter);
        }
    });
    let l = &m.limiter;
    group(ui, "Limiter", Some(l.on.value()), false, |ui| {
        slider(ui, &l.on, setter);
        for param in [&l.ceiling_dbtp, &l.lookahead_ms, &l.release_ms] {
            slider(ui, param, setter);
        }
        slider(ui, &m.quality, setter);
    });
}

/// A horizontal level bar from `lo` to `hi` dB.
fn meter(ui: &mut egui::Ui, label: &str, value_db: f32, (lo, hi): (f32, f32), unit: &str) {
    let fraction = if value_db.is_finite() { ((value_db - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.0 };
    let text = if value_db.is_finite() { format!("{value_db:.1} {unit}") } else { format!("-inf {unit}") };
    bar(ui, label, fraction, text);
}

/// Gain reduction: the bar grows with the reduction (0..24 dB).
fn reduction(ui: &mut egui::Ui, label: &str, reduction_db: f32) {
    let fraction = (reduction_db / 24.0).clamp(0.0, 1.0);
    bar(ui, label, fraction, format!("{reduction_db:.1} dB GR"));
}

/// A level bar: a flat trough, filled from the left, the value written over it. Drawn by hand: at
/// 0 egui's progress bar draws a round knob that looks draggable, and nothing here is.
fn bar(ui: &mut egui::Ui, label: &str, fraction: f32, text: String) {
    ui.horizontal(|ui| {
        ui.add_sized([34.0, 18.0], egui::Label::new(label));
        let width = ui.available_width().clamp(60.0, 150.0);
        let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 16.0), egui::Sense::hover());
        let painter = ui.painter();
        painter.rect_filled(rect, 1.0, ui.visuals().extreme_bg_color);
        if fraction > 0.0 {
            let fill = egui::Rect::from_min_size(rect.min, egui::vec2(rect.width() * fraction, rect.height()));
            painter.rect_filled(fill, 1.0, ui.visuals().selection.bg_fill);
        }
        ui.put(rect.shrink2(egui::vec2(6.0, 0.0)), egui::Label::new(text));
    });
}

pub fn meters(ui: &mut egui::Ui, gui: &GuiData) {
    ui.heading("Meters");
    let load = |v: &nice_plug::prelude::AtomicF32| v.load(Ordering::Relaxed);
    meter(ui, "Peak", load(&gui.peak_dbfs), (-60.0, 0.0), "dBFS");
    meter(ui, "TP", load(&gui.true_peak_dbtp), (-60.0, 0.0), "dBTP");
    meter(ui, "M", load(&gui.momentary_lufs), (-60.0, 0.0), "LUFS");
    meter(ui, "S", load(&gui.short_term_lufs), (-60.0, 0.0), "LUFS");
    meter(ui, "I", load(&gui.integrated_lufs), (-60.0, 0.0), "LUFS");
    reduction(ui, "Comp", load(&gui.compressor_reduction_db));
    reduction(ui, "Lim", load(&gui.limiter_reduction_db));
}

/// What a preset is for, on hover (by name: dsp-core's list may grow).
fn preset_description(preset: MasterPreset) -> &'static str {
    match preset.name() {
        "flat" => "Neutral: EQ flat; compressor, reverb and limiter off",
        "room" => "A starting point: EQ flat, gentle compression, a small room, the limiter",
        "limiter" => "A starting point: only the true-peak limiter",
        "cello" => "Cello voicing: body, less box, presence; compressor, room, limiter",
        "violin" => "Violin voicing: warmth, less nasal, brilliance; compressor, room, limiter",
        "flute" => "Flute voicing: clean lows, breath and air; compressor, room, limiter",
        "brass" => "Brass voicing: round body, bite, tamed harshness; compressor, room, limiter",
        _ => "",
    }
}

/// The mastering presets, sent through the host as parameter changes; the active one (all its
/// values match the parameters) is marked.
pub fn presets(ui: &mut egui::Ui, master: &MasterParams, setter: &ParamSetter) {
    ui.heading("Mastering preset");
    ui.horizontal_wrapped(|ui| {
        for preset in MasterPreset::ALL {
            let active = master.preset_is_active(preset);
            let button = ui.selectable_label(active, preset.name()).on_hover_text(preset_description(preset));
            if button.clicked() {
                for value in master.preset_values(preset) {
                    // SAFETY: every pointer comes from `master`, a field of this plugin's own
                    // parameters, which outlive the editor.
                    unsafe {
                        setter.raw_context.raw_begin_set_parameter(value.param);
                        setter.raw_context.raw_set_parameter_normalized(value.param, value.normalized);
                        setter.raw_context.raw_end_set_parameter(value.param);
                    }
                }
            }
        }
    });
}
