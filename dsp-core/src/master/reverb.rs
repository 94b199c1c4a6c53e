//! Algorithmic reverb: pre-delay, then parallel damped feedback combs into series all-passes per
//! channel (Schroeder–Moorer, with Jezar's Freeverb tunings), stereo width by cross-mixing the two
//! tanks. Density (how many combs) follows the quality level. The reverb is a return added to the
//! dry signal, which passes untouched.

/// Comb lengths at 44.1 kHz (Freeverb's eight, then four more mutually prime ones for density).
const COMB_TUNING: [usize; MAX_COMBS] = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617, 1687, 1733, 1811, 1877];
const ALLPASS_TUNING: [usize; 4] = [556, 441, 341, 225];
/// Right-tank offset, samples at 44.1 kHz: decorrelates the channels.
const STEREO_SPREAD: usize = 23;
pub const MAX_COMBS: usize = 12;
pub const MAX_PREDELAY_MS: f32 = 250.0;
/// Input attenuation into the tank (keeps 12 summed combs below full scale).
const INPUT_GAIN: f32 = 0.015;
const WET_SCALE: f32 = 3.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReverbSettings {
    pub enabled: bool,
    /// Room size 0..1 (comb feedback 0.7..0.98).
    pub size: f32,
    /// High-frequency damping 0..1.
    pub damping: f32,
    pub predelay_ms: f32,
    /// Stereo width 0 (mono) .. 1.
    pub width: f32,
    /// Level of the reverb return, dB.
    pub wet_db: f32,
}

impl Default for ReverbSettings {
    fn default() -> Self {
        Self { enabled: true, size: 0.6, damping: 0.4, predelay_ms: 20.0, width: 1.0, wet_db: -14.0 }
    }
}

struct Comb {
    buffer: Vec<f32>,
    pos: usize,
    filter_state: f32,
}

impl Comb {
    #[inline]
    fn tick(&mut self, x: f32, feedback: f32, damp: f32) -> f32 {
        let y = self.buffer[self.pos];
        self.filter_state = y * (1.0 - damp) + self.filter_state * damp;
        self.buffer[self.pos] = x + self.filter_state * feedback;
        self.pos = if self.pos + 1 == self.buffer.len() { 0 } else { self.pos + 1 };
        y
    }
}

struct Allpass {
    buffer: Vec<f32>,
    pos: usize,
}

impl Allpass {
    #[inline]
    fn tick(&mut self, x: f32) -> f32 {
        const FEEDBACK: f32 = 0.5;
        let delayed = self.buffer[self.pos];
        self.buffer[self.pos] = x + delayed * FEEDBACK;
        self.pos = if self.pos + 1 == self.buffer.len() { 0 } else { self.pos + 1 };
        delayed - x
    }
}

struct Tank {
    combs: Vec<Comb>,
    allpasses: Vec<Allpass>,
}

impl Tank {
    fn new(sample_rate_hz: f32, offset: usize) -> Self {
        let scale = sample_rate_hz / 44_100.0;
        let len = |n: usize| (((n + offset) as f32 * scale) as usize).max(1);
        Self {
            combs: COMB_TUNING.iter().map(|&n| Comb { buffer: vec![0.0; len(n)], pos: 0, filter_state: 0.0 }).collect(),
            allpasses: ALLPASS_TUNING.iter().map(|&n| Allpass { buffer: vec![0.0; len(n)], pos: 0 }).collect(),
        }
    }

    fn reset(&mut self) {
        for c in &mut self.combs {
            c.buffer.fill(0.0);
            c.filter_state = 0.0;
        }
        for a in &mut self.allpasses {
            a.buffer.fill(0.0);
        }
    }

    #[inline]
    fn tick(&mut self, x: f32, n_combs: usize, feedback: f32, damp: f32) -> f32 {
        let mut sum = 0.0;
        for comb in &mut self.combs[..n_combs] {
            sum += comb.tick(x, feedback, damp);
        }
        // Keep the level independent of the density.
        let mut y = sum * (8.0 / n_combs as f32);
        for allpass in &mut self.allpasses {
            y = allpass.tick(y);
        }
        y
    }
}

/// Lifecycle: `new` allocates every delay line (the longest pre-delay included); the rest never
/// allocates.
pub struct Reverb {
    sample_rate_hz: f32,
    settings: ReverbSettings,
    n_combs: usize,
    tanks: [Tank; 2],
    predelay: Vec<f32>,
    predelay_pos: usize,
}

impl Reverb {
    /// `n_combs` (1..=12) per channel sets the density.
    pub fn new(sample_rate_hz: f32, settings: ReverbSettings, n_combs: usize) -> Self {
        Self {
            sample_rate_hz,
            settings,
            n_combs: n_combs.clamp(1, MAX_COMBS),
            tanks: [Tank::new(sample_rate_hz, 0), Tank::new(sample_rate_hz, STEREO_SPREAD)],
            predelay: vec![0.0; (MAX_PREDELAY_MS * 0.001 * sample_rate_hz) as usize + 1],
            predelay_pos: 0,
        }
    }

    pub fn set_settings(&mut self, settings: ReverbSettings) {
        self.settings = settings;
    }

    pub fn set_density(&mut self, n_combs: usize) {
        self.n_combs = n_combs.clamp(1, MAX_COMBS);
    }

    pub fn reset(&mut self) {
        self.tanks.iter_mut().for_each(Tank::reset);
        self.predelay.fill(0.0);
        self.predelay_pos = 0;
    }

    /// Adds the reverb of the (mono-summed) input to both channels, in place.
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let s = self.settings;
        if !s.enabled {
            return;
        }
        let feedback = 0.7 + 0.28 * s.size.clamp(0.0, 1.0);
        let damp = 0.4 * s.damping.clamp(0.0, 1.0);
        let wet = 10f32.powf(s.wet_db.min(12.0) / 20.0) * WET_SCALE;
        let width = s.width.clamp(0.0, 1.0);
        let (wet_same, wet_cross) = (wet * (0.5 + 0.5 * width), wet * (0.5 - 0.5 * width));
        let len = self.predelay.len();
        let delay = ((s.predelay_ms.clamp(0.0, MAX_PREDELAY_MS) * 0.001 * self.sample_rate_hz) as usize).min(len - 1);
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            self.predelay[self.predelay_pos] = (*l + *r) * INPUT_GAIN;
            let x = self.predelay[(self.predelay_pos + len - delay) % len];
            self.predelay_pos = (self.predelay_pos + 1) % len;
            let out_l = self.tanks[0].tick(x, self.n_combs, feedback, damp);
            let out_r = self.tanks[1].tick(x, self.n_combs, feedback, damp);
            *l += out_l * wet_same + out_r * wet_cross;
            *r += out_r * wet_same + out_l * wet_cross;
        }
    }
}
