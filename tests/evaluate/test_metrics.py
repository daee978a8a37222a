"""Evaluation metrics against hand-computed values on tiny cases."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import EXAMPLES, structure_from_cif
from pxrdsolve.evaluate import metrics as m
from pxrdsolve.evaluate.harness import eval_patterns, rwp2_list
from pxrdsolve.evaluate.report import aggregate, render_markdown


@pytest.fixture(scope="module")
def rutile():
    return structure_from_cif((EXAMPLES / "TiO2_rutile.cif").read_text())


def test_identical_structure_gives_zero_rwp2_and_matches(rutile):
    target_eval = eval_patterns([rutile])[0]
    assert rwp2_list(target_eval, [rutile.copy()]) == [pytest.approx(0.0, abs=1e-12)]
    assert m.match(rutile, rutile.copy()).matched
    rank, rms = m.first_match(rutile, [rutile.copy()])
    assert rank == 0 and rms == pytest.approx(0.0, abs=1e-6)


def test_strained_lattice_gives_the_hand_computed_rwp2(rutile):
    target_eval = eval_patterns([rutile])[0]
    strained = rutile.copy()
    strained.scale_lattice(rutile.volume * 1.06**3)
    pred = eval_patterns([strained])[0]
    expected = float(np.sum((target_eval - pred) ** 2) / np.sum(target_eval**2))
    got = rwp2_list(target_eval, [strained])[0]
    assert got == pytest.approx(expected) and 0.05 < got < 2.0
    # a 6 % strain still matches at the standard tolerances (volumes are rescaled)
    assert m.match(rutile, strained).matched


def test_polymorphs_do_not_match():
    from pymatgen.core import Lattice, Structure

    rock_salt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cscl = Structure.from_spacegroup("Pm-3m", Lattice.cubic(4.1), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    rutile = structure_from_cif((EXAMPLES / "TiO2_rutile.cif").read_text())
    anatase = Structure.from_spacegroup("I4_1/amd", Lattice.tetragonal(3.785, 9.514), ["Ti", "O"],
                                        [[0, 0.75, 0.125], [0, 0.25, 0.0833]])
    assert not m.match(rock_salt, cscl).matched
    assert not m.match(rutile, anatase).matched and not m.match(rutile, anatase, m.STRICT_TOL).matched
    assert m.first_match(rock_salt, [cscl, rock_salt.copy()])[0] == 1


def test_oxidation_states_of_a_reference_cif_do_not_block_a_match():
    from pymatgen.core import Lattice, Species, Structure

    lat = Lattice.cubic(5.22)
    decorated = Structure.from_spacegroup("Fm-3m", lat, [Species("Mn", 2), Species("S", -2)],
                                          [[0, 0, 0], [0.5, 0.5, 0.5]])  # as in a COD MnS file
    plain = Structure.from_spacegroup("Fm-3m", lat, ["Mn", "S"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    swapped = Structure.from_spacegroup("Fm-3m", lat, ["S", "S"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert m.match(decorated, plain).matched and m.match(plain, decorated).matched
    assert m.first_match(decorated, [swapped, plain])[0] == 1
    assert not m.match(decorated, swapped).matched  # elements still count
    assert decorated.composition.oxi_state_guesses is not None and "Mn2+" in str(decorated.composition)  # untouched


def test_validity_and_symmetry(rutile):
    assert m.is_valid(rutile)
    bad = rutile.copy()
    bad.append("O", bad[0].frac_coords + 0.01)
    assert not m.is_valid(bad)
    s = m.symmetry_summary(rutile)
    assert s["space_group"] == 136 and s["crystal_system"] == "tetragonal"
    assert m.lattice_error(s, s) == 0.0


def test_aggregate_and_markdown():
    recs = [
        {"index": 0, "id": "a", "crystal_system": "cubic", "rwp2_best10_after": 0.1, "rwp2_best10_before": 0.3,
         "match_top1_standard": True, "match_top10_standard": True, "match_source": "prototype",
         "seconds": {"solve": 2.0}},
        {"index": 1, "id": "b", "crystal_system": "triclinic", "rwp2_best10_after": 0.3, "rwp2_best10_before": 0.5,
         "match_top1_standard": False, "match_top10_standard": True, "seconds": {"solve": 4.0}},
        {"index": 2, "id": "c", "error": "unparseable"},
    ]
    s = aggregate(recs)
    assert s["n_errors"] == 1
    assert s["rwp2_best10_after"]["mean"] == pytest.approx(0.2)
    assert s["rwp2_best10_after"]["sd"] == pytest.approx(0.1)
    assert s["match_top1_standard"]["rate"] == 0.5 and s["match_top10_standard"]["rate"] == 1.0
    assert s["by_crystal_system"]["cubic"]["n"] == 1
    md = render_markdown(s, {"source": "x.csv", "size": 10.0, "seed": 0}, "test machine")
    assert "0.325 ± 0.283" in md and "0.200 ± 0.100" in md and "| cubic | 1 |" in md
