"""Test crystals: several space groups, lattice centrings and crystal systems, built with pymatgen."""

from __future__ import annotations

import warnings

import numpy as np

from pxrdsolve.crystal import CrystalRecord

# name: (space group, lattice factory args, species, coords)
CRYSTALS = {
    "rutile": ("P4_2/mnm", ("tetragonal", 4.594, 2.959), ["Ti", "O"], [[0, 0, 0], [0.305, 0.305, 0]]),
    "fluorite": ("Fm-3m", ("cubic", 5.411), ["Ce", "O"], [[0, 0, 0], [0.25, 0.25, 0.25]]),
    "anatase": ("I4_1/amd", ("tetragonal", 3.785, 9.514), ["Ti", "O"], [[0, 0.75, 0.125], [0, 0.75, 0.3333]]),
    "corundum": ("R-3c", ("hexagonal", 4.759, 12.993), ["Al", "O"], [[0, 0, 0.3522], [0.3064, 0, 0.25]]),
    "wurtzite": ("P6_3mc", ("hexagonal", 3.25, 5.207), ["Zn", "O"], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]]),
    "cmcm": ("Cmcm", ("orthorhombic", 3.9, 9.8, 3.7), ["Sr", "O"], [[0, 0.13, 0.25], [0, 0.41, 0.25]]),
    "monoclinic": ("P2_1/c", ("monoclinic", 5.1, 5.2, 5.3, 99.2), ["Zr", "O"],
                   [[0.276, 0.04, 0.209], [0.07, 0.332, 0.345]]),
}


def pymatgen_structure(name: str):
    from pymatgen.core import Lattice, Structure

    sg, lat, species, coords = CRYSTALS[name]
    kind, *args = lat
    if kind == "monoclinic":
        lattice = Lattice.monoclinic(*args)
    else:
        lattice = getattr(Lattice, kind)(*args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_spacegroup(sg, lattice, species, coords)


def to_record(structure) -> CrystalRecord:
    z = np.array([site.specie.Z for site in structure])
    return CrystalRecord(structure.lattice.matrix.copy(), structure.frac_coords.copy(), z, np.ones(len(z)))


