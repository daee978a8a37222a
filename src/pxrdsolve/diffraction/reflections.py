"""Reciprocal-lattice geometry: reciprocal vectors, Q of reflections (hkl), hkl enumeration.

The crystallographic reciprocal vectors satisfy a·a* = 1; a reflection G = h a* + k b* + l c* has
Q = 2π|G| (Å⁻¹), a differentiable function of the lattice.  Since h = G·a, every reflection with
|G| ≤ g_max lies in the box |h| ≤ g_max|a| (likewise k, l).  One Friedel half-space is kept (first
non-zero index positive): without anomalous scattering I(G) = I(−G).
:func:`enumerate_reflections` lists a fixed set of reflections (refinement holds it fixed while the
cell moves); :mod:`pxrdsolve.diffraction.structure_factors` enumerates and sums in one pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pxrdsolve.errors import InputError
from pxrdsolve.ops.scatter import repeat_segments

MAX_BOX = 4_000_000  # reflections in one crystal's half box


@dataclass(frozen=True)
class Reflections:
    """Flat list of half-space reflections of a batch: ``hkl`` (R, 3) int64, ``crystal_index`` (R,)."""

    hkl: torch.Tensor
    crystal_index: torch.Tensor


def reciprocal_lattice(lattice: torch.Tensor) -> torch.Tensor:
    """Crystallographic reciprocal vectors as rows, (B, 3, 3) in Å⁻¹ (no 2π): inv(L)ᵀ."""
    return torch.linalg.inv(lattice).transpose(-1, -2)


def q_of_hkl(lattice: torch.Tensor, hkl: torch.Tensor, crystal_index: torch.Tensor) -> torch.Tensor:
    """Q = 2π |h a* + k b* + l c*| (Å⁻¹) for each reflection; differentiable in ``lattice``."""
    recip = reciprocal_lattice(lattice)  # (B, 3, 3)
    metric = recip @ recip.transpose(-1, -2)
    h = hkl.to(lattice.dtype)
    g2 = torch.einsum("ri,rij,rj->r", h, metric[crystal_index], h)
    return 2.0 * math.pi * torch.sqrt(g2.clamp_min(0.0))


@torch.no_grad()
def enumerate_reflections(
    lattice: torch.Tensor, q_max_inv_angstrom: float | torch.Tensor, q_min_inv_angstrom: float = 0.0
) -> Reflections:
    """All half-space reflections with q_min ≤ Q ≤ q_max for each cell of ``lattice`` (B, 3, 3).

    ``q_max_inv_angstrom`` may be a scalar or a (B,) tensor.  Order: crystal, then h, k, l.
    The box is screened in float32 with a small margin, then the survivors are checked in float64.
    """
    device = lattice.device
    lat = lattice.detach().to(torch.float64)
    bsz = lat.shape[0]
    q_max = torch.as_tensor(q_max_inv_angstrom, dtype=torch.float64, device=device).expand(bsz)
    g_max = q_max / (2.0 * math.pi)
    lengths = torch.linalg.norm(lat, dim=-1)  # (B, 3)
    hmax = torch.floor(g_max[:, None] * lengths * (1 + 1e-9) + 1e-9).long()  # (B, 3)
    dims = torch.stack([hmax[:, 0] + 1, 2 * hmax[:, 1] + 1, 2 * hmax[:, 2] + 1], dim=1)  # h >= 0 half
    counts = dims.prod(dim=1)
    if bool((counts > MAX_BOX).any()):
        raise InputError("cell too large for this Q range (too many reflections): check the lattice")
    recip = reciprocal_lattice(lat)
    metric = recip @ recip.transpose(-1, -2)  # (B, 3, 3) Å⁻², g² = hᵀ M h
    m6 = torch.stack(
        [metric[:, 0, 0], metric[:, 1, 1], metric[:, 2, 2],
         2 * metric[:, 0, 1], 2 * metric[:, 0, 2], 2 * metric[:, 1, 2]], dim=1
    ).to(torch.float32)
    seg, pos = repeat_segments(counts)
    dk, dl = dims[seg, 1], dims[seg, 2]
    kl = dk * dl
    h = pos // kl
    rem = pos - h * kl
    k = rem // dl
    l_ = rem - k * dl - hmax[seg, 2]
    k = k - hmax[seg, 1]
    half = (h > 0) | (k > 0) | ((k == 0) & (l_ > 0))
    half &= (h > 0) | (k >= 0)
    seg, h, k, l_ = seg[half], h[half], k[half], l_[half]
    hf, kf, lf = h.float(), k.float(), l_.float()
    m = m6[seg]
    g2 = m[:, 0] * hf * hf + m[:, 1] * kf * kf + m[:, 2] * lf * lf
    g2 += m[:, 3] * hf * kf + m[:, 4] * hf * lf + m[:, 5] * kf * lf
    g2_max = (g_max * g_max).to(torch.float32)[seg]
    g2_min = float(q_min_inv_angstrom / (2.0 * math.pi)) ** 2
    keep = (g2 <= g2_max * (1 + 1e-5) + 1e-12) & (g2 >= g2_min * (1 - 1e-5) - 1e-12)
    hkl = torch.stack([h[keep], k[keep], l_[keep]], dim=1)
    seg = seg[keep]
    q = q_of_hkl(lat, hkl, seg)
    exact = (q <= q_max[seg]) & (q >= q_min_inv_angstrom)
    return Reflections(hkl=hkl[exact], crystal_index=seg[exact])
