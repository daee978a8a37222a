"""A crystal as a crystallographer describes it: space group, conventional cell and orbits.

:func:`symmetric_template` turns any :class:`~pxrdsolve.crystal.CrystalRecord` into a
:class:`SymmetricTemplate` with spglib: the space group in its standard setting (ITA default choice, the
setting spglib standardises to: monoclinic unique axis b, rhombohedral groups on hexagonal axes), the
conventional cell (a, b, c in Å; α, β, γ in degrees) idealised to its crystal system, and one
:class:`Orbit` per Wyckoff orbit: the representative position (conventional fractional coordinates,
symmetrised exactly onto its site symmetry), the species on it with occupancies, the isotropic
displacement B (Å²) and the free directions of the site (an orthonormal basis of the range of the
site-symmetry projector P = (1/|G_x|) Σ_{g ∈ G_x} R_g, so that x₀ + B·u keeps the site symmetry for
any u).

The full cell is regenerated from the operations: the atoms of the *primitive* cell (the cell the
simulator works in; fewer atoms and reflections than a centred conventional cell) are
x_j = ((R_j x_orbit + t_j) · M⁻¹) − n_j, where (R_j, t_j) is one operation that takes the orbit's
representative to atom j, M the conventional → primitive basis change (rows: primitive vectors in
conventional coordinates, L_prim = M · L_conv) and n_j an integer shift into [0, 1).  Those maps are
fixed when the template is made, so moving the representative moves every image consistently.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pxrdsolve.crystal import CrystalRecord

# conventional → primitive basis change for each lattice centring (rows: primitive vectors, conventional frac)
CENTRING_TO_PRIMITIVE: dict[str, np.ndarray] = {
    "P": np.eye(3),
    "A": np.array([[1.0, 0, 0], [0, 0.5, 0.5], [0, -0.5, 0.5]]),
    "B": np.array([[0.5, 0, 0.5], [0, 1.0, 0], [-0.5, 0, 0.5]]),
    "C": np.array([[0.5, 0.5, 0], [-0.5, 0.5, 0], [0, 0, 1.0]]),
    "I": np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]]),
    "F": np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]),
    "R": np.array([[2 / 3, 1 / 3, 1 / 3], [-1 / 3, 1 / 3, 1 / 3], [-1 / 3, -2 / 3, 1 / 3]]),
}
POSITION_TOL = 1e-4  # fractional: two images closer than this are the same atom


def crystal_system(number: int) -> str:
    """Crystal system of space group ``number`` (1–230)."""
    for last, name in ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"),
                       (167, "trigonal"), (194, "hexagonal"), (230, "cubic")):
        if number <= last:
            return name
    raise ValueError(f"space group number {number} outside 1–230")


@dataclass(frozen=True)
class Orbit:
    """One Wyckoff orbit: ``position`` (3,) conventional fractional, ``basis`` (3, k) free directions
    (orthonormal in fractional space, k = 0…3), ``species`` ((Z, occupancy), …), ``b_iso`` Å²,
    ``wyckoff`` letter, ``multiplicity`` in the conventional cell."""

    position: np.ndarray
    basis: np.ndarray
    species: tuple[tuple[int, float], ...]
    b_iso: float
    wyckoff: str
    multiplicity: int

    @property
    def num_free(self) -> int:
        return int(self.basis.shape[1])


@dataclass(frozen=True)
class SymmetricTemplate:
    """A crystal in its space group (see module docstring).  ``cell`` (6,): conventional a, b, c (Å),
    α, β, γ (degrees).  ``rotations`` (n_ops, 3, 3) int and ``translations`` (n_ops, 3): all operations of
    the conventional cell (centring translations included).  ``site_orbit``, ``site_rotation``,
    ``site_translation`` and ``site_shift`` map each primitive-cell site to its orbit."""

    number: int
    symbol: str
    hall_number: int
    cell: np.ndarray
    orbits: tuple[Orbit, ...]
    rotations: np.ndarray
    translations: np.ndarray
    site_orbit: np.ndarray
    site_rotation: np.ndarray
    site_translation: np.ndarray
    site_shift: np.ndarray

    @property
    def crystal_system(self) -> str:
        return crystal_system(self.number)

    @property
    def centring(self) -> str:
        return self.symbol[0]

    @property
    def to_primitive(self) -> np.ndarray:
        """M (3, 3): L_prim = M · L_conv."""
        return CENTRING_TO_PRIMITIVE[self.centring]

    @property
    def num_free_coordinates(self) -> int:
        return sum(o.num_free for o in self.orbits)

    def conventional_lattice(self) -> np.ndarray:
        """Rows a, b, c (Å) of the conventional cell (a along x, b in the xy plane)."""
        from pxrdsolve.structure.cell import lattice_from_parameters_np

        return lattice_from_parameters_np(self.cell)

    def conventional_sites(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions (n, 3) conventional fractional in [0, 1), orbit index (n,)) of every atom site of the
        conventional cell, generated from the operations."""
        pos, idx = [], []
        for k, o in enumerate(self.orbits):
            imgs = orbit_images(o.position, self.rotations, self.translations)
            pos.append(imgs)
            idx += [k] * len(imgs)
        return np.concatenate(pos), np.asarray(idx)

    def primitive_record(self) -> CrystalRecord:
        """The primitive cell regenerated from the orbits (what the simulator is given)."""
        m = self.to_primitive
        lat = m @ self.conventional_lattice()
        minv = np.linalg.inv(m)
        x = np.stack([self.orbits[k].position for k in self.site_orbit])
        conv = np.einsum("nij,nj->ni", self.site_rotation, x) + self.site_translation
        prim = conv @ minv - self.site_shift
        z, occ, b, frac = [], [], [], []
        for s, k in enumerate(self.site_orbit):
            for zz, oo in self.orbits[k].species:
                z.append(zz)
                occ.append(oo)
                b.append(self.orbits[k].b_iso)
                frac.append(prim[s])
        return CrystalRecord(lat, np.asarray(frac).reshape(-1, 3), np.asarray(z, np.int64), np.asarray(occ),
                             np.asarray(b))

    def formula_units(self) -> int:
        """Z: formula units of the reduced formula in the conventional cell."""
        from math import gcd

        counts: dict[int, float] = {}
        for o in self.orbits:
            for zz, oo in o.species:
                counts[zz] = counts.get(zz, 0.0) + oo * o.multiplicity
        ints = [int(round(v)) for v in counts.values()]
        g = 0
        for v in ints:
            g = gcd(g, v)
        return max(g, 1)

    def with_parameters(self, cell: np.ndarray | None = None, positions: np.ndarray | None = None,
                        b_iso: np.ndarray | None = None) -> SymmetricTemplate:
        """A copy with a new conventional cell (6,), orbit positions (n_orbits, 3) and/or B (n_orbits,)."""
        orbits = list(self.orbits)
        for k, o in enumerate(orbits):
            changes = {}
            if positions is not None:
                changes["position"] = np.asarray(positions[k], float)
            if b_iso is not None:
                changes["b_iso"] = float(b_iso[k])
            orbits[k] = replace(o, **changes)
        return replace(self, cell=self.cell if cell is None else np.asarray(cell, float), orbits=tuple(orbits))

    def scaled(self, factor: float) -> SymmetricTemplate:
        """Cell lengths times ``factor`` (fractional coordinates kept)."""
        cell = self.cell.copy()
        cell[:3] *= factor
        return replace(self, cell=cell)


def _wrap_diff(d: np.ndarray) -> np.ndarray:
    return d - np.round(d)


def orbit_images(x: np.ndarray, rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """Distinct images (n, 3) in [0, 1) of position ``x`` under the operations."""
    imgs = np.einsum("nij,j->ni", rotations, x) + translations
    imgs = imgs - np.floor(imgs + 1e-9)
    out: list[np.ndarray] = []
    for y in imgs:
        if not any(np.abs(_wrap_diff(y - z)).max() < POSITION_TOL * 10 for z in out):
            out.append(y)
    return np.asarray(out)


def site_projector(x: np.ndarray, rotations: np.ndarray, translations: np.ndarray,
                   tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(symmetrised position (3,), free basis (3, k)) of a site at ``x`` (conventional fractional).

    The site-symmetry group G_x are the operations with R x + t ≡ x (mod 1) within ``tol``; the
    position becomes the mean of its images under G_x (exactly invariant) and the basis spans the
    range of P = mean_{G_x} R (orthonormal, fractional coordinates)."""
    imgs = np.einsum("nij,j->ni", rotations, x) + translations
    d = _wrap_diff(imgs - x)
    site = np.abs(d).max(axis=1) < tol
    rs = rotations[site].astype(float)
    xs = x + d[site].mean(axis=0)
    p = rs.mean(axis=0)
    u, s, _ = np.linalg.svd(p)
    basis = u[:, s > 0.5]
    return xs, basis


def _sites(record: CrystalRecord) -> tuple[np.ndarray, list[tuple[tuple[int, float], ...]], list[float]]:
    """Merge atoms at the same position into sites: (positions, species per site, B per site)."""
    pos: list[np.ndarray] = []
    species: list[list[tuple[int, float]]] = []
    bs: list[float] = []
    b_iso = np.zeros(len(record.atomic_numbers)) if record.b_iso is None else np.asarray(record.b_iso, float)
    for f, z, o, b in zip(np.mod(np.asarray(record.frac, float), 1.0), record.atomic_numbers,
                          record.occupancy, b_iso):
        for i, p in enumerate(pos):
            if np.abs(_wrap_diff(f - p)).max() < POSITION_TOL:
                species[i].append((int(z), float(o)))
                break
        else:
            pos.append(f)
            species.append([(int(z), float(o))])
            bs.append(float(b))
    return np.asarray(pos), [tuple(sorted(s)) for s in species], bs


def p1_template(record: CrystalRecord) -> SymmetricTemplate:
    """The crystal as it is, in P1 (every site its own orbit, three free coordinates)."""
    from pxrdsolve.structure.cell import cell_parameters_np

    pos, species, bs = _sites(record)
    rot, tr = np.eye(3, dtype=int)[None], np.zeros((1, 3))
    orbits = tuple(Orbit(p, np.eye(3), s, b, "a", 1) for p, s, b in zip(pos, species, bs))
    n = len(orbits)
    return SymmetricTemplate(1, "P1", 1, cell_parameters_np(np.asarray(record.lattice, float)), orbits, rot, tr,
                             np.arange(n), np.repeat(rot, n, 0), np.zeros((n, 3)), np.zeros((n, 3)))


def symmetric_template(record: CrystalRecord, symprec: float = 0.01, angle_tolerance: float = -1.0
                       ) -> SymmetricTemplate:
    """The record's space group, standard conventional cell and orbits (spglib, ``symprec`` in Å).

    Falls back to :func:`p1_template` when spglib finds nothing or the regenerated cell does not have
    the record's number of sites per primitive cell."""
    import spglib

    from pxrdsolve.structure.cell import cell_parameters_np

    pos, species, bs = _sites(record)
    kinds = sorted(set(species))
    types = [kinds.index(s) + 1 for s in species]
    cell_in = (np.asarray(record.lattice, float), pos, types)
    ds = spglib.get_symmetry_dataset(cell_in, symprec=symprec, angle_tolerance=angle_tolerance)
    if ds is None:
        return p1_template(record)
    std = (ds.std_lattice, ds.std_positions, ds.std_types)
    ds2 = spglib.get_symmetry_dataset(std, symprec=min(symprec, 1e-3) * 10, angle_tolerance=angle_tolerance)
    if ds2 is None or ds2.number != ds.number:
        return p1_template(record)
    rotations, translations = np.asarray(ds2.rotations), np.asarray(ds2.translations)
    symbol = spglib.get_spacegroup_type(ds2.hall_number).international_short
    cell = idealised_cell(cell_parameters_np(np.asarray(ds.std_lattice, float)), ds.number)
    b_by_kind: dict[int, float] = {}  # B of an orbit: that of the input sites of its species
    for t, b in zip(types, bs):
        b_by_kind.setdefault(t, b)
    orbits = []
    for rep in sorted({int(e) for e in ds2.equivalent_atoms}):
        members = np.flatnonzero(ds2.equivalent_atoms == rep)
        xs, basis = site_projector(np.asarray(std[1][rep], float), rotations, translations)
        kind = int(std[2][rep])
        orbits.append(Orbit(xs - np.floor(xs + 1e-12), basis, kinds[kind - 1], b_by_kind.get(kind, 0.0),
                            str(ds2.wyckoffs[rep]), int(len(members))))
    tpl = _with_site_maps(int(ds.number), symbol, int(ds2.hall_number), cell, tuple(orbits), rotations,
                          translations)
    expected = len({int(v) for v in ds.mapping_to_primitive})  # the input may be a supercell
    if tpl is None or expected != len(tpl.site_orbit):
        return p1_template(record)
    return tpl


def idealised_cell(cell: np.ndarray, number: int) -> np.ndarray:
    """Cell parameters (6,) forced onto the metric of the crystal system of ``number`` (standard setting)."""
    a, b, c, al, be, ga = (float(v) for v in cell)
    system = crystal_system(number)
    if system == "cubic":
        m = (a + b + c) / 3.0
        return np.array([m, m, m, 90.0, 90.0, 90.0])
    if system in ("tetragonal",):
        m = (a + b) / 2.0
        return np.array([m, m, c, 90.0, 90.0, 90.0])
    if system in ("trigonal", "hexagonal"):
        m = (a + b) / 2.0
        return np.array([m, m, c, 90.0, 90.0, 120.0])
    if system == "orthorhombic":
        return np.array([a, b, c, 90.0, 90.0, 90.0])
    if system == "monoclinic":
        return np.array([a, b, c, 90.0, be, 90.0])
    return np.array([a, b, c, al, be, ga])


def _with_site_maps(number: int, symbol: str, hall: int, cell: np.ndarray, orbits: tuple[Orbit, ...],
                    rotations: np.ndarray, translations: np.ndarray) -> SymmetricTemplate | None:
    """Fix, for every primitive-cell site, the operation that generates it from its orbit's representative."""
    m = CENTRING_TO_PRIMITIVE.get(symbol[0])
    if m is None:
        return None
    minv = np.linalg.inv(m)
    s_orbit, s_rot, s_tr, s_shift = [], [], [], []
    for k, o in enumerate(orbits):
        found: list[np.ndarray] = []
        for r, t in zip(rotations, translations):
            prim = (r @ o.position + t) @ minv
            wrapped = prim - np.floor(prim + 1e-9)
            if any(np.abs(_wrap_diff(wrapped - f)).max() < POSITION_TOL * 10 for f in found):
                continue
            found.append(wrapped)
            s_orbit.append(k)
            s_rot.append(r)
            s_tr.append(t)
            s_shift.append(np.floor(prim + 1e-9))
    return SymmetricTemplate(number, symbol, hall, np.asarray(cell, float), orbits, rotations, translations,
                             np.asarray(s_orbit), np.asarray(s_rot, dtype=int), np.asarray(s_tr, float),
                             np.asarray(s_shift, float))
