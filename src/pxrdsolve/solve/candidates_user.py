"""Candidates supplied by the user: CIF files, folders of CIFs, CSVs with a ``cif`` column, and the
``/structures`` group of pattern/results HDF5 files written by ``pxrdsolve simulate``.

Bad inputs never stop the others: each is reported as ``(source, reason)`` in the failures list.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.errors import InputError
from pxrdsolve.solve.types import Candidate

H5_SUFFIXES = (".h5", ".hdf5")
_STRUCTURE_DATASETS = ("lattice", "num_atoms", "frac", "atomic_numbers")


def user_candidates(paths: Iterable[str | Path], max_atoms: int = 500
                    ) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """Candidates (``source="user"``) from structure files, and the failures ``(source, reason)``.

    ``max_atoms`` bounds the atoms per structure (larger ones are failures).
    """
    from pxrdsolve.io.structures import StructureError, list_inputs, parse_item

    candidates: list[Candidate] = []
    failures: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.suffix.lower() in H5_SUFFIXES:
            try:
                candidates += _from_h5(path, max_atoms)
            except InputError as exc:
                failures.append((str(path), str(exc)))
            continue
        try:
            items = list_inputs([str(path)])
        except InputError as exc:
            failures.append((str(path), str(exc)))
            continue
        for item in items:
            try:
                parsed = parse_item(item, cell="as-is", max_atoms=max_atoms)
            except StructureError as exc:
                failures.append((item.source, str(exc)))
                continue
            candidates.append(Candidate(parsed.record, "user", f"{item.identifier} ({parsed.formula})",
                                        {"file": item.source, "id": item.identifier, "formula": parsed.formula}))
    return candidates, failures


def _from_h5(path: Path, max_atoms: int) -> list[Candidate]:
    import h5py

    from pxrdsolve.io.patterns_h5 import KIND, check_file, read_strings

    try:
        h5 = h5py.File(path, "r")
    except (OSError, FileNotFoundError):
        raise InputError(f"{path}: not a readable HDF5 file") from None
    with h5:
        if h5.attrs.get("kind") == KIND:
            check_file(h5, path)
        elif not str(h5.attrs.get("kind", "")).startswith("pxrdsolve."):
            raise InputError(f"{path}: not a pxrdsolve HDF5 file")
        g = h5.get("structures")
        if g is None or any(name not in g for name in _STRUCTURE_DATASETS):
            raise InputError(f"{path}: no /structures group with {', '.join(_STRUCTURE_DATASETS)}")
        lattice, counts = g["lattice"][()], g["num_atoms"][()].astype(np.int64)
        frac, z = g["frac"][()], g["atomic_numbers"][()].astype(np.int64)
        occ = g["occupancy"][()] if "occupancy" in g else np.ones(len(z))
        ids = read_strings(g["id"]) if "id" in g else [f"{path.stem}_{i}" for i in range(len(counts))]
        formulas = read_strings(g["formula"]) if "formula" in g else [""] * len(counts)
    off = np.concatenate([[0], np.cumsum(counts)])
    if len(lattice) != len(counts) or off[-1] != len(z) or len(frac) != len(z) or len(ids) != len(counts):
        raise InputError(f"{path}: inconsistent /structures arrays")
    out = []
    for i in range(len(counts)):
        a, b = int(off[i]), int(off[i + 1])
        if b - a > max_atoms:
            continue
        rec = CrystalRecord(np.asarray(lattice[i], float), np.asarray(frac[a:b], float), z[a:b],
                            np.asarray(occ[a:b], float))
        label = f"{ids[i]} ({formulas[i]})" if formulas[i] else ids[i]
        out.append(Candidate(rec, "user", label, {"file": str(path), "id": ids[i], "formula": formulas[i],
                                                  "index": i}))
    return out
