"""Property heads on the latent z: lattice, atom count, composition, and the PXRD regressor.

* :class:`LatticeHead` - 6 numbers: log(length / N^(1/3)) for a, b, c and (angle - 90°)/30° (see
  :func:`~pxrdsolve.model.geometry.normalized_lattice_params`); conditioned on N so one latent can
  be decoded at the known atom count.
* :class:`NumAtomsHead` - logits over 0..max_atoms atoms.
* :class:`CompositionHead` - logits over elements (column Z-1); softmax = atom fractions.
* :class:`PXRDRegressor` - the 512-point model-input pattern in [0, 1] from z and the crystallite
  size τ (used to optimise z against a measured pattern at the τ the solver estimates).  Training
  patterns are drawn at a random τ (5–200 Å or bulk), so a regressor that saw only z would learn the
  τ-averaged pattern; it is conditioned on :func:`size_features` (log τ and a bulk flag).
"""

from __future__ import annotations

import torch
from torch import nn

from pxrdsolve.model.config import ModelConfig
from pxrdsolve.model.layers import mlp

SIZE_REF_ANGSTROM = 30.0  # τ at which the log-size feature is 0 (the log-middle of 5–200 Å)
BULK_SIZE_ANGSTROM = 1.0e4  # τ at or above this (and τ = inf) counts as bulk: no size broadening
SIZE_FEATURES = 2


def size_features(size_angstrom: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, 2) regressor inputs of crystallite sizes τ (Å, PXRDNet's sinc² convention; inf = bulk).

    Column 0: log10(τ / 30 Å) for finite τ (−0.78 at 5 Å, +0.82 at 200 Å), 0 for bulk; column 1:
    the bulk flag (1 for τ = inf or τ ≥ 10⁴ Å).  τ is clamped below at 1 Å.
    """
    tau = torch.as_tensor(size_angstrom, dtype=torch.float64).reshape(-1)
    bulk = ~torch.isfinite(tau) | (tau >= BULK_SIZE_ANGSTROM)
    safe = torch.where(bulk, torch.full_like(tau, SIZE_REF_ANGSTROM), tau.clamp_min(1.0))
    log_size = torch.log10(safe / SIZE_REF_ANGSTROM)
    return torch.stack([log_size, bulk.to(torch.float64)], -1).to(dtype)


class LatticeHead(nn.Module):
    """z (B, latent) and atom counts (B,) → normalised lattice parameters (B, 6)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.max_atoms = cfg.max_atoms
        self.net = mlp([cfg.latent + 1, cfg.hidden, cfg.hidden, 6])

    def forward(self, z: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        n = (num_atoms.to(z.dtype) / self.max_atoms).unsqueeze(-1)
        return self.net(torch.cat([z, n], -1))


class NumAtomsHead(nn.Module):
    """z → logits (B, max_atoms + 1) over the atom count."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = mlp([cfg.latent, cfg.hidden, cfg.max_atoms + 1])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class CompositionHead(nn.Module):
    """z → logits (B, num_elements) of atom fractions."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = mlp([cfg.latent, cfg.hidden, cfg.num_elements])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class PXRDRegressor(nn.Module):
    """(z, τ) → the 512-point pattern in [0, 1]: an MLP of [z, size features] to a coarse profile,
    upsampled and refined by convs."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.points = cfg.pxrd_points
        self.coarse = self.points // 8
        ch = max(cfg.pxrd_channels, 4)
        self.ch = ch
        self.mlp = mlp([cfg.latent + SIZE_FEATURES, cfg.pxrd_hidden, ch * self.coarse], act_last=True)
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=8, mode="linear", align_corners=False),
            nn.Conv1d(ch, ch, 9, padding=4), nn.SiLU(),
            nn.Conv1d(ch, ch, 9, padding=4), nn.SiLU(),
            nn.Conv1d(ch, 1, 9, padding=4),
        )

    def forward(self, z: torch.Tensor, size_angstrom: torch.Tensor | float) -> torch.Tensor:
        """Pattern (B, 512) for latents ``z`` (B, latent) at sizes τ (Å; (B,) or one value, inf = bulk)."""
        feat = size_features(torch.as_tensor(size_angstrom, dtype=torch.float64).reshape(-1), z.dtype)
        feat = feat.to(z.device).expand(z.shape[0], -1)
        x = self.mlp(torch.cat([z, feat], -1)).view(z.shape[0], self.ch, self.coarse)
        return torch.sigmoid(self.up(x).squeeze(1))
