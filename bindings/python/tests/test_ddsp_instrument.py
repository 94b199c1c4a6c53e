"""ddsp_instrument against references: pitch measured by YIN here (not by the engine), level vs
loudness, the tracker on an analytic vibrato, render_midi vs `ddsp render` sample for sample, and
bad input raising clear errors."""
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import ddsp_instrument as ddsp

SR = 48000
REPO = Path(__file__).resolve().parents[3]


def yin_hz(x, sr, fmin=60.0, fmax=2000.0):
    """Fundamental by YIN's cumulative-mean-normalised difference, parabolic refinement."""
    x = np.asarray(x, np.float64)
    max_lag = int(sr / fmin) + 2
    w = len(x) - max_lag - 1
    d = np.array([np.sum((x[:w] - x[lag:lag + w]) ** 2) for lag in range(max_lag + 2)])
    cmnd = np.ones_like(d)
    cmnd[1:] = d[1:] * np.arange(1, len(d)) / np.maximum(np.cumsum(d[1:]), 1e-30)
    lags = np.arange(int(sr / fmax), max_lag)
    below = lags[cmnd[lags] < 0.15]
    lag = int(below[0]) if len(below) else int(lags[np.argmin(cmnd[lags])])
    while lag + 1 < max_lag and cmnd[lag + 1] < cmnd[lag]:
        lag += 1
    a, b, c = cmnd[lag - 1], cmnd[lag], cmnd[lag + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return sr / (lag + shift)


def cents(f, ref):
    return 1200 * np.log2(f / ref)


def rms_db(x):
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


def test_pipeline_plays_the_pitch_and_follows_the_loudness():
    p = ddsp.Pipeline(SR, 256)
    info = p.load_model("Violin")
    assert info["n_harmonics"] == 64 and info["f0_min_hz"] < 440 < info["f0_max_hz"]
    p.set_f0_hz(440.0)
    levels = []
    for norm in (0.3, 0.6, 0.9):
        p.set_loudness_norm(norm)
        out = p.process(SR // 2)
        assert out.dtype == np.float32 and out.shape == (SR // 2,)
        assert abs(cents(yin_hz(out[SR // 4:], SR), 440.0)) < 5
        levels.append(rms_db(out[SR // 4:]))
    assert levels[0] < levels[1] < levels[2] and levels[2] - levels[0] > 10, levels
    p.set_loudness_norm(0.0)
    assert not p.process(SR // 2)[SR // 10:].any(), "loudness 0 is silence"


def test_notes_and_stereo_mastering():
    p = ddsp.Pipeline(SR, 128)
    p.note_on(57, 0.8)  # A3
    out = p.process(SR)
    assert abs(cents(yin_hz(out[SR // 2:], SR), 220.0)) < 5
    p.set_master("violin")
    stereo = p.process_stereo(SR // 2)
    assert stereo.shape == (2, SR // 2) and np.abs(stereo[0] - stereo[1]).max() > 0
    assert p.latency_samples > 0, "the limiter's look-ahead is reported"


def test_a_morph_moves_between_two_models_and_reports_a_failed_place():
    p = ddsp.Pipeline(SR, 256)
    assert p.load_morph(["Flute", "Trumpet"]) == []
    p.set_f0_hz(392.0)
    p.set_loudness_norm(0.7)
    levels = {}
    for x in (0.0, 0.5, 1.0):
        p.set_morph(x)
        out = p.process(SR // 2)
        assert abs(cents(yin_hz(out[SR // 4:], SR), 392.0)) < 5, x
        levels[x] = rms_db(out[SR // 4:])
    lo, hi = sorted((levels[0.0], levels[1.0]))
    assert lo - 3 < levels[0.5] < hi + 3, levels
    assert p.load_morph(["Violin", "no-such-model", "Cello"]) == [1]
    p.set_morph_source("timbre")
    p.set_morph_source(1)
    with pytest.raises(ValueError):
        p.set_morph(float("nan"))
    with pytest.raises(ValueError):
        p.set_morph_source(120)
    with pytest.raises(ddsp.DdspError):
        p.load_morph(["no-such-a", "no-such-b"])


def test_track_follows_an_analytic_vibrato_within_5_cents():
    # 440 Hz with a 5.5 Hz, ±30 cent vibrato: the true f0 is known at every sample.
    t = np.arange(2 * SR) / SR
    f0 = 440.0 * 2 ** (30 / 1200 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    audio = (0.3 * (np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase))).astype(np.float32)
    tr = ddsp.track(audio, SR)
    assert set(tr) == {"time_s", "f0_hz", "confidence", "voiced", "loudness_db"}
    assert len(tr["time_s"]) > 1900 and tr["voiced"].dtype == np.bool_
    keep = tr["voiced"] & (tr["time_s"] > 0.1)
    # Each estimate is stamped when the real-time path has it; compare with the true pitch a fixed
    # delay earlier, the delay found by best fit (the tracker's look-back), at most 20 ms.
    errors = []
    for delay in np.arange(0, 0.02, 0.0005):
        truth = np.interp(tr["time_s"][keep] - delay, t, f0)
        errors.append((np.median(np.abs(cents(tr["f0_hz"][keep], truth))), delay))
    err, delay = min(errors)
    print(f"tracker on a ±30-cent vibrato: median {err:.2f} cents at {1e3 * delay:.1f} ms, {keep.mean():.0%} voiced")
    assert keep.mean() > 0.9
    assert err < 5, f"median error {err:.2f} cents at {1e3 * delay:.1f} ms"


def test_timbre_transfer_sends_the_notes_it_hears_as_midi():
    # C4 then G4, 0.3 s each with a 0.1 s rest, through process_audio in 480-sample blocks.
    notes = [(60, 0.0), (67, 0.4)]
    t = np.arange(int(0.9 * SR)) / SR
    audio = np.zeros_like(t)
    for key, start in notes:
        on = (t >= start) & (t < start + 0.3)
        audio[on] = 0.3 * np.sin(2 * np.pi * 440.0 * 2 ** ((key - 69) / 12) * (t[on] - start))
    p = ddsp.Pipeline(SR, 480)
    messages = []
    for start in range(0, len(audio), 480):
        p.process_audio(audio[start : start + 480].astype(np.float32))
        messages += [(start + offset, data) for offset, data in p.midi_out()]
    ons = [(at, data[1]) for at, data in messages if data[0] == 0x90]
    offs = [data[1] for at, data in messages if data[0] == 0x80]
    assert [key for _, key in ons] == [60, 67] and offs == [60, 67], messages
    for (at, key), (_, start) in zip(ons, notes):
        assert 0 <= at / SR - start <= 0.010, f"note {key} on {1e3 * (at / SR - start):.1f} ms late"
    assert all(len(data) == 3 for _, data in messages)
    # MPE and correction to C major: the same input's notes on member channels, in tune.
    p = ddsp.Pipeline(SR, 480)
    p.set_midi_out("mpe", bend_range=48)
    p.set_pitch_correction("C", "major", retune_ms=0)
    for start in range(0, len(audio), 480):
        p.process_audio(audio[start : start + 480].astype(np.float32))
    ons = [data for _, data in p.midi_out() if data[0] & 0xF0 == 0x90]
    assert [(data[0], data[1]) for data in ons] == [(0x91, 60), (0x92, 67)]
    with pytest.raises(ValueError):
        p.set_midi_out("poly")
    with pytest.raises(ValueError):
        p.set_pitch_correction("H")
    # Half-strength correction with a glide, the model hearing the raw pitch: accepted; out of range refused.
    p.set_pitch_options(strength=0.5, smoothing_ms=40.0, model_hears_corrected=False)
    for bad in ({"strength": 1.5}, {"smoothing_ms": -1.0}, {"smoothing_ms": 501.0}):
        with pytest.raises(ValueError):
            p.set_pitch_options(**bad)
    # Pitch-aligned down to A2: the reported audio latency grows by the tracker's pitch delay there
    # (a new note's, 15.0 ms) less the 4 ms of the lowest latency, from the next block; out of range refused.
    lowest = p.audio_latency_samples
    p.set_pitch_latency(110.0)
    p.process_audio(np.zeros(480, dtype=np.float32))
    assert abs(p.audio_latency_samples - lowest - 0.0110 * SR) <= 0.001 * SR
    with pytest.raises(ValueError):
        p.set_pitch_latency(5000.0)


def test_render_audio_keeps_the_pitch():
    t = np.arange(SR) / SR
    saw = (0.3 * (2 * ((330 * t) % 1) - 1)).astype(np.float64)
    out = ddsp.render_audio(saw, SR, model="Violin")
    assert out.shape == (1, SR)
    assert abs(cents(yin_hz(out[0, SR // 2:], SR), 330.0)) < 5


def write_midi(path):
    """A format-0 file: a C major chord, a melody note over it, a pitch bend."""
    def delta(n):
        out = [n & 0x7F]
        n >>= 7
        while n:
            out.insert(0, 0x80 | (n & 0x7F))
            n >>= 7
        return bytes(out)
    track = b""
    for dt, msg in [(0, [0x90, 60, 90]), (0, [0x90, 64, 80]), (0, [0x90, 67, 70]), (240, [0x90, 72, 100]),
                    (120, [0xE0, 0, 80]), (240, [0x80, 72, 0]), (0, [0x80, 60, 0]), (0, [0x80, 64, 0]),
                    (0, [0x80, 67, 0])]:
        track += delta(dt) + bytes(msg)
    track += b"\x00\xff\x2f\x00"
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(track)) + track)


def read_float_wav(path):
    data = Path(path).read_bytes()
    pos, channels, fmt = 12, 1, None
    while pos < len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if tag == b"fmt ":
            fmt, channels = struct.unpack("<HH", data[pos + 8:pos + 12])
        if tag == b"data":
            assert fmt in (3, 0xFFFE)
            return np.frombuffer(data[pos + 8:pos + 8 + size], "<f4").reshape(-1, channels).T
        pos += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


def ddsp_bin():
    return os.environ.get("DDSP_BIN") or str(REPO / "target" / "debug" / "ddsp")


@pytest.mark.skipif(not Path(ddsp_bin()).exists(), reason="the ddsp binary is not built")
def test_render_midi_equals_ddsp_render_sample_for_sample(tmp_path):
    mid = tmp_path / "chord.mid"
    write_midi(mid)
    wav = tmp_path / "chord.wav"
    subprocess.run([ddsp_bin(), "render", str(mid), "-o", str(wav), "--master", "off", "--bit-depth", "32f",
                    "--model", "Cello"], check=True, capture_output=True)
    cli = read_float_wav(wav)
    py = ddsp.render_midi(str(mid), model="Cello")
    assert py.shape == cli.shape and py.dtype == np.float32
    assert np.sqrt(np.mean(py ** 2)) > 1e-3
    assert np.array_equal(py, cli)
    mastered = ddsp.render_midi(str(mid), model="Cello", master="flat", voices=4)
    assert mastered.shape[0] == 2


@pytest.mark.skipif(not Path(ddsp_bin()).exists(), reason="the ddsp binary is not built")
def test_forced_precisions_render_what_ddsp_renders_with_the_same_precision(tmp_path):
    mid = tmp_path / "chord.mid"
    write_midi(mid)

    def both(precision):
        """The chord rendered by `ddsp --precision` and by this package set to the same."""
        wav = tmp_path / f"chord-{precision}.wav"
        subprocess.run([ddsp_bin(), "--precision", precision, "render", str(mid), "-o", str(wav), "--master", "off",
                        "--bit-depth", "32f", "--model", "Violin"], check=True, capture_output=True)
        try:
            ddsp.set_precision(precision)
            return ddsp.render_midi(str(mid), model="Violin"), read_float_wav(wav)
        finally:
            ddsp.set_precision("auto")

    py, cli = both("f32")
    assert np.array_equal(py, cli)
    # int8 weights: the same integer products in both, so the same samples; not f32's.
    py8, cli8 = both("int8")
    assert np.array_equal(py8, cli8) and not np.array_equal(py8, py)
    with pytest.raises(ValueError):
        ddsp.set_precision("f16")


def test_models_and_info():
    names = ddsp.models()
    assert names[:4] == ["Flute", "Violin", "Cello", "Trumpet"]
    assert ddsp.info()["name"] == "Flute"
    assert ddsp.info("Trumpet")["frame_rate_hz"] == 250


@pytest.mark.parametrize("call, error", [
    (lambda: ddsp.track(np.zeros((2, 100), np.float32), SR), ValueError),
    (lambda: ddsp.track(np.zeros(0, np.float32), SR), ValueError),
    (lambda: ddsp.track(np.zeros(100, np.int16), SR), TypeError),
    (lambda: ddsp.track([0.0] * 100, SR), TypeError),
    (lambda: ddsp.track(np.full(100, np.nan, np.float32), SR), ValueError),
    (lambda: ddsp.track(np.zeros(100, np.float32), 0), ValueError),
    (lambda: ddsp.track(np.zeros(100, np.float32), 10e6), ValueError),
    (lambda: ddsp.render_audio(np.zeros(100, np.complex64), SR), TypeError),
    (lambda: ddsp.render_audio(np.zeros(100, np.float32), SR, model="no-such-model"), ddsp.DdspError),
    (lambda: ddsp.render_midi("/no/such.mid"), FileNotFoundError),
    (lambda: ddsp.render_midi(__file__), ddsp.DdspError),
    (lambda: ddsp.render_midi(__file__, voices=0), ValueError),
    (lambda: ddsp.render_midi(__file__, sample_rate=0), ValueError),
    (lambda: ddsp.render_midi(__file__, master="loud"), ValueError),
    (lambda: ddsp.info("/no/such/model.onnx"), ddsp.DdspError),
    (lambda: ddsp.Pipeline(0), ValueError),
    (lambda: ddsp.Pipeline(10e6), ValueError),
    (lambda: ddsp.Pipeline(SR, 0), ValueError),
    (lambda: ddsp.Pipeline().set_f0_hz(float("nan")), ValueError),
    (lambda: ddsp.Pipeline().set_f0_hz(-5), ValueError),
    (lambda: ddsp.Pipeline().set_loudness_norm(float("inf")), ValueError),
    (lambda: ddsp.Pipeline().note_on(200), (ValueError, OverflowError)),
    (lambda: ddsp.Pipeline().note_on(60, channel=16), ValueError),
    (lambda: ddsp.Pipeline().midi(b"\xf8"), ValueError),
    (lambda: ddsp.Pipeline().process(-1), ValueError),
    (lambda: ddsp.Pipeline().process_audio(np.zeros((1, 10), np.float32)), ValueError),
    (lambda: ddsp.Pipeline().load_model("no-such-model"), ddsp.DdspError),
])
def test_bad_input_raises_a_clear_error(call, error):
    with pytest.raises(error) as e:
        call()
    assert str(e.value)


def test_a_failed_load_keeps_the_model_playing():
    p = ddsp.Pipeline()
    p.load_model("Violin")
    with pytest.raises(ddsp.DdspError, match="no-such"):
        p.load_model("no-such")
    assert p.model_info()["name"] == "Violin"
    assert p.process(0).shape == (0,)
