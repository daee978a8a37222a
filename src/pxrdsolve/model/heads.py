"""Property heads on the latent z: lattice, atom count, composition, and the PXRD regressor.

* :class:`LatticeHead` - 6 numbers: log(length / N^(1/3)) for a, b, c and (angle - 90°)/30° (see
  :func:`~pxrdsolve.model.geometry.normalized_lattice_params`); conditioned on N so one latent can
  be decoded at the known atom count.
* :class:`NumAtomsHead` - logits over 0..max_atoms atoms.
* :class:`CompositionHead` - logits over elements (column Z-1); softmax = atom fractions.
* :class:`PXRDRegressor` - the 512-point model-input pattern in [0, 1] from z (used to optimise z
  against a measured pattern).
"""

from __future__ import annotations

import torch
from torch import nn

from pxrdsolve.model.config import ModelConfig
from pxrdsolve.model.layers import mlp


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
    """z → the 512-point pattern in [0, 1]: an MLP to a coarse profile, upsampled and refined by convs."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.points = cfg.pxrd_points
        self.coarse = self.points // 8
        ch = max(cfg.pxrd_channels, 4)
        self.ch = ch
        self.mlp = mlp([cfg.latent, cfg.pxrd_hidden, ch * self.coarse], act_last=True)
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=8, mode="linear", align_corners=False),
            nn.Conv1d(ch, ch, 9, padding=4), nn.SiLU(),
            nn.Conv1d(ch, ch, 9, padding=4), nn.SiLU(),
            nn.Conv1d(ch, 1, 9, padding=4),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.mlp(z).view(z.shape[0], self.ch, self.coarse)
        return torch.sigmoid(self.up(x).squeeze(1))
