//! What the audio thread shows the editor: meters and the current model frame, through atomics
//! only (the audio thread never locks or waits). Written only while the editor is open.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use ddsp_core::master::MasterMeters;
use ddsp_core::{EngineView, Voice};
use nice_plug::prelude::AtomicF32;

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
    /// Bit `i` set: voice `i` is running (sounding or releasing).
    pub voice_activity: AtomicU32,
    pub harmonics: [AtomicF32; MAX_DRAWN],
    pub n_harmonics: AtomicUsize,
    pub noise: [AtomicF32; MAX_DRAWN],
    pub n_noise: AtomicUsize,
    pub latency_samples: AtomicU32,
    /// A parameter that sets the latency changed; it applies when the host restarts audio.
    pub restart_needed: AtomicBool,
    /// Counts publications, so the editor can tell fresh data from a stopped transport.
    pub frames: AtomicU32,
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
            voice_activity: AtomicU32::new(0),
            harmonics: std::array::from_fn(|_| AtomicF32::new(0.0)),
            n_harmonics: AtomicUsize::new(0),
            noise: std::array::from_fn(|_| AtomicF32::new(0.0)),
            n_noise: AtomicUsize::new(0),
            latency_samples: AtomicU32::new(0),
            restart_needed: AtomicBool::new(false),
            frames: AtomicU32::new(0),
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
        self.f0_hz.store(f0_hz, Ordering::Relaxed);
        self.loudness_db.store(loudness_db, Ordering::Relaxed);
        self.confidence.store(confidence, Ordering::Relaxed);
        self.sounding.store(sounding, Ordering::Relaxed);
        self.frames.fetch_add(1, Ordering::Release);
    }

    /// What the engine shows (audio thread; stores only).
    pub fn publish_view(&self, view: &EngineView) {
        self.voice_activity.store(view.voice_activity, Ordering::Relaxed);
        self.publish_voice(view.voice, view.f0_hz, view.loudness_db, view.confidence, view.sounding);
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
