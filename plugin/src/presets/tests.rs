//! presets.rs: round trip, every bad input, the factory presets; and the generator of the factory
//! preset files (`cargo test -p ddsp_plugin --lib write_factory_presets -- --ignored`).

use std::sync::RwLock;

use ddsp_core::master::MasterPreset;
use ddsp_core::{BuiltInModel, ModelLibrary, ModelRef};
use nice_plug::params::persist::{deserialize_field, serialize_field};
use nice_plug::plugin::ParamValue;
use nice_plug::prelude::*;

use super::*;
use crate::effect_params::EffectParams;
use crate::params::InstrumentParams;

const PLUGIN: &str = "DDSP Instrument";
const EFFECT: &str = "DDSP Effect";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Parameter values as JSON, to compare (`ParamValue` has no `PartialEq`).
fn values(state: &PluginState) -> serde_json::Value {
    serde_json::to_value(&state.params).unwrap()
}

fn library() -> ModelLibrary {
    ModelLibrary { folders: vec![], recents_file: None }
}

fn check(text: &str) -> Result<Loaded, PresetError> {
    let (defaults, library) = (InstrumentParams::default(), library());
    parse(text, &Target { plugin: PLUGIN, version: VERSION, defaults: &defaults, library: &library })
}

/// A folder of its own under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ddsp-presets-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One factory preset's recipe: the plugin, the model, its values, the mastering preset.
struct Recipe {
    plugin: &'static str,
    file: &'static str,
    name: &'static str,
    model: &'static str,
    values: Vec<(&'static str, ParamValue)>,
    master: MasterPreset,
}

fn recipes() -> Vec<Recipe> {
    use ParamValue::{Bool, String as Id, F32, I32};
    let mono = || Id("mono".into());
    vec![
        Recipe {
            plugin: PLUGIN,
            file: "flute-solo.json",
            name: "Flute — solo",
            model: "Flute",
            values: vec![
                ("mode", mono()),
                ("legato", Bool(true)),
                ("glide", F32(60.0)),
                ("atk", F32(30.0)),
                ("rel", F32(150.0)),
                ("vibdep", F32(15.0)),
            ],
            master: MasterPreset::Flute,
        },
        Recipe {
            plugin: PLUGIN,
            file: "violin-ensemble.json",
            name: "Violin — ensemble",
            model: "Violin",
            values: vec![("voices", I32(12)), ("atk", F32(80.0)), ("rel", F32(350.0)), ("vibdep", F32(20.0))],
            master: MasterPreset::Violin,
        },
        Recipe {
            plugin: PLUGIN,
            file: "cello.json",
            name: "Cello",
            model: "Cello",
            values: vec![("voices", I32(4)), ("atk", F32(60.0)), ("rel", F32(400.0)), ("vibrate", F32(5.0))],
            master: MasterPreset::Cello,
        },
        Recipe {
            plugin: PLUGIN,
            file: "trumpet.json",
            name: "Trumpet",
            model: "Trumpet",
            values: vec![
                ("mode", mono()),
                ("legato", Bool(true)),
                ("glide", F32(25.0)),
                ("atk", F32(15.0)),
                ("rel", F32(120.0)),
            ],
            master: MasterPreset::Brass,
        },
        Recipe {
            plugin: PLUGIN,
            file: "sax.json",
            name: "Alto sax",
            model: "Sax",
            values: vec![
                ("mode", mono()),
                ("legato", Bool(true)),
                ("glide", F32(35.0)),
                ("atk", F32(20.0)),
                ("rel", F32(140.0)),
                ("vibdep", F32(20.0)),
            ],
            master: MasterPreset::Brass,
        },
        Recipe {
            plugin: PLUGIN,
            file: "clarinet.json",
            name: "Clarinet",
            model: "Clarinet",
            // A clarinet plays straight: no vibrato from the mod wheel's default depth.
            values: vec![
                ("mode", mono()),
                ("legato", Bool(true)),
                ("glide", F32(40.0)),
                ("atk", F32(25.0)),
                ("rel", F32(120.0)),
                ("vibdep", F32(0.0)),
            ],
            master: MasterPreset::Flute,
        },
        Recipe {
            plugin: PLUGIN,
            file: "horn.json",
            name: "French horn",
            model: "Horn",
            values: vec![("voices", I32(4)), ("atk", F32(40.0)), ("rel", F32(250.0)), ("vibdep", F32(0.0))],
            master: MasterPreset::Brass,
        },
        Recipe {
            plugin: PLUGIN,
            file: "choir.json",
            name: "Choir — aah",
            model: "Choir",
            values: vec![("voices", I32(12)), ("atk", F32(120.0)), ("rel", F32(500.0)), ("vibdep", F32(15.0))],
            master: MasterPreset::Room,
        },
        // The effect: a voice (or any monophonic instrument) into each model, in the model's range.
        Recipe {
            plugin: EFFECT,
            file: "effect-flute.json",
            name: "Flute — voice an octave up",
            model: "Flute",
            values: vec![("inpitch", F32(12.0)), ("shift", F32(12.0))],
            master: MasterPreset::Flute,
        },
        Recipe {
            plugin: EFFECT,
            file: "effect-violin.json",
            name: "Violin — voice an octave up",
            model: "Violin",
            values: vec![("inpitch", F32(12.0)), ("shift", F32(12.0))],
            master: MasterPreset::Violin,
        },
        Recipe {
            plugin: EFFECT,
            file: "effect-cello.json",
            name: "Cello — voice as sung",
            model: "Cello",
            // The noise level is a gain (1 = 0 dB): −3 dB of bow noise under a sung line.
            values: vec![("noise", F32(0.708))],
            master: MasterPreset::Cello,
        },
        Recipe {
            plugin: EFFECT,
            file: "effect-trumpet.json",
            name: "Trumpet — voice as sung",
            model: "Trumpet",
            values: vec![("unvoiced", Id("hold".into()))],
            master: MasterPreset::Brass,
        },
        Recipe {
            plugin: EFFECT,
            file: "effect-sax.json",
            name: "Alto sax — voice as sung",
            model: "Sax",
            values: vec![("unvoiced", Id("hold".into()))],
            master: MasterPreset::Brass,
        },
        Recipe {
            plugin: EFFECT,
            file: "effect-clarinet.json",
            name: "Clarinet — voice as sung",
            model: "Clarinet",
            values: vec![],
            master: MasterPreset::Flute,
        },
        Recipe {
            plugin: EFFECT,
            file: "effect-horn.json",
            name: "French horn — voice as sung",
            model: "Horn",
            values: vec![("unvoiced", Id("hold".into()))],
            master: MasterPreset::Brass,
        },
        Recipe {
            plugin: EFFECT,
            file: "effect-choir.json",
            name: "Choir — voice as sung",
            model: "Choir",
            values: vec![],
            master: MasterPreset::Room,
        },
    ]
}

/// A recipe's state: the default instance's state with the recipe's model, values and mastering
/// preset (its values as the editor's preset buttons set them).
fn recipe_state(recipe: &Recipe) -> PluginState {
    match recipe.plugin {
        PLUGIN => {
            let params = InstrumentParams::default();
            state_with(&params, &params.model, &params.master, recipe)
        }
        _ => {
            let params = EffectParams::default();
            state_with(&params, &params.model, &params.master, recipe)
        }
    }
}

fn state_with(
    params: &impl Params,
    model: &RwLock<ModelRef>,
    master: &crate::master_params::MasterParams,
    recipe: &Recipe,
) -> PluginState {
    *model.write().unwrap() = ModelRef::to_built_in(recipe.model);
    let mut state = state_of(params, VERSION);
    let map = params.param_map();
    for value in master.preset_values(recipe.master) {
        let (id, ..) = map.iter().find(|(_, ptr, _)| *ptr == value.param).expect("a master parameter");
        // SAFETY: `value.param` points into `params`.
        let plain = unsafe { value.param.preview_plain(value.normalized) };
        let v = match value.param {
            ParamPtr::BoolParam(_) => ParamValue::Bool(value.normalized > 0.5),
            ParamPtr::IntParam(_) => ParamValue::I32(plain as i32),
            _ => ParamValue::F32(plain),
        };
        state.params.insert(id.clone(), v);
    }
    for (id, v) in &recipe.values {
        assert!(state.params.contains_key(*id), "no parameter {id}");
        state.params.insert((*id).to_owned(), v.clone());
    }
    state
}

#[test]
#[ignore = "writes plugin/presets/*.json"]
fn write_factory_presets() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    for recipe in recipes() {
        std::fs::write(dir.join(recipe.file), to_json(recipe.plugin, recipe.name, &recipe_state(&recipe))).unwrap();
    }
}

#[test]
fn factory_presets_parse_validate_and_name_a_built_in_model_one_per_model() {
    let (instrument, effect) = (InstrumentParams::default(), EffectParams::default());
    for (plugin, defaults) in [(PLUGIN, &instrument as &dyn Params), (EFFECT, &effect as &dyn Params)] {
        let listed = list(plugin, None);
        let recipes: Vec<Recipe> = recipes().into_iter().filter(|r| r.plugin == plugin).collect();
        assert_eq!(listed.len(), recipes.len(), "{plugin}: every factory preset listed, only its own");
        let every_id: Vec<String> = defaults.param_map().into_iter().map(|(id, ..)| id).collect();
        let mut models = Vec::new();
        for (entry, recipe) in listed.iter().zip(&recipes) {
            let target = Target { plugin, version: VERSION, defaults, library: &library() };
            let loaded = load(entry, &target).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
            assert_eq!(loaded.note, None, "{}", entry.name);
            assert_eq!(loaded.name, recipe.name);
            let named: Option<String> = deserialize_field(&loaded.state.fields[PRESET_FIELD]).unwrap();
            assert_eq!(named.as_deref(), Some(recipe.name));
            // Every parameter set (a preset leaves nothing from the previous sound), as the recipe says.
            assert!(
                every_id.iter().all(|id| loaded.state.params.contains_key(id)),
                "{}: a parameter is missing",
                entry.name
            );
            assert_eq!(
                values(&loaded.state),
                values(&recipe_state(recipe)),
                "{}: regenerate the factory presets",
                entry.name
            );
            let model: ModelRef = deserialize_field(&loaded.state.fields[MODEL_FIELD]).unwrap();
            let built_in = BuiltInModel::find(model.built_in.as_deref().unwrap()).expect("a built-in model");
            assert!(model.path.is_none());
            models.push(built_in.name);
        }
        models.sort();
        let mut shipped: Vec<&str> = ddsp_core::model::BUILT_IN_MODELS.iter().map(|m| m.name).collect();
        shipped.sort();
        assert_eq!(models, shipped, "{plugin}: one factory preset per shipped model");
    }
}

#[test]
fn a_saved_preset_loads_back_to_the_same_state_and_is_listed() {
    let dir = TempDir::new("roundtrip");
    let params = InstrumentParams::default();
    *params.model.write().unwrap() = ModelRef::to_built_in("Cello");
    let mut state = state_of(&params, VERSION);
    state.params.insert("sus".into(), ParamValue::F32(0.25));
    state.params.insert("mode".into(), ParamValue::String("mono".into()));
    // A load message in the live state is not saved.
    state.fields.insert(LOAD_ERROR_FIELD.into(), serialize_field(&Some("old news".to_owned())).unwrap());
    let path = save(&dir.0, PLUGIN, "  My cello / dark ", &state).unwrap();
    assert_eq!(path.file_name().unwrap(), "My cello _ dark.json");
    // Atomic: no temporary file left beside it.
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);

    let listed = list(PLUGIN, Some(&dir.0));
    let entry = listed.last().unwrap();
    assert_eq!((entry.name.as_str(), &entry.source), ("My cello / dark", &Source::User(path.clone())));
    let loaded =
        load(entry, &Target { plugin: PLUGIN, version: VERSION, defaults: &params, library: &library() }).unwrap();
    state.fields.remove(LOAD_ERROR_FIELD);
    // The loaded state names the preset (the editor shows it; a session keeps it).
    state.fields.insert(PRESET_FIELD.into(), serialize_field(&Some("My cello / dark".to_owned())).unwrap());
    assert_eq!((loaded.state.version.as_str(), values(&loaded.state)), (VERSION, values(&state)));
    assert_eq!(loaded.state.fields, state.fields);
    assert_eq!(loaded.note, None);
    // Saving under the same name replaces it.
    state.params.insert("sus".into(), ParamValue::F32(0.75));
    save(&dir.0, PLUGIN, "My cello / dark", &state).unwrap();
    let factory = FACTORY.iter().filter(|(plugin, _)| *plugin == PLUGIN).count();
    assert_eq!(list(PLUGIN, Some(&dir.0)).len(), factory + 1);
    assert!(
        matches!(check(&std::fs::read_to_string(&path).unwrap()).unwrap().state.params["sus"], ParamValue::F32(v) if v == 0.75)
    );

    assert!(matches!(save(&dir.0, PLUGIN, "   ", &state), Err(PresetError::BadName(_))));
}

#[test]
fn bad_preset_files_are_refused_with_a_message_naming_what_is_wrong() {
    let good = FACTORY[1].1;
    assert!(check(good).is_ok());
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(good).unwrap();
        f(&mut v);
        v.to_string()
    };
    let model = |m: ModelRef| serde_json::Value::String(serialize_field(&m).unwrap());
    let cases: Vec<(&str, String, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_owned(), "truncated"),
        ("empty", String::new(), "truncated"),
        ("not JSON", "<preset/>".into(), "not JSON"),
        ("other JSON", "{\"hello\": 1}".into(), "not a DDSP Instrument preset"),
        ("newer format", edit(&|v| v["version"] = 2.into()), "version 2 preset, newer"),
        ("newer plugin", edit(&|v| v["state"]["version"] = "99.0.0".into()), "newer than this"),
        ("effect preset", edit(&|v| v["plugin"] = "DDSP Effect".into()), "preset for DDSP Effect"),
        ("state damaged", edit(&|v| v["state"]["params"] = 3.into()), "damaged"),
        (
            "other plugin's parameter",
            edit(&|v| v["state"]["params"]["shift"] = serde_json::json!({"f32": 0.0})),
            "'shift'",
        ),
        ("unknown built-in", edit(&|v| v["state"]["fields"]["model"] = model(ModelRef::to_built_in("Oboe"))), "'Oboe'"),
        (
            "missing file",
            edit(&|v| {
                v["state"]["fields"]["model"] = model(ModelRef {
                    path: Some("/nowhere/my-oboe.onnx".into()),
                    sha256: Some("00".into()),
                    built_in: None,
                })
            }),
            "/nowhere/my-oboe.onnx",
        ),
    ];
    for (what, text, says) in cases {
        match check(&text) {
            Ok(_) => panic!("{what}: loaded"),
            Err(e) => assert!(e.to_string().contains(says), "{what}: {e}"),
        }
    }
    // A value or two out of range: clamped and said, not refused (as a session).
    let loaded = check(&edit(&|v| v["state"]["params"]["voices"] = serde_json::json!({"i32": 999}))).unwrap();
    assert!(matches!(loaded.state.params["voices"], ParamValue::I32(32)));
    assert!(loaded.note.is_some_and(|n| n.contains("voices")));
    // An unreadable user file.
    let entry = PresetEntry { name: "gone".into(), source: Source::User("/nowhere/gone.json".into()) };
    let (defaults, library) = (InstrumentParams::default(), library());
    let e =
        load(&entry, &Target { plugin: PLUGIN, version: VERSION, defaults: &defaults, library: &library }).unwrap_err();
    assert!(e.to_string().contains("/nowhere/gone.json"), "{e}");
}

#[test]
fn the_effect_takes_its_own_presets_only() {
    let effect = EffectParams::default();
    let state = state_of(&effect, VERSION);
    let text = to_json("DDSP Effect", "Wet", &state);
    let library = library();
    let target = Target { plugin: "DDSP Effect", version: VERSION, defaults: &effect, library: &library };
    assert_eq!(values(&parse(&text, &target).unwrap().state), values(&state));
    assert!(matches!(parse(FACTORY[0].1, &target), Err(PresetError::OtherPlugin { .. })));
}
