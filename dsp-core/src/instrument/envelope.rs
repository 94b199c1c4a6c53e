//! ADSR envelope on linear amplitude, per sample, retriggerable from any level without a jump.

/// Envelope times in ms and sustain level (linear, 0..1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdsrSettings {
    pub attack_ms: f32,
    pub decay_ms: f32,
    pub sustain: f32,
    pub release_ms: f32,
}

impl Default for AdsrSettings {
    fn default() -> Self {
        Self { attack_ms: 30.0, decay_ms: 200.0, sustain: 0.8, release_ms: 250.0 }
    }
}

impl AdsrSettings {
    pub fn sanitised(self) -> Self {
        let d = Self::default();
        let ms = |v: f32, default: f32| if v.is_finite() { v.clamp(0.0, 30_000.0) } else { default };
        Self {
            attack_ms: ms(self.attack_ms, d.attack_ms),
            decay_ms: ms(self.decay_ms, d.decay_ms),
            sustain: if self.sustain.is_finite() { self.sustain.clamp(0.0, 1.0) } else { d.sustain },
            release_ms: ms(self.release_ms, d.release_ms),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Idle,
    Attack,
    Decay,
    Sustain,
    Release,
}

/// Attack rises linearly, decay and release fall linearly (in amplitude) over their set times,
/// starting from wherever the envelope is, so retriggers and early releases never click.
#[derive(Clone, Debug)]
pub struct Adsr {
    sample_rate_hz: f32,
    settings: AdsrSettings,
    stage: Stage,
    level: f32,
    step: f32,
}

impl Adsr {
    pub fn new(sample_rate_hz: f32, settings: AdsrSettings) -> Self {
        Self { sample_rate_hz, settings: settings.sanitised(), stage: Stage::Idle, level: 0.0, step: 0.0 }
    }

    pub fn set_settings(&mut self, settings: AdsrSettings) {
        self.settings = settings.sanitised();
    }

    pub fn reset(&mut self) {
        self.stage = Stage::Idle;
        self.level = 0.0;
    }

    pub fn is_active(&self) -> bool {
        self.stage != Stage::Idle
    }

    /// The current level (linear, 0..1).
    pub fn level(&self) -> f32 {
        self.level
    }

    fn per_sample(&self, distance: f32, ms: f32) -> f32 {
        let samples = ms * 0.001 * self.sample_rate_hz;
        if samples < 1.0 {
            distance.abs().max(1.0)
        } else {
            distance.abs() / samples
        }
    }

    pub fn trigger(&mut self) {
        self.stage = Stage::Attack;
        self.step = self.per_sample(1.0, self.settings.attack_ms);
    }

    pub fn release(&mut self) {
        if self.stage != Stage::Idle {
            self.stage = Stage::Release;
            self.step = self.per_sample(self.level, self.settings.release_ms);
        }
    }

    /// The level `samples` from now if no event arrives (closed form, piecewise linear): what the
    /// model is conditioned on, so its controls, which glide over one frame, arrive on time.
    pub fn predict(&self, samples: f32) -> f32 {
        let s = &self.settings;
        let (mut level, mut left) = (self.level, samples);
        let mut stage = self.stage;
        let mut step = self.step;
        loop {
            match stage {
                Stage::Idle => return level,
                Stage::Sustain => return s.sustain,
                Stage::Attack => {
                    let needed = (1.0 - level) / step.max(1e-9);
                    if needed >= left {
                        return level + step * left;
                    }
                    (level, left, stage) = (1.0, left - needed, Stage::Decay);
                    step = self.per_sample(1.0 - s.sustain, s.decay_ms);
                }
                Stage::Decay => {
                    let needed = (level - s.sustain) / step.max(1e-9);
                    return if needed >= left { level - step * left } else { s.sustain };
                }
                Stage::Release => return (level - step * left).max(0.0),
            }
        }
    }

    /// Advances one sample and returns the level.
    #[inline]
    pub fn next(&mut self) -> f32 {
        match self.stage {
            Stage::Idle => {}
            Stage::Attack => {
                self.level += self.step;
                if self.level >= 1.0 {
                    self.level = 1.0;
                    self.stage = Stage::Decay;
                    self.step = self.per_sample(1.0 - self.settings.sustain, self.settings.decay_ms);
                }
            }
            Stage::Decay => {
                self.level -= self.step;
                if self.level <= self.settings.sustain {
                    self.level = self.settings.sustain;
                    self.stage = Stage::Sustain;
                }
            }
            Stage::Sustain => self.level = self.settings.sustain,
            Stage::Release => {
                self.level -= self.step;
                if self.level <= 0.0 {
                    self.level = 0.0;
                    self.stage = Stage::Idle;
                }
            }
        }
        self.level
    }
}
