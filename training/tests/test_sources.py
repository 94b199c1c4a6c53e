"""A model conditioned on its sources (`train --condition-on-source`): one network learns each source's
sound apart (two soundfonts of one instrument differ by 2.8-6.3 dB over harmonics 1-20, and a model that
hears only f0 and loudness can only play their average), and an export plays one source with the plain
format's graph (the source's offsets folded into the biases)."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import torch

from training import HOP, SAMPLE_RATE
from training.dataset import Clip, load_split
from training.export import export
from training.model import Decoder, ModelConfig
from training.train import train

from .conftest import write_dataset

TINY = dict(stack_units=16, gru_units=24, out_units=32, out_layers=2, n_harmonics=16, n_noise_bands=17)


def test_a_baked_source_plays_exactly_what_the_conditioned_model_plays():
    torch.manual_seed(0)
    decoder = Decoder(ModelConfig(**TINY, sources=["fluidr3", "musescore"])).eval()
    with torch.no_grad():
        for p in decoder.source_offsets.values():
            p.normal_(0.0, 0.5)
    f0 = 220.0 * 2 ** (torch.linspace(-12, 12, 60) / 12)[None]
    ld = torch.linspace(-50, -10, 60)[None]
    outs = []
    for i, name in enumerate(["fluidr3", "musescore"]):
        with torch.no_grad():
            conditioned, state_c = decoder(f0, ld, source=torch.tensor([i]))
            baked = decoder.baked(name).eval()
            plain, state_p = baked(f0, ld)
        assert baked.source_offsets is None
        for key in conditioned:
            assert torch.allclose(conditioned[key], plain[key], rtol=1e-5, atol=1e-6), (name, key)
        assert torch.allclose(state_c, state_p, atol=1e-6)
        outs.append(conditioned["harmonic_distribution"])
    assert (outs[0] - outs[1]).abs().max() > 1e-2, "the two sources' offsets play differently"


def source_dataset(root):
    """Two sources of one 'instrument' at the same pitches and level: bright (harmonics as 1/k) and dark
    (1/k³, sounding the same f0s), in one folder each."""
    takes = []
    for s, (source, slope) in enumerate((("bright", 1.0), ("dark", 3.0))):
        for i, f0 in enumerate((196.0, 262.0, 349.0)):
            t = np.arange(int(6.0 * SAMPLE_RATE)) / SAMPLE_RATE
            phase = 2 * np.pi * f0 * t
            x = sum(np.sin(k * phase) / k ** slope for k in range(1, 17))
            audio = (0.2 * x / np.abs(x).max()).astype(np.float32)[: int(6.0 * SAMPLE_RATE) // HOP * HOP]
            n = len(audio) // HOP
            clip = Clip(f"{source}{i}", audio, np.full(n, f0, np.float32), np.ones(n, np.float32),
                        np.full(n, -20.0, np.float32))
            takes.append((f"{source}/take{i}.wav", clip, "train"))
    return write_dataset(root, takes)


def harmonic_tilt_db(model_path):
    """Harmonic 4 against harmonic 1 (dB) of an exported model at 262 Hz, -20 dB, after 50 frames."""
    sess = ort.InferenceSession(str(model_path))
    state = np.zeros(next(i for i in sess.get_inputs() if i.name == "state_in").shape, np.float32)
    for _ in range(50):
        feed = {"f0_hz": np.array([[262.0]], np.float32), "loudness_db": np.array([[-20.0]], np.float32),
                "state_in": state}
        out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))
        state = out["state_out"]
    h = out["harmonic_distribution"].reshape(-1)
    return 20 * np.log10(h[3] / h[0])


def test_conditioning_learns_each_sources_sound_and_each_export_plays_its_own(tmp_path):
    ds = source_dataset(tmp_path / "ds")
    assert sorted({c.source for c in load_split(ds, "train")}) == ["bright", "dark"]
    run = tmp_path / "run"
    train(ds, run, steps=150, batch_size=4, clip_seconds=0.5, checkpoint_every=150, threads=2,
          config=ModelConfig(**TINY), progress=False, harmonic_weight=1.0, noise_warmup=0,
          condition_on_source=True, learning_rate=1e-2, decay_steps=1000)
    assert json.loads((run / "config.json").read_text())["model"]["sources"] == ["bright", "dark"]
    tilt = {}
    for source in ("bright", "dark"):
        path = tmp_path / f"{source}.onnx"
        result = export(run, path, f"Test {source}", source=source)
        assert result["onnxruntime_max_abs_diff"] < 1e-4
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert meta["ddsp.source"] == source and meta["ddsp.sources"] == "bright,dark"
        tilt[source] = harmonic_tilt_db(path)
    # The recordings: harmonic 4 is -12 dB (bright) and -36 dB (dark) re the fundamental, 24 dB apart.
    print(f"harmonic 4 re 1: bright {tilt['bright']:.1f} dB, dark {tilt['dark']:.1f} dB")
    assert tilt["bright"] - tilt["dark"] > 10.0
