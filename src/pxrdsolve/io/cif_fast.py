"""Fast CIF reading: gemmi tokenises, numpy expands the symmetry exactly as pymatgen's ``CifParser`` does.

``parse_cif_fast(text)`` returns the lattice (Å, rows a, b, c), fractional coordinates, atomic numbers,
occupancies and pymatgen's reduced formula of the structure that
``CifParser.from_str(text).parse_structures(primitive=False)[0]`` would give: same lattice matrix
(``Lattice.from_parameters``), same sites in the same order (a site with several species gives one
atom per species), same occupancies, bit for bit.  The rules reproduced are pymatgen's:

* numbers lose their uncertainty brackets (``1.234(5)``); fractional coordinates within 10⁻⁴
  (relative) of 1/3 or 2/3 become exactly 1/3 or 2/3; a missing or ``?`` occupancy is 1 and sites
  with occupancy ≤ 0 are dropped;
* a site whose position is a symmetry image (within 10⁻⁴ fractional, periodic) of an earlier site
  joins that site (a disordered site);
* sites are grouped by composition, each site is expanded by every symmetry operation (wrapped into
  [0, 1)) and images within 10⁻⁴ of an earlier image of its group are dropped; finally sites are
  sorted (stably) by the average Pauling electronegativity of their species.

Anything outside the plain case (several data blocks, magnetic CIFs, no explicit symmetry
operations, oxidation-state tables, symbols that are not plain element symbols, occupancies summing
above 1, no cell) returns ``None`` so that the caller falls back to pymatgen itself.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from itertools import groupby

import numpy as np

SITE_TOLERANCE = 1e-4  # pymatgen CifParser site_tolerance (fractional)
FRAC_TOLERANCE = 1e-4  # pymatgen CifParser frac_tolerance
_AMOUNT_TOLERANCE = 1e-8  # pymatgen Composition.amount_tolerance
_SYMOP_TAGS = ("_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz")
_MAGNETIC = ("_space_group_magn", "_atom_site_moment", "_space_group_symop_magn")
_SPECIAL = re.compile("Hw|Ow|Wat|wat|OH|OH2|NO3")
_SYMBOL = re.compile(r"[A-Z][a-z]?(?:\d+[+-]?|[+-]\d*)?$")
_BRACKETS = re.compile(r"\(.+\)*")


class FastParseUnsupported(Exception):
    """The CIF needs pymatgen's own parser (not an error of the file)."""


def str2float(text: str) -> float:
    """A CIF number without its uncertainty bracket (pymatgen's ``str2float``: ``.`` is 0)."""
    try:
        return float(_BRACKETS.sub("", text))
    except ValueError:
        if text.strip() == ".":
            return 0.0
        raise


@lru_cache(maxsize=1)
def _elements() -> dict[str, tuple[int, float]]:
    """Symbol → (Z, Pauling electronegativity) from pymatgen's periodic table (NaN-free entries only)."""
    import warnings

    from pymatgen.core.periodic_table import Element

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for el in Element:
            x = el.X
            if x == x and el.Z <= 103:
                out[el.symbol] = (int(el.Z), float(x))
    return out


@lru_cache(maxsize=1)
def _electronegativities() -> dict[str, float]:
    return {s: v[1] for s, v in _elements().items()}


@lru_cache(maxsize=4096)
def _symops(xyz: tuple[str, ...]) -> np.ndarray:
    """(n, 4, 4) affine matrices of "x, y, z"-style operations (pymatgen ``SymmOp.from_xyz_str``)."""
    from pymatgen.core.operations import SymmOp

    return np.stack([SymmOp.from_xyz_str(s).affine_matrix for s in xyz])


def lattice_from_parameters(a: float, b: float, c: float, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """pymatgen's ``Lattice.from_parameters`` matrix (Å, rows a, b, c; c along z), same arithmetic."""
    angles_r = np.radians([alpha, beta, gamma])
    cos_alpha, cos_beta, cos_gamma = np.cos(angles_r)
    sin_alpha, sin_beta, sin_gamma = np.sin(angles_r)
    val = (cos_alpha * cos_beta - cos_gamma) / (sin_alpha * sin_beta)
    val = np.clip(val, -1, 1)
    gamma_star = np.arccos(val)
    vector_a = [a * sin_beta, 0.0, a * cos_beta]
    vector_b = [-b * sin_alpha * np.cos(gamma_star), b * sin_alpha * np.sin(gamma_star), b * cos_alpha]
    vector_c = [0.0, 0.0, float(c)]
    return np.array([vector_a, vector_b, vector_c], dtype=np.float64).reshape((3, 3))


def _value(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw.startswith(";"):
        return raw.strip(";").strip()
    return raw


@lru_cache(maxsize=4096)
def _symbol(raw: str) -> str:
    """pymatgen ``CifParser._parse_symbol`` for plain symbols (``Fe``, ``Fe2+``, ``O1``); else unsupported."""
    sym = _value(raw)
    if _SPECIAL.match(sym) or not _SYMBOL.match(sym) and not re.match(r"[A-Z][a-z]?\d+$", sym):
        raise FastParseUnsupported(sym)
    known = _elements()
    if sym[:2].title() in known:
        return sym[:2].title()
    if sym[0].upper() in known:
        return sym[0].upper()
    raise FastParseUnsupported(sym)


def _operate(affine: np.ndarray, point) -> np.ndarray:
    """``SymmOp.operate`` of every operation on one point: (n_ops, 3).  One ``np.dot`` per operation,
    as pymatgen: a stacked product rounds multi-term rows (``x-y+1/3``) differently."""
    p = np.array([*point, 1])
    return np.array([np.dot(op, p)[:3] for op in affine])


def _close_pbc(coords: np.ndarray, point: np.ndarray) -> np.ndarray:
    """pymatgen ``find_in_coord_list_pbc`` test: which rows of ``coords`` lie within the tolerance."""
    d = coords - point
    d -= np.round(d)
    return np.all(np.abs(d) < SITE_TOLERANCE, axis=-1)


class _Comp:
    """A site composition ordered as pymatgen's ``Composition`` (``a < b`` is ``not a >= b``)."""

    __slots__ = ("amounts", "xs")

    def __init__(self, amounts: dict[str, float], xs: dict[str, float]) -> None:
        self.amounts = amounts
        self.xs = xs

    def __ge__(self, other: _Comp) -> bool:
        els = sorted(set(self.amounts) | set(other.amounts), key=lambda s: (self.xs[s], s))
        for el in els:
            a, b = self.amounts.get(el, 0.0), other.amounts.get(el, 0.0)
            if b - a >= _AMOUNT_TOLERANCE:
                return False
            if a - b >= _AMOUNT_TOLERANCE:
                return True
        return True

    def __lt__(self, other: _Comp) -> bool:
        return not self >= other

    def __eq__(self, other: object) -> bool:  # pymatgen: same elements, amounts within tolerance
        if not isinstance(other, _Comp):
            return NotImplemented
        if len(self.amounts) != len(other.amounts):
            return False
        return all(abs(v - other.amounts.get(e, 0.0)) <= _AMOUNT_TOLERANCE for e, v in self.amounts.items())

    __hash__ = None  # type: ignore[assignment]

    def site_key(self) -> tuple[float, str]:
        """pymatgen's site order: average electronegativity, then the species string."""
        total = sum(abs(v) for v in self.amounts.values())
        x = sum(self.xs[el] * abs(v) for el, v in self.amounts.items()) / total
        if total == 1 and len(self.amounts) == 1:
            return x, next(iter(self.amounts))
        els = sorted(self.amounts, key=lambda s: (self.xs[s], s))
        return x, ", ".join(f"{el}:{self.amounts[el]:.3}" for el in els)


def parse_cif_fast(text: str):
    """(lattice (3, 3) Å, frac (n, 3), Z (n,), occupancy (n,), reduced formula), or ``None`` when the
    file needs pymatgen's parser (see the module docstring); raises nothing on odd files."""
    try:
        return _parse(text)
    except (FastParseUnsupported, ValueError, RuntimeError, IndexError, KeyError, OverflowError, ZeroDivisionError):
        return None


def _parse(text: str):
    import gemmi

    doc = gemmi.cif.read_string(text)
    if len(doc) != 1 or "powder_pattern" in doc[0].name:
        raise FastParseUnsupported("blocks")
    block = doc[0]
    if any(p in text for p in _MAGNETIC):  # pymatgen's magnetic-CIF test looks for these in tag names
        raise FastParseUnsupported("magnetic")
    if block.find_values("_atom_type_oxidation_number"):
        raise FastParseUnsupported("oxidation states")
    cell = [block.find_value(f"_cell_length_{x}") for x in "abc"] + [
        block.find_value(f"_cell_angle_{x}") for x in ("alpha", "beta", "gamma")]
    if any(v is None for v in cell):
        raise FastParseUnsupported("cell")
    lattice = lattice_from_parameters(*(str2float(_value(v)) for v in cell))
    xyz = None
    for tag in _SYMOP_TAGS:
        col = _loop_columns(block, tag)
        if col is not None:
            xyz = tuple(_value(v) for v in col[tag])
            break
    if xyz is None:
        raise FastParseUnsupported("no symmetry operations")
    ops = _symops(xyz)
    cols = _loop_columns(block, "_atom_site_label")
    if cols is None or not all(f"_atom_site_fract_{t}" in cols for t in "xyz"):
        raise FastParseUnsupported("atom sites")
    n_rows = len(cols["_atom_site_label"])
    symbols = cols.get("_atom_site_type_symbol") or cols["_atom_site_label"]
    els = [_symbol(sym) for sym in symbols]
    occ = _occupancies(cols.get("_atom_site_occupancy"), n_rows)
    frac = np.stack([_floats(cols[f"_atom_site_fract_{t}"]) for t in ("x", "y", "z")], axis=1)
    for c in (1 / 3, 2 / 3):  # pymatgen: math.isclose(v / c, 1, abs_tol=1e-4, rel_tol=0) → exactly c
        frac[np.abs(frac / c - 1) <= FRAC_TOLERANCE] = c
    keep = occ > 0
    els = [e for e, k in zip(els, keep) if k]
    occ, frac = np.maximum(occ[keep], 1e-8), frac[keep]
    if not els:
        raise FastParseUnsupported("no sites")
    coords, comps = _merge_sites(ops, frac, els, occ)
    known = _elements()
    all_coords, all_comps = _expand(ops, coords, comps)
    keys: dict[tuple, tuple[float, str]] = {}  # one key per distinct composition (same items, same bits)

    def site_key(i: int) -> tuple[float, str]:
        comp = all_comps[i]
        items = tuple(comp.amounts.items())
        key = keys.get(items)
        if key is None:
            key = keys[items] = comp.site_key()
        return key

    order = sorted(range(len(all_comps)), key=site_key)
    z, frac_out, occ_out = [], [], []
    totals: dict[str, float] = {}
    for i in order:
        for el, amt in all_comps[i].amounts.items():
            z.append(known[el][0])
            frac_out.append(all_coords[i])
            occ_out.append(amt)
            totals[el] = totals.get(el, 0.0) + amt
    return (lattice, np.array(frac_out, dtype=float).reshape(-1, 3), np.array(z), np.array(occ_out, dtype=float),
            _reduced_formula(tuple(totals.items())))


def _loop_columns(block, tag: str) -> dict[str, list[str]] | None:
    """The columns (raw values) of the loop holding ``tag``, by exact tag name; ``None`` when the tag
    is absent or not in a loop (pymatgen reads those differently)."""
    col = block.find_loop(tag)
    loop = col.get_loop()
    if loop is None:
        if len(col) or block.find_value(tag) is not None:
            raise FastParseUnsupported(f"{tag} outside a loop")
        return None
    tags = list(loop.tags)
    if tag not in tags:
        raise FastParseUnsupported("tag case")
    values, width = loop.values, len(tags)
    return {t: values[i::width] for i, t in enumerate(tags)}


@lru_cache(maxsize=65536)
def _reduced_formula(totals: tuple[tuple[str, float], ...]) -> str:
    from pymatgen.core import Composition

    return Composition(dict(totals)).reduced_formula


def _floats(col: list[str]) -> np.ndarray:
    """CIF numbers of a loop column (quotes and uncertainty brackets dropped, ``.`` = 0), as pymatgen
    reads them."""
    try:
        return np.array(col, dtype=float)
    except ValueError:
        return np.array([str2float(_value(v)) for v in col], dtype=float)


def _occupancies(col: list[str] | None, n: int) -> np.ndarray:
    """Occupancy of each row: missing or unreadable (``?``) values are 1, as in pymatgen."""
    if col is None:
        return np.ones(n)
    try:
        return _floats(col)
    except ValueError:
        out = np.ones(n)
        for i, v in enumerate(col):
            try:
                out[i] = str2float(_value(v))
            except ValueError:
                pass
        return out


def _images(ops: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n_points, n_ops, 3) images, for tolerance decisions only (stacked arithmetic may differ from
    pymatgen's in the last bit; stored coordinates come from :func:`_operate`)."""
    return np.einsum("oij,sj->soi", ops[:, :3, :3], points) + ops[:, :3, 3]


def _merge_sites(ops: np.ndarray, frac: np.ndarray, els: list[str], occ: np.ndarray):
    """Rows whose position is a symmetry image of an earlier row's join it (pymatgen's
    ``get_matching_coord``): (coordinates of the sites, their compositions)."""
    xs = _electronegativities()
    n = len(els)
    if n * n * len(ops) <= 2_000_000:
        close = _close_pbc(frac[None, None, :, :], _images(ops, frac)[:, :, None, :])  # (i, op, j)
        lower = np.tril(np.ones((n, n), dtype=bool), -1)
        if not (close.any(axis=1) & lower).any():  # no row falls on an earlier one: every row is a site
            return frac, [_Comp({e: o}, xs) for e, o in zip(els, occ.tolist())]
    site_coords: list[tuple[float, float, float]] = []
    site_comp: list[_Comp] = []
    for el, amount, coord in zip(els, occ.tolist(), frac.tolist()):
        match = _matching_site(ops, site_coords, coord)
        if match is None:
            site_coords.append(tuple(coord))
            site_comp.append(_Comp({el: amount}, xs))
        else:
            amounts = dict(site_comp[match].amounts)
            amounts[el] = amounts.get(el, 0.0) + amount
            site_comp[match] = _Comp(amounts, xs)
    return np.array(site_coords, dtype=float).reshape(-1, 3), site_comp


def _expand(ops: np.ndarray, coords: list, comps: list[_Comp]):
    """Sites grouped by composition (pymatgen's sort and groupby) and expanded by the symmetry
    operations without duplicates: (coordinates, composition of each)."""
    for comp in comps:
        if sum(comp.amounts.values()) > 1.0:
            raise FastParseUnsupported("occupancy above 1")
    order = _composition_order(comps)
    if len(ops) == 1 and np.array_equal(ops[0], np.eye(4)):
        # identity only: images are the sites themselves, and _merge_sites left no two within tolerance
        wrapped = coords - np.floor(coords)
        return [wrapped[i] for i in order], [comps[i] for i in order]
    all_coords: list[np.ndarray] = []
    all_comps: list[_Comp] = []
    for comp, group in groupby(order, key=lambda i: comps[i]):
        unique = _unique_images(ops, [coords[i] for i in group])
        all_coords += unique
        all_comps += [comp] * len(unique)
    return all_coords, all_comps


def _composition_order(comps: list[_Comp]) -> list[int]:
    """Indices of ``comps`` in pymatgen's (stable) composition sort.  Single-species sites sort by
    element, most electronegative first, then by amount: a key does it unless two amounts of one
    element are unequal but within the tolerance (then the pairwise comparisons decide)."""
    if all(len(c.amounts) == 1 for c in comps):
        items = [next(iter(c.amounts.items())) for c in comps]
        by_el: dict[str, set[float]] = {}
        for el, amt in items:
            by_el.setdefault(el, set()).add(amt)
        if all(_separated(v) for v in by_el.values()):
            xs = comps[0].xs
            return sorted(range(len(comps)), key=lambda i: (-xs[items[i][0]], _Desc(items[i][0]), items[i][1]))
    return sorted(range(len(comps)), key=lambda i: comps[i])


def _separated(amounts: set[float]) -> bool:
    v = sorted(amounts)
    return all(b - a > _AMOUNT_TOLERANCE for a, b in zip(v, v[1:]))


class _Desc(str):
    """A string that sorts in reverse (elements of equal electronegativity: larger symbol first)."""

    __slots__ = ()

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)


def _ideal(v: float) -> float:
    """pymatgen rounds coordinates within ``FRAC_TOLERANCE`` (relative) of 1/3 or 2/3 to those values."""
    for c in (1 / 3, 2 / 3):
        if math.isclose(v / c, 1, abs_tol=FRAC_TOLERANCE, rel_tol=0):
            return float(str(c))
    return v


def _matching_site(ops: np.ndarray, site_coords: list, coord) -> int | None:
    """Index of the earlier site that some symmetry image of ``coord`` falls on (first operation, first
    site), as pymatgen's ``get_matching_coord``."""
    if not site_coords:
        return None
    images = _operate(ops, coord)  # (n_ops, 3)
    close = _close_pbc(np.asarray(site_coords)[None, :, :], images[:, None, :])  # (n_ops, n_sites)
    hit = np.nonzero(close.any(axis=1))[0]
    if not hit.size:
        return None
    return int(np.nonzero(close[hit[0]])[0][0])


def _unique_images(ops: np.ndarray, coords: list) -> list[np.ndarray]:
    """Every symmetry image of each coordinate, wrapped to [0, 1), without images within the site
    tolerance of an earlier kept one (pymatgen ``CifParser._unique_coords``, same order and bits)."""
    pts = np.asarray(coords, dtype=float)
    identity = len(ops) == 1 and np.array_equal(ops[0], np.eye(4))
    m = len(pts) * len(ops)
    if m <= 1500:
        approx = pts if identity else _images(ops, pts).reshape(-1, 3)
        approx = approx - np.floor(approx)
        close = _close_pbc(approx[None, :, :], approx[:, None, :]) & np.tril(np.ones((m, m), dtype=bool), -1)
        first = ~close.any(axis=1)  # images close to no earlier image
        # greedy keeps exactly these when each other image is close to one of them
        if close[~first][:, first].any(axis=1).all():
            idx = np.nonzero(first)[0]
            if identity:
                return list(approx[idx])
            exact = np.array([np.dot(ops[i % len(ops)], [*pts[i // len(ops)], 1])[:3] for i in idx])
            return list(exact - np.floor(exact))
    images = np.concatenate([_operate(ops, c) for c in coords])
    images = images - np.floor(images)
    out: list[np.ndarray] = []
    kept = np.empty((len(images), 3))
    for p in images:
        if out and _close_pbc(kept[: len(out)], p).any():
            continue
        kept[len(out)] = p
        out.append(p)
    return out
