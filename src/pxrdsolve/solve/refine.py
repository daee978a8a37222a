"""Automated Rietveld-style refinement of many candidate structures against one pattern, batched in torch.

Replaces PXRDNet's manual TOPAS step.  Every candidate is first put in its space group
(:func:`~pxrdsolve.structure.template.symmetric_template`: standard conventional cell, Wyckoff orbits,
free coordinates from the site-symmetry projectors); all later passes move only symmetry-allowed
parameters, so the space group is kept exactly.  Passes:

1. **exact start** - every candidate as given (scale + background solved linearly);
2. **volume scan** (all candidates) - isotropic cell scale factors (peaks computed once per
   candidate, Q/s for each factor s); the best factor per candidate, then a finer scan for the
   ``top_k`` best; for sharp peaks, a **c/a scan** of the best uniaxial candidates of each structure type
   (:mod:`pxrdsolve.solve.axial_scan`);
3. **gradient refinement** (``top_k`` best, each with ``restarts`` jittered copies, and, for variety, the
   best candidate of each of up to ``diverse_k`` further structure types with ``diverse_restarts`` copies, all in
   one batch, :mod:`pxrdsolve.solve.refine_gradient`) - Adam on the cell by crystal system, size τ (Å, when
   refined), zero shift (2θ degrees, 2θ data only), then the free coordinates of every orbit and one B per orbit;
   scale and background stay linear;
4. **symmetry promotion** (:mod:`pxrdsolve.solve.promote`) - a refined candidate whose structure has a
   higher space group within a broad-peak tolerance is re-described in it when that does not worsen the fit;
5. **texture** (:mod:`pxrdsolve.solve.refine_texture`, ``--texture``) - March–Dollase preferred orientation
   for the best refined candidates, kept where it lowers the penalised χ²;
6. **polish** (:mod:`pxrdsolve.solve.polish`) - Levenberg–Marquardt on every refined parameter (cell, coordinates,
   B, τ, zero, displacement, uncalibrated instrument widths, texture) for the few best candidates.

Texture and polish go to the best candidate of each of the best structure types first
(:func:`~pxrdsolve.solve.refine_order.distinct_first`), so
that a structure and its lower-symmetry variants are compared after the same stages.

The best parameters seen per candidate are kept, and a final exact evaluation (fresh reflections,
form factors, merged peaks) replaces a candidate's result by its start whenever refinement did not
improve the exact fit: refinement never makes a candidate worse.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from pxrdsolve.crystal import CrystalBatch, CrystalRecord, batch_from_records
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.solve.axial_scan import AxialScanConfig, axial_scan
from pxrdsolve.solve.fit_views import coarsen, scan_data
from pxrdsolve.solve.objective import FitData, LinearFit, ObjectiveConfig, fit_metrics, linear_fit, splice_fits
from pxrdsolve.solve.phases import render_extra
from pxrdsolve.solve.polish import PolishConfig, polish_candidates
from pxrdsolve.solve.refine_gradient import gradient_refine
from pxrdsolve.solve.refine_order import distinct_first, refine_indices
from pxrdsolve.solve.refine_texture import has_texture, refine_texture
from pxrdsolve.solve.render import peak_fwhm_q, profile_defaults, profile_tensors, render_sticks, stick_pad
from pxrdsolve.solve.scan import ScanConfig, scan_broadening, scan_scales, volume_scan
from pxrdsolve.solve.selection import final_scores, model_parameters, penalised_chi2
from pxrdsolve.solve.texture import (
    TextureConfig,
    march_dollase_weight,
    primitive_direction,
    split_texture,
    texture_record,
)
from pxrdsolve.structure.model import SymmetricBatch
from pxrdsolve.structure.template import SymmetricTemplate, symmetric_template


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
    """Adam on the free coordinates of every Wyckoff orbit (bounded to ±``max_displacement_angstrom``
    along each free direction) and, with ``refine_b``, one isotropic B per orbit within
    ``b_bounds_angstrom2`` (Å², started at ``b_start_angstrom2`` where the candidate has none), together
    with the cell, τ and zero."""

    steps: int = 20
    lr: float = 0.08
    max_displacement_angstrom: float = 0.3
    enabled: bool = True
    refine_b: bool = True
    b_bounds_angstrom2: tuple[float, float] = (0.0, 4.0)
    b_start_angstrom2: float = 0.6  # start of orbits given without a B (library entries, most CIFs)
    b_lr_angstrom2: float = 0.1  # Adam step of B (Å²)


@dataclass(frozen=True)
class PromoteConfig:
    """Symmetry promotion of refined candidates: the highest space group spglib finds within any of
    ``symprecs_angstrom`` is kept when it lowers the information criterion of :mod:`pxrdsolve.solve.selection`
    (``chi2_tolerance``: extra allowance, as a fraction of the refined χ²)."""

    enabled: bool = True
    symprecs_angstrom: tuple[float, ...] = (0.05, 0.1, 0.2)
    chi2_tolerance: float = 0.0


@dataclass(frozen=True)
class RefineConfig:
    """All refinement settings (nested, frozen, JSON-serialisable with :meth:`to_json`)."""

    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    lattice: LatticeStageConfig = field(default_factory=LatticeStageConfig)
    positions: PositionStageConfig = field(default_factory=PositionStageConfig)
    top_k: int = 12
    # and the best candidate of each of up to diverse_k structure types (space group, Wyckoff orbits) not among
    # the top_k: a right structure type whose template's atoms sit wrong can be far down the scan's χ² order
    diverse_k: int = 24
    diverse_restarts: int = 1  # copies of each of those (at most ``restarts``)
    restarts: int = 2
    restart_jitter: float = 0.03
    size_bounds_angstrom: tuple[float, float] = (2.0, 5000.0)
    zero_window_deg: float = 0.3
    seed: int = 0
    device: str = "cpu"
    scan_chunk: int = 48
    num_threads: int = 1  # torch CPU threads while refining (0 = torch's default); small ops favour 1
    symprec_angstrom: float = 0.01  # spglib tolerance that finds each candidate's space group and orbits
    displacement_window_um: float = 300.0  # instrument model: sample displacement refined within ±this (µm)
    refined_widths: tuple[str, ...] = ("w", "u", "y")  # instrument widths refined when not calibrated
    profile_lr: float = 0.08
    promote: PromoteConfig = field(default_factory=PromoteConfig)
    axial: AxialScanConfig = field(default_factory=AxialScanConfig)
    polish: PolishConfig = field(default_factory=PolishConfig)
    texture: TextureConfig = field(default_factory=TextureConfig)
    # final ranking: largest serial-correlation factor κ of the information criterion (solve.selection)
    max_correlation_factor: float = 20.0

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RefineResult:
    """Refined candidates (index b = input order).  Lattices (B, 3, 3) Å, ``frac`` per candidate,
    ``size_angstrom`` τ (B,), ``zero_shift_deg`` (B,), metrics before/after (name → (B,) arrays, see
    :func:`~pxrdsolve.solve.objective.fit_metrics`), ``calculated``/``background`` (B, G) on the
    fit grid, ``stage`` (B,): which pass gave the kept result (``start``/``scan``/``axial``/``refined``);
    ``templates`` (B,): each refined crystal in its space group (standard conventional cell, orbits, B),
    the one description every output is written from; ``promoted`` (B,): space group before promotion
    (0 = not promoted)."""

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
    templates: tuple[SymmetricTemplate, ...] = ()
    promoted: tuple[int, ...] = ()
    instrument: Any = None  # the instrument model the fit used (None: fixed-width Fourier profile)
    profile: dict[str, np.ndarray] = field(default_factory=dict)  # refined instrument (and texture) parameters
    phase_scales: np.ndarray | None = None  # (B, E) scales of the known extra phases (absolute profiles)

    def instrument_of(self, b: int):
        """The instrument with candidate ``b``'s refined parameters (zero shift included), or None."""
        if self.instrument is None:
            return None
        changes = {k: float(v[b]) for k, v in self.profile.items() if k in ("u", "v", "w", "x", "y", "sh_l",
                                                                            "displacement_um")}
        return self.instrument.with_(zero_deg=self.instrument.zero_deg + float(self.zero_shift_deg[b]), **changes)

    def march_dollase(self, b: int) -> dict | None:
        """Candidate ``b``'s texture, ``{"r": r, "hkl": [H, K, L]}`` (conventional standard cell), or None."""
        return texture_record(self.profile, b)

    def record(self, b: int, template: CrystalRecord | None = None) -> CrystalRecord:
        """The refined crystal ``b`` as a primitive cell (regenerated from its space group and orbits)."""
        return self.templates[b].primitive_record()


def _exact(batch: CrystalBatch, data: FitData, tau: torch.Tensor, zero: torch.Tensor | None,
           profile: dict[str, torch.Tensor] | None = None,
           texture: tuple[torch.Tensor, torch.Tensor] | None = None) -> LinearFit:
    """Exact fit of a batch: fresh merged peaks, profiles, linear solve (no gradients).  ``profile``: refined
    instrument-model parameters per crystal (name → (B,)), on top of the data's instrument; ``texture``:
    March–Dollase (direction (B, 3) in primitive reciprocal indices, r (B,)), applied per reflection."""
    with torch.no_grad():
        q_max = data.q_range[1] + stick_pad(data, tau)
        weight = None if texture is None else march_dollase_weight(batch.lattice, *texture)
        peaks = compute_peaks(batch, data.radiation.wavelength_angstrom, q_max, reflection_weight=weight)
        ptens = profile_tensors(data, batch.num_crystals, profile)
        prof = render_sticks(data, peaks.q_inv_angstrom, peaks.f_squared, peaks.crystal_index,
                             batch.num_crystals, tau, zero, profile=ptens)
        return linear_fit(data, prof, render_extra(data, batch.num_crystals, tau, zero, ptens))


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


def _exact_templates(templates: list[SymmetricTemplate], data: FitData, tau: torch.Tensor,
                     zero: torch.Tensor | None, profile: dict[str, torch.Tensor] | None = None) -> LinearFit:
    """:func:`_exact` of templates; texture parameters in ``profile`` (conventional hkl, see
    :mod:`pxrdsolve.solve.texture`) are turned into primitive-cell directions."""
    inst, tex = split_texture(profile)
    if tex is not None:
        to_prim = torch.as_tensor(np.stack([t.to_primitive for t in templates]), dtype=torch.float64)
        tex = (primitive_direction(tex[0], to_prim), tex[1])
    return _exact(batch_from_records([t.primitive_record() for t in templates]), data, tau, zero, inst, tex)


def _refine(records: list[CrystalRecord], data: FitData, size_angstrom: float, refine_size: bool,
            config: RefineConfig) -> RefineResult:
    torch.manual_seed(config.seed)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    tpls = [symmetric_template(r, config.symprec_angstrom) for r in records]
    batch = batch_from_records([t.primitive_record() for t in tpls])
    bsz = batch.num_crystals
    n_bg = data.basis.shape[1]
    tau_all = torch.full((bsz,), float(size_angstrom), dtype=torch.float64)
    base_params = 1 + n_bg
    before = fit_metrics(data, _exact(batch, data, tau_all, None), base_params)
    t1 = time.perf_counter()
    sc = config.scan
    scales = scan_scales(data, float(size_angstrom), sc, sc.min_scale, sc.max_scale)
    step = float(scales[1] - scales[0]) if scales.numel() > 1 else 0.01
    # candidate selection with the cheap renderer on a grid as coarse as the scan's resolution allows;
    # refinement and results with the full model on the full grid
    fast = scan_data(data, float(size_angstrom), sc.sharp_max_q_inv_angstrom, sc.broad_max_q_inv_angstrom)
    fast = coarsen(fast, math.hypot(peak_fwhm_q(data, float(size_angstrom)),
                                    scan_broadening(data, float(size_angstrom), step / 4)))
    start_fit = _exact(batch, fast, tau_all, None)
    times["start"] = time.perf_counter() - t0
    s_best, _ = volume_scan(batch, fast, float(size_angstrom), scales, config.scan_chunk,
                            sc.min_relative_intensity, scan_broadening(fast, float(size_angstrom), step))
    scanned = batch.with_(lattice=batch.lattice * s_best[:, None, None])
    scan_fit = _exact(scanned, fast, tau_all, None)
    order = torch.argsort(scan_fit.chi2)
    top = order[: min(max(config.top_k, sc.fine_scan_candidates), bsz)]
    if top.numel():  # finer scan around the coarse optimum (χ² is sharp in the cell: a coarse step can hide
        # the right candidate behind a wrong one that happened to sit nearer a grid point)
        fine = torch.linspace(1.0 - step, 1.0 + step, 9, dtype=torch.float64)
        s_fine, _ = volume_scan(scanned.select(top), fast, float(size_angstrom), fine, config.scan_chunk,
                                sc.min_relative_intensity, scan_broadening(fast, float(size_angstrom), step / 4))
        s_try = s_best.clone()
        s_try[top] = s_best[top] * s_fine
        fine_fit = _exact(batch.with_(lattice=batch.lattice * s_try[:, None, None]), fast, tau_all, None)
        s_best = torch.where(fine_fit.chi2 < scan_fit.chi2, s_try, s_best)
        scan_fit = _exact(batch.with_(lattice=batch.lattice * s_best[:, None, None]), fast, tau_all, None)
    times["scan"] = time.perf_counter() - t1

    # choose per candidate among start and scan
    use_scan = scan_fit.chi2 < start_fit.chi2
    tpls = [t.scaled(float(s)) if bool(u) else t for t, s, u in zip(tpls, s_best, use_scan)]
    chi2 = torch.minimum(scan_fit.chi2, start_fit.chi2)
    tau = tau_all.clone()
    zero = torch.zeros(bsz, dtype=torch.float64)
    stage = ["scan" if bool(u) else "start" for u in use_scan]
    num_params = torch.full((bsz,), base_params, dtype=torch.long)
    profile: dict[str, torch.Tensor] = {}  # refined instrument-model parameters (name → (B,))
    t_ax = time.perf_counter()
    ax = config.axial
    if ax.enabled and peak_fwhm_q(data, float(size_angstrom)) < ax.max_relative_fwhm * data.q_range[1]:
        tau_f = float(size_angstrom)

        def scan(ts, factors, stp):
            b = batch_from_records([t.primitive_record() for t in ts])
            return volume_scan(b, fast, tau_f, factors, config.scan_chunk, sc.min_relative_intensity,
                               scan_broadening(fast, tau_f, stp))

        def exact_chi2(ts):
            return _exact_templates(ts, fast, tau_all[: len(ts)], None).chi2

        for i, (t_new, c_new) in axial_scan(tpls, chi2, scales, step, scan, exact_chi2, ax).items():
            tpls[i], chi2[i], stage[i] = t_new, c_new, "axial"
    times["axial"] = time.perf_counter() - t_ax

    t2 = time.perf_counter()
    top = refine_indices(tpls, chi2, config.top_k, config.diverse_k)
    if top.numel() and (config.lattice.steps > 0 or config.positions.steps > 0):
        reps = torch.full((top.numel(),), max(config.restarts, 1), dtype=torch.long)
        reps[min(config.top_k, bsz):] = min(max(config.diverse_restarts, 1), int(reps[0]))
        first = torch.cumsum(reps, 0) - reps  # each candidate's first copy in the batch
        idx = top.repeat_interleave(reps)
        dev = torch.device(config.device)
        sym = SymmetricBatch.from_templates([tpls[i] for i in idx.tolist()], device=dev)
        # gradient steps on a grid of ~4 points per FWHM (long scans of sharp peaks: far fewer points)
        grad_data = coarsen(data, peak_fwhm_q(data, float(tau[idx].max())), points_per_fwhm=4.0)
        copy = torch.arange(idx.numel()) - first.repeat_interleave(reps)
        best = gradient_refine(sym, grad_data.to(dev), tau[idx].to(dev), refine_size, config, restart=copy > 0)
        refined = sym.updated_templates(best["cell"], best["d"], best["b_orbit"])
        best = {k: ({n: t.cpu() for n, t in v.items()} if isinstance(v, dict) else v.cpu()) for k, v in best.items()}
        pick = [int(f) + int(best["loss"][f:f + r].argmin()) for f, r in zip(first.tolist(), reps.tolist())]
        cand = [refined[j] for j in pick]
        prof_pick = {k: v[pick] for k, v in best["profile"].items()}
        ref_fit = _exact_templates(cand, data, best["tau"][pick], best["zero"][pick] if data.has_two_theta else None,
                                   prof_pick)
        cur = _exact_templates([tpls[b] for b in top.tolist()], data, tau[top], None)
        for j, b in enumerate(top.tolist()):
            if float(ref_fit.chi2[j]) < float(cur.chi2[j]):
                tpls[b] = cand[j]
                tau[b], zero[b] = best["tau"][pick[j]], best["zero"][pick[j]]
                for k, v in prof_pick.items():
                    profile.setdefault(k, profile_defaults(data, k, bsz))[b] = v[j]
                num_params[b] = base_params + int(best["num_free"][pick[j]])
                stage[b] = "refined"
    times["refine"] = time.perf_counter() - t2
    z_arg = zero if data.has_two_theta else None
    refined_fit = _exact_templates(tpls, data, tau, z_arg, profile)
    chi2 = refined_fit.chi2.clone()  # promotion updates it in place

    t3 = time.perf_counter()
    use_zero = data.has_two_theta and config.zero_window_deg > 0
    pos = config.positions

    def n_model(t: SymmetricTemplate, texture: bool = False) -> int:
        return model_parameters(t, base_params, refine_size, use_zero, pos.enabled, pos.enabled and pos.refine_b,
                                texture)

    def model_counts() -> np.ndarray:
        """Parameters of every candidate's model as it stands (space group, texture)."""
        return np.array([n_model(t, bool(x)) for t, x in zip(tpls, has_texture(profile, bsz))])

    promoted = [0] * bsz
    if config.promote.enabled and top.numel():
        from pxrdsolve.solve.promote import promote_symmetry

        def exact(ts, d, t, z, idx=None):
            sub = None if not profile else {k: v[idx] for k, v in profile.items()}
            return _exact_templates(ts, d, t, z, sub)

        promoted = promote_symmetry(tpls, top.tolist(), data, tau, z_arg, chi2, config.promote, exact, n_model)
        for b, old in enumerate(promoted):
            if old:
                num_params[b] = n_model(tpls[b])
    times["promote"] = time.perf_counter() - t3
    t4 = time.perf_counter()
    score = penalised_chi2(chi2.numpy(), model_counts(), data.n_points)
    textured = refine_texture(tpls, distinct_first(tpls, top.tolist(), score), data, tau, zero, profile, chi2,
                              num_params, base_params, n_model, refine_size, config, _exact_templates)
    times["texture"] = time.perf_counter() - t4
    t5 = time.perf_counter()
    polished: list[int] = []
    if config.polish.enabled and top.numel():
        score = penalised_chi2(chi2.numpy(), model_counts(), data.n_points)
        pick = distinct_first(tpls, top.tolist(), score)[: max(config.polish.top, 0)]
        polished = polish_candidates(tpls, pick, data, tau, zero, profile, chi2, score, refine_size, config,
                                     _exact_templates)
    times["polish"] = time.perf_counter() - t5

    # the exact fit of every candidate is known except for those promotion or texture changed
    changed = sorted({b for b, old in enumerate(promoted) if old} | set(textured) | set(polished))
    final_fit = refined_fit
    if changed:
        sub_profile = {k: v[changed] for k, v in profile.items()} if profile else profile
        part = _exact_templates([tpls[b] for b in changed], data, tau[changed],
                                None if z_arg is None else z_arg[changed], sub_profile)
        final_fit = splice_fits(refined_fit, part, changed)
    after = fit_metrics(data, final_fit, num_params)
    model_params = model_counts()
    after["model_params"] = model_params.astype(float)
    after.update(final_scores(after["chi2"], after["residual_lag1"], model_params, data.n_points,  # κ calibrated
                              config.max_correlation_factor if data.has_noise_model else 1.0))  # on counts only
    recs = [t.primitive_record() for t in tpls]
    times["total"] = time.perf_counter() - t0
    return RefineResult(
        lattice=np.stack([r.lattice for r in recs]), frac=[r.frac for r in recs],
        size_angstrom=tau.numpy(), zero_shift_deg=zero.numpy(), scale=final_fit.scale.numpy(),
        background_coeffs=final_fit.background_coeffs.numpy(), metrics_before=before, metrics_after=after,
        num_params=num_params.numpy(), calculated=final_fit.calculated.numpy(),
        background=final_fit.background.numpy(), stage=tuple(stage), refined_indices=tuple(top.tolist()),
        seconds=times, templates=tuple(tpls), promoted=tuple(promoted),
        instrument=data.instrument, profile={k: v.numpy() for k, v in profile.items()},
        phase_scales=None if final_fit.phase_scales is None else final_fit.phase_scales.numpy(),
    )
