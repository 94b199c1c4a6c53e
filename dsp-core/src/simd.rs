//! The ground floor of the fast paths: CPU feature detection and the AVX helpers shared by the
//! oscillator bank ([`crate::harmonic`]) and the model kernels ([`crate::model::kernels`]), so
//! neither reaches into the other.

/// Whether this CPU runs the AVX2 + FMA paths (which also convert f16 weights: F16C, present on
/// every CPU with AVX2). Call it at construction, never per sample.
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The sum of the eight lanes of an AVX register.
///
/// # Safety
/// The CPU must support AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
pub(crate) unsafe fn horizontal_sum_avx(v: core::arch::x86_64::__m256) -> f32 {
    use core::arch::x86_64::*;
    let sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
    _mm_cvtss_f32(_mm_add_ss(sum2, _mm_shuffle_ps::<0b01>(sum2, sum2)))
}
