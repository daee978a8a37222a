"""Per-material metrics, as PXRDNet and the field report them.

* R_wp² on PXRDNet's 8192-point evaluation grid: Σ(gt − pred)²/Σ gt² (see :mod:`~pxrdsolve.diffraction.pxrdnet`);
* structure match with pymatgen ``StructureMatcher`` at the field's standard tolerances
  (stol 0.5, angle 10°, ltol 0.3) and at PXRDNet's strict ones (0.3, 5°, 0.2), with the RMS
  displacement of a match (normalised by (V/N)^(1/3), pymatgen's convention);
* validity: no two atoms closer than 0.5 Å; charge balance where oxidation states can be guessed;
* crystal system, space group and lattice-parameter error of the top candidate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

STANDARD_TOL = {"stol": 0.5, "angle_tol": 10.0, "ltol": 0.3}
STRICT_TOL = {"stol": 0.3, "angle_tol": 5.0, "ltol": 0.2}
MIN_DISTANCE_ANGSTROM = 0.5


@dataclass(frozen=True)
class MatchResult:
    """Whether two structures match, and the normalised RMS displacement when they do."""

    matched: bool
    rms: float | None


def plain_elements(structure):
    """``structure`` with its species as plain elements: a copy without oxidation states where it has any.

    ``StructureMatcher`` compares species exactly, so a reference CIF decorated with oxidation states
    (Mn2+, S2-, common in COD and ICSD files) would never match a candidate written with elements."""
    if all(getattr(sp, "oxi_state", None) in (None, 0) for sp in structure.composition):
        return structure
    plain = structure.copy()
    plain.remove_oxidation_states()
    return plain


def match(target, candidate, tolerances: dict[str, float] = STANDARD_TOL) -> MatchResult:
    """pymatgen ``StructureMatcher`` comparison (volumes rescaled, as is standard) of the two structures'
    elements (oxidation states ignored)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    sm = StructureMatcher(**tolerances)
    target, candidate = plain_elements(target), plain_elements(candidate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rms = sm.get_rms_dist(target, candidate)
        except Exception:  # noqa: BLE001 - pymatgen fails on some degenerate inputs: no match
            return MatchResult(False, None)
    if rms is None:
        return MatchResult(False, None)
    return MatchResult(True, float(rms[0]))


def first_match(
    target, candidates: list, tolerances: dict[str, float] = STANDARD_TOL
) -> tuple[int | None, float | None]:
    """(0-based rank of the first matching candidate, its RMS) or (None, None)."""
    target = plain_elements(target)
    for i, cand in enumerate(candidates):
        m = match(target, cand, tolerances)
        if m.matched:
            return i, m.rms
    return None, None


def min_distance_angstrom(structure) -> float:
    """Smallest interatomic distance (Å) including periodic images (inf for one atom per cell alone)."""
    if len(structure) == 1:
        lat = structure.lattice
        return float(min(lat.abc))
    d = structure.distance_matrix
    np.fill_diagonal(d, np.inf)
    self_image = float(min(structure.lattice.abc))
    return float(min(d.min(), self_image))


def is_valid(structure) -> bool:
    """No two atoms closer than 0.5 Å."""
    return min_distance_angstrom(structure) >= MIN_DISTANCE_ANGSTROM


def charge_balanced(structure) -> bool | None:
    """True/False when pymatgen can guess oxidation states for the composition, None otherwise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            comp = structure.composition
            if all(getattr(el, "is_metal", False) for el in comp.elements):
                return None  # intermetallics: charge balance does not apply
            return bool(comp.oxi_state_guesses(max_sites=-20))
        except Exception:  # noqa: BLE001
            return None


def symmetry_summary(structure, symprec: float = 0.1) -> dict:
    """Space-group number, symbol, crystal system and conventional lattice parameters (Å, °)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sga = SpacegroupAnalyzer(structure, symprec=symprec)
            conv = sga.get_conventional_standard_structure()
            return {"space_group": sga.get_space_group_number(), "symbol": sga.get_space_group_symbol(),
                    "crystal_system": sga.get_crystal_system(), "abc": list(conv.lattice.abc),
                    "angles": list(conv.lattice.angles)}
        except Exception:  # noqa: BLE001
            lat = structure.lattice
            return {"space_group": 1, "symbol": "P1", "crystal_system": "triclinic", "abc": list(lat.abc),
                    "angles": list(lat.angles)}


def lattice_error(target_sym: dict, cand_sym: dict) -> float | None:
    """Mean relative error of the conventional a, b, c (sorted) when the crystal systems agree."""
    if target_sym["crystal_system"] != cand_sym["crystal_system"]:
        return None
    a = np.sort(np.asarray(target_sym["abc"]))
    b = np.sort(np.asarray(cand_sym["abc"]))
    return float(np.mean(np.abs(a - b) / a))
