//! Safe model hot-swap: prepared voices travel to the audio thread through a lock-free queue and
//! the voices they replace travel back to be freed elsewhere.
//!
//! The loader (a GUI or background thread) loads and validates a model, builds a complete
//! [`Voice`] for the current sample rate (all allocation happens here) and [`SwapSender::send`]s
//! it. The audio thread's [`MonoInstrument`](crate::MonoInstrument) picks it up at a block
//! boundary, runs it silently for [`PREROLL_FRAMES`] so its recurrent state catches up with the
//! note, crossfades from the old voice over [`CROSSFADE_MS`], and pushes the old voice back.
//! The loader frees it with [`SwapSender::collect_garbage`]. The audio thread only moves boxes
//! between two single-producer single-consumer ring buffers (rtrb): no allocation, no free, no lock,
//! no wait. A full queue is never waited on: the sender gets its voice back and retries later, and
//! the audio thread keeps a retired voice until the return queue has room (starting no new swap
//! meanwhile), so nothing is ever dropped on the audio thread.

use std::sync::Arc;
use std::time::Duration;

use rtrb::{Consumer, Producer, PushError, RingBuffer};

use crate::instrument::MonoInstrument;
use crate::library::ModelChoice;
use crate::model::{Model, ModelLoadError};
use crate::voice::Voice;

/// Length of the equal-power crossfade between the old and the new voice.
pub const CROSSFADE_MS: f32 = 20.0;

/// Model frames an incoming voice runs silently, on the pitch and loudness being played, before
/// it is faded in: its recurrent state starts at zero, and a model's response from a zero state
/// is a phrase start, not the sustained note the old voice is playing.
pub const PREROLL_FRAMES: u32 = 12;

/// Voices that may wait in each direction.
const QUEUE_CAPACITY: usize = 4;

/// The loader's end. Allocates nothing itself; the voices it sends were built by the caller.
pub struct SwapSender {
    voices: Producer<Box<Voice>>,
    retired: Consumer<Box<Voice>>,
}

/// The audio thread's end, owned by the instrument.
pub struct SwapReceiver {
    voices: Consumer<Box<Voice>>,
    retired: Producer<Box<Voice>>,
}

/// A connected sender/receiver pair. Allocates the two queues.
pub fn swap_channel() -> (SwapSender, SwapReceiver) {
    let (voices_tx, voices_rx) = RingBuffer::new(QUEUE_CAPACITY);
    let (retired_tx, retired_rx) = RingBuffer::new(QUEUE_CAPACITY);
    (SwapSender { voices: voices_tx, retired: retired_rx }, SwapReceiver { voices: voices_rx, retired: retired_tx })
}

impl SwapSender {
    /// Queues a prepared voice for the audio thread; gives it back when the queue is full.
    pub fn send(&mut self, voice: Box<Voice>) -> Result<(), Box<Voice>> {
        self.voices.push(voice).map_err(|PushError::Full(v)| v)
    }

    /// Frees the voices the audio thread has finished with; returns how many. Call it from the
    /// loader's thread, e.g. before each `send` and on a timer.
    pub fn collect_garbage(&mut self) -> usize {
        let mut n = 0;
        while let Ok(voice) = self.retired.pop() {
            drop(voice);
            n += 1;
        }
        n
    }
}

impl SwapReceiver {
    /// The next prepared voice, if one is waiting. Never blocks or allocates.
    pub(crate) fn next_voice(&mut self) -> Option<Box<Voice>> {
        self.voices.pop().ok()
    }

    /// Hands a replaced voice back; gives it back when the return queue is full.
    pub(crate) fn retire(&mut self, voice: Box<Voice>) -> Result<(), Box<Voice>> {
        self.retired.push(voice).map_err(|PushError::Full(v)| v)
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
/// builds its voice at the engine's sample rate and queues it for the audio thread. Everything
/// that allocates or frees happens here.
pub struct ModelLoader {
    sender: SwapSender,
    sample_rate_hz: f32,
}

/// How long [`ModelLoader::send`] waits for room in a full queue before giving up.
const SEND_PATIENCE: Duration = Duration::from_secs(2);

impl ModelLoader {
    pub fn new(sender: SwapSender, sample_rate_hz: f32) -> Self {
        Self { sender, sample_rate_hz }
    }

    /// Loads `choice` (a file or a built-in model) and queues it; the previous model keeps playing
    /// if anything fails.
    pub fn load(&mut self, choice: &ModelChoice) -> Result<Arc<Model>, LoadError> {
        let model = Arc::new(choice.load()?);
        self.send(model.clone())?;
        Ok(model)
    }

    /// Builds a voice for `model` and queues it, waiting (on this thread, never the audio thread)
    /// while the queue is full.
    pub fn send(&mut self, model: Arc<Model>) -> Result<(), LoadError> {
        let mut voice = MonoInstrument::prepare_voice(model, self.sample_rate_hz);
        let step = Duration::from_millis(2);
        let mut waited = Duration::ZERO;
        loop {
            self.sender.collect_garbage();
            match self.sender.send(voice) {
                Ok(()) => return Ok(()),
                Err(back) if waited < SEND_PATIENCE => {
                    voice = back;
                    std::thread::sleep(step);
                    waited += step;
                }
                Err(_) => return Err(LoadError::NotTaken(waited)),
            }
        }
    }

    /// Frees voices the audio thread has retired; returns how many.
    pub fn collect_garbage(&mut self) -> usize {
        self.sender.collect_garbage()
    }
}
