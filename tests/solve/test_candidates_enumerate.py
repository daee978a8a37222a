"""Enumerated direct-space candidates: the Wyckoff assignments (counted by hand), the structures they make
(composition, space group, distances, known prototypes), duplicates, determinism, and the fingerprint."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from helpers import record_structure, shipped_library, space_group_number
from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.solve.candidates_direct import _counts
from pxrdsolve.solve.candidates_enumerate import (
    EnumerateConfig,
    assignments_of,
    enumerated_candidates,
    fingerprints,
)
from pxrdsolve.solve.formula import parse_formula
from pxrdsolve.solve.wyckoff import space_group_data

_lib = shipped_library
_spg = space_group_number
_structure = record_structure


def _matches(rec, reference) -> bool:
    from pymatgen.analysis.structure_matcher import StructureMatcher

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5).fit(_structure(rec), reference)


def _cubic(a: float, species: list[str], coords: list[list[float]]):
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice.cubic(a), species, coords)


def _thcr2si2():
    """CaZn2Si2 in the ThCr2Si2 type (I4/mmm: Ca 2a, Zn 4d, Si 4e with z = 0.375, one free coordinate)."""
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(139, Lattice.tetragonal(4.2, 10.4), ["Ca", "Zn", "Si"],
                                     [[0, 0, 0], [0, 0.5, 0.25], [0, 0, 0.375]])


def test_assignments_of_rock_salt_counted_by_hand():
    # NaCl, Z = 4 conventional in Fm-3m: each element fills 4 atoms; without free coordinates only 4a and 4b
    # (8c, 24d, 24e … are too big) → Na 4a + Cl 4b and Na 4b + Cl 4a; one free coordinate adds nothing
    data = space_group_data(225)
    counts = _counts(parse_formula("NaCl", z=1), 1)
    got = {tuple(sorted((z, p.label) for z, p in a)) for a in assignments_of(data, counts, 0)}
    assert got == {((11, "4a"), (17, "4b")), ((11, "4b"), (17, "4a"))}
    assert {tuple(sorted((z, p.label) for z, p in a)) for a in assignments_of(data, counts, 2)} == got
    # CsCl-type AB in Pm-3m: 1a/1b only; A3B (Cu3Au, Z = 1): B on 1a or 1b, A on the other's 3c/3d
    data = space_group_data(221)
    cu3au = _counts(parse_formula("Cu3Au", z=1), 1)
    got = {tuple(sorted((z, p.label) for z, p in a)) for a in assignments_of(data, cu3au, 0)}
    assert got == {((29, "3c"), (79, "1a")), ((29, "3c"), (79, "1b")), ((29, "3d"), (79, "1a")),
                   ((29, "3d"), (79, "1b"))}
    # a position with free coordinates may be used twice; the free-coordinate budget is respected
    data = space_group_data(194)
    for a in assignments_of(data, _counts(parse_formula("Mg", z=4), 4), 2):
        assert sum(p.dof for _, p in a) <= 2 and sum(p.multiplicity for _, p in a) == 4


@pytest.mark.parametrize(("formula", "groups", "reference"), [
    ("NaCl", (225,), _cubic(5.64, ["Na"] * 4 + ["Cl"] * 4, [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
                                                             [.5, .5, .5], [.5, 0, 0], [0, .5, 0], [0, 0, .5]])),
    ("SrTiO3", (221,), _cubic(3.9, ["Sr", "Ti", "O", "O", "O"], [[0, 0, 0], [.5, .5, .5], [.5, .5, 0],
                                                                  [.5, 0, .5], [0, .5, .5]])),
    ("Cu3Au", (221,), _cubic(3.75, ["Au", "Cu", "Cu", "Cu"], [[0, 0, 0], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])),
    ("CaF2", (225,), _cubic(5.46, ["Ca"] * 4 + ["F"] * 8, [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]]
                               + [[x, y, z] for x in (.25, .75) for y in (.25, .75) for z in (.25, .75)])),
    ("CaZn2Si2", (139,), _thcr2si2()),  # a free z (the grid must fill the variable the triplet uses)
])
def test_known_prototypes_are_proposed(formula, groups, reference):
    cands = enumerated_candidates(parse_formula(formula), 40, space_groups=groups, library=_lib())
    assert cands and any(_matches(c.record, reference) for c in cands)


@pytest.mark.parametrize(("formula", "groups"), [("NaCl", None), ("MgB2", (191, 194, 187)), ("TiO2", (136, 141))])
def test_structures_have_composition_space_group_and_distances(formula, groups):
    lib = _lib()
    cfg = EnumerateConfig()
    comp = parse_formula(formula)
    cands = enumerated_candidates(comp, 30, space_groups=groups, library=lib, config=cfg)
    assert len(cands) >= 5
    radius = lib.elements["radius"]
    amounts = dict(comp.amounts)
    from pxrdsolve.elements import SYMBOLS

    for c in cands:
        rec = c.record
        assert c.source == "direct" and c.meta["method"] == "enumerated"
        assert groups is None or c.meta["space_group"] in groups
        assert _spg(rec) == c.meta["space_group"]  # requested group, not a super- or subgroup
        assert c.meta["free_coordinates"] <= cfg.max_free
        z, n = np.unique(rec.atomic_numbers, return_counts=True)
        assert {SYMBOLS[int(a)]: int(b) for a, b in zip(z, n)} == {el: k * c.meta["z"] for el, k in amounts.items()}
        s = _structure(rec)
        dm = s.distance_matrix + np.eye(len(s)) * 1e9
        need = cfg.distance_factor * (radius[rec.atomic_numbers][:, None] + radius[rec.atomic_numbers][None, :])
        assert (dm >= need - 1e-9).all()
    # weights never increase down the list, and no two candidates share a fingerprint
    w = [c.meta["weight"] for c in cands]
    assert all(a >= b for a, b in zip(w, w[1:]))
    keys = fingerprints([c.record for c in cands])
    assert len(set(keys)) == len(keys)


def test_equivalent_assignments_are_kept_once_and_calls_are_deterministic():
    lib = _lib()
    comp = parse_formula("NaCl", z=1)
    cands = enumerated_candidates(comp, 20, space_groups=(225,), library=lib)
    # Na 4a + Cl 4b and Na 4b + Cl 4a are the same rock salt (origin shift by ½ ½ ½)
    assert len([c for c in cands if c.meta["free_coordinates"] == 0]) == 1
    again = enumerated_candidates(comp, 20, space_groups=(225,), library=lib)
    assert [c.label for c in cands] == [c.label for c in again]
    assert all(np.array_equal(a.record.frac, b.record.frac) for a, b in zip(cands, again))
    longer = enumerated_candidates(parse_formula("SrTiO3"), 30, library=lib)
    shorter = enumerated_candidates(parse_formula("SrTiO3"), 12, library=lib)
    assert [c.label for c in shorter] == [c.label for c in longer[:12]]


def test_fingerprint_is_invariant_to_origin_shift_and_atom_order_but_sees_a_swap():
    rng = np.random.default_rng(0)
    lat = np.diag([3.1, 3.1, 5.0])
    frac = np.array([[0, 0, 0], [1 / 3, 2 / 3, 0.5], [2 / 3, 1 / 3, 0.5]], float)
    lat[1] = [-1.55, 3.1 * np.sqrt(3) / 2, 0]
    z = np.array([12, 5, 5])
    base = CrystalRecord(lat, frac, z, np.ones(3))
    shift = CrystalRecord(lat, np.mod(frac + rng.random(3), 1.0), z, np.ones(3))
    perm = [2, 0, 1]
    order = CrystalRecord(lat, frac[perm], z[perm], np.ones(3))
    swap = CrystalRecord(lat, frac, np.array([5, 12, 12]), np.ones(3))
    a, b, c, d = fingerprints([base, shift, order, swap])
    assert a == b == c and a != d
