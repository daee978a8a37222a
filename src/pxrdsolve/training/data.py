"""Training-set HDF5 files: writing, reading, and deterministic mini-batches (no pymatgen).

File layout (``kind = "pxrdsolve.training_set"``, ``format_version`` 1)::

    lattice          (B, 3, 3) float32, Å, rows a, b, c
    frac             (N, 3)    float32, fractional coordinates in [0, 1)
    atomic_numbers   (N,)      uint8
    atom_offsets     (B+1,)    int64, atoms of crystal b are atom_offsets[b]:atom_offsets[b+1]
    material_id      (B,)      UTF-8 strings
    formula          (B,)      UTF-8 strings (reduced formula)
    split            (B,)      uint8, 0 = train, 1 = val
    attrs: kind, format_version, config (JSON: how the file was built)

Batch order is a pure function of (seed, epoch, step, rank), so a resumed or distributed run sees
exactly the batches an uninterrupted single run would have seen.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pxrdsolve import __version__
from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.errors import FormatVersionError, InputError
from pxrdsolve.io.atomic import atomic_path
from pxrdsolve.io.hashing import check_content_hash, content_hash

KIND = "pxrdsolve.training_set"
FORMAT_VERSION = 1
SPLITS = ("train", "val")


def write_dataset(path: str | os.PathLike, lattices: np.ndarray, frac: np.ndarray, atomic_numbers: np.ndarray,
                  num_atoms: np.ndarray, material_ids: Sequence[str], formulas: Sequence[str],
                  split: np.ndarray, config: dict[str, Any]) -> Path:
    """Write a training set atomically (temporary file in the same folder, then rename)."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum(np.asarray(num_atoms, dtype=np.int64))])
    if offsets[-1] != len(frac) or len(lattices) != len(num_atoms):
        raise ValueError("inconsistent dataset arrays")
    str_dt = h5py.string_dtype("utf-8")
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("lattice", data=np.asarray(lattices, np.float32), compression="gzip")
            f.create_dataset("frac", data=np.asarray(frac, np.float32), compression="gzip")
            f.create_dataset("atomic_numbers", data=np.asarray(atomic_numbers, np.uint8), compression="gzip")
            f.create_dataset("atom_offsets", data=offsets)
            f.create_dataset("material_id", data=np.asarray(list(material_ids), dtype=object), dtype=str_dt)
            f.create_dataset("formula", data=np.asarray(list(formulas), dtype=object), dtype=str_dt)
            f.create_dataset("split", data=np.asarray(split, np.uint8))
            f.attrs["kind"] = KIND
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["config"] = json.dumps(config)
            f.attrs["split_names"] = json.dumps(list(SPLITS))
            f.attrs["software_version"] = __version__
            f.flush()
            f.attrs["content_sha256"] = content_hash(f)
    return path


@dataclass(frozen=True)
class CrystalDataset:
    """A training set held in memory as flat numpy arrays (MP-20-sized sets take ~30 MB)."""

    lattice: np.ndarray
    frac: np.ndarray
    atomic_numbers: np.ndarray
    atom_offsets: np.ndarray
    material_id: np.ndarray
    formula: np.ndarray
    split: np.ndarray
    config: dict[str, Any]
    path: str = ""

    def __len__(self) -> int:
        return int(self.lattice.shape[0])

    def indices(self, split: str) -> np.ndarray:
        """Crystal indices of ``train`` or ``val``."""
        return np.nonzero(self.split == SPLITS.index(split))[0]

    def batch(self, indices: Sequence[int] | np.ndarray, device: str | torch.device = "cpu") -> CrystalBatch:
        """Crystals ``indices`` as a float32 :class:`CrystalBatch` (occupancy 1, B_iso 0)."""
        idx = np.asarray(indices, dtype=np.int64)
        starts, ends = self.atom_offsets[idx], self.atom_offsets[idx + 1]
        counts = ends - starts
        atom_idx = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
        t = lambda a, dt: torch.as_tensor(a, dtype=dt).to(device)  # noqa: E731
        n = len(atom_idx)
        return CrystalBatch(t(self.lattice[idx], torch.float32), t(self.frac[atom_idx], torch.float32),
                            t(self.atomic_numbers[atom_idx].astype(np.int64), torch.long),
                            torch.ones(n, device=device, dtype=torch.float32),
                            torch.zeros(n, device=device, dtype=torch.float32),
                            t(counts, torch.long))


def load_dataset(path: str | os.PathLike) -> CrystalDataset:
    """Read a training set written by :func:`write_dataset`; foreign/old files → clear errors."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: training-set file not found")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise InputError(f"{path}: not an HDF5 file") from None
    with f:
        if f.attrs.get("kind") != KIND:
            raise FormatVersionError(f"{path}: not a pxrdsolve training set (kind={f.attrs.get('kind')!r})")
        if int(f.attrs.get("format_version", -1)) != FORMAT_VERSION:
            raise FormatVersionError(f"{path}: training-set format_version {f.attrs.get('format_version')} "
                                     f"is not supported (expected {FORMAT_VERSION})")
        check_content_hash(f, path, "training-set")
        arrays = {k: f[k][()] for k in ("lattice", "frac", "atomic_numbers", "atom_offsets", "split")}
        ids = f["material_id"].asstr()[()]
        formulas = f["formula"].asstr()[()]
        config = json.loads(f.attrs.get("config", "{}"))
    if not np.isfinite(arrays["lattice"]).all() or not np.isfinite(arrays["frac"]).all():
        raise InputError(f"{path}: non-finite lattice or coordinates")
    return CrystalDataset(material_id=np.asarray(ids), formula=np.asarray(formulas), config=config,
                          path=str(path), **arrays)


def steps_per_epoch(num_train: int, batch_size: int, world_size: int = 1) -> int:
    """Full global batches per epoch (at least 1; small sets repeat within an epoch)."""
    return max(num_train // (batch_size * world_size), 1)


def batch_indices(train_idx: np.ndarray, step: int, batch_size: int, seed: int, rank: int = 0,
                  world_size: int = 1) -> tuple[np.ndarray, int]:
    """Dataset indices of ``rank``'s share of global step ``step``, and the epoch it belongs to.

    Each epoch is a permutation drawn from ``numpy.random.default_rng([seed, epoch])``.
    """
    spe = steps_per_epoch(len(train_idx), batch_size, world_size)
    epoch, within = divmod(step, spe)
    perm = np.random.default_rng([seed, epoch]).permutation(len(train_idx))
    start = (within * world_size + rank) * batch_size
    take = np.arange(start, start + batch_size) % len(perm)
    return train_idx[perm[take]], epoch
