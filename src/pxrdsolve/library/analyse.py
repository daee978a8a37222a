"""Build-time analysis of one pool structure (pymatgen + spglib; never imported at solve time).

Each CSV row (``material_id``, ``cif``) becomes a :class:`PoolEntry`: the cell as given, its
anonymous formula, space group, Wyckoff key and a cell-shape bucket used to deduplicate prototypes.
"""

from __future__ import annotations

import csv
import math
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pxrdsolve.errors import InputError

SYMPREC = 0.1
SHAPE_TOLERANCE = 0.05  # relative bucket width for b/a and c/a
ANGLE_BUCKET_DEG = 3.0


@dataclass(frozen=True)
class PoolRow:
    """One CSV row to analyse: ``source`` names it for messages (``file.csv:row 12``)."""

    source: str
    material_id: str
    cif: str
    split: str = ""


@dataclass(frozen=True)
class PoolEntry:
    """An analysed structure (cell as given in the CIF; lattice rows in Å)."""

    material_id: str
    formula: str  # reduced, pymatgen convention (SrTiO3)
    anonymous_formula: str  # ABC3
    natoms: int
    space_group: int
    wyckoff: str  # sorted "<amount><letter>" per orbit, e.g. "1a 1b 3c"
    shape: tuple[int, ...]  # bucket of (b/a, c/a, α, β, γ) of the conventional cell
    lattice: np.ndarray  # (3, 3) Å
    frac: np.ndarray  # (n, 3)
    atomic_numbers: np.ndarray  # (n,)
    volume_per_atom: float  # Å³

    @property
    def prototype_key(self) -> tuple[str, int, int, str]:
        return (self.anonymous_formula, self.natoms, self.space_group, self.wyckoff)


def read_pool_rows(paths: Iterable[str | Path]) -> Iterator[PoolRow]:
    """Rows of CDVAE/MP-style CSVs with ``material_id`` and ``cif`` columns (``mp20_known_split`` optional)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    for path in paths:
        path = Path(path)
        try:
            fh = open(path, newline="", encoding="utf-8", errors="replace")
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None
        with fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or "cif" not in reader.fieldnames:
                raise InputError(f"{path}: CSV has no 'cif' column")
            for i, row in enumerate(reader):
                ident = (row.get("material_id") or "").strip() or f"{path.stem}_{i}"
                yield PoolRow(f"{path}:row {i + 2}", ident, row.get("cif") or "",
                              (row.get("mp20_known_split") or "").strip())


def read_csv_column(path: str | Path, columns: tuple[str, ...]) -> list[str]:
    """Values of the first of ``columns`` present in a CSV (e.g. ``material_id``)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.DictReader(fh)
            names = reader.fieldnames or []
            col = next((c for c in columns if c in names), None)
            if col is None:
                raise InputError(f"{path}: CSV has none of the columns {', '.join(columns)}")
            return [(row.get(col) or "").strip() for row in reader]
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def reduced_formulas_of_csv(path: str | Path) -> set[str]:
    """Reduced formulas (pymatgen convention) of every row of a CSV (``pretty_formula``/``formula`` or CIF)."""
    from pymatgen.core import Composition as PmgComposition

    try:
        values = read_csv_column(path, ("pretty_formula", "formula"))
    except InputError:
        rows = list(read_pool_rows([path]))
        return {_parse(r.cif).composition.reduced_formula for r in rows}
    out = set()
    for v in values:
        if v:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.add(PmgComposition(v).reduced_formula)
    return out


def _parse(cif: str):
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CifParser.from_str(cif).parse_structures(primitive=False)[0]


def analyse_row(row: PoolRow, max_atoms: int = 20) -> PoolEntry | tuple[str, str]:
    """Analyse one row; a ``(source, reason)`` pair when it cannot be used (never raises)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen warns about noble-gas electronegativities etc.
            return _analyse(row, max_atoms)
    except Exception as exc:  # noqa: BLE001 - pymatgen/spglib raise many types on odd CIFs
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (row.source, msg[:160])


def _analyse(row: PoolRow, max_atoms: int) -> PoolEntry | tuple[str, str]:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    if not row.cif.strip():
        return (row.source, "empty CIF")
    s = _parse(row.cif)
    from pxrdsolve.io.structures import StructureError, check_cell

    try:
        check_cell(s)  # spglib crashes the process on non-finite cells
    except StructureError as exc:
        return (row.source, str(exc))
    if not s.is_ordered:
        return (row.source, "disordered structure")
    if len(s) > max_atoms:
        return (row.source, f"too many atoms ({len(s)} > {max_atoms})")
    comp = s.composition
    ds = SpacegroupAnalyzer(s, symprec=SYMPREC).get_symmetry_dataset()
    if ds is None:
        return (row.source, "spglib found no symmetry")
    amount = {el.symbol: int(round(n)) for el, n in comp.element_composition.items()}
    orbits = sorted(set(int(i) for i in ds.equivalent_atoms))
    wyckoff = " ".join(sorted(
        f"{amount[s[i].specie.symbol]}{ds.wyckoffs[i]}" for i in orbits
    ))
    return PoolEntry(
        material_id=row.material_id,
        formula=comp.reduced_formula,
        anonymous_formula=comp.anonymized_formula,
        natoms=len(s),
        space_group=int(ds.number),
        wyckoff=wyckoff,
        shape=shape_bucket(np.asarray(ds.std_lattice, dtype=float)),
        lattice=np.asarray(s.lattice.matrix, dtype=np.float32),
        frac=np.mod(np.asarray(s.frac_coords, dtype=float), 1.0).astype(np.float32),
        atomic_numbers=np.asarray([site.specie.Z for site in s], dtype=np.uint8),
        volume_per_atom=float(s.volume) / len(s),
    )


def shape_bucket(lattice: np.ndarray) -> tuple[int, ...]:
    """Bucket of a (conventional) cell's shape: b/a and c/a on a log scale of ~5 %, angles per 3°."""
    lengths = np.linalg.norm(lattice, axis=1)
    a, b, c = lengths
    cos = [np.dot(lattice[1], lattice[2]) / (b * c), np.dot(lattice[0], lattice[2]) / (a * c),
           np.dot(lattice[0], lattice[1]) / (a * b)]
    angles = [math.degrees(math.acos(float(np.clip(x, -1, 1)))) for x in cos]
    step = math.log1p(SHAPE_TOLERANCE)
    return (round(math.log(b / a) / step), round(math.log(c / a) / step),
            *(round(x / ANGLE_BUCKET_DEG) for x in angles))
