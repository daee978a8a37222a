"""Score network: predicts σ·∇ log p of noisy fractional coordinates given z, types and lattice.

Inputs per atom: the type embedding plus a projection of [z of its crystal, embedding of log σ].
Outputs (N, 3): the dimensionless score σ·s in fractional coordinates (see
:mod:`~pxrdsolve.model.noise`).  Atom types are teacher-forced (never denoised): the composition
is known when solving.  Equivariant to atom permutations, invariant to periodic translations and
to lattice rotations (fractional scores do not rotate).
"""

from __future__ import annotations

import torch
from torch import nn

from pxrdsolve.model.config import ModelConfig
from pxrdsolve.model.geometry import sinusoidal_embedding
from pxrdsolve.model.layers import PairNet, mlp


class ScoreDecoder(nn.Module):
    """σ-conditioned all-pairs score model (DiffCSP-style, coordinates only)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.time_embed = cfg.time_embed
        self.embed = nn.Embedding(cfg.num_elements + 1, cfg.hidden)
        self.cond = mlp([cfg.latent + cfg.time_embed, cfg.hidden, cfg.hidden])
        self.net = PairNet(cfg.hidden, cfg.decoder_layers, cfg.num_freqs)
        self.out = mlp([cfg.hidden, cfg.hidden, 3])

    def forward(self, z: torch.Tensor, atomic_numbers: torch.Tensor, frac: torch.Tensor,
                lattice: torch.Tensor, num_atoms: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Score (N, 3) for noisy ``frac`` (N, 3); ``z`` (B, latent), ``sigma`` (B,) fractional."""
        dtype = self.embed.weight.dtype
        batch = torch.repeat_interleave(torch.arange(z.shape[0], device=z.device), num_atoms)
        t = sinusoidal_embedding(torch.log(sigma.to(dtype)), self.time_embed)
        h = self.embed(atomic_numbers.long().clamp(0, self.embed.num_embeddings - 1))
        h = h + self.cond(torch.cat([z.to(dtype), t], -1))[batch]
        h = self.net(h, frac.to(dtype), lattice.to(dtype), num_atoms)
        return self.out(h)
