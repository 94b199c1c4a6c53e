//! A minimal CLAP host for tests: loads a built `.clap` bundle with clack-host (dlopen, entry,
//! factory, instance, activate, start processing on an audio thread, process, stop, deactivate),
//! feeds it timed events and captures the audio, the reported latency and the saved state.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::{
    MidiEvent, NoteExpressionEvent, NoteExpressionType, NoteOffEvent, NoteOnEvent, ParamValueEvent,
};
use clack_host::events::spaces::CoreEventSpace;
use clack_host::events::{Match, Pckn};
use clack_host::prelude::*;
use clack_host::utils::ClapId;

pub mod analysis;

/// nice-plug's saved plugin state: the JSON's length (u64 LE), then the JSON.
pub mod state {
    use serde_json::Value;

    /// The JSON of a saved state.
    pub fn decode(state: &[u8]) -> Value {
        let len = u64::from_le_bytes(state[..8].try_into().unwrap()) as usize;
        serde_json::from_slice(&state[8..8 + len]).unwrap()
    }

    /// A state to load, from its JSON.
    pub fn encode(value: &Value) -> Vec<u8> {
        let json = serde_json::to_vec(value).unwrap();
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend(json);
        out
    }
}

/// The bundle `cargo xtask bundle ddsp_plugin` makes, unless `DDSP_CLAP_BUNDLE` points elsewhere.
pub fn instrument_bundle() -> PathBuf {
    std::env::var_os("DDSP_CLAP_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bundled/DDSP Instrument.clap"))
}

pub const INSTRUMENT_ID: &str = "dev.ddsp-instrument.instrument";

/// An event at an absolute sample position of the session.
#[derive(Clone, Copy, Debug)]
pub enum TimedEvent {
    NoteOn {
        at: usize,
        key: u8,
        velocity: f64,
    },
    NoteOff {
        at: usize,
        key: u8,
    },
    /// Raw MIDI 1.0 bytes (pitch bend, CC, pressure).
    Midi {
        at: usize,
        bytes: [u8; 3],
    },
    /// A CLAP note expression (tuning, in semitones) for one key.
    Tuning {
        at: usize,
        key: u8,
        semitones: f64,
    },
    /// Automation: the parameter whose display name is `name` set to `value` (CLAP's plain value).
    Param {
        at: usize,
        name: &'static str,
        value: f64,
    },
}

impl TimedEvent {
    pub fn at(&self) -> usize {
        match *self {
            TimedEvent::NoteOn { at, .. }
            | TimedEvent::NoteOff { at, .. }
            | TimedEvent::Midi { at, .. }
            | TimedEvent::Tuning { at, .. }
            | TimedEvent::Param { at, .. } => at,
        }
    }
}

/// What to play through the plugin.
#[derive(Clone, Debug)]
pub struct Session {
    pub sample_rate_hz: f64,
    pub block: usize,
    pub seconds: f64,
    pub events: Vec<TimedEvent>,
    /// Parameter values (display name, text as a user types it, e.g. "-6 dB") set before
    /// activation the way a host does: `text_to_value`, then `clap_plugin_params.flush`.
    pub params: Vec<(String, String)>,
    /// A state saved earlier, loaded before activation.
    pub state: Option<Vec<u8>>,
    /// Audio into the plugin's main input, one buffer per channel (empty: no input port used).
    pub input: Vec<Vec<f32>>,
    /// Tell the plugin it renders offline (CLAP render extension) before activating. Either way
    /// the blocks are processed back to back, as fast as the plugin allows.
    pub offline: bool,
    /// Main output channels: the plugin's audio-ports configuration with this many is selected
    /// before activating (2: stereo, 1: mono).
    pub output_channels: usize,
}

impl Session {
    pub fn new(sample_rate_hz: f64, block: usize, seconds: f64) -> Self {
        Self {
            sample_rate_hz,
            block,
            seconds,
            events: Vec::new(),
            params: Vec::new(),
            state: None,
            input: Vec::new(),
            offline: false,
            output_channels: 2,
        }
    }

    /// `key` held from the first sample at velocity 0.8, after loading `state` when given.
    pub fn held_note(sample_rate_hz: f64, block: usize, seconds: f64, key: u8, state: Option<Vec<u8>>) -> Self {
        let mut session = Self::new(sample_rate_hz, block, seconds);
        session.events.push(TimedEvent::NoteOn { at: 0, key, velocity: 0.8 });
        session.state = state;
        session
    }
}

/// Index of the first sample where two renders differ (`None`: identical), for readable asserts.
pub fn first_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> Option<(usize, usize)> {
    if a.len() != b.len() {
        return Some((a.len().min(b.len()), 0));
    }
    a.iter().zip(b).enumerate().find_map(|(c, (x, y))| {
        x.iter().zip(y).position(|(p, q)| p != q).or((x.len() != y.len()).then(|| x.len().min(y.len()))).map(|i| (c, i))
    })
}

/// What came back: one buffer per output channel, the latency the plugin reported, its state.
pub struct Rendered {
    pub channels: Vec<Vec<f32>>,
    pub latency_samples: u32,
    pub state: Vec<u8>,
    /// The note and MIDI events the plugin sent, at their session sample, in order.
    pub events_out: Vec<OutputEvent>,
}

/// An event a plugin sent to the host (channels 0-based, as CLAP numbers them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OutputEvent {
    NoteOn {
        at: usize,
        channel: i16,
        key: i16,
        velocity: f64,
    },
    NoteOff {
        at: usize,
        channel: i16,
        key: i16,
    },
    /// Raw MIDI 1.0 bytes (pitch bend, pressure, CCs).
    Midi {
        at: usize,
        bytes: [u8; 3],
    },
}

struct TestHostShared;

impl SharedHandler<'_> for TestHostShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = TestHostShared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

/// Loads `bundle`, instantiates `plugin_id` and plays `session` through it.
pub fn run_clap(bundle: &Path, plugin_id: &str, session: &Session) -> Result<Rendered, String> {
    ClapInstance::load(bundle, plugin_id)?.play(session)
}

/// Loads a bundle once per process and keeps it loaded, as DAWs do: a plugin's Rust runtime
/// registers thread-local destructors on every host thread that calls into it, and unloading the
/// library while such a thread lives makes that thread crash when it exits (seen here as a SIGSEGV
/// in `__nptl_deallocate_tsd` when parallel tests dropped the last entry of a shared bundle).
fn load_entry(bundle: &Path) -> Result<PluginEntry, String> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, PluginEntry>>> = OnceLock::new();
    let mut loaded = LOADED.get_or_init(Default::default).lock().map_err(|_| "entry cache poisoned")?;
    if let Some(entry) = loaded.get(bundle) {
        return Ok(entry.clone());
    }
    // SAFETY: loading a CLAP bundle runs its initialisation code; the bundle is the one this
    // workspace just built, which is exactly what these tests exist to exercise.
    let entry = unsafe { PluginEntry::load(bundle) }.map_err(|e| format!("load {}: {e:?}", bundle.display()))?;
    loaded.insert(bundle.to_owned(), entry.clone());
    Ok(entry)
}

/// One plugin instance, kept across sessions: each [`ClapInstance::play`] activates it at the
/// session's rate and block size, processes, and deactivates it again, as a DAW does when the
/// project's sample rate changes.
pub struct ClapInstance {
    // Field order matters: the instance must be dropped before the entry that holds the library.
    instance: PluginInstance<TestHost>,
    _entry: PluginEntry,
}

impl ClapInstance {
    pub fn load(bundle: &Path, plugin_id: &str) -> Result<Self, String> {
        if !bundle.exists() {
            return Err(format!("{} does not exist: run `cargo xtask bundle ddsp_plugin` first", bundle.display()));
        }
        let entry = load_entry(bundle)?;
        let factory = entry.get_plugin_factory().ok_or("the bundle has no plugin factory")?;
        let id = CString::new(plugin_id).map_err(|e| e.to_string())?;
        if !factory.plugin_descriptors().any(|d| d.id() == Some(id.as_c_str())) {
            return Err(format!("the bundle has no plugin '{plugin_id}'"));
        }
        let host_info =
            HostInfo::new("ddsp host-tests", "ddsp", "https://example.invalid", "0.1").map_err(|e| format!("{e:?}"))?;
        let instance = PluginInstance::<TestHost>::new(|_| TestHostShared, |_| (), &entry, &id, &host_info)
            .map_err(|e| format!("instantiate: {e:?}"))?;
        Ok(Self { instance, _entry: entry })
    }

    /// Plays `session`: loads its state and parameters, activates, processes every block on an
    /// audio thread, deactivates, and saves the state.
    pub fn play(&mut self, session: &Session) -> Result<Rendered, String> {
        let instance = &mut self.instance;
        let handle = instance.plugin_handle();
        if let Some(state) = &session.state {
            let ext: PluginState = handle.get_extension().ok_or("no state extension")?;
            ext.load(&handle, &mut state.as_slice()).map_err(|e| format!("state load: {e:?}"))?;
        }
        if !session.params.is_empty() {
            let mut changes = EventBuffer::new();
            let handle = instance.plugin_handle();
            let params: PluginParams = handle.get_extension().ok_or("no params extension")?;
            for (name, text) in &session.params {
                let id = find_param(instance, name)?;
                let handle = instance.plugin_handle();
                let c_text = CString::new(text.as_str()).map_err(|e| e.to_string())?;
                let value = params
                    .text_to_value(&handle, id, &c_text)
                    .ok_or_else(|| format!("'{name}' does not accept '{text}'"))?;
                changes.push(&ParamValueEvent::new(0, id, Pckn::match_all(), value));
            }
            let mut ignored = EventBuffer::new();
            let mut inactive = instance.inactive_plugin_handle().ok_or("the instance is already active")?;
            params.flush(
                &mut inactive,
                &InputEvents::from_buffer(&changes),
                &mut OutputEvents::from_buffer(&mut ignored),
            );
        }

        {
            let handle = instance.plugin_handle();
            if let Some(render) = handle.get_extension::<PluginRender>() {
                let mode = if session.offline { RenderMode::Offline } else { RenderMode::Realtime };
                render.set(&handle, mode).map_err(|e| format!("render mode: {e}"))?;
            } else if session.offline {
                return Err("the plugin has no render extension".into());
            }
        }
        {
            let handle = instance.plugin_handle();
            if let Some(configs) = handle.get_extension::<PluginAudioPortsConfig>() {
                let mut buffer = AudioPortsConfigBuffer::new();
                let wanted = (0..configs.count(&handle)).find_map(|i| {
                    let config = configs.get(&handle, i, &mut buffer)?;
                    let channels = config.main_output.as_ref()?.channel_count as usize;
                    (channels == session.output_channels).then_some(config.id)
                });
                let id =
                    wanted.ok_or_else(|| format!("no {}-channel output configuration", session.output_channels))?;
                configs.select(&handle, id).map_err(|e| format!("select configuration: {e}"))?;
            } else if session.output_channels != 2 {
                return Err("the plugin has no audio-ports-config extension".into());
            }
        }
        let config = PluginAudioConfiguration {
            sample_rate: session.sample_rate_hz,
            min_frames_count: 1,
            max_frames_count: session.block as u32,
        };
        let processor = instance.activate(|_, _| (), config).map_err(|e| format!("activate: {e:?}"))?;
        let latency_samples = {
            let handle = instance.plugin_handle();
            handle.get_extension::<PluginLatency>().map_or(0, |l| l.get(&handle))
        };

        let total = (session.seconds * session.sample_rate_hz) as usize;
        let block = session.block;
        let mut events = session.events.clone();
        events.sort_by_key(TimedEvent::at);
        // Automated parameters' ids, looked up before the audio thread starts.
        let mut param_ids = HashMap::new();
        for e in &events {
            if let TimedEvent::Param { name, .. } = *e {
                param_ids.insert(name, find_param(instance, name)?);
            }
        }
        let param_ids = &param_ids;
        let input = &session.input;
        let output_channels = session.output_channels;

        // The audio thread: start, process every block, stop, hand the processor back.
        let (processor, channels, events_out) = std::thread::scope(|s| {
            s.spawn(move || -> Result<_, String> {
                let mut processor = processor.start_processing().map_err(|e| format!("start: {e:?}"))?;
                let mut out = vec![vec![0.0f32; total]; output_channels];
                let mut block_out = vec![vec![0.0f32; block]; output_channels];
                let mut block_in: Vec<Vec<f32>> = input.iter().map(|_| vec![0.0f32; block]).collect();
                let mut output_ports = AudioPorts::with_capacity(2, 1);
                let mut input_ports = AudioPorts::with_capacity(input.len().max(1), 1);
                let mut event_buffer = EventBuffer::new();
                let mut output_events_buffer = EventBuffer::new();
                let mut events_out = Vec::new();
                let mut next_event = 0;
                let mut pos = 0;
                while pos < total {
                    let len = block.min(total - pos);
                    event_buffer.clear();
                    while next_event < events.len() && events[next_event].at() < pos + len {
                        let t = (events[next_event].at() - pos) as u32;
                        match events[next_event] {
                            TimedEvent::NoteOn { key, velocity, .. } => event_buffer.push(&NoteOnEvent::new(
                                t,
                                Pckn::new(0u16, 0u16, u16::from(key), Match::All),
                                velocity,
                            )),
                            TimedEvent::NoteOff { key, .. } => event_buffer.push(&NoteOffEvent::new(
                                t,
                                Pckn::new(0u16, 0u16, u16::from(key), Match::All),
                                0.0,
                            )),
                            TimedEvent::Midi { bytes, .. } => event_buffer.push(&MidiEvent::new(t, 0, bytes)),
                            TimedEvent::Tuning { key, semitones, .. } => event_buffer.push(&NoteExpressionEvent::new(
                                t,
                                Pckn::new(0u16, 0u16, u16::from(key), Match::All),
                                NoteExpressionType::Tuning,
                                semitones,
                            )),
                            TimedEvent::Param { name, value, .. } => {
                                event_buffer.push(&ParamValueEvent::new(t, param_ids[name], Pckn::match_all(), value))
                            }
                        }
                        next_event += 1;
                    }
                    let input_events = InputEvents::from_buffer(&event_buffer);
                    output_events_buffer.clear();
                    let mut output_events = OutputEvents::from_buffer(&mut output_events_buffer);
                    for (dst, src) in block_in.iter_mut().zip(input) {
                        for (d, i) in dst[..len].iter_mut().zip(pos..pos + len) {
                            *d = src.get(i).copied().unwrap_or(0.0);
                        }
                    }
                    let input_audio = if block_in.is_empty() {
                        InputAudioBuffers::empty()
                    } else {
                        input_ports.with_input_buffers([AudioPortBuffer {
                            latency: 0,
                            channels: AudioPortBufferType::f32_input_only(
                                block_in.iter_mut().map(|b| InputChannel::variable(&mut b[..len])),
                            ),
                        }])
                    };
                    let mut output_audio = output_ports.with_output_buffers([AudioPortBuffer {
                        latency: 0,
                        channels: AudioPortBufferType::f32_output_only(block_out.iter_mut().map(|b| &mut b[..len])),
                    }]);
                    processor
                        .process(
                            &input_audio,
                            &mut output_audio,
                            &input_events,
                            &mut output_events,
                            Some(pos as u64),
                            None,
                        )
                        .map_err(|e| format!("process at {pos}: {e:?}"))?;
                    for (dst, src) in out.iter_mut().zip(&block_out) {
                        dst[pos..pos + len].copy_from_slice(&src[..len]);
                    }
                    for event in output_events_buffer.iter() {
                        let at = pos + event.header().time() as usize;
                        events_out.push(match event.as_core_event() {
                            Some(CoreEventSpace::NoteOn(e)) => {
                                let raw = e.as_raw();
                                OutputEvent::NoteOn { at, channel: raw.channel, key: raw.key, velocity: raw.velocity }
                            }
                            Some(CoreEventSpace::NoteOff(e)) => {
                                let raw = e.as_raw();
                                OutputEvent::NoteOff { at, channel: raw.channel, key: raw.key }
                            }
                            Some(CoreEventSpace::Midi(e)) => OutputEvent::Midi { at, bytes: e.data() },
                            _ => continue,
                        });
                    }
                    pos += len;
                }
                Ok((processor.stop_processing(), out, events_out))
            })
            .join()
            .map_err(|_| "the audio thread panicked".to_string())?
        })?;
        instance.deactivate(processor);

        let handle = instance.plugin_handle();
        let ext: PluginState = handle.get_extension().ok_or("no state extension")?;
        let mut state = Vec::new();
        ext.save(&handle, &mut state).map_err(|e| format!("state save: {e:?}"))?;
        Ok(Rendered { channels, latency_samples, state, events_out })
    }
}

/// The CLAP id of the parameter whose display name is `name`.
fn find_param(instance: &mut PluginInstance<TestHost>, name: &str) -> Result<ClapId, String> {
    let handle = instance.plugin_handle();
    let params: PluginParams = handle.get_extension().ok_or("no params extension")?;
    let mut buffer = ParamInfoBuffer::new();
    for i in 0..params.count(&handle) {
        if let Some(info) = params.get_info(&handle, i, &mut buffer) {
            if info.name == name.as_bytes() {
                return Ok(info.id);
            }
        }
    }
    Err(format!("no parameter named '{name}'"))
}
