"""Reciprocal-lattice geometry: reciprocal vectors, Q of reflections (hkl), hkl enumeration.

The crystallographic reciprocal vectors satisfy a·a* = 1; a reflection G = h a* + k b* + l c* has
Q = 2π|G| (Å⁻¹), a differentiable function of the lattice.  Since h = G·a, every reflection with
|G| ≤ g_max lies in the box |h| ≤ g_max|a| (likewise k, l).  One Friedel half-space is kept (first
non-zero index positive): without anomalous scattering I(G) = I(−G).
:func:`enumerate_reflections` lists a fixed set of reflections (refinement holds it fixed while the
cell moves); :mod:`pxrdsolve.diffraction.structure_factors` enumerates and sums in one pass.

A skewed (non-reduced) cell makes that box far larger than the sphere it must hold: such cells are first
LLL-reduced (:func:`skewed_reductions`, an integer change of basis that leaves the lattice, and so every Q,
unchanged), enumerated there, and their indices mapped back to the cell as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from pxrdsolve.errors import InputError
from pxrdsolve.ops.scatter import repeat_segments

MAX_BOX = 4_000_000  # reflections in one crystal's half box
SKEW_FACTOR = 8.0  # reduce a cell whose half box holds more than this many times its half sphere's points
SKEW_MIN_BOX = 20_000  # ... and more than this many points (small boxes are cheap whatever their shape)


@dataclass(frozen=True)
class Reflections:
    """Flat list of half-space reflections of a batch: ``hkl`` (R, 3) int64, ``crystal_index`` (R,)."""

    hkl: torch.Tensor
    crystal_index: torch.Tensor


def reciprocal_lattice(lattice: torch.Tensor) -> torch.Tensor:
    """Crystallographic reciprocal vectors as rows, (B, 3, 3) in Å⁻¹ (no 2π): inv(L)ᵀ."""
    return torch.linalg.inv(lattice).transpose(-1, -2)


def box_extent(lattice: torch.Tensor, q_max: torch.Tensor) -> torch.Tensor:
    """(B, 3) integer H, K, L bounding every reflection with Q ≤ q_max (B,) Å⁻¹: H = ⌊g_max·|a|⌋ (likewise K, L)."""
    g_max = q_max.double() / (2.0 * math.pi)
    lengths = torch.linalg.norm(lattice.detach().double(), dim=-1)
    return torch.floor(g_max[:, None] * lengths * (1 + 1e-9) + 1e-9).long()


def half_box_dims(ext: torch.Tensor) -> torch.Tensor:
    """(B, 3) sizes of the half box 0 ≤ h ≤ H, |k| ≤ K, |l| ≤ L of extents ``ext`` (B, 3)."""
    return torch.stack([ext[:, 0] + 1, 2 * ext[:, 1] + 1, 2 * ext[:, 2] + 1], dim=1)


def half_box_points(ext: torch.Tensor) -> torch.Tensor:
    """(B,) points of each half box of extents ``ext`` (B, 3)."""
    return half_box_dims(ext).prod(dim=1)


def lll_basis(lattice: np.ndarray, delta: float = 0.75) -> np.ndarray:
    """Integer unimodular M (3, 3) with M @ lattice an LLL-reduced basis (rows, Å) of the same lattice."""
    basis = np.array(lattice, dtype=np.float64)
    m = np.eye(3, dtype=np.int64)

    def gram_schmidt(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ortho, mu = np.zeros_like(b), np.zeros((3, 3))
        for i in range(3):
            ortho[i] = b[i]
            for j in range(i):
                mu[i, j] = b[i] @ ortho[j] / (ortho[j] @ ortho[j])
                ortho[i] = ortho[i] - mu[i, j] * ortho[j]
        return ortho, mu

    k, guard = 1, 0
    while k < 3 and guard < 1000:
        guard += 1
        ortho, mu = gram_schmidt(basis)
        for j in range(k - 1, -1, -1):
            r = round(mu[k, j])
            if r:
                basis[k] -= r * basis[j]
                m[k] -= r * m[j]
                ortho, mu = gram_schmidt(basis)
        if ortho[k] @ ortho[k] >= (delta - mu[k, k - 1] ** 2) * (ortho[k - 1] @ ortho[k - 1]):
            k += 1
        else:
            basis[[k, k - 1]] = basis[[k - 1, k]]
            m[[k, k - 1]] = m[[k - 1, k]]
            k = max(k - 1, 1)
    if round(abs(np.linalg.det(m.astype(np.float64)))) != 1:  # cannot happen for a non-degenerate cell
        return np.eye(3, dtype=np.int64)
    return m


def skewed_reductions(lattice: torch.Tensor, q_max: torch.Tensor) -> dict[int, torch.Tensor]:
    """For each cell of ``lattice`` (B, 3, 3) whose hkl box to ``q_max`` (B,) Å⁻¹ is much larger than the
    sphere it must hold (see :data:`SKEW_FACTOR`), its crystal index → M (3, 3) int64 of :func:`lll_basis`.
    Cells that are reduced enough are left out (usually all of them)."""
    lat = lattice.detach().to(torch.float64).cpu()
    q = q_max.detach().to(torch.float64).cpu().expand(lat.shape[0])
    box = half_box_points(box_extent(lat, q)).double()
    sphere = (2.0 / 3.0) * math.pi * (q / (2.0 * math.pi)) ** 3 * torch.linalg.det(lat).abs() + 1.0
    skewed = torch.nonzero((box > SKEW_FACTOR * sphere) & (box > SKEW_MIN_BOX)).squeeze(1).tolist()
    out = {}
    for b in skewed:
        m = lll_basis(lat[b].numpy())
        if not np.array_equal(m, np.eye(3, dtype=np.int64)):
            out[b] = torch.as_tensor(m)
    return out


def reduced_batch_basis(num_crystals: int, reductions: dict[int, torch.Tensor],
                        device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, M⁻¹ᵀ) as (B, 3, 3) int64 stacks, identity outside ``reductions``: the reduced cell is M @ L, its
    fractional coordinates x' = x M⁻¹, and an index h' of the reduced cell is h = h' M⁻ᵀ of the cell L."""
    m = torch.eye(3, dtype=torch.int64).repeat(num_crystals, 1, 1)
    for b, mb in reductions.items():
        m[b] = mb
    inv_t = torch.round(torch.linalg.inv(m.double())).long().transpose(-1, -2)
    return m.to(device), inv_t.to(device)


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

    ``q_max_inv_angstrom`` may be a scalar or a (B,) tensor.  Order: crystal, then h, k, l (of the
    reduced basis for a skewed cell, see the module docstring).  The box is screened in float32 with a
    small margin, then the survivors are checked in float64.
    """
    device = lattice.device
    lat = lattice.detach().to(torch.float64)
    bsz = lat.shape[0]
    q_max = torch.as_tensor(q_max_inv_angstrom, dtype=torch.float64, device=device).expand(bsz)
    reductions = skewed_reductions(lat, q_max)
    if not reductions:
        return _enumerate(lat, q_max, q_min_inv_angstrom)
    # skewed cells: enumerated in their reduced basis, then indexed in the cell as given
    m, inv_t = reduced_batch_basis(bsz, reductions, device)
    refl = _enumerate(m.to(lat.dtype) @ lat, q_max, q_min_inv_angstrom)
    return Reflections(hkl=original_indices(refl.hkl, inv_t, refl.crystal_index), crystal_index=refl.crystal_index)


def original_indices(hkl_reduced: torch.Tensor, inv_t: torch.Tensor, crystal_index: torch.Tensor) -> torch.Tensor:
    """Indices h = h' M⁻ᵀ in the cell as given of reflections h' of the reduced cells (see
    :func:`reduced_batch_basis`), each put back in the Friedel half space (first non-zero index positive)."""
    hkl = torch.einsum("ri,rij->rj", hkl_reduced, inv_t.index_select(0, crystal_index))
    first = torch.where(hkl[:, 0] != 0, hkl[:, 0], torch.where(hkl[:, 1] != 0, hkl[:, 1], hkl[:, 2]))
    return torch.where((first < 0)[:, None], -hkl, hkl)


def _enumerate(lat: torch.Tensor, q_max: torch.Tensor, q_min_inv_angstrom: float) -> Reflections:
    """:func:`enumerate_reflections` of float64 cells ``lat`` (B, 3, 3), ``q_max`` (B,), as they are."""
    g_max = q_max / (2.0 * math.pi)
    hmax = box_extent(lat, q_max)  # (B, 3)
    dims = half_box_dims(hmax)  # h >= 0 half
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
