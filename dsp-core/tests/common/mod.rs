//! Shared test helpers: an allocation-counting allocator, spectrum analysis and reference data.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use realfft::RealFftPlanner;

/// Counts allocations, reallocations and frees made on a thread while it is being watched.
pub struct CountingAllocator;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}
static EVENTS: AtomicUsize = AtomicUsize::new(0);
/// Set from `DDSP_ALLOC_BACKTRACE` before watching starts (reading the variable allocates).
static BACKTRACES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn note_event() {
    // `try_with`: the thread-local may already be gone while a thread shuts down.
    if WATCHING.try_with(|w| w.get()).unwrap_or(false) {
        EVENTS.fetch_add(1, Ordering::SeqCst);
        if BACKTRACES.load(Ordering::Relaxed) {
            // Stop watching while the backtrace (which allocates) is captured and printed.
            WATCHING.with(|w| w.set(false));
            eprintln!("allocation on a watched thread:\n{}", std::backtrace::Backtrace::force_capture());
            WATCHING.with(|w| w.set(true));
        }
    }
}

// SAFETY: forwards every call unchanged to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_event();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_event();
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_event();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_event();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the number of allocator calls it made on this thread.
/// Tests using it must not run other watched closures concurrently (the counter is global), so each
/// watched test file keeps them in one `#[test]`, or the count is taken per thread-local flag only.
pub fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, usize) {
    BACKTRACES.store(std::env::var_os("DDSP_ALLOC_BACKTRACE").is_some(), Ordering::Relaxed);
    let before = EVENTS.load(Ordering::SeqCst);
    WATCHING.with(|w| w.set(true));
    let r = f();
    WATCHING.with(|w| w.set(false));
    (r, EVENTS.load(Ordering::SeqCst) - before)
}

pub fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

pub fn models_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models").join(name)
}

/// Kaiser window (β = 14: side lobes near -110 dB).
pub fn kaiser(n: usize, beta: f64) -> Vec<f64> {
    fn i0(x: f64) -> f64 {
        let (mut sum, mut term) = (1.0, 1.0);
        for k in 1..60 {
            term *= (x / (2.0 * k as f64)).powi(2);
            sum += term;
        }
        sum
    }
    (0..n)
        .map(|i| {
            let r = 2.0 * i as f64 / (n - 1) as f64 - 1.0;
            i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0(beta)
        })
        .collect()
}

/// Magnitude spectrum (linear) of `x · window`, zero-padded to `fft_len`.
pub fn magnitude_spectrum(x: &[f32], window: &[f64], fft_len: usize) -> Vec<f64> {
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(fft_len);
    let mut input = vec![0.0; fft_len];
    for ((dst, &v), &w) in input.iter_mut().zip(x).zip(window) {
        *dst = f64::from(v) * w;
    }
    let mut out = fft.make_output_vec();
    fft.process(&mut input, &mut out).unwrap();
    out.iter().map(|c| c.norm()).collect()
}

/// Frequency of the strongest peak, refined by a parabola through the log magnitudes.
pub fn peak_frequency_hz(x: &[f32], sample_rate_hz: f64, fft_len: usize) -> f64 {
    let window: Vec<f64> =
        (0..x.len()).map(|n| 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / x.len() as f64).cos()).collect();
    let mag = magnitude_spectrum(x, &window, fft_len);
    let k = (1..mag.len() - 1).max_by(|&a, &b| mag[a].total_cmp(&mag[b])).unwrap();
    let (a, b, c) = (mag[k - 1].ln(), mag[k].ln(), mag[k + 1].ln());
    let delta = 0.5 * (a - c) / (a - 2.0 * b + c);
    (k as f64 + delta) * sample_rate_hz / fft_len as f64
}

pub fn cents(measured_hz: f64, expected_hz: f64) -> f64 {
    1200.0 * (measured_hz / expected_hz).log2()
}

pub fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Deterministic pseudo-random numbers for tests (no extra dependency).
pub struct TestRng(pub u64);

impl TestRng {
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    pub fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.next_u32() as usize % (hi_inclusive - lo + 1)
    }
    pub fn unit(&mut self) -> f32 {
        self.next_u32() as f32 / u32::MAX as f32
    }
}

/// The error a bad model file must give (panics if it loads).
pub fn load_err(bytes: &[u8]) -> ddsp_core::ModelError {
    match ddsp_core::Model::from_bytes(bytes, ddsp_core::ModelSource::Embedded("bad")) {
        Ok(m) => panic!("a bad model loaded: {m:?}"),
        Err(e) => e,
    }
}

/// Replaces every occurrence of `from` in a model file by `to` (same length keeps the framing of
/// protobuf and flatbuffer files); panics if there is none.
pub fn patch(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut at = 0;
    while let Some(p) = out[at..].windows(from.len()).position(|w| w == from.as_bytes()) {
        out[at + p..at + p + to.len()].copy_from_slice(to.as_bytes());
        at += p + to.len();
    }
    assert!(at > 0, "pattern {from} present");
    out
}

/// The strongest peak within ±`span_cents` of `expected_hz` (Hann window, FFT of `fft_len`,
/// parabolic refinement): its frequency and level in dB. One note of a chord, measured alone.
pub fn peak_near(x: &[f32], sample_rate_hz: f64, expected_hz: f64, span_cents: f64, fft_len: usize) -> (f64, f64) {
    let window: Vec<f64> =
        (0..x.len()).map(|n| 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / x.len() as f64).cos()).collect();
    let mag = magnitude_spectrum(x, &window, fft_len);
    let bin = |hz: f64| (hz * fft_len as f64 / sample_rate_hz).round() as usize;
    let ratio = 2f64.powf(span_cents / 1200.0);
    let (lo, hi) = (bin(expected_hz / ratio).max(1), bin(expected_hz * ratio).min(mag.len() - 2));
    let k = (lo..=hi).max_by(|&a, &b| mag[a].total_cmp(&mag[b])).unwrap();
    let (a, b, c) = (mag[k - 1].max(1e-300).ln(), mag[k].max(1e-300).ln(), mag[k + 1].max(1e-300).ln());
    let delta = 0.5 * (a - c) / (a - 2.0 * b + c);
    let delta = if delta.is_finite() { delta.clamp(-0.5, 0.5) } else { 0.0 };
    ((k as f64 + delta) * sample_rate_hz / fft_len as f64, 20.0 * mag[k].max(1e-300).log10())
}

pub fn midi_hz(note: f64) -> f64 {
    440.0 * 2f64.powf((note - 69.0) / 12.0)
}
