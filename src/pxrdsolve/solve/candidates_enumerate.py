"""Enumerated direct-space candidates: every Wyckoff arrangement with few free coordinates, systematically.

Random symmetric structures (:mod:`~pxrdsolve.solve.candidates_direct`) rarely land close enough to
the answer for the refinement (±0.3 Å per coordinate) to reach it, and they spread their draws over
many space groups.  But most small inorganic structures have few free coordinates: rock salt, Heusler,
Cu3Au, A15, CaCu5, Laves, fluorite have none or one.  This source enumerates them exhaustively:

1. (space group, Z) pairs whose Wyckoff multiplicities can make the formula's atom counts (the same
   feasibility test and pool prior as the random source).
2. Every Wyckoff assignment of the elements with at most ``max_free`` free coordinates in all (a
   position without free coordinates at most once), by backtracking; at most
   ``max_assignments_per_pair`` per pair.
3. Cell shapes: cubic has one; tetragonal, trigonal and hexagonal cells take the c/a ratios of the pool
   structures of that space group at evenly spaced quantiles, then (where the pool has fewer than two) a
   c/a ladder (``axial_ratios`` × 1 or 1.6); the other systems take the pool shapes (deduplicated within
   ``shape_tolerance``); fewer the more free coordinates the assignment has (``axial_shapes_per_free``,
   ``shapes_per_free``).
   The volume is the per-element volume estimate; the refinement's volume scan and cell steps adjust
   it (±20 % in each length), so the ladder's steps need only be that fine.
4. Free coordinates on a grid of ``grid_per_free[f]`` points per coordinate ((k + ½)/n: no special
   values), kept when every distance is ≥ ``distance_factor`` × (r_i + r_j).
5. spglib (symprec 10⁻³) must find the requested space group at the first valid grid point (else the
   assignment belongs to a higher group, which is enumerated on its own); structures whose stick
   patterns coincide (symmetry-equivalent assignments such as 4a/4b in Fm-3m, equivalent grid points)
   are kept once.

Each assignment's weight per structure is the pair's prior shared among the pair's assignments and the
assignment's nominal shapes and grid points; assignments are built heaviest first until ``n_candidates``
distinct structures are found (or ``build_budget`` × that many were built).  No random numbers: the same
call gives the same list.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.library.store import PrototypeLibrary, load_library
from pxrdsolve.solve.candidates_direct import (
    _counts,
    _feasible_pairs,
    _min_distances,
    _primitive,
    _symmetrise,
    primitive_volume,
)
from pxrdsolve.solve.direct_prior import lattice_from_parameters, pool_cell_shapes, space_group_prior
from pxrdsolve.solve.formula import anonymous_formula
from pxrdsolve.solve.types import Candidate, Composition
from pxrdsolve.solve.wyckoff import SpaceGroupData, WyckoffPosition, space_group_data


@dataclass(frozen=True)
class EnumerateConfig:
    """Settings of the enumerated source (see module docstring)."""

    max_free: int = 2
    grid_per_free: tuple[int, ...] = (1, 12, 8)  # grid points per coordinate, by free coordinates in all
    shapes_per_free: tuple[int, ...] = (6, 3, 2)  # cell shapes per assignment, by free coordinates in all
    axial_shapes_per_free: tuple[int, ...] = (8, 5, 3)  # the same for tetragonal, trigonal and hexagonal cells
    axial_ratios: tuple[float, ...] = (1.0, 1.4, 0.7, 2.0, 0.5, 2.8)  # c/a ladder (× the ideal ratio)
    max_assignments_per_pair: int = 200
    distance_factor: float = 0.7
    shape_tolerance: float = 0.05
    symprec: float = 1e-3
    prior_temperature: float = 0.5  # the pool prior flattened: a held-out type has few relatives in the pool
    # pairs below this fraction of the likeliest pair's prior are skipped; chosen on 80 MP-20 validation rows
    # (benchmarks/enumeration_coverage.py): T = 0.5 and 1e-4 propose the right type at least as early as 1 and 1e-3
    min_relative_prior: float = 1e-4
    build_budget: float = 80.0  # coordinate sets tried per candidate returned, at most (distances, duplicates)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def enumerated_candidates(
    composition: Composition,
    n_candidates: int,
    *,
    volume_per_atom: float | None = None,
    space_groups: tuple[int, ...] | list[int] | None = None,
    max_atoms: int = 20,
    library: PrototypeLibrary | None = None,
    config: EnumerateConfig = EnumerateConfig(),
) -> list[Candidate]:
    """Up to ``n_candidates`` enumerated structures of ``composition`` (``source="direct"``, ``meta["method"]
    = "enumerated"``), heaviest prior first.  ``volume_per_atom`` (Å³) overrides the volume estimate;
    ``space_groups`` limits the space groups; ``max_atoms`` bounds the atoms per primitive cell."""
    if n_candidates <= 0:
        return []
    lib = load_library() if library is None else library
    pairs = _feasible_pairs(composition, space_groups, max_atoms, None)
    if not pairs:
        return []
    prior = space_group_prior(lib, anonymous_formula(composition.amounts), pairs, config.prior_temperature)
    # every assignment with its weight per structure (the pair's prior shared among its assignments,
    # and an assignment's among its nominal shapes and grid points); built heaviest first
    queue: list[tuple[float, int, list]] = []
    for k, (sg, z, _) in enumerate(pairs):
        if prior[k] < config.min_relative_prior * prior.max():
            continue
        data = space_group_data(sg)
        found = list(itertools.islice(assignments_of(data, _counts(composition, z), config.max_free),
                                      config.max_assignments_per_pair))
        for sites in found:
            free = sum(p.dof for _, p in sites)
            n_grid = config.grid_per_free[min(free, len(config.grid_per_free) - 1)]
            nominal = _n_shapes(data, free, config) * n_grid**free
            queue.append((float(prior[k]) / len(found) / nominal, k, sites))
    queue.sort(key=lambda t: -t[0])
    out: list[Candidate] = []
    seen: set[tuple] = set()
    tried = 0
    for weight, k, sites in queue:
        if len(out) >= n_candidates or tried >= config.build_budget * n_candidates:
            break
        sg, z, _ = pairs[k]
        structures, attempts = _structures(lib, space_group_data(sg), _counts(composition, z), sites,
                                           volume_per_atom, config)
        tried += attempts
        keys = fingerprints([r for r, _ in structures])
        for (record, meta), key in zip(structures, keys):
            if key in seen:
                continue
            seen.add(key)
            out.append(Candidate(record, "direct", f"enumerated #{len(out)} {composition.formula(z)} SG {sg} "
                                 f"({meta['symbol']}) {meta['wyckoff']}",
                                 {**meta, "z": z, "prior": float(prior[k]), "method": "enumerated",
                                  "weight": weight}))
            if len(out) >= n_candidates:
                break
    return out


def _n_shapes(data: SpaceGroupData, free: int, config: EnumerateConfig) -> int:
    if data.crystal_system == "cubic":
        return 1
    per = config.axial_shapes_per_free if data.crystal_system in _AXIAL else config.shapes_per_free
    return per[min(free, len(per) - 1)]


_AXIAL = ("tetragonal", "trigonal", "hexagonal")


def assignments_of(data: SpaceGroupData, counts: list[tuple[int, int]], max_free: int):
    """Yield every Wyckoff assignment (list of (atomic number, position)) of ``counts`` (atomic number,
    atoms per primitive cell) with at most ``max_free`` free coordinates: per element a multiset of
    positions (non-decreasing index) whose multiplicities make its count in the conventional cell."""
    f = data.centering_factor
    positions = [p for p in data.positions if p.dof <= max_free]
    order = sorted(range(len(counts)), key=lambda i: -counts[i][1])

    def per_element(remaining: int, start: int, used: frozenset, free: int):
        if remaining == 0:
            yield (), used, free
            return
        for j in range(start, len(positions)):
            p = positions[j]
            if p.multiplicity > remaining or free + p.dof > max_free or (p.dof == 0 and j in used):
                continue
            nxt = j + 1 if p.dof == 0 else j
            for rest, u, fr in per_element(remaining - p.multiplicity, nxt, used | {j} if p.dof == 0 else used,
                                           free + p.dof):
                yield (p,) + rest, u, fr

    def rec(i: int, used: frozenset, free: int):
        if i == len(order):
            yield ()
            return
        z, n = counts[order[i]]
        for chosen, u, fr in per_element(n * f, 0, used, free):
            for tail in rec(i + 1, u, fr):
                yield tuple((z, p) for p in chosen) + tail

    for sites in rec(0, frozenset(), 0):
        yield list(sites)


def _shapes(lib: PrototypeLibrary, data: SpaceGroupData, n_shapes: int, config: EnumerateConfig) -> list[np.ndarray]:
    """Up to ``n_shapes`` conventional cell shapes (a, b, c relative; angles in degrees)."""
    key = (id(lib), data.number, n_shapes, config.shape_tolerance, config.axial_ratios)
    if key not in _SHAPES:
        _SHAPES[key] = _make_shapes(lib, data, n_shapes, config)
    return _SHAPES[key]


_SHAPES: dict[tuple, list[np.ndarray]] = {}


def _make_shapes(lib: PrototypeLibrary, data: SpaceGroupData, n_shapes: int, config: EnumerateConfig
                 ) -> list[np.ndarray]:
    system = data.crystal_system
    if system == "cubic":
        return [np.array([1.0, 1, 1, 90, 90, 90])]
    out: list[np.ndarray] = []

    def add(s: np.ndarray) -> None:
        s = _symmetrise(system, s)
        s[:3] = s[:3] / s[0]
        if all(np.abs(np.log(s[1:3] / o[1:3])).max() > config.shape_tolerance or np.abs(s[3:] - o[3:]).max() > 2.0
               for o in out):
            out.append(s)

    pool = pool_cell_shapes(lib, data.number)
    if system in _AXIAL:
        ideal = 1.0 if system == "tetragonal" else 1.6
        gamma = 90.0 if system == "tetragonal" else 120.0
        ratios = np.sort(pool[:, 2] / pool[:, 0]) if len(pool) else np.zeros(0)
        if len(ratios) >= 2:  # the pool's c/a distribution, at evenly spaced quantiles
            for qtl in (np.arange(n_shapes) + 0.5) / n_shapes:
                add(np.array([1.0, 1.0, float(np.quantile(ratios, qtl)), 90.0, 90.0, gamma]))
        for r in config.axial_ratios:  # then the ladder, each kept when distinct
            add(np.array([1.0, 1.0, ideal * r, 90.0, 90.0, gamma]))
        return out[:n_shapes]
    for s in pool:
        add(s.copy())
    if not out:  # no pool structure in this group: a plain cell of the system
        beta = 100.0 if system == "monoclinic" else 90.0
        angles = (90.0, beta, 90.0) if system != "triclinic" else (90.0, 95.0, 90.0)
        add(np.array([1.0, 1.3, 1.6, *angles]))
    return out[:n_shapes]


def _grid(position: WyckoffPosition, n: int) -> np.ndarray:
    """(n^dof, 3) values of (x, y, z) on the (k + ½)/n grid for the free variables the position's
    coordinate triplet uses (e.g. z of ``0, 0, z``); the unused variables are 0."""
    used = np.flatnonzero(np.abs(position.affine[:, :3]).sum(axis=0) > 0)
    if len(used) == 0:
        return np.zeros((1, 3))
    axis = (np.arange(n) + 0.5) / n
    pts = np.zeros((n ** len(used), 3))
    pts[:, used] = np.array(list(itertools.product(axis, repeat=len(used))))
    return pts


def _structures(lib: PrototypeLibrary, data: SpaceGroupData, counts, sites: list[tuple[int, WyckoffPosition]],
                volume_per_atom: float | None, config: EnumerateConfig
                ) -> tuple[list[tuple[CrystalRecord, dict[str, Any]]], int]:
    """The structures of one assignment, (primitive record, meta) shape by shape, and the number of
    coordinate sets tried."""
    import spglib

    from pxrdsolve.elements import SYMBOLS

    free = sum(p.dof for _, p in sites)
    natoms = sum(n for _, n in counts)
    radius = lib.elements["radius"]
    volume = primitive_volume(lib, counts, volume_per_atom) * data.centering_factor
    free_sites = [(z, p) for z, p in sites if p.dof > 0]
    n_grid = config.grid_per_free[min(free, len(config.grid_per_free) - 1)]
    grids = [_grid(p, n_grid) for _, p in free_sites]
    combos = list(itertools.product(*[range(len(g)) for g in grids])) if grids else [()]
    fixed = np.concatenate([p.orbit(np.zeros((1, 3)))[0] for _, p in sites if p.dof == 0] or [np.zeros((0, 3))])
    fixed_z = np.concatenate([np.full(p.multiplicity, z) for z, p in sites if p.dof == 0] or [np.zeros(0, int)])
    zs = np.concatenate([fixed_z] + [np.full(p.multiplicity, z) for z, p in free_sites]).astype(np.int64)
    shapes = _shapes(lib, data, _n_shapes(data, free, config), config)
    labels = sorted(p.label for _, p in sites)
    out = []
    attempts = 0
    for shape in shapes:
        lat = lattice_from_parameters(shape)
        lat = lat * (volume / abs(np.linalg.det(lat))) ** (1.0 / 3.0)
        kept = []
        for combo in combos:
            attempts += 1
            parts = [fixed] + [p.orbit(grids[i][c][None])[0] for i, ((_, p), c) in enumerate(zip(free_sites, combo))]
            frac = np.concatenate(parts)
            if not _distances_ok(lat, frac, zs, radius, config.distance_factor):
                continue
            p_lat, p_frac, p_z = _primitive(lat, frac, zs, data.centering)
            if len(p_z) != natoms:
                continue
            if not kept:  # the first valid point decides whether the assignment has this group
                ds = spglib.get_symmetry_dataset((p_lat, p_frac, p_z), symprec=config.symprec)
                if ds is None or int(ds.number) != data.number:
                    break
            kept.append((p_lat, p_frac, p_z))
        for p_lat, p_frac, p_z in kept:
            record = CrystalRecord(p_lat.astype(float), np.mod(p_frac.astype(float), 1.0), p_z.astype(np.int64),
                                   np.ones(natoms))
            meta = {"space_group": data.number, "symbol": data.symbol, "hall_number": data.hall_number,
                    "wyckoff": " ".join(labels), "sites": [f"{SYMBOLS[e]}:{p.label}" for e, p in sites],
                    "free_coordinates": free, "conventional_shape": [round(float(x), 4) for x in shape]}
            out.append((record, meta))
    return out, attempts


def _distances_ok(lattice: np.ndarray, frac: np.ndarray, zs: np.ndarray, radius: np.ndarray, factor: float) -> bool:
    """Every interatomic distance (periodic images included) ≥ ``factor`` × (r_i + r_j)."""
    d = _min_distances(lattice, frac[None], frac)[0]  # (n, n)
    need = factor * (radius[zs][:, None] + radius[zs][None, :])
    np.fill_diagonal(d, np.inf)
    shortest = min(np.linalg.norm(lattice, axis=1).min(), np.linalg.norm(lattice[0] - lattice[1]),
                   np.linalg.norm(lattice[0] + lattice[1]))
    return bool((d >= need).all() and shortest >= factor * 2 * radius[zs].max())


def fingerprints(records: list[CrystalRecord], decimals: int = 3) -> list[tuple]:
    """Hashable summaries of the structures' stick patterns on a volume-normalised Q axis (cells scaled
    to 1 Å³, Q ≤ 20 Å⁻¹): structures with equal fingerprints give the same powder pattern."""
    import torch

    from pxrdsolve.crystal import batch_from_records
    from pxrdsolve.diffraction.peaks import compute_peaks

    if not records:
        return []
    units = []
    for r in records:
        scale = abs(float(np.linalg.det(r.lattice))) ** (1.0 / 3.0)
        units.append(CrystalRecord(r.lattice / scale, r.frac, r.atomic_numbers, r.occupancy, r.b_iso))
    peaks = compute_peaks(batch_from_records(units), 0.05, 20.0, compute_dtype=torch.float64)
    q, inten = peaks.q_inv_angstrom.numpy(), peaks.intensity.numpy()
    off = peaks.offsets.numpy()
    out = []
    for i in range(len(records)):
        qi, fi = q[off[i]:off[i + 1]], inten[off[i]:off[i + 1]]
        top = max(float(fi.max()), 1e-30) if len(fi) else 1.0
        keep = fi > 1e-6 * top
        out.append(tuple(zip(np.round(qi[keep], decimals).tolist(), np.round(fi[keep] / top, 2).tolist())))
    return out


__all__ = ["EnumerateConfig", "assignments_of", "enumerated_candidates", "fingerprints"]
