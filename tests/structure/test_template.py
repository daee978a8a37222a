"""Space group, conventional cell and orbits of a crystal: the template regenerates the crystal, is the same
whatever cell, origin or atom order describes it, and keeps its symmetry for any free-parameter values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from structure_helpers import pymatgen_structure, to_record

from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.solve.rank import record_to_structure
from pxrdsolve.structure.template import crystal_system, symmetric_template


def _spglib_number(record: CrystalRecord, symprec: float = 1e-4) -> int:
    import spglib

    cell = (record.lattice, record.frac, record.atomic_numbers)
    return int(spglib.get_symmetry_dataset(cell, symprec=symprec).number)


def _same(a, b) -> bool:
    from pymatgen.analysis.structure_matcher import StructureMatcher

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return StructureMatcher(ltol=1e-3, stol=1e-3, angle_tol=0.01, scale=False).fit(a, b)


def test_template_regenerates_the_crystal_in_its_space_group(crystal):
    name, structure, rec = crystal
    t = symmetric_template(rec)
    assert t.number == structure.get_space_group_info()[1]
    prim = t.primitive_record()
    assert len(prim.atomic_numbers) == len(structure.get_primitive_structure())
    assert _same(record_to_structure(prim), structure)
    # conventional cell: the crystal system's metric, the volume of the conventional cell
    system = crystal_system(t.number)
    if system in ("cubic", "tetragonal", "hexagonal", "trigonal"):
        assert t.cell[0] == pytest.approx(t.cell[1])
    if system != "triclinic":
        assert t.cell[3] == pytest.approx(90.0) and (system == "monoclinic" or t.cell[4] == pytest.approx(90.0))
    mult = sum(o.multiplicity for o in t.orbits)
    conv_sites, _ = t.conventional_sites()
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    assert len(conv_sites) == mult == len(SpacegroupAnalyzer(structure).get_conventional_standard_structure())


def test_template_is_invariant_to_supercell_origin_and_atom_order(crystal):
    name, structure, rec = crystal
    t = symmetric_template(rec)
    rng = np.random.default_rng(1)
    sup = structure.copy()
    sup.make_supercell([[1, 1, 0], [0, 1, 0], [0, 0, 2]])
    shifted = to_record(sup)
    perm = rng.permutation(len(shifted.atomic_numbers))
    moved = CrystalRecord(shifted.lattice, (shifted.frac[perm] + [0.137, 0.29, 0.61]) % 1.0,
                          shifted.atomic_numbers[perm], shifted.occupancy[perm])
    t2 = symmetric_template(moved)
    assert t2.number == t.number and t2.symbol == t.symbol
    np.testing.assert_allclose(t2.cell, t.cell, atol=1e-6)
    # Wyckoff letters may differ by a normaliser choice (rutile O: 4f x,x,0 or 4g x,-x,0); orbits may not
    key = lambda tt: sorted((o.multiplicity, o.num_free) for o in tt.orbits)  # noqa: E731
    assert key(t2) == key(t)
    assert _same(record_to_structure(t2.primitive_record()), record_to_structure(t.primitive_record()))


def test_free_coordinates_keep_the_space_group(crystal):
    """Any displacement along an orbit's free basis keeps the group (to 1e-6 in positions)."""
    name, structure, rec = crystal
    t = symmetric_template(rec)
    rng = np.random.default_rng(7)
    pos = np.stack([o.position + o.basis @ rng.uniform(-0.02, 0.02, o.num_free) for o in t.orbits])
    moved = t.with_parameters(positions=pos).primitive_record()
    assert _spglib_number(moved, symprec=1e-6) == t.number  # the displacement never breaks the symmetry
    if t.num_free_coordinates:
        assert not _same(record_to_structure(moved), record_to_structure(rec))


def test_special_positions_have_no_free_coordinates():
    t = symmetric_template(to_record(pymatgen_structure("fluorite")))
    assert t.num_free_coordinates == 0
    ru = symmetric_template(to_record(pymatgen_structure("rutile")))
    assert sorted(o.num_free for o in ru.orbits) == [0, 1]  # Ti 2a fixed, O 4f (x, x, 0)
    mono = symmetric_template(to_record(pymatgen_structure("monoclinic")))
    assert all(o.num_free == 3 for o in mono.orbits) and mono.crystal_system == "monoclinic"


def test_partial_occupancy_sites_stay_one_orbit():
    lat = np.eye(3) * 4.0
    rec = CrystalRecord(lat, np.array([[0, 0, 0], [0, 0, 0], [0.5, 0.5, 0.5]]), np.array([26, 28, 8]),
                        np.array([0.5, 0.5, 1.0]))
    t = symmetric_template(rec)
    assert t.number == 221
    assert any(len(o.species) == 2 for o in t.orbits)
    prim = t.primitive_record()
    assert sorted(prim.atomic_numbers.tolist()) == [8, 26, 28]
    assert np.isclose(prim.occupancy.sum(), 2.0)
