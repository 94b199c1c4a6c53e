//! Pitch-aligned latency: tracker frames re-timed so that the pitch and the loudness they carry
//! both describe the input a fixed time ago.
//!
//! ```text
//! tracker frame (now) ─ stamped: pitch of (now − its pitch delay), loudness of (now − ½ window) ─ ring
//!   ring ─ the pitch as it was at (now − pitch target), the loudness at (now − loudness target) ─▶ frame
//! ```
//!
//! A frame's pitch is older than its loudness, and how much older depends on the note: the tracker
//! must see a period twice before it knows it (2.7 ms of delay at 2 kHz, 5.9 ms at 220 Hz, 10.4 ms
//! at 110 Hz; [`crate::tracking::PitchTracker::delay_s`]; a new note's first estimate is older
//! still, 15.0 ms at 110 Hz: [`crate::tracking::PitchTracker::latest_delay_s`] stamps each frame
//! with its own, and the target is a new note's at the lowest aligned note), where the loudness's
//! window is ≤ 4 ms for notes from 250 Hz up. Played straight (the effect's low-latency mode) a low note's pitch
//! therefore reaches the output later than its loudness and later than the latency the host is
//! told. Aligned, every frame waits in a ring until the instant its pitch describes is the target
//! delay ago, and the loudness of that same instant is taken from the frame that measured it, both
//! interpolated between the two frames that straddle it: for every note down to the one the target
//! was set for, pitch, loudness, voicing and the notes sent as MIDI come out exactly the target
//! late, and the host's delay compensation lines them up with the track. Lower notes come as soon as
//! they can (their pitch is older than the target when it arrives).
//!
//! Lifecycle: [`FrameAligner::new`] sets the state (a fixed array); `push`, `aligned` and `reset`
//! never allocate.

use crate::tracking::TrackerFrame;

/// Frames the ring holds: 256 hops of ≈1 ms, far beyond the longest target (a new note's delay at
/// the tracker's lowest note, 37 ms at 40 Hz).
const CAPACITY: usize = 256;

#[derive(Clone, Copy, Debug, Default)]
struct Stamped {
    frame: TrackerFrame,
    /// The input sample the frame's pitch describes, and the one its loudness does.
    pitch_at: f64,
    loudness_at: f64,
}

/// See the module's documentation.
#[derive(Clone, Debug)]
pub struct FrameAligner {
    ring: [Stamped; CAPACITY],
    /// Frames pushed since the last reset; frame `i` sits at `i % CAPACITY`.
    pushed: u64,
    /// The newest frames whose pitch (and whose loudness) describes an instant no later than the
    /// last target: where the next search starts.
    pitch_cursor: u64,
    loudness_cursor: u64,
}

impl Default for FrameAligner {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameAligner {
    pub fn new() -> Self {
        Self { ring: [Stamped::default(); CAPACITY], pushed: 0, pitch_cursor: 0, loudness_cursor: 0 }
    }

    /// Forgets every frame.
    pub fn reset(&mut self) {
        (self.pushed, self.pitch_cursor, self.loudness_cursor) = (0, 0, 0);
    }

    /// Adds the tracker's newest frame, whose pitch is `pitch_delay` samples old when it arrives
    /// (at `frame.at_sample`) and whose loudness is `loudness_delay` samples old.
    pub fn push(&mut self, frame: &TrackerFrame, pitch_delay: f64, loudness_delay: f64) {
        let now = frame.at_sample as f64;
        let stamped = Stamped { frame: *frame, pitch_at: now - pitch_delay, loudness_at: now - loudness_delay };
        self.ring[(self.pushed % CAPACITY as u64) as usize] = stamped;
        self.pushed += 1;
    }

    /// The frame for the latest frame's time stamp: its pitch, confidence and voicing as the input
    /// was `pitch_target` samples before it, its loudness as it was `loudness_target` samples
    /// before. Before any frame describes an instant that old: unvoiced, at `floor_db`.
    pub fn aligned(&mut self, pitch_target: f64, loudness_target: f64, floor_db: f32) -> TrackerFrame {
        let Some(newest) = self.pushed.checked_sub(1) else {
            return TrackerFrame { loudness_db: floor_db, ..TrackerFrame::default() };
        };
        let now = self.get(newest).frame.at_sample;
        let pitch_when = now as f64 - pitch_target;
        let mut frame = match self.due(self.pitch_cursor, pitch_when, |s| s.pitch_at) {
            None => TrackerFrame { loudness_db: floor_db, ..TrackerFrame::default() },
            Some((i, t)) => {
                self.pitch_cursor = i;
                let (mut frame, after) = (self.get(i).frame, self.next(i).frame);
                if t > 0.0 && frame.voiced && after.voiced && frame.f0_hz > 0.0 && after.f0_hz > 0.0 {
                    frame.f0_hz *= (after.f0_hz / frame.f0_hz).powf(t as f32);
                }
                frame
            }
        };
        let loudness_when = now as f64 - loudness_target;
        frame.loudness_db = match self.due(self.loudness_cursor, loudness_when, |s| s.loudness_at) {
            None => floor_db,
            Some((j, t)) => {
                self.loudness_cursor = j;
                let (before, after) = (self.get(j).frame.loudness_db, self.next(j).frame.loudness_db);
                before + (after - before) * t as f32
            }
        };
        frame.at_sample = now;
        frame
    }

    fn get(&self, i: u64) -> &Stamped {
        &self.ring[(i % CAPACITY as u64) as usize]
    }

    /// Frame `i + 1`, or `i` when it is the newest.
    fn next(&self, i: u64) -> &Stamped {
        self.get((i + 1).min(self.pushed - 1))
    }

    /// The newest frame (from `cursor`, the last one chosen, on) whose instant (`at`) is no later
    /// than `when`, and where `when` falls between it and the frame after it (0..1). A frame that
    /// arrives later may describe an earlier instant (a lower note's pitch is older): the newest due
    /// frame is the one that knows most. `None` while none is due.
    fn due(&self, cursor: u64, when: f64, at: impl Fn(&Stamped) -> f64) -> Option<(u64, f64)> {
        let oldest = self.pushed.saturating_sub(CAPACITY as u64);
        let first = cursor.max(oldest);
        let i = (first..self.pushed).rev().find(|&i| at(self.get(i)) <= when)?;
        let (a, b) = (at(self.get(i)), at(self.next(i)));
        let t = if b > a { ((when - a) / (b - a)).clamp(0.0, 1.0) } else { 0.0 };
        Some((i, t))
    }
}
