//! Saved sessions, checked before nice-plug applies them (`Plugin::filter_state`): values clamped
//! to their ranges, and a state this plugin cannot have written refused as a whole.
//!
//! nice-plug restores a parameter's plain value as saved, unclamped (only its normalised value is
//! clamped), so a damaged state could set a negative gain or voice count. Here a value outside its
//! parameter's range is clamped to it (a non-finite one is dropped: the parameter keeps its value):
//! a session from a version whose range was wider keeps the nearest setting. But a state with many
//! values out of range (more than [`MAX_OUT_OF_RANGE_FRACTION`] of them) is damaged or crafted, not
//! old: clamped, such a state is a set of extremes, and the one found by the adversarial run (every
//! value negative) became sustain 0 with output and harmonic gains at −60 dB: the note decayed to
//! digital silence (measured per parameter: sustain alone −145 dB, output gain −85 dB; the null
//! model reference is harmless, it means the default model). So such a state is refused whole, as
//! are a state from a newer version, from another plugin (a parameter ID this plugin does not
//! have: IDs never change once released) and one whose model reference (or morph places) does not
//! parse; the previous settings stay. What was done goes to the log and, through the
//! [`LOAD_ERROR_FIELD`] field, to the editor at the next activation. A state that is not JSON at
//! all never reaches here: nice-plug refuses it and the host's load fails, leaving the previous
//! settings (tested); nice-plug offers no hook before its own parse, so that case has no editor
//! message (the host reports the failed load).

use std::sync::RwLock;

use ddsp_core::ModelRef;
use nice_plug::params::persist::{deserialize_field, serialize_field};
use nice_plug::plugin::ParamValue;
use nice_plug::prelude::*;

/// The persistent field (`#[persist]`) through which a refused or clamped state's message reaches
/// the instance; `None` in every saved state.
pub const LOAD_ERROR_FIELD: &str = "load_error";

/// A state with more than this fraction of its numeric values out of range (and more than two)
/// is refused rather than clamped.
pub const MAX_OUT_OF_RANGE_FRACTION: f32 = 0.25;

/// The model reference's persistent field.
pub const MODEL_FIELD: &str = "model";

/// `a.b.c` as numbers (missing or non-numeric parts are 0).
fn version_triple(v: &str) -> (u64, u64, u64) {
    let mut parts = v.split(['.', '-', '+']).map(|p| p.trim().parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Checks `state` against `params` (a default instance of the plugin's parameters) before it is
/// applied; see the module docs. Allocates; main thread only (nice-plug calls it on state load).
pub fn filter(state: &mut PluginState, params: &dyn Params, plugin_name: &str, version: &str) {
    // Only this check writes the message; one arriving in a file is not ours to show.
    state.fields.remove(LOAD_ERROR_FIELD);
    let message = match check(state, params, plugin_name, version) {
        Ok(None) => return,
        Ok(Some(fixed)) => {
            let message = format!("the saved session had values out of range: {fixed}");
            nice_warn!("{message}");
            message
        }
        Err(why) => {
            let message = format!("the saved session was not loaded: {why}; the previous settings are kept");
            nice_error!("{message}");
            state.params.clear();
            state.fields.clear();
            message
        }
    };
    state.fields.insert(LOAD_ERROR_FIELD.into(), serialize_field(&Some(message)).unwrap_or_default());
}

/// The checks of [`filter`], without its messages: `Err(why)` when `state` is refused (left as it
/// was), otherwise the values it clamped or dropped (`Ok(None)`: none). Presets go through this
/// too (`crate::presets`). Allocates; main thread only.
pub fn check(
    state: &mut PluginState,
    params: &dyn Params,
    plugin_name: &str,
    version: &str,
) -> Result<Option<String>, String> {
    if !state.version.is_empty() && version_triple(&state.version) > version_triple(version) {
        return Err(format!("it was saved by {plugin_name} {}, newer than this {version}", state.version));
    }
    let map = params.param_map();
    if let Some(unknown) = state.params.keys().find(|id| !map.iter().any(|(known, ..)| known == *id)) {
        return Err(format!("it holds parameter '{unknown}', which {plugin_name} does not have (another plugin's?)"));
    }
    if let Some(model) = state.fields.get(MODEL_FIELD) {
        if let Err(e) = deserialize_field::<ModelRef>(model) {
            return Err(format!("its model reference is damaged ({e})"));
        }
    }
    if let Some(places) = state.fields.get(crate::morph_places::MORPH_FIELD) {
        if let Err(e) = deserialize_field::<crate::morph_places::MorphPlaces>(places) {
            return Err(format!("its morph places are damaged ({e})"));
        }
    }
    let out_of_range = |value: &ParamValue, lo: f32, hi: f32| match *value {
        ParamValue::F32(v) => !(lo..=hi).contains(&v),
        ParamValue::I32(v) => !(lo..=hi).contains(&(v as f32)),
        _ => false,
    };
    let numeric = state.params.values().filter(|v| matches!(v, ParamValue::F32(_) | ParamValue::I32(_))).count();
    let bad = state
        .params
        .iter()
        .filter(|(id, value)| {
            map.iter().find(|(known, ..)| known == *id).is_some_and(|(_, ptr, _)| {
                // SAFETY: `ptr` points into `params`, which outlives this call.
                let (a, b) = unsafe { (ptr.preview_plain(0.0), ptr.preview_plain(1.0)) };
                out_of_range(value, a.min(b), a.max(b))
            })
        })
        .count();
    if bad > 2 && bad as f32 > MAX_OUT_OF_RANGE_FRACTION * numeric as f32 {
        return Err(format!("{bad} of its {numeric} values are outside their ranges (a damaged file?)"));
    }
    let mut fixed = Vec::new();
    state.params.retain(|id, value| {
        let Some((_, ptr, _)) = map.iter().find(|(known, ..)| known == id) else { return true };
        // SAFETY: `ptr` points into `params`, which outlives this call.
        let (a, b) = unsafe { (ptr.preview_plain(0.0), ptr.preview_plain(1.0)) };
        let (lo, hi) = (a.min(b), a.max(b));
        match value {
            ParamValue::F32(v) if !v.is_finite() => {
                fixed.push(format!("{id} = {v} (ignored)"));
                return false;
            }
            ParamValue::F32(v) if *v < lo || *v > hi => {
                fixed.push(format!("{id} = {v} (clamped to {})", v.clamp(lo, hi)));
                *v = v.clamp(lo, hi);
            }
            ParamValue::I32(v) if (*v as f32) < lo || (*v as f32) > hi => {
                let clamped = (*v as f32).clamp(lo, hi).round() as i32;
                fixed.push(format!("{id} = {v} (clamped to {clamped})"));
                *v = clamped;
            }
            _ => {}
        }
        true
    });
    Ok((!fixed.is_empty()).then(|| fixed.join(", ")))
}

/// Takes the message a state load left in `field` (main thread, at activation).
pub fn take_load_error(field: &RwLock<Option<String>>) -> Option<String> {
    field.write().ok().and_then(|mut f| f.take())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::InstrumentParams;

    /// A state of this version with every numeric parameter at its default, then `changes`.
    fn state(params: &InstrumentParams, version: &str, changes: &[(&str, ParamValue)]) -> PluginState {
        let mut values: std::collections::BTreeMap<String, ParamValue> = params
            .param_map()
            .into_iter()
            .filter_map(|(id, ptr, _)| {
                // SAFETY: `ptr` points into `params`.
                let v = unsafe { ptr.default_plain_value() };
                match ptr {
                    ParamPtr::FloatParam(_) => Some((id, ParamValue::F32(v))),
                    ParamPtr::IntParam(_) => Some((id, ParamValue::I32(v as i32))),
                    _ => None,
                }
            })
            .collect();
        values.extend(changes.iter().map(|(id, v)| ((*id).to_owned(), v.clone())));
        PluginState {
            version: version.into(),
            params: values,
            fields: [(MODEL_FIELD.to_owned(), "{\"path\":null,\"sha256\":null,\"built_in\":null}".to_owned())].into(),
        }
    }

    fn message(state: &PluginState) -> Option<String> {
        state.fields.get(LOAD_ERROR_FIELD).and_then(|f| deserialize_field::<Option<String>>(f).ok()).flatten()
    }

    #[test]
    fn values_are_clamped_and_foreign_newer_or_damaged_states_refused_with_a_message() {
        let params = InstrumentParams::default();
        let filtered = |mut s: PluginState| {
            filter(&mut s, &params, "DDSP Instrument", "1.2.3");
            s
        };
        // In range: untouched, nothing said (a message arriving in the file is dropped).
        let mut clean = state(&params, "1.2.3", &[("sus", ParamValue::F32(0.5))]);
        clean.fields.insert(LOAD_ERROR_FIELD.into(), "\"injected\"".into());
        let s = filtered(clean);
        assert!(matches!(s.params["sus"], ParamValue::F32(v) if v == 0.5) && message(&s).is_none());
        // A few out of range: clamped (NaN dropped: the parameter keeps its value), and said.
        let s = filtered(state(
            &params,
            "1.2.3",
            &[("sus", ParamValue::F32(-1.0)), ("voices", ParamValue::I32(999)), ("atk", ParamValue::F32(f32::NAN))],
        ));
        assert!(matches!(s.params["sus"], ParamValue::F32(v) if v == 0.0));
        assert!(matches!(s.params["voices"], ParamValue::I32(v) if v == ddsp_core::MAX_VOICES as i32));
        assert!(!s.params.contains_key("atk"));
        assert!(message(&s).is_some_and(|m| m.contains("sus") && m.contains("voices")), "{:?}", message(&s));
        // Refused whole: nothing left to apply but the message.
        let negative: Vec<(&str, ParamValue)> =
            s.params.keys().map(|id| (id.as_str(), ParamValue::F32(-5.0))).collect::<Vec<_>>();
        let mut damaged_model = state(&params, "1.2.3", &[]);
        damaged_model.fields.insert(MODEL_FIELD.into(), "{\"path\": 17".into());
        let refused = [
            state(&params, "1.3.0", &[]),
            state(&params, "1.2.3", &[("shift", ParamValue::F32(0.0))]),
            state(&params, "1.2.3", &negative),
            damaged_model,
        ];
        for s in refused {
            let s = filtered(s);
            assert!(s.params.is_empty() && s.fields.len() == 1, "{:?}", s.params.keys());
            assert!(message(&s).is_some_and(|m| m.contains("not loaded")), "{:?}", message(&s));
        }
    }
}
