"""Batches of crystals as flat tensors: the data type every core module accepts.

A :class:`CrystalBatch` holds ``B`` crystals with ``N`` atoms in total:

* ``lattice`` (B, 3, 3), Å: rows are the lattice vectors a, b, c in Cartesian coordinates;
* ``frac`` (N, 3): fractional coordinates;
* ``atomic_numbers`` (N,): Z of each atom (a partially occupied site with two species is two atoms
  at the same position);
* ``occupancy`` (N,): site occupancy in [0, 1];
* ``b_iso`` (N,), Å²: isotropic Debye–Waller B factor (0 = none), amplitude factor exp(−B s²) (intensity exp(−2B s²));
* ``num_atoms`` (B,): atoms per crystal; atoms of crystal ``b`` are consecutive.

No pymatgen here: conversion from pymatgen structures lives in :mod:`pxrdsolve.io.structures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from pxrdsolve.ops.scatter import repeat_segments, segment_offsets


@dataclass(frozen=True)
class CrystalBatch:
    """A flat batch of crystals (see module docstring for shapes and units)."""

    lattice: torch.Tensor
    frac: torch.Tensor
    atomic_numbers: torch.Tensor
    occupancy: torch.Tensor
    b_iso: torch.Tensor
    num_atoms: torch.Tensor

    @property
    def num_crystals(self) -> int:
        return int(self.lattice.shape[0])

    @property
    def batch(self) -> torch.Tensor:
        """Crystal index of each atom, (N,)."""
        return torch.repeat_interleave(
            torch.arange(self.num_crystals, device=self.lattice.device), self.num_atoms
        )

    @property
    def atom_offsets(self) -> torch.Tensor:
        """(B+1,) offsets of each crystal's atoms in the flat arrays."""
        return segment_offsets(self.num_atoms)

    @property
    def volume_angstrom3(self) -> torch.Tensor:
        """Cell volumes (B,), Å³."""
        return torch.linalg.det(self.lattice).abs()

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> CrystalBatch:
        """Move to a device and/or cast the floating-point fields to ``dtype``."""

        def f(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if dtype is not None else t.dtype)

        def i(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device)

        return CrystalBatch(
            f(self.lattice), f(self.frac), i(self.atomic_numbers), f(self.occupancy), f(self.b_iso),
            i(self.num_atoms),
        )

    def with_(self, **changes: torch.Tensor) -> CrystalBatch:
        """A copy with some fields replaced (e.g. refined ``lattice`` or ``frac``)."""
        return replace(self, **changes)

    def select(self, indices: Sequence[int] | torch.Tensor) -> CrystalBatch:
        """The sub-batch of the given crystal indices, in that order."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.lattice.device)
        counts = self.num_atoms[idx]
        seg, pos = repeat_segments(counts)
        atom_idx = self.atom_offsets[idx][seg] + pos
        return CrystalBatch(
            self.lattice[idx], self.frac[atom_idx], self.atomic_numbers[atom_idx],
            self.occupancy[atom_idx], self.b_iso[atom_idx], counts,
        )

    @staticmethod
    def concat(batches: Sequence[CrystalBatch]) -> CrystalBatch:
        """Concatenate batches (crystal order preserved)."""
        return CrystalBatch(*(torch.cat([getattr(b, name) for b in batches]) for name in _FIELDS))


_FIELDS = ("lattice", "frac", "atomic_numbers", "occupancy", "b_iso", "num_atoms")


@dataclass(frozen=True)
class CrystalRecord:
    """One crystal as numpy arrays (the unit stored in HDF5 files and passed between processes)."""

    lattice: np.ndarray  # (3, 3) Å, rows a, b, c
    frac: np.ndarray  # (n, 3)
    atomic_numbers: np.ndarray  # (n,)
    occupancy: np.ndarray  # (n,)
    b_iso: np.ndarray | None = None  # (n,) Å²

    def __post_init__(self) -> None:
        n = len(self.atomic_numbers)
        if np.shape(self.lattice) != (3, 3) or np.shape(self.frac) != (n, 3) or len(self.occupancy) != n:
            raise ValueError("inconsistent crystal arrays")


def batch_from_records(
    records: Sequence[CrystalRecord], dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"
) -> CrystalBatch:
    """Stack :class:`CrystalRecord` objects into a :class:`CrystalBatch`."""
    if not records:
        raise ValueError("empty batch")
    lat = np.stack([np.asarray(r.lattice, dtype=float) for r in records])
    frac = np.concatenate([np.asarray(r.frac, dtype=float).reshape(-1, 3) for r in records])
    z = np.concatenate([np.asarray(r.atomic_numbers, dtype=np.int64) for r in records])
    occ = np.concatenate([np.asarray(r.occupancy, dtype=float) for r in records])
    b = np.concatenate(
        [np.zeros(len(r.atomic_numbers)) if r.b_iso is None else np.asarray(r.b_iso, float) for r in records]
    )
    n = np.array([len(r.atomic_numbers) for r in records], dtype=np.int64)
    t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    return CrystalBatch(
        t(lat, dtype), t(frac, dtype), t(z, torch.long), t(occ, dtype), t(b, dtype), t(n, torch.long)
    )
