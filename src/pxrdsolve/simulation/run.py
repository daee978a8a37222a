"""``simulate``: structures → peaks and profiles, streamed to an HDF5 file (or .xy files).

Inputs are listed in a fixed order; ``shard=(i, n)`` takes the i-th of n contiguous blocks (0-based),
so merging shards in order reproduces the unsharded file.  Each batch is committed before the next
starts; ``resume=True`` continues a killed job from its ``.partial`` file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from pxrdsolve.errors import InputError
from pxrdsolve.interrupt import Interrupted, StopFlag
from pxrdsolve.io.patterns_h5 import PatternWriter
from pxrdsolve.io.structures import list_inputs
from pxrdsolve.simulation.config import SimulateConfig
from pxrdsolve.simulation.pool import SimulatePool
from pxrdsolve.simulation.render import profile_layout


@dataclass(frozen=True)
class SimulateResult:
    """Outcome of a simulate job."""

    output: str
    n_inputs: int
    n_simulated: int
    n_failed: int
    failures: tuple[tuple[str, str], ...]
    seconds: float
    resumed_from: int
    batch_size: int = 0  # inputs per batch actually used (a resume keeps the killed run's value)

    def to_json(self) -> dict:
        return {"output": self.output, "n_inputs": self.n_inputs, "n_simulated": self.n_simulated,
                "n_failed": self.n_failed, "seconds": round(self.seconds, 3), "resumed_from": self.resumed_from,
                "batch_size": self.batch_size,
                "failures": [{"source": s, "reason": r} for s, r in self.failures]}


def input_hashes(inputs: list[str]) -> dict[str, str | None]:
    """sha256 of each input (see :func:`~pxrdsolve.io.provenance.sha256_path`), for provenance and so
    that ``--resume`` refuses inputs that changed."""
    from pxrdsolve.io.provenance import sha256_path

    return {raw: sha256_path(raw) for raw in inputs}


def shard_range(n: int, shard: tuple[int, int] | None) -> tuple[int, int]:
    """[start, stop) of shard i of k (contiguous blocks, 0-based)."""
    if shard is None:
        return 0, n
    i, k = shard
    if not (k >= 1 and 0 <= i < k):
        raise InputError(f"bad shard {i}/{k}: need 0 <= I < N")
    return i * n // k, (i + 1) * n // k


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """Parse ``"I/N"`` (0-based I)."""
    if not text:
        return None
    try:
        i, k = (int(v) for v in text.split("/"))
    except ValueError:
        raise InputError(f"bad --shard {text!r}: use I/N, e.g. 0/4") from None
    shard_range(1, (i, k))
    return i, k


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda requested but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise InputError(f"bad --device {name!r}: use cpu or cuda")
    return torch.device(name)


def run_simulate(
    inputs: list[str],
    output: str | Path,
    config: SimulateConfig,
    shard: tuple[int, int] | None = None,
    resume: bool = False,
    batch_size: int = 256,
    device: str = "cpu",
    output_format: str = "h5",
    progress: Callable[..., None] | None = None,
    workers: int | None = None,
    threads: int = 1,
) -> SimulateResult:
    """Simulate every structure of ``inputs`` (CIF files, directories, CSVs) into ``output``.

    ``workers``: CIF-parsing processes running ahead of the simulator (None = one per CPU core, 0 =
    parse in this process); parsing is deterministic, so the output does not depend on it.
    ``threads``: torch intra-op threads of the simulator (CPU).  One by default: the batched kernels
    are many small operations, and on a small or shared machine a second thread waiting at every
    operation's barrier made them 10-15x slower (measured on 2 shared cores); the output is the
    same bits for any value.
    """
    t0 = time.perf_counter()
    dev = _device(device)
    if batch_size < 1:
        raise InputError("--batch-size must be >= 1")
    if workers is not None and workers < 0:
        raise InputError("--workers must be >= 0")
    if threads < 1:
        raise InputError("--threads must be >= 1")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(inputs, output, config, shard, resume, batch_size, dev, output_format, progress, workers,
                    threads, t0)
    finally:
        torch.set_num_threads(old_threads)


def _run(inputs, output, config: SimulateConfig, shard, resume: bool, batch_size: int, dev, output_format: str,
         progress, workers: int | None, threads: int, t0: float) -> SimulateResult:
    items = list_inputs(inputs)
    start, stop = shard_range(len(items), shard)
    items = items[start:stop]
    q_peaks = config.peak_q_max()
    # forked before files are opened
    with SimulatePool(items, start, batch_size, config, q_peaks, workers, dev, threads) as pool:
        return _run_items(items, start, inputs, output, config, shard, resume, batch_size, output_format,
                          progress, pool, t0)


def _run_items(items, start: int, inputs, output, config: SimulateConfig, shard, resume: bool, batch_size: int,
               output_format: str, progress, pool: SimulatePool, t0: float) -> SimulateResult:
    hashes = pool.run_async(input_hashes, inputs)  # in a worker, while the others parse
    if not resume:  # a resume learns its first batch and batch size from the journal
        pool.prefetch(list(range(0, len(items), batch_size)))
    cfg_json = {"simulate": config.to_json(), "inputs": list(inputs), "input_sha256": hashes.get(),
                "shard": list(shard) if shard else None, "n_items": len(items), "first_global_index": start}
    if output_format == "xy":
        from pxrdsolve.simulation.xy_sink import XYSink

        sink = XYSink(output, config, cfg_json, resume, batch_size)
    elif output_format == "h5":
        sink = PatternWriter(output, cfg_json, profile_layout(config), resume, batch_size)
    else:
        raise InputError(f"bad --format {output_format!r}: use h5 or xy")
    resumed_from = sink.n_done
    batch_size = sink.batch_size  # on resume, the killed run's batches: bit-identical to an uninterrupted run
    failures: list[tuple[str, str]] = []
    n_ok = 0
    pool.batch_size = batch_size
    starts = list(range(resumed_from, len(items), batch_size))
    with StopFlag().installed() as stop:
        try:
            if progress:
                progress(resumed_from, total=len(items))
            for b0 in starts:
                out = pool.get(b0, starts)
                sink.append(out.rows, out.peaks, out.profiles, out.bad, n_done=min(len(items), b0 + batch_size))
                failures += out.bad
                n_ok += out.n_ok
                if progress:
                    progress(len(items[b0 : b0 + batch_size]))
                if stop.set and b0 + batch_size < len(items):
                    done = min(len(items), b0 + batch_size)
                    raise Interrupted(f"{output}: interrupted after {done} of {len(items)} inputs (saved); rerun "
                                      "with --resume", stop.signum)
            sink.finish()
        finally:
            sink.close()
    return SimulateResult(str(output), len(items), n_ok, len(failures), tuple(failures),
                          time.perf_counter() - t0, resumed_from, batch_size)


def sizes_label(size: float) -> str:
    """File-name label of a size: ``10A`` or ``bulk``."""
    return "bulk" if math.isinf(size) else f"{size:g}A"
