//! Parameter groups (Input, Synth, Envelope, EQ, Dynamics, Reverb, Limiter, Output), meters and the
//! mastering presets. Every slider is nice-plug-egui's `ParamSlider`: units, drag, double-click or
//! Ctrl+click to reset, click the value to type one.

use std::sync::atomic::Ordering;

use ddsp_core::master::MasterPreset;
use nice_plug::context::gui::ParamSetter;
use nice_plug::prelude::Param;
use nice_plug_egui::widgets::ParamSlider;

use super::PluginParams;
use crate::gui_data::GuiData;
use crate::master_params::MasterParams;

fn slider(ui: &mut egui::Ui, param: &impl Param, setter: &ParamSetter) {
    ui.label(param.name());
    ui.add(ParamSlider::for_param(param, setter).with_width(80.0));
    ui.end_row();
}

fn group(ui: &mut egui::Ui, title: &str, add: impl FnOnce(&mut egui::Ui)) {
    egui::CollapsingHeader::new(title).default_open(true).show(ui, |ui| {
        egui::Grid::new(title).num_columns(2).spacing([12.0, 4.0]).show(ui, add);
    });
}

/// Width one column of groups needs: the longest name, the slider and the widest value text
/// ("Compressor Attack", 80 px, "-18.0 dBTP"). Narrower than two of these, the groups stack.
const GROUP_COLUMN_MIN_WIDTH: f32 = 310.0;

pub fn groups(ui: &mut egui::Ui, params: &PluginParams, setter: &ParamSetter, gui: &GuiData) {
    if ui.available_width() >= 2.0 * GROUP_COLUMN_MIN_WIDTH {
        ui.columns(2, |columns| {
            let (left, right) = columns.split_at_mut(1);
            left_groups(&mut left[0], params, setter, gui);
            right_groups(&mut right[0], params, setter);
        });
    } else {
        left_groups(ui, params, setter, gui);
        right_groups(ui, params, setter);
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

/// What the voice does with its input (Voices, Input, Synth, Envelope), then the EQ.
fn left_groups(ui: &mut egui::Ui, params: &PluginParams, setter: &ParamSetter, gui: &GuiData) {
    match params {
        PluginParams::Instrument(p) => {
            group(ui, "Voices", |ui| {
                slider(ui, &p.mode, setter);
                slider(ui, &p.voices, setter);
                slider(ui, &p.legato, setter);
                slider(ui, &p.glide_ms, setter);
                slider(ui, &p.glide_mode, setter);
                slider(ui, &p.mpe, setter);
                slider(ui, &p.mpe_bend_range, setter);
                let voices = match p.mode.value() {
                    crate::params::PlayMode::Poly => p.voices.value() as usize,
                    crate::params::PlayMode::Mono => 1,
                };
                voice_activity(ui, gui.voice_activity.load(Ordering::Relaxed), voices);
            });
            group(ui, "Input", |ui| {
                for param in [&p.velocity_curve, &p.vibrato_rate_hz, &p.vibrato_depth_cents] {
                    slider(ui, param, setter);
                }
                slider(ui, &p.bend_range, setter);
                slider(ui, &p.mod_wheel, setter);
                slider(ui, &p.expression, setter);
                slider(ui, &p.pressure, setter);
            });
            group(ui, "Synth", |ui| {
                slider(ui, &p.harmonic_level, setter);
                slider(ui, &p.noise_level, setter);
            });
            group(ui, "Envelope", |ui| {
                for param in [&p.attack_ms, &p.decay_ms, &p.sustain, &p.release_ms] {
                    slider(ui, param, setter);
                }
            });
        }
        PluginParams::Effect(p) => {
            group(ui, "Input", |ui| {
                for param in [&p.input_pitch, &p.input_gain, &p.gate_threshold] {
                    slider(ui, param, setter);
                }
                slider(ui, &p.unvoiced, setter);
            });
            group(ui, "Synth", |ui| {
                for param in [&p.pitch_shift, &p.harmonic_level, &p.noise_level] {
                    slider(ui, param, setter);
                }
            });
        }
    }
    eq_group(ui, params.master(), setter);
}

/// The rest of the mastering chain in signal order, then the output.
fn right_groups(ui: &mut egui::Ui, params: &PluginParams, setter: &ParamSetter) {
    dynamics_reverb_limiter_groups(ui, params.master(), setter);
    group(ui, "Output", |ui| match params {
        PluginParams::Instrument(p) => slider(ui, &p.output_gain, setter),
        PluginParams::Effect(p) => {
            slider(ui, &p.dry_wet, setter);
            slider(ui, &p.output_gain, setter);
        }
    });
}

fn eq_group(ui: &mut egui::Ui, m: &MasterParams, setter: &ParamSetter) {
    let e = &m.eq;
    group(ui, "EQ", |ui| {
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
}

fn dynamics_reverb_limiter_groups(ui: &mut egui::Ui, m: &MasterParams, setter: &ParamSetter) {
    let d = &m.dynamics;
    group(ui, "Dynamics", |ui| {
        slider(ui, &d.on, setter);
        for param in [&d.threshold_db, &d.ratio, &d.knee_db, &d.attack_ms, &d.release_ms, &d.makeup_db] {
            slider(ui, param, setter);
        }
        slider(ui, &d.detection, setter);
    });
    let r = &m.reverb;
    group(ui, "Reverb", |ui| {
        slider(ui, &r.on, setter);
        for param in [&r.size, &r.damping, &r.predelay_ms, &r.width, &r.wet_db] {
            slider(ui, param, setter);
        }
    });
    let l = &m.limiter;
    group(ui, "Limiter", |ui| {
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

fn bar(ui: &mut egui::Ui, label: &str, fraction: f32, text: String) {
    ui.horizontal(|ui| {
        ui.add_sized([34.0, 18.0], egui::Label::new(label));
        ui.add(egui::ProgressBar::new(fraction).desired_width(140.0).text(text));
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

/// Instrument presets for the whole chain, sent through the host as parameter changes.
pub fn presets(ui: &mut egui::Ui, master: &MasterParams, setter: &ParamSetter) {
    ui.heading("Mastering preset");
    ui.horizontal_wrapped(|ui| {
        for preset in MasterPreset::ALL {
            if ui.button(preset.name()).clicked() {
                for (param, value) in master.preset_values(preset) {
                    // SAFETY: every pointer comes from `master`, a field of this plugin's own
                    // parameters, which outlive the editor.
                    unsafe {
                        setter.raw_context.raw_begin_set_parameter(param);
                        setter.raw_context.raw_set_parameter_normalized(param, value);
                        setter.raw_context.raw_end_set_parameter(param);
                    }
                }
            }
        }
    });
}
