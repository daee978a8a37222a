"""Priors of the direct-space source, counted from the prototype library's training pool.

The library (built from the training pool: MP-2025 ≤ 20 sites without MP-20 test rows and PXRDNet
test ids) stores one entry per prototype shape bucket with ``prototype_count``, the number of pool
structures of its prototype (anonymous formula, atoms per cell, space group, Wyckoff key).  Summing
that count once per distinct prototype gives exact pool frequencies of space groups:

* per anonymous formula and atoms per cell (``ABC3`` with 5 atoms),
* per anonymous formula (any cell size),
* per number of elements (the stoichiometry class: binary, ternary …),
* over the whole pool.

A library with some prototypes removed (the prototype-held-out split) gives a prior without them.
Cell shapes of the pool per space group (conventional a, b, c in Å, α, β, γ in degrees) come from
spglib standardisation of library entries.  numpy + spglib only.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from pxrdsolve.library.store import PrototypeLibrary


@dataclass(frozen=True, eq=False)
class PoolCounts:
    """Pool structure counts: ``by_anon[anon][(natoms, sg)]``, ``by_nel[n_elements]`` (231,), ``total`` (231,)."""

    by_anon: dict[str, dict[tuple[int, int], int]]
    by_nel: dict[int, np.ndarray]
    total: np.ndarray


def _n_elements(anonymous_formula: str) -> int:
    return sum(ch.isupper() for ch in anonymous_formula)


@functools.lru_cache(maxsize=4)
def pool_counts(library: PrototypeLibrary) -> PoolCounts:
    """Space-group counts of the library's pool (each prototype counted once, with its pool count)."""
    ent = library.entries
    seen: set[tuple[str, int, int, str]] = set()
    by_anon: dict[str, dict[tuple[int, int], int]] = {}
    by_nel: dict[int, np.ndarray] = {}
    total = np.zeros(231)
    for anon, nat, sg, wy, cnt in zip(ent["anonymous_formula"].tolist(), ent["natoms"].tolist(),
                                      ent["space_group"].tolist(), ent["wyckoff"].tolist(),
                                      ent["prototype_count"].tolist()):
        key = (anon, int(nat), int(sg), wy)
        if key in seen:
            continue
        seen.add(key)
        d = by_anon.setdefault(anon, {})
        d[(int(nat), int(sg))] = d.get((int(nat), int(sg)), 0) + int(cnt)
        by_nel.setdefault(_n_elements(anon), np.zeros(231))[int(sg)] += cnt
        total[int(sg)] += cnt
    return PoolCounts(by_anon, by_nel, total)


LEVEL_WEIGHTS = (0.5, 0.2, 0.2, 0.1)  # exact cell size, anonymous formula, stoichiometry class, whole pool


def space_group_prior(library: PrototypeLibrary, anonymous_formula: str, pairs: list[tuple[int, int, int]],
                      temperature: float = 1.0) -> np.ndarray:
    """Probabilities (P,) of ``pairs`` = (space group, Z, atoms per primitive cell).

    A mixture (:data:`LEVEL_WEIGHTS`) of the pool frequency of (space group, atoms) for this anonymous
    formula, of the space group for this formula at any size, for formulas with as many elements, and
    over the pool (add-one smoothed, so every feasible pair keeps some weight); levels with no pool
    structure among ``pairs`` drop out.  Below the exact level, Z has a 1/Z prior (small cells are
    commoner).  The mixture is raised to ``temperature`` (< 1 flattens it: more space groups tried).
    """
    if not pairs:
        return np.zeros(0)
    counts = pool_counts(library)
    anon = counts.by_anon.get(anonymous_formula, {})
    sg = np.array([p[0] for p in pairs])
    z = np.array([p[1] for p in pairs], dtype=float)
    exact = np.array([anon.get((p[2], p[0]), 0) for p in pairs], dtype=float)
    per_sg: dict[int, float] = {}
    for (_, s), c in anon.items():
        per_sg[s] = per_sg.get(s, 0) + c
    z_prior = 1.0 / z
    levels = [exact,
              np.array([per_sg.get(int(s), 0.0) for s in sg]) * z_prior,
              counts.by_nel.get(_n_elements(anonymous_formula), np.zeros(231))[sg] * z_prior,
              (counts.total[sg] + 1.0) * z_prior]
    mix = np.zeros(len(pairs))
    weight = 0.0
    for lam, lev in zip(LEVEL_WEIGHTS, levels):
        if lev.sum() > 0:
            mix += lam * lev / lev.sum()
            weight += lam
    mix = (mix / weight) ** float(temperature)
    return mix / mix.sum()


@functools.lru_cache(maxsize=64)
def _shapes_cached(library: PrototypeLibrary, space_group: int, limit: int) -> np.ndarray:
    import spglib

    idx = np.flatnonzero(library.entries["space_group"] == int(space_group))
    if len(idx) > limit:  # a fixed, evenly spaced subset: deterministic
        idx = idx[np.linspace(0, len(idx) - 1, limit).round().astype(np.int64)]
    out = []
    for i in idx.tolist():
        frac, z = library.sites(i)
        cell = (library.entries["lattice"][i].astype(float), frac.astype(float), z.astype(np.int64))
        try:
            ds = spglib.get_symmetry_dataset(cell, symprec=0.1)
        except Exception:  # noqa: BLE001 - spglib raises on degenerate cells
            continue
        if ds is None or int(ds.number) != int(space_group):
            continue
        out.append(cell_parameters(np.asarray(ds.std_lattice, dtype=float)))
    return np.array(out).reshape(-1, 6)


def pool_cell_shapes(library: PrototypeLibrary, space_group: int, limit: int = 16) -> np.ndarray:
    """(S, 6) conventional cells (a, b, c Å; α, β, γ degrees) of up to ``limit`` pool entries of this space group."""
    return _shapes_cached(library, int(space_group), int(limit))


def cell_parameters(lattice: np.ndarray) -> np.ndarray:
    """a, b, c (Å), α, β, γ (degrees) of a row-vector cell (3, 3)."""
    lengths = np.linalg.norm(lattice, axis=1)
    a, b, c = lattice

    def ang(u: np.ndarray, v: np.ndarray, nu: float, nv: float) -> float:
        return math.degrees(math.acos(float(np.clip(np.dot(u, v) / (nu * nv), -1.0, 1.0))))

    return np.array([*lengths, ang(b, c, lengths[1], lengths[2]), ang(a, c, lengths[0], lengths[2]),
                     ang(a, b, lengths[0], lengths[1])])


def lattice_from_parameters(p: np.ndarray) -> np.ndarray:
    """Row-vector cell (3, 3) Å from a, b, c (Å), α, β, γ (degrees): a along x, b in the xy plane.
    Raises ValueError for angles that make no cell."""
    a, b, c = p[:3]
    al, be, ga = np.deg2rad(p[3:])
    cx = c * math.cos(be)
    cy = c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
    cz2 = c * c - cx * cx - cy * cy
    if not cz2 > 1e-6 * c * c:
        raise ValueError("angles make no cell")
    return np.array([[a, 0.0, 0.0], [b * math.cos(ga), b * math.sin(ga), 0.0], [cx, cy, math.sqrt(cz2)]])
