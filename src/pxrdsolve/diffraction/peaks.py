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
from collections.abc import Callable
from dataclasses import dataclass

import torch

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.diffraction.form_factors import check_elements
from pxrdsolve.diffraction.radiation import Radiation
from pxrdsolve.diffraction.structure_factors import box_reflections
from pxrdsolve.ops.scatter import scatter_max, scatter_sum, segment_offsets

TWO_THETA_MERGE_TOL_DEG = 1e-5
MIN_RELATIVE_INTENSITY = 1e-5


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


def source_line_sticks(
    q_inv_angstrom: torch.Tensor, f_squared: torch.Tensor, crystal_index: torch.Tensor, radiation: Radiation
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sticks of every line of a source on the primary-wavelength Q axis: (Q', I, crystal index).

    A line of wavelength λ_i puts reflection Q at Q' = Q·λ_i/λ₁ with intensity w_i·Σ|F|²·LP(θ_i),
    sin θ_i = λ_i Q/4π; reflections beyond that line's limiting sphere are dropped.
    """
    lam1 = radiation.wavelength_angstrom
    qs, ints, idx = [], [], []
    for lam, w in zip(radiation.wavelengths_angstrom, radiation.weights):
        ok = q_inv_angstrom.detach() * lam / (4 * math.pi) < 1.0 - 1e-9
        q = q_inv_angstrom[ok]
        qs.append(q * (lam / lam1))
        ints.append(w * f_squared[ok] * lorentz_polarisation(q, lam))
        idx.append(crystal_index[ok])
    return torch.cat(qs), torch.cat(ints), torch.cat(idx)


def lorentz_polarisation(q_inv_angstrom: torch.Tensor, wavelength_angstrom: float) -> torch.Tensor:
    """LP(θ) = (1 + cos² 2θ)/(sin² θ cos θ), sin θ = λQ/(4π) (unpolarised, no monochromator)."""
    sin_t = q_inv_angstrom * (wavelength_angstrom / (4.0 * math.pi))
    cos_t = torch.sqrt((1.0 - sin_t**2).clamp_min(1e-30))
    cos_2t = 1.0 - 2.0 * sin_t**2
    return (1.0 + cos_2t**2) / (sin_t**2 * cos_t)


def compute_peaks(
    crystals: CrystalBatch,
    wavelength_angstrom: float = 1.54184,
    q_max_inv_angstrom: float | None = None,
    q_min_inv_angstrom: float = 0.0,
    merge_tol_two_theta_deg: float = TWO_THETA_MERGE_TOL_DEG,
    min_relative_intensity: float = MIN_RELATIVE_INTENSITY,
    compute_dtype: torch.dtype | None = None,
    reflection_weight: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> PeakTable:
    """Merged powder peaks of every crystal up to ``q_max_inv_angstrom`` (default 4π/λ, 2θ = 180°).

    pymatgen's ``get_pattern(two_theta_range=(0, 90))`` corresponds to
    ``q_max_inv_angstrom = 4π sin(45°)/λ``.  Differentiable with respect to ``crystals.lattice``
    and ``crystals.frac`` (the set of reflections and their grouping are held fixed).
    ``compute_dtype`` (e.g. ``torch.float32``) sets the precision of the structure-factor sums;
    peak positions are always computed in the batch's own precision.
    ``reflection_weight(hkl (R, 3), crystal_index (R,)) → (R,)`` (optional) multiplies |F|² of every
    reflection before equivalents are merged, e.g. a March–Dollase texture factor
    (:func:`pxrdsolve.solve.texture.march_dollase_weight`); without it nothing changes.
    """
    check_elements(crystals.atomic_numbers)
    lam = float(wavelength_angstrom)
    q_limit = 4.0 * math.pi / lam * (1.0 - 1e-12)
    q_max = q_limit if q_max_inv_angstrom is None else min(float(q_max_inv_angstrom), q_limit)
    bsz = crystals.num_crystals
    refl, q, fsq = box_reflections(crystals, q_max, q_min_inv_angstrom, compute_dtype)
    hkl, cidx = refl.hkl, refl.crystal_index
    fsq = 2.0 * fsq  # both Friedel mates
    if reflection_weight is not None:  # per reflection, before merging (texture differs within a family)
        fsq = fsq * reflection_weight(hkl, cidx).to(fsq.dtype)
    inten = fsq * lorentz_polarisation(q, lam)

    # merge: group by (crystal, round(2θ / tol)); a peak sits at its group's smallest Q
    # (index_select rather than advanced indexing throughout: the same values, several times faster)
    with torch.no_grad():
        tth = torch.rad2deg(2.0 * torch.asin(q.detach().double() * lam / (4.0 * math.pi)))
        key = torch.round(tth / merge_tol_two_theta_deg).long()
        composite = cidx * (int(key.max()) + 1 if key.numel() else 1) + key
        order = torch.argsort(composite, stable=True)
        k_s = composite.index_select(0, order)
        new = torch.ones_like(k_s, dtype=torch.bool)
        new[1:] = k_s[1:] != k_s[:-1]
        group = torch.cumsum(new.long(), 0) - 1
        n_groups = int(group[-1]) + 1 if group.numel() else 0
        first = order.index_select(0, torch.nonzero(new).squeeze(1))  # the group's first reflection
    q_s = q.index_select(0, order)
    g_q = q_s.new_full((n_groups,), math.inf).scatter_reduce(0, group, q_s, reduce="amin", include_self=True)
    g_int = scatter_sum(inten.index_select(0, order), group, n_groups)
    g_fsq = scatter_sum(fsq.index_select(0, order), group, n_groups)
    g_c = cidx.index_select(0, first)
    g_mult = 2 * torch.bincount(group, minlength=n_groups)

    with torch.no_grad():
        cmax = scatter_max(g_int.detach(), g_c, bsz)
        keep = torch.nonzero(g_int.detach() > min_relative_intensity * cmax.index_select(0, g_c)).squeeze(1)
    g_c = g_c.index_select(0, keep)
    counts = torch.bincount(g_c, minlength=bsz)
    return PeakTable(
        q_inv_angstrom=g_q.index_select(0, keep), intensity=g_int.index_select(0, keep),
        f_squared=g_fsq.index_select(0, keep), hkl=hkl.index_select(0, first.index_select(0, keep)),
        multiplicity=g_mult.index_select(0, keep), crystal_index=g_c, offsets=segment_offsets(counts),
        wavelength_angstrom=lam,
    )
