"""`python -m training <command>`: see the package docstring and `--help` of each command."""
import argparse
import json
import sys

from .make import LEVEL_STEPS, STEPS
from .phrases import DYNAMICS


# The decoder's sizes: flag, `ModelConfig` field, default; the same flags for `train` and `make`.
MODEL_SIZES = (("stack-units", "stack_units", 128), ("stack-layers", "stack_layers", 1),
               ("gru-units", "gru_units", 192), ("out-units", "out_units", 192), ("out-layers", "out_layers", 2),
               ("harmonics", "n_harmonics", 64), ("noise-bands", "n_noise_bands", 65))


def add_model_sizes(p):
    for flag, field, default in MODEL_SIZES:
        p.add_argument(f"--{flag}", dest=field, type=int, default=default)


def model_config(args):
    from .model import ModelConfig
    return ModelConfig(**{field: getattr(args, field) for _, field, _ in MODEL_SIZES},
                       reverb_seconds=getattr(args, "reverb_seconds", 0.0))


def parser():
    ap = argparse.ArgumentParser(prog="python -m training", description=__import__("training").__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("phrases", help="render generated expressive MIDI phrases with fluidsynth")
    p.add_argument("instruments", nargs="+", help="violin cello flute trumpet")
    p.add_argument("-o", "--out", required=True, help="folder; one sub-folder per instrument")
    p.add_argument("--minutes", type=float, default=15.5)
    p.add_argument("--soundfont", default="musescore", help="musescore, fluidr3 or a .sf2/.sf3 path")
    p.add_argument("--dynamics", choices=DYNAMICS, default="independent",
                   help="how velocity and CC11 make the phrases' dynamics (training/phrases.py, DYNAMICS)")

    p = sub.add_parser("dataset", help="folder of recordings -> cached f0/loudness clips")
    p.add_argument("source")
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--crepe", choices=["full", "tiny"], default="tiny")
    p.add_argument("--holdout", default="*heldout*", help="glob of the held-out (validation) files")
    p.add_argument("--voicing-threshold", type=float, default=0.5, help="CREPE periodicity for a voiced frame")
    p.add_argument("--threads", type=int)
    p.add_argument("--device", default="cpu", help="where CREPE runs: cpu, cuda, cuda:N")

    p = sub.add_parser("train", help="train (resumes automatically from RUN/checkpoint.pt)")
    p.add_argument("dataset")
    p.add_argument("run", help="run folder: checkpoint, config, log, audio samples")
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--clip-seconds", type=float, default=1.0)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--decay-steps", type=int, default=1250, help="learning rate halves every N steps")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--max-minutes", type=float, help="stop (with a checkpoint) after this much training time")
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level-weight", type=float, default=1.0,
                   help="weight of the A-weighted level loss (mean |dB| per 4 ms frame) beside the spectral loss")
    p.add_argument("--log-weight", type=float, default=1.0,
                   help="weight of the spectral loss's log-magnitude terms in training (validation keeps 1)")
    p.add_argument("--log-floor", type=float, default=None,
                   help="floor added to the magnitudes before the log in training (default 1e-3; validation "
                        "and the fidelity table keep 1e-7)")
    p.add_argument("--noise-warmup", type=int, default=0,
                   help="the noise generator is silent for the first N steps and fades in over the next N, so the "
                        "harmonics are learned before noise can stand in for them (0: noise from the start)")
    p.add_argument("--harmonic-weight", type=float, default=0.0,
                   help="weight of the harmonic loss (mean |dB| between each harmonic's amplitude and the "
                        "recording's, measured with its f0: training/harmonics.py); 0: off")
    p.add_argument("--device", default="cpu",
                   help="cpu, cuda, cuda:N or auto (CUDA when present). Under torchrun, each process takes its "
                        "local GPU (cuda) or trains on CPU (gloo); --batch-size is the global batch")
    add_model_sizes(p)
    p.add_argument("--condition-on-source", action="store_true",
                   help="the dataset's recordings sit in one folder per source (e.g. per soundfont or player): learn "
                        "each source's sound apart (offsets to every layer's bias), export plays one (--source)")
    p.add_argument("--pitch-knots", action="store_true",
                   help="start the f0 stack with its units' knots spread over the data's pitch range, so the "
                        "timbre can change from note to note (a new run; saved in its config)")
    p.add_argument("--reverb-seconds", type=float, default=0.0,
                   help="learn a reverb impulse response this long (training only; not exported)")

    p = sub.add_parser("export", help="checkpoint -> ONNX (models/FORMAT.md) + reference CSVs")
    p.add_argument("run")
    p.add_argument("-o", "--out", required=True, help="model path, e.g. models/violin.onnx")
    p.add_argument("--name", required=True)
    p.add_argument("--instrument", default="")
    p.add_argument("--licence", default="CC-BY-4.0")
    p.add_argument("--description", default="")
    p.add_argument("--reference-dir", help="where NAME.in.csv / NAME.out.csv go (default: beside the model)")
    p.add_argument("--source", help="a model trained with --condition-on-source: the source it plays")

    p = sub.add_parser("make", help="folder of recordings -> a model in the plugin's library (all stages, "
                                    "the shipped models' recipe; rerun to resume)")
    p.add_argument("source", help="folder of monophonic recordings (WAV/FLAC/OGG/MP3, any rate)")
    p.add_argument("--name", required=True, help='the model\'s name in the library, e.g. "My Cello"')
    p.add_argument("-o", "--out", help="model path (default: the plugin's model folder, NAME.onnx)")
    p.add_argument("--work", help="analysis, checkpoints, samples (default: ~/.cache/ddsp-instrument/training/NAME)")
    p.add_argument("--steps", type=int, default=STEPS, help="total training steps (the last --level-steps with "
                                                            "the level loss); ~40 min on one CPU core")
    p.add_argument("--level-steps", type=int, default=LEVEL_STEPS)
    p.add_argument("--max-minutes", type=float, help="stop training after this much time and export what is there")
    p.add_argument("--crepe", choices=["full", "tiny"], default="tiny")
    p.add_argument("--holdout", default="*heldout*", help="glob of held-out files (none: each recording's tail)")
    p.add_argument("--instrument", default="")
    p.add_argument("--licence", default="")
    p.add_argument("--description", default="")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--threads", type=int)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (as for train)")
    add_model_sizes(p)

    p = sub.add_parser("benchmark", help="shipped models against the sampled instruments they imitate: harmonic "
                                         "profile on sustained notes, high band, f0 vs pYIN (training/benchmark.py)")
    p.add_argument("names", nargs="+", help="models/NAME.onnx, instruments of training/phrases.py")
    p.add_argument("--models", default="models")
    p.add_argument("--phrases", default="target/training/phrases", help="rendered phrases (python -m training phrases)")
    p.add_argument("--work", default="target/training")
    p.add_argument("--readme", help="rewrite the benchmark table in this file (models/README.md)")
    p.add_argument("--soundfonts", help="notes from these soundfonts (musescore,fluidr3; default: the ones the "
                                        "model's metadata names)")
    p.add_argument("--sources", action="store_true", help="no model: how far the two soundfonts' notes are apart "
                                                          "(the floor for a model trained on both)")

    p = sub.add_parser("fidelity", help="held-out resynthesis benchmark (f0 cents, loudness dB, spectral distance)")
    p.add_argument("pairs", nargs="+", help="MODEL.onnx=DATASET_DIR (the dataset's held-out clips)")
    p.add_argument("--crepe", choices=["full", "tiny"], default="tiny")
    p.add_argument("--png-dir", help="write a spectrogram (original vs resynthesis) per model here")
    p.add_argument("--json", help="write the results here")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if getattr(args, "threads", None):
        import torch
        torch.set_num_threads(args.threads)
    if args.command == "phrases":
        from .phrases import render
        for name in args.instruments:
            print(json.dumps(render(name, args.out, args.minutes, soundfont=args.soundfont, dynamics=args.dynamics)))
    elif args.command == "dataset":
        from .dataset import build
        manifest = build(args.source, args.out, args.crepe, args.holdout, args.voicing_threshold, args.device)
        skipped = {k: v["reason"] for k, v in manifest["files"].items() if v["status"] != "ok"}
        print(json.dumps({"seconds": manifest["seconds"], "skipped": skipped}))
        if manifest["seconds"]["validation"] == 0:
            from .train import AUTO_HOLDOUT
            print(f"no file matches --holdout '{args.holdout}': `train` will validate on the {AUTO_HOLDOUT}")
    elif args.command == "train":
        from .train import train
        train(args.dataset, args.run, args.steps, args.batch_size, args.clip_seconds, args.learning_rate,
              args.decay_steps, 0.5, args.checkpoint_every, args.max_minutes, args.threads, args.seed,
              model_config(args), level_weight=args.level_weight, device=args.device, log_weight=args.log_weight,
              noise_warmup=args.noise_warmup, harmonic_weight=args.harmonic_weight,
              condition_on_source=args.condition_on_source, pitch_knots=args.pitch_knots,
              **({"log_floor": args.log_floor} if args.log_floor is not None else {}))
    elif args.command == "make":
        from .make import make
        result = make(args.source, args.name, args.out, args.work, args.steps, args.level_steps, args.crepe,
                      args.holdout, args.max_minutes, args.threads, model_config(args), args.instrument, args.licence,
                      args.description, args.checkpoint_every, device=args.device)
        print(json.dumps(result))
        print(f"'{args.name}' is ready: {result['path']} (the plugin's library lists its folder)")
    elif args.command == "export":
        from .export import export
        print(json.dumps(export(args.run, args.out, args.name, args.instrument, args.licence, args.description,
                                args.reference_dir, args.source)))
    elif args.command == "benchmark":
        from .benchmark import run, sources_table
        if args.sources:
            print(sources_table(args.names, args.work, args.soundfonts.split(",") if args.soundfonts else
                                ("musescore", "fluidr3")))
            return 0
        run(args.names, args.models, args.phrases, args.work, args.readme,
            args.soundfonts.split(",") if args.soundfonts else None)
    elif args.command == "fidelity":
        from .fidelity import run
        run([tuple(p.split("=", 1)) for p in args.pairs], args.crepe, args.png_dir, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
