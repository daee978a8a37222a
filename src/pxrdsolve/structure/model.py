"""Batched, differentiable regeneration of crystals from their symmetry-constrained parameters.

A :class:`SymmetricBatch` stacks many :class:`~pxrdsolve.structure.template.SymmetricTemplate` objects
into flat tensors.  Its free parameters are exactly those of a Rietveld refinement:

* the conventional cell (B, 6) — a, b, c (Å), α, β, γ (degrees) — tied by crystal system
  (:func:`~pxrdsolve.structure.cell.ties_for_space_groups`);
* one displacement per orbit along its free directions: δ_o = Σ_k basis_o[:, k] · d_ok (conventional
  fractional coordinates; ``d`` (O, 3), only the first ``num_free`` components of each orbit act);
* an isotropic B (Å²) per orbit.

Every atom of the primitive cell follows its orbit: x_j = ((R_j (x_o + δ_o) + t_j) · M⁻¹) − n_j, so the
space group is kept to machine precision whatever the parameters, and gradients reach every free
coordinate.  Species and occupancies are fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.structure.cell import CellTies, lattice_from_parameters, ties_for_space_groups
from pxrdsolve.structure.template import SymmetricTemplate


@dataclass(frozen=True)
class SymmetricBatch:
    """Flat tensors of B templates with O orbits, S primitive-cell sites and N atoms (see module docstring)."""

    templates: tuple[SymmetricTemplate, ...]
    cell0: torch.Tensor  # (B, 6)
    ties: CellTies
    to_primitive: torch.Tensor  # (B, 3, 3)
    orbit_crystal: torch.Tensor  # (O,)
    orbit_position: torch.Tensor  # (O, 3)
    orbit_basis: torch.Tensor  # (O, 3, 3), columns beyond num_free are zero
    orbit_num_free: torch.Tensor  # (O,)
    orbit_b_iso: torch.Tensor  # (O,)
    orbit_length_angstrom: torch.Tensor  # (O,) mean conventional cell length: Å ↔ fractional
    site_orbit: torch.Tensor  # (S,)
    site_rotation: torch.Tensor  # (S, 3, 3)
    site_translation: torch.Tensor  # (S, 3)
    site_shift: torch.Tensor  # (S, 3)
    atom_site: torch.Tensor  # (N,)
    atomic_numbers: torch.Tensor  # (N,)
    occupancy: torch.Tensor  # (N,)
    num_atoms: torch.Tensor  # (B,)

    @classmethod
    def from_templates(cls, templates: Sequence[SymmetricTemplate], dtype: torch.dtype = torch.float64,
                       device: str | torch.device = "cpu") -> SymmetricBatch:
        t = lambda a, dt=dtype: torch.as_tensor(np.asarray(a), dtype=dt, device=device)  # noqa: E731
        o_cr, o_pos, o_basis, o_nf, o_b, o_len = [], [], [], [], [], []
        s_orb, s_rot, s_tr, s_sh = [], [], [], []
        a_site, a_z, a_occ, n_atoms = [], [], [], []
        o_off = s_off = 0
        for b, tpl in enumerate(templates):
            for o in tpl.orbits:
                o_cr.append(b)
                o_pos.append(o.position)
                basis = np.zeros((3, 3))
                basis[:, : o.num_free] = o.basis
                o_basis.append(basis)
                o_nf.append(o.num_free)
                o_b.append(o.b_iso)
                o_len.append(float(np.mean(tpl.cell[:3])))
            count = 0
            for s, k in enumerate(tpl.site_orbit):
                s_orb.append(o_off + int(k))
                s_rot.append(tpl.site_rotation[s])
                s_tr.append(tpl.site_translation[s])
                s_sh.append(tpl.site_shift[s])
                for z, occ in tpl.orbits[int(k)].species:
                    a_site.append(s_off + s)
                    a_z.append(z)
                    a_occ.append(occ)
                    count += 1
            n_atoms.append(count)
            o_off += len(tpl.orbits)
            s_off += len(tpl.site_orbit)
        numbers = [tpl.number for tpl in templates]
        return cls(
            templates=tuple(templates), cell0=t([tpl.cell for tpl in templates]),
            ties=_to(ties_for_space_groups(numbers, dtype), device),
            to_primitive=t([tpl.to_primitive for tpl in templates]), orbit_crystal=t(o_cr, torch.long),
            orbit_position=t(o_pos), orbit_basis=t(o_basis), orbit_num_free=t(o_nf, torch.long),
            orbit_b_iso=t(o_b), orbit_length_angstrom=t(o_len), site_orbit=t(s_orb, torch.long),
            site_rotation=t(s_rot), site_translation=t(s_tr), site_shift=t(s_sh),
            atom_site=t(a_site, torch.long), atomic_numbers=t(a_z, torch.long), occupancy=t(a_occ),
            num_atoms=t(n_atoms, torch.long),
        )

    @property
    def num_crystals(self) -> int:
        return len(self.templates)

    @property
    def num_orbits(self) -> int:
        return int(self.orbit_position.shape[0])

    @property
    def free_mask(self) -> torch.Tensor:
        """(O, 3): 1 for the components of ``d`` that move an orbit, else 0."""
        k = torch.arange(3, device=self.orbit_num_free.device)
        return (k[None, :] < self.orbit_num_free[:, None]).to(self.orbit_position.dtype)

    def lattice(self, cell: torch.Tensor) -> torch.Tensor:
        """Primitive cells (B, 3, 3) Å from conventional cell parameters (B, 6)."""
        return self.to_primitive @ lattice_from_parameters(cell)

    def orbit_positions(self, d: torch.Tensor | None = None) -> torch.Tensor:
        """Representative positions (O, 3), conventional fractional, displaced by ``d`` (O, 3) along the free basis."""
        if d is None:
            return self.orbit_position
        return self.orbit_position + torch.einsum("oik,ok->oi", self.orbit_basis, d * self.free_mask)

    def frac(self, d: torch.Tensor | None = None) -> torch.Tensor:
        """Fractional coordinates (N, 3) of every atom of the primitive cells."""
        x = self.orbit_positions(d)[self.site_orbit]
        conv = torch.einsum("sij,sj->si", self.site_rotation, x) + self.site_translation
        crystal = self.orbit_crystal[self.site_orbit]
        minv = torch.linalg.inv(self.to_primitive)[crystal]
        prim = torch.einsum("si,sij->sj", conv, minv) - self.site_shift
        return prim[self.atom_site]

    def b_iso(self, b_orbit: torch.Tensor | None = None) -> torch.Tensor:
        """B (N,) Å² of every atom from B per orbit (O,) (default: the templates' values)."""
        b = self.orbit_b_iso if b_orbit is None else b_orbit
        return b[self.site_orbit][self.atom_site]

    def crystal_batch(self, cell: torch.Tensor | None = None, d: torch.Tensor | None = None,
                      b_orbit: torch.Tensor | None = None) -> CrystalBatch:
        """The primitive crystals for the given parameters (defaults: the templates' own)."""
        cell = self.cell0 if cell is None else cell
        return CrystalBatch(self.lattice(cell), self.frac(d), self.atomic_numbers, self.occupancy,
                            self.b_iso(b_orbit), self.num_atoms)

    def num_free_coordinates(self) -> torch.Tensor:
        """Free coordinates per crystal (B,)."""
        out = torch.zeros(self.num_crystals, dtype=torch.long, device=self.orbit_num_free.device)
        return out.index_add_(0, self.orbit_crystal, self.orbit_num_free)

    def num_orbits_per_crystal(self) -> torch.Tensor:
        out = torch.zeros(self.num_crystals, dtype=torch.long, device=self.orbit_num_free.device)
        return out.index_add_(0, self.orbit_crystal, torch.ones_like(self.orbit_num_free))

    def select(self, indices: Sequence[int] | torch.Tensor) -> SymmetricBatch:
        """The sub-batch of the given crystals (rebuilt from their templates)."""
        idx = torch.as_tensor(indices, dtype=torch.long).tolist()
        return SymmetricBatch.from_templates([self.templates[i] for i in idx], self.cell0.dtype, self.cell0.device)

    def updated_templates(self, cell: torch.Tensor | None = None, d: torch.Tensor | None = None,
                          b_orbit: torch.Tensor | None = None) -> list[SymmetricTemplate]:
        """Templates carrying the given parameters (numpy copies)."""
        cell_np = (self.cell0 if cell is None else cell).detach().cpu().numpy()
        pos = self.orbit_positions(d).detach().cpu().numpy()
        bs = (self.orbit_b_iso if b_orbit is None else b_orbit).detach().cpu().numpy()
        pos = pos - np.floor(pos)
        out, off = [], 0
        for b, tpl in enumerate(self.templates):
            n = len(tpl.orbits)
            out.append(tpl.with_parameters(cell_np[b], pos[off:off + n], bs[off:off + n]))
            off += n
        return out


def _to(ties: CellTies, device) -> CellTies:
    return CellTies(ties.length_src.to(device), ties.angle_src.to(device), ties.angle_free.to(device))
