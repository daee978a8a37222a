"""LR schedule (pure function), data loading and deterministic batch order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from training_helpers import tiny_config

from pxrdsolve.errors import FormatVersionError, InputError
from pxrdsolve.model.config import TrainConfig
from pxrdsolve.training.augment import simulate_patterns
from pxrdsolve.training.data import batch_indices, load_dataset, steps_per_epoch
from pxrdsolve.training.schedule import ema_decay_at, lr_at


def test_lr_schedule_warmup_and_cosine():
    cfg = TrainConfig(lr=1e-3, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
    assert math.isclose(lr_at(0, cfg), 1e-4)
    assert math.isclose(lr_at(9, cfg), 1e-3)
    assert math.isclose(lr_at(10, cfg), 1e-3)
    assert math.isclose(lr_at(60, cfg), 1e-4 + 0.5 * 9e-4)  # half way: mean of lr and floor
    assert math.isclose(lr_at(110, cfg), 1e-4) and math.isclose(lr_at(10_000, cfg), 1e-4)
    lrs = [lr_at(s, cfg) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lr_at(37, cfg) == lr_at(37, cfg)
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1) and ema_decay_at(10**6, 0.999) == 0.999


def test_dataset_round_trip_and_batches(tiny_h5, tmp_path):
    ds = load_dataset(tiny_h5)
    assert len(ds) == 6 and list(ds.indices("val")) == [4, 5]
    b = ds.batch([3, 1])
    assert b.num_atoms.tolist() == [8, 2] and b.atomic_numbers[-2:].tolist() == [55, 17]
    assert b.lattice.dtype == torch.float32
    assert torch.allclose(b.lattice[0], torch.eye(3, dtype=torch.float32) * 5.43)
    train = ds.indices("train")
    assert steps_per_epoch(len(train), 2) == 2
    seen = np.concatenate([batch_indices(train, s, 2, seed=0)[0] for s in range(2)])
    assert sorted(seen.tolist()) == [0, 1, 2, 3]  # one epoch = each crystal once
    a0, _ = batch_indices(train, 0, 1, seed=0, rank=0, world_size=2)
    a1, _ = batch_indices(train, 0, 1, seed=0, rank=1, world_size=2)
    assert a0[0] != a1[0]
    assert np.array_equal(batch_indices(train, 5, 2, 3)[0], batch_indices(train, 5, 2, 3)[0])
    with pytest.raises(InputError, match="not found"):
        load_dataset(tmp_path / "none.h5")
    import h5py

    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["kind"] = "something"
    with pytest.raises(FormatVersionError, match="bad.h5"):
        load_dataset(bad)


def test_simulated_patterns_and_masks(tiny_h5):
    ds = load_dataset(tiny_h5)
    cfg = tiny_config().augment
    cfg = type(cfg)(**{**cfg.__dict__, "mask_fraction": 0.5, "bulk_fraction": 0.25})
    crystals = ds.batch(list(range(6)) * 4)
    sim = simulate_patterns(crystals, cfg, torch.Generator().manual_seed(0))
    assert sim.pattern.shape == (24, 512) and sim.mask.dtype == torch.bool
    assert (sim.pattern >= 0).all() and (sim.pattern <= 1).all()
    assert torch.allclose(sim.clean.amax(-1), torch.ones(24, dtype=sim.clean.dtype), atol=1e-3)
    assert (sim.pattern[~sim.mask] == 0).all()
    cut = sim.mask.sum(-1)
    assert cut.max() > cut.min()  # some patterns were Q-cut
    assert torch.isinf(sim.size_angstrom).any() and torch.isfinite(sim.size_angstrom).any()
    fin = sim.size_angstrom[torch.isfinite(sim.size_angstrom)]
    assert (fin >= cfg.size_min_angstrom).all() and (fin <= cfg.size_max_angstrom).all()
    again = simulate_patterns(crystals, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(again.pattern, sim.pattern)
