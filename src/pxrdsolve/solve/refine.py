"""Automated refinement of many candidate structures against one measured pattern, batched in torch.

Replaces PXRDNet's manual TOPAS step.  Three passes:

1. **exact start** - every candidate as given (scale + background solved linearly);
2. **volume scan** (all candidates) - isotropic cell scale factors (peaks computed once per
   candidate, Q/s for each factor s); the best factor per candidate, then a finer scan for the
   ``top_k`` best;
3. **gradient refinement** (``top_k`` best, each with ``restarts`` jittered copies, all in one
   batch) - Adam on the cell (tied a, b, c, α, β, γ with tanh windows, see
   :mod:`pxrdsolve.solve.symmetry`), size τ (Å, when refined), zero shift (2θ degrees, 2θ data
   only), then bounded atomic displacements (Å); scale and background stay linear.  The profile is
   widened at first (annealing) so that lattice offsets larger than a peak width still converge.

The best parameters seen per candidate are kept, and a final exact evaluation (fresh reflections,
form factors, merged peaks) replaces a candidate's result by its start whenever refinement did not
improve the exact fit: refinement never makes a candidate worse.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from pxrdsolve.crystal import CrystalBatch, CrystalRecord, batch_from_records
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.diffraction.reflections import enumerate_reflections, q_of_hkl
from pxrdsolve.diffraction.structure_factors import structure_factor_squared
from pxrdsolve.solve.objective import (
    FitData,
    LinearFit,
    ObjectiveConfig,
    fit_metrics,
    linear_fit,
    peak_fwhm_q,
    peak_groups_sum,
    render_sticks,
    stick_pad,
)
from pxrdsolve.solve.symmetry import CellTies, apply_offsets, cell_parameters, detect_ties, lattice_from_parameters


@dataclass(frozen=True)
class ScanConfig:
    """Isotropic cell scan: length scale factors from ``min_scale`` to ``max_scale`` (1 included)."""

    min_scale: float = 0.88
    max_scale: float = 1.12
    max_points: int = 31
    min_step: float = 0.002
    min_relative_intensity: float = 1e-3


@dataclass(frozen=True)
class LatticeStageConfig:
    """Adam on cell, τ and zero: windows ±``length_window`` (relative) and ±``angle_window_deg``."""

    steps: int = 40
    lr: float = 0.06
    length_window: float = 0.2
    angle_window_deg: float = 4.0
    anneal_fwhm_q: float = 0.06


@dataclass(frozen=True)
class PositionStageConfig:
    """Adam on bounded atomic displacements (±``max_displacement_angstrom`` per axis)."""

    steps: int = 15
    lr: float = 0.08
    max_displacement_angstrom: float = 0.2
    enabled: bool = True


@dataclass(frozen=True)
class RefineConfig:
    """All refinement settings (nested, frozen, JSON-serialisable with :meth:`to_json`)."""

    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    lattice: LatticeStageConfig = field(default_factory=LatticeStageConfig)
    positions: PositionStageConfig = field(default_factory=PositionStageConfig)
    top_k: int = 12
    restarts: int = 2
    restart_jitter: float = 0.03
    size_bounds_angstrom: tuple[float, float] = (2.0, 5000.0)
    zero_window_deg: float = 0.3
    seed: int = 0
    device: str = "cpu"
    scan_chunk: int = 48
    num_threads: int = 1  # torch CPU threads while refining (0 = torch's default); small ops favour 1

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RefineResult:
    """Refined candidates (index b = input order).  Lattices (B, 3, 3) Å, ``frac`` per candidate,
    ``size_angstrom`` τ (B,), ``zero_shift_deg`` (B,), metrics before/after (name → (B,) arrays, see
    :func:`~pxrdsolve.solve.objective.fit_metrics`), ``calculated``/``background`` (B, G) on the
    fit grid, ``stage`` (B,): which pass gave the kept result (``start``/``scan``/``refined``)."""

    lattice: np.ndarray
    frac: list[np.ndarray]
    size_angstrom: np.ndarray
    zero_shift_deg: np.ndarray
    scale: np.ndarray
    background_coeffs: np.ndarray
    metrics_before: dict[str, np.ndarray]
    metrics_after: dict[str, np.ndarray]
    num_params: np.ndarray
    calculated: np.ndarray
    background: np.ndarray
    stage: tuple[str, ...]
    refined_indices: tuple[int, ...]
    seconds: dict[str, float]

    def record(self, b: int, template: CrystalRecord) -> CrystalRecord:
        """The refined crystal ``b`` (species, occupancies of the template)."""
        return CrystalRecord(self.lattice[b], self.frac[b], template.atomic_numbers, template.occupancy,
                             template.b_iso)


def _exact(batch: CrystalBatch, data: FitData, tau: torch.Tensor, zero: torch.Tensor | None) -> LinearFit:
    """Exact fit of a batch: fresh merged peaks, profiles, linear solve (no gradients)."""
    with torch.no_grad():
        q_max = data.q_range[1] + stick_pad(data, tau)
        peaks = compute_peaks(batch, data.radiation.wavelength_angstrom, q_max)
        prof = render_sticks(data, peaks.q_inv_angstrom, peaks.f_squared, peaks.crystal_index,
                             batch.num_crystals, tau, zero)
        return linear_fit(data, prof)


def _scan_scales(data: FitData, tau: float, cfg: ScanConfig, lo: float, hi: float) -> torch.Tensor:
    fwhm = peak_fwhm_q(data, tau)
    step = max(cfg.min_step, 0.4 * fwhm / data.q_range[1], (hi - lo) / max(cfg.max_points - 1, 1))
    n_lo, n_hi = int(math.floor((1.0 - lo) / step + 1e-9)), int(math.floor((hi - 1.0) / step + 1e-9))
    return torch.arange(-n_lo, n_hi + 1, dtype=torch.float64) * step + 1.0


def scan_broadening(data: FitData, tau: float, step: float) -> float:
    """Extra Gaussian FWHM (Å⁻¹) that makes peaks at least 2.5 relative scan steps wide at the top of
    the fit range, so that a scan with that step cannot step over the minimum: 0 for broad
    (nanocrystal) peaks, the difference in quadrature for sharp ones (bulk, synchrotron)."""
    fwhm = peak_fwhm_q(data, tau)
    needed = 2.5 * step * data.q_range[1]
    return math.sqrt(needed**2 - fwhm**2) if needed > fwhm else 0.0


def volume_scan(
    batch: CrystalBatch, data: FitData, tau: float, scales: torch.Tensor, chunk: int = 48,
    min_relative_intensity: float = 1e-3, extra_fwhm_q: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best isotropic length factor per crystal: (factor (B,), R_wp² at it (B,)).  Q → Q/s per factor;
    peaks weaker than ``min_relative_intensity`` of a crystal's strongest are left out;
    ``extra_fwhm_q`` (Å⁻¹, see :func:`scan_broadening`) widens the model peaks for the scan only."""
    best_s = torch.ones(batch.num_crystals, dtype=torch.float64)
    best_l = torch.full((batch.num_crystals,), math.inf, dtype=torch.float64)
    n_s = scales.numel()
    den = (data.weight * data.intensity**2).sum()
    tau_t = torch.tensor(tau, dtype=torch.float64)
    q_max = (data.q_range[1] + stick_pad(data, tau_t)) * float(scales.max())
    with torch.no_grad():
        for start in range(0, batch.num_crystals, chunk):
            idx = list(range(start, min(start + chunk, batch.num_crystals)))
            peaks = compute_peaks(batch.select(idx), data.radiation.wavelength_angstrom, q_max,
                                  min_relative_intensity=min_relative_intensity)
            rep = torch.arange(n_s).repeat(peaks.q_inv_angstrom.numel())
            q = peaks.q_inv_angstrom.repeat_interleave(n_s) / scales[rep].to(peaks.q_inv_angstrom)
            f2 = peaks.f_squared.repeat_interleave(n_s)
            cidx = peaks.crystal_index.repeat_interleave(n_s) * n_s + rep.to(peaks.crystal_index)
            prof = render_sticks(data, q, f2, cidx, len(idx) * n_s, tau_t, extra_fwhm_q=extra_fwhm_q)
            loss = (linear_fit(data, prof).chi2 / den).view(len(idx), n_s).cpu()
            val, arg = loss.min(dim=1)
            best_l[idx], best_s[idx] = val, scales[arg]
    return best_s, best_l


def _peak_groups(lattice: torch.Tensor, ties: CellTies, q_max: float, gen: torch.Generator):
    """Reflections to ``q_max`` and their groups of identical Q for every tie-consistent cell."""
    refl = enumerate_reflections(lattice, q_max)
    hkl, cidx = refl.hkl, refl.crystal_index
    p0 = cell_parameters(lattice)
    keys = [cidx]
    for trial in range(3):
        if trial == 0:
            lat = lattice
        else:
            u = torch.randn(p0.shape[0], 3, generator=gen, dtype=p0.dtype) * 0.5
            v = torch.randn(p0.shape[0], 3, generator=gen, dtype=p0.dtype) * 0.5
            lat = lattice_from_parameters(apply_offsets(p0, ties, u, v, 0.1, 3.0))
        q = q_of_hkl(lat, hkl, cidx)
        keys.append(torch.round(q * 1e7).long())
    _, group = torch.unique(torch.stack(keys, 1), dim=0, return_inverse=True)
    num = int(group.max()) + 1 if group.numel() else 0
    rep = torch.zeros(num, dtype=torch.long).scatter_(0, group, torch.arange(group.numel()))
    return hkl, cidx, group, rep, num


def _atanh(x: torch.Tensor) -> torch.Tensor:
    return torch.atanh(x.clamp(-0.95, 0.95))


def gradient_refine(
    batch: CrystalBatch, data: FitData, tau0: torch.Tensor, refine_size: bool, config: RefineConfig,
) -> dict[str, torch.Tensor]:
    """Adam refinement of every crystal of ``batch`` (already replicated for restarts); returns the
    best state seen per crystal: ``cell`` (B, 6), ``frac`` (N, 3), ``tau`` (B,), ``zero`` (B,),
    ``loss`` (B,) (R_wp² with frozen reflections), ``num_free`` (B,)."""
    lc, pc = config.lattice, config.positions
    gen = torch.Generator().manual_seed(config.seed)
    bsz = batch.num_crystals
    p0 = cell_parameters(batch.lattice)
    ties = detect_ties(p0)
    lat0 = lattice_from_parameters(p0)
    q_max = (data.q_range[1] + stick_pad(data, tau0)) / (1.0 - lc.length_window) * 1.05
    hkl, cidx, group, rep, n_peaks = _peak_groups(lat0, ties, q_max, gen)
    peak_crystal = cidx[rep]
    with torch.no_grad():
        f2_frozen = 2.0 * structure_factor_squared(batch.with_(lattice=lat0), hkl, cidx, q_of_hkl(lat0, hkl, cidx))
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
    u_zero = torch.zeros(bsz, dtype=torch.float64, requires_grad=use_zero)
    v_pos = torch.zeros_like(batch.frac, requires_grad=True)
    lengths0 = p0[:, :3][batch.batch]
    den = (data.weight * data.intensity**2).sum()
    best = {"loss": torch.full((bsz,), math.inf, dtype=torch.float64), "cell": p0.clone(),
            "frac": batch.frac.clone(), "tau": tau0.clone(), "zero": torch.zeros(bsz, dtype=torch.float64)}

    def state(move_atoms: bool):
        cell = apply_offsets(p0, ties, u_len, u_ang, lc.length_window, lc.angle_window_deg)
        tau = torch.exp(u_tau.clamp(lo, hi)) if refine_size else tau0
        zero = config.zero_window_deg * torch.tanh(u_zero) if use_zero else None
        frac = batch.frac
        if move_atoms:
            frac = frac + pc.max_displacement_angstrom / lengths0 * torch.tanh(v_pos)
        return cell, tau, zero, frac

    # Steps of the cell (and zero shift) follow the peak width: a relative length step of at most
    # ~0.35 relative FWHM at the top of the fit range (nanocrystals: the configured lr; sharp bulk or
    # synchrotron peaks: much smaller), ending at ~¼ of it.  Size and atom displacements keep the lr.
    fwhm = peak_fwhm_q(data, float(tau0.max()))

    def cell_lr(lr: float, anneal: float) -> float:
        return min(lr, 0.35 * math.hypot(fwhm, anneal) / data.q_range[1] / lc.length_window)

    fine_lr = 0.25 * fwhm / data.q_range[1] / lc.length_window

    def run(params: list[torch.Tensor], steps: int, lr: float, move_atoms: bool, anneal: float) -> None:
        cell_params = [p for p in params if p.requires_grad and p is not v_pos and p is not u_tau]
        groups = [{"params": cell_params, "lr": cell_lr(lr, anneal)}]
        if u_tau.requires_grad:  # log size: its step does not depend on the peak width
            groups.append({"params": [u_tau], "lr": lr})
        if move_atoms:
            groups.append({"params": [v_pos], "lr": lr})
        opt = torch.optim.Adam(groups, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=min(lr / 20, fine_lr))
        for step in range(steps + 1):
            extra = anneal * max(0.0, 1.0 - 2.0 * step / max(steps, 1))
            cell, tau, zero, frac = state(move_atoms)
            lat = lattice_from_parameters(cell)
            q_r = q_of_hkl(lat, hkl, cidx)
            if move_atoms:
                f2 = 2.0 * structure_factor_squared(batch.with_(lattice=lat, frac=frac), hkl, cidx, q_r)
            else:
                f2 = f2_frozen
            prof = render_sticks(data, q_r[rep], peak_groups_sum(f2, group, n_peaks), peak_crystal, bsz,
                                 tau, zero, extra_fwhm_q=extra)
            loss = linear_fit(data, prof).chi2 / den
            if extra == 0.0:
                with torch.no_grad():
                    better = loss.detach() < best["loss"]
                    best["loss"] = torch.where(better, loss.detach(), best["loss"])
                    best["cell"] = torch.where(better[:, None], cell.detach(), best["cell"])
                    best["tau"] = torch.where(better, tau.detach(), best["tau"])
                    if zero is not None:
                        best["zero"] = torch.where(better, zero.detach(), best["zero"])
                    best["frac"] = torch.where(better[batch.batch][:, None], frac.detach(), best["frac"])
            if step == steps:
                break
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
            sched.step()

    run([u_len, u_ang, u_tau, u_zero], lc.steps, lc.lr, False, lc.anneal_fwhm_q)
    if pc.enabled and pc.steps > 0:
        run([u_len, u_ang, u_tau, u_zero, v_pos], pc.steps, pc.lr, True, 0.0)
    num_free = ties.num_free() + int(refine_size) + int(use_zero)
    if pc.enabled and pc.steps > 0:
        num_free = num_free + 3 * batch.num_atoms
    best["num_free"] = num_free
    return best


def refine_candidates(
    records: list[CrystalRecord],
    data: FitData,
    size_angstrom: float,
    refine_size: bool = False,
    config: RefineConfig = RefineConfig(),
) -> RefineResult:
    """Refine every candidate against ``data`` (see module docstring).

    ``size_angstrom`` is τ (Å): fixed, or the start value when ``refine_size`` is True.
    """
    threads = torch.get_num_threads()
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    try:
        return _refine(records, data, size_angstrom, refine_size, config)
    finally:
        torch.set_num_threads(threads)


def _refine(records: list[CrystalRecord], data: FitData, size_angstrom: float, refine_size: bool,
            config: RefineConfig) -> RefineResult:
    torch.manual_seed(config.seed)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    batch = batch_from_records(records)
    bsz = batch.num_crystals
    n_bg = data.basis.shape[1]
    tau_all = torch.full((bsz,), float(size_angstrom), dtype=torch.float64)
    base_params = 1 + n_bg
    start_fit = _exact(batch, data, tau_all, None)
    before = fit_metrics(data, start_fit, base_params)
    times["start"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    sc = config.scan
    scales = _scan_scales(data, float(size_angstrom), sc, sc.min_scale, sc.max_scale)
    step = float(scales[1] - scales[0]) if scales.numel() > 1 else 0.01
    s_best, _ = volume_scan(batch, data, float(size_angstrom), scales, config.scan_chunk,
                            sc.min_relative_intensity, scan_broadening(data, float(size_angstrom), step))
    scanned = batch.with_(lattice=batch.lattice * s_best[:, None, None])
    scan_fit = _exact(scanned, data, tau_all, None)
    order = torch.argsort(scan_fit.chi2)
    top = order[: min(config.top_k, bsz)]
    if top.numel():  # finer scan around the coarse optimum of the best candidates
        fine = torch.linspace(1.0 - step, 1.0 + step, 9, dtype=torch.float64)
        s_fine, _ = volume_scan(scanned.select(top), data, float(size_angstrom), fine, config.scan_chunk,
                                sc.min_relative_intensity, scan_broadening(data, float(size_angstrom), step / 4))
        lat = scanned.lattice.clone()
        lat[top] = lat[top] * s_fine[:, None, None]
        fine_batch = scanned.with_(lattice=lat)
        fine_fit = _exact(fine_batch, data, tau_all, None)
        keep = fine_fit.chi2 < scan_fit.chi2
        scanned = scanned.with_(lattice=torch.where(keep[:, None, None], lat, scanned.lattice))
        scan_fit = _exact(scanned, data, tau_all, None)
    times["scan"] = time.perf_counter() - t1

    # choose per candidate among start and scan
    use_scan = scan_fit.chi2 < start_fit.chi2
    lattice = torch.where(use_scan[:, None, None], scanned.lattice, batch.lattice)
    frac = batch.frac.clone()
    tau = tau_all.clone()
    zero = torch.zeros(bsz, dtype=torch.float64)
    stage = ["scan" if bool(u) else "start" for u in use_scan]
    num_params = torch.full((bsz,), base_params, dtype=torch.long)

    t2 = time.perf_counter()
    top = torch.argsort(torch.minimum(scan_fit.chi2, start_fit.chi2))[: min(config.top_k, bsz)]
    if top.numel() and (config.lattice.steps > 0 or config.positions.steps > 0):
        reps = max(config.restarts, 1)
        idx = top.repeat_interleave(reps)
        sub = batch.with_(lattice=lattice).select(idx)
        dev = torch.device(config.device)
        best = gradient_refine(sub.to(dev), data.to(dev), tau[idx].to(dev), refine_size, config)
        best = {k: v.cpu() for k, v in best.items()}
        loss = best["loss"].view(-1, reps)
        pick = loss.argmin(dim=1) + torch.arange(top.numel()) * reps
        cand = sub.select(pick).with_(lattice=lattice_from_parameters(best["cell"][pick]))
        off = sub.atom_offsets
        cand = cand.with_(frac=torch.cat([best["frac"][int(off[j]):int(off[j + 1])] for j in pick.tolist()]))
        ref_fit = _exact(cand, data, best["tau"][pick], best["zero"][pick] if data.has_two_theta else None)
        cur = _exact(batch.with_(lattice=lattice).select(top), data, tau[top], None)
        b_off = batch.atom_offsets
        c_off = cand.atom_offsets
        for j, b in enumerate(top.tolist()):
            if float(ref_fit.chi2[j]) < float(cur.chi2[j]):
                lattice[b] = cand.lattice[j]
                frac[int(b_off[b]):int(b_off[b + 1])] = cand.frac[int(c_off[j]):int(c_off[j + 1])]
                tau[b], zero[b] = best["tau"][pick[j]], best["zero"][pick[j]]
                num_params[b] = base_params + int(best["num_free"][pick[j]])
                stage[b] = "refined"
    times["refine"] = time.perf_counter() - t2

    final = batch.with_(lattice=lattice, frac=frac)
    final_fit = _exact(final, data, tau, zero if data.has_two_theta else None)
    after = fit_metrics(data, final_fit, num_params)
    off = final.atom_offsets
    times["total"] = time.perf_counter() - t0
    return RefineResult(
        lattice=lattice.numpy(), frac=[frac[int(off[b]):int(off[b + 1])].numpy() for b in range(bsz)],
        size_angstrom=tau.numpy(), zero_shift_deg=zero.numpy(), scale=final_fit.scale.numpy(),
        background_coeffs=final_fit.background_coeffs.numpy(), metrics_before=before, metrics_after=after,
        num_params=num_params.numpy(), calculated=final_fit.calculated.numpy(),
        background=final_fit.background.numpy(), stage=tuple(stage), refined_indices=tuple(top.tolist()),
        seconds=times,
    )
