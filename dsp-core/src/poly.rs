//! Polyphony and the sustain pedal: N monophonic instruments (each its own model state, so chords
//! are N independent DDSP voices), note allocation and stealing, CC64.
//!
//! With one voice it is the monophonic instrument (legato glides, last-note priority) plus the
//! pedal. With more, each note takes the voice that has been silent longest, else steals the
//! oldest note; controllers (bend, CC1/CC11, pressure) go to every voice, as on a MIDI channel.

use std::sync::Arc;

use crate::instrument::{InstrumentEvent, InstrumentSettings, MonoInstrument};
use crate::model::Model;
use crate::voice::MAX_CHUNK;

pub const MAX_VOICES: usize = 16;
/// CC64: sustain pedal, down at ≥ 0.5.
const SUSTAIN_CC: u8 = 64;

/// What one voice is doing, for allocation.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The key it plays; `None` once released.
    note: Option<u8>,
    /// Key released while the pedal was down: release when the pedal comes up.
    sustained: bool,
    /// Event counter at note-on / release (older = smaller).
    since: u64,
}

/// Lifecycle: [`PolyInstrument::new`] allocates every voice; everything else never does.
pub struct PolyInstrument {
    voices: Vec<MonoInstrument>,
    slots: [Slot; MAX_VOICES],
    pedal_down: bool,
    /// One voice: keys released under the pedal, still held by the instrument.
    sustained_keys: [bool; 128],
    clock: u64,
    scratch: [f32; MAX_CHUNK],
}

impl PolyInstrument {
    /// `voices` (1..=[`MAX_VOICES`]) instruments on `model`.
    pub fn new(model: Arc<Model>, sample_rate_hz: f32, settings: InstrumentSettings, voices: usize) -> Self {
        let n = voices.clamp(1, MAX_VOICES);
        Self {
            voices: (0..n).map(|_| MonoInstrument::new(Arc::clone(&model), sample_rate_hz, settings)).collect(),
            slots: [Slot::default(); MAX_VOICES],
            pedal_down: false,
            sustained_keys: [false; 128],
            clock: 0,
            scratch: [0.0; MAX_CHUNK],
        }
    }

    pub fn voice_count(&self) -> usize {
        self.voices.len()
    }

    pub fn latency_samples(&self) -> u32 {
        self.voices[0].latency_samples()
    }

    pub fn set_settings(&mut self, settings: InstrumentSettings) {
        self.voices.iter_mut().for_each(|v| v.set_settings(settings));
    }

    pub fn reset(&mut self) {
        self.voices.iter_mut().for_each(MonoInstrument::reset);
        self.slots = [Slot::default(); MAX_VOICES];
        self.pedal_down = false;
        self.sustained_keys = [false; 128];
    }

    pub fn handle(&mut self, event: InstrumentEvent) {
        self.clock += 1;
        match event {
            InstrumentEvent::NoteOn { note, velocity } if velocity > 0.0 => self.note_on(note, event),
            InstrumentEvent::NoteOn { note, .. } | InstrumentEvent::NoteOff { note } => self.note_off(note),
            InstrumentEvent::ControlChange { cc: SUSTAIN_CC, value } => {
                let down = value >= 0.5;
                if self.pedal_down && !down {
                    for key in 0..128u8 {
                        if core::mem::take(&mut self.sustained_keys[usize::from(key)]) {
                            self.voices[0].handle(InstrumentEvent::NoteOff { note: key });
                        }
                    }
                    for i in 0..self.voices.len() {
                        if self.slots[i].sustained {
                            self.release(i);
                        }
                    }
                }
                self.pedal_down = down;
            }
            InstrumentEvent::AllNotesOff | InstrumentEvent::ControlChange { cc: 120 | 123, .. } => {
                self.voices.iter_mut().for_each(|v| v.handle(event));
                self.slots = [Slot::default(); MAX_VOICES];
                self.sustained_keys = [false; 128];
            }
            _ => self.voices.iter_mut().for_each(|v| v.handle(event)),
        }
    }

    fn note_on(&mut self, note: u8, event: InstrumentEvent) {
        let n = self.voices.len();
        if n == 1 {
            // Monophonic: the instrument's own legato / last-note priority decides.
            self.sustained_keys[usize::from(note.min(127))] = false;
            self.voices[0].handle(event);
            return;
        }
        // Same key again: retrigger its voice. Else the longest-silent free voice, else the oldest.
        let slots = &self.slots[..n];
        let pick = slots
            .iter()
            .position(|s| s.note == Some(note))
            .or_else(|| (0..n).filter(|&i| slots[i].note.is_none()).min_by_key(|&i| slots[i].since))
            .unwrap_or_else(|| (0..n).min_by_key(|&i| slots[i].since).unwrap_or(0));
        if let Some(old) = self.slots[pick].note {
            self.voices[pick].handle(InstrumentEvent::NoteOff { note: old });
        }
        self.slots[pick] = Slot { note: Some(note), sustained: false, since: self.clock };
        self.voices[pick].handle(event);
    }

    fn note_off(&mut self, note: u8) {
        let n = self.voices.len();
        if n == 1 {
            if self.pedal_down {
                self.sustained_keys[usize::from(note.min(127))] = true;
            } else {
                self.voices[0].handle(InstrumentEvent::NoteOff { note });
            }
            return;
        }
        for i in 0..n {
            if self.slots[i].note == Some(note) && !self.slots[i].sustained {
                if self.pedal_down {
                    self.slots[i].sustained = true;
                } else {
                    self.release(i);
                }
            }
        }
    }

    fn release(&mut self, i: usize) {
        if let Some(note) = self.slots[i].note {
            self.voices[i].handle(InstrumentEvent::NoteOff { note });
        }
        self.slots[i] = Slot { note: None, sustained: false, since: self.clock };
    }

    /// Renders the sum of all voices into `out` (overwriting it).
    pub fn render(&mut self, out: &mut [f32]) {
        let (first, rest) = self.voices.split_first_mut().expect("at least one voice");
        first.render(out);
        for voice in rest {
            for chunk in out.chunks_mut(MAX_CHUNK) {
                let scratch = &mut self.scratch[..chunk.len()];
                voice.render(scratch);
                chunk.iter_mut().zip(scratch.iter()).for_each(|(y, x)| *y += x);
            }
        }
    }
}

impl crate::instrument::Playable for PolyInstrument {
    fn render(&mut self, out: &mut [f32]) {
        PolyInstrument::render(self, out);
    }
    fn handle(&mut self, event: InstrumentEvent) {
        PolyInstrument::handle(self, event);
    }
}
