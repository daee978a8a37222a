"""Precomputed peaks: the cached path gives the patterns of the direct path, computing each crystal once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pxrdsolve.model.config import AugmentConfig
from pxrdsolve.training.augment import simulate_patterns
from pxrdsolve.training.data import load_dataset
from pxrdsolve.training.peak_cache import PeakCache

pytest.importorskip("pxrdsolve.diffraction.pxrdnet")


def test_cached_peaks_give_the_direct_patterns(tiny_h5):
    ds = load_dataset(tiny_h5)
    cfg = AugmentConfig(simulator="pxrdnet")
    cache = PeakCache(lambda idx: ds.batch(idx), cfg.wavelength_angstrom, cfg.full_q_max)
    for idx in (np.array([0, 3, 2, 0]), np.array([5, 1, 3, 4, 2])):
        crystals = ds.batch(idx)
        direct = simulate_patterns(crystals, cfg, torch.Generator().manual_seed(7))
        cached = simulate_patterns(crystals, cfg, torch.Generator().manual_seed(7), cache.peaks(idx))
        assert torch.equal(direct.size_angstrom, cached.size_angstrom)  # same random draws
        assert torch.equal(direct.mask, cached.mask)
        assert torch.allclose(direct.clean, cached.clean, atol=1e-6, rtol=0)
        assert torch.allclose(direct.pattern, cached.pattern, atol=1e-6, rtol=0)
    assert cache.computed == 6 == len(cache)  # every crystal computed once, repeats and reuse from the cache
    peaks = cache.peaks(np.array([1, 1]))
    assert cache.computed == 6
    assert torch.equal(peaks.crystal(0)["q_inv_angstrom"], peaks.crystal(1)["q_inv_angstrom"])
