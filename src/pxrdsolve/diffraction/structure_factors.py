"""Structure factors of every reflection up to Q_max, computed from per-crystal hkl boxes with matrix products.

For a crystal with atoms j (fractional r_j = (x_j, y_j, z_j), weight w_j = occupancy) the structure
factor separates per element e (form factor f_e(s), s = Q/4π Å⁻¹, Debye–Waller exp(−B s²)):

    F(h, k, l) = Σ_e f_e(s) e^{−B_e s²} · Σ_{j∈e} w_j · e^{2πi h x_j} · e^{2πi k y_j} · e^{2πi l z_j}

The inner sum over atoms is, per crystal, a complex matrix product between its atoms' (h, k) and
(l, e) phase tables, evaluated on the crystal's half box 0 ≤ h ≤ H, |k| ≤ K, |l| ≤ L that contains
every reflection with |G| ≤ g_max (H = ⌊g_max·|a|⌋, since h = G·a).  Nothing is padded: the tables
are dense outer products per class of crystals with the same table shape (a few dozen classes per
batch), each crystal's product is written straight into one flat buffer, and the reflections inside
the sphere and in the Friedel half space (first non-zero index positive) are enumerated as one run
of l per (h, k) column, gathered and given their form factors (once per distinct (crystal, s²)) in
flat passes over the whole batch.  Everything is a torch operation, so |F|² is differentiable with
respect to the lattice (through s) and the coordinates.

Reproducibility: a matrix product's rounding depends on its shapes and the thread count, and
torch's complex multiply rounds differently in its vectorised and scalar paths.  In the float32 mode
(``simulate``) the phase factors are therefore put on a fixed-point grid and summed exactly in
float64, complex products are written in real arithmetic, and small sums run in a fixed order, so a
crystal's peaks are bit-identical whatever batch, shard or thread count computed them.
"""

from __future__ import annotations

import itertools
import math

import torch

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.diffraction.form_factors import MOTT_BETHE, _table, form_factor
from pxrdsolve.diffraction.reflections import (
    MAX_BOX,
    Reflections,
    box_extent,
    half_box_points,
    original_indices,
    reciprocal_lattice,
    reduced_batch_basis,
    skewed_reductions,
)
from pxrdsolve.errors import InputError
from pxrdsolve.ops.fft import complex_mul
from pxrdsolve.ops.scatter import repeat_segments, scatter_sum


def _phase_table(coord: torch.Tensor, n_max: int, negative: bool, cdtype: torch.dtype):
    """cos and sin of 2π·n·x for n = 0..n_max (or −n_max..n_max): two (..., n) real tensors."""
    lo = -n_max if negative else 0
    n = torch.arange(lo, n_max + 1, dtype=coord.dtype, device=coord.device)
    t = coord[..., None] * n
    t = t - torch.floor(t.detach())  # reduce modulo 1 in full precision, then to compute precision
    ang = (2.0 * math.pi) * t.to(cdtype)
    return torch.cos(ang), torch.sin(ang)


def _fixed_point_bits(num_atoms: torch.Tensor) -> torch.Tensor:
    """Fraction bits b per crystal such that phase factors on the grid 2^-b, their products (grid
    2^-2b, |·| ≤ 1) and sums over ≤ N atoms are exact in float64: 2b + ⌈log2 N⌉ + 2 ≤ 53, b ≤ 23."""
    log_n = torch.ceil(torch.log2(num_atoms.clamp_min(1).double())).long()
    return ((51 - log_n) // 2).clamp(max=23)


def _quadratic_form(m6: torch.Tensor, quad: torch.Tensor) -> torch.Tensor:
    """Σ_k m6[r, k]·quad[r, k] for (R, 6) rows, summed in a fixed order (no matrix product, whose
    rounding would depend on the batch), so Q of a reflection does not depend on the batch."""
    out = m6[:, 0] * quad[:, 0]
    for k in range(1, 6):
        out = out + m6[:, k] * quad[:, k]
    return out


def _slots(crystals: CrystalBatch):
    """Distinct (Z, B) scatterer types per crystal.

    Returns (local slot of each atom (N,), Z (S,), B (S,), first slot of each crystal (B,), slots per
    crystal (B,)), with slots sorted by crystal.
    """
    b_values, b_code = torch.unique(crystals.b_iso.detach(), return_inverse=True)
    nb = b_values.numel()
    key = (crystals.batch * 128 + crystals.atomic_numbers) * nb + b_code
    uniq, inverse = torch.unique(key, return_inverse=True)
    crystal_of_slot = torch.div(uniq, 128 * nb, rounding_mode="floor")
    count = torch.bincount(crystal_of_slot, minlength=crystals.num_crystals)
    first = torch.cumsum(count, 0) - count
    local = inverse - first[crystals.batch]
    z = torch.div(uniq, nb, rounding_mode="floor") % 128
    return local, z, b_values[uniq % nb], first, count


def _ragged(counts: torch.Tensor, inner: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For segments of ``counts`` items laid out as rows of ``inner`` columns: (segment, row, column)."""
    seg, pos = repeat_segments(counts)
    width = inner[seg]
    row = torch.div(pos, width, rounding_mode="floor")
    return seg, row, pos - row * width


def _class_products(crystals: CrystalBatch, keys: list[tuple[int, int]], exact: bool, tables: list[torch.Tensor],
                    product):
    """Per-atom phase tables, one dense tensor per class of crystals with equal ``keys`` (table shape).

    ``tables`` (per-atom rows) are permuted once so that each class is a block of rows, and
    ``product(tables, its rows (a slice), key)`` returns the real and imaginary parts (n, A, B) of the
    atoms' tables.  Returns (for each crystal (class, first row), tables (n_class, A·B) complex,
    atoms in crystal order), rounded to integers first when ``exact``.
    """
    dev = crystals.lattice.device
    order = sorted(range(len(keys)), key=keys.__getitem__)
    perm_c = torch.tensor(order, dtype=torch.long, device=dev)
    seg, pos = repeat_segments(crystals.num_atoms.index_select(0, perm_c))
    rows = crystals.atom_offsets.index_select(0, perm_c).index_select(0, seg) + pos
    tables = [t.index_select(0, rows) for t in tables]
    n_at = crystals.num_atoms.tolist()
    where: list[tuple[int, int]] = [(0, 0)] * len(keys)
    out: list[torch.Tensor] = []
    a0 = i = 0
    while i < len(order):
        key, a1 = keys[order[i]], a0
        while i < len(order) and keys[order[i]] == key:
            where[order[i]] = (len(out), a1 - a0)
            a1 += n_at[order[i]]
            i += 1
        re, im = product(tables, slice(a0, a1), key)
        if exact:  # integers below 2^24, products below 2^53: exact in float64, whatever the summation order
            tab = torch.view_as_complex(torch.round(torch.stack([re, im], dim=-1)).double())
        else:
            tab = torch.complex(re, im)
        out.append(tab.reshape(a1 - a0, -1))
        a0 = a1
    return where, out


def _phase_sums(crystals: CrystalBatch, ext: torch.Tensor, slot_local: torch.Tensor, n_slots: torch.Tensor,
                cdt: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Σ_{j∈e} w_j e^{2πi(hx_j + ky_j + lz_j)} on every crystal's half box, flat: (S,) complex.

    Crystal c's block starts at the returned offset[c] (B,) and is laid out as (box point, slot e),
    box points in (h, k, l) order: the product of its (h, k) table (n_c, HK_c) and its (l, e) table
    (n_c, L_c·E_c), one matrix product per crystal.  In float32 mode the sums are exact fixed-point
    integers ×2^(2b), b (B,) returned (else None): divide by scale² = 2^(2b).
    """
    dev = crystals.lattice.device
    exact = cdt == torch.float32
    atom_c = crystals.batch
    hm, km, lm = (int(v) for v in ext.max(dim=0).values)
    exr, exi = _phase_table(crystals.frac[:, 0], hm, False, cdt)  # (N, hm+1), all crystals at once
    eyr, eyi = _phase_table(crystals.frac[:, 1], km, True, cdt)  # (N, 2km+1)
    ezr, ezi = _phase_table(crystals.frac[:, 2], lm, True, cdt)  # (N, 2lm+1)
    w = crystals.occupancy.to(cdt)
    bits = None
    if exact:  # fixed point: ×2^b per crystal; a power of two commutes with every rounding below
        bits = _fixed_point_bits(crystals.num_atoms)
        s = torch.exp2(bits.double()).to(cdt)[atom_c]
        exr, exi, w = exr * s[:, None], exi * s[:, None], w * s
    # one dense outer product per class of crystals with the same table shape (no index arithmetic)
    e_ar = torch.arange(int(n_slots.max()), device=dev)
    w_slot = torch.where(e_ar == slot_local[:, None], w[:, None], torch.zeros((), dtype=cdt, device=dev))
    ext_l, ne_l = ext.tolist(), n_slots.tolist()

    def hk_product(t: list[torch.Tensor], r: slice, key: tuple[int, int]):  # e^{2πi(hx + ky)}: (n, H+1, 2K+1)
        h, k = slice(0, key[0] + 1), slice(km - key[1], km + key[1] + 1)
        return complex_mul(t[0][r, h, None], t[1][r, h, None], t[2][r, None, k], t[3][r, None, k])

    def bz_product(t: list[torch.Tensor], r: slice, key: tuple[int, int]):  # w e^{2πi lz} in its slot: (n, 2L+1, E)
        z, we = slice(lm - key[0], lm + key[0] + 1), t[2][r, None, : key[1]]
        return t[0][r, z, None] * we, t[1][r, z, None] * we

    hk_of, hk_tabs = _class_products(crystals, [(h, k) for h, k, _ in ext_l], exact, [exr, exi, eyr, eyi],
                                     hk_product)
    bz_of, bz_tabs = _class_products(crystals, [(lz, ne) for (_, _, lz), ne in zip(ext_l, ne_l)], exact,
                                     [ezr, ezi, w_slot], bz_product)
    n_c = crystals.num_atoms.tolist()
    hk_c = [(h + 1) * (2 * k + 1) for h, k, _ in ext_l]
    le_c = [(2 * lz + 1) * ne for (_, _, lz), ne in zip(ext_l, ne_l)]
    sizes = [p * q for p, q in zip(hk_c, le_c)]
    offsets = torch.tensor([0, *itertools.accumulate(sizes)], device=dev)
    out = torch.empty(int(offsets[-1]), dtype=hk_tabs[0].dtype, device=dev)  # every block is written
    grad = any(t.requires_grad for t in hk_tabs + bz_tabs)
    parts = []
    o_s = 0
    for c, (n, p, q, sz) in enumerate(zip(n_c, hk_c, le_c, sizes)):  # one product per crystal, no padding
        (ta, ra), (tb, rb) = hk_of[c], bz_of[c]
        lhs_t, rhs_t = hk_tabs[ta], bz_tabs[tb]
        if grad:
            lhs = lhs_t[ra:ra + n].t()
            parts.append((lhs @ rhs_t[rb:rb + n]).reshape(-1))
        else:  # strided views made directly (the views cost as much as the product for small crystals)
            lhs = lhs_t.as_strided((p, n), (1, p), lhs_t.storage_offset() + ra * p)
            rhs = rhs_t.as_strided((n, q), (q, 1), rhs_t.storage_offset() + rb * q)
            torch.mm(lhs, rhs, out=out.as_strided((p, q), (q, 1), o_s))
        o_s += sz
    if grad:
        out = torch.cat(parts)
    return out, offsets[:-1], bits


@torch.no_grad()
def _sphere_points(ext: torch.Tensor, m6: torch.Tensor, g2_lo: float, g2_hi: float):
    """Half-space reflections with g2_lo ≤ g² ≤ g2_hi (Å⁻²) of every crystal, in (crystal, h, k, l) order.

    Each (h, k) column of a crystal's half box meets the sphere in one run of l, found from the
    roots of the quadratic g²(l) with a margin; the points of the runs are then tested with g² =
    hᵀMh summed term by term in the fixed order of :func:`_quadratic_form` (the terms without l once
    per column), so the set and g² do not depend on the batch.  Returns (crystal (R,), hkl (R, 3),
    position in the crystal's half box (R,), g² (R,)).
    """
    dk = 2 * ext[:, 1] + 1
    cc, h, kk = _ragged((ext[:, 0] + 1) * dk, dk)
    k = kk - ext[cc, 1]
    m = m6.index_select(0, cc)
    hf, kf = h.to(m.dtype), k.to(m.dtype)
    a = m[:, 2]
    b = m[:, 4] * hf + m[:, 5] * kf
    c0 = m[:, 0] * hf * hf + m[:, 1] * kf * kf + 2.0 * m[:, 3] * hf * kf
    disc = b * b - a * (c0 - g2_hi * (1 + 1e-9))
    root = torch.sqrt(disc.clamp_min(0.0))
    lmax = ext[cc, 2]
    lo = torch.maximum(torch.ceil((-b - root) / a - 1e-6).long(), -lmax)
    hi = torch.minimum(torch.floor((-b + root) / a + 1e-6).long(), lmax)
    lo = torch.where((h == 0) & (k == 0), lo.clamp_min(1), lo)  # Friedel half: h > 0, or h = 0 and k > 0,
    hi = torch.where((h == 0) & (k < 0), lo - 1, hi)  # or h = k = 0 and l > 0
    count = torch.where(disc >= 0, (hi - lo + 1).clamp_min(0), torch.zeros_like(lo))
    # per column: the l-free terms of the fixed-order sum and the factors of the l terms
    t_hk = m[:, 0] * (hf * hf) + m[:, 1] * (kf * kf)
    t_2hk = m[:, 3] * (2 * hf * kf)
    base = (h * dk[cc] + kk) * (2 * lmax + 1) + lmax  # position of (h, k, 0) in the half box
    seg, step = repeat_segments(count)
    li = lo.index_select(0, seg) + step
    lf = li.to(m.dtype)
    g2 = t_hk.index_select(0, seg) + a.index_select(0, seg) * (lf * lf)
    g2 = g2 + t_2hk.index_select(0, seg)
    g2 = g2 + m[:, 4].index_select(0, seg) * ((2 * hf).index_select(0, seg) * lf)
    g2 = g2 + m[:, 5].index_select(0, seg) * ((2 * kf).index_select(0, seg) * lf)
    ok = g2 <= g2_hi * (1 + 1e-12)
    if g2_lo > 0:
        ok &= g2 >= g2_lo * (1 - 1e-12)
    inside = torch.nonzero(ok).squeeze(1)
    seg, li = seg.index_select(0, inside), li.index_select(0, inside)
    hkl = torch.stack([h.index_select(0, seg), k.index_select(0, seg), li], dim=1)
    return cc.index_select(0, seg), hkl, base.index_select(0, seg) + li, g2.index_select(0, inside)


def _slot_form_factors(crystals: CrystalBatch, coeff_all: torch.Tensor, rows: torch.Tensor, s2: torch.Tensor,
                       n_slots: int, slot_z: torch.Tensor, slot_b: torch.Tensor, slot_first: torch.Tensor):
    """f_e(s)·exp(−B_e s²) (electrons) of the ``n_slots`` slots of each reflection's crystal, (R, E) in
    the dtype of ``s2`` (Å⁻², s² per reflection; ``rows`` (R,) its crystal).

    The values depend only on (Z, B, s²), so without gradients they are computed once per distinct
    (crystal, s²) (equivalent reflections share s² exactly) and gathered: the same bits either way.
    """
    cdt = s2.dtype
    back = None
    if cdt == torch.float32 and not s2.requires_grad:  # one row per distinct (crystal, s²)
        key, back = torch.unique(rows * 2**32 + s2.view(torch.int32).long(), return_inverse=True)
        rows = torch.div(key, 2**32, rounding_mode="floor")
        s2 = (key - rows * 2**32).int().view(torch.float32)
    slot = (slot_first.index_select(0, rows)[:, None] + torch.arange(n_slots, device=rows.device)).reshape(-1)
    z = slot_z.index_select(0, slot)
    amp = coeff_all[..., 0].contiguous().index_select(0, z).view(-1, n_slots, 4)  # (U, E, 4) a_i of f
    width = (-coeff_all[..., 1]).contiguous().index_select(0, z).view(-1, n_slots, 4)  # −b_i (Å²)
    z = z.view(-1, n_slots)
    s2e = s2[:, None]
    gauss = amp * torch.exp(width * s2e[..., None])  # (U, E, 4)
    gsum = gauss[..., 0] + gauss[..., 1] + gauss[..., 2] + gauss[..., 3]  # fixed order (no reduction)
    f = z.to(cdt) - MOTT_BETHE * s2e * gsum
    if bool((crystals.b_iso != 0).any()):
        f = f * torch.exp(-slot_b.index_select(0, slot).view(-1, n_slots).to(cdt) * s2e)
    return f if back is None else f.index_select(0, back)


def box_reflections(
    crystals: CrystalBatch,
    q_max_inv_angstrom: float,
    q_min_inv_angstrom: float = 0.0,
    compute_dtype: torch.dtype | None = None,
) -> tuple[Reflections, torch.Tensor, torch.Tensor]:
    """Half-space reflections with q_min ≤ Q ≤ q_max, their Q and |F|² (electrons², one Friedel mate).

    Returns (reflections, Q (R,) Å⁻¹, |F|² (R,)): each crystal's reflections are consecutive and in
    h, k, l order (crystals in order of their number of (Z, B) slots; sort by ``crystal_index`` if
    that matters); Q and |F|² are differentiable in the lattice and coordinates.
    ``compute_dtype`` sets the precision of the phase sums.  With float32 (what ``simulate`` uses)
    the phase factors are rounded to a fixed-point grid of 2^-23 (2^-22 above 32 atoms, …) and
    summed exactly, so a crystal's |F|² are the same bits in any batch, shard or thread count
    (not differentiable in that mode).  A skewed cell is summed in its LLL-reduced basis (same lattice,
    same Q and |F|²) and its indices are given in the cell as passed
    (:func:`~pxrdsolve.diffraction.reflections.skewed_reductions`).
    """
    q_max = torch.full((crystals.num_crystals,), float(q_max_inv_angstrom), dtype=torch.float64)
    reductions = skewed_reductions(crystals.lattice, q_max)
    if not reductions:
        return _box_reflections(crystals, q_max_inv_angstrom, q_min_inv_angstrom, compute_dtype)
    dev = crystals.lattice.device
    m, inv_t = reduced_batch_basis(crystals.num_crystals, reductions, dev)
    m_inv = torch.linalg.inv(m.to(crystals.frac.dtype))  # x' = x M⁻¹ (exact: M is unimodular)
    frac = torch.einsum("ni,nij->nj", crystals.frac, m_inv.index_select(0, crystals.batch))
    reduced = crystals.with_(lattice=m.to(crystals.lattice.dtype) @ crystals.lattice, frac=frac)
    refl, q, fsq = _box_reflections(reduced, q_max_inv_angstrom, q_min_inv_angstrom, compute_dtype)
    hkl = original_indices(refl.hkl, inv_t, refl.crystal_index)
    return Reflections(hkl, refl.crystal_index), q, fsq


def _box_reflections(
    crystals: CrystalBatch,
    q_max_inv_angstrom: float,
    q_min_inv_angstrom: float = 0.0,
    compute_dtype: torch.dtype | None = None,
) -> tuple[Reflections, torch.Tensor, torch.Tensor]:
    """:func:`box_reflections` of cells as they are."""
    dev = crystals.lattice.device
    cdt = compute_dtype or crystals.frac.dtype
    bsz = crystals.num_crystals
    if bsz == 0:
        empty = torch.zeros(0, dtype=torch.long, device=dev)
        zero = crystals.lattice.new_zeros(0)
        return Reflections(torch.zeros(0, 3, dtype=torch.long, device=dev), empty), zero, zero
    q_max = torch.full((bsz,), float(q_max_inv_angstrom), dtype=torch.float64, device=dev)
    ext = box_extent(crystals.lattice, q_max)
    if int(half_box_points(ext).max()) > MAX_BOX:
        raise InputError("cell too large for this Q range (too many reflections): check the lattice")
    coeff_all, _ = _table()
    coeff_all = coeff_all.to(device=dev, dtype=cdt)
    recip = reciprocal_lattice(crystals.lattice)
    metric = recip @ recip.transpose(-1, -2)  # (B, 3, 3) Å⁻², differentiable
    m6 = torch.stack([metric[:, 0, 0], metric[:, 1, 1], metric[:, 2, 2], metric[:, 0, 1], metric[:, 0, 2],
                      metric[:, 1, 2]], dim=1)
    slot_local, slot_z, slot_b, slot_first, slot_count = _slots(crystals)
    sums, sum_off, bits = _phase_sums(crystals, ext, slot_local, slot_count, cdt)
    g2_lo = (q_min_inv_angstrom / (2.0 * math.pi)) ** 2
    g2_hi = (float(q_max_inv_angstrom) / (2.0 * math.pi)) ** 2
    # crystals in order of their slot count, so that each count's reflections are one dense block
    by_e = torch.argsort(slot_count, stable=True)
    rows, hkl, pos, g2_sel = _sphere_points(ext.index_select(0, by_e), m6.detach().index_select(0, by_e), g2_lo, g2_hi)
    rows = by_e.index_select(0, rows)
    if m6.requires_grad:  # the same sum, differentiable
        hq = hkl.to(m6.dtype)
        quad = torch.stack([hq[:, 0] ** 2, hq[:, 1] ** 2, hq[:, 2] ** 2, 2 * hq[:, 0] * hq[:, 1],
                            2 * hq[:, 0] * hq[:, 2], 2 * hq[:, 1] * hq[:, 2]], dim=1)  # exact integers
        g2_sel = _quadratic_form(m6.index_select(0, rows), quad)
    s2 = (g2_sel / 4.0).to(cdt)  # s = g/2
    e_rows = slot_count.index_select(0, rows)
    base = sum_off.index_select(0, rows) + pos * e_rows  # first slot of each reflection in ``sums``
    parts, r0 = [], 0
    for n_e, size in enumerate(torch.bincount(e_rows).tolist()):
        if size == 0:
            continue
        sl = slice(r0, r0 + size)
        r0 += size
        idx = (base[sl, None] + torch.arange(n_e, device=dev)).reshape(-1)
        sel = torch.view_as_real(sums.index_select(0, idx)).view(size, n_e, 2)  # (R_e, E, 2) re, im
        f = _slot_form_factors(crystals, coeff_all, rows[sl], s2[sl], n_e, slot_z, slot_b, slot_first)
        fri = f[..., None] * sel
        acc = fri[:, 0]
        for e in range(1, n_e):  # a fixed order
            acc = acc + fri[:, e]
        parts.append(acc[:, 0] * acc[:, 0] + acc[:, 1] * acc[:, 1])
    fsq = torch.cat(parts) if parts else s2.new_zeros(0, dtype=torch.float64)
    if bits is not None:  # back from fixed point: × 2^-2b on F, exact (a power of two)
        fsq = fsq * torch.exp2(-4.0 * bits.double()).index_select(0, rows)
    fsq = fsq.to(crystals.lattice.dtype)
    return Reflections(hkl, rows), 2.0 * math.pi * torch.sqrt(g2_sel), fsq


def structure_factor_squared(
    crystals: CrystalBatch, hkl: torch.Tensor, crystal_index: torch.Tensor, q_inv_angstrom: torch.Tensor
) -> torch.Tensor:
    """|F(hkl)|² (electrons², one Friedel mate) for fixed reflections; differentiable in ``frac`` and Q.

    F = Σ_j occ_j f_j(s) exp(−B_j s²) exp(2πi h·r_j), s = Q/4π, over (reflection, atom) pairs.
    """
    counts = crystals.num_atoms[crystal_index]
    seg, pos = repeat_segments(counts)
    atom = crystals.atom_offsets[crystal_index][seg] + pos
    s2_refl = (q_inv_angstrom / (4.0 * math.pi)) ** 2
    s2 = s2_refl[seg]
    hx = (hkl[seg].to(crystals.frac.dtype) * crystals.frac[atom]).sum(-1)
    phase = 2.0 * math.pi * (hx - torch.floor(hx.detach()))
    # form factors once per (reflection, element of the batch), not per (reflection, atom) pair
    elements, code = torch.unique(crystals.atomic_numbers, return_inverse=True)
    f_table = form_factor(elements[None, :].expand(s2_refl.numel(), -1), s2_refl[:, None].expand(-1, elements.numel()))
    amp = crystals.occupancy[atom] * f_table[seg, code[atom]]
    amp = amp * torch.exp(-crystals.b_iso[atom] * s2)
    n = hkl.shape[0]
    re = scatter_sum(amp * torch.cos(phase), seg, n)
    im = scatter_sum(amp * torch.sin(phase), seg, n)
    return re**2 + im**2
