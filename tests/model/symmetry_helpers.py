"""Symmetry test helpers for crystal models (in the spirit of e3nn's ``e3nn/util/test.py``).

Each helper applies a symmetry operation to a :class:`CrystalBatch`, calls ``fn`` on both, and
asserts that the outputs agree (invariance) or transform accordingly (equivariance).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pxrdsolve.crystal import CrystalBatch


def random_crystals(num_atoms: list[int], seed: int = 0, dtype: torch.dtype = torch.float32) -> CrystalBatch:
    """A batch of random, reasonably shaped cells with random elements."""
    g = torch.Generator().manual_seed(seed)
    b = len(num_atoms)
    n = torch.tensor(num_atoms)
    total = int(n.sum())
    lat = torch.eye(3).repeat(b, 1, 1) * (3.0 + 2.0 * torch.rand(b, 1, 1, generator=g))
    lat = lat + 0.6 * torch.rand(b, 3, 3, generator=g)
    frac = torch.rand(total, 3, generator=g)
    z = torch.randint(1, 84, (total,), generator=g)
    return CrystalBatch(lat.to(dtype), frac.to(dtype), z, torch.ones(total, dtype=dtype),
                        torch.zeros(total, dtype=dtype), n)


def random_rotation(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A random proper rotation matrix (3, 3)."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def permutation_within_crystals(num_atoms: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A flat permutation (N,) that shuffles atoms inside each crystal (keeps crystals contiguous)."""
    g = torch.Generator().manual_seed(seed)
    parts, start = [], 0
    for n in num_atoms.tolist():
        parts.append(start + torch.randperm(n, generator=g))
        start += n
    return torch.cat(parts)


def permute(crystals: CrystalBatch, perm: torch.Tensor) -> CrystalBatch:
    return crystals.with_(frac=crystals.frac[perm], atomic_numbers=crystals.atomic_numbers[perm],
                          occupancy=crystals.occupancy[perm], b_iso=crystals.b_iso[perm])


def translate(crystals: CrystalBatch, shift: torch.Tensor) -> CrystalBatch:
    """Shift every crystal's atoms by ``shift`` (B, 3) fractional, wrapped into [0, 1)."""
    return crystals.with_(frac=torch.remainder(crystals.frac + shift[crystals.batch], 1.0))


def rotate(crystals: CrystalBatch, rot: torch.Tensor) -> CrystalBatch:
    """Rotate the Cartesian frame: lattice rows → rows @ Rᵀ (fractional coordinates unchanged)."""
    return crystals.with_(lattice=crystals.lattice @ rot.T)


def _close(a: torch.Tensor, b: torch.Tensor, atol: float, what: str) -> None:
    err = (a - b).abs().max().item()
    assert err <= atol, f"{what}: max deviation {err:.3g} > {atol:.3g}"


def assert_permutation_invariant(fn: Callable[[CrystalBatch], torch.Tensor], crystals: CrystalBatch,
                                 atol: float = 1e-5, seed: int = 0) -> None:
    perm = permutation_within_crystals(crystals.num_atoms, seed)
    assert not torch.equal(perm, torch.arange(perm.numel())), "identity permutation tests nothing"
    _close(fn(crystals), fn(permute(crystals, perm)), atol, "permutation invariance")


def assert_permutation_equivariant(fn: Callable[[CrystalBatch], torch.Tensor], crystals: CrystalBatch,
                                   atol: float = 1e-5, seed: int = 0) -> None:
    """``fn`` returns per-atom rows (N, ...): permuting atoms permutes the rows."""
    perm = permutation_within_crystals(crystals.num_atoms, seed)
    assert not torch.equal(perm, torch.arange(perm.numel())), "identity permutation tests nothing"
    _close(fn(crystals)[perm], fn(permute(crystals, perm)), atol, "permutation equivariance")


def assert_translation_invariant(fn: Callable[[CrystalBatch], torch.Tensor], crystals: CrystalBatch,
                                 atol: float = 1e-5, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    shift = torch.rand(crystals.num_crystals, 3, generator=g, dtype=crystals.frac.dtype)
    _close(fn(crystals), fn(translate(crystals, shift)), atol, "translation invariance")


def assert_rotation_invariant(fn: Callable[[CrystalBatch], torch.Tensor], crystals: CrystalBatch,
                              atol: float = 1e-5, seed: int = 0) -> None:
    rot = random_rotation(seed, crystals.lattice.dtype)
    _close(fn(crystals), fn(rotate(crystals, rot)), atol, "rotation invariance")


def assert_sensitive(fn: Callable[[CrystalBatch], torch.Tensor], crystals: CrystalBatch,
                     atol: float = 1e-4) -> None:
    """Guard against trivially invariant functions: moving one atom must change the output."""
    frac = crystals.frac.clone()
    frac[0] = torch.remainder(frac[0] + torch.tensor([0.13, 0.21, 0.07], dtype=frac.dtype), 1.0)
    err = (fn(crystals) - fn(crystals.with_(frac=frac))).abs().max().item()
    assert err > atol, f"output does not depend on atom positions (change {err:.3g})"
