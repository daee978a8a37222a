"""|F|² once per Laue orbit: the representatives reproduce |F|² of every reflection of displaced symmetric crystals
(centred, rhombohedral, hexagonal, monoclinic settings), and they are fewer than the reflections."""

from __future__ import annotations

import torch
from structure_helpers import CRYSTALS, pymatgen_structure, to_record

from pxrdsolve.diffraction.reflections import enumerate_reflections, q_of_hkl
from pxrdsolve.diffraction.structure_factors import structure_factor_squared
from pxrdsolve.structure.laue import laue_representatives
from pxrdsolve.structure.model import SymmetricBatch
from pxrdsolve.structure.template import symmetric_template


def test_representatives_reproduce_every_structure_factor():
    names = sorted(CRYSTALS)
    ts = [symmetric_template(to_record(pymatgen_structure(n))) for n in names]
    ts = ts + [ts[0].scaled(1.02)]  # two crystals of one setting: a shared pass, kept apart per crystal
    sb = SymmetricBatch.from_templates(ts)
    gen = torch.Generator().manual_seed(2)
    d = torch.randn(sb.num_orbits, 3, dtype=torch.float64, generator=gen) * 0.03  # off the start values
    b = torch.rand(sb.num_orbits, dtype=torch.float64, generator=gen) + 0.3
    lat = sb.lattice(sb.cell0)
    refl = enumerate_reflections(lat, 6.0)
    hkl, ci = refl.hkl, refl.crystal_index
    q = q_of_hkl(lat, hkl, ci)
    cb = sb.crystal_batch(d=d, b_orbit=b)
    full = structure_factor_squared(cb, hkl, ci, q)
    rep, inv = laue_representatives(sb.templates, hkl, ci)
    assert rep.numel() < hkl.shape[0] // 2  # Fm-3m alone: 68 reflections, 9 orbits
    assert bool((ci[rep][inv] == ci).all())  # never across crystals
    assert torch.allclose(q[rep][inv], q, rtol=1e-12, atol=0)  # equivalents share Q
    fast = structure_factor_squared(cb, hkl[rep], ci[rep], q[rep])[inv]
    assert torch.allclose(fast, full, rtol=1e-9, atol=1e-9 * float(full.max()))
    for b_idx, name in enumerate(names):  # every setting is reduced (Laue order ≥ 2 after Friedel pairs)
        n_refl = int((ci == b_idx).sum())
        n_rep = int((ci[rep] == b_idx).sum())
        assert n_rep < n_refl, name


def test_a_structure_of_lower_symmetry_is_not_merged_by_a_wrong_group():
    """Guard: the same reflections with the operations of another group would merge reflections whose |F|²
    differ, so the representatives must come from each crystal's own operations (monoclinic ≠ cubic)."""
    mono = symmetric_template(to_record(pymatgen_structure("monoclinic")))
    cubic = symmetric_template(to_record(pymatgen_structure("fluorite")))
    sb = SymmetricBatch.from_templates([mono])
    lat = sb.lattice(sb.cell0)
    refl = enumerate_reflections(lat, 5.0)
    q = q_of_hkl(lat, refl.hkl, refl.crystal_index)
    full = structure_factor_squared(sb.crystal_batch(), refl.hkl, refl.crystal_index, q)
    rep_own, inv_own = laue_representatives([mono], refl.hkl, refl.crystal_index)
    rep_bad, inv_bad = laue_representatives([cubic], refl.hkl, refl.crystal_index)
    assert torch.allclose(full[rep_own][inv_own], full, rtol=1e-9)
    assert not torch.allclose(full[rep_bad][inv_bad], full, rtol=1e-3)
