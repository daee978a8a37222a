"""Formula parsing: reduction, Z choices, parentheses, errors."""

from __future__ import annotations

import pytest

from pxrdsolve.errors import InputError
from pxrdsolve.solve.formula import anonymous_formula, parse_formula


def test_simple_formula_and_auto_z():
    c = parse_formula("SrTiO3")
    assert c.amounts == (("Sr", 1), ("Ti", 1), ("O", 3))
    assert c.z_options == (1, 2, 3, 4)  # 5 atoms per formula unit, at most 20 atoms
    assert parse_formula("SrTiO3", max_atoms=12).z_options == (1, 2)
    assert parse_formula("SrTiO3", z=2).z_options == (2,)
    assert parse_formula("SrTiO3", z="3").z_options == (3,)


def test_written_multiple_fixes_z():
    c = parse_formula("Sr4Ti4O12")
    assert c.amounts == (("Sr", 1), ("Ti", 1), ("O", 3)) and c.z_options == (4,)
    assert c.formula(4) == "Sr4Ti4O12" and c.formula() == "SrTiO3"
    assert parse_formula("Sr4Ti4O12", z=2).z_options == (2,)


def test_parentheses_brackets_and_adducts():
    assert dict(parse_formula("Ca(OH)2").amounts) == {"Ca": 1, "O": 2, "H": 2}
    assert dict(parse_formula("K3[Fe(CN)6]").amounts) == {"K": 3, "Fe": 1, "C": 6, "N": 6}
    assert dict(parse_formula("CuSO4·5H2O", max_atoms=50).amounts) == {"Cu": 1, "S": 1, "O": 9, "H": 10}
    assert dict(parse_formula(" Mg2 Si O4 ").amounts) == {"Mg": 2, "Si": 1, "O": 4}
    assert dict(parse_formula("FeFe2O4").amounts) == {"Fe": 3, "O": 4}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("XxO2", "unknown element 'Xx' in formula 'XxO2'"),
        ("", "empty formula"),
        ("   ", "empty formula"),
        ("sr", "malformed"),
        ("Ca(OH", "unbalanced"),
        ("CaOH)2", "unbalanced"),
        ("Ca()2", "empty parentheses"),
        ("2", "count without an element"),
        ("Fe0.5O", "not a positive integer"),
        ("Fe$O", "malformed"),
    ],
)
def test_bad_formulas(text, match):
    with pytest.raises(InputError, match=match.replace("(", r"\(")):
        parse_formula(text)


def test_bad_z_and_too_many_atoms():
    with pytest.raises(InputError, match="positive integer"):
        parse_formula("NaCl", z=0)
    with pytest.raises(InputError, match="positive integer"):
        parse_formula("NaCl", z="two")
    with pytest.raises(InputError, match="more than the limit"):
        parse_formula("Al2(SO4)3", max_atoms=10)


def test_anonymous_formula_matches_pymatgen():
    from pymatgen.core import Composition as PmgComposition

    for text in ("SrTiO3", "Sr4Ti4O12", "MgAl2O4", "NaCl", "Cu", "Al2O3", "Hf(AlNi4)3", "LiFePO4"):
        c = parse_formula(text)
        assert anonymous_formula(c.amounts) == PmgComposition(text).anonymized_formula
