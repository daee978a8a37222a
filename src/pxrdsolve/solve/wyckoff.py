"""Wyckoff positions of the 230 space groups (standard settings), from a small shipped table.

The table ``pxrdsolve/data/wyckoff_positions.json`` holds, per space group, the spglib Hall number
of its setting (ITA standard: unique axis b, origin choice 2, hexagonal axes for R groups) and, per
Wyckoff position, its letter, multiplicity (atoms per *conventional* cell) and one representative
coordinate triplet such as ``"x, 1/4, z"``.  The symmetry operations come from spglib's database
(``get_symmetry_from_database(hall)``); the orbit of a position is the set of images of its
representative, of which the ``multiplicity`` distinct ones are kept as coset representatives.
The table was made from pyxtal's data by :func:`build_wyckoff_table` (pyxtal is needed only for
that, never at solve time).  Fractional coordinates throughout; no Cartesian units here.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

import numpy as np

from pxrdsolve.structure.template import crystal_system

TABLE_NAME = "wyckoff_positions.json"
TABLE_FORMAT = 1
CENTERING_FACTOR = {"P": 1, "A": 2, "B": 2, "C": 2, "I": 2, "F": 4, "R": 3}
_TERM = re.compile(r"([+-]?)(\d*(?:/\d+)?)\*?([xyz]?)")


@dataclass(frozen=True, eq=False)
class WyckoffPosition:
    """One Wyckoff position: ``frac = affine[:, :3] @ (x, y, z) + affine[:, 3]`` for its representative,
    and its ``multiplicity`` images ``rotations[k] @ frac + translations[k]`` (mod 1); the coset
    representatives are found on first use (a ValueError then if the table and spglib disagree)."""

    letter: str
    multiplicity: int  # atoms per conventional cell
    representative: str  # e.g. "x, 1/4, z"
    affine: np.ndarray  # (3, 4)
    dof: int  # free coordinates (rank of affine[:, :3])
    group_rotations: np.ndarray  # (n_ops, 3, 3) int, the space group's operations
    group_translations: np.ndarray  # (n_ops, 3)

    @functools.cached_property
    def _cosets(self) -> tuple[np.ndarray, np.ndarray]:
        return _coset_representatives(self.affine, self.group_rotations, self.group_translations, self.multiplicity)

    @property
    def rotations(self) -> np.ndarray:
        """(m, 3, 3) operations giving the orbit's distinct images (computed on first use)."""
        return self._cosets[0]

    @property
    def translations(self) -> np.ndarray:
        """(m, 3) translations of :attr:`rotations`."""
        return self._cosets[1]

    @property
    def label(self) -> str:
        """ITA label, e.g. ``"4a"``."""
        return f"{self.multiplicity}{self.letter}"

    def orbit(self, params: np.ndarray) -> np.ndarray:
        """(K, m, 3) fractional coordinates in [0, 1) of the orbits of ``params`` (K, 3) (free x, y, z)."""
        rep = params @ self.affine[:, :3].T + self.affine[:, 3]  # (K, 3)
        images = np.einsum("mij,kj->kmi", self.rotations, rep) + self.translations[None]
        return np.mod(images, 1.0)


@dataclass(frozen=True, eq=False)
class SpaceGroupData:
    """A space group in its standard setting: operations of the conventional cell and Wyckoff positions
    (general position first, as in the International Tables)."""

    number: int
    hall_number: int
    symbol: str  # Hermann–Mauguin, spglib's short form
    centering: str  # first letter of the symbol: P, A, B, C, I, F or R
    rotations: np.ndarray  # (n_ops, 3, 3) int
    translations: np.ndarray  # (n_ops, 3)
    positions: tuple[WyckoffPosition, ...]

    @property
    def crystal_system(self) -> str:
        return crystal_system(self.number)

    @property
    def centering_factor(self) -> int:
        """Lattice points per conventional cell (conventional / primitive atom count)."""
        return CENTERING_FACTOR[self.centering]


def parse_triplet(text: str) -> np.ndarray:
    """(3, 4) affine matrix of a coordinate triplet such as ``"x, -x+1/2, 1/4"`` or ``"2x, x, z"``."""
    rows = [r.strip().replace(" ", "") for r in text.split(",")]
    if len(rows) != 3:
        raise ValueError(f"bad coordinate triplet {text!r}")
    out = np.zeros((3, 4))
    for i, row in enumerate(rows):
        pos = 0
        while pos < len(row):
            m = _TERM.match(row, pos)
            if m is None or m.end() == pos:
                raise ValueError(f"bad coordinate triplet {text!r}")
            sign, num, var = m.groups()
            pos = m.end()
            value = 1.0 if num == "" else (float(num.split("/")[0]) / float(num.split("/")[1]) if "/" in num
                                            else float(num))
            value = -value if sign == "-" else value
            out[i, "xyz".index(var) if var else 3] += value
    return out


def _coset_representatives(affine: np.ndarray, rotations: np.ndarray, translations: np.ndarray,
                           multiplicity: int) -> tuple[np.ndarray, np.ndarray]:
    """The first operation of each distinct image of the representative at a generic point."""
    generic = np.array([0.1234567, 0.2718281, 0.3141592])
    rep = affine[:, :3] @ generic + affine[:, 3]
    images = np.mod(np.einsum("mij,j->mi", rotations, rep) + translations, 1.0)
    keep: list[int] = []
    for k, x in enumerate(images):
        d = x[None] - images[keep] if keep else np.zeros((0, 3))
        if not np.any(np.all(np.abs(d - np.round(d)) < 1e-6, axis=1)):
            keep.append(k)
    if len(keep) != multiplicity:
        raise ValueError(f"orbit has {len(keep)} images, table says {multiplicity}")
    return rotations[keep], translations[keep]


@functools.lru_cache(maxsize=1)
def _table() -> list:
    from importlib.resources import files

    data = json.loads((files("pxrdsolve.data") / TABLE_NAME).read_text())
    if data.get("format_version") != TABLE_FORMAT or len(data["groups"]) != 230:
        raise ValueError(f"{TABLE_NAME}: unsupported Wyckoff table")
    return data["groups"]


@functools.lru_cache(maxsize=256)
def space_group_data(number: int) -> SpaceGroupData:
    """Operations and Wyckoff positions of space group ``number`` in its standard setting (cached)."""
    import spglib

    if not 1 <= int(number) <= 230:
        raise ValueError(f"space group number {number} outside 1–230")
    hall, entries = _table()[int(number) - 1]
    ops = spglib.get_symmetry_from_database(int(hall))
    rot, trans = np.asarray(ops["rotations"], dtype=np.int64), np.asarray(ops["translations"], dtype=float)
    sg_type = spglib.get_spacegroup_type(int(hall))
    symbol = str(sg_type.international_short if hasattr(sg_type, "international_short")
                 else sg_type["international_short"])
    positions = []
    for letter, mult, triplet in entries:
        affine = parse_triplet(triplet)
        positions.append(WyckoffPosition(letter, int(mult), triplet, affine,
                                         int(np.linalg.matrix_rank(affine[:, :3])), rot, trans))
    return SpaceGroupData(int(number), int(hall), symbol, symbol[0], rot, trans, tuple(positions))


def build_wyckoff_table() -> dict:
    """The content of ``wyckoff_positions.json`` from pyxtal's Wyckoff data (needs pyxtal; build time only)."""
    import warnings

    import pyxtal
    from pyxtal.symmetry import Group

    groups = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for number in range(1, 231):
            g = Group(number)
            groups.append([int(g.hall_number), [[w.letter, int(w.multiplicity), w.ops[0].as_xyz_str()]
                                                for w in g.Wyckoff_positions]])
    return {"format_version": TABLE_FORMAT,
            "source": f"pyxtal {pyxtal.__version__} Group(n).Wyckoff_positions (letter, multiplicity, first "
                      "coordinate triplet) and Group(n).hall_number; operations from spglib's database",
            "groups": groups}
