"""The contract between the two languages: train a tiny model for a few dozen steps on a few seconds
of generated audio, export it, and the Rust runtime (`ddsp infer`) reproduces the trainer's outputs
within 1e-4."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch

from training.__main__ import main
from training.model import hz_to_midi

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--stack-units", "16", "--gru-units", "24", "--out-units", "32", "--out-layers", "2",
        "--harmonics", "24", "--noise-bands", "33", "--batch-size", "2", "--clip-seconds", "0.5",
        "--checkpoint-every", "10", "--threads", "2"]


def ddsp_binary():
    path = Path(os.environ.get("DDSP_BIN", ROOT / "target/debug/ddsp"))
    if not path.exists():
        pytest.fail(f"{path} not built: run `cargo build -p ddsp-cli` (scripts/test.sh does)")
    return path


def read_csv(path):
    lines = Path(path).read_text().splitlines()
    return lines[0].split(","), np.array([[float(v) for v in line.split(",")] for line in lines[1:]])


def test_train_export_and_rust_parity(tmp_path, make_tone):
    src = tmp_path / "audio"
    src.mkdir()
    # A few seconds of generated notes: a phrase for training, one held out.
    notes = [make_tone(f, 0.8, amplitude=a, harmonics=12, vibrato_cents=20)
             for f, a in ((196.0, 0.2), (262.0, 0.4), (330.0, 0.3), (392.0, 0.5), (294.0, 0.25))]
    sf.write(src / "phrase.wav", np.concatenate(notes), 48_000)
    sf.write(src / "heldout_phrase.wav", np.concatenate(notes[:2][::-1]), 48_000)
    ds, run = tmp_path / "ds", tmp_path / "run"
    assert main(["dataset", str(src), "-o", str(ds), "--crepe", "tiny"]) == 0

    # 20 steps, then the same command with --steps 40 resumes from the checkpoint
    assert main(["train", str(ds), str(run), "--steps", "20", *TINY]) == 0
    assert main(["train", str(ds), str(run), "--steps", "40", *TINY]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [10, 20, 30, 40]
    assert all(r["validation_loss"] is not None for r in log)
    assert log[-1]["train_loss"] < log[0]["train_loss"], "the loss did not go down"
    assert sorted(p.name for p in (run / "samples").iterdir())[-1] == "step000040.wav"

    model = tmp_path / "tiny.onnx"
    assert main(["export", str(run), "-o", str(model), "--name", "Smoke", "--instrument", "generated tones"]) == 0
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert meta["ddsp.format"] == "ddsp-rnn-fc/1" and meta["ddsp.name"] == "Smoke"
    assert (meta["ddsp.sample_rate_hz"], meta["ddsp.frame_rate_hz"]) == ("48000", "250")
    assert (meta["ddsp.n_harmonics"], meta["ddsp.n_noise_bands"], meta["ddsp.training_steps"]) == ("24", "33", "40")
    assert 150 < float(meta["ddsp.f0_min_hz"]) < float(meta["ddsp.f0_max_hz"]) < 450

    rust_out = tmp_path / "rust.csv"
    subprocess.run([str(ddsp_binary()), "infer", str(model), "--raw", str(tmp_path / "tiny.in.csv"),
                    "-o", str(rust_out)], check=True)
    ref_header, ref = read_csv(tmp_path / "tiny.out.csv")
    header, got = read_csv(rust_out)
    assert header == ref_header and got.shape == ref.shape == (120, 1 + 24 + 33)
    worst = np.abs(got - ref).max()
    print(f"Rust runtime vs trainer: max |diff| {worst:.2e} over {ref.size} values")
    assert worst < 1e-4

    # The fidelity benchmark plays the export through the engine users hear (ddsp_instrument) and
    # measures it against the held-out recording (CREPE on the output vs the phrase's f0).
    from training import fidelity
    result, _ = fidelity.measure(model, ds, "tiny")
    print(result)
    assert result["heldout_phrases"] == 1 and result["heldout_seconds"] > 1
    assert result["f0_error_cents_median"] < 25, "the engine does not play the phrase's pitch"


def test_make_turns_a_folder_into_a_model_the_library_lists(tmp_path, make_tone, monkeypatch):
    """`python -m training make`: two takes with no held-out files -> a model in the plugin's model
    folder, which `ddsp models` lists and `ddsp info` loads by its library name (full validation)."""
    src = tmp_path / "my takes"
    src.mkdir()
    for i, notes in enumerate(((220.0, 247.0, 262.0, 294.0), (330.0, 294.0, 262.0, 247.0))):
        sf.write(src / f"take{i}.flac", np.concatenate([make_tone(f, 1.75, amplitude=0.3, harmonics=12,
                                                                   vibrato_cents=20) for f in notes]), 44_100)
    data_home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    tiny_model = TINY[:TINY.index("--batch-size")]
    assert main(["make", str(src), "--name", "My Tone", "--steps", "12", "--level-steps", "4",
                 "--checkpoint-every", "6", "--work", str(tmp_path / "work"), "--threads", "2", *tiny_model]) == 0

    model = data_home / "ddsp-instrument/models/my-tone.onnx"
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert (meta["ddsp.name"], meta["ddsp.training_steps"]) == ("My Tone", "12")
    run = tmp_path / "work/run"
    config = json.loads((run / "config.json").read_text())
    assert config["validation_split"].startswith("last 10%")
    # The f0 stack's knots spread over the training takes' pitch range (A3..E4 played).
    lo, hi = config["model"]["pitch_knots_midi"]
    assert np.allclose([lo, hi], hz_to_midi(torch.tensor(config["f0_range_hz"], dtype=torch.float64)), atol=0.01)
    assert 53 < lo < 58 and 61 < hi < 66, (lo, hi)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [6, 8, 12] and all(r["validation_loss"] for r in log)
    assert not list(model.parent.glob("*.csv")), "the references stay in the work folder"

    env = dict(os.environ, XDG_DATA_HOME=str(data_home))
    listing = subprocess.run([str(ddsp_binary()), "models"], env=env, capture_output=True, text=True, check=True)
    assert "my-tone" in listing.stdout and str(model) in listing.stdout, listing.stdout
    info = subprocess.run([str(ddsp_binary()), "info", "my-tone"], env=env, capture_output=True, text=True,
                          check=True)
    assert "My Tone" in info.stdout and "48000" in info.stdout, info.stdout
