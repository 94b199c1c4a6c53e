//! The mastering chain's parameters, shared by both plugins: EQ, Dynamics, Reverb, Limiter groups.
//!
//! Defaults are neutral (EQ flat, compressor, reverb and limiter off): inserting the plugin adds no
//! processing and no latency until a stage or an instrument preset is switched on. IDs are stable.

use ddsp_core::master::{
    CompressorSettings, Detection, EqSettings, LimiterSettings, MasterPreset, MasterSettings, PeakBand, Quality,
    ReverbSettings,
};
use nice_plug::prelude::*;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum QualityParam {
    #[id = "draft"]
    Draft,
    #[id = "std"]
    Standard,
    #[id = "pro"]
    Professional,
    #[id = "master"]
    Mastering,
}

impl From<QualityParam> for Quality {
    fn from(q: QualityParam) -> Self {
        match q {
            QualityParam::Draft => Quality::Draft,
            QualityParam::Standard => Quality::Standard,
            QualityParam::Professional => Quality::Professional,
            QualityParam::Mastering => Quality::Mastering,
        }
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionParam {
    #[id = "peak"]
    Peak,
    #[id = "rms"]
    Rms,
}

fn hz_param(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Skewed { min, max, factor: FloatRange::skew_factor(-2.0) })
        .with_value_to_string(formatters::v2s_f32_hz_then_khz(0))
        .with_string_to_value(formatters::s2v_f32_hz_then_khz())
}

/// A level in dB stored as dB (EQ gains, thresholds: signed, linear in dB).
fn plain_db(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min, max })
        .with_unit(" dB")
        .with_value_to_string(formatters::v2s_f32_rounded(1))
}

fn ms(name: &str, default: f32, min: f32, max: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Skewed { min, max, factor: FloatRange::skew_factor(-1.5) })
        .with_unit(" ms")
        .with_value_to_string(formatters::v2s_f32_rounded(1))
}

fn unit(name: &str, default: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min: 0.0, max: 1.0 })
        .with_unit(" %")
        .with_value_to_string(formatters::v2s_f32_percentage(0))
        .with_string_to_value(formatters::s2v_f32_percentage())
}

fn q_param(name: &str, default: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Skewed { min: 0.1, max: 10.0, factor: FloatRange::skew_factor(-1.5) })
        .with_value_to_string(formatters::v2s_f32_rounded(2))
}

#[derive(Params)]
pub struct EqParams {
    #[id = "eq_on"]
    pub on: BoolParam,
    #[id = "eq_hpon"]
    pub high_pass_on: BoolParam,
    #[id = "eq_hp"]
    pub high_pass_hz: FloatParam,
    #[id = "eq_lsf"]
    pub low_shelf_hz: FloatParam,
    #[id = "eq_lsg"]
    pub low_shelf_db: FloatParam,
    #[id = "eq_p1f"]
    pub peak1_hz: FloatParam,
    #[id = "eq_p1g"]
    pub peak1_db: FloatParam,
    #[id = "eq_p1q"]
    pub peak1_q: FloatParam,
    #[id = "eq_p2f"]
    pub peak2_hz: FloatParam,
    #[id = "eq_p2g"]
    pub peak2_db: FloatParam,
    #[id = "eq_p2q"]
    pub peak2_q: FloatParam,
    #[id = "eq_p3f"]
    pub peak3_hz: FloatParam,
    #[id = "eq_p3g"]
    pub peak3_db: FloatParam,
    #[id = "eq_p3q"]
    pub peak3_q: FloatParam,
    #[id = "eq_hsf"]
    pub high_shelf_hz: FloatParam,
    #[id = "eq_hsg"]
    pub high_shelf_db: FloatParam,
}

#[derive(Params)]
pub struct DynamicsParams {
    #[id = "cmp_on"]
    pub on: BoolParam,
    #[id = "cmp_thr"]
    pub threshold_db: FloatParam,
    #[id = "cmp_rat"]
    pub ratio: FloatParam,
    #[id = "cmp_knee"]
    pub knee_db: FloatParam,
    #[id = "cmp_atk"]
    pub attack_ms: FloatParam,
    #[id = "cmp_rel"]
    pub release_ms: FloatParam,
    #[id = "cmp_mk"]
    pub makeup_db: FloatParam,
    #[id = "cmp_det"]
    pub detection: EnumParam<DetectionParam>,
}

#[derive(Params)]
pub struct ReverbParams {
    #[id = "rv_on"]
    pub on: BoolParam,
    #[id = "rv_size"]
    pub size: FloatParam,
    #[id = "rv_damp"]
    pub damping: FloatParam,
    #[id = "rv_pre"]
    pub predelay_ms: FloatParam,
    #[id = "rv_width"]
    pub width: FloatParam,
    #[id = "rv_wet"]
    pub wet_db: FloatParam,
}

#[derive(Params)]
pub struct LimiterParams {
    #[id = "lim_on"]
    pub on: BoolParam,
    #[id = "lim_ceil"]
    pub ceiling_dbtp: FloatParam,
    #[id = "lim_look"]
    pub lookahead_ms: FloatParam,
    #[id = "lim_rel"]
    pub release_ms: FloatParam,
}

/// In signal order; the quality (oversampling and lookahead detail) last, after the limiter it
/// mostly concerns. Hosts list the parameters in this order.
#[derive(Params)]
pub struct MasterParams {
    #[nested(group = "EQ")]
    pub eq: EqParams,
    #[nested(group = "Dynamics")]
    pub dynamics: DynamicsParams,
    #[nested(group = "Reverb")]
    pub reverb: ReverbParams,
    #[nested(group = "Limiter")]
    pub limiter: LimiterParams,
    #[id = "m_q"]
    pub quality: EnumParam<QualityParam>,
}

impl Default for MasterParams {
    fn default() -> Self {
        let (flat, comp, rv, lim) =
            (EqSettings::FLAT, CompressorSettings::default(), ReverbSettings::default(), LimiterSettings::default());
        let peak = |i: usize| flat.peaks[i];
        Self {
            quality: EnumParam::new("Quality", QualityParam::Standard),
            eq: EqParams {
                on: BoolParam::new("EQ", true),
                high_pass_on: BoolParam::new("High-Pass", false),
                high_pass_hz: hz_param("High-Pass Freq", 40.0, 10.0, 1_000.0),
                low_shelf_hz: hz_param("Low Shelf Freq", flat.low_shelf_hz, 20.0, 2_000.0),
                low_shelf_db: plain_db("Low Shelf Gain", 0.0, -18.0, 18.0),
                peak1_hz: hz_param("Peak 1 Freq", peak(0).freq_hz, 20.0, 20_000.0),
                peak1_db: plain_db("Peak 1 Gain", 0.0, -18.0, 18.0),
                peak1_q: q_param("Peak 1 Q", peak(0).q),
                peak2_hz: hz_param("Peak 2 Freq", peak(1).freq_hz, 20.0, 20_000.0),
                peak2_db: plain_db("Peak 2 Gain", 0.0, -18.0, 18.0),
                peak2_q: q_param("Peak 2 Q", peak(1).q),
                peak3_hz: hz_param("Peak 3 Freq", peak(2).freq_hz, 20.0, 20_000.0),
                peak3_db: plain_db("Peak 3 Gain", 0.0, -18.0, 18.0),
                peak3_q: q_param("Peak 3 Q", peak(2).q),
                high_shelf_hz: hz_param("High Shelf Freq", flat.high_shelf_hz, 1_000.0, 20_000.0),
                high_shelf_db: plain_db("High Shelf Gain", 0.0, -18.0, 18.0),
            },
            dynamics: DynamicsParams {
                on: BoolParam::new("Compressor", false),
                threshold_db: plain_db("Threshold", comp.threshold_db, -60.0, 0.0),
                ratio: FloatParam::new(
                    "Ratio",
                    comp.ratio,
                    FloatRange::Skewed { min: 1.0, max: 20.0, factor: FloatRange::skew_factor(-1.5) },
                )
                .with_unit(":1")
                .with_value_to_string(formatters::v2s_f32_rounded(1)),
                knee_db: plain_db("Knee", comp.knee_db, 0.0, 24.0),
                attack_ms: ms("Comp Attack", comp.attack_ms, 0.1, 200.0),
                release_ms: ms("Comp Release", comp.release_ms, 5.0, 2_000.0),
                makeup_db: plain_db("Make-Up", comp.makeup_db, -12.0, 24.0),
                detection: EnumParam::new("Detection", DetectionParam::Rms),
            },
            reverb: ReverbParams {
                on: BoolParam::new("Reverb", false),
                size: unit("Size", rv.size),
                damping: unit("Damping", rv.damping),
                predelay_ms: ms("Pre-Delay", rv.predelay_ms, 0.0, 250.0),
                width: unit("Width", rv.width),
                wet_db: plain_db("Wet", rv.wet_db, -60.0, 0.0),
            },
            limiter: LimiterParams {
                on: BoolParam::new("Limiter", false),
                ceiling_dbtp: plain_db("Ceiling", lim.ceiling_dbtp, -24.0, 0.0).with_unit(" dBTP"),
                lookahead_ms: ms("Look-Ahead", lim.lookahead_ms, 0.5, 10.0),
                release_ms: ms("Limiter Release", lim.release_ms, 1.0, 2_000.0),
            },
        }
    }
}

impl MasterParams {
    /// The current values as dsp-core settings. Reads atomics only: safe on the audio thread.
    pub fn settings(&self) -> MasterSettings {
        let (e, d, r, l) = (&self.eq, &self.dynamics, &self.reverb, &self.limiter);
        let band = |f: &FloatParam, g: &FloatParam, q: &FloatParam| PeakBand {
            freq_hz: f.value(),
            gain_db: g.value(),
            q: q.value(),
        };
        MasterSettings {
            enabled: true,
            eq: EqSettings {
                enabled: e.on.value(),
                high_pass_hz: if e.high_pass_on.value() { e.high_pass_hz.value() } else { 0.0 },
                low_shelf_hz: e.low_shelf_hz.value(),
                low_shelf_db: e.low_shelf_db.value(),
                peaks: [
                    band(&e.peak1_hz, &e.peak1_db, &e.peak1_q),
                    band(&e.peak2_hz, &e.peak2_db, &e.peak2_q),
                    band(&e.peak3_hz, &e.peak3_db, &e.peak3_q),
                ],
                high_shelf_hz: e.high_shelf_hz.value(),
                high_shelf_db: e.high_shelf_db.value(),
            },
            compressor: CompressorSettings {
                enabled: d.on.value(),
                threshold_db: d.threshold_db.value(),
                ratio: d.ratio.value(),
                knee_db: d.knee_db.value(),
                attack_ms: d.attack_ms.value(),
                release_ms: d.release_ms.value(),
                makeup_db: d.makeup_db.value(),
                detection: match d.detection.value() {
                    DetectionParam::Peak => Detection::Peak,
                    DetectionParam::Rms => Detection::Rms,
                },
            },
            reverb: ReverbSettings {
                enabled: r.on.value(),
                size: r.size.value(),
                damping: r.damping.value(),
                predelay_ms: r.predelay_ms.value(),
                width: r.width.value(),
                wet_db: r.wet_db.value(),
            },
            limiter: LimiterSettings {
                enabled: l.on.value(),
                ceiling_dbtp: l.ceiling_dbtp.value(),
                lookahead_ms: l.lookahead_ms.value(),
                release_ms: l.release_ms.value(),
            },
            quality: self.quality.value().into(),
        }
    }

    /// Every parameter a preset sets, with the preset's value (normalised), for the editor to send
    /// through the host as one gesture per parameter. The quality stays as it is.
    pub fn preset_values(&self, preset: MasterPreset) -> Vec<PresetValue> {
        let s = preset.settings(self.quality.value().into());
        let (e, d, r, l) = (&self.eq, &self.dynamics, &self.reverb, &self.limiter);
        let f = |p: &FloatParam, v: f32, decides: bool| PresetValue {
            param: p.as_ptr(),
            normalized: p.preview_normalized(v),
            decides,
        };
        let b = |p: &BoolParam, v: bool| PresetValue {
            param: p.as_ptr(),
            normalized: if v { 1.0 } else { 0.0 },
            decides: true,
        };
        let peak = |i: usize| s.eq.peaks[i];
        // A value inside a stage the preset switches off does not decide whether it is active.
        let (eq, hp, comp, rv, lim) = (
            s.eq.enabled,
            s.eq.enabled && s.eq.high_pass_hz > 0.0,
            s.compressor.enabled,
            s.reverb.enabled,
            s.limiter.enabled,
        );
        vec![
            b(&e.on, s.eq.enabled),
            b(&e.high_pass_on, s.eq.high_pass_hz > 0.0),
            f(&e.high_pass_hz, s.eq.high_pass_hz.max(10.0), hp),
            f(&e.low_shelf_hz, s.eq.low_shelf_hz, eq),
            f(&e.low_shelf_db, s.eq.low_shelf_db, eq),
            f(&e.peak1_hz, peak(0).freq_hz, eq),
            f(&e.peak1_db, peak(0).gain_db, eq),
            f(&e.peak1_q, peak(0).q, eq),
            f(&e.peak2_hz, peak(1).freq_hz, eq),
            f(&e.peak2_db, peak(1).gain_db, eq),
            f(&e.peak2_q, peak(1).q, eq),
            f(&e.peak3_hz, peak(2).freq_hz, eq),
            f(&e.peak3_db, peak(2).gain_db, eq),
            f(&e.peak3_q, peak(2).q, eq),
            f(&e.high_shelf_hz, s.eq.high_shelf_hz, eq),
            f(&e.high_shelf_db, s.eq.high_shelf_db, eq),
            b(&d.on, s.compressor.enabled),
            f(&d.threshold_db, s.compressor.threshold_db, comp),
            f(&d.ratio, s.compressor.ratio, comp),
            f(&d.knee_db, s.compressor.knee_db, comp),
            f(&d.attack_ms, s.compressor.attack_ms, comp),
            f(&d.release_ms, s.compressor.release_ms, comp),
            f(&d.makeup_db, s.compressor.makeup_db, comp),
            b(&r.on, s.reverb.enabled),
            f(&r.size, s.reverb.size, rv),
            f(&r.damping, s.reverb.damping, rv),
            f(&r.predelay_ms, s.reverb.predelay_ms, rv),
            f(&r.width, s.reverb.width, rv),
            f(&r.wet_db, s.reverb.wet_db, rv),
            b(&l.on, s.limiter.enabled),
            f(&l.ceiling_dbtp, s.limiter.ceiling_dbtp, lim),
        ]
    }

    /// The preset is active: every value that decides it matches the current parameters (within
    /// what a value's trip through the host's normalised form may change). Main thread.
    pub fn preset_is_active(&self, preset: MasterPreset) -> bool {
        self.preset_values(preset).iter().filter(|v| v.decides).all(|v| {
            // SAFETY: every pointer comes from `self`, which outlives this call.
            let current = unsafe { v.param.unmodulated_normalized_value() };
            (current - v.normalized).abs() < PRESET_TOLERANCE
        })
    }
}

/// How far (normalised) a value may be from a preset's and still match it: a plain value's trip
/// through the host's normalised float moves it by far less.
const PRESET_TOLERANCE: f32 = 1e-3;

/// One value a mastering preset sets.
pub struct PresetValue {
    pub param: ParamPtr,
    /// The preset's value, normalised.
    pub normalized: f32,
    /// Whether it decides that the preset is active: a value inside a stage the preset switches
    /// off does not (any reverb size is "flat" while the reverb is off).
    pub decides: bool,
}
