"""Reciprocal-lattice geometry: reciprocal vectors and Q of reflections (hkl).

The crystallographic reciprocal vectors satisfy a·a* = 1; a reflection G = h a* + k b* + l c* has
Q = 2π|G| (Å⁻¹), a differentiable function of the lattice.  The reflections themselves are
enumerated (one Friedel half-space, first non-zero index positive) in
:mod:`pxrdsolve.diffraction.structure_factors`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


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
