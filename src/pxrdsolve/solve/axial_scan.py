"""Axial-ratio scan of uniaxial candidates (tetragonal, trigonal, hexagonal) for sharp peaks.

The isotropic volume scan (:func:`pxrdsolve.solve.scan.volume_scan`) multiplies every cell length by
one factor, so a template whose c/a differs from the sample's by a per cent or two never lines its
(00l) and (hk0) peaks up at once.  With broad (nanocrystal) peaks the gradient stage closes that gap;
with sharp peaks (bulk lab or synchrotron data, relative FWHM ≲ 1 % of Q) the peaks of a wrong c/a do
not overlap the data at all, χ² is flat, and the right structure type never reaches the refinement.

This pass scans c/a for the uniaxial candidates at constant volume: for each ratio factor r the
conventional c is multiplied by r^(2/3) and a = b by r^(-1/3), and every strained copy gets the same
isotropic scale scan as the other candidates (the model peaks broadened to the scan step, as there).
A coarse pass over ``ratio_range`` is followed by a fine pass around each candidate's best ratio.
Candidates are grouped by structure type (space group, and the Wyckoff letters and species of the
orbits), and only ``per_type`` of each type, ``max_templates`` in all, are scanned (half by χ², half in
the sources' order), a further one of a type only where its c/a is outside the range already scanned:
the scan makes the members of one type that differ only in c/a redundant.  A strained copy replaces its
candidate only when its exact χ² on the scan data is lower; the space group is kept (a uniaxial strain
of the conventional cell preserves the point group of a tetragonal, trigonal or hexagonal lattice).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from pxrdsolve.structure.template import SymmetricTemplate

UNIAXIAL_SYSTEMS = frozenset({"tetragonal", "trigonal", "hexagonal"})


@dataclass(frozen=True)
class AxialScanConfig:
    """c/a scan of uniaxial candidates, run when the peaks' relative FWHM at the top of the fit range is
    below ``max_relative_fwhm`` (ΔQ/Q).  Ratio factors from ``ratio_range`` in relative steps of
    ``ratio_step`` (or 1.5 isotropic scan steps, whichever is larger)."""

    enabled: bool = True
    max_relative_fwhm: float = 0.012
    ratio_range: tuple[float, float] = (0.86, 1.16)
    ratio_step: float = 0.012
    max_templates: int = 24
    per_type: int = 3
    fine_points: int = 5


def structure_type_key(t: SymmetricTemplate) -> tuple:
    """Space group number and the sorted (Wyckoff letter, multiplicity, species) of the orbits."""
    return (t.number, tuple(sorted((o.wyckoff, o.multiplicity, tuple(o.species)) for o in t.orbits)))


def strained(t: SymmetricTemplate, ratio: float, scale: float = 1.0) -> SymmetricTemplate:
    """``t`` with c/a multiplied by ``ratio`` at constant volume, then every length by ``scale``."""
    cell = np.asarray(t.cell, float).copy()
    cell[:2] *= ratio ** (-1.0 / 3.0) * scale
    cell[2] *= ratio ** (2.0 / 3.0) * scale
    return t.with_parameters(cell=cell)


def axial_indices(templates: list[SymmetricTemplate], chi2: torch.Tensor, config: AxialScanConfig) -> list[int]:
    """Candidates to scan: uniaxial, at most ``per_type`` per structure type and ``max_templates`` in all,
    half of them best χ² first and half in the sources' order (when no c/a fits, χ² is flat and says
    little; the sources list the likeliest structure types first).  A further member of a type is taken
    only when its c/a lies outside the ratio range already scanned for that type."""
    lo, hi = config.ratio_range
    covered: dict[tuple, list[float]] = {}
    out: list[int] = []

    def take(order: list[int], limit: int) -> None:
        for i in order:
            if len(out) >= limit:
                return
            t = templates[i]
            if t.crystal_system not in UNIAXIAL_SYSTEMS or i in out:
                continue
            key, c_over_a = structure_type_key(t), float(t.cell[2] / t.cell[0])
            done = covered.setdefault(key, [])
            if len(done) >= config.per_type or any(lo <= c_over_a / x <= hi for x in done):
                continue
            done.append(c_over_a)
            out.append(i)

    take(torch.argsort(chi2).tolist(), (config.max_templates + 1) // 2)
    take(list(range(len(templates))), config.max_templates)
    return out


def ratio_grid(lo: float, hi: float, step: float) -> np.ndarray:
    """Ratio factors from ``lo`` to ``hi`` in geometric steps of (1 + ``step``), 1 included."""
    k = math.log1p(step)
    n_lo, n_hi = int(math.floor(-math.log(lo) / k + 1e-9)), int(math.floor(math.log(hi) / k + 1e-9))
    return np.exp(np.arange(-n_lo, n_hi + 1) * k)


ScanFn = Callable[[list[SymmetricTemplate], torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]
ExactFn = Callable[[list[SymmetricTemplate]], torch.Tensor]


def axial_scan(templates: list[SymmetricTemplate], chi2: torch.Tensor, scales: torch.Tensor, step: float,
               scan: ScanFn, exact_chi2: ExactFn,
               config: AxialScanConfig) -> dict[int, tuple[SymmetricTemplate, float]]:
    """{candidate index: (strained template, its exact χ²)} for the candidates whose χ² the scan lowers.

    ``chi2`` (B,): the candidates' current χ² on the scan data; ``scales``/``step``: the isotropic scan's
    factors and relative step; ``scan(templates, factors, step)`` → (best factor, loss) per template (the
    volume scan, model broadened to ``step``); ``exact_chi2(templates)`` → χ² (B,) on the scan data."""
    idx = axial_indices(templates, chi2, config)
    if not idx:
        return {}
    r_step = max(config.ratio_step, 1.5 * step)
    ratios = ratio_grid(*config.ratio_range, r_step)
    n_r = len(ratios)
    coarse = [strained(templates[i], float(r)) for i in idx for r in ratios]
    s, loss = scan(coarse, scales, step)
    arg = loss.view(len(idx), n_r).argmin(dim=1)
    best_r = ratios[arg.numpy()]
    best_s = s.view(len(idx), n_r)[torch.arange(len(idx)), arg].numpy()
    # fine pass: ratios within one coarse step of the best, scales within one scan step
    offs = np.exp(np.linspace(-1.0, 1.0, config.fine_points) * math.log1p(r_step))
    fine = [strained(templates[i], float(r * o), float(sc)) for i, r, sc in zip(idx, best_r, best_s) for o in offs]
    fine_scales = torch.linspace(1.0 - step, 1.0 + step, 9, dtype=torch.float64)
    s2, loss2 = scan(fine, fine_scales, step / 4)
    arg2 = loss2.view(len(idx), len(offs)).argmin(dim=1)
    winners = []
    for j, (i, r, sc) in enumerate(zip(idx, best_r, best_s)):
        k = int(arg2[j])
        winners.append(strained(templates[i], float(r * offs[k]), float(sc) * float(s2[j * len(offs) + k])))
    new_chi2 = exact_chi2(winners)
    return {i: (w, float(c)) for i, w, c in zip(idx, winners, new_chi2) if float(c) < float(chi2[i])}
