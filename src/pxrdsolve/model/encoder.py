"""Crystal encoder: a crystal → a diagonal Gaussian q(z | crystal) in latent space.

Atom-type embeddings are refined by :class:`~pxrdsolve.model.layers.PairNet` and mean-pooled per
crystal, so (μ, log σ²) are invariant to atom order, periodic translations and lattice rotations.
"""

from __future__ import annotations

import torch
from torch import nn

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.model.config import ModelConfig
from pxrdsolve.model.layers import PairNet, mlp
from pxrdsolve.ops.scatter import scatter_mean


class CrystalEncoder(nn.Module):
    """Maps a :class:`CrystalBatch` to ``(mu, logvar)``, each (B, latent)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.num_elements + 1, cfg.hidden)
        self.net = PairNet(cfg.hidden, cfg.encoder_layers, cfg.num_freqs)
        self.head = mlp([cfg.hidden, cfg.hidden, 2 * cfg.latent])

    def forward(self, crystals: CrystalBatch) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = self.embed.weight.dtype
        h = self.embed(crystals.atomic_numbers.long().clamp(0, self.embed.num_embeddings - 1))
        h = self.net(h, crystals.frac.to(dtype), crystals.lattice.to(dtype), crystals.num_atoms)
        pooled = scatter_mean(h, crystals.batch, crystals.num_crystals)
        mu, logvar = self.head(pooled).chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 10.0)
