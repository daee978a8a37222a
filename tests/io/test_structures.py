from __future__ import annotations

import pytest

from helpers import EXAMPLES
from pxrdsolve.errors import InputError
from pxrdsolve.io.structures import StructureError, StructureItem, list_inputs, parse_item

BAD_ELEMENT_CIF = """data_x
_cell_length_a 4
_cell_length_b 4
_cell_length_c 4
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Xx1 Xx 0 0 0 1
"""


def test_list_inputs_dirs_files_and_csv(tmp_path):
    items = list_inputs([str(EXAMPLES)])
    assert [i.identifier for i in items] == sorted(i.identifier for i in items)
    assert len(items) == len(list(EXAMPLES.glob("*.cif")))
    csv_path = tmp_path / "s.csv"
    cif = (EXAMPLES / "NaCl.cif").read_text().replace('"', '""')
    csv_path.write_text(f'material_id,cif\nmp-1,"{cif}"\n,"{cif}"\n')
    rows = list_inputs([str(csv_path)])
    assert [r.identifier for r in rows] == ["mp-1", "s_1"]
    assert parse_item(rows[0]).formula == "NaCl"


def test_bad_invocations_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list_inputs([str(tmp_path / "missing.cif")])
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="not a .cif"):
        list_inputs([str(tmp_path / "x.txt")])
    (tmp_path / "nocif.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no 'cif' column"):
        list_inputs([str(tmp_path / "nocif.csv")])


@pytest.mark.parametrize("text,reason", [
    ("this is not a cif", "unparseable|no structure"),
    ("", "empty"),
    (BAD_ELEMENT_CIF, "element|unparseable"),
    (BAD_ELEMENT_CIF.replace("Xx1 Xx", "Fe1 Fe").replace("_cell_length_a 4", "_cell_length_a 0"),
     "degenerate|unparseable|volume"),
])
def test_bad_structures_give_reasons(text, reason):
    with pytest.raises(StructureError, match=reason):
        parse_item(StructureItem("t.cif", "t", cif_text=text))


def test_too_many_atoms():
    item = StructureItem("x", "x", path=str(EXAMPLES / "NaCl.cif"))
    with pytest.raises(StructureError, match="too many atoms"):
        parse_item(item, max_atoms=4)
