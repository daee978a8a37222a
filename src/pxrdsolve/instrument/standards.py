"""Certified line-position standards: structures built from their certified cells and positions.

* ``LaB6``: NIST SRM 660c, Pm-3m, a = 4.15689 Å; La 1a (0,0,0), B 6f (0.1996, ½, ½);
* ``Si``: NIST SRM 640e, Fd-3m, a = 5.431179 Å; Si 8a (0,0,0);
* ``CeO2``: Fm-3m, a = 5.4113 Å; Ce 4a (0,0,0), O 8c (¼,¼,¼);
* ``Al2O3``: NIST SRM 676a corundum, R-3c (hexagonal axes), a = 4.75885, c = 12.9931 Å;
  Al 12c (0,0,0.35216), O 18e (0.30624,0,¼).

B factors are left at 0: calibration refines one overall B.
"""

from __future__ import annotations

from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.errors import InputError

STANDARDS: dict[str, dict] = {
    "LaB6": {"sg": "Pm-3m", "cell": ("cubic", 4.15689), "species": ["La", "B"],
             "coords": [[0.0, 0.0, 0.0], [0.1996, 0.5, 0.5]], "source": "NIST SRM 660c"},
    "Si": {"sg": "Fd-3m", "cell": ("cubic", 5.431179), "species": ["Si"], "coords": [[0.0, 0.0, 0.0]],
           "source": "NIST SRM 640e"},
    "CeO2": {"sg": "Fm-3m", "cell": ("cubic", 5.4113), "species": ["Ce", "O"],
             "coords": [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]], "source": "CeO2 (a = 5.4113 Å)"},
    "Al2O3": {"sg": "R-3c", "cell": ("hexagonal", 4.75885, 12.9931), "species": ["Al", "O"],
              "coords": [[0.0, 0.0, 0.35216], [0.30624, 0.0, 0.25]], "source": "NIST SRM 676a"},
}


def standard_names() -> list[str]:
    return list(STANDARDS)


def canonical_standard(name: str) -> str:
    """The standard's canonical name (case-insensitive; ``corundum`` = Al2O3); InputError otherwise."""
    key = name.strip().lower()
    aliases = {"corundum": "Al2O3", "srm660c": "LaB6", "srm640e": "Si", "srm676a": "Al2O3"}
    for k in STANDARDS:
        if k.lower() == key:
            return k
    if key in aliases:
        return aliases[key]
    raise InputError(f"unknown standard {name!r} (use one of {', '.join(STANDARDS)})")


def standard_structure(name: str):
    """The pymatgen ``Structure`` of a standard (conventional cell)."""
    from pymatgen.core import Lattice, Structure

    spec = STANDARDS[canonical_standard(name)]
    kind, *abc = spec["cell"]
    lattice = Lattice.cubic(abc[0]) if kind == "cubic" else Lattice.hexagonal(abc[0], abc[1])
    return Structure.from_spacegroup(spec["sg"], lattice, spec["species"], spec["coords"])


def standard_record(name: str) -> CrystalRecord:
    """The standard as a :class:`~pxrdsolve.crystal.CrystalRecord` (B = 0)."""
    from pxrdsolve.io.structures import structure_to_record

    return structure_to_record(standard_structure(name))
