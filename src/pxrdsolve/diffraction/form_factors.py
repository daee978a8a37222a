"""Atomic X-ray form factors f(Z, s) with pymatgen's coefficients (shipped as package data).

f(s) = Z − 41.78214 · s² · Σ_i a_i exp(−b_i s²), with s = sin θ / λ = g/2 = Q/(4π) in Å⁻¹
(the same table and formula as pymatgen's ``XRDCalculator``).  The 41.78214 factor converts the
tabulated electron-scattering Gaussians (Mott–Bethe) to electrons.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import torch

from pxrdsolve.elements import UnknownElementError, symbol

MOTT_BETHE = 41.78214


@lru_cache(maxsize=1)
def _table() -> tuple[torch.Tensor, torch.Tensor]:
    """(coefficients (119, 4, 2), known (119,) bool) indexed by Z; deuterium shares Z = 1 with H."""
    text = resources.files("pxrdsolve.data").joinpath("atomic_scattering_params.json").read_text()
    data = json.loads(text)["elements"]
    coeff = torch.zeros(119, 4, 2, dtype=torch.float64)
    known = torch.zeros(119, dtype=torch.bool)
    for sym, entry in data.items():
        if sym == "D":
            continue
        z = int(entry["Z"])
        coeff[z] = torch.tensor(entry["ab"], dtype=torch.float64)
        known[z] = True
    return coeff, known


def check_elements(atomic_numbers: torch.Tensor) -> None:
    """Raise :class:`UnknownElementError` if any atomic number has no form-factor coefficients."""
    _, known = _table()
    z = atomic_numbers.detach().cpu().long()
    if z.numel() and (bool((z < 1).any()) or bool((z > 118).any()) or not bool(known[z].all())):
        bad = sorted({int(v) for v in z.tolist() if not (1 <= v <= 118) or not bool(known[v])})
        names = [symbol(v) if 1 <= v <= 118 else str(v) for v in bad]
        raise UnknownElementError(f"no X-ray form factor for element(s) {', '.join(names)}")


def form_factor(atomic_numbers: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """f(Z, s) in electrons for paired entries (same shape), ``s2`` = (sin θ/λ)² in Å⁻²."""
    coeff, _ = _table()
    c = coeff.to(device=s2.device, dtype=s2.dtype)[atomic_numbers]  # (..., 4, 2)
    a, b = c[..., 0], c[..., 1]
    return atomic_numbers.to(s2.dtype) - MOTT_BETHE * s2 * (a * torch.exp(-b * s2.unsqueeze(-1))).sum(-1)


__all__ = ["UnknownElementError", "check_elements", "form_factor"]
