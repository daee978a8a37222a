"""Direct-space candidates: symmetric random structures for structure types the library lacks.

For each draw, a (space group, Z) pair is taken from a pool prior (:mod:`~pxrdsolve.solve.direct_prior`)
among the pairs whose Wyckoff multiplicities can add up to the formula's atom counts.  Then:

1. Wyckoff assignment: per element (largest count first), positions are picked one after another,
   weighted by multiplicity (fewer orbits are likelier), a position without free coordinates at most
   once per structure; a pick must leave a count that the remaining positions can still make.
2. Cell: conventional volume = (atoms × per-element volume fitted on the pool, Å³) × centering
   factor, or ``volume_per_atom``; shape from a pool structure of the same space group (half the draws,
   ±5 % jitter) or random within the crystal system (log-uniform axis ratios in [1/2, 2], free angles
   in [70°, 110°], monoclinic β in [90°, 120°]); or ``cell_hint``.
3. Coordinates: each orbit's free x, y, z uniform in [0, 1), accepted when every distance to the atoms
   placed so far (periodic images included) is ≥ ``distance_factor`` × (r_i + r_j) (atomic radii of
   the library, Å), up to ``attempts_per_orbit`` tries in one vectorised batch.
4. Checks: spglib (symprec 10⁻³) must find exactly the requested space group (a draw that came out of
   higher symmetry is dropped); the cell is reduced to spglib's primitive cell.

Everything follows from ``seed`` (one numpy Generator, consumed draw by draw: the first k candidates
of a longer call are the k candidates of a shorter one).  ``meta`` records space group, Hall number,
Z, Wyckoff labels per site, volume and cell origin.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.elements import atomic_number
from pxrdsolve.library.store import PrototypeLibrary, load_library
from pxrdsolve.solve.direct_prior import (
    cell_parameters,
    lattice_from_parameters,
    pool_cell_shapes,
    space_group_prior,
)
from pxrdsolve.solve.formula import anonymous_formula
from pxrdsolve.solve.types import Candidate, Composition
from pxrdsolve.solve.wyckoff import SpaceGroupData, WyckoffPosition, space_group_data

_IMAGES = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float)


@dataclass(frozen=True)
class DirectConfig:
    """Settings of the direct-space source (see module docstring; lengths in Å, angles in degrees)."""

    distance_factor: float = 0.7
    attempts_per_orbit: int = 32
    assignment_tries: int = 4  # Wyckoff assignments tried per draw
    structure_tries: int = 2  # coordinate/cell restarts per assignment
    failures_per_pair: int = 3  # draws of a (space group, Z) pair that may fail before it is dropped
    prior_temperature: float = 1.0
    pool_shape_fraction: float = 0.5
    shape_jitter: float = 0.05
    max_axis_ratio: float = 2.0
    symprec: float = 1e-3
    # share of the candidates taken from the systematic enumeration of few-parameter arrangements
    # (:mod:`~pxrdsolve.solve.candidates_enumerate`) before the random draws; 0 = random draws only
    enumerated_fraction: float = 0.75

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def direct_space_candidates(
    composition: Composition,
    n_candidates: int,
    *,
    seed: int,
    volume_per_atom: float | None = None,
    space_groups: tuple[int, ...] | list[int] | None = None,
    max_atoms: int = 20,
    cell_hint: tuple[float, ...] | None = None,
    library: PrototypeLibrary | None = None,
    config: DirectConfig = DirectConfig(),
) -> list[Candidate]:
    """Up to ``n_candidates`` symmetric random structures of ``composition`` (``source="direct"``).

    ``volume_per_atom`` (Å³) overrides the volume estimate; ``space_groups`` limits the space groups;
    ``max_atoms`` bounds the atoms per primitive cell (Z from ``composition.z_options``);
    ``cell_hint`` = conventional (a, b, c, α, β, γ) keeps the space groups whose lattice it fits and
    uses it as the cell.  ``library`` supplies the priors and element volumes/radii (default: the shipped
    one).  Fewer candidates come back only when no space group can hold the formula.
    """
    lib = load_library() if library is None else library
    pairs = _feasible_pairs(composition, space_groups, max_atoms, cell_hint)
    if not pairs or n_candidates <= 0:
        return []
    out: list[Candidate] = []
    n_enum = int(round(config.enumerated_fraction * n_candidates)) if cell_hint is None else 0
    if n_enum > 0:
        from pxrdsolve.solve.candidates_enumerate import enumerated_candidates

        out = enumerated_candidates(composition, n_enum, volume_per_atom=volume_per_atom,
                                    space_groups=space_groups, max_atoms=max_atoms, library=lib)
    prior = space_group_prior(lib, anonymous_formula(composition.amounts), pairs, config.prior_temperature)
    rng = np.random.default_rng(int(seed))
    failures = np.zeros(len(pairs), dtype=np.int64)
    too_symmetric: set[tuple] = set()  # assignments without free coordinates that came out of higher symmetry
    while len(out) < n_candidates:
        alive = failures < config.failures_per_pair
        if not alive.any():
            break
        p = np.where(alive, prior, 0.0)
        k = int(rng.choice(len(pairs), p=p / p.sum()))
        sg, z, _ = pairs[k]
        cand = _generate(lib, composition, sg, z, rng, volume_per_atom, cell_hint, config, too_symmetric)
        if cand is None:
            failures[k] += 1
            continue
        out.append(Candidate(cand[0], "direct", f"direct #{len(out)} {composition.formula(z)} SG {sg} "
                             f"({cand[1]['symbol']})", {**cand[1], "seed": int(seed), "draw": len(out),
                                                         "prior": float(prior[k]), "method": "random"}))
    return out


# ----------------------------------------------------------------------------- feasibility

def _counts(composition: Composition, z: int) -> list[tuple[int, int]]:
    """(atomic number, atoms per primitive cell) per element."""
    return [(atomic_number(el), n * z) for el, n in composition.amounts]


def _reachable(multiplicities: list[int], limit: int, unlimited: bool) -> int:
    """Bitmask of the sums ≤ ``limit`` of the multiplicities (each any number of times, or at most once)."""
    mask = 1
    full = (1 << (limit + 1)) - 1
    for m in multiplicities:
        if unlimited:
            prev = -1
            while prev != mask:
                prev, mask = mask, (mask | (mask << m)) & full
        else:
            mask = (mask | (mask << m)) & full
    return mask


def primitive_volume(lib: PrototypeLibrary, counts: list[tuple[int, int]], volume_per_atom: float | None) -> float:
    """Estimated primitive-cell volume (Å³): per-element volumes of the pool summed over ``counts``
    (atomic number, atoms), or ``volume_per_atom`` × atoms."""
    if volume_per_atom is not None:
        return float(volume_per_atom) * sum(n for _, n in counts)
    return float(sum(lib.elements["volume"][e] * n for e, n in counts))


def _lattice_fits(system: str, hint: tuple[float, ...]) -> bool:
    a, b, c, al, be, ga = hint
    eq = lambda u, v: abs(u / v - 1.0) < 0.01  # noqa: E731
    right = lambda x: abs(x - 90.0) < 1.0  # noqa: E731
    return {"triclinic": True, "monoclinic": right(al) and right(ga),
            "orthorhombic": right(al) and right(be) and right(ga),
            "tetragonal": eq(a, b) and right(al) and right(be) and right(ga),
            "trigonal": eq(a, b) and right(al) and right(be) and abs(ga - 120.0) < 1.0,
            "hexagonal": eq(a, b) and right(al) and right(be) and abs(ga - 120.0) < 1.0,
            "cubic": eq(a, b) and eq(a, c) and right(al) and right(be) and right(ga)}[system]


def _feasible_pairs(composition: Composition, space_groups, max_atoms: int, cell_hint
                    ) -> list[tuple[int, int, int]]:
    """(space group, Z, atoms per primitive cell) whose multiplicities can make every element count."""
    numbers = range(1, 231) if space_groups is None else sorted({int(s) for s in space_groups})
    pairs = []
    for z in composition.z_options:
        counts = _counts(composition, z)
        natoms = sum(n for _, n in counts)
        if natoms > max_atoms:
            continue
        for sg in numbers:
            data = space_group_data(sg)
            if cell_hint is not None and not _lattice_fits(data.crystal_system, tuple(cell_hint)):
                continue
            f = data.centering_factor
            limit = natoms * f
            free = _reachable([p.multiplicity for p in data.positions if p.dof > 0], limit, True)
            fixed = [p.multiplicity for p in data.positions if p.dof == 0]
            mask = free
            for m in fixed:
                mask = mask | (mask << m)
            if all(mask >> (n * f) & 1 for _, n in counts):
                pairs.append((sg, z, natoms))
    return pairs


# ----------------------------------------------------------------------------- assignment

def _assign(data: SpaceGroupData, counts: list[tuple[int, int]], rng: np.random.Generator
            ) -> list[tuple[int, WyckoffPosition]] | None:
    """Random Wyckoff assignment: a list of (atomic number, position), or None if this try failed."""
    f = data.centering_factor
    positions = data.positions
    limit = max(n for _, n in counts) * f
    free_mask = _reachable([p.multiplicity for p in positions if p.dof > 0], limit, True)
    used: set[int] = set()
    out: list[tuple[int, WyckoffPosition]] = []
    order = sorted(range(len(counts)), key=lambda i: (-counts[i][1], rng.random()))
    for i in order:
        z, remaining = counts[i][0], counts[i][1] * f
        while remaining > 0:
            options, weights = [], []
            for j, p in enumerate(positions):
                if p.multiplicity > remaining or (p.dof == 0 and j in used):
                    continue
                rest = remaining - p.multiplicity
                mask = free_mask
                for q_idx, q in enumerate(positions):
                    if q.dof == 0 and q_idx not in used and q_idx != j:
                        mask |= mask << q.multiplicity
                if mask >> rest & 1:
                    options.append(j)
                    weights.append(float(p.multiplicity))
            if not options:
                return None
            w = np.asarray(weights)
            j = options[int(rng.choice(len(options), p=w / w.sum()))]
            if positions[j].dof == 0:
                used.add(j)
            out.append((z, positions[j]))
            remaining -= positions[j].multiplicity
    return out


# ----------------------------------------------------------------------------- cell and coordinates

def _random_cell(system: str, rng: np.random.Generator, config: DirectConfig) -> np.ndarray:
    """Unit-volume-free shape (a, b, c relative; α, β, γ degrees) of a crystal system."""
    r = lambda: float(np.exp(rng.uniform(-1, 1) * np.log(config.max_axis_ratio)))  # noqa: E731
    if system == "cubic":
        return np.array([1, 1, 1, 90, 90, 90], float)
    if system in ("tetragonal", "trigonal", "hexagonal"):
        c = r()
        return np.array([1, 1, c, 90, 90, 120 if system != "tetragonal" else 90], float)
    b, c = r(), r()
    if system == "orthorhombic":
        return np.array([1, b, c, 90, 90, 90], float)
    if system == "monoclinic":
        return np.array([1, b, c, 90, rng.uniform(90, 120), 90], float)
    return np.array([1, b, c, *rng.uniform(70, 110, size=3)], float)


def _symmetrise(system: str, p: np.ndarray) -> np.ndarray:
    """Impose the crystal system's equalities on cell parameters (a pool or hinted cell)."""
    q = p.copy()
    if system in ("tetragonal", "trigonal", "hexagonal", "cubic"):
        q[0] = q[1] = (p[0] + p[1]) / 2
    if system == "cubic":
        q[:3] = p[:3].mean()
    if system in ("orthorhombic", "tetragonal", "cubic"):
        q[3:] = 90.0
    if system in ("trigonal", "hexagonal"):
        q[3:] = (90.0, 90.0, 120.0)
    if system == "monoclinic":
        q[3] = q[5] = 90.0
    return q


def _cell(lib: PrototypeLibrary, data: SpaceGroupData, volume: float, rng: np.random.Generator,
          cell_hint, config: DirectConfig) -> tuple[np.ndarray, str]:
    """(3, 3) conventional cell of ``volume`` Å³ and where its shape came from."""
    system = data.crystal_system
    if cell_hint is not None:
        return lattice_from_parameters(_symmetrise(system, np.asarray(cell_hint, float))), "hint"
    origin = "random"
    shape = _random_cell(system, rng, config)
    if rng.random() < config.pool_shape_fraction:
        shapes = pool_cell_shapes(lib, data.number)
        if len(shapes):
            s = shapes[int(rng.integers(len(shapes)))].copy()
            s[:3] *= np.exp(rng.uniform(-1, 1, 3) * config.shape_jitter)
            shape, origin = _symmetrise(system, s), "pool"
    lat = lattice_from_parameters(shape)
    return lat * (volume / abs(np.linalg.det(lat))) ** (1.0 / 3.0), origin


def _min_distances(lattice: np.ndarray, new: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """(K, m, n) shortest distances (Å) between orbit atoms ``new`` (K, m, 3) and ``placed`` (n, 3) or
    (K, n, 3), periodic images within one cell included (enough for cells with angles in [60°, 120°])."""
    d = new[:, :, None, :] - (placed[None, None] if placed.ndim == 2 else placed[:, None])
    d -= np.round(d)
    cart = d @ lattice  # (K, m, n, 3)
    off = _IMAGES @ lattice  # (27, 3)
    # |cart + off|² = |cart|² + 2 cart·off + |off|², the middle term as one matrix product
    d2 = (cart**2).sum(-1)[..., None] + 2.0 * (cart @ off.T) + (off**2).sum(-1)
    return np.sqrt(np.maximum(d2.min(-1), 0.0))


def _attempt_batches(total: int) -> list[int]:
    """Sizes of the coordinate batches tried for one orbit: 4, 4, 8, 16 … up to ``total`` in all."""
    sizes, done = [], 0
    while done < total:
        k = min(max(4, done), total - done)
        sizes.append(k)
        done += k
    return sizes


def _place(lattice: np.ndarray, sites: list[tuple[int, WyckoffPosition]], radius: np.ndarray,
           rng: np.random.Generator, config: DirectConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """Coordinates (n, 3) and atomic numbers (n,) of the conventional cell, or None (distances)."""
    frac = np.zeros((0, 3))
    zs = np.zeros(0, dtype=np.int64)
    shortest = min(np.linalg.norm(lattice, axis=1).min(), np.linalg.norm(lattice[0] + lattice[1]),
                   np.linalg.norm(lattice[0] - lattice[1]), np.linalg.norm(lattice[1] - lattice[2]),
                   np.linalg.norm(lattice[0] - lattice[2]))
    for z, pos in sorted(sites, key=lambda t: (t[1].dof, -t[1].multiplicity)):  # fixed sites first
        need_self = config.distance_factor * 2 * radius[z]
        if shortest < need_self:
            return None
        found = None
        for k in _attempt_batches(1 if pos.dof == 0 else config.attempts_per_orbit):
            orbit = pos.orbit(rng.random((k, 3)))  # (K, m, 3)
            ok = np.ones(k, dtype=bool)
            if pos.multiplicity > 1:
                dd = _min_distances(lattice, orbit, orbit) + np.eye(pos.multiplicity)[None] * 1e9
                ok &= dd.reshape(k, -1).min(1) >= need_self
            if len(zs) and ok.any():
                need = config.distance_factor * (radius[z] + radius[zs])  # (n,)
                ok[ok] = (_min_distances(lattice, orbit[ok], frac) >= need[None, None, :]).all(axis=(1, 2))
            good = np.flatnonzero(ok)
            if len(good):
                found = orbit[good[0]]
                break
        if found is None:
            return None
        m = pos.multiplicity
        frac = np.concatenate([frac, found])
        zs = np.concatenate([zs, np.full(m, z, dtype=np.int64)])
    return frac, zs


# rows: primitive basis vectors in terms of the conventional a, b, c (ITA Table 5.1.3.1, R obverse)
_TO_PRIMITIVE = {
    "P": np.eye(3),
    "A": np.array([[1, 0, 0], [0, 0.5, -0.5], [0, 0.5, 0.5]]),
    "B": np.array([[0.5, 0, -0.5], [0, 1, 0], [0.5, 0, 0.5]]),
    "C": np.array([[0.5, -0.5, 0], [0.5, 0.5, 0], [0, 0, 1]]),
    "I": np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]]),
    "F": np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]),
    "R": np.array([[2, 1, 1], [-1, 1, 1], [-1, -2, 1]]) / 3.0,
}


def _primitive(lattice: np.ndarray, frac: np.ndarray, zs: np.ndarray, centering: str
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The primitive cell of a conventional cell of a centred lattice: lattice rows M·L, coordinates
    x·M⁻¹ (mod 1), atoms related by a centring translation kept once (10⁻⁴ tolerance)."""
    m = _TO_PRIMITIVE[centering]
    p_lat = m @ lattice
    if np.linalg.det(p_lat) < 0:
        p_lat = -p_lat
        m = -m
    x = np.mod(frac @ np.linalg.inv(m), 1.0)
    keep: list[int] = []
    for i in range(len(x)):
        if keep:
            d = x[keep] - x[i]
            if np.any(np.all(np.abs(d - np.round(d)) < 1e-4, axis=1)):
                continue
        keep.append(i)
    return p_lat, np.mod(x[keep], 1.0), zs[keep]


def _generate(lib: PrototypeLibrary, comp: Composition, sg: int, z: int, rng: np.random.Generator,
              volume_per_atom: float | None, cell_hint, config: DirectConfig, too_symmetric: set[tuple]
              ) -> tuple[CrystalRecord, dict[str, Any]] | None:
    """One structure of ``comp`` × ``z`` in space group ``sg`` (primitive cell), or None."""
    import spglib

    data = space_group_data(sg)
    counts = _counts(comp, z)
    natoms = sum(n for _, n in counts)
    radius = lib.elements["radius"]
    v_prim = primitive_volume(lib, counts, volume_per_atom)
    for _ in range(config.assignment_tries):
        sites = _assign(data, counts, rng)
        if sites is None:
            continue
        fixed = all(pos.dof == 0 for _, pos in sites)  # then the arrangement is the same for every cell
        signature = (sg, tuple(sorted((e, pos.letter) for e, pos in sites)))
        if fixed and signature in too_symmetric:
            continue
        for _ in range(config.structure_tries):
            lattice, origin = _cell(lib, data, v_prim * data.centering_factor, rng, cell_hint, config)
            placed = _place(lattice, sites, radius, rng, config)
            if placed is None:
                continue
            p_lat, p_frac, p_z = _primitive(lattice, *placed, data.centering)
            if len(p_z) != natoms:
                break
            ds = spglib.get_symmetry_dataset((p_lat, p_frac, p_z), symprec=config.symprec)
            if ds is None or int(ds.number) != sg:
                if fixed and cell_hint is None:
                    too_symmetric.add(signature)
                break  # this assignment makes a higher (or other) symmetry: try another assignment
            record = CrystalRecord(p_lat.astype(float), np.mod(p_frac.astype(float), 1.0),
                                   p_z.astype(np.int64), np.ones(natoms))
            labels = sorted(pos.label for _, pos in sites)
            from pxrdsolve.elements import SYMBOLS

            meta = {"space_group": sg, "symbol": data.symbol, "hall_number": data.hall_number, "z": z,
                    "wyckoff": " ".join(labels),
                    "sites": [f"{SYMBOLS[e]}:{pos.label}" for e, pos in sites],
                    "volume_per_atom": abs(float(np.linalg.det(p_lat))) / natoms,
                    "cell_origin": origin,
                    "conventional_cell": [round(float(x), 4) for x in cell_parameters(lattice)]}
            return record, meta
    return None
