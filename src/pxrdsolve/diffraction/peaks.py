"""Powder peaks of a batch of crystals: structure factors, Lorentz–polarisation, merging.

Kinematic theory, as in pymatgen's ``XRDCalculator`` (same form factors, same LP factor, same
merging rule), but batched over crystals in flat tensors and differentiable with respect to the
lattice and the fractional coordinates:

* F(G) = Σ_j occ_j · f_j(s) · exp(−B_j s²) · exp(2πi G·r_j), s = Q/(4π) Å⁻¹, B_j in Å²;
* I(G) = |F(G)|² · LP(θ), with LP = (1 + cos² 2θ)/(sin² θ cos θ) (unpolarised beam, no
  monochromator) and sin θ = λQ/(4π); each half-space reflection counts twice (Friedel pairs);
* reflections whose 2θ round to the same multiple of 10⁻⁵° are merged into one peak (summed
  intensities, position and d of the reflection with the smallest Q), and peaks weaker than
  10⁻⁵ of the strongest are dropped.

Intensities are absolute (electrons² × LP per cell); ``relative_intensity`` rescales the strongest
peak of each crystal to 100 like pymatgen's ``scaled=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.diffraction.form_factors import check_elements, form_factor
from pxrdsolve.diffraction.reflections import enumerate_reflections, q_of_hkl
from pxrdsolve.ops.scatter import repeat_segments, scatter_max, scatter_sum, segment_offsets

TWO_THETA_MERGE_TOL_DEG = 1e-5
MIN_RELATIVE_INTENSITY = 1e-5
_PAIR_CHUNK = 2_000_000


@dataclass(frozen=True)
class PeakTable:
    """Merged peaks of B crystals, flat and sorted by crystal then Q.

    ``q_inv_angstrom`` (P,) Å⁻¹; ``intensity`` (P,) absolute, with LP at ``wavelength_angstrom``;
    ``f_squared`` (P,) Σ|F|² of the merged reflections without LP (electrons²); ``hkl`` (P, 3)
    a representative reflection; ``multiplicity`` (P,) number of merged reflections (both Friedel
    mates counted); ``crystal_index`` (P,); ``offsets`` (B+1,) peak ranges per crystal.
    """

    q_inv_angstrom: torch.Tensor
    intensity: torch.Tensor
    f_squared: torch.Tensor
    hkl: torch.Tensor
    multiplicity: torch.Tensor
    crystal_index: torch.Tensor
    offsets: torch.Tensor
    wavelength_angstrom: float

    @property
    def num_crystals(self) -> int:
        return int(self.offsets.numel() - 1)

    def two_theta_deg(self, wavelength_angstrom: float | None = None) -> torch.Tensor:
        """Peak positions in 2θ (degrees) for the given (default: the table's) wavelength."""
        lam = self.wavelength_angstrom if wavelength_angstrom is None else wavelength_angstrom
        return torch.rad2deg(2.0 * torch.asin(self.q_inv_angstrom * lam / (4.0 * math.pi)))

    def d_angstrom(self) -> torch.Tensor:
        """d spacings (Å)."""
        return 2.0 * math.pi / self.q_inv_angstrom

    def relative_intensity(self) -> torch.Tensor:
        """Intensities with the strongest peak of each crystal = 100."""
        peak_max = scatter_max(self.intensity, self.crystal_index, self.num_crystals)
        return 100.0 * self.intensity / peak_max[self.crystal_index].clamp_min(1e-300)

    def crystal(self, b: int) -> dict[str, torch.Tensor]:
        """The peaks of crystal ``b`` as a dict of tensors."""
        s = slice(int(self.offsets[b]), int(self.offsets[b + 1]))
        return {
            "q_inv_angstrom": self.q_inv_angstrom[s], "intensity": self.intensity[s],
            "f_squared": self.f_squared[s], "hkl": self.hkl[s], "multiplicity": self.multiplicity[s],
        }


def lorentz_polarisation(q_inv_angstrom: torch.Tensor, wavelength_angstrom: float) -> torch.Tensor:
    """LP(θ) = (1 + cos² 2θ)/(sin² θ cos θ), sin θ = λQ/(4π) (unpolarised, no monochromator)."""
    sin_t = q_inv_angstrom * (wavelength_angstrom / (4.0 * math.pi))
    cos_t = torch.sqrt((1.0 - sin_t**2).clamp_min(1e-30))
    cos_2t = 1.0 - 2.0 * sin_t**2
    return (1.0 + cos_2t**2) / (sin_t**2 * cos_t)


def _element_slots(crystals: CrystalBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Distinct elements per crystal: (slot of each atom (N,), Z of each slot (S,), slots per crystal (B,))."""
    batch = crystals.batch
    key = batch * 256 + crystals.atomic_numbers
    uniq, inverse = torch.unique(key, return_inverse=True)  # sorted: by crystal, then Z
    slot_crystal = torch.div(uniq, 256, rounding_mode="floor")
    slots_per_crystal = torch.bincount(slot_crystal, minlength=crystals.num_crystals)
    return inverse, uniq % 256, slots_per_crystal


def structure_factor_squared(
    crystals: CrystalBatch,
    hkl: torch.Tensor,
    crystal_index: torch.Tensor,
    q_inv_angstrom: torch.Tensor,
    compute_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """|F(hkl)|² (electrons²) for each reflection; differentiable in ``frac`` and ``q``.

    F = Σ_elements f_e(s) · Σ_{atoms j of e} occ_j exp(−B_j s²) exp(2πi h·r_j).  Form factors are
    evaluated once per (reflection, element) and phases once per (reflection, atom).  The phase
    h·r is reduced modulo 1 in the input precision before the trigonometric functions, so a
    float32 ``compute_dtype`` keeps |F|² accurate to ~1e-6 relative.
    """
    dtype = compute_dtype or crystals.frac.dtype
    n_refl = hkl.shape[0]
    if n_refl == 0:
        return q_inv_angstrom.new_zeros(0)
    s2 = ((q_inv_angstrom / (4.0 * math.pi)) ** 2).to(dtype)
    atom_slot, slot_z, slots_per_crystal = _element_slots(crystals)
    slot_offsets = segment_offsets(slots_per_crystal)
    atom_local_slot = atom_slot - slot_offsets[crystals.batch]
    has_dw = bool((crystals.b_iso != 0).any())
    weight = crystals.occupancy.to(dtype)
    atoms_per_refl = crystals.num_atoms[crystal_index]
    slots_per_refl = slots_per_crystal[crystal_index]
    atom_offsets = crystals.atom_offsets
    out = []
    cum = torch.cumsum(atoms_per_refl, 0)
    start = 0
    while start < n_refl:  # chunks keep the (reflection, atom) pair arrays bounded
        base = int(cum[start - 1]) if start > 0 else 0
        stop = int(torch.searchsorted(cum, torch.tensor(base + _PAIR_CHUNK, device=cum.device), right=True))
        stop = max(stop, start + 1)
        sl = slice(start, stop)
        n = stop - start
        seg, pos = repeat_segments(atoms_per_refl[sl])  # (reflection, atom) pairs
        atom = atom_offsets[crystal_index[sl]][seg] + pos
        hx = (hkl[sl][seg].to(crystals.frac.dtype) * crystals.frac[atom]).sum(-1)
        phase = (2.0 * math.pi) * (hx - torch.floor(hx.detach())).to(dtype)
        w = weight[atom]
        if has_dw:
            w = w * torch.exp(-crystals.b_iso[atom].to(dtype) * s2[sl][seg])
        # partial sums per (reflection, element slot)
        slot_off = segment_offsets(slots_per_refl[sl])
        pair_slot = slot_off[seg] + atom_local_slot[atom]
        n_pair_slots = int(slot_off[-1])
        s_re = scatter_sum(w * torch.cos(phase), pair_slot, n_pair_slots)
        s_im = scatter_sum(w * torch.sin(phase), pair_slot, n_pair_slots)
        rs, ls = repeat_segments(slots_per_refl[sl])
        z = slot_z[slot_offsets[crystal_index[sl]][rs] + ls]
        f = form_factor(z, s2[sl][rs])
        out.append(torch.stack([scatter_sum(f * s_re, rs, n), scatter_sum(f * s_im, rs, n)], dim=1))
        start = stop
    fc = torch.cat(out).to(q_inv_angstrom.dtype)
    return fc[:, 0] ** 2 + fc[:, 1] ** 2


def compute_peaks(
    crystals: CrystalBatch,
    wavelength_angstrom: float = 1.54184,
    q_max_inv_angstrom: float | None = None,
    q_min_inv_angstrom: float = 0.0,
    merge_tol_two_theta_deg: float = TWO_THETA_MERGE_TOL_DEG,
    min_relative_intensity: float = MIN_RELATIVE_INTENSITY,
    compute_dtype: torch.dtype | None = None,
) -> PeakTable:
    """Merged powder peaks of every crystal up to ``q_max_inv_angstrom`` (default 4π/λ, 2θ = 180°).

    pymatgen's ``get_pattern(two_theta_range=(0, 90))`` corresponds to
    ``q_max_inv_angstrom = 4π sin(45°)/λ``.  Differentiable with respect to ``crystals.lattice``
    and ``crystals.frac`` (the set of reflections and their grouping are held fixed).
    ``compute_dtype`` (e.g. ``torch.float32``) sets the precision of the structure-factor sums;
    peak positions are always computed in the batch's own precision.
    """
    check_elements(crystals.atomic_numbers)
    lam = float(wavelength_angstrom)
    q_limit = 4.0 * math.pi / lam * (1.0 - 1e-12)
    q_max = q_limit if q_max_inv_angstrom is None else min(float(q_max_inv_angstrom), q_limit)
    bsz = crystals.num_crystals
    refl = enumerate_reflections(crystals.lattice, q_max, q_min_inv_angstrom)
    q = q_of_hkl(crystals.lattice, refl.hkl, refl.crystal_index)
    pos = q > 0
    hkl, cidx, q = refl.hkl[pos], refl.crystal_index[pos], q[pos]
    fsq = 2.0 * structure_factor_squared(crystals, hkl, cidx, q, compute_dtype)  # both Friedel mates
    inten = fsq * lorentz_polarisation(q, lam)

    # merge: group by (crystal, round(2θ / tol)), ordered by Q inside a group
    with torch.no_grad():
        tth = torch.rad2deg(2.0 * torch.asin(q.detach().double() * lam / (4.0 * math.pi)))
        key = torch.round(tth / merge_tol_two_theta_deg).long()
        order = torch.argsort(q.detach(), stable=True)
        order = order[torch.argsort(key[order], stable=True)]
        order = order[torch.argsort(cidx[order], stable=True)]
        k_s, c_s = key[order], cidx[order]
        new = torch.ones_like(k_s, dtype=torch.bool)
        new[1:] = (k_s[1:] != k_s[:-1]) | (c_s[1:] != c_s[:-1])
        group = torch.cumsum(new.long(), 0) - 1
        n_groups = int(group[-1]) + 1 if group.numel() else 0
        first = torch.nonzero(new).squeeze(1)
    g_int = scatter_sum(inten[order], group, n_groups)
    g_fsq = scatter_sum(fsq[order], group, n_groups)
    g_q = q[order][first]
    g_c = c_s[first]
    g_hkl = hkl[order][first]
    g_mult = 2 * torch.bincount(group, minlength=n_groups)

    with torch.no_grad():
        cmax = scatter_max(g_int.detach(), g_c, bsz)
        keep = g_int.detach() > min_relative_intensity * cmax[g_c]
    g_c = g_c[keep]
    counts = torch.bincount(g_c, minlength=bsz)
    return PeakTable(
        q_inv_angstrom=g_q[keep], intensity=g_int[keep], f_squared=g_fsq[keep], hkl=g_hkl[keep],
        multiplicity=g_mult[keep], crystal_index=g_c, offsets=segment_offsets(counts),
        wavelength_angstrom=lam,
    )
