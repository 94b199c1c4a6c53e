from pathlib import Path

import numpy as np
import pytest
import torch

from training import SAMPLE_RATE
from training.dataset import Clip, write_manifest

torch.set_num_threads(2)


def tone(f0_hz, seconds, rate=48_000, amplitude=0.3, harmonics=8, vibrato_cents=0.0):
    """A harmonic tone (1/k spectrum) with optional 5.5 Hz vibrato."""
    t = np.arange(int(seconds * rate)) / rate
    f = f0_hz * 2 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1))
    return (amplitude * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture
def make_tone():
    return tone


def write_dataset(root, takes):
    """A dataset folder as `python -m training dataset` leaves it (clips and manifest), from
    (recording path, Clip, split) takes; returns the folder."""
    root = Path(root)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    entries = {}
    for i, (recording, clip, split) in enumerate(takes):
        clip.save(root / f"clips/{i}.npz")
        entries[recording] = {"key": str(i), "status": "ok", "clip": f"clips/{i}.npz", "split": split,
                              "seconds": len(clip.audio) / SAMPLE_RATE}
    write_manifest(root / "manifest.json", {}, entries)
    return root
