"""Ranking refined candidates: sort by fit, merge duplicates (pymatgen ``StructureMatcher``), top N.

Candidates are taken best first until ``top_n`` distinct structures are found: among the ``pool`` best
(default 30) every candidate is merged into the structure it duplicates; beyond them, only candidates with a
finite score are looked at, and only until ``top_n`` distinct structures are found (each new one is compared
with the at most ``top_n - 1`` structures accepted so far, so ranking stays fast).  Each accepted structure
keeps the indices of the candidates merged into it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.solve.types import Candidate


@dataclass(frozen=True)
class RankConfig:
    """``top_n`` distinct structures, looked for among the ``pool`` best and beyond them while fewer than ``top_n``
    are found; matcher tolerances (pymatgen's
    ``ltol``, ``stol``, ``angle_tol`` degrees); ``symprec`` (Å) for space-group labels."""

    top_n: int = 10
    pool: int = 30
    ltol: float = 0.2
    stol: float = 0.3
    angle_tol: float = 5.0
    symprec: float = 0.1


@dataclass(frozen=True)
class RankedCandidate:
    """One distinct structure in the ranking (``rank`` from 1).  ``index`` points into the input
    candidates; ``record`` is the refined crystal; ``metrics``/``metrics_before`` are floats
    (see :func:`~pxrdsolve.solve.objective.fit_metrics`); ``size_angstrom`` τ; ``zero_shift_deg``;
    ``duplicates`` are merged candidate indices; ``template`` the refined crystal in its space group
    (standard conventional cell), from which the space group, cell, Z and CIF are all reported."""

    rank: int
    index: int
    candidate: Candidate
    record: CrystalRecord
    metrics: dict[str, float]
    metrics_before: dict[str, float]
    size_angstrom: float
    zero_shift_deg: float
    stage: str
    formula: str
    space_group: str
    space_group_number: int
    duplicates: tuple[int, ...] = field(default_factory=tuple)
    template: Any = None
    promoted_from: int = 0

    @property
    def z(self) -> int:
        """Formula units (of the reduced formula) in the conventional cell."""
        return self.template.formula_units()

    def lattice_parameters(self) -> dict[str, float]:
        """a, b, c (Å), alpha, beta, gamma (degrees), volume (Å³) of the refined conventional cell."""
        p = [float(v) for v in self.template.cell]
        vol = abs(float(np.linalg.det(self.template.conventional_lattice())))
        return dict(zip(("a", "b", "c", "alpha", "beta", "gamma"), p)) | {"volume": vol}

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank, "index": self.index, "source": self.candidate.source, "label": self.candidate.label,
            "formula": self.formula, "space_group": self.space_group, "space_group_number": self.space_group_number,
            "crystal_system": self.template.crystal_system, "z": self.z, "promoted_from": self.promoted_from,
            "lattice": self.lattice_parameters(), "size_angstrom": self.size_angstrom,
            "column_length_angstrom": 2.0 * self.size_angstrom, "zero_shift_deg": self.zero_shift_deg,
            "stage": self.stage, "metrics": self.metrics, "metrics_before": self.metrics_before,
            "duplicates": list(self.duplicates), "meta": self.candidate.meta,
        }


def record_to_structure(record: CrystalRecord):
    """A pymatgen ``Structure`` from a record (partial occupancies merged per site)."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.core.periodic_table import Element

    sites: dict[tuple, dict[str, float]] = {}
    for z, f, o in zip(record.atomic_numbers, record.frac, record.occupancy):
        key = tuple(np.round(np.mod(f, 1.0), 6))
        sites.setdefault(key, {})
        sym = Element.from_Z(int(z)).symbol
        sites[key][sym] = sites[key].get(sym, 0.0) + float(o)
    species = [dict(v) for v in sites.values()]
    coords = [list(k) for k in sites]
    return Structure(Lattice(np.asarray(record.lattice, float)), species, coords)


def space_group_of(structure, symprec: float = 0.1) -> tuple[str, int]:
    """(Hermann–Mauguin symbol, number) with spglib tolerance ``symprec`` (Å); ("P1", 1) on failure."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sga = SpacegroupAnalyzer(structure, symprec=symprec)
            return sga.get_space_group_symbol(), int(sga.get_space_group_number())
    except Exception:  # spglib can fail on odd cells; the label is informative only
        return "P1", 1


def _floats(metrics: dict[str, np.ndarray], b: int) -> dict[str, float]:
    return {k: float(v[b]) for k, v in metrics.items()}


def rank_and_merge(candidates: list[Candidate], refined, config: RankConfig = RankConfig()) -> list[RankedCandidate]:
    """Distinct candidates sorted by the penalised χ² of :mod:`pxrdsolve.solve.selection` (best first; plain χ²
    when absent), duplicates merged, at most ``top_n``.

    ``refined`` is a :class:`~pxrdsolve.solve.refine.RefineResult` for ``candidates`` (same order).
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    key = refined.metrics_after.get("score", refined.metrics_after["chi2"])  # see pxrdsolve.solve.selection
    order = np.argsort(key, kind="stable")
    matcher = StructureMatcher(ltol=config.ltol, stol=config.stol, angle_tol=config.angle_tol,
                               primitive_cell=True, scale=True, attempt_supercell=False)
    accepted: list[tuple[int, Any, list[int]]] = []
    pool = max(config.pool, config.top_n)
    for i, b in enumerate(order.tolist()):
        if i >= pool and not np.isfinite(key[b]):  # beyond the pool: only candidates that were fitted
            break
        structure = record_to_structure(refined.record(b))
        dup = None
        for j, (_, other, _) in enumerate(accepted):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    same = matcher.fit(other, structure)
                except Exception:  # matcher failures mean "not shown to be equal"
                    same = False
            if same:
                dup = j
                break
        if dup is None:
            accepted.append((b, structure, []))
            if len(accepted) >= config.top_n:
                break
        else:
            accepted[dup][2].append(b)
    out = []
    for rank, (b, structure, dups) in enumerate(accepted, start=1):
        tpl = refined.templates[b]
        symbol, number = tpl.symbol, tpl.number
        out.append(RankedCandidate(
            rank=rank, index=b, candidate=candidates[b], record=refined.record(b),
            metrics=_floats(refined.metrics_after, b), metrics_before=_floats(refined.metrics_before, b),
            size_angstrom=float(refined.size_angstrom[b]), zero_shift_deg=float(refined.zero_shift_deg[b]),
            stage=refined.stage[b], formula=structure.composition.reduced_formula, space_group=symbol,
            space_group_number=number, duplicates=tuple(dups), template=tpl,
            promoted_from=int(refined.promoted[b]) if refined.promoted else 0,
        ))
    return out
