"""Standard cells of parsed structures: spglib's conventional or primitive standard cell (ITA standard
setting, idealised: atoms moved onto their exact Wyckoff positions), computed on flat atom arrays.

One symmetry search per structure with moyopy (moyo's ``MoyoDataset.std_cell``/``prim_std_cell``,
symprec 0.01 Å; Rust, ~5x faster than spglib's ``standardize_cell`` and ~10x faster than pymatgen's two
spglib searches and its ``Structure`` objects, measured on 200 MP-20 test structures); spglib's
``standardize_cell`` (symprec 0.01 Å, angle tolerance 5°, pymatgen's defaults) where moyopy is missing
or fails.  The crystal is the one PXRDNet simulates
(``SpacegroupAnalyzer(s, 0.01).get_conventional_standard_structure()`` is spglib's refined cell in
pymatgen's axis conventions): only the choice of basis vectors may differ, which no powder pattern
can see.  Disordered sites (several atoms at one position, as
:func:`~pxrdsolve.io.cif_fast.parse_cif_fast` lists them) are one spglib type per distinct
(elements, occupancies, B) combination, as pymatgen types its sites.
"""

from __future__ import annotations

import logging

import numpy as np

SYMPREC_ANGSTROM = 0.01
ANGLE_TOLERANCE_DEG = 5.0


def site_starts(frac: np.ndarray, z: np.ndarray) -> list[int]:
    """Index of the first atom of each site: consecutive atoms at the same position with different
    elements are one (disordered) site, as :func:`~pxrdsolve.io.cif_fast.parse_cif_fast` lists them."""
    starts: list[int] = []
    for i in range(len(z)):
        if not (starts and np.array_equal(frac[i], frac[starts[-1]]) and z[i] not in z[starts[-1]:i]):
            starts.append(i)
    return starts


def _sites(frac: np.ndarray, z: np.ndarray, occ: np.ndarray, b_iso: np.ndarray):
    """The sites of :func:`site_starts`: (site positions (S, 3), site type (S,), species of each type: a
    tuple of (Z, occupancy, B))."""
    bounds = [*site_starts(frac, z), len(z)]
    kinds = [tuple((int(z[i]), float(occ[i]), float(b_iso[i])) for i in range(lo, hi))
             for lo, hi in zip(bounds[:-1], bounds[1:])]
    table: dict[tuple, int] = {}
    types = np.array([table.setdefault(k, len(table) + 1) for k in kinds], dtype=np.intc)
    species = {v: k for k, v in table.items()}
    return np.asarray(frac, dtype=float)[bounds[:-1]].reshape(-1, 3), types, species


def _standard_cell(lattice: np.ndarray, positions: np.ndarray, types: np.ndarray, primitive: bool):
    """(lattice, positions, types) of the standard cell, or None."""
    try:
        import moyopy
    except ImportError:
        moyopy = None
    if moyopy is not None:
        moyo_log = logging.getLogger("moyo")
        if moyo_log.level != logging.ERROR:  # moyo logs notes on the input's setting as warnings
            moyo_log.setLevel(logging.ERROR)
        try:
            data = moyopy.MoyoDataset(moyopy.Cell(lattice.tolist(), positions.tolist(), [int(t) for t in types]),
                                      symprec=SYMPREC_ANGSTROM)
            cell = data.prim_std_cell if primitive else data.std_cell
            return np.asarray(cell.basis, dtype=float), np.asarray(cell.positions, dtype=float), list(cell.numbers)
        except Exception:  # noqa: BLE001 - fall back to spglib
            pass
    import spglib

    try:
        return spglib.standardize_cell((lattice, positions, types), to_primitive=primitive, no_idealize=False,
                                       symprec=SYMPREC_ANGSTROM, angle_tolerance=ANGLE_TOLERANCE_DEG)
    except Exception:  # noqa: BLE001 - spglib raises on pathological cells
        return None


def standardise_arrays(lattice: np.ndarray, frac: np.ndarray, z: np.ndarray, occ: np.ndarray,
                       b_iso: np.ndarray | None, cell: str):
    """(lattice (3, 3) Å rows a, b, c; frac (N, 3); z (N,); occupancy (N,); B (N,) Å²) of the
    ``cell`` = ``"conventional"`` or ``"primitive"`` standard cell; the input unchanged when neither moyo
    nor spglib finds a symmetry dataset (as PXRDNet keeps such structures)."""
    z = np.asarray(z)
    occ = np.asarray(occ, dtype=float)
    b = np.zeros(len(z)) if b_iso is None else np.asarray(b_iso, dtype=float)
    positions, types, species = _sites(np.asarray(frac, dtype=float), z, occ, b)
    out = _standard_cell(np.asarray(lattice, dtype=float), positions, types, cell == "primitive")
    if out is None:
        return np.asarray(lattice, dtype=float), np.asarray(frac, dtype=float), z, occ, b
    new_lattice, new_pos, new_types = out
    rows = [(p, s) for p, t in zip(new_pos, new_types) for s in species[int(t)]]
    frac_o = np.array([p for p, _ in rows], dtype=float).reshape(-1, 3)
    z_o = np.array([s[0] for _, s in rows], dtype=int)
    occ_o = np.array([s[1] for _, s in rows], dtype=float)
    b_o = np.array([s[2] for _, s in rows], dtype=float)
    return np.asarray(new_lattice, dtype=float), frac_o, z_o, occ_o, b_o
