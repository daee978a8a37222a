"""Worker processes of ``simulate``: parse and simulate parts of the coming batches ahead of the writer.

A batch of inputs is split into one contiguous part per worker; each (forked) worker parses its part
and, on the CPU, also computes the peaks and profiles of it, so the main process only joins the parts
in order and writes them.  A crystal's peaks and profiles are the same bits in any batch (see
:mod:`pxrdsolve.diffraction.structure_factors`; noise and σ are seeded per global index), so the
joined batch equals the batch simulated in one piece.  With ``--device cuda`` the workers only parse
(CUDA is not used in forked children) and the main process simulates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.io.patterns_h5 import join_rows
from pxrdsolve.io.structures import ParsedStructure, StructureError, StructureItem, parse_item
from pxrdsolve.simulation.config import SimulateConfig
from pxrdsolve.simulation.render import peak_arrays, render_profiles


@dataclass
class BatchOutput:
    """What the writer appends for a run of consecutive inputs: structure rows, flat peak arrays,
    profile rows (all aligned with the simulated structures) and the failures as (source, reason)."""

    rows: dict = field(default_factory=dict)
    peaks: dict = field(default_factory=dict)
    profiles: dict = field(default_factory=dict)
    bad: list = field(default_factory=list)
    n_ok: int = 0


def check_reflection_budget(lattice: np.ndarray, q_max_inv_angstrom: float) -> None:
    """Raise :class:`StructureError` when a cell has too many reflections below Q_max (Å⁻¹) to simulate
    (a wrong or absurd cell), so that one structure is skipped instead of stopping the batch."""
    import math

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


def parse_checked(item: StructureItem, cell: str, max_atoms: int, q_peaks: float) -> ParsedStructure | tuple[str, str]:
    """A parsed structure within the reflection budget, or (source, reason) when it cannot be used."""
    try:
        p = parse_item(item, cell, max_atoms)
        check_reflection_budget(p.record.lattice, q_peaks)
        return p
    except StructureError as exc:
        return item.source, str(exc)


def structure_rows(parsed: list[ParsedStructure]) -> dict:
    """The ``/structures`` rows of parsed structures (strings as lists, atoms flat)."""
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


def simulate_parsed(results: list, first_index: int, config: SimulateConfig, dev: torch.device) -> BatchOutput:
    """Peaks and profiles of consecutive parse results (``first_index``: global index of the first)."""
    from pxrdsolve.crystal import batch_from_records

    parsed = [r for r in results if isinstance(r, ParsedStructure)]
    gidx = [first_index + j for j, r in enumerate(results) if isinstance(r, ParsedStructure)]
    out = BatchOutput(bad=[r for r in results if not isinstance(r, ParsedStructure)], n_ok=len(parsed))
    if parsed:
        lam = config.radiation_obj.wavelength_angstrom
        batch = batch_from_records([p.record for p in parsed]).to(dev)
        peaks = compute_peaks(batch, lam, config.peak_q_max(), compute_dtype=torch.float32)
        out.rows = structure_rows(parsed)
        out.peaks = peak_arrays(peaks, lam)
        out.profiles = render_profiles(peaks, config, gidx)
    return out


def join_outputs(parts: list[BatchOutput]) -> BatchOutput:
    """Consecutive outputs as one (rows, peaks and profiles concatenated in order)."""
    if len(parts) == 1:
        return parts[0]
    return BatchOutput(join_rows([p.rows for p in parts]), join_rows([p.peaks for p in parts]),
                       join_rows([p.profiles for p in parts]), [b for p in parts for b in p.bad],
                       sum(p.n_ok for p in parts))


_STATE: dict = {}  # set in the parent before the fork: the job's settings, shared by every task


def _worker_init(threads: int) -> None:
    """Workers leave interrupts to the main process (it stops after the batch), die on SIGTERM and run
    torch on ``threads`` threads."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    torch.set_num_threads(threads)


def _work(task: tuple[int, int, bool]):
    lo, hi, simulate = task
    s = _STATE
    results = [parse_checked(it, *s["args"]) for it in s["items"][lo:hi]]
    if not simulate:
        return results
    return simulate_parsed(results, s["first"] + lo, s["config"], torch.device("cpu"))


class SimulatePool:
    """Runs :func:`parse_checked` (and on the CPU :func:`simulate_parsed`) for the next batches in
    worker processes (forked, so they start in milliseconds); at most three batches are in flight.
    Falls back to this process for small jobs, ``workers=0`` or where ``fork`` is unavailable."""

    MIN_ITEMS = 64
    AHEAD = 2  # batches queued after the one being written

    def __init__(self, items: list[StructureItem], first_index: int, batch_size: int, config: SimulateConfig,
                 q_peaks: float, workers: int | None, dev: torch.device, threads: int = 1) -> None:
        import multiprocessing as mp
        import os

        self.items, self.first, self.batch_size = items, first_index, batch_size
        self.config, self.dev = config, dev
        self.args = (config.effective_cell, config.max_atoms, q_peaks)
        self.simulate = dev.type == "cpu"
        n = (os.cpu_count() or 1) if workers is None else workers
        self.n, self.pool = n, None
        if n > 0 and len(items) >= self.MIN_ITEMS and "fork" in mp.get_all_start_methods():
            from pxrdsolve.io.structures import warm_up

            warm_up()  # element tables and imports once, before the fork, not once per worker
            _STATE.update(items=items, first=first_index, args=self.args, config=config)
            self.pool = mp.get_context("fork").Pool(n, initializer=_worker_init, initargs=(threads,))
        self.pending: dict[int, list] = {}

    def run_async(self, fn, *args):
        """``fn(*args)`` in a worker (or here, without workers): an object with ``get()``."""
        if self.pool is None:
            value = fn(*args)
            return type("Done", (), {"get": staticmethod(lambda: value)})()
        return self.pool.apply_async(fn, args)

    def _submit(self, b0: int) -> None:
        hi = min(len(self.items), b0 + self.batch_size)
        step = -(-(hi - b0) // self.n)
        self.pending[b0] = [self.pool.apply_async(_work, ((lo, min(hi, lo + step), self.simulate),))
                            for lo in range(b0, hi, step)]

    def prefetch(self, starts: list[int]) -> None:
        """Queue the batches starting at ``starts`` [k, k + AHEAD] (``starts[0]`` is batch k)."""
        if self.pool is not None:
            for b in starts[: 1 + self.AHEAD]:
                if b not in self.pending:
                    self._submit(b)

    def get(self, b0: int, starts: list[int]) -> BatchOutput:
        """The output of inputs [b0, b0 + batch_size); queues the next batches first."""
        if self.pool is None:
            results = [parse_checked(it, *self.args) for it in self.items[b0 : b0 + self.batch_size]]
            return simulate_parsed(results, self.first + b0, self.config, self.dev)
        self.prefetch(starts[starts.index(b0) :])
        parts = [r.get() for r in self.pending.pop(b0)]
        if not self.simulate:
            results = [r for part in parts for r in part]
            return simulate_parsed(results, self.first + b0, self.config, self.dev)
        return join_outputs(parts)

    def __enter__(self) -> SimulatePool:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        _STATE.clear()
