"""Write ``pool.csv``: textbook structures for the prototype-library tests (no Materials Project data).

    python tests/data/library/make_pool_csv.py

Columns as the MP-2025 pool CSV: material_id, nsites, formula, mp20_known_split, cif.  Cells are
primitive (spglib), lattice parameters from textbooks (Å).  Row roles used by the tests:
``tb-ex-split`` has split ``test`` (must be dropped), ``tb-ex-id`` is in ``exclude.csv`` (dropped by
id), ``tb-bad`` is not a CIF (a failure); ``holdout.csv`` holds SrTiO3 and ZnO (formula hold-out).
"""

from __future__ import annotations

import csv
from pathlib import Path

from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

HERE = Path(__file__).parent


def sg(number_or_symbol, lattice, species, coords):
    return Structure.from_spacegroup(number_or_symbol, lattice, species, coords)


def structures() -> list[tuple[str, Structure, str]]:
    cub, tet, hexa = Lattice.cubic, Lattice.tetragonal, Lattice.hexagonal
    perov = ([[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])
    rutile = [[0, 0, 0], [0.305, 0.305, 0]]
    wurtz = [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]]
    return [
        ("tb-1", sg("Pm-3m", cub(3.84), ["Ca", "Ti", "O"], perov), ""),  # CaTiO3 (cubic template)
        ("tb-2", sg("Pm-3m", cub(3.905), ["Sr", "Ti", "O"], perov), ""),  # SrTiO3 (held out)
        ("tb-3", sg("P4mm", tet(3.99, 4.03), ["Ba", "Ti", "O", "O"],
                    [[0, 0, 0], [0.5, 0.5, 0.52], [0.5, 0.5, 0.98], [0.5, 0, 0.48]]), ""),  # BaTiO3 P4mm
        ("tb-4", sg("P4_2/mnm", tet(4.594, 2.959), ["Ti", "O"], rutile), ""),  # rutile TiO2
        ("tb-5", sg("P4_2/mnm", tet(4.395, 2.859), ["Ge", "O"], rutile), ""),  # GeO2: same shape as TiO2
        ("tb-6", sg("P4_2/mnm", tet(4.737, 3.186), ["Sn", "O"], rutile), ""),  # SnO2: c/a 4 % larger
        ("tb-7", sg("Fm-3m", cub(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]), ""),  # rock salt
        ("tb-8", sg("Fm-3m", cub(4.21), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]), ""),  # MgO
        ("tb-9", sg("F-43m", cub(5.41), ["Zn", "S"], [[0, 0, 0], [0.25, 0.25, 0.25]]), ""),  # zinc blende
        ("tb-10", sg("P6_3mc", hexa(3.25, 5.21), ["Zn", "O"], wurtz), ""),  # wurtzite ZnO (held out)
        ("tb-11", sg("P6_3mc", hexa(3.19, 5.19), ["Ga", "N"], wurtz), ""),  # GaN
        ("tb-12", sg("Fm-3m", cub(5.46), ["Ca", "F"], [[0, 0, 0], [0.25, 0.25, 0.25]]), ""),  # fluorite
        ("tb-13", sg("Fd-3m", cub(8.08), ["Mg", "Al", "O"],
                     [[0, 0, 0], [0.625, 0.625, 0.625], [0.387, 0.387, 0.387]]), ""),  # spinel (origin 1)
        ("tb-14", sg("Pm-3m", cub(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]), ""),  # CsCl
        ("tb-15", sg("Fm-3m", cub(3.615), ["Cu"], [[0, 0, 0]]), ""),  # fcc Cu
        ("tb-16", sg("Im-3m", cub(2.866), ["Fe"], [[0, 0, 0]]), ""),  # bcc Fe
        ("tb-17", sg("Fd-3m", cub(5.431), ["Si"], [[0, 0, 0]]), ""),  # diamond Si
        ("tb-18", sg("R-3c", hexa(4.759, 12.99), ["Al", "O"], [[0, 0, 0.352], [0.306, 0, 0.25]]), ""),  # corundum
        ("tb-ex-split", sg("Pm-3m", cub(4.00), ["Ba", "Ti", "O"], perov), "test"),
        ("tb-ex-id", sg("Pm-3m", cub(3.95), ["K", "Nb", "O"], perov), ""),
    ]


def main() -> None:
    rows = []
    for ident, s, split in structures():
        s = s.get_primitive_structure()
        rows.append({"material_id": ident, "nsites": len(s), "formula": s.composition.reduced_formula,
                     "mp20_known_split": split, "cif": str(CifWriter(s))})
    rows.append({"material_id": "tb-bad", "nsites": 1, "formula": "X", "mp20_known_split": "",
                 "cif": "data_broken\n_cell_length_a 1\n"})
    with open(HERE / "pool.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(HERE / "exclude.csv", "w", newline="") as fh:
        fh.write("material_id,pretty_formula\ntb-ex-id,KNbO3\n")
    with open(HERE / "holdout.csv", "w", newline="") as fh:
        fh.write("material_id,pretty_formula\nmp-x1,SrTiO3\nmp-x2,ZnO\n")
    print(f"{len(rows)} rows → {HERE / 'pool.csv'}")


if __name__ == "__main__":
    main()
