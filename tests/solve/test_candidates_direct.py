"""Direct-space candidates: Wyckoff table, symmetry and composition of the output, distances,
reproducibility, priors, and the prototype-held-out library."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from helpers import record_structure, shipped_library, space_group_number
from pxrdsolve.solve.candidates_direct import DirectConfig, direct_space_candidates
from pxrdsolve.solve.formula import parse_formula
from pxrdsolve.solve.wyckoff import crystal_system, parse_triplet, space_group_data

ROCKSALT_CIF = """data_NaCl
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_symmetry_equiv_pos_as_xyz
'x, y, z'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Na1 Na 0 0 0 1
Na2 Na 0 0.5 0.5 1
Na3 Na 0.5 0 0.5 1
Na4 Na 0.5 0.5 0 1
Cl1 Cl 0.5 0.5 0.5 1
Cl2 Cl 0.5 0 0 1
Cl3 Cl 0 0.5 0 1
Cl4 Cl 0 0 0.5 1
"""


_lib = shipped_library
_spg = space_group_number
_structure = record_structure


def _same(a, b) -> bool:
    return (np.array_equal(a.atomic_numbers, b.atomic_numbers) and np.allclose(a.lattice, b.lattice, atol=0)
            and np.allclose(a.frac, b.frac, atol=0))


# ----------------------------------------------------------------------------- Wyckoff table

def test_parse_triplet_affine():
    np.testing.assert_allclose(parse_triplet("x, -x+1/2, 1/4"),
                               [[1, 0, 0, 0], [-1, 0, 0, 0.5], [0, 0, 0, 0.25]])
    np.testing.assert_allclose(parse_triplet("2x, x, -z+3/4"), [[2, 0, 0, 0], [1, 0, 0, 0], [0, 0, -1, 0.75]])
    with pytest.raises(ValueError):
        parse_triplet("x, y")


@pytest.mark.parametrize("number", [1, 2, 14, 62, 139, 166, 194, 225, 227, 230])
def test_wyckoff_table_is_consistent_with_spglib_operations(number):
    d = space_group_data(number)
    general = d.positions[0]
    assert general.dof == 3 and general.multiplicity == len(d.rotations)
    assert all(general.multiplicity % p.multiplicity == 0 for p in d.positions)
    assert d.positions[-1].letter == "a"
    rng = np.random.default_rng(number)
    for p in d.positions:  # every image of an orbit is again in the orbit (closure under the group)
        orbit = p.orbit(rng.random((1, 3)))[0]
        images = np.einsum("gij,mj->gmi", d.rotations, orbit) + d.translations[:, None]
        key = lambda x: set(map(tuple, np.round(np.mod(x, 1.0) * 1e6).astype(np.int64) % 1_000_000))  # noqa: E731
        assert len(key(orbit)) == p.multiplicity and key(images.reshape(-1, 3)) == key(orbit)


def test_wyckoff_table_matches_pyxtal_orbits():
    pyxtal = pytest.importorskip("pyxtal.symmetry")
    p = np.array([0.1234567, 0.2718281, 0.3141592])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for number in (5, 15, 64, 141, 148, 186, 227):
            g = pyxtal.Group(number)
            mine = space_group_data(number)
            for w, pos in zip(g.Wyckoff_positions, mine.positions, strict=True):
                x0 = pos.affine[:, :3] @ p + pos.affine[:, 3]
                theirs = np.mod(np.array([op.operate(x0) for op in w.ops]), 1.0)
                ours = pos.orbit(p[None])[0]
                d = ours[:, None] - theirs[None]
                d = np.abs(d - np.round(d)).max(-1)
                assert w.letter == pos.letter and (d.min(1) < 1e-6).all() and (d.min(0) < 1e-6).all()


# ----------------------------------------------------------------------------- generated structures

RANDOM = DirectConfig(enumerated_fraction=0.0)  # the random draws alone (the enumeration has its own tests)

CASES = [  # formula, space groups (one or more crystal systems each)
    ("NaCl", (1, 14, 62, 139, 166, 194, 225)),
    ("SrTiO3", (221, 140, 62, 161)),
    ("MgB2", (191, 12)),
    ("LiFePO4", (62, 2)),
    ("Al2O3", (167, 15)),
]


@pytest.mark.parametrize(("formula", "groups"), CASES)
def test_structures_have_composition_space_group_and_distances(formula, groups):
    lib = _lib()
    comp = parse_formula(formula)
    cfg = RANDOM
    cands = direct_space_candidates(comp, 12, seed=3, space_groups=groups, library=lib, config=cfg)
    assert len(cands) == 12
    radius = lib.elements["radius"]
    amounts = {el: n for el, n in comp.amounts}
    from pxrdsolve.elements import SYMBOLS

    for c in cands:
        rec = c.record
        assert c.source == "direct" and c.meta["space_group"] in groups
        assert _spg(rec) == c.meta["space_group"]  # requested group, not a super- or subgroup
        z, n = np.unique(rec.atomic_numbers, return_counts=True)
        counts = {SYMBOLS[int(a)]: int(b) for a, b in zip(z, n)}
        assert counts == {el: k * c.meta["z"] for el, k in amounts.items()}
        assert c.meta["z"] in comp.z_options and len(rec.atomic_numbers) <= 20
        # Wyckoff labels add up to the conventional cell: Σ multiplicity = atoms × centring
        d = space_group_data(c.meta["space_group"])
        total = sum(int(lab.rstrip("abcdefghijklmnopqrstuvwxyzA")) for lab in c.meta["wyckoff"].split())
        assert total == len(rec.atomic_numbers) * d.centering_factor
        # distance check against pymatgen's periodic distances (an independent oracle)
        s = _structure(rec)
        dm = s.distance_matrix + np.eye(len(s)) * 1e9
        need = cfg.distance_factor * (radius[rec.atomic_numbers][:, None] + radius[rec.atomic_numbers][None, :])
        assert (dm >= need - 1e-9).all()
        n = np.array([[i, j, k] for i in (-2, -1, 0, 1, 2) for j in (-2, -1, 0, 1, 2) for k in (-2, -1, 0, 1, 2)
                      if (i, j, k) != (0, 0, 0)], dtype=float)
        shortest = np.linalg.norm(n @ rec.lattice, axis=1).min()  # an atom to its own periodic image
        assert shortest >= cfg.distance_factor * 2 * radius[rec.atomic_numbers].max() - 1e-9


def test_every_crystal_system_is_reached_and_volume_is_the_estimate():
    lib = _lib()
    comp = parse_formula("NaCl")
    groups = (1, 14, 62, 139, 166, 194, 225)
    cands = [c for sg in groups for c in direct_space_candidates(comp, 3, seed=11, space_groups=(sg,), library=lib,
                                                                   config=RANDOM)]
    assert len(cands) == 3 * len(groups)
    systems = {crystal_system(c.meta["space_group"]) for c in cands}
    assert systems == {"triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic"}
    v_atom = (lib.elements["volume"][11] + lib.elements["volume"][17]) / 2
    for c in cands:
        assert abs(np.linalg.det(c.record.lattice)) / len(c.record.atomic_numbers) == pytest.approx(v_atom, rel=1e-6)


def test_reproducible_per_seed_and_prefix_stable():
    lib = _lib()
    comp = parse_formula("SrTiO3")
    a = direct_space_candidates(comp, 10, seed=5, library=lib, config=RANDOM)
    b = direct_space_candidates(comp, 10, seed=5, library=lib, config=RANDOM)
    c = direct_space_candidates(comp, 10, seed=6, library=lib, config=RANDOM)
    longer = direct_space_candidates(comp, 14, seed=5, library=lib, config=RANDOM)
    assert all(_same(x.record, y.record) and x.meta == y.meta for x, y in zip(a, b))
    assert all(_same(x.record, y.record) for x, y in zip(a, longer[:10]))
    assert not all(_same(x.record, y.record) for x, y in zip(a, c))


def test_volume_override_cell_hint_and_infeasible_groups():
    lib = _lib()
    comp = parse_formula("NaCl", z=1)
    cands = direct_space_candidates(comp, 5, seed=0, volume_per_atom=30.0, space_groups=(225, 221), library=lib,
                                    config=RANDOM)
    assert all(abs(np.linalg.det(c.record.lattice)) / 2 == pytest.approx(30.0) for c in cands)
    hint = (5.0, 5.0, 7.0, 90.0, 90.0, 90.0)
    cands = direct_space_candidates(comp, 6, seed=0, space_groups=(123, 225, 62, 2), cell_hint=hint, library=lib)
    assert cands and {c.meta["space_group"] for c in cands} <= {123, 62, 2}  # a cubic group cannot take a≠c
    for c in cands:
        d = space_group_data(c.meta["space_group"])
        assert abs(np.linalg.det(c.record.lattice)) * d.centering_factor == pytest.approx(5 * 5 * 7)
        assert c.meta["cell_origin"] == "hint"
    # Ia-3d has no orbit of fewer than 16 atoms (8 per primitive cell): NaCl with Z = 1 cannot be made
    assert direct_space_candidates(comp, 4, seed=0, space_groups=(230,), library=lib) == []


def test_prior_follows_the_pool_and_forgets_held_out_prototypes():
    from pxrdsolve.library.holdout import without_entries
    from pxrdsolve.solve.candidates_direct import _feasible_pairs
    from pxrdsolve.solve.direct_prior import space_group_prior

    lib = _lib()
    pairs = _feasible_pairs(parse_formula("NaCl"), None, 20, None)
    p = space_group_prior(lib, "AB", pairs)
    assert p.sum() == pytest.approx(1.0) and (p > 0).all()
    best = {pairs[i][0] for i in np.argsort(-p)[:3]}
    assert 225 in best  # rock salt is among the commonest AB structures of the pool
    ent = lib.entries
    drop = np.flatnonzero((ent["anonymous_formula"] == "AB") & (ent["space_group"] == 225))
    held = without_entries(lib, drop)
    q = space_group_prior(held, "AB", pairs)
    k = pairs.index((225, 1, 2))
    assert q[k] < 0.5 * p[k]


def test_structure_type_of_rock_salt():
    from pxrdsolve.library.holdout import structure_type

    st = structure_type("rocksalt", ROCKSALT_CIF)
    assert st.key == (225, ("a", "b")) and st.anonymous_formula == "AB" and st.natoms == 8


def test_held_out_library_drops_the_type_and_its_distorted_variants():
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Lattice, Structure

    from library.tiny_library import tiny_library
    from pxrdsolve.library.holdout import held_out_entries, structure_type, without_entries
    from pxrdsolve.solve.candidates_prototype import prototype_candidates

    lib = tiny_library()  # holds cubic CaTiO3 (Pm-3m) and tetragonal BaTiO3 (P4mm)
    target = Structure.from_spacegroup(221, Lattice.cubic(3.905), ["Sr", "Ti", "O"],
                                       [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0.5]])
    st = structure_type("SrTiO3", target.to(fmt="cif"))
    assert st.key == (221, ("a", "b", "c"))
    ids = lambda idx: {str(lib.entries["id"][i]) for i in idx}  # noqa: E731
    by_type = held_out_entries(lib, st, None, match_structures=False)
    assert ids(by_type) == {"tb-1"}  # CaTiO3: same space group and Wyckoff letters
    full = held_out_entries(lib, st, target, match_structures=True)
    assert ids(full) == {"tb-1", "tb-3"}  # + BaTiO3: another type, but a match at the benchmark's tolerances
    sm = StructureMatcher(ltol=0.3, stol=0.5, angle_tol=10)
    comp = parse_formula("SrTiO3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_type_only = without_entries(lib, by_type)
        assert any(sm.fit(target, _structure(c.record)) for c in prototype_candidates(comp, by_type_only))
        held = without_entries(lib, full)
        assert not any(sm.fit(target, _structure(c.record)) for c in prototype_candidates(comp, held))
    assert len(held) == len(lib) - 2 and set(held.entries["id"].tolist()) == set(lib.entries["id"].tolist()) - ids(full)
    for i in range(len(held)):  # entries keep their own sites and index groups
        j = int(np.flatnonzero(lib.entries["id"] == held.entries["id"][i])[0])
        np.testing.assert_array_equal(held.sites(i)[1], lib.sites(j)[1])
        np.testing.assert_array_equal(held.sites(i)[0], lib.sites(j)[0])
        key = (str(held.entries["anonymous_formula"][i]), int(held.entries["natoms"][i]))
        assert i in held.group(*key)


def test_speed_candidates_per_second():
    lib = _lib()
    comp = parse_formula("SrTiO3")
    direct_space_candidates(comp, 5, seed=0, library=lib)
    import time

    t = time.perf_counter()
    cands = direct_space_candidates(comp, 40, seed=1, library=lib)
    rate = len(cands) / (time.perf_counter() - t)
    assert len(cands) == 40 and math.isfinite(rate) and rate > 2.0  # measured ~30–60/s on a loaded 2-core CPU


def test_draws_of_higher_symmetry_are_dropped():
    # Si2 in Pm-3m can only sit on 1a + 1b: that is body-centred cubic (Im-3m), so nothing comes back
    lib = _lib()
    assert direct_space_candidates(parse_formula("Si", z=2), 3, seed=0, space_groups=(221,), library=lib) == []
    got = direct_space_candidates(parse_formula("Si", z=1), 3, seed=0, space_groups=(229,), library=lib,
                                  config=RANDOM)
    assert len(got) == 3 and all(_spg(c.record) == 229 and c.meta["wyckoff"] == "2a" for c in got)
    # Z = 1 NaCl in Pm-3m / Fm-3m: CsCl (1a + 1b) and rock salt (4a + 4b)
    got = direct_space_candidates(parse_formula("NaCl", z=1), 6, seed=0, space_groups=(221, 225), library=lib,
                                  config=RANDOM)
    assert {c.meta["space_group"] for c in got} == {221, 225}


def test_enumerated_structures_come_first_then_random_draws():
    lib = _lib()
    got = direct_space_candidates(parse_formula("NaCl"), 8, seed=0, space_groups=(221, 225, 62), library=lib)
    methods = [c.meta["method"] for c in got]
    n_enum = methods.count("enumerated")
    assert len(got) == 8 and methods == ["enumerated"] * n_enum + ["random"] * (8 - n_enum)
    assert 1 <= methods.count("enumerated") <= 6 and methods.count("random") >= 2
