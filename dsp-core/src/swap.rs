//! Safe model hot-swap for every engine: prepared voices travel to the audio thread through a
//! lock-free queue, and the voices they replace travel back to be freed elsewhere.
//!
//! The loader (a GUI or background thread) loads and validates a model and builds a [`VoiceSet`]:
//! one complete [`Voice`] for each voice of the engine, at its sample rate, with its noise seed
//! and control glide (all allocation happens here), then [`SwapSender::send`]s it. The engine's
//! [`SwapReceiver::poll`] hands each voice to its [`LiveVoice`], which pre-rolls and crossfades
//! it in (or takes it at once when silent), collects the replaced voices back into the same set,
//! and returns the set once every voice has finished. The loader frees it with
//! [`SwapSender::collect_garbage`]. The audio thread only moves boxes between two single-producer
//! single-consumer ring buffers (rtrb): no allocation, no free, no lock, no wait. A full queue is
//! never waited on: the sender gets its set back and retries later, and the audio thread keeps a
//! finished set until the return queue has room (starting no new swap meanwhile), so nothing is
//! ever dropped on the audio thread.

use std::sync::Arc;
use std::time::Duration;

use rtrb::{Consumer, Producer, PushError, RingBuffer};

use crate::library::ModelChoice;
use crate::model::{DecoderBatch, HostPace, Model, ModelLoadError};
use crate::voice::{LiveVoice, Voice};

pub use crate::voice::{CROSSFADE_MS, PREROLL_FRAMES};

/// Sets that may wait in each direction.
const QUEUE_CAPACITY: usize = 4;

/// How an engine's voices are built, so a loader builds replacements that sound the same.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoiceSpec {
    pub sample_rate_hz: f32,
    /// Voices the engine owns (its capacity, not how many sound).
    pub voices: usize,
    /// Noise seed of voice 0; voice `i` uses [`VoiceSpec::seed`]`(i)`.
    pub seed: u32,
    /// See [`Voice::set_control_glide`].
    pub control_glide: f32,
}

impl VoiceSpec {
    /// Voice `i`'s noise seed: distinct per voice, so a chord's noise is not one signal N times.
    pub fn seed(&self, i: usize) -> u32 {
        self.seed.wrapping_add((i as u32).wrapping_mul(0x9E37_79B9))
    }

    /// Voice `i` for `model`. Allocates.
    pub fn build(&self, model: Arc<Model>, i: usize) -> Voice {
        let mut voice = Voice::new(model, self.sample_rate_hz, self.seed(i));
        voice.set_control_glide(self.control_glide);
        voice
    }

    /// Voice `i` blending `models` (see [`Voice::with_morph`]); `None` when none is present.
    /// Allocates.
    pub fn build_morph(&self, models: &[Option<Arc<Model>>], i: usize) -> Option<Voice> {
        let mut voice = Voice::with_morph(models, self.sample_rate_hz, self.seed(i))?;
        voice.set_control_glide(self.control_glide);
        Some(voice)
    }
}

/// A model and the scratch to run its frames for many voices as one batch.
pub type ModelBatch = (Arc<Model>, DecoderBatch);

/// One replacement voice per engine voice, and (for engines of several voices) the new model's
/// batch scratch; on the way back, the voices and the batch they replaced.
pub struct VoiceSet {
    voices: Vec<Option<Box<Voice>>>,
    batch: Option<ModelBatch>,
    /// A morph's other models, one per morph slot (see [`crate::morph::Morph::slot_model`]).
    morph_batches: Vec<ModelBatch>,
}

impl VoiceSet {
    /// A voice for each of `spec.voices` voices, playing `model`. Allocates.
    pub fn build(model: &Arc<Model>, spec: &VoiceSpec) -> Box<Self> {
        let batch = if spec.voices > 1 { model.new_batch(spec.voices).map(|b| (model.clone(), b)) } else { None };
        Box::new(Self {
            voices: (0..spec.voices).map(|i| Some(Box::new(spec.build(model.clone(), i)))).collect(),
            batch,
            morph_batches: Vec::new(),
        })
    }

    /// A voice for each of `spec.voices` voices, blending `models` (place order; `None` where one
    /// is missing); `None` when none is present. Allocates.
    pub fn build_morph(models: &[Option<Arc<Model>>], spec: &VoiceSpec) -> Option<Box<Self>> {
        let primary = models.iter().flatten().next()?;
        let batch = if spec.voices > 1 { primary.new_batch(spec.voices).map(|b| (primary.clone(), b)) } else { None };
        let voices: Vec<Option<Box<Voice>>> =
            (0..spec.voices).map(|i| spec.build_morph(models, i).map(Box::new)).collect();
        let mut morph_batches = Vec::new();
        if let (true, Some(morph)) = (spec.voices > 1, voices.first().and_then(|v| v.as_ref()?.morph())) {
            for s in 0..morph.slot_count() {
                let model = morph.slot_model(s);
                match model.new_batch(spec.voices) {
                    Some(batch) => morph_batches.push((model.clone(), batch)),
                    None => break, // a windowed model: it and the slots after it run alone
                }
            }
        }
        Some(Box::new(Self { voices, batch, morph_batches }))
    }

    /// The model of the voices in the set (the new one on the way in).
    pub fn model(&self) -> Option<&Arc<Model>> {
        self.voices.iter().flatten().next().map(|v| v.model())
    }
}

/// The loader's end. Allocates nothing itself; the sets it sends were built by the caller.
pub struct SwapSender {
    sets: Producer<Box<VoiceSet>>,
    retired: Consumer<Box<VoiceSet>>,
}

/// The audio thread's end, owned by the engine.
pub struct SwapReceiver {
    sets: Consumer<Box<VoiceSet>>,
    retired: Producer<Box<VoiceSet>>,
    /// The set being swapped in: it collects the replaced voices until every voice has finished.
    current: Option<Box<VoiceSet>>,
}

/// A connected sender/receiver pair. Allocates the two queues.
pub fn swap_channel() -> (SwapSender, SwapReceiver) {
    let (sets_tx, sets_rx) = RingBuffer::new(QUEUE_CAPACITY);
    let (retired_tx, retired_rx) = RingBuffer::new(QUEUE_CAPACITY);
    (
        SwapSender { sets: sets_tx, retired: retired_rx },
        SwapReceiver { sets: sets_rx, retired: retired_tx, current: None },
    )
}

impl SwapSender {
    /// Queues a prepared set for the audio thread; gives it back when the queue is full.
    pub fn send(&mut self, set: Box<VoiceSet>) -> Result<(), Box<VoiceSet>> {
        self.sets.push(set).map_err(|PushError::Full(v)| v)
    }

    /// Frees the sets the audio thread has finished with; returns how many. Call it from the
    /// loader's thread, e.g. before each `send` and on a timer.
    pub fn collect_garbage(&mut self) -> usize {
        let mut n = 0;
        while let Ok(set) = self.retired.pop() {
            drop(set);
            n += 1;
        }
        n
    }
}

impl SwapReceiver {
    /// Moves a swap along; call it once per block, before rendering. `voices` gives each engine
    /// voice in order with whether it is sounding (a silent voice takes its new model at once).
    /// Returns the new model when a swap starts. Never blocks, allocates or frees.
    pub fn poll<'a>(&mut self, voices: impl Iterator<Item = (&'a mut LiveVoice, bool)>) -> Option<Arc<Model>> {
        if let Some(set) = &mut self.current {
            let mut busy = false;
            for (slot, (voice, _)) in set.voices.iter_mut().zip(voices) {
                if let Some(old) = voice.take_retired() {
                    *slot = Some(old);
                }
                busy |= voice.is_swapping();
            }
            if !busy {
                if let Some(set) = self.current.take() {
                    self.current = self.retired.push(set).err().map(|PushError::Full(set)| set);
                }
            }
            return None;
        }
        let mut set = self.sets.pop().ok()?;
        let model = set.model().cloned();
        for (slot, (voice, audible)) in set.voices.iter_mut().zip(voices) {
            if let Some(new) = slot.take() {
                // A voice mid-swap cannot be here (the previous set waited for every voice).
                *slot = voice.begin_swap(new, audible).err();
            }
        }
        self.current = Some(set);
        model
    }

    /// Trades the engine's batch scratch for the one that came with the set being swapped in
    /// (call it when [`SwapReceiver::poll`] returns a model); the old one goes back with the set.
    pub fn exchange_batch(&mut self, batch: &mut Option<ModelBatch>) {
        if let Some(set) = &mut self.current {
            if set.batch.is_some() {
                core::mem::swap(&mut set.batch, batch);
            }
        }
    }

    /// Trades the engine's morph batches for the set's (empty for a one-model set), as
    /// [`SwapReceiver::exchange_batch`] does.
    pub fn exchange_morph_batches(&mut self, batches: &mut Vec<ModelBatch>) {
        if let Some(set) = &mut self.current {
            core::mem::swap(&mut set.morph_batches, batches);
        }
    }

    /// True while a set is being swapped in or waits to go back.
    pub fn is_busy(&self) -> bool {
        self.current.is_some()
    }
}

/// Why a [`ModelLoader`] could not hand a model over.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Model(#[from] ModelLoadError),
    #[error("the audio thread took no model for {0:?} (is the plugin processing?)")]
    NotTaken(Duration),
}

/// The loader side of hot-swap, for a GUI or background thread: reads and validates a model,
/// builds its voices the way the engine's are built and queues them for the audio thread.
/// Everything that allocates or frees happens here.
pub struct ModelLoader {
    sender: SwapSender,
    spec: VoiceSpec,
    /// The engine's host pace, given to every model loaded (see [`Model::with_pace`]).
    pace: Option<Arc<HostPace>>,
}

/// How long [`ModelLoader::send`] waits for room in a full queue before giving up.
const SEND_PATIENCE: Duration = Duration::from_secs(2);

impl ModelLoader {
    /// `spec`: the engine's [`crate::engine::Engine::voice_spec`].
    pub fn new(sender: SwapSender, spec: VoiceSpec) -> Self {
        Self { sender, spec, pace: None }
    }

    /// Models loaded from now on follow the host's `pace` (windowed models wait for their worker
    /// when the host renders offline or faster than real time).
    pub fn with_pace(mut self, pace: Arc<HostPace>) -> Self {
        self.pace = Some(pace);
        self
    }

    /// Loads `choice` (a file or a built-in model) and queues it; the previous model keeps playing
    /// if anything fails.
    pub fn load(&mut self, choice: &ModelChoice) -> Result<Arc<Model>, LoadError> {
        let model = choice.load()?;
        let model = Arc::new(match &self.pace {
            Some(pace) if model.windowed_graph().is_some() => model.with_pace(pace.clone()),
            _ => model,
        });
        self.send(model.clone())?;
        Ok(model)
    }

    /// Loads a morph of `choices` (place order A, B, C, D; `None`: an empty place; see
    /// [`crate::morph`]) and queues it. Returns each place's model, `Ok(None)` for an empty place,
    /// or why it failed: the morph goes on with those that loaded (the caller says which failed);
    /// only when none loads is nothing sent, and the first error (if any) given.
    #[allow(clippy::type_complexity)]
    pub fn load_morph(
        &mut self,
        choices: &[Option<ModelChoice>],
    ) -> Result<Vec<Result<Option<Arc<Model>>, ModelLoadError>>, LoadError> {
        let loaded: Vec<_> = choices
            .iter()
            .take(crate::morph::MAX_MORPH_MODELS)
            .map(|choice| {
                let Some(choice) = choice else { return Ok(None) };
                let model = choice.load()?;
                Ok(Some(Arc::new(match &self.pace {
                    Some(pace) if model.windowed_graph().is_some() => model.with_pace(pace.clone()),
                    _ => model,
                })))
            })
            .collect();
        let models: Vec<Option<Arc<Model>>> = loaded.iter().map(|r| r.as_ref().ok().cloned().flatten()).collect();
        let Some(set) = VoiceSet::build_morph(&models, &self.spec) else {
            return match loaded.into_iter().find_map(Result::err) {
                Some(first) => Err(LoadError::Model(first)),
                None => Ok(Vec::new()),
            };
        };
        self.send_set(set)?;
        Ok(loaded)
    }

    /// Builds the voices for `model` and queues them, waiting (on this thread, never the audio
    /// thread) while the queue is full.
    pub fn send(&mut self, model: Arc<Model>) -> Result<(), LoadError> {
        self.send_set(VoiceSet::build(&model, &self.spec))
    }

    /// Builds voices blending `models` (place order; `None` where one is missing) and queues them.
    /// Does nothing when none is present.
    pub fn send_morph(&mut self, models: &[Option<Arc<Model>>]) -> Result<(), LoadError> {
        match VoiceSet::build_morph(models, &self.spec) {
            Some(set) => self.send_set(set),
            None => Ok(()),
        }
    }

    /// Queues a built set, waiting (on this thread, never the audio thread) while the queue is full.
    fn send_set(&mut self, mut set: Box<VoiceSet>) -> Result<(), LoadError> {
        let step = Duration::from_millis(2);
        let mut waited = Duration::ZERO;
        loop {
            self.sender.collect_garbage();
            match self.sender.send(set) {
                Ok(()) => return Ok(()),
                Err(back) if waited < SEND_PATIENCE => {
                    set = back;
                    std::thread::sleep(step);
                    waited += step;
                }
                Err(_) => return Err(LoadError::NotTaken(waited)),
            }
        }
    }

    /// Frees voices the audio thread has retired; returns how many sets.
    pub fn collect_garbage(&mut self) -> usize {
        self.sender.collect_garbage()
    }
}
