"""The trainer that makes our models: a folder of monophonic recordings -> a DDSP decoder in the
`models/FORMAT.md` layout (ONNX, streaming state), with reference outputs for the Rust parity tests.

    python -m training make FOLDER --name "My Cello"   # all of it: recordings -> a model in the library

    python -m training phrases   ...  # generated expressive MIDI phrases rendered by fluidsynth
    python -m training dataset   ...  # folder of recordings -> cached f0 (CREPE) + loudness clips
    python -m training train     ...  # multi-scale spectral loss, checkpoints, resume
    python -m training export    ...  # ONNX + metadata + reference input/output CSVs
    python -m training fidelity  ...  # held-out resynthesis benchmark -> models/README.md

`python -m training --help` lists the options. Modules that need torch import it themselves, so
`training.loudness` and `training.onnx_format` work with numpy (and onnx) alone.
"""

SAMPLE_RATE = 48_000
FRAME_RATE = 250
HOP = SAMPLE_RATE // FRAME_RATE  # 192 samples, 4 ms
