"""The training loop: AdamW, warmup + cosine LR, gradient clipping, EMA, checkpoints, resume, DDP.

Determinism: the model is initialised from ``seed``; batch order is a pure function of
(seed, epoch, step, rank) (:func:`~pxrdsolve.training.data.batch_indices`) and every random draw
of a step (augmentation, noise levels, latent noise) comes from a generator seeded by
(seed, step, rank).  A run resumed from a checkpoint therefore continues exactly as the
uninterrupted run would have.  SIGTERM/SIGINT set a flag; the loop saves a checkpoint at the next
step boundary and returns with ``interrupted=True``.  Only rank 0 writes files.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pxrdsolve.errors import InputError
from pxrdsolve.interrupt import StopFlag
from pxrdsolve.io.atomic import write_text_atomic
from pxrdsolve.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from pxrdsolve.model.config import Config, preset
from pxrdsolve.model.model import PXRDSolveModel, count_parameters
from pxrdsolve.training import distributed as ddp
from pxrdsolve.training.augment import simulate_patterns
from pxrdsolve.training.data import CrystalDataset, batch_indices, load_dataset, steps_per_epoch
from pxrdsolve.training.schedule import ema_decay_at, lr_at


@dataclass(frozen=True)
class TrainResult:
    """What a training run did (losses are the weighted total, lower is better)."""

    checkpoint: str
    step: int
    epoch: int
    train_loss: float | None  # mean over the last logging window
    val_loss: float | None  # last validation (EMA weights)
    seconds: float
    interrupted: bool
    log_path: str
    world_size: int
    num_parameters: int
    param_sha256: str = ""  # digest of the final weights (identical on every rank under DDP)


def parameter_digest(module: torch.nn.Module) -> str:
    """sha256 over the module's parameters (name, dtype, bytes) in state-dict order."""
    digest = hashlib.sha256()
    for name, t in module.state_dict().items():
        digest.update(f"{name}|{t.dtype}|".encode())
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def step_seed(seed: int, step: int, rank: int, tag: str = "train") -> int:
    """A 63-bit seed for one step's generator, independent across (seed, step, rank, tag)."""
    digest = hashlib.sha256(f"{tag}:{seed}:{step}:{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _rng_state(device: str) -> dict[str, torch.Tensor]:
    out = {"torch_cpu": torch.get_rng_state()}
    if device.startswith("cuda") and torch.cuda.is_available():
        out["torch_cuda"] = torch.cuda.get_rng_state()
    return out


def _save(path: Path, config: Config, model: torch.nn.Module, ema: torch.nn.Module,
          opt: torch.optim.Optimizer, step: int, device: str, extra: dict) -> None:
    save_checkpoint(path, Checkpoint(config=config, model=model.state_dict(), step=step,
                                     ema=ema.state_dict(), optimizer=opt.state_dict(),
                                     rng=_rng_state(device), extra=extra))


def make_peak_cache(ds: CrystalDataset, config: Config):
    """A :class:`~pxrdsolve.training.peak_cache.PeakCache` of ``ds`` for the ``pxrdnet`` simulator
    (None for ``toy`` or when ``config.augment.cache_peaks`` is off)."""
    aug = config.augment
    if aug.simulator != "pxrdnet" or not aug.cache_peaks:
        return None
    from pxrdsolve.training.peak_cache import PeakCache

    return PeakCache(lambda idx: ds.batch(idx, "cpu"), aug.wavelength_angstrom, aug.full_q_max)


def _batch_peaks(cache, idx: np.ndarray, device: str):
    return None if cache is None else cache.peaks(idx, device)


@torch.no_grad()
def evaluate(model: PXRDSolveModel, ds: CrystalDataset, indices: np.ndarray, config: Config, device: str,
             seed: int, max_batches: int = 0, peak_cache=None) -> dict[str, float]:
    """Mean losses over (a fixed prefix of) ``indices`` with fixed random draws."""
    bs = config.train.batch_size
    n_batches = math.ceil(len(indices) / bs)
    if max_batches:
        n_batches = min(n_batches, max_batches)
    totals: dict[str, float] = {}
    for i in range(n_batches):
        idx = indices[i * bs:(i + 1) * bs]
        crystals = ds.batch(idx, device)
        gen = torch.Generator(device=device).manual_seed(step_seed(seed, i, 0, "val"))
        sim = simulate_patterns(crystals, config.augment, gen, _batch_peaks(peak_cache, idx, device))
        losses = model.losses(crystals, sim.pattern, sim.mask, sim.clean, gen, size_angstrom=sim.size_angstrom)
        for k, v in losses.items():
            totals[k] = totals.get(k, 0.0) + float(v) / n_batches
    return totals


class _Progress:
    """A rich progress bar on a TTY (rank 0, not quiet), silent otherwise."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.prog = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.prog = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                 console=Console(stderr=True))
            self.task = self.prog.add_task("train", total=total, completed=start, info="")
            self.prog.start()

    def update(self, info: str) -> None:
        if self.prog is not None:
            self.prog.update(self.task, advance=1, info=info)

    def close(self) -> None:
        if self.prog is not None:
            self.prog.stop()


def trim_log(log_path: Path, step: int) -> None:
    """Drop JSONL log rows written after the checkpoint at ``step`` (and a torn last line); atomic.

    A loss row ``{"step": s}`` reports finished step s (0-based) and is kept when s < ``step``;
    events (start, val, end, interrupted) carry the step count and are kept when ≤ ``step``.
    """
    if not log_path.exists():
        return
    kept, dropped = [], 0
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
            s = int(row["step"])
        except (ValueError, KeyError, TypeError):
            dropped += 1
            continue
        if s < step or ("event" in row and s <= step):
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        write_text_atomic(log_path, "".join(f"{line}\n" for line in kept))


def train_model(data: str | Path, out: str | Path, config: Config | None = None, *,
                preset_name: str = "small", total_steps: int | None = None, seed: int = 0,
                device: str = "cpu", resume: bool = False,
                stop_at_step: int | None = None, log_path: str | Path | None = None,
                quiet: bool = False) -> TrainResult:
    """Train (or resume training of) a model on the training set ``data`` and write checkpoint ``out``.

    ``config`` defaults to the preset ``preset_name`` (or, when resuming, the checkpoint's config);
    ``total_steps`` overrides ``config.train.total_steps`` (the LR schedule length and the end).
    ``stop_at_step`` stops early (checkpoint written) without changing the schedule.  The JSONL log
    defaults to ``out`` with suffix ``.log.jsonl`` and is appended to on resume, after dropping what
    was logged past the checkpoint (a SIGKILL after the last checkpoint), so each step is logged once.
    """
    t0 = time.time()
    out = Path(out)
    log_path = Path(log_path) if log_path else out.with_suffix(".log.jsonl")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda requested but CUDA is not available")
    info = ddp.init_distributed(device)
    device = info.device
    ds = load_dataset(data)
    train_idx, val_idx = ds.indices("train"), ds.indices("val")
    if len(train_idx) == 0:
        raise InputError(f"{data}: no training crystals")
    ckpt = None
    if resume and out.exists():
        ckpt = load_checkpoint(out)
        config = config or ckpt.config
    config = config or preset(preset_name)
    if total_steps is not None:
        config = config.replace(train={"total_steps": int(total_steps)})
    if int(np.diff(ds.atom_offsets).max()) > config.model.max_atoms:
        raise InputError(f"{data}: crystals larger than the model's max_atoms={config.model.max_atoms}")
    tc = config.train
    peak_cache = make_peak_cache(ds, config)
    torch.manual_seed(seed)
    model = PXRDSolveModel(config).to(device=device, dtype=torch.float32)
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay)
    step = 0
    if ckpt is not None:
        model.load_state_dict(ckpt.model)
        ema.load_state_dict(ckpt.ema or ckpt.model)
        if ckpt.optimizer is not None:
            opt.load_state_dict(ckpt.optimizer)
        step = ckpt.step
        if "torch_cpu" in ckpt.rng:
            torch.set_rng_state(ckpt.rng["torch_cpu"])
    ddp.broadcast_parameters(model, info)
    ddp.broadcast_parameters(ema, info)
    end = tc.total_steps if stop_at_step is None else min(stop_at_step, tc.total_steps)
    spe = steps_per_epoch(len(train_idx), tc.batch_size, info.world_size)
    val_every = tc.val_every or spe
    main = info.is_main
    if main and ckpt is not None:
        trim_log(log_path, step)
    log = open(log_path, "a") if main else None  # noqa: SIM115 - closed in finally
    progress = _Progress(end, step, main and not quiet)
    window: list[float] = []
    last_train = last_val = None
    interrupted = False
    extra = {"seed": seed, "world_size": info.world_size, "data": str(data)}

    def write(row: dict) -> None:
        if log is not None:
            log.write(json.dumps(row) + "\n")
            log.flush()

    try:
        with StopFlag().installed() as stop:
            write({"event": "start", "step": step, "config": config.to_dict(), "seed": seed,
                   "world_size": info.world_size, "num_parameters": count_parameters(model)})
            model.train()
            while step < end:
                lr = lr_at(step, tc)
                for g in opt.param_groups:
                    g["lr"] = lr
                idx, epoch = batch_indices(train_idx, step, tc.batch_size, seed, info.rank, info.world_size)
                crystals = ds.batch(idx, device)
                gen = torch.Generator(device=device).manual_seed(step_seed(seed, step, info.rank))
                sim = simulate_patterns(crystals, config.augment, gen, _batch_peaks(peak_cache, idx, device))
                losses = model.losses(crystals, sim.pattern, sim.mask, sim.clean, gen, size_angstrom=sim.size_angstrom)
                opt.zero_grad(set_to_none=True)
                losses["total"].backward()
                ddp.average_gradients(model, info)
                gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip))
                finite = math.isfinite(gnorm) and bool(torch.isfinite(losses["total"]))
                if finite:
                    opt.step()
                    d = ema_decay_at(step, tc.ema_decay)
                    with torch.no_grad():
                        for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                            pe.lerp_(pm, 1.0 - d)
                values = {k: float(v.detach()) for k, v in losses.items()}
                window.append(values["total"])
                if (step + 1) % tc.log_every == 0 or step + 1 == end:
                    values = ddp.mean_over_ranks(values, info)
                    last_train = float(np.mean(window))
                    window = []
                    write({"step": step, "epoch": epoch, "lr": lr, "grad_norm": gnorm, "finite": finite,
                           "time_s": round(time.time() - t0, 3),
                           **{f"loss/{k}": v for k, v in values.items()}})
                step += 1
                progress.update(f"loss {values['total']:.3f}")
                if step % val_every == 0 and main and len(val_idx):
                    val = evaluate(ema, ds, val_idx, config, device, seed, tc.val_batches, peak_cache)
                    last_val = val["total"]
                    write({"event": "val", "step": step, "epoch": step / spe,
                           **{f"val/{k}": v for k, v in val.items()}})
                if ddp.any_rank(stop.set, info):
                    interrupted = True
                    break
                if step % tc.checkpoint_every == 0 and step < end and main:
                    _save(out, config, model, ema, opt, step, device, {**extra, "epoch": step / spe})
        if main:
            _save(out, config, model, ema, opt, step, device,
                  {**extra, "epoch": step / spe, "interrupted": interrupted})
            write({"event": "interrupted" if interrupted else "end", "step": step,
                   "time_s": round(time.time() - t0, 3)})
        digest = parameter_digest(model)
    finally:
        progress.close()
        if log is not None:
            log.close()
        ddp.cleanup(info)
    return TrainResult(str(out), step, step // spe, last_train, last_val, time.time() - t0, interrupted,
                       str(log_path), info.world_size, count_parameters(model), digest)
