//! Flush-to-zero for the audio thread: subnormal floats (decaying filters, a GRU state near zero)
//! cost a hundred times a normal multiply on x86.

/// Sets FTZ and DAZ on this thread while alive and restores the previous mode on drop.
pub struct ScopedFlushDenormals {
    #[cfg(target_arch = "x86_64")]
    previous: u32,
}

#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = 0x8040;

impl ScopedFlushDenormals {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let mut previous: u32 = 0;
            // SAFETY: stmxcsr/ldmxcsr only read and write this thread's SSE control register; setting
            // FTZ|DAZ changes subnormal handling only, and the old value is restored on drop.
            unsafe {
                core::arch::asm!("stmxcsr [{}]", in(reg) &mut previous, options(nostack));
                let new = previous | FTZ_DAZ;
                core::arch::asm!("ldmxcsr [{}]", in(reg) &new, options(nostack, readonly));
            }
            Self { previous }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Self {}
    }
}

impl Drop for ScopedFlushDenormals {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: restores the control word read in `new` on the same thread.
        unsafe {
            core::arch::asm!("ldmxcsr [{}]", in(reg) &self.previous, options(nostack, readonly));
        }
    }
}

/// Writes 0 over every subnormal sample (|x| < `f32::MIN_POSITIVE`) of `channels`: the last step
/// of every output path, so no host ever receives one (FTZ covers arithmetic, not a sample copied
/// straight through, such as a subnormal input in the effect's dry path). Never allocates.
pub fn flush_subnormals(channels: &mut [&mut [f32]]) {
    for channel in channels.iter_mut() {
        for x in channel.iter_mut() {
            if x.abs() < f32::MIN_POSITIVE {
                *x = 0.0;
            }
        }
    }
}
