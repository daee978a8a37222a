"""The gemmi CIF path gives the atoms pymatgen's CifParser gives, bit for bit, or hands the file back."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

from helpers import DATA, EXAMPLES
from pxrdsolve.io.cif_fast import parse_cif_fast
from pxrdsolve.io.structures import StructureItem, parse_item, structure_to_record

MP20 = Path("/work/shared/data/mp_20/cdvae_mp20_pilot_val1000.csv")
HEADER = """data_t
_cell_length_a 5.0
_cell_length_b 6.0(2)
_cell_length_c 7.0
_cell_angle_alpha 90
_cell_angle_beta 101.5
_cell_angle_gamma 90
loop_
_symmetry_equiv_pos_as_xyz
'x, y, z'
'-x, y+1/2, -z'
'-x, -y, -z'
'x, -y+1/2, z'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
"""


def _pymatgen(text: str):
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = CifParser.from_str(text).parse_structures(primitive=False)[0]
    return structure_to_record(s), s.composition.reduced_formula


def _csv_cifs(path: Path, limit: int | None = None) -> list[str]:
    csv.field_size_limit(2**31 - 1)
    with open(path, newline="") as fh:
        return [r["cif"] for r in list(csv.DictReader(fh))[:limit]]


def _symmetrised(text: str) -> str:
    """The same structure written with its space group (asymmetric unit + operations) by pymatgen."""
    from pymatgen.io.cif import CifParser, CifWriter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = CifParser.from_str(text).parse_structures(primitive=False)[0]
        return str(CifWriter(s, symprec=0.01))


def assert_same_as_pymatgen(text: str) -> None:
    fast = parse_cif_fast(text)
    assert fast is not None, "plain CIF handed back to pymatgen"
    lattice, frac, z, occ, formula = fast
    ref, ref_formula = _pymatgen(text)
    assert formula == ref_formula
    np.testing.assert_array_equal(lattice, ref.lattice)
    np.testing.assert_array_equal(z, ref.atomic_numbers)
    np.testing.assert_array_equal(occ, ref.occupancy)
    np.testing.assert_array_equal(frac, ref.frac)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.cif")), ids=lambda p: p.stem)
def test_examples_with_full_space_groups(path):
    assert_same_as_pymatgen(path.read_text())


def test_library_fixture_cifs_and_their_symmetrised_forms():
    texts = _csv_cifs(DATA / "library" / "pool.csv")
    assert len(texts) >= 20
    n_broken = 0
    for text in texts:
        try:
            _pymatgen(text)
        except Exception:  # noqa: BLE001 - the pool holds deliberately broken rows
            n_broken += 1
            assert parse_cif_fast(text) is None  # pymatgen's own message is kept for these
            continue
        assert_same_as_pymatgen(text)
        assert_same_as_pymatgen(_symmetrised(text))
    assert n_broken < len(texts) // 4


@pytest.mark.skipif(not MP20.exists(), reason="shared MP-20 data not present")
def test_mp20_sample_p1_and_symmetrised():
    for text in _csv_cifs(MP20, 40):
        assert_same_as_pymatgen(text)
        assert_same_as_pymatgen(_symmetrised(text))


@pytest.mark.parametrize("rows", [
    # two species on one site, by different labels: one disordered site (occupancies kept, not scaled)
    "Fe1 Fe 0.1 0.2 0.3 0.6\nMn1 Mn 0.1 0.2 0.3 0.4\nO1 O 0.25 0.33333 0.5 1\n",
    # the second row is a symmetry image of the first: it joins that site
    "Fe1 Fe 0.1 0.2 0.3 0.5\nCo1 Co -0.1 0.7 -0.3 0.5\n",
    # uncertainty brackets, '?' occupancy (= 1), zero occupancy (dropped), 2/3 rounding, oxidation suffix
    "Sr1 Sr2+ 0.6667(3) 0.25 0.1(1) ?\nTi1 Ti 0.0 0.0 0.0 0.0\nO1 O2- 0.3 0.25 0.8 1.0(2)\n",
    # a label without type symbol column content quirks: symbols like 'O1' read as O
    "Al1 Al 0 0 0 1\nO1 O1 0.5 0.5 0.5 1\n",
])
def test_disorder_merging_and_number_quirks(rows):
    assert_same_as_pymatgen(HEADER + rows)


def test_same_position_same_element_sums_occupancy():
    text = HEADER + "Fe1 Fe 0.1 0.2 0.3 0.25\nFe2 Fe 0.1 0.2 0.3 0.5\n"
    assert_same_as_pymatgen(text)
    _, _, z, occ, _ = parse_cif_fast(text)
    assert set(occ) == {0.75} and len(z) == 4


@pytest.mark.parametrize("text", [
    HEADER + "Fe1 Fe 0 0 0 1\n" + "data_second\n_cell_length_a 3\n",  # two blocks
    HEADER.replace("_symmetry_equiv_pos_as_xyz\n'x, y, z'\n'-x, y+1/2, -z'\n'-x, -y, -z'\n'x, -y+1/2, z'\n",
                   "_symmetry_space_group_id\n14\n") + "Fe1 Fe 0 0 0 1\n",  # no explicit operations
    HEADER + "Fe1 Fe 0 0 0 0.7\nNi1 Ni 0 0 0 0.7\n",  # occupancies above 1
    HEADER + "Wat1 Wat 0 0 0 1\n",  # water shorthand
    "_atom_site_moment_label Fe1\n" + HEADER + "Fe1 Fe 0 0 0 1\n",  # magnetic
    "not a cif at all",
])
def test_unusual_files_go_to_pymatgen(text):
    assert parse_cif_fast(text) is None


@pytest.mark.parametrize("cell", ["as-is", "conventional", "primitive"])
def test_parse_item_matches_the_pymatgen_path(cell, monkeypatch):
    import pxrdsolve.io.structures as st

    texts = [p.read_text() for p in sorted(EXAMPLES.glob("*.cif"))] + _csv_cifs(DATA / "library" / "pool.csv", 8)
    fast = [parse_item(StructureItem("x", "x", cif_text=t), cell) for t in texts]
    monkeypatch.setattr(st, "parse_cif_fast", lambda text: None)
    slow = [parse_item(StructureItem("x", "x", cif_text=t), cell) for t in texts]
    for a, b in zip(fast, slow):
        assert a.formula == b.formula
        for name in ("lattice", "frac", "atomic_numbers", "occupancy", "b_iso"):
            np.testing.assert_array_equal(getattr(a.record, name), getattr(b.record, name))
