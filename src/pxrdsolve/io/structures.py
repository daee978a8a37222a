"""Structure inputs: CIF files, directories of CIFs and CDVAE-style CSV files with a ``cif`` column.

This is the pymatgen edge of the package: structures are parsed here and leave as
:class:`~pxrdsolve.crystal.CrystalRecord` arrays.  Inputs are listed first (cheap, deterministic
order, so ``--shard`` and ``--resume`` select the same items every time) and parsed later, one item
at a time; a bad item yields a :class:`StructureError` with the reason, never a crash.
"""

from __future__ import annotations

import csv
import math
import sys
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.errors import InputError
from pxrdsolve.io.cif_fast import parse_cif_fast

CIF_SUFFIXES = (".cif", ".mcif")
DEFAULT_MAX_ATOMS = 500
CELL_CHOICES = ("auto", "as-is", "conventional", "primitive")


class StructureError(ValueError):
    """One structure could not be used (the batch goes on without it)."""


@dataclass(frozen=True)
class StructureItem:
    """One structure to read: ``source`` names it for messages (``file.cif`` or ``file.csv:row 12``)."""

    source: str
    identifier: str
    cif_text: str | None = None  # CSV rows carry their CIF; files are read when parsed
    path: str | None = None


@dataclass(frozen=True)
class ParsedStructure:
    """A parsed structure: arrays for the simulator plus identity and the CIF text."""

    item: StructureItem
    record: CrystalRecord
    formula: str
    cif_text: str


def list_inputs(inputs: list[str]) -> list[StructureItem]:
    """Expand CIF files, directories (recursively, sorted) and CSV files into structure items."""
    items: list[StructureItem] = []
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{raw}: no such file or directory")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in CIF_SUFFIXES and p.is_file())
            if not files:
                raise InputError(f"{raw}: directory holds no .cif files")
            items += [StructureItem(str(p), p.stem, path=str(p)) for p in files]
        elif path.suffix.lower() == ".csv":
            items += _csv_items(path)
        elif path.suffix.lower() in CIF_SUFFIXES:
            items.append(StructureItem(str(path), path.stem, path=str(path)))
        else:
            raise InputError(f"{raw}: not a .cif, .csv or directory")
    return items


def _csv_items(path: Path) -> list[StructureItem]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or "cif" not in reader.fieldnames:
                raise InputError(f"{path}: CSV has no 'cif' column")
            items = []
            for i, row in enumerate(reader):
                ident = (row.get("material_id") or "").strip() or f"{path.stem}_{i}"
                items.append(StructureItem(f"{path}:row {i + 2}", ident, cif_text=row.get("cif") or ""))
            return items
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV ({exc})") from None


def check_cell(structure) -> None:
    """Raise :class:`StructureError` unless the lattice and coordinates are finite and the cell has a
    volume above 10⁻³ Å³ (spglib crashes the process on non-finite cells, so check before it runs)."""
    lattice = np.asarray(structure.lattice.matrix, dtype=float)
    if not np.isfinite(lattice).all():
        raise StructureError("non-finite cell parameters")
    vol = abs(float(np.linalg.det(lattice)))
    if not vol > 1e-3:
        raise StructureError(f"degenerate cell (volume {vol:.3g} Å³)")
    if len(structure) and not np.isfinite(np.asarray(structure.frac_coords, dtype=float)).all():
        raise StructureError("non-finite coordinates")


def structure_to_record(structure, max_atoms: int = DEFAULT_MAX_ATOMS) -> CrystalRecord:
    """A pymatgen ``Structure`` as a :class:`CrystalRecord` (one atom per species of each site)."""
    return record_from_arrays(*_structure_arrays(structure), max_atoms)


def _structure_arrays(structure):
    """(lattice, frac, z, occupancy, B) of a pymatgen ``Structure``, one row per species of each site."""
    z, frac, occ, b_iso = [], [], [], []
    for site in structure:
        for sp, o in site.species.items():
            zz = getattr(sp, "Z", None)
            if zz is None:
                raise StructureError(f"unknown element {sp}")
            z.append(int(zz))
            frac.append(site.frac_coords)
            occ.append(float(o))
            b_iso.append(float(site.properties.get("b_iso", 0.0) or 0.0) if site.properties else 0.0)
    return (np.asarray(structure.lattice.matrix, dtype=float), np.asarray(frac, dtype=float).reshape(-1, 3),
            np.asarray(z, dtype=int), np.asarray(occ, dtype=float), np.asarray(b_iso, dtype=float))


def record_from_arrays(lattice: np.ndarray, frac, z, occ, b_iso=None, max_atoms: int = DEFAULT_MAX_ATOMS
                       ) -> CrystalRecord:
    """A :class:`CrystalRecord` from a lattice (Å, rows a, b, c) and per-atom arrays, after the checks
    every structure passes: atoms present and at most ``max_atoms``, finite cell with a volume of at
    least 10⁻³ Å³, finite coordinates, elements with X-ray form factors."""
    if not len(z):
        raise StructureError("no atoms")
    if len(z) > max_atoms:
        raise StructureError(f"too many atoms ({len(z)} > {max_atoms})")
    lattice = np.asarray(lattice, dtype=float)
    vol = abs(float(np.linalg.det(lattice)))
    if not np.isfinite(lattice).all() or vol < 1e-3:
        raise StructureError(f"degenerate cell (volume {vol:.3g} Å³)")
    frac_a = np.asarray(frac, dtype=float).reshape(-1, 3)
    if not np.isfinite(frac_a).all():
        raise StructureError("non-finite coordinates")
    z_a = np.asarray(z)
    bad = _unknown_elements(z_a)
    if bad:
        raise StructureError(bad)
    b = np.zeros(len(z_a)) if b_iso is None else np.asarray(b_iso, dtype=float)
    return CrystalRecord(lattice, frac_a, z_a, np.asarray(occ, dtype=float), b)


def _unknown_elements(z: np.ndarray) -> str | None:
    """The :class:`~pxrdsolve.elements.UnknownElementError` message for atomic numbers without form
    factors, or ``None`` (numpy only, so that parsing workers never run torch)."""
    known = _known_z()
    if ((z >= 1) & (z <= 118)).all() and known[z].all():
        return None
    import torch

    from pxrdsolve.diffraction.form_factors import check_elements
    from pxrdsolve.elements import UnknownElementError

    try:
        check_elements(torch.as_tensor(z))
    except UnknownElementError as exc:
        return str(exc)
    return None


def warm_up() -> None:
    """Load the element tables and parser modules (before forking parsing workers)."""
    from pxrdsolve.io.cif_fast import _electronegativities

    _electronegativities()
    _known_z()
    import pymatgen.core  # noqa: F401 - formulas


@lru_cache(maxsize=1)
def _known_z() -> np.ndarray:
    from pxrdsolve.diffraction.form_factors import _table

    return _table()[1].numpy().copy()


def parse_item(item: StructureItem, cell: str = "as-is", max_atoms: int = DEFAULT_MAX_ATOMS) -> ParsedStructure:
    """Parse one item; raises :class:`StructureError` naming the reason.

    ``cell``: ``as-is``, ``conventional`` or ``primitive`` (standard cells of
    :func:`~pxrdsolve.io.standard_cell.standardise_arrays`: moyo, symprec 0.01 Å, spglib as the fallback).
    Plain CIFs are read by :func:`~pxrdsolve.io.cif_fast.parse_cif_fast` (the same atoms as pymatgen,
    bit for bit); the others go through pymatgen's ``CifParser``.
    """
    if item.cif_text is None:
        try:
            text = Path(item.path or item.source).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise StructureError(f"cannot read ({exc.strerror})") from None
    else:
        text = item.cif_text
    if not text.strip():
        raise StructureError("empty CIF")
    fast = parse_cif_fast(text)
    if fast is not None and _plain_cell(fast[0]):
        lattice, frac, z, occ, formula = fast
        arrays = (lattice, frac, z, occ, None)
    else:
        structure = _parse_cif(text)
        check_cell(structure)
        arrays, formula = _structure_arrays(structure), structure.composition.reduced_formula
    if cell != "as-is":
        from pxrdsolve.io.standard_cell import standardise_arrays

        arrays = standardise_arrays(*arrays, cell)
    return ParsedStructure(item, record_from_arrays(*arrays, max_atoms), formula, text)


def _structure_from_arrays(lattice: np.ndarray, frac: np.ndarray, z: np.ndarray, occ: np.ndarray):
    """The pymatgen ``Structure`` of fast-parsed arrays: consecutive atoms at the same position are one
    (disordered) site, as :func:`~pxrdsolve.io.cif_fast.parse_cif_fast` lists them."""
    from pymatgen.core import Element, Lattice, Structure

    from pxrdsolve.io.standard_cell import site_starts

    bounds = [*site_starts(frac, z), len(z)]
    species = [{Element.from_Z(int(z[i])): float(occ[i]) for i in range(lo, hi)}
               for lo, hi in zip(bounds[:-1], bounds[1:])]
    coords = [frac[i] for i in bounds[:-1]]
    return Structure(Lattice(lattice), species, coords)


def _plain_cell(lattice: np.ndarray) -> bool:
    """A finite cell that pymatgen accepts (every d₁₀₀, d₀₁₀, d₀₀₁ ≥ 0.01 Å) with a volume above
    10⁻³ Å³; other cells take the pymatgen path, so that their error messages stay the same.
    (d of a lattice plane = V / |b × c| etc.; Python float arithmetic on the nine numbers: numpy's
    cross and dot cost more in call overhead than the arithmetic, and this runs once per structure.)"""
    (a0, a1, a2), (b0, b1, b2), (c0, c1, c2) = np.asarray(lattice, dtype=float).tolist()
    if not all(math.isfinite(v) for v in (a0, a1, a2, b0, b1, b2, c0, c1, c2)):
        return False
    cross = ((b1 * c2 - b2 * c1, b2 * c0 - b0 * c2, b0 * c1 - b1 * c0),
             (c1 * a2 - c2 * a1, c2 * a0 - c0 * a2, c0 * a1 - c1 * a0),
             (a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0))
    vol = abs(a0 * cross[0][0] + a1 * cross[0][1] + a2 * cross[0][2])
    if not vol > 1e-3:
        return False
    return all(vol / math.sqrt(x * x + y * y + z * z) >= 0.01 for x, y, z in cross)


def _parse_cif(text: str):
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            structures = CifParser.from_str(text).parse_structures(primitive=False)
        except Exception as exc:  # noqa: BLE001 - pymatgen raises many types on bad CIFs
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StructureError(f"unparseable CIF ({msg[:120]})") from None
    if not structures:
        raise StructureError("CIF holds no structure")
    return structures[0]


def standardise(structure, cell: str):
    """The conventional or primitive standard cell of a pymatgen ``Structure`` (moyo or spglib, symprec
    0.01 Å: :func:`~pxrdsolve.io.standard_cell.standardise_arrays`); the input if no symmetry is found.

    Raises :class:`StructureError` for a non-finite or degenerate cell (spglib would crash on it).
    """
    from pxrdsolve.io.standard_cell import site_starts, standardise_arrays

    check_cell(structure)
    lattice, frac, z, occ, b_iso = standardise_arrays(*_structure_arrays(structure), cell)
    out = _structure_from_arrays(lattice, frac, z, occ)
    if b_iso.any():
        out.add_site_property("b_iso", [b_iso[i] for i in site_starts(frac, z)])
    return out

