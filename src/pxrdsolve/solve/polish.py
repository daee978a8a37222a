"""Final least-squares polish of the best candidates: Levenberg–Marquardt on every refined parameter at once.

The Adam passes (:mod:`pxrdsolve.solve.refine_gradient`) find the basin; a Rietveld program then
converges by Gauss–Newton steps, which Adam's few dozen first-order steps cannot match on sharp peaks
(bulk lab or synchrotron data, where the cell must be right to 10⁻⁵ and the profile widths to a few
per cent).  This pass does what GSAS-II's and TOPAS's least squares do, for the ``top`` best candidates
(penalised χ²):

* parameters (physical units): the free cell lengths (Å) and angles (°) of the crystal system, every
  free coordinate of every Wyckoff orbit (fractional, along the orbit's orthonormal free directions),
  one B per orbit (Å², within the configured bounds), τ (Å, when refined), the 2θ zero shift (°, 2θ
  data), the sample displacement (µm, where it is refined), the March–Dollase r where a texture was
  kept, and, for an instrument that was not calibrated, the widths ``widths`` (Caglioti U, V, W in
  centideg², Lorentzian X, Y in centideg, SH/L; each ≥ 0 except V);
* residuals r = √w (y − y_calc) on the full data and the full model, scale and background eliminated
  (solved linearly at every evaluation: variable projection);
* Jacobian by forward differences, evaluated as extra crystals of one batch (the simulator is batched,
  so a Jacobian costs one call); columns scaled to unit norm (Marquardt); for each iteration several
  damping factors λ are tried in one further batched call and the best kept; bounds by projection.

A candidate's result is replaced only where the exact χ² is lower, so the polish never makes a candidate
worse.  The space group is kept: only symmetry-allowed parameters move.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from pxrdsolve.solve.objective import FitData
from pxrdsolve.structure.cell import ties_for_space_groups
from pxrdsolve.structure.template import SymmetricTemplate


@cache
def _ties(number: int):
    """Cell ties of space group ``number`` (built once per group: :func:`_apply` runs for every Jacobian column)."""
    return ties_for_space_groups([number])


WIDTH_STEP = {"u": 0.01, "v": 0.01, "w": 0.002, "x": 0.005, "y": 0.005, "sh_l": 1e-4}
NONNEGATIVE = frozenset({"u", "w", "x", "y", "sh_l"})


@dataclass(frozen=True)
class PolishConfig:
    """Levenberg–Marquardt polish of the ``top`` best candidates for at most ``iterations`` steps
    (stopping when χ² falls by less than ``min_gain`` relative); ``widths``: instrument widths refined when
    the instrument was not calibrated; ``lambdas``: damping factors tried per step (times the current λ)."""

    enabled: bool = True
    top: int = 3
    iterations: int = 8
    widths: tuple[str, ...] = ("w", "u", "v", "x", "y", "sh_l")
    lambdas: tuple[float, ...] = (0.1, 1.0, 10.0)
    lambda_start: float = 1e-2
    min_gain: float = 1e-4


@dataclass
class _State:
    """One candidate's refinable state (plain floats)."""

    template: SymmetricTemplate
    tau: float
    zero: float
    profile: dict[str, float]


@dataclass(frozen=True)
class _Param:
    kind: str  # cell_len, cell_ang, pos, b, tau, zero, prof
    key: object
    step: float
    lo: float = -math.inf
    hi: float = math.inf


def _parameters(s: _State, *, refine_size: bool, zero: bool, widths: tuple[str, ...], b_bounds, tau_bounds,
                zero_window: float, r_bounds) -> tuple[list[_Param], np.ndarray]:
    t = s.template
    ties = _ties(t.number)
    out: list[_Param] = []
    vals: list[float] = []
    for k in sorted(set(ties.length_src[0].tolist())):
        i = int(ties.length_src[0].tolist().index(k))
        out.append(_Param("cell_len", k, 2e-5 * float(t.cell[i])))
        vals.append(float(t.cell[i]))
    free = ties.angle_free[0] > 0
    for k in sorted({int(a) for a, f in zip(ties.angle_src[0].tolist(), free.tolist()) if f}):
        i = [j for j, (a, f) in enumerate(zip(ties.angle_src[0].tolist(), free.tolist())) if f and a == k][0]
        out.append(_Param("cell_ang", k, 2e-3))
        vals.append(float(t.cell[3 + i]))
    for o_i, o in enumerate(t.orbits):
        for j in range(o.num_free):
            out.append(_Param("pos", (o_i, j), 1e-4))
            vals.append(0.0)
    for o_i, o in enumerate(t.orbits):
        out.append(_Param("b", o_i, 0.01, *b_bounds))
        vals.append(float(o.b_iso))
    if refine_size:
        out.append(_Param("tau", None, 1e-3 * s.tau, *tau_bounds))
        vals.append(s.tau)
    if zero:
        out.append(_Param("zero", None, 1e-4, -zero_window, zero_window))
        vals.append(s.zero)
    names = [n for n in widths if n in s.profile] + (["displacement_um"] if "displacement_um" in s.profile else [])
    for n in names:
        step = 1.0 if n == "displacement_um" else WIDTH_STEP.get(n, 1e-3) * max(abs(s.profile[n]), 0.1)
        out.append(_Param("prof", n, step, 0.0 if n in NONNEGATIVE else -math.inf))
        vals.append(float(s.profile[n]))
    if s.profile.get("march_dollase_r", 1.0) != 1.0:
        out.append(_Param("prof", "march_dollase_r", 1e-3, *r_bounds))
        vals.append(float(s.profile["march_dollase_r"]))
    return out, np.asarray(vals, float)


def _apply(s: _State, params: list[_Param], values: np.ndarray) -> _State:
    t = s.template
    ties = _ties(t.number)
    cell = np.asarray(t.cell, float).copy()
    positions = np.stack([o.position for o in t.orbits]).copy()
    b = np.array([o.b_iso for o in t.orbits], float)
    tau, zero, prof = s.tau, s.zero, dict(s.profile)
    src_len, src_ang = ties.length_src[0].tolist(), ties.angle_src[0].tolist()
    free = (ties.angle_free[0] > 0).tolist()
    for p, v in zip(params, values):
        v = float(min(max(v, p.lo), p.hi))
        if p.kind == "cell_len":
            for i in range(3):
                if src_len[i] == p.key:
                    cell[i] = v
        elif p.kind == "cell_ang":
            for i in range(3):
                if free[i] and src_ang[i] == p.key:
                    cell[3 + i] = v
        elif p.kind == "pos":
            o_i, j = p.key
            positions[o_i] = positions[o_i] + t.orbits[o_i].basis[:, j] * v
        elif p.kind == "b":
            b[p.key] = v
        elif p.kind == "tau":
            tau = v
        elif p.kind == "zero":
            zero = v
        else:
            prof[p.key] = v
    return _State(t.with_parameters(cell=cell, positions=positions, b_iso=b), tau, zero, prof)


ExactFn = Callable[..., object]


def _evaluate(states: list[_State], data: FitData, exact: ExactFn, use_zero: bool):
    """(χ² (n,), residuals (n, G)) of the exact fit of every state."""
    tau = torch.tensor([s.tau for s in states], dtype=torch.float64)
    zero = torch.tensor([s.zero for s in states], dtype=torch.float64) if use_zero else None
    keys = sorted(states[0].profile)
    prof = {k: torch.tensor([s.profile[k] for s in states], dtype=torch.float64) for k in keys} or None
    fit = exact([s.template for s in states], data, tau, zero, prof)
    res = data.weight.sqrt() * (data.intensity - fit.calculated)
    return fit.chi2.detach(), res.detach()


def polish(states: list[_State], data: FitData, exact: ExactFn, config: PolishConfig, *, refine_size: bool,
           use_zero: bool, widths: tuple[str, ...], b_bounds, tau_bounds, zero_window: float,
           r_bounds) -> tuple[list[_State], list[float], list[float]]:
    """Polished states, their χ² and their start χ² (module docstring)."""
    specs = [_parameters(s, refine_size=refine_size, zero=use_zero, widths=widths, b_bounds=b_bounds,
                         tau_bounds=tau_bounds, zero_window=zero_window, r_bounds=r_bounds) for s in states]
    values = [v.copy() for _, v in specs]
    chi2_0, res = _evaluate(states, data, exact, use_zero)
    chi2 = chi2_0.clone()
    lam = [config.lambda_start] * len(states)
    active = list(range(len(states)))
    for _ in range(config.iterations):
        if not active:
            break
        # Jacobian: one batch of forward-difference copies of every active candidate
        copies, owner = [], []
        for c in active:
            params, _ = specs[c]
            for j, p in enumerate(params):
                v = values[c].copy()
                v[j] += p.step if v[j] + p.step <= p.hi else -p.step
                copies.append(_apply(states[c], params, v))
                owner.append((c, j, v[j] - values[c][j]))
        _, res_fd = _evaluate(copies, data, exact, use_zero)
        trials, trial_owner = [], []
        for c in active:
            params, _ = specs[c]
            rows = [k for k, (cc, _, _) in enumerate(owner) if cc == c]
            h = torch.tensor([owner[k][2] for k in rows], dtype=torch.float64)
            jac = ((res_fd[rows] - res[c]) / h[:, None]).T  # (G, P)
            norm = jac.norm(dim=0)
            ok = norm > 0
            jn = jac[:, ok] / norm[ok]
            a = jn.T @ jn
            g = jn.T @ res[c]
            for f in config.lambdas:
                lm = lam[c] * f
                step = torch.linalg.solve(a + lm * torch.eye(a.shape[0], dtype=a.dtype), -g)
                full = torch.zeros(len(params), dtype=torch.float64)
                full[ok] = step / norm[ok]
                v = values[c] + full.numpy()
                v = np.array([min(max(x, p.lo), p.hi) for x, p in zip(v, params)])
                trials.append(_apply(states[c], params, v))
                trial_owner.append((c, lm, v))
        chi2_t, res_t = _evaluate(trials, data, exact, use_zero)
        still = []
        for c in active:
            ks = [k for k, o in enumerate(trial_owner) if o[0] == c]
            k = min(ks, key=lambda k: float(chi2_t[k]))
            if float(chi2_t[k]) < float(chi2[c]):
                gain = 1.0 - float(chi2_t[k]) / float(chi2[c])
                _, lm, v = trial_owner[k]
                values[c], chi2[c], res[c], lam[c] = v, chi2_t[k], res_t[k], lm
                if gain > config.min_gain:
                    still.append(c)
            else:
                lam[c] *= 100.0
                if lam[c] < 1e6:
                    still.append(c)
        active = still
    out = [_apply(s, params, v) for s, (params, _), v in zip(states, specs, values)]
    return out, [float(x) for x in chi2], [float(x) for x in chi2_0]


def polish_candidates(templates: list[SymmetricTemplate], indices: list[int], data: FitData, tau: torch.Tensor,
                      zero: torch.Tensor, profile: dict[str, torch.Tensor], chi2: torch.Tensor, score: np.ndarray,
                      refine_size: bool, config, exact: ExactFn) -> list[int]:
    """Polish the ``config.polish.top`` best of ``indices`` by ``score`` (``config`` a
    :class:`~pxrdsolve.solve.refine.RefineConfig`); updates ``templates``, ``tau``, ``zero``, ``profile``
    (name → (B,); polished widths are added for every candidate, at the instrument's values) and ``chi2`` in
    place where the exact χ² falls, and returns those indices."""
    from pxrdsolve.solve.render import profile_defaults

    pc = config.polish
    pick = sorted(indices, key=lambda b: float(score[b]))[: pc.top]
    if not pc.enabled or not pick:
        return []
    widths = () if data.instrument is None or data.instrument_calibrated else pc.widths
    bsz = len(templates)
    for name in widths:
        if name not in profile:
            profile[name] = profile_defaults(data, name, bsz)
    use_zero = data.has_two_theta and config.zero_window_deg > 0
    states = [_State(templates[b], float(tau[b]), float(zero[b]) if use_zero else 0.0,
                     {k: float(v[b]) for k, v in profile.items()}) for b in pick]
    out, new, old = polish(states, data, exact, pc, refine_size=refine_size, use_zero=use_zero, widths=widths,
                           b_bounds=config.positions.b_bounds_angstrom2, tau_bounds=config.size_bounds_angstrom,
                           zero_window=config.zero_window_deg, r_bounds=config.texture.r_bounds)
    changed = []
    for b, s, c_new in zip(pick, out, new):
        if c_new < float(chi2[b]):
            templates[b], tau[b], chi2[b] = s.template, s.tau, c_new
            if use_zero:
                zero[b] = s.zero
            for k, v in s.profile.items():
                profile[k][b] = v
            changed.append(b)
    return changed
