"""Build a training-set HDF5 from CDVAE-style CSV files (this machine only: needs pymatgen).

Input CSVs have a ``cif`` column (one CIF text per row), ``material_id`` and optionally
``mp20_known_split``.  Rows are dropped when ``mp20_known_split`` is in ``drop_splits`` (default
``test``), when the id is in ``exclude_ids`` (e.g. PXRDNet's 1,130 test ids), when the reduced
formula occurs in ``holdout_formulas_csv`` (composition-held-out split), when the CIF does not parse,
is disordered (partial occupancy), has an element beyond Z = 100, or has more than ``max_atoms``
atoms.  Structures are Niggli-reduced (CDVAE does the same) and coordinates wrapped into [0, 1).
CIFs are parsed in a process pool.  The file is written by
:func:`pxrdsolve.training.data.write_dataset` (atomic).
"""

from __future__ import annotations

import csv
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pxrdsolve.errors import InputError
from pxrdsolve.training.data import write_dataset


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`build_dataset` kept and dropped (counts of rows)."""

    path: str
    rows: int
    kept: int
    train: int
    val: int
    dropped: dict[str, int] = field(default_factory=dict)


def read_csv_rows(paths: Sequence[str | os.PathLike]) -> list[dict[str, str]]:
    """All rows of the CSV files (dicts); a missing file or ``cif`` column → :class:`InputError`."""
    csv.field_size_limit(sys.maxsize)
    rows: list[dict[str, str]] = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise InputError(f"{p}: CSV file not found")
        with open(p, newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "cif" not in reader.fieldnames:
                raise InputError(f"{p}: no 'cif' column (columns: {reader.fieldnames})")
            rows.extend(reader)
    return rows


def read_ids(csv_path: str | os.PathLike, column: str = "material_id") -> set[str]:
    """The ``material_id`` values of a CSV (e.g. PXRDNet's test split)."""
    return {r[column] for r in read_csv_rows([csv_path]) if r.get(column)}


def _reduced_formula_from_row(row: dict[str, str]) -> str | None:
    from pymatgen.core import Composition

    for key in ("pretty_formula", "formula"):
        if row.get(key):
            try:
                return Composition(row[key]).reduced_formula
            except Exception:  # noqa: BLE001 - fall back to the CIF
                pass
    parsed = _parse(row["cif"], 10**9)
    return parsed[4] if isinstance(parsed, tuple) else None


def holdout_formulas(csv_path: str | os.PathLike) -> set[str]:
    """Reduced formulas of every row of a CSV (``pretty_formula``/``formula`` column or the CIF)."""
    out = set()
    for row in read_csv_rows([csv_path]):
        f = _reduced_formula_from_row(row)
        if f:
            out.add(f)
    return out


def _parse(cif: str, max_atoms: int) -> tuple | str:
    """(lattice, frac, Z, n, reduced formula) of one CIF, or a reason string for skipping it."""
    try:
        from pymatgen.io.cif import CifParser

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = CifParser.from_str(cif).parse_structures(primitive=False)[0]
    except Exception:  # noqa: BLE001 - any parser failure is a bad row
        return "unparsable"
    from pxrdsolve.io.structures import StructureError, check_cell

    try:
        check_cell(s)  # before get_reduced_structure / spglib, which crash on non-finite cells
    except StructureError:
        return "bad_cell"
    if not s.is_ordered:
        return "disordered"
    if len(s) > max_atoms:
        return "too_many_atoms"
    s = s.get_reduced_structure()
    z = np.array([site.specie.Z for site in s], dtype=np.int64)
    if z.min() < 1 or z.max() > 100:
        return "element_beyond_z100"
    frac = np.mod(s.frac_coords, 1.0)
    frac[frac >= 1.0] = 0.0
    return (s.lattice.matrix.astype(np.float32), frac.astype(np.float32), z.astype(np.uint8), len(s),
            s.composition.reduced_formula)


def _parse_job(args: tuple[str, int]) -> tuple | str:
    return _parse(*args)


def build_dataset(csv_paths: Sequence[str | os.PathLike], out_h5: str | os.PathLike,
                  exclude_ids: Iterable[str] = (), holdout_formulas_csv: str | os.PathLike | None = None,
                  max_atoms: int = 20, val_fraction: float = 0.05, seed: int = 0,
                  drop_splits: Sequence[str] = ("test",), workers: int | None = None,
                  progress=None) -> DatasetSummary:
    """Parse, filter and write a training set (see the module docstring); returns the counts.

    ``progress`` (optional) is called with the number of rows handled since the last call
    (``len`` of all rows in total).
    """
    rows = read_csv_rows(csv_paths)
    excluded = set(exclude_ids)
    dropped: Counter[str] = Counter()
    todo = []
    for row in rows:
        if row.get("mp20_known_split", "") in drop_splits and row.get("mp20_known_split"):
            dropped[f"split_{row['mp20_known_split']}"] += 1
        elif row.get("material_id") in excluded:
            dropped["excluded_id"] += 1
        else:
            todo.append(row)
    held = holdout_formulas(holdout_formulas_csv) if holdout_formulas_csv else set()
    jobs = [(r["cif"], max_atoms) for r in todo]
    if progress is not None:
        progress(len(rows) - len(todo))
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers > 1 and len(jobs) > 200:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            parsed = []
            for res in pool.imap(_parse_job, jobs, chunksize=64):
                parsed.append(res)
                if progress is not None:
                    progress(1)
    else:
        parsed = []
        for j in jobs:
            parsed.append(_parse_job(j))
            if progress is not None:
                progress(1)
    keep_rows, keep = [], []
    for row, res in zip(todo, parsed, strict=True):
        if isinstance(res, str):
            dropped[res] += 1
        elif res[4] in held:
            dropped["holdout_formula"] += 1
        else:
            keep_rows.append(row)
            keep.append(res)
    if not keep:
        raise InputError(f"no usable structures in {', '.join(map(str, csv_paths))}")
    n = len(keep)
    rng = np.random.default_rng(seed)
    split = np.zeros(n, dtype=np.uint8)
    n_val = int(round(val_fraction * n)) if n > 1 else 0
    split[rng.permutation(n)[:n_val]] = 1
    ids = [r.get("material_id") or f"row-{i}" for i, r in enumerate(keep_rows)]
    config = {"sources": [str(p) for p in csv_paths], "max_atoms": max_atoms, "val_fraction": val_fraction,
              "seed": seed, "drop_splits": list(drop_splits), "num_excluded_ids": len(excluded),
              "holdout_formulas_csv": str(holdout_formulas_csv) if holdout_formulas_csv else None,
              "num_holdout_formulas": len(held), "dropped": dict(dropped), "niggli_reduced": True}
    write_dataset(out_h5, np.stack([k[0] for k in keep]), np.concatenate([k[1] for k in keep]),
                  np.concatenate([k[2] for k in keep]), np.array([k[3] for k in keep]), ids,
                  [k[4] for k in keep], split, config)
    return DatasetSummary(str(out_h5), len(rows), n, int((split == 0).sum()), int(n_val), dict(dropped))
