"""Known extra phases refined alongside each candidate: an impurity, a standard mixed in, the sample holder.

Each extra phase (a structure from ``--phase FILE.cif``, cell as given) adds its own profile to every
candidate's model with its own linear scale (solved with the candidate's scale and background in closed
form, clamped at ≥ 0); it shares the candidate's size τ, zero shift and instrument profile.  Weight
fractions follow Hill & Howard (1987): W_p = S_p·(ZMV)_p / Σ_q S_q·(ZMV)_q, S the scale of the
absolute profile (intensities Σ|F|²·LP per cell), ZM the mass of the cell contents (u), V the cell
volume (Å³).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pxrdsolve.crystal import CrystalRecord, batch_from_records


@dataclass(frozen=True)
class ExtraPhases:
    """Extra phases: ``names``, ``records`` (primitive or any cell), sticks on the primary-λ axis
    (``q`` Å⁻¹, ``f_squared``, ``phase`` index), ``zmv`` (E,) u·Å³."""

    names: tuple[str, ...]
    records: tuple[CrystalRecord, ...]
    q: torch.Tensor
    f_squared: torch.Tensor
    phase: torch.Tensor
    zmv: np.ndarray

    @property
    def count(self) -> int:
        return len(self.names)


def cell_mass_volume(record: CrystalRecord) -> float:
    """(ZM)·V of a cell: mass of its contents (u) times its volume (Å³)."""
    from pymatgen.core.periodic_table import Element

    mass = sum(float(Element.from_Z(int(z)).atomic_mass) * float(o)
               for z, o in zip(record.atomic_numbers, record.occupancy))
    return mass * abs(float(np.linalg.det(np.asarray(record.lattice, float))))


def extra_phases(records: list[CrystalRecord], names: list[str], wavelength_angstrom: float,
                 q_max_inv_angstrom: float) -> ExtraPhases:
    """Peaks of the extra phases (computed once: their cells are not refined)."""
    from pxrdsolve.diffraction.peaks import compute_peaks

    pk = compute_peaks(batch_from_records(records), wavelength_angstrom, q_max_inv_angstrom)
    return ExtraPhases(tuple(names), tuple(records), pk.q_inv_angstrom.detach(), pk.f_squared.detach(),
                       pk.crystal_index, np.array([cell_mass_volume(r) for r in records]))


def render_extra(data, num_crystals: int, size_angstrom: torch.Tensor | float, zero_shift_deg=None,
                 profile=None) -> torch.Tensor | None:
    """Profiles (B, E, G) of the extra phases for each candidate's τ, zero shift and profile (None without phases)."""
    ph = data.phases
    if ph is None or ph.count == 0:
        return None
    from pxrdsolve.solve.render import render_sticks

    e = ph.count
    tau = torch.as_tensor(size_angstrom, dtype=torch.float64)
    tau = tau.expand(num_crystals) if tau.dim() == 0 else tau
    q = ph.q.repeat(num_crystals)
    f2 = ph.f_squared.repeat(num_crystals)
    idx = (torch.arange(num_crystals).repeat_interleave(ph.q.numel()) * e + ph.phase.repeat(num_crystals))
    zero = None if zero_shift_deg is None else zero_shift_deg.repeat_interleave(e)
    prof = None
    if profile is not None:
        prof = profile.with_(**{k: v.repeat_interleave(e) for k, v in profile.tensors().items()})
    y = render_sticks(data, q, f2, idx, num_crystals * e, tau.repeat_interleave(e), zero, profile=prof)
    return y.view(num_crystals, e, -1)


def weight_fractions(candidate_scale: float, candidate_record: CrystalRecord, phase_scales: np.ndarray,
                     phases: ExtraPhases) -> dict[str, float]:
    """Hill–Howard weight fractions of the candidate (key ``"candidate"``) and every extra phase."""
    terms = [max(candidate_scale, 0.0) * cell_mass_volume(candidate_record)]
    terms += [max(float(s), 0.0) * z for s, z in zip(phase_scales, phases.zmv)]
    total = sum(terms) or 1.0
    return {"candidate": terms[0] / total, **{n: t / total for n, t in zip(phases.names, terms[1:])}}
