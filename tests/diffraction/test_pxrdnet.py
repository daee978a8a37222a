"""The pxrdnet preset against an independent numpy implementation and the PXRDNet oracle fixture."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from helpers import DATA, structure_from_cif
from pxrdsolve.crystal import batch_from_records
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.diffraction.pxrdnet import (
    pxrdnet_eval_patterns,
    pxrdnet_input_patterns,
    pxrdnet_peak_q_max,
    rwp_squared,
)
from pxrdsolve.io.structures import structure_to_record

LAM = 1.54184
Q_MAX = 4 * math.pi / LAM


def numpy_input_pattern(two_theta, intensity, tau, sigma, n=4096):
    """PXRDNet's pipeline written from its description (reference §1), in plain numpy."""
    grid = np.zeros(n, np.float32)
    for t, y in zip(two_theta, intensity):
        q = 4 * math.pi * math.sin(math.radians(t / 2)) / LAM
        i = int(n * q / Q_MAX)
        grid[i] = max(grid[i], y / 100)
    qs = np.linspace(0, Q_MAX, n) - Q_MAX / 2
    x = np.convolve(grid, tau * np.sinc(tau * qs / math.pi) ** 2, mode="same") if math.isfinite(tau) else grid
    x = gaussian_filter1d(x.astype(float), sigma, mode="constant", cval=0)
    x = np.maximum(x / x.max(), 0)
    return np.clip(x.reshape(512, 8).max(1), 0, 1)


@pytest.fixture(scope="module")
def peaks_and_fixture(pymatgen_fixture):
    sub = pymatgen_fixture[:8]
    recs = [structure_to_record(structure_from_cif(e["cif"])) for e in sub]
    return compute_peaks(batch_from_records(recs), LAM, pxrdnet_peak_q_max()), sub


@pytest.mark.parametrize("tau", [10.0, 100.0, math.inf])
def test_input_pattern_matches_numpy_implementation(peaks_and_fixture, tau):
    pt, sub = peaks_and_fixture
    sig = torch.tensor([41.0 + 0.5 * i for i in range(len(sub))])
    ours = pxrdnet_input_patterns(pt, size_angstrom=tau, sigma_bins=sig, noise_std=0.0)
    for b, e in enumerate(sub):
        ref = numpy_input_pattern(e["two_theta_deg"], e["intensity"], tau, float(sig[b]))
        assert np.abs(ours[b].numpy() - ref).max() < 1e-6


def test_matches_pxrdnet_oracle_fixture(pymatgen_fixture):
    """Like PXRDNet, standardise to the conventional cell first (idealised lattice and positions).  moyo
    idealises with other rounding than spglib (PXRDNet's, through pymatgen): the patterns agree to 1e-7 of
    the strongest point, below float32 resolution (with spglib's cell they agree to 1e-12)."""
    from pxrdsolve.io.structures import standardise

    oracle = np.load(DATA / "pxrdnet_oracle.npz")
    n = len(oracle["sigma_bins"])
    recs = [structure_to_record(standardise(structure_from_cif(e["cif"]), "conventional"))
            for e in pymatgen_fixture[:n]]
    pt = compute_peaks(batch_from_records(recs), LAM, pxrdnet_peak_q_max())
    sig = torch.as_tensor(oracle["sigma_bins"])
    for tau in (10, 100):
        ours = pxrdnet_input_patterns(pt, size_angstrom=float(tau), sigma_bins=sig, noise_std=0.0).numpy()
        assert np.abs(ours - oracle[f"input_{tau}"]).max() < 1e-7
    ev = pxrdnet_eval_patterns(pt).numpy()
    assert np.abs(ev - oracle["eval"]).max() < 1e-6  # the oracle stored float32
    assert float(rwp_squared(torch.as_tensor(oracle["eval"]).double(), torch.as_tensor(ev)).max()) < 1e-10


def test_noise_and_sigma_are_seeded_and_have_the_right_statistics(peaks_and_fixture):
    pt, _ = peaks_and_fixture
    a = pxrdnet_input_patterns(pt, size_angstrom=10.0, generator=torch.Generator().manual_seed(5))
    b = pxrdnet_input_patterns(pt, size_angstrom=10.0, generator=torch.Generator().manual_seed(5))
    c = pxrdnet_input_patterns(pt, size_angstrom=10.0, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    clean = pxrdnet_input_patterns(pt, size_angstrom=10.0, sigma_bins=torch.full((8,), 43.0), noise_std=0.0)
    noisy = pxrdnet_input_patterns(pt, size_angstrom=10.0, sigma_bins=torch.full((8,), 43.0),
                                   generator=torch.Generator().manual_seed(1))
    d = (noisy - clean)[(clean > 0.05) & (clean < 0.95)]
    assert 0.7e-3 < float(d.std()) < 1.3e-3


def test_rwp_squared_hand_values():
    gt = torch.tensor([1.0, 0.0, 1.0])
    assert float(rwp_squared(gt, gt)) == 0.0
    assert float(rwp_squared(gt, torch.tensor([0.0, 0.0, 1.0]))) == pytest.approx(0.5)
