"""Structure factors of every reflection up to Q_max, computed on dense hkl boxes with matrix products.

For a crystal with atoms j (fractional r_j = (x_j, y_j, z_j), weight w_j = occupancy) the structure
factor separates per element e (form factor f_e(s), s = Q/4π Å⁻¹, Debye–Waller exp(−B s²)):

    F(h, k, l) = Σ_e f_e(s) e^{−B_e s²} · Σ_{j∈e} w_j · e^{2πi h x_j} · e^{2πi k y_j} · e^{2πi l z_j}

The inner sum over atoms is a batched complex matrix product between the (h, k) and the l phase
tables, evaluated on the half box 0 ≤ h ≤ H, |k| ≤ K, |l| ≤ L that contains every reflection with
|G| ≤ g_max (H = ⌊g_max·|a|⌋, since h = G·a).  Crystals of similar box size are processed together,
padded to the largest box and atom count of their group.  Reflections outside the sphere and the
Friedel-redundant half (first non-zero index negative) are then dropped.  Everything is a torch
operation, so |F|² is differentiable with respect to the lattice (through s) and the coordinates.

Reproducibility: a matrix product's rounding depends on the padded shapes and the thread count, and
torch's complex multiply rounds differently in its vectorised and scalar paths.  In the float32 mode
(``simulate``) the phase factors are therefore put on a fixed-point grid and summed exactly in
float64, complex products are written in real arithmetic, and small sums run in a fixed order, so a
crystal's peaks are bit-identical whatever batch, shard or thread count computed them.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from pxrdsolve.crystal import CrystalBatch
from pxrdsolve.diffraction.form_factors import MOTT_BETHE, _table, form_factor
from pxrdsolve.diffraction.reflections import MAX_BOX, Reflections, reciprocal_lattice
from pxrdsolve.errors import InputError
from pxrdsolve.ops.fft import complex_mul
from pxrdsolve.ops.scatter import repeat_segments, scatter_sum

_GROUP_BUDGET = 20_000_000  # padded box points × atoms per group
_MAX_WASTE = 5.0  # padded work / useful work allowed in a group


def box_extent(lattice: torch.Tensor, q_max: torch.Tensor) -> torch.Tensor:
    """(B, 3) integer H, K, L bounding every reflection with Q ≤ q_max (Å⁻¹)."""
    g_max = q_max.double() / (2.0 * math.pi)
    lengths = torch.linalg.norm(lattice.detach().double(), dim=-1)
    return torch.floor(g_max[:, None] * lengths * (1 + 1e-9) + 1e-9).long()


def _groups(ext: torch.Tensor, num_atoms: torch.Tensor) -> list[list[int]]:
    """Crystals grouped by similar padded box size (sorted), within a work budget per group."""
    vol = ((ext[:, 0] + 1) * (2 * ext[:, 1] + 1) * (2 * ext[:, 2] + 1)).tolist()
    order = sorted(range(len(vol)), key=lambda i: (vol[i], int(num_atoms[i])))
    ext_l, nat = ext.tolist(), num_atoms.tolist()
    groups: list[list[int]] = []
    cur: list[int] = []
    mx = [0, 0, 0, 0]
    work = 0  # Σ box·atoms of the group's crystals
    for i in order:
        new = [max(mx[0], ext_l[i][0]), max(mx[1], ext_l[i][1]), max(mx[2], ext_l[i][2]), max(mx[3], nat[i])]
        padded = (new[0] + 1) * (2 * new[1] + 1) * (2 * new[2] + 1) * new[3] * (len(cur) + 1)
        own = vol[i] * nat[i]
        if cur and (padded > _GROUP_BUDGET or padded > _MAX_WASTE * (work + own) + 4096):
            groups.append(cur)
            cur, new, work = [], [ext_l[i][0], ext_l[i][1], ext_l[i][2], nat[i]], 0
        cur.append(i)
        work += own
        mx = new
    if cur:
        groups.append(cur)
    return groups


def _phase_table(coord: torch.Tensor, n_max: int, negative: bool, cdtype: torch.dtype):
    """cos and sin of 2π·n·x for n = 0..n_max (or −n_max..n_max): two (C, N, n) real tensors."""
    lo = -n_max if negative else 0
    n = torch.arange(lo, n_max + 1, dtype=coord.dtype, device=coord.device)
    t = coord[..., None] * n
    t = t - torch.floor(t.detach())  # reduce modulo 1 in full precision, then to compute precision
    ang = (2.0 * math.pi) * t.to(cdtype)
    return torch.cos(ang), torch.sin(ang)


def _complex_outer(ar: torch.Tensor, ai: torch.Tensor, br: torch.Tensor, bi: torch.Tensor):
    """(a ⊗ b) over the last axes of (C, N, A) and (C, N, B) complex numbers given as real parts → (C, N, A·B).

    Real arithmetic (:func:`~pxrdsolve.ops.fft.complex_mul`), so a crystal's numbers do not depend on
    the padding of its batch.
    """
    c, n = ar.shape[:2]
    re, im = complex_mul(ar[..., :, None], ai[..., :, None], br[..., None, :], bi[..., None, :])
    return re.reshape(c, n, -1), im.reshape(c, n, -1)


def _fixed_point_bits(num_atoms: torch.Tensor) -> torch.Tensor:
    """Fraction bits b per crystal such that phase factors on the grid 2^-b, their products (grid
    2^-2b, |·| ≤ 1) and sums over ≤ N atoms are exact in float64: 2b + ⌈log2 N⌉ + 2 ≤ 53, b ≤ 23."""
    log_n = torch.ceil(torch.log2(num_atoms.clamp_min(1).double())).long()
    return ((51 - log_n) // 2).clamp(max=23)


def _atom_sum(hk_r, hk_i, bz_r, bz_i, scale: torch.Tensor) -> torch.Tensor:
    """Σ_atoms hk ⊗ bz exactly, as a batched complex matrix product: (C, N, M), (C, N, P) → (C, M, P).

    With ``scale`` (2^b per crystal, see :func:`_fixed_point_bits`) both factors are first rounded to
    the fixed-point grid 2^-b (as integers ×2^b) and multiplied in complex128: every product and
    partial sum is an integer below 2^53, hence exact, so the result does not depend on the
    summation order that the matrix product picks for the padded shapes and the thread count: it is
    bit-identical whatever the batch composition, batch size, shard or number of threads; the caller
    divides by scale² (exact).
    """
    s = scale.to(hk_r.dtype).view(-1, 1, 1)  # powers of two: x·s and the rounding are exact in float32
    hk = torch.complex(torch.round(hk_r * s).double(), torch.round(hk_i * s).double())
    bz = torch.complex(torch.round(bz_r * s).double(), torch.round(bz_i * s).double())
    return torch.bmm(hk.transpose(1, 2), bz)


@lru_cache(maxsize=512)
def _box_tables(hm: int, km: int, lm: int, dtype: torch.dtype, device: torch.device):
    """The half box 0 ≤ h ≤ hm, |k| ≤ km, |l| ≤ lm (box order): hkl (P, 3), the Friedel half-space mask
    (P,) and the quadratic-form monomials (P, 6) h², k², l², 2hk, 2hl, 2kl in ``dtype``.  Cached: batches
    repeat the same few box shapes, and building them was a tenth of the simulator's time (read-only)."""
    h = torch.arange(0, hm + 1, device=device)
    k = torch.arange(-km, km + 1, device=device)
    l_ = torch.arange(-lm, lm + 1, device=device)
    hh, kk, ll = torch.meshgrid(h, k, l_, indexing="ij")
    hkl_box = torch.stack([hh, kk, ll], dim=-1).reshape(-1, 3)
    half = (hkl_box[:, 0] > 0) | (hkl_box[:, 1] > 0) | ((hkl_box[:, 1] == 0) & (hkl_box[:, 2] > 0))
    hf = hkl_box.to(dtype)
    quad = torch.stack([hf[:, 0] ** 2, hf[:, 1] ** 2, hf[:, 2] ** 2, 2 * hf[:, 0] * hf[:, 1],
                        2 * hf[:, 0] * hf[:, 2], 2 * hf[:, 1] * hf[:, 2]], dim=1)
    return hkl_box, half, quad


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


def box_reflections(
    crystals: CrystalBatch,
    q_max_inv_angstrom: float,
    q_min_inv_angstrom: float = 0.0,
    compute_dtype: torch.dtype | None = None,
) -> tuple[Reflections, torch.Tensor, torch.Tensor]:
    """Half-space reflections with q_min ≤ Q ≤ q_max, their Q and |F|² (electrons², one Friedel mate).

    Returns (reflections, Q (R,) Å⁻¹, |F|² (R,)), grouped by box size (sort by ``crystal_index`` if
    order matters); Q and |F|² are differentiable in the lattice and coordinates.
    ``compute_dtype`` sets the precision of the phase sums.  With float32 (what ``simulate`` uses)
    the phase factors are rounded to a fixed-point grid of 2^-23 (2^-22 above 32 atoms, …) and
    summed exactly, so a crystal's |F|² are the same bits in any batch, shard or thread count
    (not differentiable in that mode).
    """
    dev = crystals.lattice.device
    fdtype = crystals.frac.dtype
    cdt = compute_dtype or fdtype
    exact = cdt == torch.float32  # reproducible fixed-point phase sums (see _atom_sum)
    bsz = crystals.num_crystals
    q_max = torch.full((bsz,), float(q_max_inv_angstrom), dtype=torch.float64, device=dev)
    ext = box_extent(crystals.lattice, q_max)
    box = (ext[:, 0] + 1) * (2 * ext[:, 1] + 1) * (2 * ext[:, 2] + 1)
    if bsz and int(box.max()) > MAX_BOX:
        raise InputError("cell too large for this Q range (too many reflections): check the lattice")
    coeff_all, _ = _table()
    coeff_all = coeff_all.to(device=dev, dtype=cdt)
    recip = reciprocal_lattice(crystals.lattice)
    metric = recip @ recip.transpose(-1, -2)  # (B, 3, 3) Å⁻², differentiable
    m6 = torch.stack([metric[:, 0, 0], metric[:, 1, 1], metric[:, 2, 2], metric[:, 0, 1], metric[:, 0, 2],
                      metric[:, 1, 2]], dim=1)
    atom_off = crystals.atom_offsets
    has_dw = bool((crystals.b_iso != 0).any())
    slot_local, slot_z, slot_b, slot_first, slot_count = _slots(crystals)
    g2_lo = (q_min_inv_angstrom / (2.0 * math.pi)) ** 2
    g2_hi = (float(q_max_inv_angstrom) / (2.0 * math.pi)) ** 2
    out_hkl, out_c, out_f, out_q = [], [], [], []
    for group in _groups(ext, crystals.num_atoms.cpu()):
        gi = torch.tensor(group, device=dev)
        hm, km, lm = (int(v) for v in ext[gi].max(dim=0).values)
        n_max = int(crystals.num_atoms[gi].max())
        c = len(group)
        # padded per-atom arrays and element/Debye–Waller slots
        seg, pos = repeat_segments(crystals.num_atoms[gi])
        atoms = atom_off[gi][seg] + pos
        frac = torch.zeros(c, n_max, 3, dtype=fdtype, device=dev).index_put((seg, pos), crystals.frac[atoms])
        w = torch.zeros(c, n_max, dtype=cdt, device=dev).index_put((seg, pos), crystals.occupancy[atoms].to(cdt))
        slot_of = torch.zeros(c, n_max, dtype=torch.long, device=dev).index_put((seg, pos), slot_local[atoms])
        n_slots = int(slot_count[gi].max())
        onehot = torch.nn.functional.one_hot(slot_of, n_slots).to(cdt) * w[..., None]  # (C, N, E)
        exr, exi = _phase_table(frac[..., 0], hm, False, cdt)  # (C, N, H+1)
        eyr, eyi = _phase_table(frac[..., 1], km, True, cdt)  # (C, N, 2K+1)
        ezr, ezi = _phase_table(frac[..., 2], lm, True, cdt)  # (C, N, 2L+1)
        if exact:
            hk_r, hk_i = _complex_outer(exr, exi, eyr, eyi)  # (C, N, HK)
            bz_r = (ezr[..., :, None] * onehot[..., None, :]).reshape(c, n_max, -1)  # (C, N, L·E)
            bz_i = (ezi[..., :, None] * onehot[..., None, :]).reshape(c, n_max, -1)
            scale = torch.exp2(_fixed_point_bits(crystals.num_atoms[gi]).double())
            s_box = _atom_sum(hk_r, hk_i, bz_r, bz_i, scale).reshape(-1, n_slots)  # (C·HK·L, E)
        else:  # full precision: torch's complex products and a plain matrix product (fastest)
            ex, ey, ez = torch.complex(exr, exi), torch.complex(eyr, eyi), torch.complex(ezr, ezi)
            hk = (ex[..., :, None] * ey[..., None, :]).reshape(c, n_max, -1)
            bz = (ez[..., :, None] * onehot.to(ez.dtype)[..., None, :]).reshape(c, n_max, -1)
            scale = None
            s_box = torch.bmm(hk.transpose(1, 2), bz).reshape(-1, n_slots)
        # reflections inside the sphere and in the half space
        hkl_box, half, quad = _box_tables(hm, km, lm, metric.dtype, dev)
        with torch.no_grad():  # candidates in the shell by a fast matrix product (generous bounds) ...
            g2_box = m6[gi].detach() @ quad.T  # (C, P) Å⁻², g² = hᵀ M h
            keep = (g2_box <= g2_hi * (1 + 1e-9)) & (g2_box >= g2_lo * (1 - 1e-9)) & half[None, :]
            rows, pts = torch.nonzero(keep, as_tuple=True)
        # ... then g² in a fixed summation order (the product's rounding depends on the batch) and the
        # exact bounds, so the reflections and their Q do not depend on the batch; differentiable
        g2_sel = _quadratic_form(m6[gi].index_select(0, rows), quad.index_select(0, pts))
        with torch.no_grad():
            inside = torch.nonzero((g2_sel <= g2_hi * (1 + 1e-12)) & (g2_sel >= g2_lo * (1 - 1e-12))).squeeze(1)
        rows, pts, g2_sel = rows[inside], pts[inside], g2_sel[inside]
        hkl_sel = hkl_box.index_select(0, pts)
        s2 = (g2_sel / 4.0).to(cdt)  # s = g/2
        hk_idx = hkl_sel[:, 0] * (2 * km + 1) + (hkl_sel[:, 1] + km)
        l_idx = hkl_sel[:, 2] + lm
        flat = (rows * ((hm + 1) * (2 * km + 1)) + hk_idx) * (2 * lm + 1) + l_idx
        sel = s_box.index_select(0, flat)  # (R, E) complex
        sel_r, sel_i = sel.real, sel.imag
        if scale is not None:  # back from fixed point: × 2^-2b, exact
            inv = (1.0 / scale.double() ** 2).index_select(0, rows)[:, None]
            sel_r, sel_i = sel_r * inv, sel_i * inv
        e_idx = (slot_first[gi][:, None] + torch.arange(n_slots, device=dev)).clamp_max(slot_z.numel() - 1)
        valid = torch.arange(n_slots, device=dev)[None, :] < slot_count[gi][:, None]
        z_slot = torch.where(valid, slot_z[e_idx], torch.ones_like(e_idx))
        b_slot = torch.where(valid, slot_b[e_idx], torch.zeros_like(slot_b[e_idx])).to(cdt)
        coef = coeff_all[z_slot].reshape(c, -1).index_select(0, rows).view(-1, n_slots, 4, 2)  # (R, E, 4, 2)
        s2e = s2[:, None]
        zb = torch.cat([z_slot.to(cdt), b_slot], dim=1).index_select(0, rows)
        gauss = coef[..., 0] * torch.exp(-coef[..., 1] * s2e[..., None])  # (R, E, 4)
        gsum = gauss[..., 0] + gauss[..., 1] + gauss[..., 2] + gauss[..., 3]  # fixed order (no reduction)
        f = zb[:, :n_slots] - MOTT_BETHE * s2e * gsum
        if has_dw:
            f = f * torch.exp(-zb[:, n_slots:] * s2e)
        fr, fi = f * sel_r, f * sel_i  # (R, E)
        re, im = fr[:, 0], fi[:, 0]
        for e in range(1, n_slots):  # padded slots add exact zeros
            re, im = re + fr[:, e], im + fi[:, e]
        out_f.append((re * re + im * im).to(crystals.lattice.dtype))
        out_hkl.append(hkl_sel)
        out_c.append(gi[rows])
        out_q.append(2.0 * math.pi * torch.sqrt(g2_sel))
    if not out_f:
        empty = torch.zeros(0, dtype=torch.long, device=dev)
        zero = crystals.lattice.new_zeros(0)
        return Reflections(torch.zeros(0, 3, dtype=torch.long, device=dev), empty), zero, zero
    return Reflections(torch.cat(out_hkl), torch.cat(out_c)), torch.cat(out_q), torch.cat(out_f)


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
