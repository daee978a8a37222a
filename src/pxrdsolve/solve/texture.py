"""March–Dollase preferred orientation (texture) of a powder: the factor per reflection and its settings.

A flat-plate powder of platy or needle-like crystallites is not random: the crystallites lie with one
reciprocal-lattice direction G_pref along the diffraction vector more (r < 1, plates) or less (r > 1,
needles) often than at random.  March (1932) and Dollase (1986) model the orientation density of G_pref
as a one-parameter ellipsoidal distribution, which multiplies the intensity of reflection h by

    P(h) = (r² cos²α + sin²α / r)^(−3/2),    α = angle between G_h and G_pref,

r > 0 the March–Dollase ratio (1 = random powder).  P averages to 1 over the sphere of orientations for
every r (∫ P dΩ / 4π = 1), so it conserves the powder average: no extra normalisation (GSAS-II and TOPAS
apply it the same way).  The factor differs between members of one family of equivalent reflections
(001 versus 100 of a cubic crystal along [001]), so it must be applied per reflection *before*
equivalents are merged into peaks.

Indices: reflections are enumerated in the *primitive* cell the simulator uses; the preferred direction is
given, as a user states it, as a reciprocal-lattice vector h_c = (H, K, L) of the candidate's *conventional
standard* cell.  With M the conventional → primitive basis change (rows: primitive vectors in conventional
coordinates, L_prim = M · L_conv, see :mod:`pxrdsolve.structure.template`), Miller indices transform like
basis vectors: h_p = M · h_c (e.g. F-centred [200] → (0, 1, 1) of the primitive cell).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

# names of the texture parameters in the per-candidate ``profile`` dict of the refinement (name → (B,))
R_KEY = "march_dollase_r"
HKL_KEYS = ("march_dollase_h", "march_dollase_k", "march_dollase_l")
TEXTURE_KEYS = (R_KEY, *HKL_KEYS)

# low-index directions tried by ``--texture auto``, one per family that the Laue class keeps distinct
# (conventional standard cell: c unique for tetragonal/hexagonal/trigonal, b unique for monoclinic)
AUTO_DIRECTIONS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "cubic": ((1, 0, 0), (1, 1, 0), (1, 1, 1)),
    "tetragonal": ((0, 0, 1), (1, 0, 0), (1, 1, 0), (1, 1, 1)),
    "hexagonal": ((0, 0, 1), (1, 0, 0), (1, 1, 0), (1, 0, 1)),
    "trigonal": ((0, 0, 1), (1, 0, 0), (1, 1, 0), (1, 0, 1)),
    "orthorhombic": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (1, 1, 0), (1, 1, 1)),
    "monoclinic": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (1, 1, 0), (1, 1, 1)),
    "triclinic": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (1, 1, 0), (1, 1, 1)),
}


@dataclass(frozen=True)
class TextureConfig:
    """Preferred orientation in the refinement.

    ``mode``: ``none`` (random powder, the refinement as without this option), ``auto`` (for data fitted with
    the instrument model - 2θ data or ``--instrument`` - each of the ``candidates`` best refined candidates
    refines every direction of :data:`AUTO_DIRECTIONS` and keeps the one that lowers χ² most; Q-axis
    model-input patterns fitted with the fixed-width profile, e.g. PXRDNet's, are left untextured, which
    saves the stage's time where texture is not expected) or ``"H,K,L"`` (that direction, conventional
    standard cell).  Texture is kept only when it lowers the penalised χ² of
    :mod:`pxrdsolve.solve.selection` (one extra parameter).
    r is refined as log r within ``r_bounds`` by ``steps`` Adam steps of learning rate ``lr``, together
    with the cell, τ, zero, profile, coordinates and B (a random-powder copy gets the same steps, so that
    texture is judged against an equally refined plain fit)."""

    mode: str = "auto"
    candidates: int = 3
    r_bounds: tuple[float, float] = (0.5, 2.0)
    steps: int = 20
    lr: float = 0.1


def parse_texture(text: str) -> str:
    """Normalised ``--texture`` value: ``none``, ``auto`` or ``"H,K,L"`` (integers, not all zero).
    Raises ValueError with a one-line message for anything else."""
    s = str(text).strip().lower().replace(" ", "")
    if s in ("none", "off", "auto"):
        return "none" if s == "off" else s
    parts = s.strip("[]()").split(",")
    try:
        hkl = [int(p) for p in parts]
    except ValueError:
        hkl = []
    if len(hkl) != 3 or not any(hkl):
        raise ValueError(f"--texture {text!r}: give none, auto or a direction H,K,L (integers, e.g. 0,0,1)")
    return ",".join(str(v) for v in hkl)


def texture_directions(mode: str, crystal_system: str) -> tuple[tuple[int, int, int], ...]:
    """The preferred directions (conventional hkl) to try for a crystal of ``crystal_system``."""
    mode = parse_texture(mode)
    if mode == "none":
        return ()
    if mode == "auto":
        return AUTO_DIRECTIONS[crystal_system]
    h, k, m = (int(v) for v in mode.split(","))
    return ((h, k, m),)


def primitive_direction(hkl_conventional: torch.Tensor, to_primitive: torch.Tensor) -> torch.Tensor:
    """Reciprocal-lattice direction(s) in primitive-cell indices, h_p = M · h_c: (…, 3) from conventional
    (…, 3) and M (…, 3, 3) (L_prim = M · L_conv)."""
    h = torch.as_tensor(hkl_conventional, dtype=torch.float64)
    m = torch.as_tensor(to_primitive, dtype=torch.float64)
    return torch.einsum("...ij,...j->...i", m, h)


def march_dollase(hkl: torch.Tensor, crystal_index: torch.Tensor, lattice: torch.Tensor,
                  direction: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """March–Dollase factor (R,) of every reflection (see module docstring).

    ``hkl`` (R, 3) integer indices in the cells ``lattice`` (B, 3, 3) (rows a, b, c in Å) of crystals
    ``crystal_index`` (R,); ``direction`` (B, 3) G_pref in the same cells' reciprocal indices (any real
    multiple); ``ratio`` (B,) r.  Differentiable in ``lattice`` and ``ratio``.  Crystals whose direction
    is zero get 1."""
    recip = torch.linalg.inv(lattice).transpose(-1, -2)  # rows a*, b*, c* (no 2π: angles only)
    g = torch.einsum("ri,rij->rj", hkl.to(recip.dtype), recip[crystal_index])
    p = torch.einsum("bi,bij->bj", direction.to(recip.dtype), recip)
    pn = p.norm(dim=-1)
    active = pn > 0
    p_unit = p / torch.where(active, pn, torch.ones_like(pn))[:, None]
    cos = (g * p_unit[crystal_index]).sum(-1) / g.norm(dim=-1).clamp_min(1e-300)
    cos2 = (cos**2).clamp(0.0, 1.0)
    r = ratio.to(recip.dtype)[crystal_index]
    factor = (r**2 * cos2 + (1.0 - cos2) / r) ** -1.5
    return torch.where(active[crystal_index], factor, torch.ones_like(factor))


def march_dollase_weight(lattice: torch.Tensor, direction: torch.Tensor, ratio: torch.Tensor
                         ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``reflection_weight`` for :func:`~pxrdsolve.diffraction.peaks.compute_peaks`: hkl, crystal index →
    March–Dollase factor in the cells ``lattice`` (B, 3, 3)."""

    def weight(hkl: torch.Tensor, crystal_index: torch.Tensor) -> torch.Tensor:
        return march_dollase(hkl, crystal_index, lattice, direction, ratio)

    return weight


def split_texture(profile: dict[str, torch.Tensor] | None
                  ) -> tuple[dict[str, torch.Tensor] | None, tuple[torch.Tensor, torch.Tensor] | None]:
    """(instrument parameters, (conventional hkl (B, 3), r (B,)) or None) of a per-candidate ``profile`` dict."""
    if not profile or R_KEY not in profile:
        return profile, None
    rest = {k: v for k, v in profile.items() if k not in TEXTURE_KEYS}
    hkl = torch.stack([torch.as_tensor(profile[k], dtype=torch.float64) for k in HKL_KEYS], dim=-1)
    return rest or None, (hkl, torch.as_tensor(profile[R_KEY], dtype=torch.float64))


def texture_record(profile: dict[str, np.ndarray], b: int) -> dict | None:
    """``{"r": …, "hkl": [H, K, L]}`` of candidate ``b`` (conventional standard cell), None without texture."""
    if R_KEY not in profile:
        return None
    hkl = [int(round(float(profile[k][b]))) for k in HKL_KEYS]
    r = float(profile[R_KEY][b])
    if not any(hkl) or not math.isfinite(r):
        return None
    return {"r": r, "hkl": hkl}


def log_ratio(u: torch.Tensor, r_bounds: tuple[float, float]) -> torch.Tensor:
    """r = exp(c + h·tanh u) within ``r_bounds`` (c, h: centre and half-width of log r); u = 0 ↔ r = √(lo·hi)."""
    lo, hi = (math.log(v) for v in r_bounds)
    return torch.exp(0.5 * (lo + hi) + 0.5 * (hi - lo) * torch.tanh(u))
