"""The CDVAE-style generative model conditioned on PXRD (pure torch; never imports pymatgen).

Modules: :mod:`config` (presets), :mod:`geometry` (invariant lattice/pair features), :mod:`layers`,
:mod:`encoder` (crystal → z), :mod:`pxrd_encoder` (pattern → z), :mod:`heads` (lattice, atom
count, composition, PXRD regressor), :mod:`noise` (σ ladder, wrapped-normal score),
:mod:`decoder` (score network), :mod:`model` (losses), :mod:`sampler` (annealed Langevin),
:mod:`checkpoint` (HDF5 I/O).
"""

from __future__ import annotations

from pxrdsolve.model.checkpoint import Checkpoint, load_checkpoint, load_model, save_checkpoint
from pxrdsolve.model.config import Config, preset
from pxrdsolve.model.model import PXRDSolveModel
from pxrdsolve.model.sampler import LangevinSettings, langevin_sample

__all__ = [
    "Checkpoint", "Config", "LangevinSettings", "PXRDSolveModel", "langevin_sample", "load_checkpoint",
    "load_model", "preset", "save_checkpoint",
]
