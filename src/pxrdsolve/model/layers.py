"""Building blocks: MLPs and the all-pairs periodic message-passing layer (DiffCSP's CSPNet idea).

A :class:`PeriodicPairLayer` updates atom features h (N, H) with messages from every atom of the
same cell (self included).  The edge input is [h_i, h_j, lattice features of the cell (Gram
matrix), Fourier features of x_j - x_i, a self-pair flag (1 for j = i)]; messages are averaged per
receiving atom (through :mod:`pxrdsolve.ops.scatter`) and added residually.  No radius graph, no Cartesian vectors: the
layer is invariant to rotations of the lattice and to periodic translations of the atoms, and
equivariant to atom permutations.  The self-pair flag lets a layer tell an atom's own pair from a
second atom of the same type on the same site (both have x_j - x_i = 0): without it a denoiser
cannot learn that two atoms must not share a site, and the sampler piles atoms onto one site.
"""

from __future__ import annotations

import torch
from torch import nn

from pxrdsolve.model.geometry import all_pairs, fourier_features, lattice_features
from pxrdsolve.ops.scatter import scatter_mean


def mlp(sizes: list[int], act_last: bool = False) -> nn.Sequential:
    """Linear layers with SiLU between them (and after the last one if ``act_last``)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or act_last:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class PeriodicPairLayer(nn.Module):
    """One all-pairs message-passing layer (hidden width H, K Fourier frequencies)."""

    def __init__(self, hidden: int, num_freqs: int) -> None:
        super().__init__()
        self.num_freqs = num_freqs
        self.edge = mlp([2 * hidden + 6 + 6 * num_freqs + 1, hidden, hidden], act_last=True)
        self.node = mlp([2 * hidden, hidden, hidden])
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h: torch.Tensor, frac: torch.Tensor, lat_feat: torch.Tensor,
                pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        src, dst, crystal = pairs
        hn = self.norm(h)
        ff = fourier_features(frac[src] - frac[dst], self.num_freqs)
        is_self = (src == dst).to(h.dtype).unsqueeze(-1)
        m = self.edge(torch.cat([hn[dst], hn[src], lat_feat[crystal], ff, is_self], -1))
        agg = scatter_mean(m, dst, h.shape[0])
        return h + self.node(torch.cat([hn, agg], -1))


class PairNet(nn.Module):
    """A stack of :class:`PeriodicPairLayer` over a flat batch; returns atom features (N, H)."""

    def __init__(self, hidden: int, num_layers: int, num_freqs: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(PeriodicPairLayer(hidden, num_freqs) for _ in range(num_layers))
        self.out_norm = nn.LayerNorm(hidden)

    def forward(self, h: torch.Tensor, frac: torch.Tensor, lattice: torch.Tensor,
                num_atoms: torch.Tensor) -> torch.Tensor:
        pairs = all_pairs(num_atoms)
        lat_feat = lattice_features(lattice, num_atoms).to(h.dtype)
        for layer in self.layers:
            h = layer(h, frac, lat_feat, pairs)
        return self.out_norm(h)
