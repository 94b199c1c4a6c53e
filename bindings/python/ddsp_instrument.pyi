"""The DDSP instrument's engine in Python: the same code as the CLAP/VST3 plugins, `ddsp` and libddsp."""
from typing import Optional, TypedDict

import numpy as np
import numpy.typing as npt

__version__: str

class DdspError(RuntimeError):
    """An engine error (a model that does not load, a MIDI file that cannot be read), with its message."""

class ModelInfo(TypedDict):
    name: str
    instrument: str
    sample_rate_hz: float
    frame_rate_hz: float
    n_harmonics: int
    n_noise_bands: int
    f0_min_hz: float
    f0_max_hz: float
    loudness_min_db: float
    loudness_max_db: float
    latency_frames: int

class Tracked(TypedDict):
    time_s: npt.NDArray[np.float64]
    f0_hz: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]
    voiced: npt.NDArray[np.bool_]
    loudness_db: npt.NDArray[np.float64]

class Pipeline:
    """The real-time pipeline: a voice played by pitch and loudness, the polyphonic instrument (notes,
    MIDI, MPE), timbre transfer of an audio input and the mastering chain, summed.

    Plays the embedded default model until `load_model`. `offline=True` runs every model frame to
    completion (renders faster than real time); events apply at their sample offset in the next
    `process*` call.
    """

    def __init__(self, sample_rate: float = 48000.0, max_block: int = 256, offline: bool = True) -> None:
        """Raises ValueError for a sample rate outside 8000..384000 Hz or a block outside 1..65536."""
    def load_model(self, path_or_name: str) -> ModelInfo:
        """A model file (.onnx, .tflite) or library name (`models()`); raises DdspError, the previous model playing on."""
    def load_morph(self, models: list[str]) -> list[int]:
        """A morph of 1..4 models (place order A, B, C, D); returns the places that failed (the morph plays the others); raises DdspError when none loads."""
    def set_morph(self, x: float, y: float = 0.0) -> None:
        """Where the morph sits, x and y in 0..1 (glides, 15 ms)."""
    def set_morph_source(self, source: str | int) -> None:
        """What moves the morph's x while notes play: "off", a controller 0..119, "timbre" or "pressure"."""
    def model_info(self) -> ModelInfo: ...
    def set_f0_hz(self, hz: float) -> None:
        """The direct voice's pitch in Hz (> 0)."""
    def set_loudness_norm(self, norm: float) -> None:
        """The direct voice's loudness, 0..1 over the model's trained range (linear in dB); 0 is silence."""
    def set_loudness_db(self, db: float) -> None:
        """The direct voice's A-weighted loudness in dB (-120 = silence .. 0), as the model is conditioned."""
    def set_smoothing_ms(self, ms: float) -> None:
        """The direct voice's pitch/loudness glide, ms (5 by default; 0 = steps, for frame-rate controls)."""
    def set_master(self, preset: str, quality: str = "standard") -> None:
        """Mastering: off, room, limiter, flat, cello, violin, flute, brass; quality draft, standard, professional, mastering."""
    def note_on(self, note: int, velocity: float = 0.8, channel: int = 0, offset: int = 0) -> None: ...
    def note_off(self, note: int, channel: int = 0, offset: int = 0) -> None: ...
    def pitch_bend(self, value: float, channel: int = 0, offset: int = 0) -> None:
        """Bend -1..1 (2 semitones by default)."""
    def control_change(self, cc: int, value: float, channel: int = 0, offset: int = 0) -> None:
        """value 0..1: 1 vibrato, 11 expression, 64 sustain, 66 sostenuto, 74 brightness."""
    def midi(self, message: bytes, offset: int = 0) -> None:
        """A raw MIDI channel message (note on/off, pressure, CC, pitch bend; MPE member channels too)."""
    def set_polyphony(self, voices: int) -> None:
        """1 = mono with legato glides, 2..32 voices (default 8)."""
    def reset(self) -> None: ...
    def process(self, n: int) -> npt.NDArray[np.float32]:
        """`n` mono samples."""
    def process_stereo(self, n: int) -> npt.NDArray[np.float32]:
        """`n` samples of stereo, shape (2, n)."""
    def process_audio(self, audio: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        """Timbre transfer of 1-D `audio` at the pipeline's rate, added to the other sources."""
    def set_midi_out(self, mode: str = "mono", channel: int = 1, bend_range: int = 2) -> None:
        """What timbre transfer's MIDI out sends: "off", "mono" (one channel) or "mpe"."""
    def set_pitch_correction(self, key: str | None = None, scale: str = "major", retune_ms: float = 20.0) -> None:
        """Correct timbre transfer's pitch to `key`'s `scale` (None: the raw pitch)."""
    def set_pitch_options(self, strength: float = 1.0, smoothing_ms: float = 0.0,
                          model_hears_corrected: bool = True) -> None:
        """How far the correction goes (0..1), a glide over the tracked pitch (0..500 ms), and
        whether the model hears the corrected pitch or the tracked one while playing the corrected."""
    def set_pitch_latency(self, align_hz: float = 0.0) -> None:
        """Timbre transfer's latency: 0 for the lowest (4 ms; notes under ~300 Hz have their pitch
        later), or the lowest note (30..2000 Hz) whose pitch comes out at `audio_latency_samples`."""
    def midi_out(self) -> list[tuple[int, bytes]]:
        """Timbre transfer's MIDI out since the last call: (offset in samples, MIDI bytes) of the
        notes and pitch bends tracked in `process_audio`'s input, in time order."""
    @property
    def sample_rate(self) -> float: ...
    @property
    def latency_samples(self) -> int:
        """Samples from a note or control to the output's answer."""
    @property
    def audio_latency_samples(self) -> int:
        """Samples from `process_audio`'s input to its answer."""

def render_midi(
    path: str,
    model: Optional[str] = None,
    sample_rate: float = 48000.0,
    voices: int = 8,
    master: str = "off",
    quality: str = "standard",
    tail: Optional[float] = None,
    mono: bool = False,
) -> npt.NDArray[np.float32]:
    """A MIDI file through the instrument, sample for sample what `ddsp render` writes; (channels, samples)."""

def render_audio(
    audio: npt.NDArray[np.floating],
    sample_rate: float,
    model: Optional[str] = None,
    master: str = "off",
    quality: str = "standard",
    transpose: float = 0.0,
) -> npt.NDArray[np.float32]:
    """Timbre transfer of 1-D `audio`, aligned with the input; (channels, samples)."""

def track(audio: npt.NDArray[np.floating], sample_rate: float, f0_min: float = 30.0, f0_max: float = 2000.0) -> Tracked:
    """The effect's real-time pitch and loudness tracker over 1-D `audio`, one entry per ~1 ms hop."""

def models() -> list[str]:
    """The library's model names: built-in models, then the model folders' files."""

def info(name_or_path: Optional[str] = None) -> ModelInfo:
    """A model's card (the embedded default when None)."""

def set_precision(precision: str) -> None:
    """How every later model load stores its weights: "auto" (f16 where the CPU converts it in
    hardware and the model plays within 0.25 dB of f32 on a probe at load; the default), "f32"
    (exactly what the exporting framework computes) or "int8" (a scale per row: a quarter of the
    memory and the fastest, ~0.2-0.3 dB from f32). ValueError for anything else."""
