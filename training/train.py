"""Training loop: multi-scale spectral loss (+ the level and harmonic losses), Adam, checkpoints with
automatic resume, validation on the held-out clips, audio samples at checkpoints, a progress bar
with loss and steps/s.

Everything a run needs is in its directory: `checkpoint.pt` (model, optimiser, step, elapsed time,
RNG), `config.json`, `log.jsonl` (one line per validation), `samples/` (original vs resynthesis).
Rerunning the same command resumes where it stopped; `--max-minutes` bounds the total time.

Devices and processes: `--device cuda` (or `auto`: CUDA when present) trains on a GPU. Started by
PyTorch's `torchrun`, the same command trains in several processes (on one machine or several,
one GPU each, or CPU processes) through DistributedDataParallel: NCCL on CUDA, gloo on CPU. The
global batch (`--batch-size`) is split evenly between the processes; every process draws the same
crops and noise as a single process with the same seed would and keeps its own share, so the
averaged gradient, and the run, are the single-process run's (up to the order of float sums).
Process 0 writes the checkpoint, the log and the samples; a resumed run (any number of processes)
continues from the checkpoint. A process that dies takes the run down with a message naming the
step; rerunning the command (or `torchrun --max-restarts N`) resumes from the last checkpoint.
"""
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from . import FRAME_RATE, HOP, SAMPLE_RATE
from .dataset import Clip, load_split, loudness_range
from .harmonics import harmonic_amplitudes
from .model import (TRAIN_LOG_FLOOR, DDSP, ModelConfig, harmonic_loss, hz_to_midi, level_loss,
                    multiscale_spectral_loss)

SOUNDING_DB = -70.0
VOICED = 0.5  # periodicity above which a frame is voiced (as `dataset.loudness_range`)
WARMUP_STEPS = 100
# A folder without held-out files: the last 10 % of each recording (at least 2 s; recordings shorter
# than 6 s stay whole) is the validation split, the same on every run and resume.
AUTO_HOLDOUT_FRACTION = 0.1
AUTO_HOLDOUT_MIN_S = 2.0
AUTO_HOLDOUT = f"last {AUTO_HOLDOUT_FRACTION:.0%} (at least {AUTO_HOLDOUT_MIN_S:g} s) of each recording"


def hold_out_tails(clips):
    """(train, validation) for a dataset with no held-out files: each recording's tail is cut off
    and never trained on."""
    min_frames = int(AUTO_HOLDOUT_MIN_S * FRAME_RATE)
    train, validation = [], []
    for c in clips:
        n = len(c.f0_hz)
        if n < 3 * min_frames:
            train.append(c)
            continue
        held = max(int(round(n * AUTO_HOLDOUT_FRACTION)), min_frames)
        k = n - held
        train.append(Clip(c.name, c.audio[:k * HOP], c.f0_hz[:k], c.periodicity[:k], c.loudness_db[:k], c.source))
        validation.append(Clip(f"{c.name} (held-out tail)", c.audio[k * HOP:], c.f0_hz[k:], c.periodicity[k:],
                               c.loudness_db[k:], c.source))
    return train, validation


def source_indices(clips, sources):
    """Each clip's source as an index into `sources` (all 0 for an unconditioned model)."""
    return [sources.index(c.source) if sources else 0 for c in clips]


class Crops:
    """Random frame-aligned crops of `frames` frames, weighted by clip length, skipping near-silence:
    (f0, loudness, audio, source index); with `n_harmonics`, each crop also carries the recording's
    harmonic amplitudes [frames, K] (`training.harmonics`, measured once per clip)."""

    def __init__(self, clips, frames, rng, n_harmonics=0, sources=()):
        self.clips = [c for c in clips if len(c.f0_hz) >= frames]
        self.sources = source_indices(self.clips, list(sources))
        if not self.clips:
            raise SystemExit(f"no clip holds {frames / FRAME_RATE:.2f} s; use a shorter --clip-seconds")
        self.frames, self.rng = frames, rng
        self.harmonics = [harmonic_amplitudes(c.audio, c.f0_hz, n_harmonics, c.periodicity > VOICED)
                          for c in self.clips] if n_harmonics else None
        lengths = np.array([len(c.f0_hz) - frames + 1 for c in self.clips], np.float64)
        self.p = lengths / lengths.sum()

    def crop(self, i, start):
        clip, end = self.clips[i], start + self.frames
        row = clip.f0_hz[start:end], clip.loudness_db[start:end], clip.audio[start * HOP:end * HOP], \
            np.int64(self.sources[i])
        return row + (self.harmonics[i][start:end],) if self.harmonics else row

    def batch(self, size):
        rows = []
        while len(rows) < size:
            i = self.rng.choice(len(self.clips), p=self.p)
            start = int(self.rng.integers(0, len(self.clips[i].f0_hz) - self.frames + 1))
            row = self.crop(i, start)
            if row[1].max() > SOUNDING_DB:
                rows.append(row)
        return [torch.from_numpy(np.stack(x)) for x in zip(*rows)]


def validation_batches(clips, frames, max_crops=24, batch=8, sources=()):
    """Fixed consecutive crops of the held-out clips (the same every validation): (f0, loudness,
    audio, source index) batches."""
    rows = []
    for clip, source in zip(clips, source_indices(clips, list(sources))):
        for start in range(0, len(clip.f0_hz) - frames + 1, frames):
            f0, ld = clip.f0_hz[start:start + frames], clip.loudness_db[start:start + frames]
            if ld.max() > SOUNDING_DB:
                rows.append((f0, ld, clip.audio[start * HOP:(start + frames) * HOP], np.int64(source)))
    step = max(1, len(rows) // max_crops)
    rows = rows[::step][:max_crops]
    return [[torch.from_numpy(np.stack(x)) for x in zip(*rows[i:i + batch])] for i in range(0, len(rows), batch)]


def noise_gain(step, warmup):
    """The noise generator's gain at a training step: 0 for the first `warmup` steps, then rising
    linearly to 1 over `warmup` more (1 throughout when warmup is 0). With noise from the first step
    the noise bands covered the upper harmonics before the harmonics were learned, and the log terms
    of the spectral loss then held those harmonics down (flute: none above the 10th at any pitch)."""
    return min(max(step / warmup - 1.0, 0.0), 1.0) if warmup else 1.0


def sources(model, source, device):
    """The batch's source indices for a conditioned model, else None."""
    return source.to(device) if model.cfg.sources else None


def evaluate(model, batches):
    if not batches:
        return None
    g = torch.Generator().manual_seed(1234)
    device = next(model.parameters()).device
    with torch.no_grad():
        losses = [multiscale_spectral_loss(audio.to(device), model(f0.to(device), ld.to(device), g,
                                                                   source=sources(model, source, device))[0]).item()
                  for f0, ld, audio, source in batches]
    return float(np.mean(losses))


def f0_range(clips):
    f0 = np.concatenate([c.f0_hz[c.periodicity > VOICED] for c in clips] or [np.array([220.0])])
    return float(np.percentile(f0, 0.5)), float(np.percentile(f0, 99.5))


def resolve_device(device):
    """`auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`."""
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this PyTorch sees no CUDA device")
    return device


def start_processes(device, batch_size):
    """(rank, world size, device) for this process: torchrun's environment joins the process group
    (NCCL on CUDA, gloo on CPU; each process on its local GPU), a plain process is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if batch_size % world:
        raise SystemExit(f"--batch-size {batch_size} does not split evenly over {world} processes")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return torch.distributed.get_rank(), world, device


def train(dataset, run_dir, steps=20000, batch_size=8, clip_seconds=1.0, learning_rate=2e-3,
          decay_steps=5000, decay_rate=0.5, checkpoint_every=500, max_minutes=None, threads=None, seed=0,
          config=None, progress=True, log_every=25, level_weight=1.0, device="cpu", log_weight=1.0,
          log_floor=TRAIN_LOG_FLOOR, noise_warmup=0, harmonic_weight=0.0, condition_on_source=False,
          pitch_knots=False):
    try:
        return _train(dataset, run_dir, steps, batch_size, clip_seconds, learning_rate, decay_steps, decay_rate,
                      checkpoint_every, max_minutes, threads, seed, config, progress, log_every, level_weight, device,
                      log_weight, log_floor, noise_warmup, harmonic_weight, condition_on_source, pitch_knots)
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train(dataset, run_dir, steps, batch_size, clip_seconds, learning_rate, decay_steps, decay_rate,
           checkpoint_every, max_minutes, threads, seed, config, progress, log_every, level_weight, device,
           log_weight, log_floor, noise_warmup, harmonic_weight, condition_on_source, pitch_knots):
    from tqdm import tqdm
    import soundfile as sf
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    rank, world, device = start_processes(resolve_device(device), batch_size)
    main = rank == 0
    share = batch_size // world
    ckpt_path = run_dir / "checkpoint.pt"
    cfg_path = run_dir / "config.json"
    if cfg_path.exists():
        saved = json.loads(cfg_path.read_text())
        config = ModelConfig(**saved["model"])
        if saved.get("noise_warmup", noise_warmup) != noise_warmup:  # a resume keeps the run's schedule
            print(f"{run_dir.name}: the run's noise warm-up is {saved['noise_warmup']} steps", flush=True)
            noise_warmup = saved["noise_warmup"]
    else:
        config = config or ModelConfig()
    train_clips = load_split(dataset, "train")
    val_clips = load_split(dataset, "validation")
    if not train_clips:
        raise SystemExit(f"{dataset}: no training clips (run `python -m training dataset` first)")
    validation_split = "held-out files"
    if not val_clips:
        train_clips, val_clips = hold_out_tails(train_clips)
        validation_split = AUTO_HOLDOUT
        if val_clips:
            print(f"no held-out files in {dataset}: validating on the {validation_split}", flush=True)
        else:
            print(f"no held-out files in {dataset} and no recording of {3 * AUTO_HOLDOUT_MIN_S:g} s or more: no "
                  "validation loss (name some files *heldout* or record longer takes)", flush=True)
    if condition_on_source and not cfg_path.exists():
        # A new run learns one set of offsets per source (a resume keeps the run's, from its config).
        found = sorted({c.source for c in train_clips})
        if len(found) < 2 or "" in found:
            raise SystemExit(f"{dataset}: conditioning on the source needs the recordings in two or more folders, "
                             f"one per source (found: {', '.join(repr(f) for f in found)})")
        config = ModelConfig(**{**config.to_dict(), "sources": found})
    if not cfg_path.exists():
        f_lo, f_hi = f0_range(train_clips)
    if pitch_knots and not cfg_path.exists():
        # A new run spreads the f0 stack's knots over its data's pitch range (a resume keeps its config).
        config = ModelConfig(**{**config.to_dict(), "pitch_knots_midi": [
            round(float(hz_to_midi(torch.tensor(f, dtype=torch.float64))), 2) for f in (f_lo, f_hi)]})
    if main and not cfg_path.exists():
        lo, hi = loudness_range(train_clips)
        cfg_path.write_text(json.dumps({
            "model": config.to_dict(), "dataset": str(Path(dataset).resolve()),
            "train_seconds": sum(len(c.audio) for c in train_clips) / SAMPLE_RATE,
            "validation_seconds": sum(len(c.audio) for c in val_clips) / SAMPLE_RATE,
            "validation_split": validation_split,
            "loudness_range_db": [lo, hi], "f0_range_hz": [f_lo, f_hi],
            "batch_size": batch_size, "clip_seconds": clip_seconds, "learning_rate": learning_rate,
            "decay_steps": decay_steps, "decay_rate": decay_rate, "seed": seed, "log_floor": log_floor,
            "log_weight": log_weight, "noise_warmup": noise_warmup, "harmonic_weight": harmonic_weight},
            indent=1) + "\n")

    torch.manual_seed(seed)
    model = DDSP(config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    step, elapsed, rng = 0, 0.0, np.random.default_rng(seed)
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state["elapsed_s"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"].cpu())
    # Every process holds the whole model; DDP averages the gradients of the processes' shares.
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    frames = int(round(clip_seconds * FRAME_RATE))
    crops = Crops(train_clips, frames, rng, config.n_harmonics if harmonic_weight else 0, config.sources)
    val = validation_batches(val_clips, frames, sources=config.sources)

    def save():
        if not main:
            return
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step, "elapsed_s": elapsed,
                    "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}, tmp)
        tmp.rename(ckpt_path)

    def checkpoint(train_loss):
        if not main:
            return None
        val_loss = evaluate(model, val)
        with open(run_dir / "log.jsonl", "a") as fh:
            fh.write(json.dumps({"step": step, "elapsed_s": round(elapsed, 1), "train_loss": train_loss,
                                 "validation_loss": val_loss}) + "\n")
        if val:
            f0, ld, audio, source = val[0]
            with torch.no_grad():
                out = model(f0[:1].to(device), ld[:1].to(device), torch.Generator().manual_seed(1),
                            source=sources(model, source[:1], device))[0][0].cpu().numpy()
            (run_dir / "samples").mkdir(exist_ok=True)
            sf.write(run_dir / f"samples/step{step:06d}.wav", np.stack([audio[0].numpy(), out], 1), SAMPLE_RATE)
        save()
        return val_loss

    bar = tqdm(total=steps, initial=step, desc=run_dir.name, unit="step", disable=not (progress and main))
    recent, val_loss = [], None
    while step < steps:
        over = max_minutes is not None and elapsed >= 60 * max_minutes
        if max_minutes is not None and world > 1:  # process 0's clock decides for all
            flag = torch.tensor([float(over)], device=device)
            torch.distributed.broadcast(flag, 0)
            over = bool(flag.item())
        if over:
            tqdm.write(f"{run_dir.name}: time budget of {max_minutes} min reached at step {step}")
            break
        t0 = time.perf_counter()
        # Linear warm-up over the first WARMUP_STEPS, then exponential decay.
        lr = learning_rate * min(1.0, (step + 1) / WARMUP_STEPS) * decay_rate ** (step / decay_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        # The whole batch's crops and noise, this process's share of them.
        f0, ld, audio, source, *harmonics = (
            x[rank * share:(rank + 1) * share].to(device) for x in crops.batch(batch_size))
        noise = torch.Generator().manual_seed(seed * 1_000_003 + step)
        try:
            out, controls = net(f0, ld, noise, (rank * share, batch_size), noise_gain(step, noise_warmup),
                                source=source if config.sources else None)
            loss = multiscale_spectral_loss(audio, out, log_weight=log_weight, log_floor=log_floor)
            if harmonic_weight:
                loss = loss + harmonic_weight * harmonic_loss(harmonics[0], f0, controls)
            if level_weight:
                loss = loss + level_weight * level_loss(audio, out)
            opt.zero_grad()
            loss.backward()
            if world > 1:  # the whole batch's loss, as one process would log it
                loss = loss.detach().clone()
                torch.distributed.all_reduce(loss)
                loss /= world
        except RuntimeError as e:
            if world == 1:
                raise
            raise SystemExit(f"{run_dir.name}: process {rank} of {world} lost the others at step {step} ({e}); "
                             f"rerun the command to resume from the last checkpoint") from e
        torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
        opt.step()
        step += 1
        elapsed += time.perf_counter() - t0
        recent.append(loss.item())
        bar.update(1)
        if step % log_every == 0 or step == steps:
            bar.set_postfix(loss=f"{np.mean(recent[-log_every:]):.3f}", val=val_loss and f"{val_loss:.3f}",
                            sps=f"{step / max(elapsed, 1e-9):.2f}" if elapsed else None)
        if step % checkpoint_every == 0:
            val_loss = checkpoint(float(np.mean(recent[-checkpoint_every:])))
    bar.close()
    if recent and step % checkpoint_every:
        checkpoint(float(np.mean(recent[-checkpoint_every:])))
    return model, step
