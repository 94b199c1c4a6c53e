//! The DDSP RNN-FC decoder run natively: (f0, loudness) → MLPs → GRU → MLP → controls.
//!
//! This is DDSP's `RnnFcDecoder` as DDSP-VST and our trainer build it:
//!
//! ```text
//! f0_scaled ─ fc_stack ─┐                  ┌─ f0 features ─┐
//!                       ├─ concat ─ GRU ─ h ┤               ├─ concat ─ fc_stack ─ dense ─ split
//! ld_scaled ─ fc_stack ─┘                  └─ ld features ─┘
//! fc_stack = n × (dense → layer norm → leaky ReLU)
//! split    = amplitude (1) | harmonic distribution (K) | noise magnitudes (M), each exp_sigmoid'ed,
//!            the noise logits shifted by −5 first (DDSP's FilteredNoise initial bias)
//! ```
//!
//! The weights are immutable and shared (`Arc`) between voices; each voice owns a [`DecoderState`]
//! with the GRU state and every scratch buffer, so [`DecoderWeights::forward`] never allocates.

use super::kernels::{exp_sigmoid, exp_sigmoid_slice, leaky_relu_in_place, Dense, Gru, LayerNorm, WeightKind};

/// DDSP's FilteredNoise `initial_bias`, added to the noise logits before `exp_sigmoid`.
pub const NOISE_LOGIT_BIAS: f32 = -5.0;

/// One `dense → layer norm → leaky ReLU` layer.
#[derive(Clone, Debug)]
pub struct FcLayer {
    pub dense: Dense,
    pub norm: LayerNorm,
}

#[derive(Clone, Debug)]
pub struct DecoderWeights {
    pub f0_stack: Vec<FcLayer>,
    pub loudness_stack: Vec<FcLayer>,
    pub gru: Gru,
    pub out_stack: Vec<FcLayer>,
    pub head: Dense,
    pub leaky_relu_alpha: f32,
    pub n_harmonics: usize,
    pub n_noise_bands: usize,
    /// Concatenation order of the stacks before the GRU and the output stack: DDSP-VST exports
    /// put loudness first, our ONNX contract puts f0 first.
    pub loudness_first: bool,
    /// Added to the noise logits before `exp_sigmoid` (DDSP's FilteredNoise `initial_bias`, −5).
    pub noise_logit_bias: f32,
}

/// The controls of one frame, in DDSP's units: linear amplitude, an (unnormalised) positive harmonic
/// distribution and linear noise band magnitudes.
#[derive(Clone, Debug, Default)]
pub struct FrameControls {
    pub amplitude: f32,
    pub harmonic_distribution: Vec<f32>,
    pub noise_magnitudes: Vec<f32>,
}

/// Per-voice recurrent state and scratch. Created by [`DecoderWeights::new_state`] (allocates).
#[derive(Clone, Debug)]
pub struct DecoderState {
    /// GRU hidden state, padded with zeros to the recurrent kernel's input length.
    pub hidden: Vec<f32>,
    f0_features: Vec<f32>,
    loudness_features: Vec<f32>,
    out_features: Vec<f32>,
    /// Ping-pong buffers for the MLP stacks, each as long as the widest layer (padded).
    a: Vec<f32>,
    b: Vec<f32>,
    gates_x: Vec<f32>,
    gates_h: Vec<f32>,
    logits: Vec<f32>,
    pub controls: FrameControls,
}

fn padded(n: usize) -> usize {
    n.div_ceil(8) * 8
}

impl DecoderWeights {
    pub fn n_hidden(&self) -> usize {
        self.gru.n_hidden
    }

    /// Output width of a stack (its last layer), or its input width when empty.
    fn stack_width(stack: &[FcLayer], input: usize) -> usize {
        stack.last().map_or(input, |l| l.dense.n_out)
    }

    /// A fresh zero state for one voice. Allocates.
    pub fn new_state(&self) -> DecoderState {
        let widest = self
            .f0_stack
            .iter()
            .chain(&self.loudness_stack)
            .chain(&self.out_stack)
            .flat_map(|l| [l.dense.n_in, l.dense.n_out])
            .chain([self.head.n_in, self.head.n_out, self.gru.input.n_in])
            .max()
            .unwrap_or(1);
        let scratch = padded(widest.max(self.gru.n_hidden * 3));
        DecoderState {
            hidden: vec![0.0; padded(self.gru.n_hidden)],
            f0_features: vec![0.0; padded(Self::stack_width(&self.f0_stack, 1))],
            loudness_features: vec![0.0; padded(Self::stack_width(&self.loudness_stack, 1))],
            out_features: vec![0.0; padded(self.head.n_in)],
            a: vec![0.0; scratch],
            b: vec![0.0; scratch],
            gates_x: vec![0.0; 3 * self.gru.n_hidden],
            gates_h: vec![0.0; 3 * self.gru.n_hidden],
            logits: vec![0.0; padded(self.head.n_out)],
            controls: FrameControls {
                amplitude: 0.0,
                harmonic_distribution: vec![0.0; self.n_harmonics],
                noise_magnitudes: vec![0.0; self.n_noise_bands],
            },
        }
    }

    /// Runs a stack on `input` (already in `a[..n_in]`, zero-padded), leaving the result in `out`.
    fn run_stack(&self, stack: &[FcLayer], a: &mut [f32], b: &mut [f32], out: &mut [f32]) {
        let (mut src, mut dst) = (a, b);
        for layer in stack {
            let n = layer.dense.n_out;
            layer.dense.forward(src, dst);
            layer.norm.forward_in_place(&mut dst[..n]);
            leaky_relu_in_place(&mut dst[..n], self.leaky_relu_alpha);
            // Zero the padding the next dense layer reads.
            dst[n..padded(n)].iter_mut().for_each(|v| *v = 0.0);
            core::mem::swap(&mut src, &mut dst);
        }
        let n = out.len().min(src.len());
        out[..n].copy_from_slice(&src[..n]);
    }

    /// One frame: scaled inputs in, `state.controls` out, `state.hidden` advanced. Never allocates.
    pub fn forward(&self, f0_scaled: f32, loudness_scaled: f32, state: &mut DecoderState) {
        let DecoderState {
            hidden,
            f0_features,
            loudness_features,
            out_features,
            a,
            b,
            gates_x,
            gates_h,
            logits,
            controls,
        } = state;

        a.iter_mut().for_each(|v| *v = 0.0);
        a[0] = f0_scaled;
        self.run_stack(&self.f0_stack, a, b, f0_features);
        a.iter_mut().for_each(|v| *v = 0.0);
        a[0] = loudness_scaled;
        self.run_stack(&self.loudness_stack, a, b, loudness_features);

        // GRU input: both stacks' features, in the model's order.
        let nf = Self::stack_width(&self.f0_stack, 1);
        let nl = Self::stack_width(&self.loudness_stack, 1);
        let (first, second) = if self.loudness_first {
            (&loudness_features[..nl], &f0_features[..nf])
        } else {
            (&f0_features[..nf], &loudness_features[..nl])
        };
        a.iter_mut().for_each(|v| *v = 0.0);
        a[..first.len()].copy_from_slice(first);
        a[first.len()..nf + nl].copy_from_slice(second);
        self.gru.step(a, hidden, gates_x, gates_h);

        // Output stack input: [stack features, GRU output] (DDSP's concat order).
        let nh = self.gru.n_hidden;
        a[nf + nl..nf + nl + nh].copy_from_slice(&hidden[..nh]);
        self.run_stack(&self.out_stack, a, b, out_features);
        self.head.forward(out_features, logits);
        self.controls_from_logits(logits, controls);
    }

    /// The head's logits as controls: amplitude, harmonic distribution, noise magnitudes.
    fn controls_from_logits(&self, logits: &[f32], controls: &mut FrameControls) {
        let k = self.n_harmonics;
        controls.amplitude = exp_sigmoid(logits[0]);
        exp_sigmoid_slice(&logits[1..1 + k], 0.0, &mut controls.harmonic_distribution);
        let m = controls.noise_magnitudes.len();
        exp_sigmoid_slice(&logits[1 + k..1 + k + m], self.noise_logit_bias, &mut controls.noise_magnitudes);
    }

    /// Scratch for running up to `capacity` voices' frames as one batch. Allocates.
    pub fn new_batch(&self, capacity: usize) -> DecoderBatch {
        let one = self.new_state();
        let (sw, pf, pl, po) =
            (one.a.len(), one.f0_features.len(), one.loudness_features.len(), one.out_features.len());
        let (ph, pg, pz) = (one.hidden.len(), one.gates_x.len(), one.logits.len());
        let c = capacity.max(1);
        DecoderBatch {
            capacity: c,
            f0_scaled: vec![0.0; c],
            loudness_scaled: vec![0.0; c],
            widths: [sw, pf, pl, po, ph, pg, pz],
            a: vec![0.0; c * sw],
            b: vec![0.0; c * sw],
            f0_features: vec![0.0; c * pf],
            loudness_features: vec![0.0; c * pl],
            out_features: vec![0.0; c * po],
            hidden: vec![0.0; c * ph],
            gates_x: vec![0.0; c * pg],
            gates_h: vec![0.0; c * pg],
            logits: vec![0.0; c * pz],
        }
    }

    /// [`Self::run_stack`] on `n` rows of `a` (each `widths[0]` long), rows of `out` at `out_stride`.
    fn run_stack_batch(
        &self,
        stack: &[FcLayer],
        a: &mut [f32],
        b: &mut [f32],
        sw: usize,
        out: &mut [f32],
        out_stride: usize,
        n: usize,
    ) {
        let (mut src, mut dst) = (a, b);
        for layer in stack {
            let m = layer.dense.n_out;
            layer.dense.forward_batch(src, sw, dst, sw, n);
            for row in dst.chunks_mut(sw).take(n) {
                layer.norm.forward_in_place(&mut row[..m]);
                leaky_relu_in_place(&mut row[..m], self.leaky_relu_alpha);
                row[m..padded(m)].iter_mut().for_each(|v| *v = 0.0);
            }
            core::mem::swap(&mut src, &mut dst);
        }
        let k = out_stride.min(sw);
        for (o, s) in out.chunks_mut(out_stride).zip(src.chunks(sw)).take(n) {
            o[..k].copy_from_slice(&s[..k]);
        }
    }

    /// [`Self::forward`] for the first `n` rows of `batch` (inputs and hidden states loaded by
    /// [`DecoderBatch::load`]): each weight matrix is read once for the whole batch. Bit-identical
    /// to `n` calls of `forward`. Never allocates.
    pub fn forward_batch(&self, batch: &mut DecoderBatch, n: usize) {
        let n = n.min(batch.capacity);
        let [sw, pf, pl, po, ph, pg, pz] = batch.widths;
        let DecoderBatch {
            f0_scaled,
            loudness_scaled,
            a,
            b,
            f0_features,
            loudness_features,
            out_features,
            hidden,
            gates_x,
            gates_h,
            logits,
            ..
        } = batch;
        let _ = pg;
        for (row, &x) in a.chunks_mut(sw).zip(f0_scaled.iter()).take(n) {
            row.iter_mut().for_each(|v| *v = 0.0);
            row[0] = x;
        }
        self.run_stack_batch(&self.f0_stack, a, b, sw, f0_features, pf, n);
        for (row, &x) in a.chunks_mut(sw).zip(loudness_scaled.iter()).take(n) {
            row.iter_mut().for_each(|v| *v = 0.0);
            row[0] = x;
        }
        self.run_stack_batch(&self.loudness_stack, a, b, sw, loudness_features, pl, n);

        let nf = Self::stack_width(&self.f0_stack, 1);
        let nl = Self::stack_width(&self.loudness_stack, 1);
        for r in 0..n {
            let (f0f, ldf) = (&f0_features[r * pf..r * pf + nf], &loudness_features[r * pl..r * pl + nl]);
            let (first, second) = if self.loudness_first { (ldf, f0f) } else { (f0f, ldf) };
            let row = &mut a[r * sw..(r + 1) * sw];
            row.iter_mut().for_each(|v| *v = 0.0);
            row[..first.len()].copy_from_slice(first);
            row[first.len()..nf + nl].copy_from_slice(second);
        }
        self.gru.step_batch(a, sw, hidden, ph, gates_x, gates_h, n);
        let nh = self.gru.n_hidden;
        for r in 0..n {
            a[r * sw + nf + nl..r * sw + nf + nl + nh].copy_from_slice(&hidden[r * ph..r * ph + nh]);
        }
        self.run_stack_batch(&self.out_stack, a, b, sw, out_features, po, n);
        self.head.forward_batch(out_features, po, logits, pz, n);
    }
}

/// Scratch for [`DecoderWeights::forward_batch`]: every buffer of [`DecoderState`], one row per
/// voice, contiguous so each layer runs as one matrix × matrix product.
#[derive(Clone, Debug)]
pub struct DecoderBatch {
    capacity: usize,
    f0_scaled: Vec<f32>,
    loudness_scaled: Vec<f32>,
    /// Row widths: scratch, f0 features, loudness features, out features, hidden, gates, logits.
    widths: [usize; 7],
    a: Vec<f32>,
    b: Vec<f32>,
    f0_features: Vec<f32>,
    loudness_features: Vec<f32>,
    out_features: Vec<f32>,
    hidden: Vec<f32>,
    gates_x: Vec<f32>,
    gates_h: Vec<f32>,
    logits: Vec<f32>,
}

impl DecoderBatch {
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Row `slot`: this frame's scaled inputs and the voice's recurrent state.
    pub fn load(&mut self, slot: usize, f0_scaled: f32, loudness_scaled: f32, state: &DecoderState) {
        let ph = self.widths[4];
        self.f0_scaled[slot] = f0_scaled;
        self.loudness_scaled[slot] = loudness_scaled;
        self.hidden[slot * ph..(slot + 1) * ph].copy_from_slice(&state.hidden[..ph]);
    }

    /// Row `slot`'s results back into the voice's state: the new recurrent state and the controls.
    pub fn store(&self, slot: usize, weights: &DecoderWeights, state: &mut DecoderState) {
        let (ph, pz) = (self.widths[4], self.widths[6]);
        state.hidden[..ph].copy_from_slice(&self.hidden[slot * ph..(slot + 1) * ph]);
        weights.controls_from_logits(&self.logits[slot * pz..(slot + 1) * pz], &mut state.controls);
    }
}

impl DecoderWeights {
    /// Every weight matrix: the GRU's two, the head, then the stacks' layers.
    fn matrices(&self) -> impl Iterator<Item = &Dense> {
        let layers = self.f0_stack.iter().chain(&self.loudness_stack).chain(&self.out_stack).map(|l| &l.dense);
        [&self.gru.input, &self.gru.recurrent, &self.head].into_iter().chain(layers)
    }

    fn matrices_mut(&mut self) -> impl Iterator<Item = &mut Dense> {
        let layers =
            self.f0_stack.iter_mut().chain(&mut self.loudness_stack).chain(&mut self.out_stack).map(|l| &mut l.dense);
        [&mut self.gru.input, &mut self.gru.recurrent, &mut self.head].into_iter().chain(layers)
    }

    /// `(matrices stored as kind, all matrices)`.
    pub fn matrices_of(&self, kind: WeightKind) -> (usize, usize) {
        (self.matrices().filter(|m| m.kind() == kind).count(), self.matrices().count())
    }

    /// `(f16 matrices, all matrices)`: how many weight matrices are stored as f16 now.
    pub fn f16_matrices(&self) -> (usize, usize) {
        self.matrices_of(WeightKind::F16)
    }

    /// Stores every dense and GRU weight matrix as f16 (f32 arithmetic: half the weight traffic
    /// per frame). Returns `(converted, total)` matrices; a matrix beyond f16's range stays f32.
    pub fn to_f16(&mut self) -> (usize, usize) {
        let converted = self.matrices_mut().map(|m| usize::from(m.to_f16())).sum();
        (converted, self.matrices().count())
    }

    /// Stores every weight matrix as int8 with a scale per output ([`Dense::to_int8`]: a quarter
    /// of the f32 weight traffic per frame). Returns `(converted, total)` matrices.
    pub fn to_int8(&mut self) -> (usize, usize) {
        let converted = self.matrices_mut().map(|m| usize::from(m.to_int8())).sum();
        (converted, self.matrices().count())
    }

    /// Stores every weight matrix as f32 (the values an f16 or int8 matrix holds, exactly).
    pub fn to_f32(&mut self) {
        self.matrices_mut().for_each(Dense::to_f32);
    }

    /// Multiply-accumulates per frame (dense and GRU matrices), for cost reports.
    pub fn macs_per_frame(&self) -> usize {
        self.matrices().map(Dense::macs).sum()
    }
}

/// The layer sizes of a decoder, for building one with random weights (benchmarks, tests).
#[derive(Clone, Copy, Debug)]
pub struct DecoderShape {
    pub stack_units: usize,
    pub stack_layers: usize,
    pub gru_units: usize,
    pub out_units: usize,
    pub out_layers: usize,
    pub n_harmonics: usize,
    pub n_noise_bands: usize,
}

impl DecoderShape {
    /// DDSP-VST's decoder (`vst.gin`): input stacks 1 × 256, GRU 512, output stack 1 × 256,
    /// 60 harmonics and 65 noise bands (as in the fixture model's FULLY_CONNECTED shapes).
    pub const DDSP_VST: Self = Self {
        stack_units: 256,
        stack_layers: 1,
        gru_units: 512,
        out_units: 256,
        out_layers: 1,
        n_harmonics: 60,
        n_noise_bands: 65,
    };
}

impl DecoderWeights {
    /// A decoder of `shape` with seeded pseudo-random weights (scaled like Glorot initialisation).
    /// It computes nothing musical; it costs exactly what a trained decoder of that shape costs.
    pub fn random(shape: DecoderShape, seed: u64) -> Self {
        let mut state = seed.max(1);
        let mut uniform = move |scale: f32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        };
        let mut dense = |n_in: usize, n_out: usize| {
            let scale = (6.0 / (n_in + n_out) as f32).sqrt();
            let w: Vec<f32> = (0..n_in * n_out).map(|_| uniform(scale)).collect();
            let b: Vec<f32> = (0..n_out).map(|_| uniform(0.1)).collect();
            Dense::from_in_out(n_in, n_out, &w, &b)
        };
        let mut stack = |n_in: usize, units: usize, layers: usize| -> Vec<FcLayer> {
            (0..layers)
                .map(|i| FcLayer {
                    dense: dense(if i == 0 { n_in } else { units }, units),
                    norm: LayerNorm { scale: vec![1.0; units], bias: vec![0.0; units], epsilon: 1e-3 },
                })
                .collect()
        };
        let s = shape;
        let f0_stack = stack(1, s.stack_units, s.stack_layers);
        let loudness_stack = stack(1, s.stack_units, s.stack_layers);
        let gru_in = 2 * s.stack_units;
        let out_stack = stack(gru_in + s.gru_units, s.out_units, s.out_layers);
        let gru = Gru {
            n_hidden: s.gru_units,
            input: dense(gru_in, 3 * s.gru_units),
            recurrent: dense(s.gru_units, 3 * s.gru_units),
        };
        let head = dense(s.out_units, 1 + s.n_harmonics + s.n_noise_bands);
        Self {
            f0_stack,
            loudness_stack,
            gru,
            out_stack,
            head,
            leaky_relu_alpha: 0.2,
            n_harmonics: s.n_harmonics,
            n_noise_bands: s.n_noise_bands,
            loudness_first: true,
            noise_logit_bias: NOISE_LOGIT_BIAS,
        }
    }
}
