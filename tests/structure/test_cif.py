"""The CIF written from a structure model: pymatgen reads back the same structure, space group and U_iso."""

from __future__ import annotations

import math
import warnings

import numpy as np
from structure_helpers import to_record

from pxrdsolve.solve.rank import record_to_structure
from pxrdsolve.structure.cif import symop_xyz, template_cif
from pxrdsolve.structure.template import symmetric_template


def test_symop_strings():
    assert symop_xyz(np.eye(3, dtype=int), np.zeros(3)) == "x,y,z"
    rot = np.array([[0, -1, 0], [1, -1, 0], [0, 0, 1]])
    assert symop_xyz(rot, np.array([0, 0, 1 / 3])) == "-y,x-y,z+1/3"


def test_cif_round_trip(crystal):
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.cif import CifParser

    name, structure, rec = crystal
    t = symmetric_template(rec).with_parameters(b_iso=np.linspace(0.2, 0.9, len(symmetric_template(rec).orbits)))
    text = template_cif(t, refinement={"wavelength_angstrom": 1.5406, "size_angstrom": math.inf, "r_wp": 0.05})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = CifParser.from_str(text).parse_structures(primitive=False)[0]
    assert back.get_space_group_info(symprec=1e-3)[1] == t.number
    assert len(back) == sum(o.multiplicity for o in t.orbits)  # the conventional cell
    assert StructureMatcher(ltol=1e-3, stol=1e-3, angle_tol=0.01).fit(back, record_to_structure(to_record(structure)))
    u = [float(line.split()[7]) for line in text.splitlines() if line.startswith("  ") and len(line.split()) == 9]
    np.testing.assert_allclose(sorted(u), sorted(o.b_iso / (8 * math.pi**2) for o in t.orbits), atol=1e-5)
    assert "_pd_proc_ls_prof_wR_factor 0.05000" in text and "_diffrn_radiation_wavelength 1.540600" in text
