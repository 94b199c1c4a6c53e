//! Pitch correction: the tracked pitch, optionally smoothed, pulled towards the nearest note of a
//! key and scale with a set strength and retune time; raw (microtonal) when correction is off.
//!
//! ```text
//! tracked f0 ─ smoothing (one pole, in semitones) ─┬───────────────────────────────── + ─ corrected
//!                                                  └ nearest scale note (hysteresis) ─ offset ─┘
//!                                                        offset = strength · (note − pitch), gliding
//!                                                        to its target in the retune time
//! ```
//!
//! The correction is an offset that glides: on a held note it reaches the note within the retune
//! time (95 %), so a retune time longer than a vibrato's period keeps the vibrato (centred on the
//! note) while a short one flattens it. A note change glides to the new note in the same time; a
//! note started from silence starts in tune. Runs once per tracker frame; never allocates.

/// Bit `i` set: the note `i` semitones above the key's root belongs to the scale.
pub type ScaleMask = u16;

pub const CHROMATIC: ScaleMask = 0xFFF;
/// Degrees 0 2 4 5 7 9 11.
pub const MAJOR: ScaleMask = 0xAB5;
/// Natural minor: degrees 0 2 3 5 7 8 10.
pub const MINOR: ScaleMask = 0x5AD;

/// Within this much (semitones) of being nearer another scale note, the current one is kept, so
/// a pitch sitting between two notes does not flip from one to the other on every frame.
pub const NOTE_HYSTERESIS_ST: f32 = 0.15;
/// The retune time is when the offset has covered this fraction of a change (`−ln(1 − 0.95)` ≈ 3
/// time constants).
const RETUNE_FRACTION: f32 = 0.95;

/// How the played pitch follows the tracked one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PitchMode {
    /// As tracked, microtonal (after the smoothing).
    Raw,
    /// Pulled towards the scale's notes.
    Scale,
}

/// Pitch correction's controls, in plain units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CorrectionSettings {
    pub mode: PitchMode,
    /// The key's root as a pitch class, 0 = C … 11 = B.
    pub root: u8,
    /// The scale's notes relative to the root ([`CHROMATIC`], [`MAJOR`], [`MINOR`] or any other);
    /// an empty mask counts as chromatic.
    pub scale: ScaleMask,
    /// 0 = no correction, 1 = all the way to the note.
    pub strength: f32,
    /// Time to reach the note (95 % of the way), ms; 0 snaps at once.
    pub retune_ms: f32,
    /// Pitch smoothing (a one-pole glide over the tracked pitch), ms; 0 = none. Also what a change
    /// of note glides over before the correction, so it works as portamento.
    pub smoothing_ms: f32,
}

impl Default for CorrectionSettings {
    fn default() -> Self {
        Self { mode: PitchMode::Raw, root: 0, scale: CHROMATIC, strength: 1.0, retune_ms: 20.0, smoothing_ms: 0.0 }
    }
}

/// MIDI note number (fractional) of `f0_hz`.
pub fn hz_to_semitones(f0_hz: f32) -> f32 {
    69.0 + 12.0 * (f0_hz / 440.0).log2()
}

/// Frequency of MIDI note number `semitones` (fractional).
pub fn semitones_to_hz(semitones: f32) -> f32 {
    440.0 * ((semitones - 69.0) / 12.0).exp2()
}

/// The scale note (MIDI note number) nearest `pitch`.
pub fn nearest_scale_note(pitch: f32, root: u8, scale: ScaleMask) -> f32 {
    let scale = if scale & CHROMATIC == 0 { CHROMATIC } else { scale & CHROMATIC };
    let centre = pitch.round();
    // A scale note is at most 6 semitones away (any non-empty 12-note mask has one within ±6).
    let mut best = centre;
    let mut best_distance = f32::INFINITY;
    for step in -6i32..=6 {
        let note = centre + step as f32;
        let degree = (note as i32 - i32::from(root % 12)).rem_euclid(12);
        if scale & (1 << degree) != 0 {
            let distance = (pitch - note).abs();
            if distance < best_distance {
                best = note;
                best_distance = distance;
            }
        }
    }
    best
}

/// Interval names of a scale's degrees, semitones above the root.
const DEGREES: [&str; 12] = ["1", "♭2", "2", "♭3", "3", "4", "♯4", "5", "♭6", "6", "♭7", "7"];

/// "1 2 3 4 5 6 7" for the major scale.
pub fn scale_to_string(mask: ScaleMask) -> String {
    let names: Vec<&str> = (0..12).filter(|d| mask & (1 << d) != 0).map(|d| DEGREES[d]).collect();
    names.join(" ")
}

/// The inverse of [`scale_to_string`], also taking "chromatic", "major" and "minor"; `#` and
/// `b` stand for `♯` and `♭`.
pub fn string_to_scale(text: &str) -> Option<ScaleMask> {
    match text.trim().to_ascii_lowercase().as_str() {
        "chromatic" => return Some(CHROMATIC),
        "major" => return Some(MAJOR),
        "minor" => return Some(MINOR),
        _ => {}
    }
    let mut mask = 0;
    for word in text.split([' ', ',']).filter(|w| !w.is_empty()) {
        let word = word.replace('#', "♯").replace('b', "♭");
        mask |= 1 << DEGREES.iter().position(|d| *d == word)?;
    }
    (mask != 0).then_some(mask)
}

/// A key's root as a pitch class: "C", "F#", "Bb", "e♭" (case-insensitive).
pub fn parse_key(text: &str) -> Option<u8> {
    let mut chars = text.trim().chars();
    let letter = chars.next()?.to_ascii_uppercase();
    let natural: i32 = match letter {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    };
    let accidental = match chars.as_str() {
        "" => 0,
        "#" | "♯" => 1,
        "b" | "♭" => -1,
        _ => return None,
    };
    Some((natural + accidental).rem_euclid(12) as u8)
}

/// Lifecycle: `new` and `reset` set the state; [`PitchCorrector::frame`] never allocates.
#[derive(Clone, Debug)]
pub struct PitchCorrector {
    hop_s: f32,
    /// The smoothed pitch, MIDI note number; `None` until a voiced frame (and after silence).
    smoothed: Option<f32>,
    /// The scale note the pitch is pulled to.
    note: f32,
    /// Correction added to the smoothed pitch, semitones.
    offset: f32,
}

impl PitchCorrector {
    /// A corrector fed one frame every `hop_s` seconds.
    pub fn new(hop_s: f32) -> Self {
        Self { hop_s, smoothed: None, note: 0.0, offset: 0.0 }
    }

    /// The scale note the pitch is being pulled to (MIDI note number), while correcting a voiced
    /// input; `None` in [`PitchMode::Raw`] and while unvoiced.
    pub fn note(&self, s: &CorrectionSettings) -> Option<f32> {
        (s.mode == PitchMode::Scale && self.smoothed.is_some()).then_some(self.note)
    }

    pub fn reset(&mut self) {
        self.smoothed = None;
        self.offset = 0.0;
    }

    /// One tracker frame: `f0_hz` when the input is voiced (`None`: unvoiced, the state holds and
    /// the next voiced frame starts a new note). Returns the corrected pitch in Hz, or `None`
    /// while unvoiced.
    pub fn frame(&mut self, f0_hz: Option<f32>, s: &CorrectionSettings) -> Option<f32> {
        let Some(f0_hz) = f0_hz.filter(|f| f.is_finite() && *f > 0.0) else {
            self.smoothed = None;
            return None;
        };
        let pitch = hz_to_semitones(f0_hz);
        let onset = self.smoothed.is_none();
        let smoothed = match self.smoothed {
            Some(previous) => previous + (pitch - previous) * self.step(s.smoothing_ms, 1.0),
            None => pitch,
        };
        self.smoothed = Some(smoothed);
        if s.mode == PitchMode::Raw {
            self.offset = 0.0;
            return Some(semitones_to_hz(smoothed));
        }
        let candidate = nearest_scale_note(smoothed, s.root, s.scale);
        if onset || (smoothed - candidate).abs() + NOTE_HYSTERESIS_ST < (smoothed - self.note).abs() {
            self.note = candidate;
        }
        let strength = if s.strength.is_finite() { s.strength.clamp(0.0, 1.0) } else { 1.0 };
        let target = strength * (self.note - smoothed);
        let retune_constants = -(1.0 - RETUNE_FRACTION).ln();
        self.offset = if onset {
            target
        } else {
            self.offset + (target - self.offset) * self.step(s.retune_ms, retune_constants)
        };
        Some(semitones_to_hz(smoothed + self.offset))
    }

    /// The share of the way a one-pole glide moves per frame, for a glide whose `time_ms` is
    /// `time_constants` time constants long (0 or less: all of it).
    fn step(&self, time_ms: f32, time_constants: f32) -> f32 {
        if !(time_ms > 0.0) {
            return 1.0;
        }
        let tau_s = time_ms * 1e-3 / time_constants;
        1.0 - (-self.hop_s / tau_s).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_note_follows_the_scale_and_key() {
        // C major around F#4 (66): F (65) and G (67) are equidistant; E♭ is not in C major.
        assert_eq!(nearest_scale_note(63.1, 0, MAJOR), 64.0);
        assert_eq!(nearest_scale_note(62.9, 0, MAJOR), 62.0);
        // D minor: C# is not in it, C and D are.
        assert_eq!(nearest_scale_note(61.4, 2, MINOR), 62.0);
        assert_eq!(nearest_scale_note(60.6, 2, MINOR), 60.0);
        // A scale of one note (A): everything goes to the nearest A.
        assert_eq!(nearest_scale_note(74.0, 9, 1), 69.0);
        assert_eq!(nearest_scale_note(76.0, 9, 1), 81.0);
        assert_eq!(nearest_scale_note(60.2, 0, 0), 60.0, "an empty mask is chromatic");
    }

    #[test]
    fn custom_scales_read_and_print_as_degrees() {
        assert_eq!(scale_to_string(MAJOR), "1 2 3 4 5 6 7");
        assert_eq!(scale_to_string(MINOR), "1 2 ♭3 4 5 ♭6 ♭7");
        assert_eq!(string_to_scale("1 2 b3 4 5 b6 b7"), Some(MINOR));
        assert_eq!(string_to_scale("1, 3, 5"), Some(0b1001_0001));
        assert_eq!(string_to_scale("1 9"), None);
        assert_eq!(string_to_scale(""), None);
    }

    #[test]
    fn keys_parse_with_accidentals() {
        assert_eq!(parse_key("C"), Some(0));
        assert_eq!(parse_key("f#"), Some(6));
        assert_eq!(parse_key("Bb"), Some(10));
        assert_eq!(parse_key("C♭"), Some(11));
        assert_eq!(parse_key("H"), None);
        assert_eq!(string_to_scale("Minor"), Some(MINOR));
    }

    #[test]
    fn raw_mode_is_the_tracked_pitch() {
        let mut c = PitchCorrector::new(0.001);
        let s = CorrectionSettings::default();
        let out = c.frame(Some(443.0), &s).unwrap();
        assert!((out - 443.0).abs() < 1e-3);
        assert_eq!(c.frame(None, &s), None);
    }

    #[test]
    fn a_held_detuned_note_reaches_the_note_in_the_retune_time() {
        let s = CorrectionSettings { mode: PitchMode::Scale, retune_ms: 30.0, ..CorrectionSettings::default() };
        let mut c = PitchCorrector::new(0.001);
        // Starts in tune (from silence), then the sung pitch moves 40 cents sharp of A4 at once.
        c.frame(Some(440.0), &s);
        let sharp = semitones_to_hz(69.4);
        let cents: Vec<f32> =
            (0..60).map(|_| 100.0 * (hz_to_semitones(c.frame(Some(sharp), &s).unwrap()) - 69.0)).collect();
        // The offset jumps with the pitch (40 cents), then glides back: 95 % of the way in 30 ms.
        assert!(cents[0] > 35.0, "{}", cents[0]);
        assert!((cents[29] - 2.0).abs() < 0.3, "{}", cents[29]);
        assert!(cents[59].abs() < 0.2);
    }
}
