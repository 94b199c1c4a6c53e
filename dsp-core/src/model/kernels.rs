//! Preallocated inference kernels: dense (matrix·vector), layer norm, leaky ReLU, one GRU step.
//!
//! Every kernel writes into a caller-provided slice and never allocates. The dense kernel stores its
//! matrix in *panels* of sixteen outputs: panel `p` holds, for each input `i` in turn, the sixteen
//! weights `W[16p..16p+16][i]` side by side. A product then broadcasts one input and multiplies it
//! into sixteen outputs at once — no horizontal sums — and each output is accumulated over the inputs
//! in one fixed order (bias first, then input 0, 1, …), however many outputs or voices a call
//! computes together. So one voice and a batch of voices give bit-identical results, and a batch
//! reads each panel once for all its voices. Two paths, chosen once when the layer is built (never
//! on the audio thread): AVX2 + FMA intrinsics where the CPU has them, and portable `wide::f32x8`
//! (SSE2 on any x86-64) elsewhere. Both are tested against tract and against each other.
//!
//! Int8 weights (one scale per output) are stored in panels of sixteen outputs by *quads* of
//! inputs, and multiplied in integers: each call rounds its input vector to 16-bit integers with
//! one scale (as many bits as keep every sum inside i32: 15 for 1024 inputs, an error ~1/30 000 of
//! the largest input, far under the weights' own rounding). With AVX-VNNI, `vpdpbusd` multiplies
//! and adds 32 weight–input byte products per instruction (the inputs go in as two bytes each);
//! with AVX-512 VNNI too, one voice's product runs on 512-bit registers (a panel's quad of sixteen
//! outputs × four inputs is one register; 1.1–1.3× the 256-bit kernel on a GRU-sized matrix here,
//! the DDSP-VST export's frame 5–10 % faster); with AVX2 alone, `vpmaddwd` does 16 after widening the weights. The integer sums are exact, so
//! every path and batch size gives the same bits.
//!
//! The activations (sigmoid, tanh, DDSP's `exp_sigmoid`) run eight lanes at a time on a polynomial
//! `exp` ([`exp8`]), within a few ulp of the C library's, on every path.

use std::mem::MaybeUninit;

use wide::{bytemuck::cast, f32x8, i32x8};

pub use crate::simd::has_avx2_fma;

/// Whether this CPU has AVX-512 F, BW and VNNI (`vpdpbusd` on 512-bit registers).
pub fn has_avx512_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU has AVX-VNNI (`vpdpbusd` on 256-bit registers).
pub fn has_avx_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

const LANES: usize = 8;
/// Outputs per weight panel: two AVX registers.
const PANEL: usize = 16;

/// How a [`Dense`] layer stores its weight panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightKind {
    F32,
    /// Half precision, converted to f32 for the products ([`Dense::to_f16`]).
    F16,
    /// Signed 8-bit with one scale per output ([`Dense::to_int8`], or as a quantised file stores them).
    Int8,
}

/// The weight panels in one of the [`WeightKind`]s, all in the same panel order.
#[derive(Clone, Debug)]
enum Panels {
    F32(Vec<f32>),
    /// f16 bit patterns.
    F16(Vec<u16>),
    /// `W[o][i] = scales[o] · q[o][i]`, `q` in quad panels ([`to_quad_panels`]); `scales` and
    /// `row_sums` (`Σ_i q[o][i]`, for the VNNI kernel's unsigned inputs) zero-padded to whole panels.
    Int8 {
        q: Vec<i8>,
        scales: Vec<f32>,
        row_sums: Vec<i32>,
    },
}

/// The widest input an int8 layer takes: its input is rounded into a stack buffer of this many
/// 16-bit values per row (wider layers keep f32 weights).
pub const INT8_MAX_INPUTS: usize = 2048;

/// The symmetric int8 scale of an output row whose largest weight magnitude is `max_abs`:
/// `max_abs / 127` (0 for a row of zeros).
pub fn int8_scale(max_abs: f32) -> f32 {
    max_abs / 127.0
}

/// `w` in steps of `scale`, rounded to nearest: within `scale / 2` of `w` (0 where `scale` is 0).
pub fn int8_value(w: f32, scale: f32) -> i8 {
    if scale > 0.0 {
        (w / scale).round().clamp(-127.0, 127.0) as i8
    } else {
        0
    }
}

/// Rows whose inputs an int8 product rounds at once (the stack buffer holds this many).
const INT8_ROWS: usize = 4;

/// Groups of four inputs an int8 layer of `n_in` inputs reads (the last zero-padded).
fn quads(n_in: usize) -> usize {
    n_in.div_ceil(4)
}

/// Where `W[o][i]` lies in quad panels: `[panel][input quad][16 outputs][4]`.
fn quad_index(n_in: usize, o: usize, i: usize) -> usize {
    (((o / PANEL) * quads(n_in) + i / 4) * PANEL + o % PANEL) * 4 + i % 4
}

/// Int8 weights `at(o, i)` in quad panels (four consecutive inputs' weights of each output side by
/// side), zero-padded to whole panels and quads, with each output's weight sum (zero-padded to
/// whole panels). Allocates.
fn to_quad_panels(n_in: usize, n_out: usize, at: impl Fn(usize, usize) -> i8) -> (Vec<i8>, Vec<i32>) {
    let panels = n_out.div_ceil(PANEL);
    let mut q = vec![0; panels * quads(n_in) * 4 * PANEL];
    let mut sums = vec![0; panels * PANEL];
    for o in 0..n_out {
        for i in 0..n_in {
            let w = at(o, i);
            q[quad_index(n_in, o, i)] = w;
            sums[o] += i32::from(w);
        }
    }
    (q, sums)
}

/// The int8 kernels' view of one call: the weights and up to [`INT8_ROWS`] rounded input rows.
#[derive(Clone, Copy)]
struct Int8Rows<'a> {
    q: &'a [i8],
    scales: &'a [f32],
    /// Read by the VNNI kernels (x86-64 only).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    row_sums: &'a [i32],
    /// `rows` rows of `4·quads` rounded inputs.
    xq: &'a [i16],
    x_scales: &'a [f32],
    rows: usize,
}

/// Each rounded input `x` as the two bytes of `x + 32768` (unsigned), for `vpdpbusd`.
/// Writes `hi[..xq.len()]` and `lo[..xq.len()]`.
#[cfg(target_arch = "x86_64")]
fn split_input_bytes(xq: &[i16], hi: &mut [MaybeUninit<u8>], lo: &mut [MaybeUninit<u8>]) {
    for ((&x, hi), lo) in xq.iter().zip(hi.iter_mut()).zip(lo.iter_mut()) {
        let u = (i32::from(x) + 32768) as u16;
        hi.write((u >> 8) as u8);
        lo.write(u as u8);
    }
}

/// The first `len` elements of a stack buffer, every one of them written.
///
/// # Safety
/// `buf[..len]` must all have been written.
unsafe fn written<T>(buf: &[MaybeUninit<T>], len: usize) -> &[T] {
    // SAFETY: the caller wrote `buf[..len]`; `MaybeUninit<T>` has `T`'s layout.
    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<T>(), len) }
}

/// The largest integer an input is rounded to for `n_in` inputs: every sum of `n_in` products
/// with weights in ±127 must fit an i32 (and each input an i16).
fn int8_input_limit(n_in: usize) -> f32 {
    let even = n_in.div_ceil(2) * 2;
    (i32::MAX as usize / (127 * even.max(1))).min(i16::MAX as usize) as f32
}

/// Rounds `x[..n_in]` to integers with one scale (`x ≈ scale · q`, `|q| ≤ limit`) into
/// `q[..4 · quads(n_in)]` (the padding zero; every element written); returns the scale. An all-zero
/// input gives scale 0; a NaN or infinite one gives a NaN scale, so the outputs are NaN as f32
/// arithmetic would make them.
fn quantise_input(x: &[f32], limit: f32, q: &mut [MaybeUninit<i16>]) -> f32 {
    let even = quads(x.len()) * 4;
    let largest = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let finite = x.iter().all(|v| v.is_finite());
    if !finite || largest == 0.0 {
        q[..even].fill(MaybeUninit::new(0));
        return if finite { 0.0 } else { f32::NAN };
    }
    let (scale, inverse) = (largest / limit, limit / largest);
    // Eight at a time (round to nearest, ties to even); |v · inverse| ≤ limit by construction.
    let (lanes, v8) = (f32x8::splat(inverse), x.chunks(LANES));
    for (q, v) in q.chunks_mut(LANES).zip(v8) {
        let rounded = (load_part(v) * lanes).round_int();
        for (q, &r) in q.iter_mut().zip(rounded.as_array()) {
            q.write(r as i16);
        }
    }
    q[x.len()..even].fill(MaybeUninit::new(0));
    scale
}

/// `y = W·x + b`, `W` stored in panels of sixteen outputs (see the module notes).
#[derive(Clone, Debug)]
pub struct Dense {
    pub n_in: usize,
    pub n_out: usize,
    n_in_padded: usize,
    /// `n_panels × n_in × 16`: panel `p`, input `i`, output `16p + k` at `(p·n_in + i)·16 + k`.
    weights: Panels,
    /// The bias, zero-padded to whole panels.
    bias: Vec<f32>,
    /// The CPU has AVX2 and FMA (detected at construction).
    avx2_fma: bool,
    /// The CPU also has AVX-VNNI (int8 layers use `vpdpbusd`).
    vnni: bool,
    /// The CPU also has AVX-512 VNNI (one row's int8 product on 512-bit registers).
    vnni512: bool,
}

/// `values[o][i]` (`[n_out][n_in]`) reordered into sixteen-output panels, zero-padded. Allocates.
fn to_panels<T: Copy + Default>(n_in: usize, n_out: usize, at: impl Fn(usize, usize) -> T) -> Vec<T> {
    let panels = n_out.div_ceil(PANEL);
    let mut out = vec![T::default(); panels * n_in * PANEL];
    for i in 0..n_in {
        for o in 0..n_out {
            out[((o / PANEL) * n_in + i) * PANEL + o % PANEL] = at(o, i);
        }
    }
    out
}

/// `v` zero-padded to `len`.
fn padded_to(v: &[f32], len: usize) -> Vec<f32> {
    let mut out = vec![0.0; len];
    out[..v.len()].copy_from_slice(v);
    out
}

impl Dense {
    fn with_panels(n_in: usize, n_out: usize, weights: Panels, bias: &[f32]) -> Self {
        assert_eq!(bias.len(), n_out);
        Self {
            n_in,
            n_out,
            n_in_padded: n_in.div_ceil(LANES) * LANES,
            weights,
            bias: padded_to(bias, n_out.div_ceil(PANEL) * PANEL),
            avx2_fma: has_avx2_fma(),
            vnni: has_avx2_fma() && has_avx_vnni(),
            vnni512: has_avx2_fma() && has_avx_vnni() && has_avx512_vnni(),
        }
    }

    /// From a weight matrix stored `[n_in][n_out]` (ONNX `MatMul` / Keras layout) and a bias. Allocates.
    pub fn from_in_out(n_in: usize, n_out: usize, w_in_out: &[f32], bias: &[f32]) -> Self {
        assert_eq!(w_in_out.len(), n_in * n_out);
        Self::with_panels(n_in, n_out, Panels::F32(to_panels(n_in, n_out, |o, i| w_in_out[i * n_out + o])), bias)
    }

    /// From a weight matrix stored `[n_out][n_in]` (ONNX `GRU`, PyTorch `Linear` layout). Allocates.
    pub fn from_out_in(n_in: usize, n_out: usize, w_out_in: &[f32], bias: &[f32]) -> Self {
        assert_eq!(w_out_in.len(), n_in * n_out);
        Self::with_panels(n_in, n_out, Panels::F32(to_panels(n_in, n_out, |o, i| w_out_in[o * n_in + i])), bias)
    }

    /// From int8 weights stored `[n_out][n_in]` with one scale per output (`W[o][i] =
    /// scales[o] · q[o][i]`: TFLite's per-channel and, with the scale repeated, per-tensor
    /// symmetric quantisation) and an f32 bias. The products run on the int8 values where the CPU
    /// multiplies them in integers (AVX2); elsewhere, and for a layer wider than
    /// [`INT8_MAX_INPUTS`], the layer keeps their exact f32 values instead. Allocates.
    pub fn from_int8_out_in(n_in: usize, n_out: usize, q_out_in: &[i8], scales: &[f32], bias: &[f32]) -> Self {
        assert_eq!(q_out_in.len(), n_in * n_out);
        assert_eq!(scales.len(), n_out);
        if n_in > INT8_MAX_INPUTS || !has_avx2_fma() {
            let w = to_panels(n_in, n_out, |o, i| scales[o] * f32::from(q_out_in[o * n_in + i]));
            return Self::with_panels(n_in, n_out, Panels::F32(w), bias);
        }
        let (q, row_sums) = to_quad_panels(n_in, n_out, |o, i| q_out_in[o * n_in + i]);
        let scales = padded_to(scales, n_out.div_ceil(PANEL) * PANEL);
        Self::with_panels(n_in, n_out, Panels::Int8 { q, scales, row_sums }, bias)
    }

    /// Scratch length an input must have: `n_in` rounded up to eight (the padding must be zero).
    pub fn padded_input_len(&self) -> usize {
        self.n_in_padded
    }

    /// Forces the portable path (tests compare both paths).
    pub fn without_avx2(mut self) -> Self {
        self.avx2_fma = false;
        self.vnni = false;
        self.vnni512 = false;
        self
    }

    /// Forces the AVX2 int8 kernel where the CPU also has AVX-VNNI (tests compare the two).
    pub fn without_vnni(mut self) -> Self {
        self.vnni = false;
        self.vnni512 = false;
        self
    }

    /// Forces the 256-bit VNNI kernel where the CPU also has AVX-512 VNNI.
    pub fn without_avx512(mut self) -> Self {
        self.vnni512 = false;
        self
    }

    /// How the weights are stored.
    pub fn kind(&self) -> WeightKind {
        match self.weights {
            Panels::F32(_) => WeightKind::F32,
            Panels::F16(_) => WeightKind::F16,
            Panels::Int8 { .. } => WeightKind::Int8,
        }
    }

    /// `W[o][i]` as f32 (int8: scaled by its output's scale).
    fn weight(&self, o: usize, i: usize) -> f32 {
        let k = ((o / PANEL) * self.n_in + i) * PANEL + o % PANEL;
        match &self.weights {
            Panels::F32(w) => w[k],
            Panels::F16(h) => half::f16::from_bits(h[k]).to_f32(),
            Panels::Int8 { q, scales, .. } => f32::from(q[quad_index(self.n_in, o, i)]) * scales[o],
        }
    }

    /// The weights as f32 panels, whatever they are stored as.
    fn f32_panels(&self) -> Vec<f32> {
        to_panels(self.n_in, self.n_out, |o, i| self.weight(o, i))
    }

    /// Stores the weights as f16 (round to nearest even), read back into f32 for the products.
    /// Each weight moves by at most 2^-11 of itself (weights below 6.1e-5 lose precision as f16
    /// subnormals). Allocates: at load, never on the audio thread.
    /// A layer with a weight beyond f16's range (|w| > 65504) stays as it is, as does an int8 layer
    /// (its weights came quantised); returns whether the layer now stores f16.
    pub fn to_f16(&mut self) -> bool {
        let w = match &self.weights {
            Panels::F16(_) => return true,
            Panels::Int8 { .. } => return false,
            Panels::F32(w) => w,
        };
        if w.iter().any(|w| w.abs() > f32::from(half::f16::MAX)) {
            return false;
        }
        self.weights = Panels::F16(w.iter().map(|&w| half::f16::from_f32(w).to_bits()).collect());
        true
    }

    /// Stores the weights as int8 with one scale per output: `scale = max|W[o][·]| / 127` and
    /// `q = round(W / scale)`, so each weight moves by at most half its row's step, `scale / 2`
    /// (a quarter of the f32 memory traffic; integer products, see the module notes). Allocates:
    /// at load only. An int8 layer stays as it is (re-quantising would add a second rounding), as
    /// does a layer wider than [`INT8_MAX_INPUTS`] and any layer on a CPU without AVX2 (the
    /// portable integer kernel is slower than f32 there); returns whether the layer now stores int8.
    pub fn to_int8(&mut self) -> bool {
        if self.kind() == WeightKind::Int8 {
            return true;
        }
        if self.n_in > INT8_MAX_INPUTS || !has_avx2_fma() {
            return false;
        }
        let (n_in, n_out) = (self.n_in, self.n_out);
        let scales: Vec<f32> =
            (0..n_out).map(|o| int8_scale((0..n_in).map(|i| self.weight(o, i).abs()).fold(0.0, f32::max))).collect();
        let (q, row_sums) = to_quad_panels(n_in, n_out, |o, i| int8_value(self.weight(o, i), scales[o]));
        self.weights = Panels::Int8 { q, scales: padded_to(&scales, self.bias.len()), row_sums };
        true
    }

    /// Stores the weights as f32 (an f16 or int8 layer's values, exactly). Allocates: at load only.
    pub fn to_f32(&mut self) {
        if self.kind() != WeightKind::F32 {
            self.weights = Panels::F32(self.f32_panels());
        }
    }

    /// Whether the weights are stored as f16.
    pub fn is_f16(&self) -> bool {
        self.kind() == WeightKind::F16
    }

    fn panels(&self) -> usize {
        self.bias.len() / PANEL
    }

    /// `y[..n_out] = W·x + b`. `x` has at least `n_in_padded` entries, zeros past `n_in`.
    #[inline]
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        self.forward_batch(x, self.n_in_padded, y, self.n_out, 1);
    }

    /// `y_b = W·x_b + b` for `n` inputs at once: `x_b` is `x[b·x_stride..]` (at least
    /// `n_in_padded` entries, zeros past `n_in`), `y_b` is `y[b·y_stride..][..n_out]`. Each panel
    /// is read once for every four inputs while it sits in cache, so a batch of voices reads the
    /// matrix from memory once instead of once per voice. Bit-identical to `n` calls of `forward`.
    pub fn forward_batch(&self, x: &[f32], x_stride: usize, y: &mut [f32], y_stride: usize, n: usize) {
        if n == 0 {
            return;
        }
        assert!(x_stride >= self.n_in_padded && y_stride >= self.n_out);
        assert!(x.len() >= (n - 1) * x_stride + self.n_in_padded && y.len() >= (n - 1) * y_stride + self.n_out);
        if let Panels::Int8 { .. } = self.weights {
            self.forward_batch_int8(x, x_stride, y, y_stride, n);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2_fma {
            // SAFETY: `avx2_fma` is only true when the CPU reported AVX2 and FMA (and F16C, which
            // has_avx2_fma also requires); the lengths were checked above against every row the
            // kernel reads and writes.
            unsafe {
                if self.is_f16() {
                    self.forward_batch_avx2_fma::<true>(x, x_stride, y, y_stride, n);
                } else {
                    self.forward_batch_avx2_fma::<false>(x, x_stride, y, y_stride, n);
                }
            }
            return;
        }
        self.forward_batch_portable(x, x_stride, y, y_stride, n);
    }

    /// The int8 product: up to [`INT8_ROWS`] rows at a time, each row's input rounded to 16-bit
    /// integers into a stack buffer, then the integer panels (AVX-VNNI, AVX2 or portable).
    fn forward_batch_int8(&self, x: &[f32], x_stride: usize, y: &mut [f32], y_stride: usize, n: usize) {
        let Panels::Int8 { q, scales, row_sums } = &self.weights else { unreachable!("int8 weights") };
        let n_in = self.n_in;
        let width = quads(n_in) * 4;
        let limit = int8_input_limit(n_in);
        // Uninitialised (zeroing 16 KB per call would cost more than rounding the inputs): each
        // group writes the part it reads.
        let mut xq_buf = [MaybeUninit::<i16>::uninit(); INT8_ROWS * INT8_MAX_INPUTS];
        let mut x_scales = [0.0f32; INT8_ROWS];
        for first in (0..n).step_by(INT8_ROWS) {
            let rows = (n - first).min(INT8_ROWS);
            for (r, x_scale) in x_scales.iter_mut().enumerate().take(rows) {
                let row = &x[(first + r) * x_stride..(first + r) * x_stride + n_in];
                *x_scale = quantise_input(row, limit, &mut xq_buf[r * width..(r + 1) * width]);
            }
            // SAFETY: quantise_input wrote each of the `rows` rows' `width` values.
            let xq = unsafe { written(&xq_buf, rows * width) };
            let rows_in = Int8Rows { q, scales, row_sums, xq, x_scales: &x_scales, rows };
            let y_rows = &mut y[first * y_stride..];
            #[cfg(target_arch = "x86_64")]
            if self.avx2_fma {
                // SAFETY: `avx2_fma` (and `vnni`) only when the CPU has those features; `xq` holds
                // `rows` rows of `width` values and `y_rows` `rows` rows at `y_stride` (checked by
                // forward_batch).
                unsafe {
                    if self.vnni {
                        let mut hi = [MaybeUninit::<u8>::uninit(); INT8_ROWS * INT8_MAX_INPUTS];
                        let mut lo = [MaybeUninit::<u8>::uninit(); INT8_ROWS * INT8_MAX_INPUTS];
                        split_input_bytes(xq, &mut hi, &mut lo);
                        // SAFETY: split_input_bytes wrote `xq.len()` bytes of each.
                        let (hi, lo) = (written(&hi, xq.len()), written(&lo, xq.len()));
                        self.int8_rows_vnni(&rows_in, hi, lo, y_rows, y_stride);
                    } else {
                        self.int8_rows_avx2(&rows_in, y_rows, y_stride);
                    }
                }
                continue;
            }
            self.int8_rows_portable(&rows_in, y_rows, y_stride);
        }
    }

    /// `y[o] = sum · (scale_w[o] · scale_x) + b[o]` for one row's exact integer sums `sums[k]` of
    /// panel `p` (the same float operations on every path).
    #[inline]
    fn int8_finish(&self, p: usize, sums: &[i32; PANEL], scales: &[f32], x_scale: f32, y: &mut [f32]) {
        let first = p * PANEL;
        let m = (self.n_out - first).min(PANEL);
        for k in 0..m {
            y[first + k] = (sums[k] as f32).mul_add(scales[first + k] * x_scale, self.bias[first + k]);
        }
    }

    /// `rows` rows of the int8 product on the portable path: exact i32 sums.
    fn int8_rows_portable(&self, r: &Int8Rows, y: &mut [f32], y_stride: usize) {
        let width = quads(self.n_in) * 4;
        for p in 0..self.panels() {
            let panel = &r.q[p * width * PANEL..(p + 1) * width * PANEL];
            for row in 0..r.rows {
                let xr = &r.xq[row * width..(row + 1) * width];
                let mut sums = [0i32; PANEL];
                for (quad, x4) in panel.chunks_exact(PANEL * 4).zip(xr.chunks_exact(4)) {
                    for (sum, w) in sums.iter_mut().zip(quad.chunks_exact(4)) {
                        *sum += w.iter().zip(x4).map(|(&w, &x)| i32::from(w) * i32::from(x)).sum::<i32>();
                    }
                }
                self.int8_finish(p, &sums, r.scales, r.x_scales[row], &mut y[row * y_stride..]);
            }
        }
    }

    /// [`Dense::int8_rows_portable`] with AVX2: each four weights of an output widened to i16
    /// and `vpmaddwd`-multiplied with the four inputs (broadcast), pairs summed at the end; one
    /// panel for two rows at a time (what the sixteen registers hold without spilling).
    ///
    /// # Safety
    /// AVX2 and FMA; `r.xq` holds `r.rows` (≤ [`INT8_ROWS`]) rows of `4·quads` values, `y`
    /// `r.rows` rows writable to `n_out` at `y_stride`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn int8_rows_avx2(&self, r: &Int8Rows, y: &mut [f32], y_stride: usize) {
        let width = quads(self.n_in) * 4;
        // SAFETY (every call): as this function's contract, for rows `first..first + G`.
        unsafe {
            for p in 0..self.panels() {
                for first in (0..r.rows).step_by(2) {
                    let rest = Int8Rows { xq: &r.xq[first * width..], x_scales: &r.x_scales[first..], ..*r };
                    let y = &mut y[first * y_stride..];
                    if r.rows - first == 1 {
                        self.int8_panel_avx2::<1>(p, &rest, y, y_stride);
                    } else {
                        self.int8_panel_avx2::<2>(p, &rest, y, y_stride);
                    }
                }
            }
        }
    }

    /// Panel `p` of the AVX2 int8 product for the first `G` rows of `r`.
    ///
    /// # Safety
    /// As [`Dense::int8_rows_avx2`], with `G` rows in `r.xq` and `y`, and `p < panels`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn int8_panel_avx2<const G: usize>(&self, p: usize, r: &Int8Rows, y: &mut [f32], y_stride: usize) {
        use core::arch::x86_64::*;
        let width = quads(self.n_in) * 4;
        debug_assert!((p + 1) * width * PANEL <= r.q.len() && G * width <= r.xq.len());
        // SAFETY: every panel read lies in `r.q`, every input in `r.xq`'s first `G` rows.
        unsafe {
            let panel = r.q.as_ptr().add(p * width * PANEL);
            let mut acc = [[_mm256_setzero_si256(); 4]; G];
            for j in 0..width / 4 {
                let at = panel.add(j * PANEL * 4).cast::<__m128i>();
                let w = [0, 1, 2, 3].map(|h| _mm256_cvtepi8_epi16(_mm_loadu_si128(at.add(h))));
                for (g, acc) in acc.iter_mut().enumerate() {
                    let v = _mm256_set1_epi64x(r.xq.as_ptr().add(g * width + 4 * j).cast::<i64>().read_unaligned());
                    for (a, w) in acc.iter_mut().zip(&w) {
                        *a = _mm256_add_epi32(*a, _mm256_madd_epi16(*w, v));
                    }
                }
            }
            for (g, acc) in acc.iter().enumerate() {
                // Each register holds four outputs' two half sums: add the halves and put the
                // outputs back in order.
                let mut sums = [0i32; PANEL];
                for h in 0..2 {
                    let pairs = _mm256_hadd_epi32(acc[2 * h], acc[2 * h + 1]);
                    let ordered = _mm256_permute4x64_epi64::<0b11_01_10_00>(pairs);
                    _mm256_storeu_si256(sums.as_mut_ptr().add(h * LANES).cast(), ordered);
                }
                self.int8_finish(p, &sums, r.scales, r.x_scales[g], &mut y[g * y_stride..]);
            }
        }
    }

    /// [`Dense::int8_rows_portable`] with AVX-VNNI: `vpdpbusd` multiplies four weights of each of
    /// eight outputs by four input bytes and adds them in one instruction, no widening. The 16-bit
    /// inputs go in as two unsigned bytes of `x + 32768`, so each sum is
    /// `256·Σw·hi + Σw·lo − 32768·Σw` (wrapping i32 arithmetic; the true sum fits i32). One row
    /// runs four panels at a time, several rows one panel at a time: either way 16 independent
    /// accumulators hide the instruction's latency.
    ///
    /// # Safety
    /// AVX2, FMA and AVX-VNNI; as [`Dense::int8_rows_avx2`], with `hi` and `lo` holding the rows'
    /// bytes ([`split_input_bytes`]).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avxvnni")]
    unsafe fn int8_rows_vnni(&self, r: &Int8Rows, hi: &[u8], lo: &[u8], y: &mut [f32], y_stride: usize) {
        let (panels, width) = (self.panels(), quads(self.n_in) * 4);
        // SAFETY (every call): as this function's contract; panels `p..p + P` exist.
        unsafe {
            if r.rows == 1 && self.vnni512 {
                let mut p = 0;
                while p + 4 <= panels {
                    self.int8_panels_vnni512::<4>(p, r, hi, lo, y);
                    p += 4;
                }
                while p < panels {
                    self.int8_panels_vnni512::<1>(p, r, hi, lo, y);
                    p += 1;
                }
                return;
            }
            if r.rows == 1 {
                let mut p = 0;
                while p + 2 <= panels {
                    self.int8_panels_vnni::<1, 2>(p, r, hi, lo, y, y_stride);
                    p += 2;
                }
                if p < panels {
                    self.int8_panels_vnni::<1, 1>(p, r, hi, lo, y, y_stride);
                }
                return;
            }
            for p in 0..panels {
                for first in (0..r.rows).step_by(2) {
                    let (hi, lo) = (&hi[first * width..], &lo[first * width..]);
                    let (scales, y) = (&r.x_scales[first..], &mut y[first * y_stride..]);
                    let rest = Int8Rows { x_scales: scales, rows: r.rows - first, ..*r };
                    if r.rows - first == 1 {
                        self.int8_panels_vnni::<1, 1>(p, &rest, hi, lo, y, y_stride);
                    } else {
                        self.int8_panels_vnni::<2, 1>(p, &rest, hi, lo, y, y_stride);
                    }
                }
            }
        }
    }

    /// Panels `p0..p0 + P` of the VNNI int8 product for `G` rows.
    ///
    /// # Safety
    /// As [`Dense::int8_rows_vnni`], with `G == r.rows` and `p0 + P <= panels`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avxvnni")]
    #[inline]
    unsafe fn int8_panels_vnni<const G: usize, const P: usize>(
        &self,
        p0: usize,
        r: &Int8Rows,
        hi: &[u8],
        lo: &[u8],
        y: &mut [f32],
        y_stride: usize,
    ) {
        use core::arch::x86_64::*;
        let width = quads(self.n_in) * 4;
        debug_assert!((p0 + P) * width * PANEL <= r.q.len() && G * width <= hi.len().min(lo.len()));
        // SAFETY: every panel read lies in `r.q`, every input byte in `hi`/`lo`'s first `G` rows.
        unsafe {
            let mut acc_hi = [[[_mm256_setzero_si256(); 2]; P]; G];
            let mut acc_lo = [[[_mm256_setzero_si256(); 2]; P]; G];
            for j in 0..width / 4 {
                let mut w = [[_mm256_setzero_si256(); 2]; P];
                for (k, w) in w.iter_mut().enumerate() {
                    let at = r.q.as_ptr().add(((p0 + k) * width + 4 * j) * PANEL).cast::<__m256i>();
                    *w = [_mm256_loadu_si256(at), _mm256_loadu_si256(at.add(1))];
                }
                for g in 0..G {
                    let x_at = g * width + 4 * j;
                    let vh = _mm256_set1_epi32(hi.as_ptr().add(x_at).cast::<i32>().read_unaligned());
                    let vl = _mm256_set1_epi32(lo.as_ptr().add(x_at).cast::<i32>().read_unaligned());
                    for (k, w) in w.iter().enumerate() {
                        for h in 0..2 {
                            acc_hi[g][k][h] = _mm256_dpbusd_avx_epi32(acc_hi[g][k][h], vh, w[h]);
                            acc_lo[g][k][h] = _mm256_dpbusd_avx_epi32(acc_lo[g][k][h], vl, w[h]);
                        }
                    }
                }
            }
            for g in 0..G {
                for k in 0..P {
                    let p = p0 + k;
                    let mut sums = [0i32; PANEL];
                    for h in 0..2 {
                        let row_sums = r.row_sums.as_ptr().add(p * PANEL + h * LANES).cast();
                        let offset = _mm256_slli_epi32::<15>(_mm256_loadu_si256(row_sums));
                        let scaled_hi = _mm256_slli_epi32::<8>(acc_hi[g][k][h]);
                        let total = _mm256_sub_epi32(_mm256_add_epi32(scaled_hi, acc_lo[g][k][h]), offset);
                        _mm256_storeu_si256(sums.as_mut_ptr().add(h * LANES).cast(), total);
                    }
                    self.int8_finish(p, &sums, r.scales, r.x_scales[g], &mut y[g * y_stride..]);
                }
            }
        }
    }

    /// Panels `p0..p0 + P` of one row's VNNI int8 product on 512-bit registers: a panel's quad
    /// (sixteen outputs × four weights) is one register.
    ///
    /// # Safety
    /// As [`Dense::int8_rows_vnni`], with AVX-512 F, BW and VNNI, `r.rows == 1` and
    /// `p0 + P <= panels`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avxvnni,avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn int8_panels_vnni512<const P: usize>(&self, p0: usize, r: &Int8Rows, hi: &[u8], lo: &[u8], y: &mut [f32]) {
        use core::arch::x86_64::*;
        let width = quads(self.n_in) * 4;
        debug_assert!((p0 + P) * width * PANEL <= r.q.len() && width <= hi.len().min(lo.len()));
        // SAFETY: every panel read lies in `r.q`, every input byte in `hi`/`lo`'s first row.
        unsafe {
            let mut acc_hi = [_mm512_setzero_si512(); P];
            let mut acc_lo = [_mm512_setzero_si512(); P];
            for j in 0..width / 4 {
                let vh = _mm512_set1_epi32(hi.as_ptr().add(4 * j).cast::<i32>().read_unaligned());
                let vl = _mm512_set1_epi32(lo.as_ptr().add(4 * j).cast::<i32>().read_unaligned());
                for k in 0..P {
                    let w = _mm512_loadu_si512(r.q.as_ptr().add(((p0 + k) * width + 4 * j) * PANEL).cast());
                    acc_hi[k] = _mm512_dpbusd_epi32(acc_hi[k], vh, w);
                    acc_lo[k] = _mm512_dpbusd_epi32(acc_lo[k], vl, w);
                }
            }
            for k in 0..P {
                let p = p0 + k;
                let mut sums = [0i32; PANEL];
                let row_sums = _mm512_loadu_si512(r.row_sums.as_ptr().add(p * PANEL).cast());
                let total = _mm512_sub_epi32(
                    _mm512_add_epi32(_mm512_slli_epi32::<8>(acc_hi[k]), acc_lo[k]),
                    _mm512_slli_epi32::<15>(row_sums),
                );
                _mm512_storeu_si512(sums.as_mut_ptr().cast(), total);
                self.int8_finish(p, &sums, r.scales, r.x_scales[0], y);
            }
        }
    }

    fn forward_batch_portable(&self, x: &[f32], x_stride: usize, y: &mut [f32], y_stride: usize, n: usize) {
        let n_in = self.n_in;
        for p in 0..self.panels() {
            let start = p * n_in * PANEL;
            let bias = &self.bias[p * PANEL..(p + 1) * PANEL];
            for b in 0..n {
                let xb = &x[b * x_stride..b * x_stride + n_in];
                let (mut lo, mut hi) = (load8(bias), load8(&bias[LANES..]));
                for (i, &v) in xb.iter().enumerate() {
                    let mut w = [0.0f32; PANEL];
                    let at = start + i * PANEL;
                    match &self.weights {
                        Panels::F32(f) => w.copy_from_slice(&f[at..at + PANEL]),
                        Panels::F16(h) => {
                            for (w, &h) in w.iter_mut().zip(&h[at..at + PANEL]) {
                                *w = half::f16::from_bits(h).to_f32();
                            }
                        }
                        Panels::Int8 { .. } => unreachable!("int8 layers run forward_batch_int8"),
                    }
                    let v = f32x8::splat(v);
                    lo = load8(&w).mul_add(v, lo);
                    hi = load8(&w[LANES..]).mul_add(v, hi);
                }
                let mut out = [0.0; PANEL];
                out[..LANES].copy_from_slice(lo.as_array());
                out[LANES..].copy_from_slice(hi.as_array());
                let first = p * PANEL;
                let m = (self.n_out - first).min(PANEL);
                y[b * y_stride + first..b * y_stride + first + m].copy_from_slice(&out[..m]);
            }
        }
    }

    /// [`Dense::forward_batch`] on AVX2 + FMA with f16 (`H`) or f32 weights.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; `x` and `y` hold `n` rows at their strides (checked
    /// by [`Dense::forward_batch`]); `H` only when the weights are f16.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn forward_batch_avx2_fma<const H: bool>(
        &self,
        x: &[f32],
        x_stride: usize,
        y: &mut [f32],
        y_stride: usize,
        n: usize,
    ) {
        let panels = self.panels();
        let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
        // SAFETY (every call below): the caller checked `n` rows of `x` and `y` at their strides;
        // each call reads rows `first..first + G` and panels `p..p + P` (< panels).
        unsafe {
            if n == 1 {
                // One voice: four panels at a time, so eight independent accumulators hide the
                // FMA latency.
                let mut p = 0;
                while p + 4 <= panels {
                    self.panels_avx2::<1, 4, H>(p, xp, x_stride, yp, y_stride);
                    p += 4;
                }
                while p < panels {
                    self.panels_avx2::<1, 1, H>(p, xp, x_stride, yp, y_stride);
                    p += 1;
                }
                return;
            }
            for p in 0..panels {
                let mut first = 0;
                while first < n {
                    let (xr, yr) = (xp.add(first * x_stride), yp.add(first * y_stride));
                    match n - first {
                        1 => self.panels_avx2::<1, 1, H>(p, xr, x_stride, yr, y_stride),
                        2 => self.panels_avx2::<2, 1, H>(p, xr, x_stride, yr, y_stride),
                        3 => self.panels_avx2::<3, 1, H>(p, xr, x_stride, yr, y_stride),
                        _ => self.panels_avx2::<4, 1, H>(p, xr, x_stride, yr, y_stride),
                    }
                    first += 4;
                }
            }
        }
    }

    /// Panels `p0..p0 + P` for the `G` input rows at `x` (outputs to the `G` rows at `y`).
    ///
    /// # Safety
    /// AVX2 + FMA + F16C; `G` rows of `x` readable to `n_in` and of `y` writable to `n_out` at
    /// their strides; `p0 + P <= panels`; `H` only when the weights are f16.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn panels_avx2<const G: usize, const P: usize, const H: bool>(
        &self,
        p0: usize,
        x: *const f32,
        x_stride: usize,
        y: *mut f32,
        y_stride: usize,
    ) {
        use core::arch::x86_64::*;
        let n_in = self.n_in;
        let first_weight = p0 * n_in * PANEL;
        let (wp, hp) = match &self.weights {
            Panels::F32(w) => (w.as_ptr(), core::ptr::null()),
            Panels::F16(h) => (core::ptr::null(), h.as_ptr()),
            Panels::Int8 { .. } => unreachable!("int8 layers run forward_batch_int8"),
        };
        // SAFETY: see the function's contract; the weights and bias hold whole panels, and only
        // the pointer of the stored kind (`H`) is read.
        unsafe {
            let bp = self.bias.as_ptr().add(p0 * PANEL);
            let mut acc = [[[_mm256_setzero_ps(); 2]; P]; G];
            for q in 0..P {
                let bias = [_mm256_loadu_ps(bp.add(q * PANEL)), _mm256_loadu_ps(bp.add(q * PANEL + LANES))];
                for row in acc.iter_mut() {
                    row[q] = bias;
                }
            }
            for i in 0..n_in {
                let mut w = [[_mm256_setzero_ps(); 2]; P];
                for (q, w) in w.iter_mut().enumerate() {
                    let at = first_weight + (q * n_in + i) * PANEL;
                    *w = if H {
                        let h = hp.add(at).cast::<__m128i>();
                        [_mm256_cvtph_ps(_mm_loadu_si128(h)), _mm256_cvtph_ps(_mm_loadu_si128(h.add(1)))]
                    } else {
                        let f = wp.add(at);
                        [_mm256_loadu_ps(f), _mm256_loadu_ps(f.add(LANES))]
                    };
                }
                for (g, row) in acc.iter_mut().enumerate() {
                    let v = _mm256_broadcast_ss(&*x.add(g * x_stride + i));
                    for (a, w) in row.iter_mut().zip(&w) {
                        a[0] = _mm256_fmadd_ps(w[0], v, a[0]);
                        a[1] = _mm256_fmadd_ps(w[1], v, a[1]);
                    }
                }
            }
            for (g, row) in acc.iter().enumerate() {
                for (q, a) in row.iter().enumerate() {
                    let first = (p0 + q) * PANEL;
                    let m = (self.n_out - first).min(PANEL);
                    let out = y.add(g * y_stride + first);
                    if m == PANEL {
                        _mm256_storeu_ps(out, a[0]);
                        _mm256_storeu_ps(out.add(LANES), a[1]);
                    } else {
                        let mut tmp = [0.0f32; PANEL];
                        _mm256_storeu_ps(tmp.as_mut_ptr(), a[0]);
                        _mm256_storeu_ps(tmp.as_mut_ptr().add(LANES), a[1]);
                        core::ptr::copy_nonoverlapping(tmp.as_ptr(), out, m);
                    }
                }
            }
        }
    }

    /// True when every weight, scale and bias is finite.
    pub fn is_finite(&self) -> bool {
        let weights = match &self.weights {
            Panels::F32(w) => w.iter().all(|v| v.is_finite()),
            Panels::F16(h) => h.iter().all(|&h| half::f16::from_bits(h).is_finite()),
            Panels::Int8 { scales, .. } => scales.iter().all(|v| v.is_finite()),
        };
        weights && self.bias.iter().all(|v| v.is_finite())
    }

    /// Multiply-accumulates per call, for cost reports.
    pub fn macs(&self) -> usize {
        self.n_in * self.n_out
    }

    /// Bytes of weight storage read per call (the memory traffic of one product).
    pub fn weight_bytes(&self) -> usize {
        match &self.weights {
            Panels::F32(w) => 4 * w.len(),
            Panels::F16(h) => 2 * h.len(),
            Panels::Int8 { q, scales, row_sums } => q.len() + 4 * scales.len() + 4 * row_sums.len(),
        }
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

/// The first eight values of `s` (at least eight long) as a vector.
#[inline]
fn load8(s: &[f32]) -> f32x8 {
    let mut a = [0.0; LANES];
    a.copy_from_slice(&s[..LANES]);
    f32x8::new(a)
}

/// Up to eight values from `s` as a vector, the missing lanes zero.
#[inline]
fn load_part(s: &[f32]) -> f32x8 {
    let mut a = [0.0; LANES];
    let m = s.len().min(LANES);
    a[..m].copy_from_slice(&s[..m]);
    f32x8::new(a)
}

/// `e^x` in eight lanes: Cephes' `expf` reduction (`x = n·ln 2 + r`, |r| ≤ ln 2 / 2, ln 2 split in
/// two for exactness) and its degree-6 polynomial, `2^n` built in the exponent bits; within 2 ulp of
/// the C library over the clamped range [−87.3, 88.3] (e^x there is a normal float). NaN stays NaN.
#[inline]
pub fn exp8(x: f32x8) -> f32x8 {
    let nan = x.is_nan();
    let x = x.fast_max(f32x8::splat(-87.336_55)).fast_min(f32x8::splat(88.376_26));
    let n = (x * f32x8::splat(core::f32::consts::LOG2_E)).round();
    let r = n.mul_neg_add(f32x8::splat(0.693_359_4), x);
    let r = n.mul_neg_add(f32x8::splat(-2.121_944_4e-4), r);
    let mut p = f32x8::splat(1.987_569_1e-4);
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        p = p.mul_add(r, f32x8::splat(c));
    }
    let y = p.mul_add(r * r, r) + f32x8::ONE;
    let scale: f32x8 = cast((n.round_int() + i32x8::splat(127)) << 23);
    nan.select(f32x8::splat(f32::NAN), y * scale)
}

/// The logistic sigmoid in eight lanes.
#[inline]
pub fn sigmoid8(x: f32x8) -> f32x8 {
    f32x8::ONE / (f32x8::ONE + exp8(-x))
}

/// `tanh` in eight lanes: `(1 − e^{−2|x|}) / (1 + e^{−2|x|})` with the sign of `x` (no cancellation
/// for large |x|; absolute error ~1e-7 near 0).
#[inline]
pub fn tanh8(x: f32x8) -> f32x8 {
    let e = exp8(f32x8::splat(-2.0) * x.abs());
    let t = (f32x8::ONE - e) / (f32x8::ONE + e);
    x.is_sign_negative().select(-t, t)
}

/// DDSP's `exp_sigmoid` in eight lanes: `max_value · sigmoid(x)^ln(exponent) + threshold` with
/// DDSP's defaults (exponent 10, max 2, threshold 1e-7) — a positive output whose log tracks `x` over
/// a wide range — computed as `2·exp(−ln 10 · ln(1 + e^{−x})) + 1e-7`.
#[inline]
pub fn exp_sigmoid8(x: f32x8) -> f32x8 {
    let log_sigmoid = -exp8(-x).ln_1p();
    f32x8::splat(2.0) * exp8(f32x8::splat(core::f32::consts::LN_10) * log_sigmoid) + f32x8::splat(1e-7)
}

/// `out[i] = exp_sigmoid(logits[i] + shift)`, eight at a time.
#[inline]
pub fn exp_sigmoid_slice(logits: &[f32], shift: f32, out: &mut [f32]) {
    for (o, l) in out.chunks_mut(LANES).zip(logits.chunks(LANES)) {
        let v = exp_sigmoid8(load_part(l) + f32x8::splat(shift));
        let m = o.len();
        o.copy_from_slice(&v.as_array()[..m]);
    }
}

/// DDSP's `exp_sigmoid` of one value (the lane-wise [`exp_sigmoid8`], so a lone value and a
/// vector of them agree exactly).
#[inline]
pub fn exp_sigmoid(x: f32) -> f32 {
    exp_sigmoid8(f32x8::splat(x)).as_array()[0]
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

    /// The gate arithmetic after the two projections: `h` updated in place, eight units at a time.
    #[inline]
    fn update(&self, h: &mut [f32], gates_x: &[f32], gates_h: &[f32]) {
        let n = self.n_hidden;
        let (xz, xr, xh) = (&gates_x[..n], &gates_x[n..2 * n], &gates_x[2 * n..3 * n]);
        let (hz, hr, hh) = (&gates_h[..n], &gates_h[n..2 * n], &gates_h[2 * n..3 * n]);
        for j in (0..n).step_by(LANES) {
            let e = (j + LANES).min(n);
            let z = sigmoid8(load_part(&xz[j..e]) + load_part(&hz[j..e]));
            let r = sigmoid8(load_part(&xr[j..e]) + load_part(&hr[j..e]));
            let candidate = tanh8(r.mul_add(load_part(&hh[j..e]), load_part(&xh[j..e])));
            let old = load_part(&h[j..e]);
            let new = (f32x8::ONE - z) * candidate + z * old;
            h[j..e].copy_from_slice(&new.as_array()[..e - j]);
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

    /// Relative error of `got` against the f64 reference, with an absolute floor.
    fn rel(got: f32, want: f64, floor: f64) -> f64 {
        (f64::from(got) - want).abs() / want.abs().max(floor)
    }

    #[test]
    fn vector_activations_match_the_f64_functions() {
        let (mut worst_exp, mut worst_sig, mut worst_tanh, mut worst_es) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for k in -200_000..=200_000 {
            let x = k as f32 * 4.4e-4; // −88 … 88
            let v = f32x8::splat(x);
            let xd = f64::from(x);
            if xd > -87.3 && xd < 88.3 {
                worst_exp = worst_exp.max(rel(exp8(v).as_array()[0], xd.exp(), 0.0));
            }
            worst_sig = worst_sig.max(rel(sigmoid8(v).as_array()[0], 1.0 / (1.0 + (-xd).exp()), 1e-30));
            worst_tanh = worst_tanh.max((f64::from(tanh8(v).as_array()[0]) - xd.tanh()).abs());
            let es = 2.0 * (1.0 / (1.0 + (-xd).exp())).powf(std::f64::consts::LN_10) + 1e-7;
            worst_es = worst_es.max(rel(exp_sigmoid(x), es, 1e-30));
        }
        assert!(worst_exp < 3e-7, "exp: {worst_exp:e}");
        assert!(worst_sig < 5e-7, "sigmoid: {worst_sig:e}");
        assert!(worst_tanh < 3e-7, "tanh (absolute): {worst_tanh:e}");
        // The exponent ln 10 · ln(1 + e^{−x}) carries f32 rounding: ≤ 5e-6 relative (4e-5 dB).
        assert!(worst_es < 5e-6, "exp_sigmoid: {worst_es:e}");
        // Outside the range: saturated, finite where the function is; NaN stays NaN.
        let tiny = sigmoid8(f32x8::splat(-1e4)).as_array()[0];
        assert!((0.0..1e-38).contains(&tiny) && sigmoid8(f32x8::splat(1e4)).as_array()[0] == 1.0);
        assert_eq!(tanh8(f32x8::splat(1e4)).as_array()[0], 1.0);
        assert_eq!(tanh8(f32x8::splat(-1e4)).as_array()[0], -1.0);
        assert!((exp_sigmoid(-1e4) - 1e-7).abs() < 1e-12 && exp_sigmoid(1e4) == 2.0 + 1e-7);
        assert!(exp8(f32x8::splat(f32::NAN)).as_array()[0].is_nan());
    }

    #[test]
    fn f16_weights_stay_within_the_rounding_bound_on_both_paths() {
        // Each f16 weight is within 2^-11 of its f32 value (relative, normal range), so an output
        // moves by at most 2^-11 · Σ|w_i·x_i| (plus f32 rounding of the sums).
        for (n_in, n_out) in [(3, 5), (64, 48), (200, 130)] {
            let w: Vec<f32> = (0..n_in * n_out).map(|i| ((i * 7919) % 211) as f32 / 70.0 - 1.5).collect();
            let b: Vec<f32> = (0..n_out).map(|i| i as f32 * 0.01 - 0.1).collect();
            let f32_layer = Dense::from_in_out(n_in, n_out, &w, &b);
            let mut f16_layer = f32_layer.clone();
            assert!(f16_layer.to_f16() && f16_layer.is_f16() && f16_layer.is_finite());
            let stride = f32_layer.padded_input_len();
            let rows = 5;
            let x: Vec<f32> = (0..rows * stride)
                .map(|k| if k % stride < n_in { ((k * 13) as f32 * 0.21).sin() * 3.0 } else { 0.0 })
                .collect();
            for (exact, half) in
                [(&f32_layer, &f16_layer), (&f32_layer.clone().without_avx2(), &f16_layer.clone().without_avx2())]
            {
                let (mut want, mut got, mut one) = (vec![0.0; n_out], vec![0.0; rows * n_out], vec![0.0; n_out]);
                half.forward_batch(&x, stride, &mut got, n_out, rows);
                for r in 0..rows {
                    exact.forward(&x[r * stride..], &mut want);
                    half.forward(&x[r * stride..], &mut one);
                    assert_eq!(&got[r * n_out..(r + 1) * n_out], &one[..], "f16 batch = single");
                    for o in 0..n_out {
                        let mass: f32 = (0..n_in).map(|i| (w[i * n_out + o] * x[r * stride + i]).abs()).sum();
                        let bound = mass * (2f32.powi(-11) + 1e-6) + 1e-6;
                        assert!(
                            (got[r * n_out + o] - want[o]).abs() <= bound,
                            "{} vs {} (bound {bound})",
                            got[r * n_out + o],
                            want[o]
                        );
                    }
                }
            }
        }
        // Beyond f16's range a layer stays f32.
        let mut big = Dense::from_in_out(1, 1, &[1e5], &[0.0]);
        assert!(!big.to_f16() && !big.is_f16());
    }

    #[test]
    fn int8_weights_stay_within_the_rounding_bound_on_both_paths() {
        // Each int8 weight is within half its row's step (max|W[o][·]| / 254) of its f32 value, and
        // each input within half the input's step (max|x| / 2·limit), so an output moves by at most
        // step/2 · Σ|x_i| + input_step/2 · Σ|W[o][i]| (plus f32 rounding of the sums).
        for (n_in, n_out) in [(3, 5), (64, 48), (200, 130), (1024, 20), (2048, 3)] {
            let w: Vec<f32> = (0..n_in * n_out).map(|i| ((i * 7919) % 211) as f32 / 70.0 - 1.5).collect();
            let b: Vec<f32> = (0..n_out).map(|i| i as f32 * 0.01 - 0.1).collect();
            let f32_layer = Dense::from_in_out(n_in, n_out, &w, &b);
            let mut int8_layer = f32_layer.clone();
            int8_layer.to_int8();
            assert_eq!(int8_layer.kind(), WeightKind::Int8);
            assert!(int8_layer.is_finite());
            // A byte per weight and four per output's scale: under a third of f32 for real widths.
            assert!(n_in < 64 || int8_layer.weight_bytes() * 3 < f32_layer.weight_bytes());
            let stride = f32_layer.padded_input_len();
            let rows = 5;
            let x: Vec<f32> = (0..rows * stride)
                .map(|k| if k % stride < n_in { ((k * 13) as f32 * 0.21).sin() * 3.0 } else { 0.0 })
                .collect();
            let (fast, vnni256, avx2, portable) = (
                &int8_layer,
                &int8_layer.clone().without_avx512(),
                &int8_layer.clone().without_vnni(),
                &int8_layer.clone().without_avx2(),
            );
            for int8 in [fast, vnni256, avx2, portable] {
                let (mut want, mut got, mut one) = (vec![0.0; n_out], vec![0.0; rows * n_out], vec![0.0; n_out]);
                int8.forward_batch(&x, stride, &mut got, n_out, rows);
                for r in 0..rows {
                    f32_layer.forward(&x[r * stride..], &mut want);
                    int8.forward(&x[r * stride..], &mut one);
                    assert_eq!(&got[r * n_out..(r + 1) * n_out], &one[..], "int8 batch = single");
                    for o in 0..n_out {
                        let step = (0..n_in).map(|i| w[i * n_out + o].abs()).fold(0.0f32, f32::max) / 127.0;
                        let input_mass: f32 = (0..n_in).map(|i| x[r * stride + i].abs()).sum();
                        let mass: f32 = (0..n_in).map(|i| (w[i * n_out + o] * x[r * stride + i]).abs()).sum();
                        let input_step = x[r * stride..r * stride + n_in].iter().fold(0.0f32, |m, v| m.max(v.abs()))
                            / int8_input_limit(n_in);
                        let weight_mass: f32 = (0..n_in).map(|i| w[i * n_out + o].abs()).sum();
                        let bound = step / 2.0 * input_mass + input_step / 2.0 * weight_mass + mass * 1e-6 + 1e-6;
                        let err = (got[r * n_out + o] - want[o]).abs();
                        assert!(err <= bound, "{n_in}x{n_out}: {} vs {} (bound {bound})", got[r * n_out + o], want[o]);
                    }
                }
            }
            // The VNNI, AVX2 and portable paths compute the same integer sums and scale them alike.
            let (mut a, mut p) = (vec![0.0; n_out], vec![0.0; n_out]);
            avx2.forward(&x, &mut a);
            portable.forward(&x, &mut p);
            assert_eq!(a, p, "AVX2 and portable int8 paths");
            vnni256.forward(&x, &mut a);
            assert_eq!(a, p, "VNNI (where the CPU has it) and portable int8 paths");
            fast.forward(&x, &mut a);
            assert_eq!(a, p, "AVX-512 VNNI (where the CPU has it) and portable int8 paths");
            // Back to f32: the int8 values times their scales, differing only by the input's rounding.
            let mut back = int8_layer.clone();
            back.to_f32();
            assert_eq!(back.kind(), WeightKind::F32);
            back.forward(&x, &mut a);
            let input_step = x[..n_in].iter().fold(0.0f32, |m, v| m.max(v.abs())) / int8_input_limit(n_in);
            for o in 0..n_out {
                let weight_mass: f32 = (0..n_in).map(|i| back.weight(o, i).abs()).sum();
                assert!((a[o] - p[o]).abs() <= input_step / 2.0 * weight_mass * 1.01 + 1e-5, "{} vs {}", a[o], p[o]);
            }
        }
        // Wider than INT8_MAX_INPUTS: stays f32.
        let mut wide_layer = Dense::from_in_out(INT8_MAX_INPUTS + 1, 1, &vec![0.5; INT8_MAX_INPUTS + 1], &[0.0]);
        assert!(!wide_layer.to_int8() && wide_layer.kind() == WeightKind::F32);
        // A row of zeros has scale 0 and gives its bias.
        let mut zero = Dense::from_in_out(2, 1, &[0.0, 0.0], &[0.5]);
        zero.to_int8();
        let mut y = [0.0];
        zero.forward(&[1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &mut y);
        assert_eq!(y, [0.5]);
    }

    #[test]
    fn int8_sums_at_the_limits_do_not_overflow() {
        // Every weight ±127 and every input at the largest magnitude: the widest sums there are.
        for n_in in [1, 3, 1024, INT8_MAX_INPUTS] {
            for sign in [1i8, -1] {
                let q = vec![127 * sign; n_in * 2];
                let layer = Dense::from_int8_out_in(n_in, 2, &q, &[0.5, 0.25], &[0.0, 1.0]);
                let mut x = vec![0.0f32; layer.padded_input_len()];
                x[..n_in].fill(-2.0);
                let want = [
                    -127.0 * f32::from(sign) * 2.0 * n_in as f32 * 0.5,
                    1.0 - 127.0 * f32::from(sign) * 2.0 * n_in as f32 * 0.25,
                ];
                for l in [
                    layer.clone(),
                    layer.clone().without_avx512(),
                    layer.clone().without_vnni(),
                    layer.clone().without_avx2(),
                ] {
                    let mut y = [0.0; 2];
                    l.forward(&x, &mut y);
                    for (got, want) in y.iter().zip(want) {
                        assert!((got - want).abs() <= want.abs() * 1e-5, "{n_in} inputs: {got} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn quantised_rows_keep_their_int8_values() {
        // Stored [out][in] with a scale per row, as TFLite's per-channel weights are; the products
        // differ from exact ones only by the input's rounding.
        let (n_in, n_out) = (19, 21);
        let q: Vec<i8> = (0..n_in * n_out).map(|k| ((k * 37) % 255) as i16 as i8).map(|v| v.max(-127)).collect();
        let scales: Vec<f32> = (0..n_out).map(|o| 0.001 * (o + 1) as f32).collect();
        let bias: Vec<f32> = (0..n_out).map(|o| o as f32 * 0.1).collect();
        let layer = Dense::from_int8_out_in(n_in, n_out, &q, &scales, &bias);
        let x: Vec<f32> =
            (0..layer.padded_input_len()).map(|i| if i < n_in { (i as f32).cos() } else { 0.0 }).collect();
        for l in
            [layer.clone(), layer.clone().without_avx512(), layer.clone().without_vnni(), layer.clone().without_avx2()]
        {
            let mut y = vec![0.0; n_out];
            l.forward(&x, &mut y);
            for o in 0..n_out {
                let exact: f64 = (0..n_in).map(|i| f64::from(q[o * n_in + i]) * f64::from(x[i])).sum::<f64>()
                    * f64::from(scales[o])
                    + f64::from(bias[o]);
                let weight_mass: f64 =
                    (0..n_in).map(|i| f64::from(q[o * n_in + i]).abs()).sum::<f64>() * f64::from(scales[o]);
                let bound = weight_mass / f64::from(int8_input_limit(n_in)) / 2.0 + 1e-6;
                assert!((f64::from(y[o]) - exact).abs() < bound, "{} vs {exact} (bound {bound})", y[o]);
            }
        }
        // NaN in, NaN out (as f32 arithmetic); zeros in, the bias out.
        let mut y = vec![0.0; n_out];
        let mut poisoned = x.clone();
        poisoned[3] = f32::NAN;
        layer.forward(&poisoned, &mut y);
        assert!(y.iter().all(|v| v.is_nan()));
        layer.forward(&vec![0.0; x.len()], &mut y);
        assert_eq!(y, bias);
    }

    #[test]
    fn panels_give_the_same_bits_for_one_voice_and_any_batch() {
        for (n_in, n_out) in [(1, 5), (37, 29), (64, 48), (200, 130)] {
            let w: Vec<f32> = (0..n_in * n_out).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
            let b: Vec<f32> = (0..n_out).map(|i| i as f32 * 0.01 - 0.1).collect();
            let fast = Dense::from_in_out(n_in, n_out, &w, &b);
            let portable = fast.clone().without_avx2();
            let stride = fast.padded_input_len() + 3;
            let rows = 9;
            let mut x = vec![0.0; rows * stride];
            for r in 0..rows {
                for i in 0..n_in {
                    x[r * stride + i] = ((r * 31 + i) as f32 * 0.37).sin();
                }
            }
            for dense in [&fast, &portable] {
                let mut one = vec![0.0; n_out];
                let ys = n_out + 2;
                for n in 1..=rows {
                    let mut y = vec![f32::NAN; n * ys];
                    dense.forward_batch(&x, stride, &mut y, ys, n);
                    for r in 0..n {
                        dense.forward(&x[r * stride..], &mut one);
                        assert_eq!(&y[r * ys..r * ys + n_out], &one[..], "{n_in}x{n_out}, batch {n}, row {r}");
                        assert!(y[r * ys + n_out].is_nan(), "wrote past n_out");
                        for o in 0..n_out {
                            let exact: f64 = (0..n_in)
                                .map(|i| f64::from(w[i * n_out + o]) * f64::from(x[r * stride + i]))
                                .sum::<f64>()
                                + f64::from(b[o]);
                            assert!((f64::from(one[o]) - exact).abs() < 1e-4, "{} vs {exact}", one[o]);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    /// Per-call time of one GRU-sized product (1536 × 512) on each path; a development probe,
    /// not a test of speed (`cargo test --release -p ddsp-core --lib timing -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn time_each_weight_kind() {
        let (n_in, n_out) = (512, 1536);
        let w: Vec<f32> = (0..n_in * n_out).map(|i| ((i * 7919) % 211) as f32 / 70.0 - 1.5).collect();
        let b = vec![0.1; n_out];
        let f32_layer = Dense::from_in_out(n_in, n_out, &w, &b);
        let mut half = f32_layer.clone();
        half.to_f16();
        let mut int8 = f32_layer.clone();
        int8.to_int8();
        let x: Vec<f32> = (0..n_in).map(|i| (i as f32 * 0.1).sin()).collect();
        let mut y = vec![0.0; n_out];
        for (name, layer) in [
            ("f32", &f32_layer),
            ("f16", &half),
            ("int8 vnni512", &int8),
            ("int8 vnni", &int8.clone().without_avx512()),
            ("int8 avx2", &int8.clone().without_vnni()),
            ("int8 portable", &int8.clone().without_avx2()),
        ] {
            for _ in 0..100 {
                layer.forward(&x, &mut y);
            }
            let start = std::time::Instant::now();
            for _ in 0..2000 {
                layer.forward(&x, &mut y);
            }
            println!("{name}: {:.2} us per call", start.elapsed().as_secs_f64() * 1e6 / 2000.0);
        }
    }
}
