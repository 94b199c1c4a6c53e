//! The host's pace: whether it renders offline, how far its audio clock runs ahead of the wall
//! clock, and so how long the audio thread may wait for a windowed model's worker.
//!
//! # When the audio thread may wait
//! A windowed model's controls come from a worker thread ([`super::windowed`]). A real-time host
//! must never wait for it: a late result holds the previous controls. But a host that renders
//! faster than real time (a bounce, an export, a batch tool) pushes frames far quicker than any
//! worker answers, and every result would be late: the export would be silent. So:
//!
//! - **Offline** (the host says so: CLAP render mode offline, VST3 `kOffline`): every result is
//!   waited for, up to [`OFFLINE_WAIT_CAP`] per frame (a worker that answers nothing in that long
//!   is stuck; the stream then stops waiting until a result arrives on time again). The output
//!   then equals an offline render ([`super::RunMode::Offline`]) exactly, and the audio thread
//!   still allocates nothing.
//! - **Real time, but evidently not paced by a sound card**: a sample rendered at wall time `t`
//!   cannot be played before `t`, and a sound card plays at the audio rate, so a block rendered now
//!   is not due before `now + lead`, where `lead` is how far the audio clock has run ahead of the
//!   wall clock since any earlier process call: `lead = max(0, lead + previous_block_s − elapsed_s)`
//!   per block. A real-time host's lead is bounded by its output buffering (a few blocks; REAPER's
//!   anticipative processing renders at most 200 ms ahead by default). A lead above
//!   [`FAST_HOST_LEAD_S`] means nobody is listening in real time; the block may then wait until
//!   `now + lead − FAST_HOST_LEAD_S`, which leaves the host at least that much slack, so the wait
//!   cannot cause a dropout even if the guess is wrong. Below it nothing ever waits (the old
//!   behaviour: a late result holds the previous controls, counted as a missed frame).
//!
//! Measured (`host-tests/tests/clap_windowed_offline.rs`, the debug .clap on a loaded 2-core
//! machine): `windowed_ref.onnx`, 3 s rendered back to back, with the offline flag in 0.31 s (10x
//! real time) and sample for sample the offline render; without it in 0.18 s (17x), the offline
//! render from 1.5 s on (the lead passes the threshold after about 0.55 s of audio); before that,
//! as in real time, results arrive late. Without a pace the same render in dsp-core
//! (`tests/windowed.rs`) came out at −inf dB RMS.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lead over the wall clock (s) beyond which a host is taken to render faster than real time.
pub const FAST_HOST_LEAD_S: f64 = 0.5;

/// Longest an offline host's audio thread waits for one frame's result.
pub const OFFLINE_WAIT_CAP: Duration = Duration::from_secs(1);

/// What the audio thread tells the model workers' consumers about the host's pace. Shared by the
/// voices of one engine (`Arc`); written once per block by [`PaceClock::begin_block`] on the audio
/// thread, read by the windowed streams on the same thread. Atomics only: never locks.
#[derive(Debug)]
pub struct HostPace {
    epoch: Instant,
    offline: AtomicBool,
    /// Nanoseconds after `epoch` until which this block may wait; 0: never wait.
    wait_until_ns: AtomicU64,
}

impl Default for HostPace {
    fn default() -> Self {
        Self { epoch: Instant::now(), offline: AtomicBool::new(false), wait_until_ns: AtomicU64::new(0) }
    }
}

impl HostPace {
    /// The host renders offline (every result waited for) or in real time.
    pub fn set_offline(&self, offline: bool) {
        self.offline.store(offline, Ordering::Relaxed);
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Relaxed)
    }

    /// Until when the audio thread may wait for a result now; `None`: not at all. Never allocates.
    pub fn wait_deadline(&self) -> Option<Instant> {
        if self.is_offline() {
            return Some(Instant::now() + OFFLINE_WAIT_CAP);
        }
        match self.wait_until_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns)),
        }
    }
}

/// The audio thread's measure of the host's lead over the wall clock (see the module docs).
#[derive(Debug, Default)]
pub struct PaceClock {
    last_call: Option<Instant>,
    last_block_s: f64,
    lead_s: f64,
}

impl PaceClock {
    /// Call at the start of every process call with its length; sets how long this block may
    /// wait in `pace`. Never allocates, locks or waits (one clock read).
    pub fn begin_block(&mut self, pace: &HostPace, samples: usize, sample_rate_hz: f32) {
        let now = Instant::now();
        if let Some(last) = self.last_call {
            self.lead_s = (self.lead_s + self.last_block_s - now.duration_since(last).as_secs_f64()).max(0.0);
        }
        self.last_call = Some(now);
        self.last_block_s = samples as f64 / f64::from(sample_rate_hz.max(1.0));
        let until = if self.lead_s > FAST_HOST_LEAD_S {
            let deadline = now + Duration::from_secs_f64(self.lead_s - FAST_HOST_LEAD_S);
            (deadline.duration_since(pace.epoch).as_nanos() as u64).max(1)
        } else {
            0
        };
        pace.wait_until_ns.store(until, Ordering::Relaxed);
    }

    /// Seconds of audio the host has rendered ahead of the wall clock.
    pub fn lead_s(&self) -> f64 {
        self.lead_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_host_never_waits_and_a_fast_one_waits_only_beyond_the_threshold() {
        let pace = HostPace::default();
        let mut clock = PaceClock::default();
        // Paced: 1 ms blocks, 1 ms apart (the sleep is at least as long).
        for _ in 0..20 {
            clock.begin_block(&pace, 48, 48_000.0);
            assert!(pace.wait_deadline().is_none());
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(clock.lead_s() < 0.002, "lead {}", clock.lead_s());
        // Back to back: 0.1 s blocks; the lead passes the threshold after six of them.
        let mut waits = Vec::new();
        for _ in 0..10 {
            clock.begin_block(&pace, 4_800, 48_000.0);
            waits.push(pace.wait_deadline().is_some());
        }
        assert_eq!(waits.iter().position(|&w| w), Some(6), "{waits:?} (lead {})", clock.lead_s());
        let left = pace.wait_deadline().unwrap().duration_since(Instant::now()).as_secs_f64();
        assert!(left <= clock.lead_s() - FAST_HOST_LEAD_S + 1e-3 && left > 0.3, "{left}");
        // The offline flag waits regardless of the lead.
        pace.set_offline(true);
        assert!(pace.wait_deadline().is_some());
    }
}
