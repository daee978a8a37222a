"""Helpers for the training tests: simple crystals and a tiny config that trains in seconds."""

from __future__ import annotations

import importlib.util

import numpy as np

from pxrdsolve.model.config import Config, preset
from pxrdsolve.training.data import write_dataset

CRYSTALS = [  # (cubic a in Å, [(Z, frac)])
    (5.64, [(11, (0, 0, 0)), (11, (0, .5, .5)), (11, (.5, 0, .5)), (11, (.5, .5, 0)),
            (17, (.5, .5, .5)), (17, (.5, 0, 0)), (17, (0, .5, 0)), (17, (0, 0, .5))]),
    (4.12, [(55, (0, 0, 0)), (17, (.5, .5, .5))]),
    (3.90, [(38, (0, 0, 0)), (22, (.5, .5, .5)), (8, (.5, .5, 0)), (8, (.5, 0, .5)), (8, (0, .5, .5))]),
    (5.43, [(14, (0, 0, 0)), (14, (.25, .25, .25)), (14, (0, .5, .5)), (14, (.25, .75, .75)),
            (14, (.5, 0, .5)), (14, (.75, .25, .75)), (14, (.5, .5, 0)), (14, (.75, .75, .25))]),
    (3.61, [(29, (0, 0, 0)), (29, (0, .5, .5)), (29, (.5, 0, .5)), (29, (.5, .5, 0))]),
    (4.21, [(12, (0, 0, 0)), (8, (.5, .5, .5))]),
]


def simulator_name() -> str:
    """The real PXRDNet pipeline when it exists, else the toy stand-in."""
    return "pxrdnet" if importlib.util.find_spec("pxrdsolve.diffraction.pxrdnet") else "toy"


def tiny_config(**train) -> Config:
    cfg = preset("tiny")
    return cfg.replace(augment={"simulator": simulator_name()}, train=train) if train else cfg.replace(
        augment={"simulator": simulator_name()})


def write_tiny_dataset(path) -> str:
    """Six cubic crystals: four train, two val."""
    lat = np.stack([np.eye(3) * a for a, _ in CRYSTALS])
    frac = np.array([f for _, atoms in CRYSTALS for _, f in atoms], dtype=float)
    z = np.array([zz for _, atoms in CRYSTALS for zz, _ in atoms])
    n = np.array([len(atoms) for _, atoms in CRYSTALS])
    ids = [f"t-{i}" for i in range(len(CRYSTALS))]
    formulas = ["NaCl", "CsCl", "SrTiO3", "Si", "Cu", "MgO"]
    write_dataset(path, lat, frac, z, n, ids, formulas, np.array([0, 0, 0, 0, 1, 1]), {"source": "test"})
    return str(path)
