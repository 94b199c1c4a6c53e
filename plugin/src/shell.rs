//! What both plugins share: the engine (instrument or effect) built at activation, the mastering
//! stage after it, the live model loader and the editor's data. Each plugin in `lib.rs` is this
//! shell plus its parameters and its host identity.
//!
//! ```text
//! host block + note events ─ Engine::process (split at each event) ─ MasterStage ─ host
//!                                        └ MIDI out (the effect's notes and bends) ─ host
//!        model picks (editor) ─ background thread: ModelLoader ─ swap queue ─┘ (live, no restart)
//! ```
//!
//! With morph places set (`crate::morph_places`), every model change loads the whole morph.

use std::sync::{Arc, Mutex, RwLock};

use ddsp_core::denormals::flush_subnormals;
use ddsp_core::model::{HostPace, PaceClock};
use ddsp_core::swap::{swap_channel, ModelLoader};
use ddsp_core::tracking::{MidiOut, TimedMidiOut};
use ddsp_core::{Engine, Model, ModelChoice, ModelRef, TimedEvent};
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

use crate::gui_data::GuiData;
use crate::master_params::MasterParams;
use crate::master_stage::MasterStage;
use crate::model_slot::{ModelSlot, ModelStatus};
use crate::morph_places::{self, MorphPlaces};

/// Work for the background thread (never the audio thread).
#[derive(Debug, Clone)]
pub enum ModelTask {
    /// Load, validate and hot-swap this model (a file or a built-in one) in during playback; with
    /// morph places set, it becomes place A of the morph.
    Load(ModelChoice),
    /// Sets (`Some`) or clears morph place `.0` (1..=3: B, C, D) and loads the morph again (clearing
    /// the last one goes back to the one model).
    Place(usize, Option<ModelChoice>),
}

pub struct Shell<E: Engine> {
    pub slot: ModelSlot,
    /// The loader end of the hot-swap channel, used by background tasks; `None` until activated.
    pub loader: Arc<Mutex<Option<ModelLoader>>>,
    /// Built in `activate` (allocates); `None` until then.
    pub engine: Option<E>,
    pub master: Option<MasterStage>,
    pub gui: Arc<GuiData>,
    /// The latency last reported to the host.
    reported_latency: u32,
    /// Whether the host renders offline and how far ahead of the wall clock: windowed models'
    /// voices wait for their workers accordingly (see `ddsp_core::model::pace`).
    pace: Arc<HostPace>,
    clock: PaceClock,
    sample_rate_hz: f32,
    /// The host's transport was playing at the last block: MIDI out ends its note when it stops.
    was_playing: bool,
}

impl<E: Engine> Default for Shell<E> {
    fn default() -> Self {
        Self {
            slot: ModelSlot::default(),
            loader: Arc::default(),
            engine: None,
            master: None,
            gui: Arc::default(),
            reported_latency: 0,
            pace: Arc::default(),
            clock: PaceClock::default(),
            sample_rate_hz: 48_000.0,
            was_playing: false,
        }
    }
}

impl<E: Engine> Shell<E> {
    /// Shows why the last state load was refused or changed (the log line was written when it
    /// was loaded) in the editor's status, until the next model message. Main thread.
    pub fn report_load_error(&self, field: &RwLock<Option<String>>) {
        if let Some(message) = crate::session::take_load_error(field) {
            if let Ok(mut status) = self.slot.status.lock() {
                status.message = Some(match status.message.take() {
                    Some(model_message) => format!("{model_message}; {message}"),
                    None => message,
                });
            }
        }
    }

    /// Builds the engine for the session's model, its swap channel and the mastering stage, and
    /// reports the latency. Allocates: `activate` only.
    pub fn activate<P: Plugin>(
        &mut self,
        model: &RwLock<ModelRef>,
        places: &RwLock<MorphPlaces>,
        settings: E::Settings,
        master: &MasterParams,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<P>,
    ) -> bool {
        self.slot.sync(model);
        let model_param = model;
        // An offline host (export, bounce) gets every windowed model frame in step; a change of
        // mode restarts the plugin, so it is read here.
        self.pace.set_offline(buffer_config.process_mode == ProcessMode::Offline);
        self.clock = PaceClock::default();
        self.sample_rate_hz = buffer_config.sample_rate;
        let model = self.slot.model();
        let model = match model.windowed_graph() {
            Some(_) => Arc::new(Model::clone(model).with_pace(self.pace.clone())),
            None => model.clone(),
        };
        let mut engine = E::prepare(model, buffer_config.sample_rate, settings);
        let (sender, receiver) = swap_channel();
        engine.attach_swap_receiver(receiver);
        if let Ok(mut guard) = self.loader.lock() {
            let loader = guard.insert(ModelLoader::new(sender, engine.voice_spec()).with_pace(self.pace.clone()));
            // The session's morph, queued now: the engine takes it before its first sound.
            let places = places.read().map(|p| p.clone()).unwrap_or_default();
            if !places.is_empty() {
                // What the session load said (a model found elsewhere, missing) stays shown.
                let said = self.slot.status.lock().ok().and_then(|s| s.message.clone());
                reload_morph(loader, &self.slot.library, &self.slot.status, model_param, &places);
                if let (Some(said), Ok(mut status)) = (said, self.slot.status.lock()) {
                    status.message.get_or_insert(said);
                }
                // Taken now, while silent: the first note plays the morph from its first frame.
                ddsp_core::engine::settle_swaps(&mut engine);
            }
        }
        let (stage, latency) =
            MasterStage::activate(buffer_config, master.settings(), engine.latency_samples(), &self.gui);
        context.set_latency_samples(latency);
        // What runs, for the host's log and the standalones' terminal (also after a restart).
        nice_log!(
            "audio at {} Hz, blocks up to {} samples, latency {latency} samples ({:.1} ms)",
            buffer_config.sample_rate,
            buffer_config.max_buffer_size,
            1e3 * latency as f32 / buffer_config.sample_rate
        );
        self.reported_latency = latency;
        self.engine = Some(engine);
        self.master = Some(stage);
        true
    }

    pub fn reset(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.reset();
        }
        if let Some(master) = &mut self.master {
            master.reset();
        }
    }

    /// Runs the engine with the host's events at their samples, then the mastering chain, and
    /// flushes subnormal samples to 0; tells the host when a live model swap changed the latency.
    /// Never allocates; waits only where [`HostPace`] allows (an offline or evidently faster than
    /// real time host, windowed models).
    pub fn process<P: Plugin>(
        &mut self,
        buffer: &mut Buffer,
        settings: E::Settings,
        master: &MasterParams,
        context: &mut impl ProcessContext<P>,
    ) {
        let channels = buffer.as_slice();
        let (Some(engine), Some(stage)) = (&mut self.engine, &mut self.master) else {
            channels.iter_mut().for_each(|c| c.fill(0.0));
            return;
        };
        let samples = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        self.clock.begin_block(&self.pace, samples, self.sample_rate_hz);
        engine.set_settings(settings);
        stage.set_settings(master.settings(), &self.gui);
        let playing = context.transport().playing;
        if self.was_playing && !playing {
            engine.end_midi_out_notes();
        }
        self.was_playing = playing;
        let events = std::iter::from_fn(|| context.next_event()).flat_map(engine_event);
        engine.process(events, channels);
        // A host whose output queue is full drops the rest (nothing else can be done on the audio thread).
        engine.drain_midi_out(|e| {
            let _ = context.try_send_event(midi_out_event(e));
        });
        stage.process(channels, &self.gui);
        flush_subnormals(channels);
        let latency = engine.latency_samples() + stage.latency_samples();
        if latency != self.reported_latency {
            self.reported_latency = latency;
            self.gui.latency_samples.store(latency, std::sync::atomic::Ordering::Relaxed);
            context.set_latency_samples(latency);
        }
        if self.gui.is_open() {
            self.gui.publish_view(&engine.view());
        }
    }

    /// The background task: load `choice`, queue it for the audio thread (which crossfades),
    /// free what it hands back; the session then names the new model.
    pub fn task_executor<P: Plugin<BackgroundTask = ModelTask>>(
        &self,
        model_param: Arc<RwLock<ModelRef>>,
        places_param: Arc<RwLock<MorphPlaces>>,
    ) -> TaskExecutor<P> {
        let (loader, status, library) = (self.loader.clone(), self.slot.status.clone(), self.slot.library.clone());
        Box::new(move |task| match task {
            ModelTask::Place(place, choice) => {
                let Ok(mut guard) = loader.lock() else { return };
                let Some(loader) = guard.as_mut() else {
                    nice_warn!("morph place not loaded: the plugin is not active");
                    return;
                };
                set_place(loader, &library, &status, &model_param, &places_param, place, choice);
            }
            ModelTask::Load(choice) => {
                let Ok(mut guard) = loader.lock() else { return };
                let Some(loader) = guard.as_mut() else {
                    nice_warn!("model {choice} not loaded: the plugin is not active");
                    return;
                };
                let places = places_param.read().map(|p| p.clone()).unwrap_or_default();
                if !places.is_empty() {
                    let loaded = load_morph(loader, &library, &status, &choice, &places);
                    if loaded {
                        if let (Ok(reference), Ok(mut saved)) = (ModelRef::to_choice(&choice), model_param.write()) {
                            *saved = reference;
                        }
                        if let ModelChoice::File(path) = &choice {
                            library.remember(path);
                        }
                    }
                    return;
                }
                let result = loader.load(&choice);
                let mut status = status.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(model) => {
                        if let (Ok(reference), Ok(mut saved)) = (ModelRef::to_choice(&choice), model_param.write()) {
                            *saved = reference;
                        }
                        if let ModelChoice::File(path) = &choice {
                            library.remember(path);
                        }
                        // The log says what plays, as at activation (the standalones print it).
                        nice_log!("playing model '{}' (picked live)", model.meta.name);
                        *status = ModelStatus::playing(&model, None);
                    }
                    Err(e) => {
                        let message = format!("{e}; playing '{}' instead", status.playing);
                        nice_error!("{message}");
                        status.message = Some(message);
                    }
                }
            }
        })
    }
}

/// Loads `primary` as place A with `places` (see [`morph_places::load`]) and says what became of
/// each place in the status; `true` when A loaded. Loader thread or `activate` only.
fn load_morph(
    loader: &mut ModelLoader,
    library: &ddsp_core::ModelLibrary,
    status: &Mutex<ModelStatus>,
    primary: &ModelChoice,
    places: &MorphPlaces,
) -> bool {
    let result = morph_places::load(loader, library, primary, places);
    let mut status = status.lock().unwrap_or_else(|e| e.into_inner());
    match result {
        Ok(loaded) => {
            for (place, error) in loaded.status.errors.iter().enumerate() {
                if let Some(error) = error {
                    nice_error!("morph place {}: {error}", morph_places::PLACE_NAMES[place]);
                }
            }
            let ok = loaded.primary.is_ok();
            match loaded.primary {
                Ok(model) => *status = ModelStatus::playing(&model, None),
                Err(e) => status.message = Some(format!("{e}; the morph plays its other places")),
            }
            status.morph = loaded.status;
            ok
        }
        Err(e) => {
            let message = format!("the morph was not loaded: {e}; playing '{}' instead", status.playing);
            nice_error!("{message}");
            status.message = Some(message);
            false
        }
    }
}

/// Loads the session's morph again around the model playing (its choice, else the session's
/// reference). Loader thread or `activate` only.
fn reload_morph(
    loader: &mut ModelLoader,
    library: &ddsp_core::ModelLibrary,
    status: &Mutex<ModelStatus>,
    model_param: &RwLock<ModelRef>,
    places: &MorphPlaces,
) {
    let playing = status.lock().ok().and_then(|s| s.choice.clone());
    let primary = playing.or_else(|| {
        let saved = model_param.read().map(|r| r.clone()).unwrap_or_default();
        morph_places::choice_of(library, &saved).ok()
    });
    let Some(primary) = primary else {
        nice_error!("the morph was not loaded: the playing model cannot be found again");
        return;
    };
    if places.is_empty() {
        // Back to one model, exactly as without morphing.
        match loader.load(&primary) {
            Ok(model) => {
                let mut status = status.lock().unwrap_or_else(|e| e.into_inner());
                let message = status.message.take();
                *status = ModelStatus::playing(&model, message);
            }
            Err(e) => nice_error!("model {primary} not loaded again: {e}"),
        }
    } else {
        load_morph(loader, library, status, &primary, places);
    }
}

/// Sets or clears morph place `place` (1..=3) in the session and loads the morph again. A pick
/// whose file cannot be read is reported at its place and changes nothing. Loader thread only.
fn set_place(
    loader: &mut ModelLoader,
    library: &ddsp_core::ModelLibrary,
    status: &Mutex<ModelStatus>,
    model_param: &RwLock<ModelRef>,
    places_param: &RwLock<MorphPlaces>,
    place: usize,
    choice: Option<ModelChoice>,
) {
    if !(1..ddsp_core::MAX_MORPH_MODELS).contains(&place) {
        return;
    }
    let reference = match choice.as_ref().map(ModelRef::to_choice).transpose() {
        Ok(reference) => reference,
        Err(e) => {
            let why = format!("{} cannot be read ({e})", choice.as_ref().map(|c| c.to_string()).unwrap_or_default());
            nice_error!("morph place {}: {why}", morph_places::PLACE_NAMES[place]);
            if let Ok(mut status) = status.lock() {
                status.morph.errors[place] = Some(why);
            }
            return;
        }
    };
    let places = match places_param.write() {
        Ok(mut saved) => {
            saved.set(place, reference);
            saved.clone()
        }
        Err(_) => return,
    };
    reload_morph(loader, library, status, model_param, &places);
    let loaded = status.lock().is_ok_and(|s| s.morph.errors[place].is_none());
    if let (Some(ModelChoice::File(path)), true) = (&choice, loaded) {
        library.remember(path);
    }
}

/// A host note event in the engine's vocabulary, with its sample and channel (`None`: not ours).
pub fn engine_event<S>(event: NoteEvent<S>) -> Option<TimedEvent> {
    use ddsp_core::{InstrumentEvent as E, NoteExpression as X};
    let at = event.timing() as usize;
    let channel = event.channel().and_then(|c| c.number()).unwrap_or(0);
    let expression = |key: Option<u8>, expression, value| Some(E::NoteExpression { note: key?, expression, value });
    let e = match event {
        NoteEvent::NoteOn { key, velocity, .. } => E::NoteOn { note: key.number()?, velocity },
        NoteEvent::NoteOff { key, .. } | NoteEvent::Choke { key, .. } => match key.number() {
            Some(note) => E::NoteOff { note },
            None => E::AllNotesOff,
        },
        // Back to the 14-bit MIDI value, centred the way MIDI files are read ((v − 8192) / 8192): the
        // centre is exactly 0 and the plugin bends exactly as `ddsp render` does.
        NoteEvent::MidiPitchBend { value, .. } => E::PitchBend { value: ((value * 16383.0).round() - 8192.0) / 8192.0 },
        NoteEvent::MidiCC { cc, value, .. } => E::ControlChange { cc, value },
        NoteEvent::MidiChannelPressure { pressure, .. } => E::ChannelPressure { value: pressure },
        NoteEvent::PolyPressure { key, pressure, .. } => expression(key.number(), X::Pressure, pressure)?,
        NoteEvent::PolyTuning { key, tuning, .. } => expression(key.number(), X::Tuning, tuning)?,
        NoteEvent::PolyVolume { key, gain, .. } => expression(key.number(), X::Volume, gain)?,
        NoteEvent::PolyBrightness { key, brightness, .. } => expression(key.number(), X::Brightness, brightness)?,
        _ => return None,
    };
    Some(TimedEvent { at, channel, event: e })
}

/// The host's form of one of the engine's MIDI out messages. The engine numbers channels from 0,
/// as nice-plug does.
fn midi_out_event<S>(e: TimedMidiOut) -> NoteEvent<S> {
    let timing = e.at as u32;
    match e.event {
        MidiOut::NoteOn { channel, key, velocity } => NoteEvent::NoteOn {
            timing,
            voice_id: VoiceID::Wildcard,
            channel: Channel::Number(channel),
            key: Key::Number(key),
            velocity,
        },
        MidiOut::NoteOff { channel, key } => NoteEvent::NoteOff {
            timing,
            voice_id: VoiceID::Wildcard,
            channel: Channel::Number(channel),
            key: Key::Number(key),
            velocity: 0.0,
        },
        MidiOut::PitchBend { channel, value } => NoteEvent::MidiPitchBend { timing, channel, value },
        MidiOut::Pressure { channel, value } => NoteEvent::MidiChannelPressure { timing, channel, pressure: value },
    }
}
