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

import numpy as np
import torch

from pxrdsolve.crystal import batch_from_records
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.errors import InputError
from pxrdsolve.interrupt import Interrupted, StopFlag
from pxrdsolve.io.patterns_h5 import PatternWriter
from pxrdsolve.io.structures import ParsedStructure, StructureError, StructureItem, list_inputs, parse_item
from pxrdsolve.simulation.config import SimulateConfig
from pxrdsolve.simulation.render import peak_arrays, profile_layout, render_profiles


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


def check_reflection_budget(lattice: np.ndarray, q_max_inv_angstrom: float) -> None:
    """Raise :class:`StructureError` when a cell has too many reflections below Q_max to simulate
    (a wrong or absurd cell), so that one structure is skipped instead of stopping the batch."""
    from pxrdsolve.diffraction.reflections import MAX_BOX

    lengths = [math.sqrt(x * x + y * y + z * z) for x, y, z in np.asarray(lattice, dtype=float).tolist()]
    g_max = q_max_inv_angstrom / (2 * np.pi)
    box = math.inf
    scaled = [g_max * v for v in lengths]  # plain floats: numpy's per-call overhead is most of the cost
    if all(math.isfinite(v) for v in scaled):
        e0, e1, e2 = (math.floor(v) for v in scaled)
        box = (e0 + 1) * (2 * e1 + 1) * (2 * e2 + 1)
    if box > MAX_BOX:
        raise StructureError(f"cell too large for Q ≤ {q_max_inv_angstrom:.2f} Å⁻¹ (lengths "
                             f"{', '.join(f'{v:.3g}' for v in lengths)} Å)")


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


def _structure_rows(parsed: list[ParsedStructure]) -> dict:
    recs = [p.record for p in parsed]
    return {
        "id": [p.item.identifier for p in parsed], "formula": [p.formula for p in parsed],
        "source": [p.item.source for p in parsed], "cif": [p.cif_text for p in parsed],
        "lattice": np.stack([r.lattice for r in recs]),
        "num_atoms": np.array([len(r.atomic_numbers) for r in recs], np.int32),
        "frac": np.concatenate([r.frac for r in recs]),
        "atomic_numbers": np.concatenate([r.atomic_numbers for r in recs]).astype(np.int16),
        "occupancy": np.concatenate([r.occupancy for r in recs]).astype(np.float32),
    }


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
        return _run(inputs, output, config, shard, resume, batch_size, dev, output_format, progress, workers, t0)
    finally:
        torch.set_num_threads(old_threads)


def _run(inputs, output, config: SimulateConfig, shard, resume: bool, batch_size: int, dev, output_format: str,
         progress, workers: int | None, t0: float) -> SimulateResult:
    items = list_inputs(inputs)
    start, stop = shard_range(len(items), shard)
    items = items[start:stop]
    q_peaks = config.peak_q_max()
    with ParsePool(items, batch_size, config, q_peaks, workers) as parsed:  # forked before files are opened
        return _run_items(items, start, inputs, output, config, shard, resume, batch_size, dev, output_format,
                          progress, parsed, t0)


def _run_items(items, start: int, inputs, output, config: SimulateConfig, shard, resume: bool, batch_size: int, dev,
               output_format: str, progress, parsed: ParsePool, t0: float) -> SimulateResult:
    cfg_json = {"simulate": config.to_json(), "inputs": list(inputs), "input_sha256": input_hashes(inputs),
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
    lam = config.radiation_obj.wavelength_angstrom
    parsed.batch_size = batch_size
    starts = list(range(resumed_from, len(items), batch_size))
    with StopFlag().installed() as stop:
        try:
            if progress:
                progress(resumed_from, total=len(items))
            for b0 in starts:
                n_ok += _simulate_batch(items, parsed.get(b0, starts), batch_size, b0, start, config, sink, dev, lam,
                                        failures)
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


def parse_checked(item: StructureItem, cell: str, max_atoms: int, q_peaks: float) -> ParsedStructure | tuple[str, str]:
    """A parsed structure within the reflection budget, or (source, reason) when it cannot be used."""
    try:
        p = parse_item(item, cell, max_atoms)
        check_reflection_budget(p.record.lattice, q_peaks)
        return p
    except StructureError as exc:
        return item.source, str(exc)


def _worker_signals() -> None:
    """Workers leave interrupts to the main process (it stops after the batch) and die on SIGTERM."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _parse_task(args) -> ParsedStructure | tuple[str, str]:
    return parse_checked(*args)


class ParsePool:
    """Parses the batch after the one being simulated in worker processes (forked, so they start in
    milliseconds); at most two batches are held.  Falls back to parsing in this process for small jobs,
    ``workers=0`` or where ``fork`` is unavailable."""

    MIN_ITEMS = 64

    def __init__(self, items: list[StructureItem], batch_size: int, config: SimulateConfig, q_peaks: float,
                 workers: int | None) -> None:
        import multiprocessing as mp
        import os

        self.items, self.batch_size = items, batch_size
        self.args = (config.effective_cell, config.max_atoms, q_peaks)
        n = (os.cpu_count() or 1) if workers is None else workers
        self.pool = None
        if n > 0 and len(items) >= self.MIN_ITEMS and "fork" in mp.get_all_start_methods():
            from pxrdsolve.io.structures import warm_up

            warm_up()  # element tables and imports once, before the fork, not once per worker
            self.pool = mp.get_context("fork").Pool(n, initializer=_worker_signals)
            self.chunk = max(1, min(64, batch_size // (4 * n)))
        self.pending: dict[int, object] = {}

    def _submit(self, b0: int) -> None:
        chunk = self.items[b0 : b0 + self.batch_size]
        self.pending[b0] = self.pool.map_async(_parse_task, [(it, *self.args) for it in chunk], self.chunk)

    def get(self, b0: int, starts: list[int]) -> list[ParsedStructure | tuple[str, str]]:
        """Parsed inputs [b0, b0 + batch_size), in order; queues the next batch first."""
        if self.pool is None:
            return [parse_checked(it, *self.args) for it in self.items[b0 : b0 + self.batch_size]]
        if b0 not in self.pending:
            self._submit(b0)
        k = starts.index(b0)
        if k + 1 < len(starts) and starts[k + 1] not in self.pending:
            self._submit(starts[k + 1])
        return self.pending.pop(b0).get()

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _simulate_batch(items, results, batch_size: int, b0: int, start: int, config: SimulateConfig, sink, dev,
                    lam: float, failures: list[tuple[str, str]]) -> int:
    """Simulate and commit the parsed inputs [b0, b0 + batch_size); returns how many were simulated."""
    chunk = items[b0 : b0 + batch_size]
    parsed: list[ParsedStructure] = []
    gidx: list[int] = []
    bad: list[tuple[str, str]] = []
    for j, res in enumerate(results):
        if isinstance(res, ParsedStructure):
            parsed.append(res)
            gidx.append(start + b0 + j)
        else:
            bad.append(res)
    rows, peaks_np, profiles = {}, {}, {}
    if parsed:
        batch = batch_from_records([p.record for p in parsed]).to(dev)
        peaks = compute_peaks(batch, lam, config.peak_q_max(), compute_dtype=torch.float32)
        rows = _structure_rows(parsed)
        peaks_np = peak_arrays(peaks, lam)
        profiles = render_profiles(peaks, config, gidx)
    sink.append(rows, peaks_np, profiles, bad, n_done=b0 + len(chunk))
    failures += bad
    return len(parsed)


def sizes_label(size: float) -> str:
    """File-name label of a size: ``10A`` or ``bulk``."""
    return "bulk" if math.isinf(size) else f"{size:g}A"
