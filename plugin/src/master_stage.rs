//! The mastering chain as the plugins run it: stereo or mono buses, meters published to the editor
//! (only while it is open, ~30 times a second).
//!
//! What sets the latency (limiter on or off, its look-ahead, the quality's oversampling) is fixed
//! at activation: CLAP and VST3 let a plugin announce a new latency only while the host
//! (re)activates it. A change waits, the editor says so and can ask the host to restart audio.

use std::sync::atomic::Ordering;

use ddsp_core::master::{MasterChain, MasterSettings, Quality};
use nice_plug::prelude::BufferConfig;

use crate::gui_data::GuiData;

/// Meter readings per second sent to the editor.
const METER_RATE_HZ: f32 = 30.0;

/// Lifecycle: [`MasterStage::new`] allocates (in `activate`); `process` never does.
pub struct MasterStage {
    chain: MasterChain,
    /// The latency-setting fields as activated: (limiter on, look-ahead, quality).
    fixed: (bool, f32, Quality),
    /// The right channel of a mono bus (the chain is stereo; the reverb's width folds back).
    scratch: Vec<f32>,
    meter_interval: usize,
    meter_countdown: usize,
}

impl MasterStage {
    pub fn new(sample_rate_hz: f32, max_block: usize, settings: MasterSettings) -> Self {
        Self {
            fixed: (settings.limiter.enabled, settings.limiter.lookahead_ms, settings.quality),
            chain: MasterChain::new(sample_rate_hz, settings),
            scratch: vec![0.0; max_block.max(1)],
            meter_interval: (sample_rate_hz / METER_RATE_HZ) as usize,
            meter_countdown: 0,
        }
    }

    /// The stage for an activation, and the plugin's whole latency (`engine_latency_samples` plus
    /// the chain's), also shown in the editor. Allocates.
    pub fn activate(
        buffer_config: &BufferConfig,
        settings: MasterSettings,
        engine_latency_samples: u32,
        gui: &GuiData,
    ) -> (Self, u32) {
        let stage = Self::new(buffer_config.sample_rate, buffer_config.max_buffer_size as usize, settings);
        let latency = engine_latency_samples + stage.latency_samples();
        gui.latency_samples.store(latency, Ordering::Relaxed);
        (stage, latency)
    }

    pub fn latency_samples(&self) -> u32 {
        self.chain.latency_samples()
    }

    /// Applies everything but what would change the latency; flags that for the editor.
    pub fn set_settings(&mut self, mut settings: MasterSettings, gui: &GuiData) {
        let wanted = (settings.limiter.enabled, settings.limiter.lookahead_ms, settings.quality);
        gui.restart_needed.store(wanted != self.fixed, Ordering::Relaxed);
        (settings.limiter.enabled, settings.limiter.lookahead_ms, settings.quality) = self.fixed;
        if settings != *self.chain.settings() {
            self.chain.set_settings(settings);
        }
    }

    pub fn reset(&mut self) {
        self.chain.reset();
    }

    /// Runs the chain over the bus in place.
    pub fn process(&mut self, channels: &mut [&mut [f32]], gui: &GuiData) {
        // The mono fold below runs outside the chain's own FTZ scope; two opposite tiny samples
        // of a decaying reverb tail would average to a subnormal (clap-validator's fuzzer found one).
        let _ftz = ddsp_core::denormals::ScopedFlushDenormals::new();
        let open = gui.is_open();
        self.chain.set_metering(open);
        match channels {
            [] => return,
            [mono] => {
                for block in mono.chunks_mut(self.scratch.len()) {
                    let right = &mut self.scratch[..block.len()];
                    right.copy_from_slice(block);
                    self.chain.process(block, right);
                    // Fold the reverb's stereo image back to mono.
                    block.iter_mut().zip(right.iter()).for_each(|(l, r)| *l = 0.5 * (*l + *r));
                }
            }
            [left, right, ..] => self.chain.process(left, right),
        }
        if open {
            let n = channels[0].len();
            if self.meter_countdown <= n {
                self.meter_countdown = self.meter_interval;
                gui.publish_meters(&self.chain.take_meters());
            } else {
                self.meter_countdown -= n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mono bus through the reverb: its stereo return folds back to mono as `(l + r) / 2`, which
    /// two opposite tiny samples of a decaying tail make subnormal unless it runs under FTZ.
    #[test]
    fn the_mono_fold_of_a_decaying_reverb_emits_no_subnormal() {
        let mut settings = MasterSettings::default();
        settings.reverb.enabled = true;
        settings.reverb.width = 1.0;
        let mut stage = MasterStage::new(48_000.0, 512, settings);
        let gui = GuiData::default();
        let mut subnormal = 0;
        let mut rng = 1u32;
        for block in 0..2_000 {
            // Noise decaying by 12 dB per block (1 dB per ~43 samples) through and below the
            // subnormal range, then silence: the reverb's tail follows it down.
            let level = if block < 40 { 0.5 * 10f32.powf(-0.6 * block as f32) } else { 0.0 };
            let mut mono: Vec<f32> = (0..512)
                .map(|_| {
                    rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    level * ((rng >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
                })
                .collect();
            stage.process(&mut [&mut mono], &gui);
            subnormal += mono.iter().filter(|x| **x != 0.0 && x.abs() < f32::MIN_POSITIVE).count();
        }
        assert_eq!(subnormal, 0, "subnormal samples out of the mono fold");
    }
}
