//! `ddsp_instrument`: the plugins' engine in Python (PyO3 + numpy). A thin layer over
//! `ddsp-engine`: the real-time [`ddsp::Pipeline`], the offline renders `ddsp render` uses (so the
//! samples are the same), the effect's tracker, and the model library. Type stubs:
//! `ddsp_instrument.pyi`.

use std::path::Path;
use std::sync::Arc;

use ddsp_core::model::RunMode;
use ddsp_core::tracking::PitchSettings;
use ddsp_core::{InstrumentEvent, InstrumentSettings, VoiceMode, MAX_VOICES};
use ddsp_engine::offline::{self, RenderSettings};
use ddsp_engine::{ModelInfo, Pipeline as EnginePipeline};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(
    ddsp_instrument,
    DdspError,
    PyRuntimeError,
    "An engine error: a model that does not load, a file that cannot be rendered."
);

fn engine_error(e: anyhow::Error) -> PyErr {
    DdspError::new_err(format!("{e:#}"))
}

/// Sample rates the engine runs at, Hz.
fn check_rate(sample_rate: f64) -> PyResult<()> {
    if ddsp_engine::pipeline::SAMPLE_RATES_HZ.contains(&sample_rate) {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!("sample_rate must be 8000..384000 Hz, got {sample_rate}")))
    }
}

/// A 1-D numpy array of float32 or float64 samples, finite, not empty, as f32.
fn mono_audio(audio: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    let samples: Vec<f32> = if let Ok(a) = audio.cast::<PyArrayDyn<f32>>() {
        check_mono(a.shape())?;
        a.readonly().as_array().iter().copied().collect()
    } else if let Ok(a) = audio.cast::<PyArrayDyn<f64>>() {
        check_mono(a.shape())?;
        a.readonly().as_array().iter().map(|&x| x as f32).collect()
    } else if audio.hasattr("dtype")? {
        let dtype = audio.getattr("dtype")?.str()?.to_string();
        return Err(PyTypeError::new_err(format!("audio must be float32 or float64 samples, got dtype {dtype}")));
    } else {
        let kind = audio.get_type().name()?.to_string();
        return Err(PyTypeError::new_err(format!("audio must be a numpy array of float32 samples, got {kind}")));
    };
    if samples.iter().any(|x| !x.is_finite()) {
        return Err(PyValueError::new_err("audio contains NaN or infinite samples"));
    }
    Ok(samples)
}

fn check_mono(shape: &[usize]) -> PyResult<()> {
    match shape {
        [0] => Err(PyValueError::new_err("audio is empty")),
        [_] => Ok(()),
        _ => Err(PyValueError::new_err(format!(
            "audio must be 1-D (mono), got {}-D shape {shape:?}; fold channels with audio.mean(axis=0)",
            shape.len()
        ))),
    }
}

fn info_dict<'py>(py: Python<'py>, info: &ModelInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &info.name)?;
    d.set_item("instrument", &info.instrument)?;
    d.set_item("sample_rate_hz", info.sample_rate_hz)?;
    d.set_item("frame_rate_hz", info.frame_rate_hz)?;
    d.set_item("n_harmonics", info.n_harmonics)?;
    d.set_item("n_noise_bands", info.n_noise_bands)?;
    d.set_item("f0_min_hz", info.f0_min_hz)?;
    d.set_item("f0_max_hz", info.f0_max_hz)?;
    d.set_item("loudness_min_db", info.loudness_min_db)?;
    d.set_item("loudness_max_db", info.loudness_max_db)?;
    d.set_item("latency_frames", info.latency_frames)?;
    Ok(d)
}

fn channels_array<'py>(py: Python<'py>, channels: Vec<Vec<f32>>) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (rows, cols) = (channels.len(), channels.first().map_or(0, Vec::len));
    let flat: Vec<f32> = channels.into_iter().flatten().collect();
    let array = Array2::from_shape_vec((rows, cols), flat).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}

/// The real-time pipeline: a voice played by pitch and loudness (`set_f0_hz`,
/// `set_loudness_norm`), the polyphonic instrument (`note_on`, `midi`, …), timbre transfer of an
/// audio input (`process_audio`) and the mastering chain, summed. The same engine as the plugins
/// and the C ABI. `offline=True` (the default here) runs every model frame to completion, for
/// renders faster than real time.
#[pyclass(module = "ddsp_instrument")]
struct Pipeline {
    inner: EnginePipeline,
}

fn check_channel(channel: u8) -> PyResult<u8> {
    if channel < 16 {
        Ok(channel)
    } else {
        Err(PyValueError::new_err(format!("channel must be 0..15, got {channel}")))
    }
}

fn check_unit(name: &str, value: f32, lo: f32) -> PyResult<f32> {
    if value.is_finite() && (lo..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(PyValueError::new_err(format!("{name} must be {lo}..1, got {value}")))
    }
}

impl Pipeline {
    fn queue(&mut self, offset: u32, channel: u8, event: InstrumentEvent) -> PyResult<()> {
        let channel = check_channel(channel)?;
        if self.inner.event(offset, channel, event) {
            Ok(())
        } else {
            Err(DdspError::new_err("the event queue is full (1024 events between process calls)"))
        }
    }

    fn block_count(&self, n: i64) -> PyResult<usize> {
        if !(0..=1 << 31).contains(&n) {
            return Err(PyValueError::new_err(format!("n must be 0..2**31 samples, got {n}")));
        }
        Ok(n as usize)
    }
}

#[pymethods]
impl Pipeline {
    #[new]
    #[pyo3(signature = (sample_rate = 48000.0, max_block = 256, offline = true))]
    fn new(sample_rate: f64, max_block: i64, offline: bool) -> PyResult<Self> {
        check_rate(sample_rate)?;
        if !(1..=i64::from(ddsp_engine::pipeline::MAX_BLOCK)).contains(&max_block) {
            return Err(PyValueError::new_err(format!("max_block must be 1..65536, got {max_block}")));
        }
        let inner = EnginePipeline::new(sample_rate, max_block as u32, offline).map_err(engine_error)?;
        Ok(Self { inner })
    }

    /// Loads a model file (.onnx, .tflite) or library name (`models()`); returns its card.
    /// Raises DdspError with the engine's message; the previous model keeps playing.
    fn load_model<'py>(&mut self, py: Python<'py>, path_or_name: &str) -> PyResult<Bound<'py, PyDict>> {
        let info = self.inner.load_model_now(path_or_name).map_err(engine_error)?;
        info_dict(py, &info)
    }

    /// Loads a morph of 1..4 models (files or library names, place order A, B, C, D: two lie along
    /// x, three along x with B at 0.5, four at the corners of the x-y square); it plays from the
    /// next `process`. Returns the indices of the places whose model failed (the morph plays the
    /// others); raises DdspError when none loads.
    fn load_morph(&mut self, models: Vec<String>) -> PyResult<Vec<usize>> {
        let specs: Vec<&str> = models.iter().map(String::as_str).collect();
        self.inner.load_morph(&specs).map_err(engine_error)
    }

    /// Where the morph sits: x, y in 0..1 (the engine glides there, 15 ms).
    #[pyo3(signature = (x, y = 0.0))]
    fn set_morph(&mut self, x: f32, y: f32) -> PyResult<()> {
        self.inner.set_morph(check_unit("morph x", x, 0.0)?, check_unit("morph y", y, 0.0)?);
        Ok(())
    }

    /// What moves the morph's x while the instrument plays: "off", a MIDI controller number
    /// 0..119, "timbre" (CC74 / MPE, per note) or "pressure" (per note).
    fn set_morph_source(&mut self, source: &Bound<'_, PyAny>) -> PyResult<()> {
        let code = if let Ok(cc) = source.extract::<i64>() {
            i32::try_from(cc).ok().filter(|cc| (0..=119).contains(cc))
        } else {
            match source.extract::<String>()?.as_str() {
                "off" => Some(ddsp_engine::pipeline::MORPH_SOURCE_OFF),
                "timbre" => Some(ddsp_engine::pipeline::MORPH_SOURCE_TIMBRE),
                "pressure" => Some(ddsp_engine::pipeline::MORPH_SOURCE_PRESSURE),
                _ => None,
            }
        };
        match code {
            Some(code) if self.inner.set_morph_source(code) => Ok(()),
            _ => Err(PyValueError::new_err(format!(
                "the morph source is 'off', 'timbre', 'pressure' or a controller 0..119, got {source}"
            ))),
        }
    }

    fn model_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        info_dict(py, &self.inner.model_info())
    }

    /// The direct voice's pitch, Hz (> 0).
    fn set_f0_hz(&mut self, hz: f32) -> PyResult<()> {
        if !(hz.is_finite() && hz > 0.0) {
            return Err(PyValueError::new_err(format!("f0 must be a positive frequency in Hz, got {hz}")));
        }
        self.inner.set_f0_hz(hz);
        Ok(())
    }

    /// The direct voice's loudness, 0..1 over the model's trained range; 0 is silence.
    fn set_loudness_norm(&mut self, norm: f32) -> PyResult<()> {
        self.inner.set_loudness_norm(check_unit("loudness", norm, 0.0)?);
        Ok(())
    }

    /// The direct voice's A-weighted loudness, dB (-120 = silence .. 0).
    fn set_loudness_db(&mut self, db: f32) -> PyResult<()> {
        if !db.is_finite() {
            return Err(PyValueError::new_err(format!("loudness must be finite dB, got {db}")));
        }
        self.inner.set_loudness_db(db);
        Ok(())
    }

    /// The direct voice's control glide, ms (5 by default; 0 = steps).
    fn set_smoothing_ms(&mut self, ms: f32) -> PyResult<()> {
        if !(ms.is_finite() && (0.0..=1000.0).contains(&ms)) {
            return Err(PyValueError::new_err(format!("smoothing must be 0..1000 ms, got {ms}")));
        }
        self.inner.set_smoothing_ms(ms);
        Ok(())
    }

    /// Mastering: preset off/room/limiter/flat/cello/violin/flute/brass, quality draft/standard/professional/mastering.
    #[pyo3(signature = (preset, quality = "standard"))]
    fn set_master(&mut self, preset: &str, quality: &str) -> PyResult<()> {
        self.inner.set_master(preset, quality).map_err(|e| PyValueError::new_err(format!("{e:#}")))
    }

    #[pyo3(signature = (note, velocity = 0.8, channel = 0, offset = 0))]
    fn note_on(&mut self, note: u8, velocity: f32, channel: u8, offset: u32) -> PyResult<()> {
        if note > 127 {
            return Err(PyValueError::new_err(format!("note must be 0..127, got {note}")));
        }
        let velocity = check_unit("velocity", velocity, 0.0)?;
        self.queue(offset, channel, InstrumentEvent::NoteOn { note, velocity })
    }

    #[pyo3(signature = (note, channel = 0, offset = 0))]
    fn note_off(&mut self, note: u8, channel: u8, offset: u32) -> PyResult<()> {
        if note > 127 {
            return Err(PyValueError::new_err(format!("note must be 0..127, got {note}")));
        }
        self.queue(offset, channel, InstrumentEvent::NoteOff { note })
    }

    /// Bend -1..1 (the bend range: 2 semitones by default).
    #[pyo3(signature = (value, channel = 0, offset = 0))]
    fn pitch_bend(&mut self, value: f32, channel: u8, offset: u32) -> PyResult<()> {
        let value = check_unit("bend", value, -1.0)?;
        self.queue(offset, channel, InstrumentEvent::PitchBend { value })
    }

    #[pyo3(signature = (cc, value, channel = 0, offset = 0))]
    fn control_change(&mut self, cc: u8, value: f32, channel: u8, offset: u32) -> PyResult<()> {
        if cc > 127 {
            return Err(PyValueError::new_err(format!("cc must be 0..127, got {cc}")));
        }
        let value = check_unit("value", value, 0.0)?;
        self.queue(offset, channel, InstrumentEvent::ControlChange { cc, value })
    }

    /// A raw MIDI channel message (bytes), `offset` samples into the next process call.
    #[pyo3(signature = (message, offset = 0))]
    fn midi(&mut self, message: &[u8], offset: u32) -> PyResult<()> {
        if self.inner.midi(message, offset) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "not a MIDI message the instrument plays (or the queue is full): {message:?}"
            )))
        }
    }

    /// 1 = mono (legato glides), 2..32 voices.
    fn set_polyphony(&mut self, voices: u32) -> PyResult<()> {
        if !(1..=MAX_VOICES as u32).contains(&voices) {
            return Err(PyValueError::new_err(format!("voices must be 1..32, got {voices}")));
        }
        self.inner.set_polyphony(voices);
        Ok(())
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    /// `n` mono samples (float32).
    fn process<'py>(&mut self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let mut out = vec![0.0f32; self.block_count(n)?];
        let inner = &mut self.inner;
        py.detach(|| inner.process(&mut out));
        Ok(out.into_pyarray(py))
    }

    /// `n` stereo samples, shape (2, n).
    fn process_stereo<'py>(&mut self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let n = self.block_count(n)?;
        let (mut left, mut right) = (vec![0.0f32; n], vec![0.0f32; n]);
        let inner = &mut self.inner;
        py.detach(|| inner.process_stereo(&mut left, &mut right));
        channels_array(py, vec![left, right])
    }

    /// Timbre transfer of `audio` (1-D float32/float64 at the pipeline's rate), added to the
    /// other sources; as many samples out as in.
    fn process_audio<'py>(
        &mut self,
        py: Python<'py>,
        audio: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let input = mono_audio(audio)?;
        let mut out = vec![0.0f32; input.len()];
        let inner = &mut self.inner;
        py.detach(|| inner.process_audio(&input, &mut out));
        Ok(out.into_pyarray(py))
    }

    /// What timbre transfer's MIDI out sends: "off", "mono" (one `channel`, 1..16) or "mpe";
    /// `bend_range` the receiver's, semitones (1..96).
    #[pyo3(signature = (mode = "mono", channel = 1, bend_range = 2))]
    fn set_midi_out(&self, mode: &str, channel: u32, bend_range: u32) -> PyResult<()> {
        let code = match mode {
            "off" => 0,
            "mono" => 1,
            "mpe" => 2,
            _ => return Err(PyValueError::new_err(format!("MIDI out mode {mode:?}: expected off, mono or mpe"))),
        };
        if self.inner.set_midi_out(code, channel, bend_range) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "channel {channel} (1..16) or bend range {bend_range} (1..96) out of range"
            )))
        }
    }

    /// Timbre transfer's pitch correction: `key` a note name ("C", "F#", "Bb") or None for the raw
    /// pitch; `scale` "chromatic", "major", "minor" or degrees ("1 2 b3 4 5 b6 b7"); `retune_ms`
    /// the time to reach the note.
    #[pyo3(signature = (key = None, scale = "major", retune_ms = 20.0))]
    fn set_pitch_correction(&self, key: Option<&str>, scale: &str, retune_ms: f32) -> PyResult<()> {
        use ddsp_core::tracking::correction::{parse_key, string_to_scale};
        let root = match key {
            Some(name) => Some(parse_key(name).ok_or_else(|| {
                PyValueError::new_err(format!("key {name:?}: expected a note name such as C, F# or Bb"))
            })?),
            None => None,
        };
        let mask = string_to_scale(scale).ok_or_else(|| {
            PyValueError::new_err(format!("scale {scale:?}: expected chromatic, major, minor or degrees"))
        })?;
        if self.inner.set_pitch_correction(root, mask, retune_ms) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!("retune_ms {retune_ms}: expected 0 or more")))
        }
    }

    /// How timbre transfer's pitch is shaped: `strength` 0..1 of the way to the scale's note,
    /// `smoothing_ms` 0..500 a glide over the tracked pitch (portamento), `model_hears_corrected`
    /// False to let the model hear the tracked pitch while it plays the corrected one.
    #[pyo3(signature = (strength = 1.0, smoothing_ms = 0.0, model_hears_corrected = true))]
    fn set_pitch_options(&self, strength: f32, smoothing_ms: f32, model_hears_corrected: bool) -> PyResult<()> {
        if self.inner.set_pitch_options(strength, smoothing_ms, model_hears_corrected) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "strength {strength} (0..1) or smoothing_ms {smoothing_ms} (0..{}) out of range",
                ddsp_engine::MAX_PITCH_SMOOTHING_MS
            )))
        }
    }

    /// Timbre transfer's latency: 0 for the lowest (4 ms; the pitch of notes under ~300 Hz later),
    /// or `align_hz` 30..2000, the lowest note whose pitch comes out at the reported latency
    /// (`audio_latency_samples`, grown to the delay of a new note's pitch there: 15.0 ms at 110 Hz).
    #[pyo3(signature = (align_hz = 0.0))]
    fn set_pitch_latency(&self, align_hz: f32) -> PyResult<()> {
        if self.inner.set_pitch_latency(align_hz) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "align_hz {align_hz}: expected 0 (the lowest latency) or {}..{} Hz",
                ddsp_engine::MIN_ALIGN_HZ,
                ddsp_engine::MAX_ALIGN_HZ
            )))
        }
    }

    /// Timbre transfer's MIDI out since the last call: the notes and pitch bends of the pitch
    /// tracked in `process_audio`'s input, as (offset in samples, MIDI bytes) in time order.
    fn midi_out<'py>(&mut self, py: Python<'py>) -> Vec<(u32, Bound<'py, pyo3::types::PyBytes>)> {
        let mut messages = Vec::new();
        let mut batch = [ddsp_engine::MidiOutMessage::default(); 256];
        loop {
            let n = self.inner.take_midi_out(&mut batch);
            messages.extend(
                batch[..n].iter().map(|m| (m.offset, pyo3::types::PyBytes::new(py, &m.bytes[..usize::from(m.len)]))),
            );
            if n < batch.len() {
                return messages;
            }
        }
    }

    #[getter]
    fn sample_rate(&self) -> f32 {
        self.inner.sample_rate_hz()
    }

    #[getter]
    fn latency_samples(&self) -> u32 {
        self.inner.latency_samples()
    }

    #[getter]
    fn audio_latency_samples(&self) -> u32 {
        self.inner.audio_latency_samples()
    }
}

fn render_settings(sample_rate: f64, master: &str, quality: &str) -> PyResult<RenderSettings> {
    check_rate(sample_rate)?;
    let master = offline::master_settings(master, quality).map_err(|e| PyValueError::new_err(format!("{e:#}")))?;
    Ok(RenderSettings { sample_rate: sample_rate as u32, master, ..RenderSettings::default() })
}

fn load(py: Python<'_>, model: Option<&str>) -> PyResult<Arc<ddsp_core::Model>> {
    py.detach(|| offline::load_model(model, RunMode::Offline)).map(Arc::new).map_err(engine_error)
}

/// A MIDI file through the instrument, exactly as `ddsp render IN.mid --master off` (the same
/// engine and code): returns (channels, samples) float32, mono unless mastered.
#[pyfunction]
#[pyo3(signature = (path, model = None, sample_rate = 48000.0, voices = 8, master = "off", quality = "standard", tail = None, mono = false))]
#[allow(clippy::too_many_arguments)]
fn render_midi<'py>(
    py: Python<'py>,
    path: &str,
    model: Option<&str>,
    sample_rate: f64,
    voices: u32,
    master: &str,
    quality: &str,
    tail: Option<f64>,
    mono: bool,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    if !(1..=MAX_VOICES as u32).contains(&voices) {
        return Err(PyValueError::new_err(format!("voices must be 1..32, got {voices}")));
    }
    if let Some(t) = tail {
        if !(t.is_finite() && (0.0..=600.0).contains(&t)) {
            return Err(PyValueError::new_err(format!("tail must be 0..600 seconds, got {t}")));
        }
    }
    let mut settings = render_settings(sample_rate, master, quality)?;
    settings.instrument = InstrumentSettings {
        voices: voices as usize,
        mode: if mono { VoiceMode::Mono } else { VoiceMode::Poly },
        ..InstrumentSettings::default()
    };
    settings.tail_s = tail;
    if !Path::new(path).is_file() {
        return Err(PyErr::new::<pyo3::exceptions::PyFileNotFoundError, _>(format!("no such MIDI file: {path}")));
    }
    let phrase = ddsp_engine::midi::read(Path::new(path), Default::default()).map_err(engine_error)?;
    let model = load(py, model)?;
    let channels = py.detach(|| offline::render_midi(model, &phrase, &settings, &mut |_| {})).map_err(engine_error)?;
    channels_array(py, channels)
}

/// Timbre transfer of `audio` (1-D, at `sample_rate`) by `model`: returns (channels, samples)
/// float32, aligned with the input (the engine's latency removed), mono unless mastered.
#[pyfunction]
#[pyo3(signature = (audio, sample_rate, model = None, master = "off", quality = "standard", transpose = 0.0))]
fn render_audio<'py>(
    py: Python<'py>,
    audio: &Bound<'py, PyAny>,
    sample_rate: f64,
    model: Option<&str>,
    master: &str,
    quality: &str,
    transpose: f32,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let input = mono_audio(audio)?;
    let mut settings = render_settings(sample_rate, master, quality)?;
    if !(transpose.is_finite() && (-48.0..=48.0).contains(&transpose)) {
        return Err(PyValueError::new_err(format!("transpose must be -48..48 semitones, got {transpose}")));
    }
    settings.effect.input_pitch_semitones = transpose;
    settings.effect.pitch_shift_semitones = transpose;
    let model = load(py, model)?;
    let channels =
        py.detach(|| offline::render_audio(model, vec![input], &settings, &mut |_| {})).map_err(engine_error)?;
    channels_array(py, channels)
}

/// The effect's real-time tracker over `audio` (1-D, at `sample_rate`): a dict of numpy arrays
/// `time_s` (when the real-time path has each estimate), `f0_hz`, `confidence`, `voiced`,
/// `loudness_db`, one entry per hop (≈1 ms).
#[pyfunction]
#[pyo3(signature = (audio, sample_rate, f0_min = 30.0, f0_max = 2000.0))]
fn track<'py>(
    py: Python<'py>,
    audio: &Bound<'py, PyAny>,
    sample_rate: f64,
    f0_min: f32,
    f0_max: f32,
) -> PyResult<Bound<'py, PyDict>> {
    let input = mono_audio(audio)?;
    check_rate(sample_rate)?;
    if !(f0_min.is_finite()
        && f0_max.is_finite()
        && 20.0 <= f0_min
        && f0_min < f0_max
        && f0_max <= 0.45 * sample_rate as f32)
    {
        return Err(PyValueError::new_err(format!(
            "need 20 <= f0_min < f0_max <= 0.45 * sample_rate, got {f0_min}..{f0_max}"
        )));
    }
    let settings = PitchSettings { f0_min_hz: f0_min, f0_max_hz: f0_max, ..PitchSettings::default() };
    let frames = py.detach(|| offline::track(&input, sample_rate as f32, settings));
    let d = PyDict::new(py);
    let column = |f: &dyn Fn(&ddsp_core::tracking::TrackerFrame) -> f64| frames.iter().map(f).collect::<Vec<f64>>();
    d.set_item("time_s", column(&|f| f.at_sample as f64 / sample_rate).into_pyarray(py))?;
    d.set_item("f0_hz", column(&|f| f64::from(f.f0_hz)).into_pyarray(py))?;
    d.set_item("confidence", column(&|f| f64::from(f.confidence)).into_pyarray(py))?;
    d.set_item("voiced", frames.iter().map(|f| f.voiced).collect::<Vec<bool>>().into_pyarray(py))?;
    d.set_item("loudness_db", column(&|f| f64::from(f.loudness_db)).into_pyarray(py))?;
    Ok(d)
}

/// The library's model names: built-in models, then the model folders' files.
#[pyfunction]
fn models() -> Vec<String> {
    ddsp_engine::model_names()
}

/// A model's card (file or library name; the default when None).
#[pyfunction]
#[pyo3(signature = (name_or_path = None))]
fn info<'py>(py: Python<'py>, name_or_path: Option<&str>) -> PyResult<Bound<'py, PyDict>> {
    let model = load(py, name_or_path)?;
    info_dict(py, &ModelInfo::of(&model))
}

/// How every later model load in this process stores its weights: "auto" (f16 where the CPU
/// converts it in hardware and the model plays within 0.25 dB of f32 on a probe at load; the
/// default), "f32" (exactly what the exporting framework computes) or "int8" (a scale per row: a
/// quarter of the memory and the fastest, ~0.1–0.3 dB from f32).
#[pyfunction]
fn set_precision(precision: &str) -> PyResult<()> {
    let parsed = ddsp_core::model::Precision::parse(precision).ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!("'{precision}' is not 'auto', 'f32' or 'int8'"))
    })?;
    ddsp_core::model::set_process_precision(parsed);
    Ok(())
}

#[pymodule]
fn ddsp_instrument(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DdspError", m.py().get_type::<DdspError>())?;
    m.add_class::<Pipeline>()?;
    m.add_function(wrap_pyfunction!(render_midi, m)?)?;
    m.add_function(wrap_pyfunction!(render_audio, m)?)?;
    m.add_function(wrap_pyfunction!(track, m)?)?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add_function(wrap_pyfunction!(info, m)?)?;
    m.add_function(wrap_pyfunction!(set_precision, m)?)?;
    Ok(())
}
