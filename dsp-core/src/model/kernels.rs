//! Preallocated inference kernels: dense (matrix·vector), layer norm, leaky ReLU, one GRU step.
//!
//! Every kernel writes into a caller-provided slice and never allocates. The dense kernel stores its
//! matrix row-major with each row padded to a multiple of eight so the dot products run eight lanes
//! at a time without a scalar tail. It has two paths, chosen once when the layer is built (never on
//! the audio thread): AVX2 + FMA intrinsics where the CPU has them, and portable `wide::f32x8`
//! (SSE2 on any x86-64) elsewhere. Both are tested against tract.

use wide::f32x8;

pub use crate::simd::has_avx2_fma;
#[cfg(target_arch = "x86_64")]
use crate::simd::horizontal_sum_avx;

const LANES: usize = 8;

/// `y = W·x + b` with `W` stored `[n_out][n_in_padded]`.
#[derive(Clone, Debug)]
pub struct Dense {
    pub n_in: usize,
    pub n_out: usize,
    n_in_padded: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// The CPU has AVX2 and FMA (detected at construction).
    avx2_fma: bool,
}

impl Dense {
    /// From a weight matrix stored `[n_in][n_out]` (ONNX `MatMul` / Keras layout) and a bias. Allocates.
    pub fn from_in_out(n_in: usize, n_out: usize, w_in_out: &[f32], bias: &[f32]) -> Self {
        assert_eq!(w_in_out.len(), n_in * n_out);
        assert_eq!(bias.len(), n_out);
        let n_in_padded = n_in.div_ceil(LANES) * LANES;
        let mut weights = vec![0.0; n_out * n_in_padded];
        for i in 0..n_in {
            for o in 0..n_out {
                weights[o * n_in_padded + i] = w_in_out[i * n_out + o];
            }
        }
        Self { n_in, n_out, n_in_padded, weights, bias: bias.to_vec(), avx2_fma: has_avx2_fma() }
    }

    /// From a weight matrix stored `[n_out][n_in]` (ONNX `GRU`, PyTorch `Linear` layout). Allocates.
    pub fn from_out_in(n_in: usize, n_out: usize, w_out_in: &[f32], bias: &[f32]) -> Self {
        assert_eq!(w_out_in.len(), n_in * n_out);
        let mut transposed = vec![0.0; n_in * n_out];
        for o in 0..n_out {
            for i in 0..n_in {
                transposed[i * n_out + o] = w_out_in[o * n_in + i];
            }
        }
        Self::from_in_out(n_in, n_out, &transposed, bias)
    }

    /// Scratch length an input must have: `n_in` rounded up to eight (the padding must be zero).
    pub fn padded_input_len(&self) -> usize {
        self.n_in_padded
    }

    /// Forces the portable path (tests compare both paths).
    pub fn without_avx2(mut self) -> Self {
        self.avx2_fma = false;
        self
    }

    /// `y[..n_out] = W·x + b`. `x` has at least `n_in_padded` entries, zeros past `n_in`.
    #[inline]
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        let x = &x[..self.n_in_padded];
        let y = &mut y[..self.n_out];
        #[cfg(target_arch = "x86_64")]
        if self.avx2_fma {
            // SAFETY: `avx2_fma` is only true when the CPU reported AVX2 and FMA; the slices were
            // bounds-checked above to the lengths the kernel reads and writes.
            unsafe { self.forward_avx2_fma(x, y) };
            return;
        }
        self.forward_portable(x, y);
    }

    fn forward_portable(&self, x: &[f32], y: &mut [f32]) {
        for (o, (y, b)) in y[..self.n_out].iter_mut().zip(&self.bias).enumerate() {
            let row = &self.weights[o * self.n_in_padded..(o + 1) * self.n_in_padded];
            let mut acc = f32x8::ZERO;
            for (w, v) in row.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
                let w = f32x8::from(<[f32; LANES]>::try_from(w).unwrap_or_default());
                let v = f32x8::from(<[f32; LANES]>::try_from(v).unwrap_or_default());
                acc = w.mul_add(v, acc);
            }
            *y = acc.reduce_add() + b;
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; `x.len() == n_in_padded` and `y.len() == n_out`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2_fma(&self, x: &[f32], y: &mut [f32]) {
        use core::arch::x86_64::*;
        let n = self.n_in_padded;
        let xp = x.as_ptr();
        for (o, (y, b)) in y.iter_mut().zip(&self.bias).enumerate() {
            let row = &self.weights[o * n..(o + 1) * n];
            let rp = row.as_ptr();
            // Two accumulators hide the FMA latency; rows are a multiple of 8 long.
            let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut i = 0;
            while i + 16 <= n {
                // SAFETY: i + 16 <= n = row.len() = x.len().
                unsafe {
                    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(rp.add(i)), _mm256_loadu_ps(xp.add(i)), acc0);
                    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(rp.add(i + 8)), _mm256_loadu_ps(xp.add(i + 8)), acc1);
                }
                i += 16;
            }
            if i < n {
                // SAFETY: n is a multiple of 8, so exactly 8 remain.
                unsafe { acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(rp.add(i)), _mm256_loadu_ps(xp.add(i)), acc0) };
            }
            *y = horizontal_sum_avx(_mm256_add_ps(acc0, acc1)) + b;
        }
    }

    /// `y_b = W·x_b + b` for `n` inputs at once: `x_b` is `x[b·x_stride..]` (at least
    /// `n_in_padded` entries, zeros past `n_in`), `y_b` is `y[b·y_stride..][..n_out]`. Each weight
    /// row is read once for up to four inputs, so a batch of voices reads the matrix once instead
    /// of once per voice. Every output is summed in exactly the order [`Dense::forward`] sums it:
    /// the results are bit-identical to `n` calls of `forward`.
    pub fn forward_batch(&self, x: &[f32], x_stride: usize, y: &mut [f32], y_stride: usize, n: usize) {
        if n == 0 {
            return;
        }
        assert!(x_stride >= self.n_in_padded && y_stride >= self.n_out);
        assert!(x.len() >= (n - 1) * x_stride + self.n_in_padded && y.len() >= (n - 1) * y_stride + self.n_out);
        #[cfg(target_arch = "x86_64")]
        if self.avx2_fma {
            // SAFETY: `avx2_fma` is only true when the CPU reported AVX2 and FMA; the lengths were
            // checked above against every row the kernel reads and writes.
            unsafe { self.forward_batch_avx2_fma(x, x_stride, y, y_stride, n) };
            return;
        }
        for b in 0..n {
            self.forward_portable(&x[b * x_stride..], &mut y[b * y_stride..]);
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; `x` and `y` hold `n` rows at their strides (checked by
    /// [`Dense::forward_batch`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_batch_avx2_fma(&self, x: &[f32], x_stride: usize, y: &mut [f32], y_stride: usize, n: usize) {
        use core::arch::x86_64::*;
        const GROUP: usize = 4;
        let len = self.n_in_padded;
        let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
        for (o, &bias) in self.bias.iter().enumerate().take(self.n_out) {
            let rp = self.weights[o * len..(o + 1) * len].as_ptr();
            let mut first = 0;
            while first < n {
                let m = (n - first).min(GROUP);
                // Two accumulators per input, as in `forward_avx2_fma`: the same sums, in the
                // same order, while each weight vector loaded serves up to four inputs.
                let mut acc0 = [_mm256_setzero_ps(); GROUP];
                let mut acc1 = [_mm256_setzero_ps(); GROUP];
                let mut i = 0;
                while i + 16 <= len {
                    // SAFETY: i + 16 <= len, the row's length and every input's readable length.
                    unsafe {
                        let (w0, w1) = (_mm256_loadu_ps(rp.add(i)), _mm256_loadu_ps(rp.add(i + 8)));
                        for g in 0..m {
                            let xg = xp.add((first + g) * x_stride + i);
                            acc0[g] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xg), acc0[g]);
                            acc1[g] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xg.add(8)), acc1[g]);
                        }
                    }
                    i += 16;
                }
                if i < len {
                    // SAFETY: len is a multiple of 8, so exactly 8 remain.
                    unsafe {
                        let w0 = _mm256_loadu_ps(rp.add(i));
                        for g in 0..m {
                            acc0[g] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xp.add((first + g) * x_stride + i)), acc0[g]);
                        }
                    }
                }
                for g in 0..m {
                    // SAFETY: (first + g) < n rows of y at y_stride, o < n_out <= y_stride.
                    unsafe {
                        *yp.add((first + g) * y_stride + o) =
                            horizontal_sum_avx(_mm256_add_ps(acc0[g], acc1[g])) + bias;
                    }
                }
                first += m;
            }
        }
    }

    /// True when every weight and bias is finite.
    pub fn is_finite(&self) -> bool {
        self.weights.iter().chain(&self.bias).all(|v| v.is_finite())
    }

    /// Multiply-accumulates per call, for cost reports.
    pub fn macs(&self) -> usize {
        self.n_in * self.n_out
    }
}

/// Layer normalisation over the last axis: `(x - mean) / sqrt(var + eps) · scale + bias`.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub scale: Vec<f32>,
    pub bias: Vec<f32>,
    pub epsilon: f32,
}

impl LayerNorm {
    #[inline]
    pub fn forward_in_place(&self, x: &mut [f32]) {
        let n = self.scale.len();
        let x = &mut x[..n];
        let mean = x.iter().sum::<f32>() / n as f32;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
        let inv_std = 1.0 / (var + self.epsilon).sqrt();
        for ((v, s), b) in x.iter_mut().zip(&self.scale).zip(&self.bias) {
            *v = (*v - mean) * inv_std * s + b;
        }
    }
}

#[inline]
pub fn leaky_relu_in_place(x: &mut [f32], alpha: f32) {
    for v in x {
        if *v < 0.0 {
            *v *= alpha;
        }
    }
}

#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// DDSP's `exp_sigmoid`: `max_value · sigmoid(x)^ln(exponent) + threshold` with DDSP's defaults
/// (exponent 10, max 2, threshold 1e-7): a positive output whose log tracks `x` over a wide range.
#[inline]
pub fn exp_sigmoid(x: f32) -> f32 {
    2.0 * sigmoid(x).powf(core::f32::consts::LN_10) + 1e-7
}

/// One step of a GRU with ONNX's gate order (z, r, h) and `linear_before_reset = 1` (PyTorch's and
/// Keras' `reset_after=True` form):
///
/// ```text
/// z = σ(Wz·x + Rz·h + bz)      r = σ(Wr·x + Rr·h + br)
/// ĥ = tanh(Wh·x + bWh + r ⊙ (Rh·h + bRh))      h' = (1 - z) ⊙ ĥ + z ⊙ h
/// ```
#[derive(Clone, Debug)]
pub struct Gru {
    pub n_hidden: usize,
    /// Input projection, `3H × I`, with the input biases.
    pub input: Dense,
    /// Recurrent projection, `3H × H`, with the recurrent biases.
    pub recurrent: Dense,
}

impl Gru {
    /// `gates_x` and `gates_h` are scratch of `3H` entries; `h` is updated in place and must be
    /// padded to `recurrent.padded_input_len()` with zeros.
    #[inline]
    pub fn step(&self, x: &[f32], h: &mut [f32], gates_x: &mut [f32], gates_h: &mut [f32]) {
        self.input.forward(x, gates_x);
        self.recurrent.forward(h, gates_h);
        self.update(h, gates_x, gates_h);
    }

    /// The gate arithmetic after the two projections: `h` updated in place.
    #[inline]
    fn update(&self, h: &mut [f32], gates_x: &[f32], gates_h: &[f32]) {
        let n = self.n_hidden;
        for j in 0..n {
            let z = sigmoid(gates_x[j] + gates_h[j]);
            let r = sigmoid(gates_x[n + j] + gates_h[n + j]);
            let candidate = (gates_x[2 * n + j] + r * gates_h[2 * n + j]).tanh();
            h[j] = (1.0 - z) * candidate + z * h[j];
        }
    }

    /// [`Gru::step`] for `n` rows at once (inputs `x`, states `h`, gate scratch, each at its
    /// stride); bit-identical to `n` calls of `step`.
    #[allow(clippy::too_many_arguments)]
    pub fn step_batch(
        &self,
        x: &[f32],
        x_stride: usize,
        h: &mut [f32],
        h_stride: usize,
        gates_x: &mut [f32],
        gates_h: &mut [f32],
        n: usize,
    ) {
        let g = 3 * self.n_hidden;
        self.input.forward_batch(x, x_stride, gates_x, g, n);
        self.recurrent.forward_batch(h, h_stride, gates_h, g, n);
        for b in 0..n {
            let (gx, gh) = (&gates_x[b * g..(b + 1) * g], &gates_h[b * g..(b + 1) * g]);
            self.update(&mut h[b * h_stride..(b + 1) * h_stride], gx, gh);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avx2_and_portable_paths_agree() {
        let (n_in, n_out) = (37, 29);
        let w: Vec<f32> = (0..n_in * n_out).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
        let b: Vec<f32> = (0..n_out).map(|i| i as f32 * 0.01).collect();
        let fast = Dense::from_in_out(n_in, n_out, &w, &b);
        let portable = fast.clone().without_avx2();
        let mut x = vec![0.0; fast.padded_input_len()];
        for (i, v) in x.iter_mut().take(n_in).enumerate() {
            *v = (i as f32 * 0.37).sin();
        }
        let (mut a, mut p) = (vec![0.0; n_out], vec![0.0; n_out]);
        fast.forward(&x, &mut a);
        portable.forward(&x, &mut p);
        for o in 0..n_out {
            let exact: f64 =
                (0..n_in).map(|i| f64::from(w[i * n_out + o]) * f64::from(x[i])).sum::<f64>() + f64::from(b[o]);
            assert!((f64::from(a[o]) - exact).abs() < 1e-5 && (f64::from(p[o]) - exact).abs() < 1e-5);
        }
    }
}
