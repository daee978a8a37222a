"""Build a prototype library from a pool of CIFs (``pxrdsolve library``).

Steps: read the pool CSVs; drop rows of the excluded splits (``mp20_known_split == "test"``) and
excluded ids; analyse each CIF (pymatgen + spglib, in worker processes); optionally drop every
reduced formula of a hold-out CSV; group by prototype (anonymous formula, atoms per cell, space
group, Wyckoff key) and, inside a prototype, by cell shape (b/a, c/a at ~5 %, angles per 3°); keep one
entry per shape bucket (the lowest id) and at most ``cap_per_prototype`` buckets (the most populated)
per prototype; fit per-element volumes on the pool; write the HDF5 file atomically.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pxrdsolve.library.analyse import (
    ANGLE_BUCKET_DEG,
    SHAPE_TOLERANCE,
    SYMPREC,
    PoolEntry,
    analyse_row,
    read_csv_column,
    read_pool_rows,
    reduced_formulas_of_csv,
)
from pxrdsolve.library.store import write_library_file

DATA_LICENCE = "Materials Project, CC-BY 4.0"
DEFAULT_CAP_PER_PROTOTYPE = 8
MIN_ENTRIES_FOR_FIT = 50  # elements seen in fewer pool entries get a volume from pymatgen data
_MAX_FAILURES_KEPT = 200


@dataclass(frozen=True)
class PoolAnalysis:
    """Analysed pool: usable entries, failures ``(source, reason)`` and row counts."""

    entries: tuple[PoolEntry, ...]
    failures: tuple[tuple[str, str], ...]
    counts: dict[str, int]
    sources: tuple[str, ...]
    excluded_ids: int
    excluded_splits: tuple[str, ...] = ("test",)


@dataclass(frozen=True)
class LibraryBuildResult:
    """Outcome of a build: counts, the written file, its size (bytes) and the time taken (s)."""

    path: str
    counts: dict[str, int]
    size_bytes: int
    seconds: float
    failures: tuple[tuple[str, str], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "counts": self.counts, "size_bytes": self.size_bytes,
                "seconds": round(self.seconds, 2), "failures": [list(f) for f in self.failures[:20]],
                "n_failures": len(self.failures)}


def ids_from_csvs(paths: Iterable[str | Path]) -> set[str]:
    """``material_id`` values of CSV files (``--exclude-csv``)."""
    out: set[str] = set()
    for p in paths:
        out |= {v for v in read_csv_column(p, ("material_id",)) if v}
    return out


def analyse_pool(csv_paths: Iterable[str | Path], exclude_ids: Iterable[str] = (),
                 exclude_splits: Iterable[str] = ("test",), max_atoms: int = 20, workers: int = 2,
                 progress: Callable[[int], None] | None = None) -> PoolAnalysis:
    """Read and analyse the pool (``workers`` processes; 1 = in this process)."""
    paths = tuple(str(p) for p in csv_paths)
    excl_ids, excl_splits = set(exclude_ids), set(exclude_splits)
    counts = {"rows": 0, "excluded_split": 0, "excluded_id": 0}
    rows = []
    for row in read_pool_rows(paths):
        counts["rows"] += 1
        if row.split and row.split in excl_splits:
            counts["excluded_split"] += 1
        elif row.material_id in excl_ids:
            counts["excluded_id"] += 1
        else:
            rows.append(row)
    work = partial(analyse_row, max_atoms=max_atoms)
    entries: list[PoolEntry] = []
    failures: list[tuple[str, str]] = []

    def collect(results: Iterable[PoolEntry | tuple[str, str]]) -> None:
        for k, res in enumerate(results):
            (failures if isinstance(res, tuple) else entries).append(res)  # type: ignore[arg-type]
            if progress is not None and k % 256 == 255:
                progress(256)

    if workers <= 1 or len(rows) < 64:
        collect(map(work, rows))
    else:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            collect(pool.imap(work, rows, chunksize=64))
    counts["analysed"] = len(entries)
    counts["failed"] = len(failures)
    return PoolAnalysis(tuple(entries), tuple(failures), counts, paths, len(excl_ids), tuple(sorted(excl_splits)))


def compact(entries: Iterable[PoolEntry], cap_per_prototype: int = DEFAULT_CAP_PER_PROTOTYPE
            ) -> list[tuple[PoolEntry, int, int]]:
    """One entry per (prototype, shape bucket): ``(entry, bucket_count, prototype_count)``.

    Within a bucket the lowest id is kept; per prototype the ``cap_per_prototype`` most populated
    buckets are kept.  The output is sorted by (anonymous formula, atoms, space group, id).
    """
    protos: dict[tuple, dict[tuple, list[PoolEntry]]] = defaultdict(lambda: defaultdict(list))
    for e in entries:
        protos[e.prototype_key][e.shape].append(e)
    out = []
    for buckets in protos.values():
        n_proto = sum(len(v) for v in buckets.values())
        reps = [(min(members, key=lambda e: _id_key(e.material_id)), len(members)) for members in buckets.values()]
        reps.sort(key=lambda t: (-t[1], _id_key(t[0].material_id)))
        out += [(e, n, n_proto) for e, n in reps[:cap_per_prototype]]
    out.sort(key=lambda t: (t[0].anonymous_formula, t[0].natoms, t[0].space_group, _id_key(t[0].material_id)))
    return out


def _id_key(ident: str) -> tuple[str, int, str]:
    m = re.match(r"^(.*?)(\d+)$", ident)
    return (m.group(1), int(m.group(2)), ident) if m else (ident, 0, ident)


def element_tables(entries: Iterable[PoolEntry]) -> dict[str, np.ndarray]:
    """Per-element tables (index = Z, 0..118): fitted volume (Å³/atom), electronegativity, Mendeleev number, radius.

    Volumes: robust least squares of volume per atom = Σ x_el·v_el (x = atom fractions) over the pool,
    for elements in at least ``MIN_ENTRIES_FOR_FIT`` entries; others from pymatgen's molar volume.
    """
    import warnings

    from pymatgen.core import Element

    size = 119
    x, mend, rad, vref = (np.full(size, np.nan) for _ in range(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for el in Element:
            z = el.Z
            if z >= size:
                continue
            x[z] = _safe(lambda el=el: el.X)
            mend[z] = _safe(lambda el=el: el.mendeleev_no)
            rad[z] = _safe(lambda el=el: el.atomic_radius)
            mv = _safe(lambda el=el: el.molar_volume)  # cm³/mol
            vref[z] = mv / 0.602214 if np.isfinite(mv) else 4.0 / 3.0 * np.pi * rad[z] ** 3
    for arr, default in ((x, np.nanmean(x)), (mend, np.nanmax(mend) + 1), (rad, np.nanmean(rad))):
        arr[~np.isfinite(arr)] = default
    vref[~np.isfinite(vref)] = np.nanmedian(vref)
    volume = _fit_volumes(list(entries), vref)
    volume[0] = 0.0
    return {"volume": volume, "electronegativity": x, "mendeleev": mend, "radius": rad}


def _safe(get: Callable[[], Any]) -> float:
    try:
        v = get()
        return float(v) if v is not None else float("nan")
    except Exception:  # noqa: BLE001 - pymatgen lacks data for some elements
        return float("nan")


def _fit_volumes(entries: list[PoolEntry], vref: np.ndarray) -> np.ndarray:
    """Robust least squares: entries of 3–80 Å³/atom, then refit without relative residuals > 25 %."""
    size = len(vref)
    volume = vref.copy()
    entries = [e for e in entries if 3.0 < e.volume_per_atom < 80.0]
    if not entries:
        return volume
    counts = np.zeros((len(entries), size))
    for i, e in enumerate(entries):
        np.add.at(counts[i], e.atomic_numbers.astype(np.int64), 1.0)
    fit = np.flatnonzero((counts > 0).sum(axis=0) >= MIN_ENTRIES_FOR_FIT)
    if len(fit) == 0:
        return volume
    natoms = counts.sum(axis=1)
    vpa = np.array([e.volume_per_atom for e in entries])
    rest = np.setdiff1d(np.arange(size), fit)
    design = counts[:, fit] / natoms[:, None]
    rhs = vpa - counts[:, rest] @ vref[rest] / natoms
    keep = np.ones(len(entries), dtype=bool)
    for _ in range(3):
        sol, *_ = np.linalg.lstsq(design[keep], rhs[keep], rcond=None)
        pred = design @ sol + (vpa - rhs)
        keep = np.abs(pred / vpa - 1.0) < 0.25
    ok = np.isfinite(sol) & (sol > 1.0)
    volume[fit[ok]] = sol[ok]
    return volume


def write_library(analysis: PoolAnalysis, out_h5: str | Path, holdout_formulas: set[str] | None = None,
                  holdout_source: str | None = None, cap_per_prototype: int = DEFAULT_CAP_PER_PROTOTYPE,
                  max_atoms: int = 20, t0: float | None = None) -> LibraryBuildResult:
    """Filter (hold-out formulas), compact and write an analysed pool; returns the build result."""
    t0 = time.perf_counter() if t0 is None else t0
    pool = [e for e in analysis.entries if not holdout_formulas or e.formula not in holdout_formulas]
    kept = compact(pool, cap_per_prototype)
    counts = dict(analysis.counts)
    counts.update(holdout_dropped=len(analysis.entries) - len(pool), pool=len(pool), entries=len(kept),
                  prototypes=len({e.prototype_key for e, _, _ in kept}))
    nat = np.array([e.natoms for e, _, _ in kept], dtype=np.int64)
    width = max([len(set(e.atomic_numbers.tolist())) for e, _, _ in kept] or [1])
    role_el = np.zeros((len(kept), width), dtype=np.uint8)
    role_n = np.zeros((len(kept), width), dtype=np.uint16)
    for i, (e, _, _) in enumerate(kept):
        els, n = np.unique(e.atomic_numbers, return_counts=True)
        order = np.lexsort((els, n))
        role_el[i, : len(els)], role_n[i, : len(els)] = els[order], n[order]
    entries = {
        "id": np.array([e.material_id for e, _, _ in kept], dtype=str),
        "formula": np.array([e.formula for e, _, _ in kept], dtype=str),
        "anonymous_formula": np.array([e.anonymous_formula for e, _, _ in kept], dtype=str),
        "wyckoff": np.array([e.wyckoff for e, _, _ in kept], dtype=str),
        "natoms": nat.astype(np.int16),
        "space_group": np.array([e.space_group for e, _, _ in kept], dtype=np.int16),
        "bucket_count": np.array([n for _, n, _ in kept], dtype=np.int32),
        "prototype_count": np.array([n for _, _, n in kept], dtype=np.int32),
        "lattice": np.array([e.lattice for e, _, _ in kept], dtype=np.float32).reshape(-1, 3, 3),
        "volume_per_atom": np.array([e.volume_per_atom for e, _, _ in kept], dtype=np.float32),
        "offsets": np.concatenate([[0], np.cumsum(nat)]).astype(np.int64),
        "role_elements": role_el,
        "role_amounts": role_n,
    }
    frac = np.concatenate([e.frac for e, _, _ in kept]) if kept else np.zeros((0, 3), np.float32)
    z = np.concatenate([e.atomic_numbers for e, _, _ in kept]) if kept else np.zeros(0, np.uint8)
    config = {
        "sources": [Path(s).name for s in analysis.sources],
        "exclusions": {"mp20_known_split": list(analysis.excluded_splits), "n_excluded_ids": analysis.excluded_ids,
                       "holdout_formulas_csv": Path(holdout_source).name if holdout_source else None,
                       "n_holdout_formulas": len(holdout_formulas or ())},
        "counts": counts,
        "max_atoms": max_atoms,
        "dedup": {"symprec": SYMPREC, "shape_tolerance": SHAPE_TOLERANCE, "angle_bucket_deg": ANGLE_BUCKET_DEG,
                  "cap_per_prototype": cap_per_prototype},
        "data_licence": DATA_LICENCE,
        "attribution": "Derived from Materials Project structures (materialsproject.org), CC-BY 4.0.",
    }
    write_library_file(out_h5, entries, frac, z, element_tables(pool), config)
    return LibraryBuildResult(str(out_h5), counts, Path(out_h5).stat().st_size, time.perf_counter() - t0,
                              analysis.failures[:_MAX_FAILURES_KEPT])


def build_library(csv_paths: Iterable[str | Path], out_h5: str | Path, exclude_ids: Iterable[str] = (),
                  holdout_formulas_csv: str | Path | None = None, max_atoms: int = 20, workers: int = 2,
                  exclude_splits: Iterable[str] = ("test",), cap_per_prototype: int = DEFAULT_CAP_PER_PROTOTYPE,
                  progress: Callable[[int], None] | None = None) -> LibraryBuildResult:
    """Build a prototype library from pool CSVs into ``out_h5`` (see module docstring)."""
    t0 = time.perf_counter()
    holdout = reduced_formulas_of_csv(holdout_formulas_csv) if holdout_formulas_csv else None
    analysis = analyse_pool(csv_paths, exclude_ids, exclude_splits, max_atoms, workers, progress)
    return write_library(analysis, out_h5, holdout, str(holdout_formulas_csv) if holdout_formulas_csv else None,
                         cap_per_prototype, max_atoms, t0)
