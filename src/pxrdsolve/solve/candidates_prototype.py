"""Candidates from the prototype library: substitute elements by stoichiometric role, rescale the cell.

For every Z of the composition, the library entries with the same anonymous formula (``ABC3``) and
atom count are templates.  Elements are matched role by role (roles = elements sorted by amount in
the cell); elements of equal amount are interchangeable, so every assignment among them is tried and
ranked by chemical similarity (electronegativity, Mendeleev number, atomic radius) of the template's
element to the target's.  The cell is scaled isotropically to a volume estimated from per-element
volumes (fitted on the pool, stored in the library).  Candidates are ranked by a cheap prior (role
similarity, then how common the prototype is) before truncation; a tenth of the places go to the most
common prototypes whatever their representative's chemistry.  numpy only: no pymatgen here.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from pxrdsolve.crystal import CrystalRecord
from pxrdsolve.elements import SYMBOLS, atomic_number
from pxrdsolve.library.store import PrototypeLibrary, load_library
from pxrdsolve.solve.formula import anonymous_formula
from pxrdsolve.solve.types import Candidate, Composition

# Similarity scales: a difference of one "unit" in each costs 1.
ELECTRONEGATIVITY_UNIT = 0.3  # Pauling
MENDELEEV_UNIT = 8.0
RADIUS_UNIT = 0.25  # Å
FREQUENCY_WEIGHT = 0.4  # prior bonus per e-fold of pool entries of the prototype
SHAPE_WEIGHT = 0.3  # ... and of the template's shape bucket
MAX_PERMUTATIONS = 720
ASSIGNMENTS_PER_TEMPLATE = 4  # assignments of equal-amount elements kept per template
COMMON_FRACTION = 0.1  # candidate places kept for the most common prototypes (see _with_common_prototypes)


def element_distance(library: PrototypeLibrary, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dimensionless chemical dissimilarity of elements ``a`` and ``b`` (atomic numbers, broadcast); 0 if equal."""
    el = library.elements
    d = (np.abs(el["electronegativity"][a] - el["electronegativity"][b]) / ELECTRONEGATIVITY_UNIT
         + np.abs(el["mendeleev"][a] - el["mendeleev"][b]) / MENDELEEV_UNIT
         + np.abs(el["radius"][a] - el["radius"][b]) / RADIUS_UNIT)
    return np.where(a == b, 0.0, d)


def prototype_candidates(
    composition: Composition,
    library: PrototypeLibrary | None = None,
    *,
    max_candidates: int = 300,
    volume_per_atom: float | None = None,
    space_group: int | None = None,
    exclude_formula: bool = False,
) -> list[Candidate]:
    """Candidates for ``composition`` from ``library`` (default: the shipped one), best prior first.

    ``volume_per_atom`` (Å³) overrides the estimated volume; ``space_group`` (1–230) keeps only
    templates of that space group; ``exclude_formula`` drops templates of the target's own formula
    (for held-out evaluation).  At most ``max_candidates`` are returned.
    """
    lib = load_library() if library is None else library
    scored: list[tuple[float, int, int, tuple[int, ...], np.ndarray]] = []
    for z in composition.z_options:
        scored += _score_z(lib, composition, z, space_group, exclude_formula)
    scored.sort(key=lambda t: (t[0], t[1], t[2]))
    chosen = _with_common_prototypes(lib, scored, max_candidates)
    return [_build(lib, composition, z, i, roles, targets, score, volume_per_atom)
            for score, i, z, roles, targets in chosen]


def _with_common_prototypes(lib: PrototypeLibrary, scored: list, max_candidates: int) -> list:
    """The best-prior candidates, with :data:`COMMON_FRACTION` of the places kept for the most common
    prototypes (most pool structures) in their best assignment, whatever the chemistry of their
    representative: a structure type shared by opposite chemistries (fluorite CaF2 / antifluorite
    Li2O, stored once) must not be cut by the similarity prior.  Order: by prior."""
    if len(scored) <= max_candidates:
        return scored
    n_common = int(max_candidates * COMMON_FRACTION)
    count = lib.entries["prototype_count"]
    best_of: dict[tuple[int, int], int] = {}
    for k, (_, i, z, _, _) in enumerate(scored):  # scored is sorted: the first is the best assignment
        best_of.setdefault((i, z), k)
    common = sorted(best_of.items(), key=lambda kv: (-int(count[kv[0][0]]), kv[1]))[:n_common]
    keep = {k for _, k in common}
    for k in range(len(scored)):
        if len(keep) >= max_candidates:
            break
        keep.add(k)
    return [scored[k] for k in sorted(keep)]


def _target_roles(composition: Composition, z: int) -> tuple[np.ndarray, np.ndarray]:
    """Target atomic numbers and amounts per cell, sorted by (amount, Z) as the library's roles."""
    g = math.gcd(*(n for _, n in composition.amounts))
    zs = np.array([atomic_number(el) for el, _ in composition.amounts], dtype=np.int64)
    ns = np.array([n // g * z for _, n in composition.amounts], dtype=np.int64)
    order = np.lexsort((zs, ns))
    return zs[order], ns[order]


def _permutations(amounts: np.ndarray) -> np.ndarray:
    """(P, k) reorderings of role positions that only exchange roles of equal amount."""
    groups = [np.flatnonzero(amounts == a) for a in np.unique(amounts)]
    per_group = [list(itertools.permutations(g.tolist())) for g in groups]
    perms = []
    for combo in itertools.islice(itertools.product(*per_group), MAX_PERMUTATIONS):
        p = np.arange(len(amounts))
        for g, q in zip(groups, combo):
            p[g] = q
        perms.append(p)
    return np.array(perms, dtype=np.int64)


def _score_z(lib: PrototypeLibrary, comp: Composition, z: int, space_group: int | None,
             exclude_formula: bool) -> list[tuple[float, int, int, tuple[int, ...], np.ndarray]]:
    t_el, t_n = _target_roles(comp, z)
    k = len(t_el)
    idx = lib.group(anonymous_formula(comp.amounts), int(t_n.sum()))
    if len(idx) == 0:
        return []
    ent = lib.entries
    if space_group is not None:
        idx = idx[ent["space_group"][idx] == int(space_group)]
    roles = ent["role_elements"][idx, :k].astype(np.int64)  # (E, k)
    if exclude_formula:
        idx, roles = idx[~(roles == t_el).all(axis=1)], roles[~(roles == t_el).all(axis=1)]
    if len(idx) == 0:
        return []
    perms = _permutations(t_n)  # (P, k)
    assigned = t_el[perms]  # (P, k): target element given to each role position
    cost = element_distance(lib, roles[:, None, :], assigned[None, :, :]).mean(axis=2)  # (E, P)
    prior = (FREQUENCY_WEIGHT * np.log(ent["prototype_count"][idx].astype(float))
             + SHAPE_WEIGHT * np.log(ent["bucket_count"][idx].astype(float)))
    keep = min(ASSIGNMENTS_PER_TEMPLATE, perms.shape[0])
    best = np.argsort(cost, axis=1, kind="stable")[:, :keep]
    out = []
    for row, i in enumerate(idx.tolist()):
        for p in best[row].tolist():
            out.append((float(cost[row, p] - prior[row]), i, z, tuple(roles[row].tolist()), assigned[p]))
    return out


def _build(lib: PrototypeLibrary, comp: Composition, z: int, i: int, roles: tuple[int, ...],
           targets: np.ndarray, score: float, volume_per_atom: float | None) -> Candidate:
    ent, el_vol = lib.entries, lib.elements["volume"]
    frac, site_z = lib.sites(i)
    mapping = np.zeros(len(SYMBOLS), dtype=np.int64)
    mapping[list(roles)] = targets
    new_z = mapping[site_z.astype(np.int64)]
    lattice = ent["lattice"][i].astype(float)
    v_template = abs(float(np.linalg.det(lattice)))
    natoms = len(new_z)
    if volume_per_atom is not None:
        v_new = float(volume_per_atom) * natoms
    else:
        v_new = v_template * float(el_vol[new_z].sum()) / float(el_vol[site_z.astype(np.int64)].sum())
    scale = (v_new / v_template) ** (1.0 / 3.0)
    record = CrystalRecord(lattice * scale, frac.astype(float), new_z, np.ones(natoms))
    subst = {SYMBOLS[a]: SYMBOLS[int(b)] for a, b in zip(roles, targets)}
    tid, tformula, sg = str(ent["id"][i]), str(ent["formula"][i]), int(ent["space_group"][i])
    label = f"{tid} {tformula}→{comp.formula(z)} (SG {sg})"
    meta = {
        "template_id": tid, "template_formula": tformula, "space_group": sg, "wyckoff": str(ent["wyckoff"][i]),
        "substitution": subst, "scale": scale, "volume_per_atom": v_new / natoms, "z": z,
        "prior": score, "prototype_count": int(ent["prototype_count"][i]), "bucket_count": int(ent["bucket_count"][i]),
    }
    return Candidate(record, "prototype", label, meta)
