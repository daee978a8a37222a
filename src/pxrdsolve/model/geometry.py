"""Rotation-invariant lattice features, all-pairs graphs and periodic Fourier features.

Lattices are (B, 3, 3) in Å with rows a, b, c.  Every feature here is invariant to a rotation of
the Cartesian frame (lattice → lattice @ Rᵀ) because it only uses the Gram matrix L Lᵀ, and to a
periodic translation of the atoms because it only uses differences of fractional coordinates.
"""

from __future__ import annotations

import math

import torch

from pxrdsolve.ops.scatter import segment_offsets


def lattice_params(lattice: torch.Tensor) -> torch.Tensor:
    """(B, 6): lengths a, b, c (Å) and angles α, β, γ (degrees) of lattices (B, 3, 3)."""
    lengths = lattice.norm(dim=-1)
    a, b, c = lattice[:, 0], lattice[:, 1], lattice[:, 2]

    def angle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        cos = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))
        return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))

    return torch.cat([lengths, torch.stack([angle(b, c), angle(a, c), angle(a, b)], -1)], -1)


def lattice_from_params(params: torch.Tensor) -> torch.Tensor:
    """Lattice matrices (B, 3, 3) from (B, 6) lengths (Å) and angles (degrees); a along x, b in xy.

    Nearly impossible angle triples are clamped so the result stays finite.
    """
    a, b, c = params[:, 0], params[:, 1], params[:, 2]
    al, be, ga = (torch.deg2rad(params[:, i]) for i in (3, 4, 5))
    ca, cb, cg, sg = torch.cos(al), torch.cos(be), torch.cos(ga), torch.sin(ga).clamp_min(1e-3)
    zero = torch.zeros_like(a)
    cx = cb
    cy = (ca - cb * cg) / sg
    cz = torch.sqrt((1.0 - cx**2 - cy**2).clamp_min(1e-6))
    rows = [
        torch.stack([a, zero, zero], -1),
        torch.stack([b * cg, b * sg, zero], -1),
        torch.stack([c * cx, c * cy, c * cz], -1),
    ]
    return torch.stack(rows, 1)


def normalized_lattice_params(lattice: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
    """(B, 6) regression target: log(length / N^(1/3)) and (angle - 90°) / 30°.

    Lengths are scaled by the cube root of the atom count so one network serves all cell sizes.
    """
    p = lattice_params(lattice)
    scale = num_atoms.to(p.dtype).clamp_min(1).pow(1.0 / 3.0).unsqueeze(-1)
    return torch.cat([torch.log(p[:, :3] / scale), (p[:, 3:] - 90.0) / 30.0], -1)


def lattice_from_normalized(y: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalized_lattice_params`: lattices (B, 3, 3) in Å."""
    scale = num_atoms.to(y.dtype).clamp_min(1).pow(1.0 / 3.0).unsqueeze(-1)
    angles = (y[:, 3:] * 30.0 + 90.0).clamp(30.0, 150.0)
    return lattice_from_params(torch.cat([torch.exp(y[:, :3]) * scale, angles], -1))


def lattice_features(lattice: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
    """(B, 6) rotation-invariant lattice features from the Gram matrix.

    The Gram matrix L Lᵀ is divided by N^(2/3)·(3 Å)² (about one for typical cells), and its six
    independent entries are returned (diagonal first).
    """
    gram = lattice @ lattice.transpose(1, 2)
    scale = num_atoms.to(gram.dtype).clamp_min(1).pow(2.0 / 3.0) * 9.0
    g = gram / scale.view(-1, 1, 1)
    return torch.stack([g[:, 0, 0], g[:, 1, 1], g[:, 2, 2], g[:, 1, 2], g[:, 0, 2], g[:, 0, 1]], -1)


def all_pairs(num_atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every ordered atom pair (i, j) within each crystal, self pairs included.

    Returns ``(src, dst, crystal)`` flat indices of length Σ n_b², with ``src`` the neighbour j and
    ``dst`` the receiving atom i (messages flow src → dst).
    """
    counts = num_atoms.long()
    sq = counts * counts
    crystal = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), sq)
    pos = torch.arange(crystal.numel(), device=counts.device) - segment_offsets(sq)[crystal]
    n = counts[crystal]
    start = segment_offsets(counts)[crystal]
    dst = start + torch.div(pos, n, rounding_mode="floor")
    src = start + pos % n
    return src, dst, crystal


def fourier_features(delta_frac: torch.Tensor, num_freqs: int) -> torch.Tensor:
    """Periodic features (E, 6·num_freqs) of fractional differences (E, 3): sin/cos(2πk·d), k=1..K.

    Invariant to d → d + integer, so periodic images are equivalent.
    """
    k = torch.arange(1, num_freqs + 1, device=delta_frac.device, dtype=delta_frac.dtype)
    x = 2.0 * math.pi * delta_frac.unsqueeze(-1) * k  # (E, 3, K)
    return torch.cat([torch.sin(x), torch.cos(x)], -1).flatten(1)


def sinusoidal_embedding(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, dim) sinusoidal embedding of a scalar per row (e.g. log σ), frequencies 1..1000."""
    half = max(dim // 2, 1)
    freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), half, device=x.device, dtype=x.dtype))
    arg = x.unsqueeze(-1) * freqs
    emb = torch.cat([torch.sin(arg), torch.cos(arg)], -1)
    return emb[:, :dim] if emb.shape[1] >= dim else torch.nn.functional.pad(emb, (0, dim - emb.shape[1]))


def composition_vector(atomic_numbers: torch.Tensor, batch: torch.Tensor, num_crystals: int,
                       num_elements: int) -> torch.Tensor:
    """(B, num_elements) atom fractions per crystal; column Z-1 holds element Z."""
    from pxrdsolve.ops.scatter import scatter_sum

    onehot = torch.nn.functional.one_hot((atomic_numbers.long() - 1).clamp(0, num_elements - 1),
                                         num_elements).float()
    counts = scatter_sum(onehot, batch, num_crystals)
    return counts / counts.sum(-1, keepdim=True).clamp_min(1.0)
