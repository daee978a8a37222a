"""The pattern of a crystal does not depend on how the crystal is written down."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers import record, triclinic_record
from pxrdsolve.crystal import batch_from_records
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.diffraction.profiles import render_pattern

Q_MAX = 5.0


def pattern(rec) -> np.ndarray:
    """Normalised continuous pattern (τ = 30 Å) on a Q grid: the observable."""
    pt = compute_peaks(batch_from_records([rec]), 1.54184, Q_MAX + 1.5)
    q = torch.linspace(0.5, Q_MAX, 1200, dtype=torch.float64)
    y = render_pattern(pt.q_inv_angstrom, pt.intensity, pt.crystal_index, 1, q, 30.0)[0]
    return (y / y.max()).numpy()


def supercell(rec, n=(2, 1, 1)):
    shifts = np.array(np.meshgrid(*[np.arange(k) for k in n], indexing="ij")).reshape(3, -1).T
    frac = np.concatenate([(rec.frac + s) / np.array(n) for s in shifts])
    return record(rec.lattice * np.array(n)[:, None], frac, np.tile(rec.atomic_numbers, len(shifts)),
                  np.tile(rec.occupancy, len(shifts)))


@pytest.mark.parametrize("seed", [0, 1])
def test_supercell_invariance(seed):
    rec = triclinic_record(seed)
    base = pattern(rec)
    for n in [(2, 1, 1), (1, 2, 2)]:
        assert np.abs(pattern(supercell(rec, n)) - base).max() < 1e-9


def test_origin_shift_and_atom_order_invariance():
    rec = triclinic_record(2, 6)
    base = pattern(rec)
    shifted = record(rec.lattice, (rec.frac + np.array([0.13, -0.41, 0.77])) % 1.0, rec.atomic_numbers)
    perm = np.random.default_rng(0).permutation(len(rec.frac))
    permuted = record(rec.lattice, rec.frac[perm], rec.atomic_numbers[perm])
    assert np.abs(pattern(shifted) - base).max() < 1e-10
    assert np.abs(pattern(permuted) - base).max() < 1e-10


def test_rotation_and_cell_choice_invariance():
    rec = triclinic_record(4)
    base = pattern(rec)
    theta = 0.7
    rot = np.array([[math.cos(theta), -math.sin(theta), 0], [math.sin(theta), math.cos(theta), 0], [0, 0, 1]])
    rotated = record(rec.lattice @ rot.T, rec.frac, rec.atomic_numbers)
    # another basis of the same lattice (unimodular change of cell)
    m = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1]])
    new_frac = (rec.frac @ np.linalg.inv(m)) % 1.0
    rebased = record(m @ rec.lattice, new_frac, rec.atomic_numbers)
    assert np.abs(pattern(rotated) - base).max() < 1e-9
    assert np.abs(pattern(rebased) - base).max() < 1e-9


def test_batch_composition_does_not_change_results():
    recs = [triclinic_record(s, 3 + s) for s in range(4)]
    together = compute_peaks(batch_from_records(recs), 1.54184, Q_MAX)
    for b, rec in enumerate(recs):
        alone = compute_peaks(batch_from_records([rec]), 1.54184, Q_MAX)
        s = slice(int(together.offsets[b]), int(together.offsets[b + 1]))
        assert torch.allclose(together.q_inv_angstrom[s], alone.q_inv_angstrom, atol=1e-12)
        assert torch.allclose(together.intensity[s], alone.intensity, rtol=1e-10)


def test_partial_occupancy_equals_average_scatterer():
    """A site 50 % Fe / 50 % vacancy scatters like half an Fe atom: |F|² scales by 1/4 for one atom."""
    full = compute_peaks(batch_from_records([record(np.eye(3) * 3.0, [[0, 0, 0]], [26])]), 1.54184, 5.0)
    half = compute_peaks(batch_from_records([record(np.eye(3) * 3.0, [[0, 0, 0]], [26], occ=[0.5])]),
                         1.54184, 5.0)
    assert torch.allclose(half.intensity, full.intensity / 4, rtol=1e-12)
