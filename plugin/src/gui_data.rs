//! What the audio thread shows the editor: meters and the current model frame, through atomics
//! only (the audio thread never locks or waits). Written only while the editor is open.
//!
//! The editor repaints only when something changes: while a note sounds it paces itself at
//! [`crate::editor::FRAME_INTERVAL`]; asleep (nothing moved in its last frame) it requests no
//! repaint at all, and the audio thread wakes it through [`GuiData::repaint`] (an atomic flag that
//! nice-plug-egui polls) as soon as a voice sounds or a shown value changes.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use ddsp_core::master::MasterMeters;
use ddsp_core::{EngineView, Voice};
use nice_plug::prelude::AtomicF32;
use nice_plug_egui::RepaintNotifier;

/// Harmonics and noise bands drawn (more are summed into the last bar).
pub const MAX_DRAWN: usize = 128;

pub struct GuiData {
    /// Set by the editor while it is open; the audio thread publishes nothing otherwise.
    pub editor_open: AtomicBool,
    pub peak_dbfs: AtomicF32,
    pub true_peak_dbtp: AtomicF32,
    pub momentary_lufs: AtomicF32,
    pub short_term_lufs: AtomicF32,
    pub integrated_lufs: AtomicF32,
    pub compressor_reduction_db: AtomicF32,
    pub limiter_reduction_db: AtomicF32,
    /// What the model is conditioned on now (played note or tracked input).
    pub f0_hz: AtomicF32,
    pub loudness_db: AtomicF32,
    /// The tracker's confidence (effect) or 1 while a note sounds (instrument).
    pub confidence: AtomicF32,
    pub sounding: AtomicBool,
    /// The pitch played (the effect's corrected pitch), Hz; 0 for none.
    pub played_hz: AtomicF32,
    /// The note the effect's MIDI out holds; -1 for none.
    pub midi_out_key: AtomicI32,
    /// Bit `i` set: voice `i` is running (sounding or releasing).
    pub voice_activity: AtomicU32,
    pub harmonics: [AtomicF32; MAX_DRAWN],
    pub n_harmonics: AtomicUsize,
    pub noise: [AtomicF32; MAX_DRAWN],
    pub n_noise: AtomicUsize,
    /// The voice's morph position as it glides (0..=1 each), and how many places its morph has
    /// (0: one model, no morph); bit `i` of `morph_present` set: place `i`'s model plays.
    pub morph_x: AtomicF32,
    pub morph_y: AtomicF32,
    pub morph_places: AtomicUsize,
    pub morph_present: AtomicU32,
    pub latency_samples: AtomicU32,
    /// A parameter that sets the latency changed; it applies when the host restarts audio.
    pub restart_needed: AtomicBool,
    /// Counts publications, so the editor can tell fresh data from a stopped transport.
    pub frames: AtomicU32,
    /// The editor's wake-up call: setting it is one relaxed store (real-time safe); nice-plug-egui
    /// polls it and repaints. Shared with the editor window (`editor::create`).
    pub repaint: RepaintNotifier,
    /// Set by the editor when its last frame requested no repaint; the audio thread clears it and
    /// wakes the editor once, on activity. SeqCst with the reads of [`Self::signature`], so a change
    /// published while the editor falls asleep is never missed.
    pub editor_asleep: AtomicBool,
    /// [`Self::signature`] at the last publication (audio thread only).
    published_signature: AtomicU64,
}

impl Default for GuiData {
    fn default() -> Self {
        let silent = || AtomicF32::new(f32::NEG_INFINITY);
        Self {
            editor_open: AtomicBool::new(false),
            peak_dbfs: silent(),
            true_peak_dbtp: silent(),
            momentary_lufs: silent(),
            short_term_lufs: silent(),
            integrated_lufs: silent(),
            compressor_reduction_db: AtomicF32::new(0.0),
            limiter_reduction_db: AtomicF32::new(0.0),
            f0_hz: AtomicF32::new(0.0),
            loudness_db: AtomicF32::new(-120.0),
            confidence: AtomicF32::new(0.0),
            sounding: AtomicBool::new(false),
            played_hz: AtomicF32::new(0.0),
            midi_out_key: AtomicI32::new(-1),
            voice_activity: AtomicU32::new(0),
            harmonics: std::array::from_fn(|_| AtomicF32::new(0.0)),
            n_harmonics: AtomicUsize::new(0),
            noise: std::array::from_fn(|_| AtomicF32::new(0.0)),
            n_noise: AtomicUsize::new(0),
            morph_x: AtomicF32::new(0.0),
            morph_y: AtomicF32::new(0.0),
            morph_places: AtomicUsize::new(0),
            morph_present: AtomicU32::new(0),
            latency_samples: AtomicU32::new(0),
            restart_needed: AtomicBool::new(false),
            frames: AtomicU32::new(0),
            repaint: RepaintNotifier::new(),
            editor_asleep: AtomicBool::new(false),
            published_signature: AtomicU64::new(0),
        }
    }
}

impl GuiData {
    pub fn is_open(&self) -> bool {
        self.editor_open.load(Ordering::Relaxed)
    }

    /// The voice's current controls (audio thread; stores only).
    pub fn publish_voice(&self, voice: &Voice, f0_hz: f32, loudness_db: f32, confidence: f32, sounding: bool) {
        let (harmonics, noise) = voice.controls();
        let store = |dst: &[AtomicF32; MAX_DRAWN], src: &[f32], count: &AtomicUsize| {
            let n = src.len().min(MAX_DRAWN);
            for (d, &v) in dst.iter().zip(&src[..n]) {
                d.store(v, Ordering::Relaxed);
            }
            count.store(n, Ordering::Relaxed);
        };
        store(&self.harmonics, harmonics, &self.n_harmonics);
        store(&self.noise, noise, &self.n_noise);
        match voice.morph() {
            Some(morph) => {
                let position = morph.position();
                self.morph_x.store(position.x, Ordering::Relaxed);
                self.morph_y.store(position.y, Ordering::Relaxed);
                let present = (0..morph.places()).filter(|&i| morph.is_present(i)).fold(0, |bits, i| bits | 1 << i);
                self.morph_present.store(present, Ordering::Relaxed);
                self.morph_places.store(morph.places(), Ordering::Relaxed);
            }
            None => self.morph_places.store(0, Ordering::Relaxed),
        }
        self.f0_hz.store(f0_hz, Ordering::Relaxed);
        self.loudness_db.store(loudness_db, Ordering::Relaxed);
        self.confidence.store(confidence, Ordering::Relaxed);
        self.sounding.store(sounding, Ordering::Relaxed);
        self.frames.fetch_add(1, Ordering::Release);
    }

    /// What the engine shows (audio thread; atomics only). Wakes a sleeping editor when a voice
    /// runs or anything the editor shows changed since the last publication.
    pub fn publish_view(&self, view: &EngineView) {
        self.voice_activity.store(view.voice_activity, Ordering::Relaxed);
        self.played_hz.store(view.played_hz, Ordering::Relaxed);
        self.midi_out_key.store(view.midi_out_key.map_or(-1, i32::from), Ordering::Relaxed);
        self.publish_voice(view.voice, view.f0_hz, view.loudness_db, view.confidence, view.sounding);
        self.wake_editor_on_change();
    }

    /// Wakes a sleeping editor (once: it then paces itself) when a voice runs or a shown value
    /// changed since the last call. Audio thread, after publishing; atomics only.
    pub fn wake_editor_on_change(&self) {
        let signature = self.signature();
        let changed = self.published_signature.swap(signature, Ordering::Relaxed) != signature;
        // Pairs with the editor's fence between setting `editor_asleep` and reading the values.
        std::sync::atomic::fence(Ordering::SeqCst);
        if (changed || self.is_active()) && self.editor_asleep.swap(false, Ordering::SeqCst) {
            self.repaint.request_repaint();
        }
    }

    /// A voice runs or sounds: the performance view moves.
    pub fn is_active(&self) -> bool {
        self.sounding.load(Ordering::Relaxed) || self.voice_activity.load(Ordering::Relaxed) != 0
    }

    /// A digest of every value the editor shows outside the performance view (meters, latency,
    /// the restart notice, the voices, the morph): equal digests draw the same. Atomics only.
    pub fn signature(&self) -> u64 {
        let values = [
            self.peak_dbfs.load(Ordering::Relaxed).to_bits(),
            self.true_peak_dbtp.load(Ordering::Relaxed).to_bits(),
            self.momentary_lufs.load(Ordering::Relaxed).to_bits(),
            self.short_term_lufs.load(Ordering::Relaxed).to_bits(),
            self.integrated_lufs.load(Ordering::Relaxed).to_bits(),
            self.compressor_reduction_db.load(Ordering::Relaxed).to_bits(),
            self.limiter_reduction_db.load(Ordering::Relaxed).to_bits(),
            self.latency_samples.load(Ordering::Relaxed),
            self.voice_activity.load(Ordering::Relaxed),
            self.restart_needed.load(Ordering::Relaxed) as u32 | (self.sounding.load(Ordering::Relaxed) as u32) << 1,
            self.morph_x.load(Ordering::Relaxed).to_bits(),
            self.morph_y.load(Ordering::Relaxed).to_bits(),
            self.morph_places.load(Ordering::Relaxed) as u32 | self.morph_present.load(Ordering::Relaxed) << 8,
        ];
        // FNV-1a over the words: no allocation, and a change in any one changes the digest.
        values.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &v| (h ^ u64::from(v)).wrapping_mul(0x0100_0000_01b3))
    }

    pub fn publish_meters(&self, meters: &MasterMeters) {
        let l = &meters.loudness;
        let finite = |v: f64| if v.is_finite() { v as f32 } else { f32::NEG_INFINITY };
        self.peak_dbfs.store(finite(l.sample_peak_dbfs), Ordering::Relaxed);
        self.true_peak_dbtp.store(finite(l.true_peak_dbtp), Ordering::Relaxed);
        self.momentary_lufs.store(finite(l.momentary_lufs), Ordering::Relaxed);
        self.short_term_lufs.store(finite(l.short_term_lufs), Ordering::Relaxed);
        self.integrated_lufs.store(finite(l.integrated_lufs), Ordering::Relaxed);
        self.compressor_reduction_db.store(meters.compressor_reduction_db, Ordering::Relaxed);
        self.limiter_reduction_db.store(meters.limiter_reduction_db, Ordering::Relaxed);
    }

    /// A snapshot of the frame for drawing (GUI thread).
    pub fn controls(&self) -> (Vec<f32>, Vec<f32>) {
        let read = |src: &[AtomicF32; MAX_DRAWN], count: &AtomicUsize| {
            src[..count.load(Ordering::Relaxed).min(MAX_DRAWN)].iter().map(|v| v.load(Ordering::Relaxed)).collect()
        };
        (read(&self.harmonics, &self.n_harmonics), read(&self.noise, &self.n_noise))
    }
}
