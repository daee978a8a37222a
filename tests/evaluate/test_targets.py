"""Measured evaluation targets: Z is that of the primitive cell, whatever cell the reference CIF uses."""

from __future__ import annotations

import shutil

from helpers import EXAMPLES
from pxrdsolve.evaluate.targets import measured_target


def test_measured_target_z_is_primitive(tmp_path):
    shutil.copyfile(EXAMPLES / "Si.cif", tmp_path / "si.cif")  # conventional cell: 8 atoms
    shutil.copyfile(EXAMPLES.parent / "patterns" / "SrTiO3_10A.xy", tmp_path / "si.xy")
    row = {"case_id": "si", "wavelength_A": "NA", "axis": "2theta"}
    t = measured_target(0, row, tmp_path, "auto")
    assert t.structure.num_sites == 8
    assert t.formula == "Si" and t.z == 2
