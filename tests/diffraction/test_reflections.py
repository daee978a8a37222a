from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from helpers import record
from pxrdsolve.crystal import CrystalBatch, batch_from_records
from pxrdsolve.diffraction import reflections
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.diffraction.reflections import enumerate_reflections as fixed_reflections
from pxrdsolve.diffraction.reflections import lll_basis, q_of_hkl, skewed_reductions
from pxrdsolve.diffraction.structure_factors import box_reflections


def enumerate_reflections(lattice, q_max):
    recs = [record(lat.numpy(), [[0, 0, 0]], [14]) for lat in lattice]
    return box_reflections(batch_from_records(recs), q_max)[0]


def test_simple_cubic_positions_match_analytic():
    a = 4.0
    lat = torch.eye(3, dtype=torch.float64)[None] * a
    refl = enumerate_reflections(lat, 2 * math.pi * math.sqrt(3.0) / a * 1.0001)
    q = q_of_hkl(lat, refl.hkl, refl.crystal_index)
    expected = 2 * math.pi * torch.linalg.norm(refl.hkl.double(), dim=1) / a
    assert torch.allclose(q, expected, atol=1e-12)
    # half space of {100}, {110}, {111}: 3 + 6 + 4 reflections
    assert len(q) == 13
    assert sorted(set(np.round(q.numpy() * a / (2 * math.pi), 6))) == [1.0, round(math.sqrt(2), 6),
                                                                     round(math.sqrt(3), 6)]


def test_enumeration_matches_brute_force_for_triclinic_cell():
    rng = np.random.default_rng(3)
    lat = torch.tensor(np.diag([4.1, 5.3, 6.7]) + rng.uniform(-1.2, 1.2, (3, 3)))[None]
    q_max = 4.0
    refl = enumerate_reflections(lat, q_max)
    recip = torch.linalg.inv(lat[0]).T
    found = set()
    for h, k, l_ in itertools.product(range(-15, 16), repeat=3):
        if (h, k, l_) == (0, 0, 0):
            continue
        g = torch.tensor([h, k, l_], dtype=torch.float64) @ recip
        if 2 * math.pi * float(torch.linalg.norm(g)) <= q_max:
            first = next(v for v in (h, k, l_) if v != 0)
            if first > 0:
                found.add((h, k, l_))
    got = {tuple(v) for v in refl.hkl.tolist()}
    assert got == found


def test_batched_enumeration_equals_individual():
    lats = torch.stack([torch.eye(3) * 3.0, torch.diag(torch.tensor([3.0, 4.0, 9.0]))]).double()
    both = enumerate_reflections(lats, 3.5)
    for b in range(2):
        alone = enumerate_reflections(lats[b : b + 1], 3.5)
        mine = both.hkl[both.crystal_index == b]
        assert torch.equal(mine, alone.hkl)


def test_box_and_fixed_enumerations_agree_and_structure_factors_match():
    """The dense-box path and the fixed-reflection path give the same reflections and |F|²."""
    from helpers import triclinic_record
    from pxrdsolve.diffraction.structure_factors import structure_factor_squared

    batch = batch_from_records([triclinic_record(s, 2 + s) for s in range(3)])
    fixed = enumerate_reflections(batch.lattice, 4.0)
    refl, q_box, f_box = box_reflections(batch, 4.0)
    key = lambda r: {(int(c), *map(int, h)) for c, h in zip(r.crystal_index, r.hkl)}  # noqa: E731
    assert key(fixed) == key(refl)
    f_fixed = structure_factor_squared(batch, refl.hkl, refl.crystal_index, q_box)
    assert torch.allclose(f_fixed, f_box, rtol=1e-9, atol=1e-9)
    assert torch.allclose(q_of_hkl(batch.lattice, refl.hkl, refl.crystal_index), q_box, atol=1e-12)


def test_float32_peaks_bitwise_independent_of_batch_and_threads():
    """Fixed-point phase sums (compute_dtype=float32): a crystal's peaks are the same bits in any batch,
    split and thread count; and they agree with float64 sums to float32 precision."""
    import torch

    from helpers import triclinic_record
    from pxrdsolve.crystal import batch_from_records
    from pxrdsolve.diffraction.peaks import compute_peaks

    recs = [triclinic_record(seed=s, n_atoms=1 + (3 * s) % 11) for s in range(12)]

    def peaks(parts, threads):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            tabs = [compute_peaks(batch_from_records(recs[a:b]), 1.5406, 6.0, compute_dtype=torch.float32)
                    for a, b in parts]
        finally:
            torch.set_num_threads(old)
        return torch.cat([t.intensity for t in tabs]), torch.cat([t.q_inv_angstrom for t in tabs])

    whole = peaks([(0, 12)], 1)
    for parts, threads in [([(0, 5), (5, 6), (6, 12)], 1), ([(0, 12)], 2), ([(i, i + 1) for i in range(12)], 2)]:
        other = peaks(parts, threads)
        assert torch.equal(whole[0], other[0]) and torch.equal(whole[1], other[1])
    exact = compute_peaks(batch_from_records(recs), 1.5406, 6.0)
    assert torch.equal(exact.q_inv_angstrom, whole[1])
    rel = (exact.intensity - whole[0]).abs() / exact.intensity.max()
    assert float(rel.max()) < 1e-5


def test_fixed_structure_factors_with_b_and_occupancy_match_box():
    """Per-element form factors of the fixed-reflection path (several elements, per-atom B and
    occupancy) agree with the dense-box path, which groups atoms by (Z, B) slot."""
    from helpers import triclinic_record
    from pxrdsolve.diffraction.structure_factors import structure_factor_squared

    batch = batch_from_records([triclinic_record(s, 3 + s) for s in range(3)])
    gen = torch.Generator().manual_seed(1)
    n = batch.frac.shape[0]
    b_iso = torch.rand(n, dtype=batch.frac.dtype, generator=gen) * 2.0
    occ = 0.5 + 0.5 * torch.rand(n, dtype=batch.frac.dtype, generator=gen)
    batch = batch.with_(b_iso=b_iso, occupancy=occ)
    refl, q_box, f_box = box_reflections(batch, 4.5)
    f_fixed = structure_factor_squared(batch, refl.hkl, refl.crystal_index, q_box)
    assert torch.allclose(f_fixed, f_box, rtol=1e-9, atol=1e-9)
    assert float(f_box.std()) > 0


# A cell and a skewed basis of the same lattice (M unimodular): rows of M @ L
_REDUCED = torch.tensor([[4.0, 0.0, 0.0], [0.0, 4.5, 0.0], [0.3, 0.0, 5.0]], dtype=torch.float64)
_SKEW = torch.tensor([[1.0, 0.0, 0.0], [7.0, 1.0, 0.0], [-5.0, 3.0, 1.0]], dtype=torch.float64)


def _skewed_pair() -> tuple[CrystalBatch, CrystalBatch]:
    frac = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.1, 0.2, 0.3]], dtype=torch.float64)

    def batch(lat: torch.Tensor, f: torch.Tensor) -> CrystalBatch:
        return CrystalBatch(lat[None], f.clone().requires_grad_(True), torch.tensor([11, 17, 8]),
                            torch.ones(3, dtype=torch.float64), torch.full((3,), 0.5, dtype=torch.float64),
                            torch.tensor([3]))

    return batch(_REDUCED, frac), batch(_SKEW @ _REDUCED, frac @ torch.linalg.inv(_SKEW))


def test_lll_basis_is_unimodular_and_shortens_a_skewed_cell():
    m = lll_basis((_SKEW @ _REDUCED).numpy())
    assert round(abs(np.linalg.det(m))) == 1
    reduced = m @ (_SKEW @ _REDUCED).numpy()
    assert np.linalg.norm(reduced, axis=1).max() < 5.1  # the shortest basis has lengths 4, 4.5, 5.01


def test_skewed_cell_gives_the_same_peaks_and_gradients_as_its_reduced_cell(monkeypatch):
    """A non-reduced basis of the same lattice: the same peaks, |F|² and coordinate gradients; indices are
    those of the cell as given (in the half space), and the box that would exceed MAX_BOX is never built."""
    plain, skewed = _skewed_pair()
    assert skewed_reductions(skewed.lattice, torch.tensor([10.0]))  # this cell is reduced first
    p1 = compute_peaks(plain, 1.54, 8.0)
    p2 = compute_peaks(skewed, 1.54, 8.0)
    torch.testing.assert_close(p2.q_inv_angstrom, p1.q_inv_angstrom, rtol=0, atol=1e-10)
    torch.testing.assert_close(p2.intensity, p1.intensity, rtol=1e-10, atol=0)
    g1, = torch.autograd.grad(p1.intensity.sum(), plain.frac)
    g2, = torch.autograd.grad(p2.intensity.sum(), skewed.frac)
    # x' = x M⁻¹, so dI/dx = dI/dx' M⁻ᵀ
    torch.testing.assert_close(g2 @ torch.linalg.inv(_SKEW).T, g1, rtol=1e-9, atol=1e-6)
    # indices of the skewed cell: Q from them and the skewed lattice is the reported Q
    refl = fixed_reflections(skewed.lattice, 8.0)
    q = q_of_hkl(skewed.lattice, refl.hkl, refl.crystal_index)
    assert float(q.max()) <= 8.0 + 1e-9 and refl.hkl.shape[0] == fixed_reflections(plain.lattice, 8.0).hkl.shape[0]
    first = [next(v for v in h if v != 0) for h in refl.hkl.tolist()]
    assert min(first) > 0
    # the path as given (reduction switched off) agrees too
    monkeypatch.setattr(reflections, "SKEW_MIN_BOX", 10**12)
    assert not skewed_reductions(skewed.lattice, torch.tensor([8.0]))
    p3 = compute_peaks(skewed, 1.54, 8.0)
    torch.testing.assert_close(p3.intensity, p2.intensity, rtol=1e-10, atol=0)


def test_very_skewed_rhombohedral_cell_is_simulated_not_refused():
    """A primitive rhombohedral cell with 56 Å vectors (hexagonal a = 4.16 Å, c = 167 Å) at Q ≤ 11.3 Å⁻¹ has
    a 4·10⁶-point box as given; reduced, it is simulated (regression: solve stopped on such a candidate)."""
    lat = torch.tensor([[2.07988, 1.20082, 55.81392], [-2.07988, 1.20082, 55.81392], [0.0, -2.40164, 55.81392]],
                       dtype=torch.float64)
    crystal = CrystalBatch(lat[None], torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]], dtype=torch.float64),
                           torch.tensor([11, 53]), torch.ones(2, dtype=torch.float64),
                           torch.full((2,), 0.5, dtype=torch.float64), torch.tensor([2]))
    peaks = compute_peaks(crystal, 0.7093, 11.35)
    assert peaks.q_inv_angstrom.numel() > 100
