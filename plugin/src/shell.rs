//! What both plugins share: the engine (instrument or effect) built at activation, the mastering
//! stage after it, the live model loader and the editor's data. Each plugin in `lib.rs` is this
//! shell plus its parameters and its host identity.
//!
//! ```text
//! host block + note events ─ Engine::process (split at each event) ─ MasterStage ─ host
//!        model picks (editor) ─ background thread: ModelLoader ─ swap queue ─┘ (live, no restart)
//! ```

use std::sync::{Arc, Mutex, RwLock};

use ddsp_core::denormals::flush_subnormals;
use ddsp_core::model::{HostPace, PaceClock};
use ddsp_core::swap::{swap_channel, ModelLoader};
use ddsp_core::{Engine, Model, ModelChoice, ModelRef, TimedEvent};
use nice_plug::prelude::*;

use crate::gui_data::GuiData;
use crate::master_params::MasterParams;
use crate::master_stage::MasterStage;
use crate::model_slot::{ModelSlot, ModelStatus};

/// Work for the background thread (never the audio thread).
#[derive(Debug, Clone)]
pub enum ModelTask {
    /// Load, validate and hot-swap this model (a file or a built-in one) in during playback.
    Load(ModelChoice),
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
        settings: E::Settings,
        master: &MasterParams,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<P>,
    ) -> bool {
        self.slot.sync(model);
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
        if let Ok(mut loader) = self.loader.lock() {
            *loader = Some(ModelLoader::new(sender, engine.voice_spec()).with_pace(self.pace.clone()));
        }
        let (stage, latency) =
            MasterStage::activate(buffer_config, master.settings(), engine.latency_samples(), &self.gui);
        context.set_latency_samples(latency);
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
        let events = std::iter::from_fn(|| context.next_event()).flat_map(engine_event);
        engine.process(events, channels);
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
    ) -> TaskExecutor<P> {
        let (loader, status, library) = (self.loader.clone(), self.slot.status.clone(), self.slot.library.clone());
        Box::new(move |task| match task {
            ModelTask::Load(choice) => {
                let Ok(mut guard) = loader.lock() else { return };
                let Some(loader) = guard.as_mut() else {
                    nice_warn!("model {choice} not loaded: the plugin is not active");
                    return;
                };
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
