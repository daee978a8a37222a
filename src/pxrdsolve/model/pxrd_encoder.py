"""Amortised PXRD encoder: (pattern, measured-Q mask, composition) → q(z | pattern).

Input: the 512-point model-input pattern in [0, 1], a 512-point boolean mask (True where the Q
point was measured; zeros outside it carry no information), and the composition as atom fractions
(B, num_elements) plus the atom count.  Output: ``(mu, logvar)`` (B, latent), trained to cover
the crystal encoder's posterior so a solve can start its latent search near the answer.
"""

from __future__ import annotations

import torch
from torch import nn

from pxrdsolve.model.config import ModelConfig
from pxrdsolve.model.layers import mlp


class PXRDEncoder(nn.Module):
    """Strided 1-D convolutions over [pattern, mask], then an MLP with the composition."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.max_atoms = cfg.max_atoms
        ch = max(cfg.pxrd_channels, 2)
        convs: list[nn.Module] = []
        c_in, length = 2, cfg.pxrd_points
        for stage in range(5):  # 512 → 16 points
            c_out = ch * min(2**stage, 4)
            convs += [nn.Conv1d(c_in, c_out, 7, stride=2, padding=3), nn.SiLU()]
            c_in, length = c_out, (length + 1) // 2
        self.convs = nn.Sequential(*convs)
        self.mlp = mlp([c_in * length + cfg.num_elements + 1, cfg.pxrd_hidden, cfg.pxrd_hidden,
                        2 * cfg.latent])

    def forward(self, pattern: torch.Tensor, mask: torch.Tensor, composition: torch.Tensor,
                num_atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = mask.to(pattern.dtype)
        x = self.convs(torch.stack([pattern * m, m], 1)).flatten(1)
        n = (num_atoms.to(pattern.dtype) / self.max_atoms).unsqueeze(-1)
        mu, logvar = self.mlp(torch.cat([x, composition.to(pattern.dtype), n], -1)).chunk(2, -1)
        return mu, logvar.clamp(-10.0, 10.0)
