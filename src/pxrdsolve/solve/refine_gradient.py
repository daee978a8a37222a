"""The gradient stage of the refinement: Adam on the symmetry-constrained parameters of many candidates at once.

Parameters per candidate (see :class:`~pxrdsolve.structure.model.SymmetricBatch`): the conventional cell
tied by crystal system (windows ±``length_window`` relative, ±``angle_window_deg``), size τ (Å, log, when
refined), zero shift (2θ degrees, 2θ data only), and in the second stage the free coordinates of every
Wyckoff orbit (each bounded to ±``max_displacement_angstrom`` along its free directions) and one isotropic
B per orbit (Å², bounded to ``b_bounds_angstrom2``).  Scale and background stay linear (solved in closed
form at every step).  Reflections are enumerated once; reflections whose Q coincide for every cell the
crystal system allows are summed into peak groups, so that |F|² of a group carries the gradient of every
coordinate.  The profile is widened at first (annealing) so that lattice offsets larger than a peak width
still converge.  With an instrument model (``data.instrument``) the sample displacement (lab 2θ data) and,
unless the instrument was calibrated, the widths ``refined_widths`` (Caglioti W, U and Lorentzian Y by
default; X is left out: its 1/cosθ term is the size broadening that τ already carries) are refined with
the cell.  The best state seen per candidate (R_wp², without annealing) is returned.

Texture stage (``texture`` given, :mod:`pxrdsolve.solve.refine_texture`): no annealing; the March–Dollase
ratio r of each crystal with a preferred direction (log r within ``config.texture.r_bounds``,
:mod:`pxrdsolve.solve.texture`) multiplies |F|² of every reflection before the peak groups are summed, and
is refined with everything else for ``config.texture.steps`` steps, from the start state ``start``.
"""

from __future__ import annotations

import math

import torch

from pxrdsolve.diffraction.reflections import enumerate_reflections, q_of_hkl
from pxrdsolve.diffraction.structure_factors import structure_factor_squared
from pxrdsolve.solve.fit_views import coarsen
from pxrdsolve.solve.objective import FitData, linear_fit, peak_groups_sum
from pxrdsolve.solve.phases import render_extra
from pxrdsolve.solve.render import peak_fwhm_q, render_sticks, stick_pad
from pxrdsolve.solve.texture import log_ratio, march_dollase
from pxrdsolve.structure.cell import apply_offsets
from pxrdsolve.structure.laue import laue_representatives
from pxrdsolve.structure.model import SymmetricBatch


def peak_groups(sym: SymmetricBatch, q_max: float, gen: torch.Generator):
    """Reflections to ``q_max`` and their groups of identical Q for every cell the crystal systems allow:
    (hkl, crystal index, group per reflection, a representative reflection per group, number of groups)."""
    lattice = sym.lattice(sym.cell0)
    refl = enumerate_reflections(lattice, q_max)
    hkl, cidx = refl.hkl, refl.crystal_index
    keys = [cidx]
    for trial in range(3):
        if trial == 0:
            lat = lattice
        else:
            u = torch.randn(sym.num_crystals, 3, generator=gen, dtype=torch.float64) * 0.5
            v = torch.randn(sym.num_crystals, 3, generator=gen, dtype=torch.float64) * 0.5
            lat = sym.lattice(apply_offsets(sym.cell0, sym.ties, u, v, 0.1, 3.0))
        keys.append(torch.round(q_of_hkl(lat, hkl, cidx) * 1e7).long())
    _, group = torch.unique(torch.stack(keys, 1), dim=0, return_inverse=True)
    num = int(group.max()) + 1 if group.numel() else 0
    rep = torch.zeros(num, dtype=torch.long).scatter_(0, group, torch.arange(group.numel()))
    return hkl, cidx, group, rep, num


def _atanh(x: torch.Tensor) -> torch.Tensor:
    return torch.atanh(x.clamp(-0.95, 0.95))


def gradient_refine(sym: SymmetricBatch, data: FitData, tau0: torch.Tensor, refine_size: bool, config,
                    texture: tuple[torch.Tensor, torch.Tensor] | None = None,
                    start: dict | None = None, restart: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Adam refinement of every crystal of ``sym`` (already replicated for restarts; ``config`` a
    :class:`~pxrdsolve.solve.refine.RefineConfig`).  Returns the best state seen per crystal:
    ``cell`` (B, 6) conventional, ``d`` (O, 3) orbit displacements (fractional, along the free basis),
    ``b_orbit`` (O,) Å², ``tau`` (B,), ``zero`` (B,), ``loss`` (B,) R_wp² with frozen reflections,
    ``num_free`` (B,) refined parameters.  ``texture``: (preferred direction (B, 3) in primitive reciprocal
    indices, refine r? (B,) bool) runs the texture stage instead (then ``march_dollase_r`` (B,) is returned
    too); ``start``: ``zero`` (B,) and ``profile`` (name → (B,)) to start from (default: 0, the instrument);
    ``restart`` (B,) bool: the jittered copies (default: all but every ``config.restarts``-th crystal from the
    first)."""
    lc, pc = config.lattice, config.positions
    gen = torch.Generator().manual_seed(config.seed)
    bsz = sym.num_crystals
    p0 = sym.cell0
    q_max = (data.q_range[1] + stick_pad(data, tau0)) / (1.0 - lc.length_window) * 1.05
    hkl, cidx, group, rep, n_peaks = peak_groups(sym, q_max, gen)
    peak_crystal = cidx[rep]
    lat0 = sym.lattice(p0)
    l_rep, l_inv = laue_representatives(sym.templates, hkl, cidx)  # |F|² once per symmetry orbit
    hkl_u, cidx_u = hkl[l_rep], cidx[l_rep]

    def f2_of(crystals, q_r: torch.Tensor) -> torch.Tensor:
        return 2.0 * structure_factor_squared(crystals, hkl_u, cidx_u, q_r[l_rep])[l_inv]

    with torch.no_grad():
        f2_frozen = f2_of(sym.crystal_batch(), q_of_hkl(lat0, hkl, cidx))
    if restart is None:
        restart = torch.arange(bsz) % max(config.restarts, 1) > 0
    jit = torch.randn(bsz, 3, generator=gen, dtype=torch.float64) * config.restart_jitter * restart[:, None]
    u_len = _atanh(jit / lc.length_window).requires_grad_(True)
    jit_a = torch.randn(bsz, 3, generator=gen, dtype=torch.float64) * restart[:, None]
    u_ang = _atanh(jit_a / lc.angle_window_deg).requires_grad_(True)
    lo, hi = (math.log(v) for v in config.size_bounds_angstrom)
    log_tau0 = tau0.log().clamp(lo, hi)
    u_tau = (log_tau0 + 0.15 * torch.randn(bsz, generator=gen, dtype=torch.float64) * restart * refine_size)
    u_tau = u_tau.requires_grad_(refine_size)
    use_zero = data.has_two_theta and config.zero_window_deg > 0
    start = start or {}
    zero_start = start.get("zero")
    u_zero = (torch.zeros(bsz, dtype=torch.float64) if zero_start is None or not use_zero else
              torch.atanh((zero_start / config.zero_window_deg).clamp(-0.999, 0.999))).requires_grad_(use_zero)
    move = pc.enabled and pc.steps > 0
    v_pos = torch.zeros(sym.num_orbits, 3, dtype=torch.float64, requires_grad=True)
    b_lo, b_hi = pc.b_bounds_angstrom2
    # B of orbits given without one (0: library entries, most CIFs) starts at a typical powder value; B is
    # refined directly in Å² (projected onto the bounds after each step), so it can leave 0
    b_start = torch.where(sym.orbit_b_iso > 0, sym.orbit_b_iso, torch.full_like(sym.orbit_b_iso, pc.b_start_angstrom2))
    v_b = b_start.clamp(b_lo, b_hi).clone().requires_grad_(True)
    refine_b = move and pc.refine_b
    disp_frac = pc.max_displacement_angstrom / sym.orbit_length_angstrom  # (O,) Å → fractional
    den = (data.weight * data.intensity**2).sum()
    orbit_b = sym.orbit_crystal
    # instrument model: sample displacement (lab reflection geometry) and, unless calibrated, the widths
    inst = data.instrument
    base_prof = None
    prof_vars: dict[str, torch.Tensor] = {}
    if inst is not None:
        from pxrdsolve.instrument.profile import ProfileTensors

        base_prof = ProfileTensors.from_instrument(inst, bsz)
        if start.get("profile"):  # start values (and the centre of each window) per crystal
            base_prof = base_prof.with_(**{k: torch.as_tensor(v, dtype=torch.float64) for k, v in
                                           start["profile"].items()})
        lab = data.has_two_theta and (data.radiation.is_doublet or data.radiation.wavelength_angstrom > 1.0)
        if lab and config.displacement_window_um > 0:
            prof_vars["displacement_um"] = torch.zeros(bsz, dtype=torch.float64, requires_grad=True)
        if not data.instrument_calibrated:
            for name in config.refined_widths:
                prof_vars[name] = torch.zeros(bsz, dtype=torch.float64, requires_grad=True)

    def profile_of() -> tuple[object, dict[str, torch.Tensor]]:
        if base_prof is None:
            return None, {}
        vals = {}
        for name, v in prof_vars.items():
            if name == "displacement_um":
                vals[name] = getattr(base_prof, name) + config.displacement_window_um * torch.tanh(v)
            else:  # widths: multiplicative, ×e^±4 around the start (which stays > 0)
                start = getattr(base_prof, name).clamp_min(0.05)
                vals[name] = start * torch.exp(4.0 * torch.tanh(v / 4.0))
        return base_prof.with_(**vals), vals

    best = {"loss": torch.full((bsz,), math.inf, dtype=torch.float64), "cell": p0.clone(),
            "d": torch.zeros(sym.num_orbits, 3, dtype=torch.float64), "b_orbit": sym.orbit_b_iso.clone(),
            "tau": tau0.clone(), "zero": torch.zeros(bsz, dtype=torch.float64),
            "profile": {k: getattr(base_prof, k).detach().clone() for k in prof_vars}}
    # texture stage: March–Dollase r per crystal (log r, bounded), 1 where no direction is refined
    tex = config.texture
    if texture is not None:
        md_dir, md_active = texture
        lo_r, hi_r = (math.log(v) for v in tex.r_bounds)
        u_r0 = math.atanh(max(-0.999, min(0.999, -(lo_r + hi_r) / (hi_r - lo_r))))  # r = 1 at the start
        u_r = torch.full((bsz,), u_r0, dtype=torch.float64, requires_grad=True)
        best["march_dollase_r"] = torch.ones(bsz, dtype=torch.float64)

    def ratio() -> torch.Tensor:
        return torch.where(md_active, log_ratio(u_r, tex.r_bounds), torch.ones_like(u_r))

    def state(move_atoms: bool):
        cell = apply_offsets(p0, sym.ties, u_len, u_ang, lc.length_window, lc.angle_window_deg)
        tau = torch.exp(u_tau.clamp(lo, hi)) if refine_size else tau0
        zero = config.zero_window_deg * torch.tanh(u_zero) if use_zero else None
        d = disp_frac[:, None] * torch.tanh(v_pos) if move_atoms else None
        b = v_b if (move_atoms and refine_b) else None
        return cell, tau, zero, d, b

    # Steps of the cell (and zero shift) follow the peak width: a relative length step of at most
    # ~0.35 relative FWHM at the top of the fit range (nanocrystals: the configured lr; sharp bulk or
    # synchrotron peaks: much smaller), ending at ~¼ of it.  Size, coordinates and B keep the lr.
    fwhm = peak_fwhm_q(data, float(tau0.max()))

    def cell_lr(lr: float, anneal: float) -> float:
        return min(lr, 0.35 * math.hypot(fwhm, anneal) / data.q_range[1] / lc.length_window)

    fine_lr = 0.25 * fwhm / data.q_range[1] / lc.length_window
    views: dict[int, tuple[FitData, torch.Tensor]] = {0: (data, den)}

    def view_for(extra: float) -> tuple[FitData, torch.Tensor]:
        """The data (and its Σw·y²) coarsened to ~4 points per annealed width: during annealing the
        broadened peaks of long sharp-peak scans need only a fraction of the points."""
        level = int(math.floor(math.log2(math.hypot(fwhm, extra) / fwhm))) if extra > 0.0 else 0
        if level not in views:
            v = coarsen(data, fwhm * 2**level, points_per_fwhm=4.0)
            views[level] = (v, (v.weight * v.intensity**2).sum())
        return views[level]

    def run(steps: int, lr: float, move_atoms: bool, anneal: float) -> None:
        cell_params = [u_len, u_ang] + ([u_zero] if use_zero else [])
        groups = [{"params": cell_params, "lr": cell_lr(lr, anneal)}]
        # displacement with the cell; widths only without annealing (the extra width would shrink them)
        active = [v for k, v in prof_vars.items() if k == "displacement_um" or anneal == 0.0]
        if active:
            groups.append({"params": active, "lr": config.profile_lr})
        if refine_size:  # log size: its step does not depend on the peak width
            groups.append({"params": [u_tau], "lr": lr})
        if texture is not None:
            groups.append({"params": [u_r], "lr": tex.lr})
        if move_atoms:
            groups.append({"params": [v_pos], "lr": lr})
            if refine_b:
                groups.append({"params": [v_b], "lr": pc.b_lr_angstrom2})
        opt = torch.optim.Adam(groups, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=min(lr / 20, fine_lr))
        for step in range(steps + 1):
            extra = anneal * max(0.0, 1.0 - 2.0 * step / max(steps, 1))
            cell, tau, zero, d, b = state(move_atoms)
            lat = sym.lattice(cell)
            q_r = q_of_hkl(lat, hkl, cidx)
            if move_atoms:
                f2 = f2_of(sym.crystal_batch(cell, d, b), q_r)
            else:
                f2 = f2_frozen
            if texture is not None:  # per reflection, before the equivalents of a group are summed
                r_md = ratio()
                f2 = f2 * march_dollase(hkl, cidx, lat, md_dir, r_md)
            ptens, pvals = profile_of()
            view, view_den = view_for(extra)
            prof = render_sticks(view, q_r[rep], peak_groups_sum(f2, group, n_peaks), peak_crystal, bsz,
                                 tau, zero, extra_fwhm_q=extra, profile=ptens)
            loss = linear_fit(view, prof, render_extra(view, bsz, tau, zero, ptens)).chi2 / view_den
            if extra == 0.0:
                with torch.no_grad():
                    better = loss.detach() < best["loss"]
                    best["loss"] = torch.where(better, loss.detach(), best["loss"])
                    best["cell"] = torch.where(better[:, None], cell.detach(), best["cell"])
                    best["tau"] = torch.where(better, tau.detach(), best["tau"])
                    if zero is not None:
                        best["zero"] = torch.where(better, zero.detach(), best["zero"])
                    if d is not None:
                        best["d"] = torch.where(better[orbit_b][:, None], d.detach(), best["d"])
                    if b is not None:
                        best["b_orbit"] = torch.where(better[orbit_b], b.detach(), best["b_orbit"])
                    for k, v in pvals.items():
                        best["profile"][k] = torch.where(better, v.detach(), best["profile"][k])
                    if texture is not None:
                        best["march_dollase_r"] = torch.where(better, r_md.detach(), best["march_dollase_r"])
            if step == steps:
                break
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                v_b.clamp_(b_lo, b_hi)

    if texture is not None:
        run(tex.steps, pc.lr if move else lc.lr, move, 0.0)
    else:
        run(lc.steps, lc.lr, False, lc.anneal_fwhm_q)
        if move:
            run(pc.steps, pc.lr, True, 0.0)
        elif any(k != "displacement_um" for k in prof_vars):  # a profile stage when atoms stay put
            run(max(lc.steps // 2, 10), lc.lr, False, 0.0)
    num_free = sym.ties.num_free() + int(refine_size) + int(use_zero) + len(prof_vars)
    if texture is not None:
        num_free = num_free + md_active.long()
    if move:
        num_free = num_free + sym.num_free_coordinates()
        if refine_b:
            num_free = num_free + sym.num_orbits_per_crystal()
    best["num_free"] = num_free
    return best
