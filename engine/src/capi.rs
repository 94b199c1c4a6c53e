//! The C ABI (`include/ddsp.h`, generated from this file by cbindgen): a thin layer over
//! [`crate::Pipeline`]. Every function accepts NULL handles and pointers (doing nothing, or
//! returning an error), NaN and out-of-range numbers, and never unwinds into C.

use std::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use ddsp_core::InstrumentEvent;

use crate::pipeline::{ModelInfo, Pipeline};

/// `ddsp_pipeline_new_with_flags`: models run every frame to completion, however long it takes,
/// for renders faster than real time. Without it a slow windowed model skips frames rather than
/// stall the audio thread, unless the pipeline is driven over 0.5 s ahead of the wall clock (a
/// bounce): then it waits for the model, as the plugins do in a fast host.
pub const DDSP_OFFLINE: u32 = 1;

/// Return value of the calls that can fail.
pub const DDSP_OK: c_int = 0;
pub const DDSP_ERROR: c_int = -1;

/// A pipeline: the direct voice (f0 and loudness), the instrument (notes), timbre transfer
/// (audio in) and the mastering chain. Opaque.
pub struct DdspPipeline {
    inner: Pipeline,
}

/// A model's card. Strings are UTF-8, NUL-terminated, cut to fit.
#[repr(C)]
pub struct DdspModelInfo {
    pub name: [c_char; 64],
    pub instrument: [c_char; 64],
    /// Rate the model was trained at, Hz.
    pub sample_rate_hz: f32,
    /// Control frames per second.
    pub frame_rate_hz: f32,
    pub n_harmonics: u32,
    pub n_noise_bands: u32,
    /// The pitch range the model was trained on, Hz.
    pub f0_min_hz: f32,
    pub f0_max_hz: f32,
    /// The A-weighted loudness range the model was trained on, dB (what loudness_norm 0..1 spans).
    pub loudness_min_db: f32,
    pub loudness_max_db: f32,
    /// The model's own delay (windowed models), samples at the pipeline's rate.
    pub latency_samples: u32,
}

fn copy_str(dst: &mut [c_char; 64], src: &str) {
    let mut end = src.len().min(dst.len() - 1);
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    for (d, &b) in dst.iter_mut().zip(&src.as_bytes()[..end]) {
        *d = b as c_char;
    }
    dst[end] = 0;
}

fn fill_info(info: &ModelInfo, sample_rate_hz: f32, out: &mut DdspModelInfo) {
    copy_str(&mut out.name, &info.name);
    copy_str(&mut out.instrument, &info.instrument);
    out.sample_rate_hz = info.sample_rate_hz;
    out.frame_rate_hz = info.frame_rate_hz;
    out.n_harmonics = info.n_harmonics as u32;
    out.n_noise_bands = info.n_noise_bands as u32;
    out.f0_min_hz = info.f0_min_hz;
    out.f0_max_hz = info.f0_max_hz;
    out.loudness_min_db = info.loudness_min_db;
    out.loudness_max_db = info.loudness_max_db;
    out.latency_samples =
        (info.latency_frames as f64 * f64::from(sample_rate_hz) / f64::from(info.frame_rate_hz)).round() as u32;
}

fn pipeline<'a>(p: *const DdspPipeline) -> Option<&'a Pipeline> {
    // SAFETY: a non-NULL handle comes from `ddsp_pipeline_new*` and is not yet freed (the
    // caller's contract).
    unsafe { p.as_ref() }.map(|p| &p.inner)
}

/// A C string as UTF-8, or the reason it is not one.
fn text<'a>(s: *const c_char, what: &str) -> Result<&'a str, String> {
    if s.is_null() {
        return Err(format!("{what} is NULL"));
    }
    // SAFETY: a non-NULL pointer to a NUL-terminated string (the caller's contract).
    unsafe { CStr::from_ptr(s) }.to_str().map_err(|_| format!("{what} is not valid UTF-8"))
}

/// A pipeline at `sample_rate` Hz (8000..384000) for blocks of up to `max_block` samples
/// (1..65536), playing the embedded default model; NULL on bad arguments. Allocates: call it off
/// the audio thread.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_new(sample_rate: f64, max_block: u32) -> *mut DdspPipeline {
    ddsp_pipeline_new_with_flags(sample_rate, max_block, 0)
}

/// As `ddsp_pipeline_new`, with flags (`DDSP_OFFLINE`).
#[no_mangle]
pub extern "C" fn ddsp_pipeline_new_with_flags(sample_rate: f64, max_block: u32, flags: u32) -> *mut DdspPipeline {
    let made = catch_unwind(|| Pipeline::new(sample_rate, max_block, flags & DDSP_OFFLINE != 0));
    match made {
        Ok(Ok(inner)) => Box::into_raw(Box::new(DdspPipeline { inner })),
        _ => std::ptr::null_mut(),
    }
}

/// Frees a pipeline (NULL is fine; freeing twice is not). No other call on it may be running.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_free(p: *mut DdspPipeline) {
    if !p.is_null() {
        // SAFETY: a handle from `ddsp_pipeline_new*`, freed once (the caller's contract).
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Loads a model file (.onnx, .tflite) or a library name (`ddsp_model_names`; `default` = the
/// embedded default) and hands it to the playing pipeline: it takes over at the next block,
/// crossfading where a voice sounds. 0 on success; non-zero on failure, with the reason in
/// `ddsp_pipeline_last_error`, and the previous model keeps playing. Reads files, allocates and
/// may block: call it from any thread but the audio thread.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_load_model(p: *mut DdspPipeline, path_or_name: *const c_char) -> c_int {
    let Some(p) = pipeline(p) else { return DDSP_ERROR };
    let spec = match text(path_or_name, "the model path") {
        Ok(spec) => spec,
        Err(e) => {
            p.set_last_error(&e);
            return DDSP_ERROR;
        }
    };
    match catch_unwind(AssertUnwindSafe(|| p.load_model(spec))) {
        Ok(Ok(_)) => DDSP_OK,
        Ok(Err(_)) => DDSP_ERROR,
        Err(_) => {
            p.set_last_error("the model could not be loaded (internal error)");
            DDSP_ERROR
        }
    }
}

/// `ddsp_pipeline_set_morph_source`: nothing moves the morph but `ddsp_pipeline_set_morph`.
pub const DDSP_MORPH_SOURCE_OFF: c_int = -1;
/// `ddsp_pipeline_set_morph_source`: CC74 / MPE timbre moves each note's morph.
pub const DDSP_MORPH_SOURCE_TIMBRE: c_int = 200;
/// `ddsp_pipeline_set_morph_source`: pressure (per note, or channel pressure) moves the morph.
pub const DDSP_MORPH_SOURCE_PRESSURE: c_int = 201;

/// Loads a morph: `count` (1..4) models, each a file (.onnx, .tflite) or a library name, in place
/// order A, B, C, D. Two models lie along x (A at 0, B at 1), three along x (B at 0.5), four at
/// the corners of a square (A 0,0; B 1,0; C 0,1; D 1,1); `ddsp_pipeline_set_morph` moves between
/// them. Every engine plays the blend from the next block (crossfading where a voice sounds).
/// Returns 0 when every model loaded; a positive bit mask of the places whose model failed (bit 0
/// = A) when the morph plays without them (the reasons in `ddsp_pipeline_last_error`); -1 when
/// none loaded or the arguments are bad (the previous model keeps playing). Reads files,
/// allocates and may block: call it from any thread but the audio thread.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_load_morph(p: *mut DdspPipeline, models: *const *const c_char, count: u32) -> c_int {
    let Some(p) = pipeline(p) else { return DDSP_ERROR };
    if models.is_null() || count == 0 || count as usize > ddsp_core::MAX_MORPH_MODELS {
        p.set_last_error(&format!("a morph takes 1 to {} models and a non-NULL list", ddsp_core::MAX_MORPH_MODELS));
        return DDSP_ERROR;
    }
    // SAFETY: `models` points at `count` C string pointers (the caller's contract; count ≤ 4).
    let pointers = unsafe { std::slice::from_raw_parts(models, count as usize) };
    let specs: Result<Vec<&str>, String> =
        pointers.iter().enumerate().map(|(i, &s)| text(s, &format!("model {}", i + 1))).collect();
    let specs = match specs {
        Ok(specs) => specs,
        Err(e) => {
            p.set_last_error(&e);
            return DDSP_ERROR;
        }
    };
    match catch_unwind(AssertUnwindSafe(|| p.load_morph(&specs))) {
        Ok(Ok(failed)) => failed.iter().fold(0, |mask, &i| mask | 1 << i),
        Ok(Err(_)) => DDSP_ERROR,
        Err(_) => {
            p.set_last_error("the morph could not be loaded (internal error)");
            DDSP_ERROR
        }
    }
}

/// Where the morph sits, `x` and `y` in 0..1 (clamped; NaN is ignored); every engine glides there
/// (15 ms) from the next block. Ignored while one model plays. Any thread; never blocks.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_morph(p: *mut DdspPipeline, x: f32, y: f32) {
    if let Some(p) = pipeline(p) {
        p.set_morph(x, y);
    }
}

/// What moves the morph's x while the instrument plays notes: `DDSP_MORPH_SOURCE_OFF`, a MIDI
/// controller number 0..119, `DDSP_MORPH_SOURCE_TIMBRE` or `DDSP_MORPH_SOURCE_PRESSURE`; the
/// position set holds until the source's first value. 0 on success, -1 for any other code. Any
/// thread; never blocks.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_morph_source(p: *mut DdspPipeline, source: c_int) -> c_int {
    match pipeline(p) {
        Some(p) if p.set_morph_source(source) => DDSP_OK,
        _ => DDSP_ERROR,
    }
}

/// The reason the last call that failed on `p` failed (UTF-8, "" when none), valid until the next
/// call on `p`. Never NULL.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_last_error(p: *const DdspPipeline) -> *const c_char {
    match pipeline(p) {
        Some(p) => p.with_last_error(|e| e.as_ptr()),
        None => c"invalid pipeline (NULL)".as_ptr(),
    }
}

/// The card of the model last loaded into `p`. 0 on success.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_model_info(p: *const DdspPipeline, out: *mut DdspModelInfo) -> c_int {
    let Some(p) = pipeline(p) else { return DDSP_ERROR };
    // SAFETY: a valid, writable `DdspModelInfo` (the caller's contract).
    let Some(out) = (unsafe { out.as_mut() }) else { return DDSP_ERROR };
    fill_info(&p.model_info(), p.sample_rate_hz(), out);
    DDSP_OK
}

/// The direct voice's pitch, Hz. Any thread; never blocks. NaN and infinities are ignored.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_f0_hz(p: *mut DdspPipeline, hz: f32) {
    if let Some(p) = pipeline(p) {
        p.set_f0_hz(hz);
    }
}

/// The direct voice's loudness, 0..1 over the model's trained range (linear in dB); 0 or less is
/// silence. Any thread; never blocks. NaN is ignored.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_loudness_norm(p: *mut DdspPipeline, norm: f32) {
    if let Some(p) = pipeline(p) {
        p.set_loudness_norm(norm);
    }
}

/// The direct voice's A-weighted loudness in dB (-120 = silence .. 0). Any thread; never blocks.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_loudness_db(p: *mut DdspPipeline, db: f32) {
    if let Some(p) = pipeline(p) {
        p.set_loudness_db(db);
    }
}

/// How long the direct voice's pitch and loudness glide to a new value, ms (5 by default; 0 =
/// steps, for controls already smooth at the model's frame rate). Any thread; never blocks.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_smoothing_ms(p: *mut DdspPipeline, ms: f32) {
    if let Some(p) = pipeline(p) {
        p.set_smoothing_ms(ms);
    }
}

/// The mastering chain: `preset` one of "off", "room", "limiter", "flat", "cello", "violin", "flute", "brass";
/// `quality` one of "draft", "standard", "professional", "mastering" (NULL: "standard").
/// Applies from the next block. Any thread; never blocks. 0 on success.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_master(
    p: *mut DdspPipeline,
    preset: *const c_char,
    quality: *const c_char,
) -> c_int {
    let Some(p) = pipeline(p) else { return DDSP_ERROR };
    let quality = if quality.is_null() { Ok("standard") } else { text(quality, "the quality") };
    let result = text(preset, "the preset")
        .and_then(|preset| quality.and_then(|quality| p.set_master(preset, quality).map_err(|e| format!("{e:#}"))));
    match result {
        Ok(()) => DDSP_OK,
        Err(e) => {
            p.set_last_error(&e);
            DDSP_ERROR
        }
    }
}

fn event(p: *mut DdspPipeline, offset: u32, channel: u8, e: InstrumentEvent) -> c_int {
    let Some(p) = pipeline(p) else { return DDSP_ERROR };
    // SAFETY: event calls come from one thread at a time (the header's threading contract).
    if unsafe { p.event_shared(offset, channel, e) } {
        DDSP_OK
    } else {
        DDSP_ERROR
    }
}

/// Starts `note` (0..127) at `velocity` (0..1) on channel 1, at the start of the next block.
/// Event calls: one thread at a time; never block. 0 on success, non-zero when the event queue
/// (1024 events between blocks) is full.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_note_on(p: *mut DdspPipeline, note: u8, velocity: f32) -> c_int {
    let velocity = if velocity.is_finite() { velocity.clamp(0.0, 1.0) } else { 0.0 };
    event(p, 0, 0, InstrumentEvent::NoteOn { note: note.min(127), velocity })
}

/// Releases `note` on channel 1.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_note_off(p: *mut DdspPipeline, note: u8) -> c_int {
    event(p, 0, 0, InstrumentEvent::NoteOff { note: note.min(127) })
}

/// Pitch bend on channel 1, -1..1 (the instrument's bend range, 2 semitones by default).
#[no_mangle]
pub extern "C" fn ddsp_pipeline_pitch_bend(p: *mut DdspPipeline, bend: f32) -> c_int {
    let value = if bend.is_finite() { bend.clamp(-1.0, 1.0) } else { 0.0 };
    event(p, 0, 0, InstrumentEvent::PitchBend { value })
}

/// A controller on channel 1 (`value` 0..1): 1 mod wheel (vibrato), 11 expression, 64 sustain,
/// 66 sostenuto, 74 brightness, 120/123 sound/notes off.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_control_change(p: *mut DdspPipeline, cc: u8, value: f32) -> c_int {
    let value = if value.is_finite() { value.clamp(0.0, 1.0) } else { 0.0 };
    event(p, 0, 0, InstrumentEvent::ControlChange { cc: cc.min(127), value })
}

/// A raw MIDI channel message (note on/off, poly/channel pressure, CC, pitch bend; any channel,
/// MPE included) applied `offset` samples into the next block. 0 when queued; non-zero for a
/// message the instrument does not play, NULL, or a full queue.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_midi(p: *mut DdspPipeline, bytes: *const u8, len: u32, offset: u32) -> c_int {
    let Some(p) = pipeline(p) else { return DDSP_ERROR };
    if bytes.is_null() {
        return DDSP_ERROR;
    }
    // SAFETY: `len` readable bytes (the caller's contract).
    let bytes = unsafe { std::slice::from_raw_parts(bytes, len.min(3) as usize) };
    // SAFETY: event calls come from one thread at a time (the header's threading contract).
    if unsafe { p.midi_shared(bytes, offset) } {
        DDSP_OK
    } else {
        DDSP_ERROR
    }
}

/// Polyphony of the instrument: 1 = one voice with legato glides, 2..32 voices (default 8).
/// An event call (applies at the next block).
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_polyphony(p: *mut DdspPipeline, voices: u32) -> c_int {
    let Some(p) = pipeline(p) else { return DDSP_ERROR };
    // SAFETY: event calls come from one thread at a time (the header's threading contract).
    if unsafe { p.polyphony_shared(voices) } {
        DDSP_OK
    } else {
        DDSP_ERROR
    }
}

/// Silences every engine and clears its state at the next block. An event call.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_reset(p: *mut DdspPipeline) -> c_int {
    let Some(p) = pipeline(p) else { return DDSP_ERROR };
    // SAFETY: event calls come from one thread at a time (the header's threading contract).
    if unsafe { p.reset_shared() } {
        DDSP_OK
    } else {
        DDSP_ERROR
    }
}

/// Runs one audio call, writing silence where the engine cannot run.
fn audio_call(p: *mut DdspPipeline, input: *const f32, left: *mut f32, right: *mut f32, n: u32) {
    if left.is_null() || n == 0 {
        return;
    }
    let n = n as usize;
    // SAFETY: `n` writable floats at each non-NULL output, `n` readable at a non-NULL input, not
    // overlapping (the caller's contract).
    let left = unsafe { std::slice::from_raw_parts_mut(left, n) };
    let mut right = (!right.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(right, n) });
    let input = (!input.is_null()).then(|| unsafe { std::slice::from_raw_parts(input, n) });
    let Some(p) = pipeline(p) else {
        left.fill(0.0);
        if let Some(r) = right.as_deref_mut() {
            r.fill(0.0);
        }
        return;
    };
    // SAFETY: process calls come from one audio thread (the header's threading contract).
    let ran = catch_unwind(AssertUnwindSafe(|| unsafe { p.process_shared(input, left, right.as_deref_mut()) }));
    if ran.is_err() {
        // Never reached in a correct engine; never unwinds into C either.
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(left.as_mut_ptr(), n) }.fill(0.0);
    }
}

/// Renders `n` mono samples into `out` (the direct voice plus the instrument, mastered when the
/// chain is on). Real-time safe: never allocates, locks or waits. Any `n` (blocks longer than
/// `max_block` are processed in parts); 0 applies the queued events only.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_process(p: *mut DdspPipeline, out: *mut f32, n: u32) {
    audio_call(p, std::ptr::null(), out, std::ptr::null_mut(), n);
}

/// As `ddsp_pipeline_process`, into a stereo pair (the mastering chain's reverb is stereo).
#[no_mangle]
pub extern "C" fn ddsp_pipeline_process_stereo(p: *mut DdspPipeline, left: *mut f32, right: *mut f32, n: u32) {
    if right.is_null() {
        audio_call(p, std::ptr::null(), left, right, 0);
        return;
    }
    audio_call(p, std::ptr::null(), left, right, n);
}

/// Timbre transfer: `input` (mono, `n` samples) is tracked and played by the model; the result is
/// added to the direct voice and the instrument in `out`. Real-time safe. `input` and `out` may be
/// the same buffer.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_process_audio(p: *mut DdspPipeline, input: *const f32, out: *mut f32, n: u32) {
    if input.is_null() {
        audio_call(p, input, out, std::ptr::null_mut(), n);
        return;
    }
    if std::ptr::eq(input, out) {
        // In place: the engine reads the input per block before writing; keep it apart anyway.
        let p2 = p;
        let mut done = 0u32;
        let mut scratch = [0.0f32; 256];
        while done < n {
            let len = (n - done).min(256);
            // SAFETY: `n` floats at `input`/`out` (the caller's contract).
            let src = unsafe { std::slice::from_raw_parts(input.add(done as usize), len as usize) };
            scratch[..len as usize].copy_from_slice(src);
            audio_call(p2, scratch.as_ptr(), unsafe { out.add(done as usize) }, std::ptr::null_mut(), len);
            done += len;
        }
        return;
    }
    audio_call(p, input, out, std::ptr::null_mut(), n);
}

/// One MIDI message timbre transfer's MIDI out sent (the notes and pitch bends of the pitch it
/// tracks in `ddsp_pipeline_process_audio`'s input): `bytes[0..len]` (MIDI 1.0: note on, note off,
/// pitch bend), `offset` samples after the first sample processed since the messages were last
/// all taken.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct DdspMidiMessage {
    pub offset: u32,
    pub len: u8,
    pub bytes: [u8; 3],
}

/// `ddsp_pipeline_set_midi_out` modes.
pub const DDSP_MIDI_OUT_OFF: u32 = 0;
/// One channel, one note at a time, bends on that channel.
pub const DDSP_MIDI_OUT_ONE_CHANNEL: u32 = 1;
/// MPE lower zone: each note on the next member channel (2–16) with its own bend and pressure.
pub const DDSP_MIDI_OUT_MPE: u32 = 2;

/// Scales for `ddsp_pipeline_set_pitch_correction`: bit `i` set, the note `i` semitones above the
/// key's root is in the scale (any other non-zero 12-bit mask is a custom scale).
pub const DDSP_SCALE_CHROMATIC: u32 = 0xFFF;
pub const DDSP_SCALE_MAJOR: u32 = 0xAB5;
/// Natural minor.
pub const DDSP_SCALE_MINOR: u32 = 0x5AD;

/// What timbre transfer's MIDI out sends: `mode` a `DDSP_MIDI_OUT_*`, `channel` 1..16 (one-channel
/// mode), `bend_range` 1..96 semitones (the receiver's; 2 by default, 48 is MPE's). Any thread.
/// `DDSP_ERROR` (nothing changes) for a value out of range. Default: one channel, 1, 2 semitones.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_midi_out(p: *mut DdspPipeline, mode: u32, channel: u32, bend_range: u32) -> c_int {
    match pipeline(p) {
        Some(p) if p.set_midi_out(mode, channel, bend_range) => DDSP_OK,
        _ => DDSP_ERROR,
    }
}

/// Timbre transfer's pitch correction: `key` the root's pitch class 0..11 (C = 0), or -1 for the
/// raw (microtonal) pitch; `scale` a `DDSP_SCALE_*` or any 12-bit mask; `retune_ms` the time to
/// reach the note (0 snaps). The model plays the corrected pitch and MIDI out sends the scale's
/// notes. Any thread. `DDSP_ERROR` (nothing changes) for a value out of range. Default: raw.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_pitch_correction(
    p: *mut DdspPipeline,
    key: c_int,
    scale: u32,
    retune_ms: f32,
) -> c_int {
    let key = match key {
        -1 => None,
        0..=11 => Some(key as u8),
        _ => return DDSP_ERROR,
    };
    let scale = if scale <= 0xFFF { scale as u16 } else { 0 };
    match pipeline(p) {
        Some(p) if p.set_pitch_correction(key, scale, retune_ms) => DDSP_OK,
        _ => DDSP_ERROR,
    }
}

/// Timbre transfer's latency: 0 for the lowest (4 ms: the loudness and the pitch of notes from
/// ~300 Hz up; lower notes' pitch comes later, two of their periods), or `align_hz` 30..2000, the
/// lowest note whose pitch reaches the output at the reported latency with its loudness (the
/// latency grows to the delay of a new note's pitch there: 15.0 ms at 110 Hz; what a host's delay
/// compensation then lines up is the pitch too). `ddsp_pipeline_audio_latency_samples` says the
/// new latency after the next process call. Any thread. `DDSP_ERROR` (nothing changes) out of
/// range. Default: 0.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_pitch_latency(p: *mut DdspPipeline, align_hz: f32) -> c_int {
    match pipeline(p) {
        Some(p) if p.set_pitch_latency(align_hz) => DDSP_OK,
        _ => DDSP_ERROR,
    }
}

/// How timbre transfer's pitch is shaped: `strength` 0..1, how far the correction moves the pitch
/// to the scale's note (1 all the way); `smoothing_ms` 0..500, a glide over the tracked pitch
/// (portamento; 0 = none); `model_hears_corrected` 1 to condition the model on the corrected
/// pitch, 0 to let it hear the tracked (raw) pitch while it plays the corrected one. Any thread.
/// `DDSP_ERROR` (nothing changes) for a value out of range. Default: 1, 0, 1.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_set_pitch_options(
    p: *mut DdspPipeline,
    strength: f32,
    smoothing_ms: f32,
    model_hears_corrected: c_int,
) -> c_int {
    let hears = match model_hears_corrected {
        0 => false,
        1 => true,
        _ => return DDSP_ERROR,
    };
    match pipeline(p) {
        Some(p) if p.set_pitch_options(strength, smoothing_ms, hears) => DDSP_OK,
        _ => DDSP_ERROR,
    }
}

/// Moves up to `capacity` of the MIDI messages timbre transfer sent (oldest first) into `out`;
/// returns how many. Call it on the audio thread after each process call: up to 4,096 messages
/// wait, later ones are dropped. Every note on gets its note off (when the input's note ends, and
/// at `ddsp_pipeline_reset`). Real-time safe.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_midi_out(p: *mut DdspPipeline, out: *mut DdspMidiMessage, capacity: u32) -> u32 {
    let Some(p) = pipeline(p) else { return 0 };
    if out.is_null() {
        return 0;
    }
    // SAFETY: `capacity` writable messages at `out` (the caller's contract).
    let out = unsafe { std::slice::from_raw_parts_mut(out, capacity as usize) };
    let mut batch = [crate::pipeline::MidiOutMessage::default(); 64];
    let mut taken = 0;
    while taken < out.len() {
        let want = (out.len() - taken).min(batch.len());
        // SAFETY: process and MIDI out calls come from one audio thread (the threading contract).
        let n = unsafe { p.take_midi_out_shared(&mut batch[..want]) };
        for (dst, src) in out[taken..taken + n].iter_mut().zip(&batch[..n]) {
            *dst = DdspMidiMessage { offset: src.offset, len: src.len, bytes: src.bytes };
        }
        taken += n;
        if n < want {
            break;
        }
    }
    taken as u32
}

/// Samples from a note or control to the output's answer (the mastering limiter's look-ahead, a
/// windowed model's delay), as of the last block.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_latency_samples(p: *const DdspPipeline) -> u32 {
    pipeline(p).map_or(0, Pipeline::latency_samples)
}

/// Samples from `ddsp_pipeline_process_audio`'s input to its answer in the output (tracking, half
/// a model frame, the mastering look-ahead), as of the last block.
#[no_mangle]
pub extern "C" fn ddsp_pipeline_audio_latency_samples(p: *const DdspPipeline) -> u32 {
    pipeline(p).map_or(0, Pipeline::audio_latency_samples)
}

/// The library's model names (built-in models, then the model folders'), one per line, written
/// into `buf` (NUL-terminated, cut to `capacity`). Returns the length the full list needs
/// (without the NUL), as snprintf does: call it with NULL, 0 to size the buffer.
#[no_mangle]
pub extern "C" fn ddsp_model_names(buf: *mut c_char, capacity: usize) -> usize {
    let list = catch_unwind(|| crate::model_names().join("\n")).unwrap_or_default();
    if !buf.is_null() && capacity > 0 {
        let n = list.len().min(capacity - 1);
        // SAFETY: `capacity` writable bytes at `buf` (the caller's contract).
        let dst = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), capacity) };
        dst[..n].copy_from_slice(&list.as_bytes()[..n]);
        dst[n] = 0;
    }
    list.len()
}

/// The library's version ("0.1.0"), static.
#[no_mangle]
pub extern "C" fn ddsp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// `ddsp_set_precision`: f16 weights where this CPU converts them in hardware (F16C) and the model
/// plays within 0.25 dB of its f32 self on a probe sweep at load (the default); f32 otherwise.
pub const DDSP_PRECISION_AUTO: c_int = 0;
/// `ddsp_set_precision`: f32 weights always, exactly what the exporting framework computes.
pub const DDSP_PRECISION_F32: c_int = 1;
/// `ddsp_set_precision`: int8 weights with a scale per output row: a quarter of the memory and the
/// fastest products, ~0.1–0.3 dB from f32 (`ddsp_model_info`'s weights line says how far).
pub const DDSP_PRECISION_INT8: c_int = 2;

/// How every later model load in this process stores its weights: `DDSP_PRECISION_AUTO`,
/// `DDSP_PRECISION_F32` or `DDSP_PRECISION_INT8` (the environment variable `DDSP_PRECISION=f32`
/// or `=int8` does the same before the first load). Models already loaded keep theirs. Returns `DDSP_OK`, or `DDSP_ERROR` for another
/// value (nothing changes).
#[no_mangle]
pub extern "C" fn ddsp_set_precision(precision: c_int) -> c_int {
    use ddsp_core::model::{set_process_precision, Precision};
    match precision {
        DDSP_PRECISION_AUTO => set_process_precision(Precision::Auto),
        DDSP_PRECISION_F32 => set_process_precision(Precision::F32),
        DDSP_PRECISION_INT8 => set_process_precision(Precision::Int8),
        _ => return DDSP_ERROR,
    }
    DDSP_OK
}
