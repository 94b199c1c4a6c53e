"""The DDSP decoder our runtime executes (`models/FORMAT.md`, `ddsp-rnn-fc/1`) and the
differentiable synthesisers it is trained through.

    f0, loudness -> f0_stack, ld_stack -> GRU -> out_stack -> head -> amplitude, harmonic
    distribution, noise magnitudes -> harmonic synth + filtered noise (+ optional learned reverb)

The synthesisers follow the runtime's (`dsp-core/src/harmonic.rs`, `noise.rs`): harmonics at or
above the model's Nyquist removed and the distribution renormalised; controls interpolated linearly
per sample, frame i's value at the frame's end; noise is uniform in [-1, 1) filtered by STFT
overlap-add (sqrt-Hann, 50 %), band magnitudes interpolated linearly onto the FFT bins.
"""
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
import torch.nn.functional as F

from . import HOP, SAMPLE_RATE

EPSILON = 1e-3  # Keras LayerNormalization default, as in DDSP
ALPHA = 0.2  # leaky-ReLU slope, as in DDSP
NOISE_BIAS = -5.0
LN10 = math.log(10.0)
NOISE_HOP = 128  # the runtime's noise hop at 48 kHz (>= 2.5 ms)


@dataclass
class ModelConfig:
    stack_units: int = 128
    stack_layers: int = 1
    gru_units: int = 192
    out_units: int = 192
    out_layers: int = 2
    n_harmonics: int = 64
    n_noise_bands: int = 65
    reverb_seconds: float = 0.0  # > 0: a learned reverb impulse response (not exported, see FORMAT.md)
    # Conditioned on the source (two or more): the sources' names (the dataset's first folder level,
    # e.g. the soundfonts), each with learned offsets to every layer's bias (`Decoder.SOURCE_SITES`);
    # an export plays one of them, the offsets folded into the biases (`Decoder.baked`).
    sources: list = field(default_factory=list)
    # [lo, hi] MIDI (`train --pitch-knots`: the training data's f0 range): the f0 stack's first layer
    # starts with its units' knots spread over that range (`Decoder.init_pitch_knots`); empty: PyTorch's
    # default initialisation.
    pitch_knots_midi: list = field(default_factory=list)

    def to_dict(self):
        return asdict(self)


def exp_sigmoid(x):
    return 2.0 * torch.sigmoid(x) ** LN10 + 1e-7


def inv_exp_sigmoid(y):
    s = torch.clamp((y - 1e-7) / 2.0, 1e-12, 1 - 1e-7) ** (1.0 / LN10)
    return torch.log(s / (1.0 - s))


def hz_to_midi(f0_hz):
    return 12.0 * torch.log2(f0_hz / 440.0) + 69.0


def scale_f0(f0_hz):
    return torch.clamp(hz_to_midi(torch.clamp(f0_hz, min=1e-3)), min=0.0) / 127.0


class StackLayer(nn.Module):
    def __init__(self, n_in, units):
        super().__init__()
        self.dense = nn.Linear(n_in, units)
        self.norm = nn.LayerNorm(units, eps=EPSILON)

    def forward(self, x):
        return F.leaky_relu(self.norm(self.dense(x)), ALPHA)


def stack(n_in, units, layers):
    return nn.Sequential(*[StackLayer(n_in if i == 0 else units, units) for i in range(layers)])


def run_stack(layers, x, offset=None):
    """A stack whose first dense layer's output is moved by `offset` (a source's, or none)."""
    for i, layer in enumerate(layers):
        y = layer.dense(x)
        x = F.leaky_relu(layer.norm(y if offset is None or i else y + offset), ALPHA)
    return x


class Decoder(nn.Module):
    """f0 (Hz) and loudness (dB), [B, T] each -> controls [B, T, ...] and the final GRU state. With
    `cfg.sources`, each row of the batch also names its source (an index into them)."""

    # Where a source moves the network: the first dense layer of each stack, the GRU's input, the head.
    SOURCE_SITES = ("f0_stack", "ld_stack", "gru", "out_stack", "head")

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        u = cfg.stack_units
        self.f0_stack = stack(1, u, cfg.stack_layers)
        self.ld_stack = stack(1, u, cfg.stack_layers)
        self.gru = nn.GRU(2 * u, cfg.gru_units, batch_first=True)
        self.out_stack = stack(2 * u + cfg.gru_units, cfg.out_units, cfg.out_layers)
        self.head = nn.Linear(cfg.out_units, 1 + cfg.n_harmonics + cfg.n_noise_bands)
        self.init_head()
        if cfg.pitch_knots_midi:
            self.init_pitch_knots(*cfg.pitch_knots_midi)
        if len(cfg.sources) > 1:
            # Zero at the start: every source begins as the average the unconditioned model learns.
            sizes = (u, u, 2 * u, cfg.out_units, 1 + cfg.n_harmonics + cfg.n_noise_bands)
            self.source_offsets = nn.ParameterDict(
                {site: nn.Parameter(torch.zeros(len(cfg.sources), n)) for site, n in zip(self.SOURCE_SITES, sizes)})
        else:
            self.source_offsets = None

    def baked(self, source):
        """An unconditioned decoder that plays source `source` (name): each offset folded into the bias it
        moves (the GRU's input offset δ through its input weights: W(x + δ) + b = Wx + (b + Wδ)), so the
        exported graph is the plain format's."""
        plain = Decoder(ModelConfig(**{**self.cfg.to_dict(), "sources": []}))
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("source_offsets.")}
        plain.load_state_dict(state)
        if self.source_offsets is None:
            return plain
        if source not in self.cfg.sources:
            raise ValueError(f"unknown source {source!r} (the model knows {', '.join(self.cfg.sources)})")
        index = self.cfg.sources.index(source)
        off = {site: p[index].detach() for site, p in self.source_offsets.items()}
        with torch.no_grad():
            plain.f0_stack[0].dense.bias += off["f0_stack"]
            plain.ld_stack[0].dense.bias += off["ld_stack"]
            plain.gru.bias_ih_l0 += plain.gru.weight_ih_l0 @ off["gru"]
            plain.out_stack[0].dense.bias += off["out_stack"]
            plain.head.bias += off["head"]
        return plain

    def init_head(self):
        """Start from a plausible sound instead of a flat 64-harmonic buzz: amplitude -26 dB, harmonics
        falling as 1/k^2, small weights. From DDSP's default init the first updates push the amplitude
        into exp_sigmoid's flat tail (measured: amplitude 0 at step 500, only noise), where its
        gradient vanishes and the harmonic part never comes back."""
        k = torch.arange(1, self.cfg.n_harmonics + 1, dtype=torch.float32)
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()
            self.head.bias[0] = inv_exp_sigmoid(torch.tensor(0.05))
            self.head.bias[1:1 + self.cfg.n_harmonics] = inv_exp_sigmoid(k ** -2.0)

    def init_pitch_knots(self, lo_midi, hi_midi, margin=2.0):
        """Let the network tell neighbouring notes apart: each unit of the f0 stack's first layer is a
        ramp in pitch, rising or falling (alternately), with its knot (the zero its leaky ReLU bends at,
        after the layer norm) at its own pitch, the knots evenly over [lo - margin, hi + margin] MIDI and
        the ramps' slope one unit over that span. From PyTorch's default init (weights and biases
        U(-1, 1) on MIDI/127) only 6-12 of 128 knots fall inside an instrument's range, and training
        moves them little (12-19 in the cello, clarinet and horn trained so): their f0 features were a
        nearly straight line through the range (path length within 2 % of the distance between its
        ends), too coarse for timbres that change from note to note (`README`, "A fifth cause")."""
        layer = self.f0_stack[0].dense
        units = layer.out_features
        lo, hi = (lo_midi - margin) / 127.0, (hi_midi + margin) / 127.0
        knots = lo + (hi - lo) * (torch.arange(units, dtype=torch.float32) + 0.5) / units
        sign = 1.0 - 2.0 * (torch.arange(units) % 2).float()
        with torch.no_grad():
            layer.weight.copy_((sign / (hi - lo))[:, None])
            layer.bias.copy_(-sign / (hi - lo) * knots)

    def forward(self, f0_hz, loudness_db, state=None, source=None):
        """`source`: [B] source indices (a conditioned model; None plays no source's offsets)."""
        off = ({site: p[source][:, None, :] for site, p in self.source_offsets.items()}
               if self.source_offsets is not None and source is not None else {})
        f = run_stack(self.f0_stack, scale_f0(f0_hz)[..., None], off.get("f0_stack"))
        l = run_stack(self.ld_stack, (loudness_db / 80.0 + 1.0)[..., None], off.get("ld_stack"))
        x = torch.cat([f, l], -1)
        h, state = self.gru(x + off["gru"] if off else x, state)
        y = self.head(run_stack(self.out_stack, torch.cat([f, l, h], -1), off.get("out_stack")))
        if off:
            y = y + off["head"]
        k = self.cfg.n_harmonics
        amplitude = exp_sigmoid(y[..., :1])
        distribution = exp_sigmoid(y[..., 1:1 + k])
        noise = exp_sigmoid(y[..., 1 + k:] + NOISE_BIAS)
        return {"amplitude": amplitude, "harmonic_distribution": distribution, "noise_magnitudes": noise}, state


def upsample(frames, hop=HOP):
    """[B, T, C] frame values -> [B, T*hop, C] per sample; frame i's value sits at the end of frame i
    (sample (i+1)*hop) and the first frame is held before it."""
    b, t, c = frames.shape
    x = torch.cat([frames[:, :1], frames], 1).transpose(1, 2)  # [B, C, T+1]
    y = F.interpolate(x, size=t * hop + 1, mode="linear", align_corners=True)[..., 1:]
    return y.transpose(1, 2)


def harmonic_amplitudes(f0_hz, amplitude, distribution, sample_rate=SAMPLE_RATE):
    """Each harmonic's amplitude [B, T, K]: harmonics at or above the Nyquist removed, the
    distribution renormalised, times the amplitude (as the runtime plays them)."""
    k = distribution.shape[-1]
    harmonics = torch.arange(1, k + 1, device=f0_hz.device, dtype=f0_hz.dtype)
    audible = (f0_hz[..., None] * harmonics < sample_rate / 2).to(distribution.dtype)
    dist = distribution * audible
    dist = dist / torch.clamp(dist.sum(-1, keepdim=True), min=1e-7)
    return amplitude * dist


def harmonic_synth(f0_hz, amplitude, distribution, sample_rate=SAMPLE_RATE, hop=HOP):
    """Additive synthesis; f0 [B, T], amplitude [B, T, 1], distribution [B, T, K] -> [B, T*hop].

    Amplitudes are interpolated linearly between frame ends (as `upsample`), written as one batched
    matrix product per frame: out[i, j] = sum_k ((1 - w_j) A[i-1, k] + w_j A[i, k]) sin(k phi_ij).
    The sines depend on f0 only (an input), so no gradient flows through them."""
    b, t, k = distribution.shape
    harmonics = torch.arange(1, k + 1, device=f0_hz.device, dtype=f0_hz.dtype)
    amps = harmonic_amplitudes(f0_hz, amplitude, distribution, sample_rate)  # [B, T, K]
    with torch.no_grad():
        f0 = upsample(f0_hz[..., None], hop)[..., 0]  # [B, N]
        # Phase in cycles, accumulated in float64 and wrapped so long clips keep their precision.
        phase = torch.cumsum(f0.double() / sample_rate, -1)
        phase = (phase - torch.floor(phase)).float()
        # Harmonics crossing the Nyquist within a frame are cut per sample, as at run time.
        sines = torch.sin(2 * math.pi * phase[..., None] * harmonics)
        sines = sines * (f0[..., None] * harmonics < sample_rate / 2)
        sines = sines.view(b, t, hop, k)
        w = torch.arange(hop, device=f0_hz.device, dtype=f0_hz.dtype) / hop
    pairs = torch.stack([torch.cat([amps[:, :1], amps[:, :-1]], 1), amps], -1)  # [B, T, K, 2]
    y = torch.matmul(sines, pairs)  # [B, T, hop, 2]
    return (y[..., 0] * (1 - w) + y[..., 1] * w).reshape(b, t * hop)


def noise_synth(magnitudes, n_samples, generator=None, hop=HOP, noise_hop=NOISE_HOP, rows=None):
    """Uniform noise filtered by band magnitudes [B, T, M] (0 Hz..Nyquist), STFT overlap-add.
    `rows = (first, total)`: this batch is rows first..first+B of a batch of `total` (one process's
    share of a distributed batch), and gets exactly the noise those rows would get there."""
    b = magnitudes.shape[0]
    n_fft = 2 * noise_hop
    first, total = rows or (0, b)
    noise = torch.rand(total, n_samples, generator=generator)[first:first + b].to(magnitudes.device) * 2 - 1
    window = torch.hann_window(n_fft, periodic=True, device=magnitudes.device).sqrt()
    spec = torch.stft(noise, n_fft, noise_hop, window=window, center=True, return_complex=True)  # [B, F, S]
    n_bins, n_steps = spec.shape[1], spec.shape[2]
    # Band magnitudes at each STFT frame centre (sample s*noise_hop), then onto the bins.
    per_sample = upsample(magnitudes, hop)  # [B, N, M]
    centres = torch.clamp(torch.arange(n_steps, device=magnitudes.device) * noise_hop, max=n_samples - 1)
    mags = per_sample[:, centres]  # [B, S, M]
    gains = F.interpolate(mags.reshape(b * n_steps, 1, -1), size=n_bins, mode="linear", align_corners=True)
    gains = gains.reshape(b, n_steps, n_bins).transpose(1, 2)
    return torch.istft(spec * gains, n_fft, noise_hop, window=window, center=True, length=n_samples)


class Reverb(nn.Module):
    """DDSP's trainable reverb: a learned impulse response convolved with the dry signal (FFT)."""

    def __init__(self, seconds, sample_rate=SAMPLE_RATE):
        super().__init__()
        n = int(seconds * sample_rate)
        t = torch.arange(n) / sample_rate
        self.ir = nn.Parameter(torch.randn(n) * 1e-3 * torch.exp(-t / 0.3))

    def forward(self, dry):
        ir = torch.cat([torch.zeros(1, device=dry.device), self.ir[1:]])  # the direct path stays dry
        n = dry.shape[-1] + ir.shape[-1]
        wet = torch.fft.irfft(torch.fft.rfft(dry, n) * torch.fft.rfft(ir, n), n)[..., : dry.shape[-1]]
        return dry + wet


class DDSP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.decoder = Decoder(cfg)
        self.reverb = Reverb(cfg.reverb_seconds) if cfg.reverb_seconds > 0 else None

    def forward(self, f0_hz, loudness_db, generator=None, noise_rows=None, noise_gain=1.0, source=None):
        controls, _ = self.decoder(f0_hz, loudness_db, source=source)
        n = f0_hz.shape[1] * HOP
        audio = harmonic_synth(f0_hz, controls["amplitude"], controls["harmonic_distribution"])
        noise = controls["noise_magnitudes"] if noise_gain == 1.0 else controls["noise_magnitudes"] * noise_gain
        audio = audio + noise_synth(noise, n, generator, rows=noise_rows)
        if self.reverb is not None:
            audio = self.reverb(audio)
        return audio, controls


FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
LEVEL_FLOOR_DB = -70.0


def a_weighted_level_db(audio, n_fft=1024, hop=HOP, sample_rate=SAMPLE_RATE):
    """A-weighted power per 4 ms frame in dB (Hann STFT; the curve of `training.loudness`)."""
    from .loudness import a_weighting_db
    freqs = torch.fft.rfftfreq(n_fft, 1 / sample_rate).double().clamp(min=1.0)
    weight = (10 ** (torch.from_numpy(a_weighting_db(freqs.numpy())) / 10)).float().to(audio.device)
    window = torch.hann_window(n_fft, device=audio.device)
    power = torch.stft(audio, n_fft, hop, window=window, return_complex=True).abs() ** 2
    energy = (power * weight[:, None]).sum(-2) / (window ** 2).sum()
    return 10 * torch.log10(energy + 10 ** (LEVEL_FLOOR_DB / 10))


def level_loss(target, output):
    """Mean |dB| between the A-weighted frame levels. The spectral loss alone leaves models 1.5-2.5 dB
    quiet (measured on held-out phrases: L1 on magnitudes shrinks what it cannot place exactly), which
    the loudness conditioning then misreports to the player."""
    return (a_weighted_level_db(target) - a_weighted_level_db(output)).abs().mean()


# The floor added to the magnitudes before the log: the metric's (1e-7, the fidelity table's spectral
# distance) and training's. With 1e-7 the log terms weigh the deep gaps between the synth's exact
# harmonic lines (sidelobes far below any recording's noise) as much as the harmonics, and training
# learned to mute every harmonic above a fixed one and play noise there (violin from the 13th at
# every pitch, step 600 already); with 1e-3 (~-100 dB re a loud note's STFT peak, near the
# recordings' own floor between harmonics) the violin keeps harmonics to the 25th-32nd
# (600-step runs, README "What that table cannot see").
METRIC_LOG_FLOOR, TRAIN_LOG_FLOOR = 1e-7, 1e-3


def multiscale_spectral_loss(target, output, fft_sizes=FFT_SIZES, log_weight=1.0, log_floor=METRIC_LOG_FLOOR):
    """DDSP's SpectralLoss: mean |S - Ŝ| + log_weight * mean |log(S + floor) - log(Ŝ + floor)| over FFT
    sizes, 75 % overlap."""
    loss = 0.0
    for n in fft_sizes:
        window = torch.hann_window(n, device=target.device)
        s_t = torch.stft(target, n, n // 4, window=window, return_complex=True).abs()
        s_o = torch.stft(output, n, n // 4, window=window, return_complex=True).abs()
        loss = loss + (s_t - s_o).abs().mean()
        loss = loss + log_weight * (torch.log(s_t + log_floor) - torch.log(s_o + log_floor)).abs().mean()
    return loss


# The harmonic loss's floor: a harmonic more than this far below the frame's strongest (in the
# recording) counts as that far down, in the model's output as in the recording.
HARMONIC_FLOOR_DB = -60.0


def harmonic_loss(target, f0_hz, controls):
    """Mean |dB| between the model's harmonic amplitudes and the recording's (`training.harmonics`,
    target [B, T, K], NaN where not measured), both floored at HARMONIC_FLOOR_DB below the
    recording's strongest harmonic in that frame."""
    amps = harmonic_amplitudes(f0_hz, controls["amplitude"], controls["harmonic_distribution"])
    measured = torch.isfinite(target)
    t = torch.where(measured, target, torch.zeros_like(target))
    floor = t.amax(-1, keepdim=True) * 10 ** (HARMONIC_FLOOR_DB / 20) + 1e-9
    diff = 20 * (torch.log10(amps + floor) - torch.log10(t + floor)).abs()
    return (diff * measured).sum() / measured.sum().clamp(min=1)
