"""Prototype-held-out libraries: a library without a target's structure type (for evaluation).

A structure type is its space group and Wyckoff letters (the multiset of occupied positions, as
spglib names them at the library's symprec of 0.1 Å).  :func:`structure_type` reads it from a CIF the
way the library was built (:func:`~pxrdsolve.library.analyse.analyse_row`); :func:`held_out_entries`
lists the entries of a library with that type, and, with ``match_structures``, every entry whose
prototype candidate for the target's formula pymatgen's ``StructureMatcher`` matches to the target
(the same arrangement in another setting, at another symmetry or slightly distorted);
:func:`without_entries` returns the in-memory library without them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from pxrdsolve.library.store import PrototypeLibrary


@dataclass(frozen=True)
class StructureType:
    """Space group (1–230), sorted Wyckoff letters, anonymous formula and atoms per cell of a structure."""

    space_group: int
    letters: tuple[str, ...]
    anonymous_formula: str
    natoms: int

    @property
    def key(self) -> tuple[int, tuple[str, ...]]:
        return (self.space_group, self.letters)


def wyckoff_letters(wyckoff: str) -> tuple[str, ...]:
    """Sorted Wyckoff letters of a library key such as ``"1a 1b 3c"`` (element amount + letter per orbit)."""
    return tuple(sorted(tok.lstrip("0123456789") for tok in wyckoff.split()))


def structure_type(material_id: str, cif: str) -> StructureType:
    """The structure type of a CIF, analysed as library entries are (raises ValueError if it cannot be)."""
    from pxrdsolve.library.analyse import PoolRow, analyse_row

    res = analyse_row(PoolRow(material_id, material_id, cif))
    if isinstance(res, tuple):
        raise ValueError(f"{material_id}: {res[1]}")
    return StructureType(res.space_group, wyckoff_letters(res.wyckoff), res.anonymous_formula, res.natoms)


def held_out_entries(library: PrototypeLibrary, target: StructureType, structure=None,
                     match_structures: bool = True, max_atoms: int = 20) -> np.ndarray:
    """Indices of the library entries of ``target``'s structure type (sorted, unique).

    With ``match_structures`` and a pymatgen ``structure``, every template of a prototype candidate
    of the structure's formula (all Z up to ``max_atoms`` atoms, every element assignment the prototype
    source tries) that matches the structure as the benchmarks score it (``get_rms_dist`` at stol 0.5,
    ltol 0.3, angle 10°) is added: the library source can then propose nothing that scores as a match
    at these tolerances (a distorted variant such as an orthorhombic rock salt is another type by
    symmetry, not by match).
    """
    ent = library.entries
    same_sg = np.flatnonzero(ent["space_group"] == target.space_group)
    out = {int(i) for i in same_sg if wyckoff_letters(str(ent["wyckoff"][i])) == target.letters}
    if match_structures and structure is not None:
        out |= _matching_templates(library, structure, max_atoms) - out
    return np.array(sorted(out), dtype=np.int64)


def _matching_templates(library: PrototypeLibrary, structure, max_atoms: int) -> set[int]:
    """Templates whose prototype candidate matches ``structure`` as the benchmarks score a match
    (:func:`pxrdsolve.evaluate.metrics.match`: ``get_rms_dist`` at stol 0.5, ltol 0.3, angle 10°).

    A candidate can only match if its primitive cell has as many atoms as the structure's: candidates
    whose atom count is no multiple of that, or that spglib (loose symprec 0.25 Å) finds primitive at
    another size, are skipped without the (slow) matcher."""
    import spglib

    from pxrdsolve.evaluate.metrics import STANDARD_TOL, match
    from pxrdsolve.solve.candidates_prototype import prototype_candidates
    from pxrdsolve.solve.rank import record_to_structure
    from pxrdsolve.solve.types import Composition

    comp = structure.composition.reduced_composition
    amounts = tuple((el.symbol, int(round(n))) for el, n in comp.items())
    per_fu = sum(n for _, n in amounts)
    composition = Composition(amounts, tuple(range(1, max_atoms // per_fu + 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target = structure.get_primitive_structure()
        n_target = len(target)
        cands = prototype_candidates(composition, library, max_candidates=10**7)
        row_of = {str(v): i for i, v in enumerate(library.entries["id"].tolist())}  # ids are unique per entry
        found: set[int] = set()
        for c in cands:
            i = row_of[c.meta["template_id"]]
            n = len(c.record.atomic_numbers)
            if i in found or n % n_target:
                continue
            if n != n_target:
                prim = spglib.find_primitive((c.record.lattice, c.record.frac, c.record.atomic_numbers), symprec=0.25)
                if prim is None or len(prim[2]) != n_target:
                    continue
            if match(target, record_to_structure(c.record), STANDARD_TOL).matched:
                found.add(i)
    return found


def without_entries(library: PrototypeLibrary, drop: np.ndarray) -> PrototypeLibrary:
    """An in-memory copy of ``library`` without the entries ``drop`` (indices); element tables unchanged."""
    n = len(library)
    keep = np.ones(n, dtype=bool)
    keep[np.asarray(drop, dtype=np.int64)] = False
    idx = np.flatnonzero(keep)
    ent = library.entries
    off = ent["offsets"]
    atom_idx = np.concatenate([np.arange(off[i], off[i + 1]) for i in idx]) if len(idx) else np.zeros(0, np.int64)
    entries = {k: v[idx] for k, v in ent.items() if k != "offsets"}
    entries["offsets"] = np.concatenate([[0], np.cumsum(ent["natoms"][idx].astype(np.int64))])
    keys: dict[tuple[str, int], list[int]] = {}
    for j, (anon, na) in enumerate(zip(entries["anonymous_formula"].tolist(), entries["natoms"].tolist())):
        keys.setdefault((anon, int(na)), []).append(j)
    index = {k: np.asarray(v, dtype=np.int64) for k, v in keys.items()}
    config = {**library.config, "held_out_entries": int(n - len(idx))}
    return PrototypeLibrary(f"{library.path} (-{n - len(idx)} entries)", config, entries,
                            library.frac[atom_idx], library.atomic_numbers[atom_idx], library.elements, index)
