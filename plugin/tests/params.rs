//! The order hosts list the parameters in (nice-plug's `param_map` order, nested structs where
//! they stand: the CLAP and VST3 wrappers index parameters by it): what one plays with first, the
//! mastering chain last, the same order as the editor (the morph between the synth levels and the
//! output). And the IDs, which never change.

use ddsp_plugin::effect_params::EffectParams;
use ddsp_plugin::params::InstrumentParams;
use nice_plug::prelude::Params;

fn ids(params: &dyn Params) -> Vec<String> {
    params.param_map().into_iter().map(|(id, ..)| id).collect()
}

/// The mastering chain's IDs, in the order both plugins list them (last).
const MASTER: &[&str] = &[
    "eq_on", "eq_hpon", "eq_hp", "eq_lsf", "eq_lsg", "eq_p1f", "eq_p1g", "eq_p1q", "eq_p2f", "eq_p2g", "eq_p2q",
    "eq_p3f", "eq_p3g", "eq_p3q", "eq_hsf", "eq_hsg", "cmp_on", "cmp_thr", "cmp_rat", "cmp_knee", "cmp_atk", "cmp_rel",
    "cmp_mk", "cmp_det", "rv_on", "rv_size", "rv_damp", "rv_pre", "rv_width", "rv_wet", "lim_on", "lim_ceil",
    "lim_look", "lim_rel", "m_q",
];

#[test]
fn the_instrument_lists_voices_and_envelope_first_and_the_mastering_chain_last() {
    let instrument: Vec<&str> = [
        "mode",
        "voices",
        "legato",
        "glide",
        "glidemode",
        "atk",
        "dec",
        "sus",
        "rel",
        "velcrv",
        "vibrate",
        "vibdep",
        "bendrng",
        "mpe",
        "mpebend",
        "cc1",
        "cc11",
        "press",
        "harm",
        "noise",
        "morphx",
        "morphy",
        "morphsrc",
        "gain",
    ]
    .into_iter()
    .chain(MASTER.iter().copied())
    .collect();
    assert_eq!(ids(&InstrumentParams::default()), instrument);
}

#[test]
fn the_effect_lists_dry_wet_pitch_and_gate_first_and_the_mastering_chain_last() {
    let effect: Vec<&str> = [
        "mix", "inpitch", "shift", "gate", "ingain", "unvoiced", "pitchlat",
        // Pitch correction, then the sound, then MIDI out.
        "pmode", "key", "scale", "cscale", "strength", "retune", "smooth", "heard", "harm", "noise", "morphx", "morphy",
        "gain", "midiout", "midich", "bendrng",
    ]
    .into_iter()
    .chain(MASTER.iter().copied())
    .collect();
    assert_eq!(ids(&EffectParams::default()), effect);
}
