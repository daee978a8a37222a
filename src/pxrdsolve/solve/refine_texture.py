"""The texture stage of the refinement: March–Dollase preferred orientation for the best refined candidates.

Run after the gradient refinement and symmetry promotion, so that every preferred direction is stated in
the candidate's final space group and standard conventional cell (the cell its CIF reports; indices of a
cell before promotion would not carry over).  For each of the ``config.texture.candidates`` best refined
candidates, one copy per preferred direction (``--texture H,K,L``: that one; ``auto``: the low-index
directions of :data:`~pxrdsolve.solve.texture.AUTO_DIRECTIONS` for its crystal system) and one random-powder
copy are refined together (:func:`~pxrdsolve.solve.refine_gradient.gradient_refine` in its texture stage:
March–Dollase r with the cell, τ, zero, profile, coordinates and B, from the refined state).  Every copy is
then evaluated exactly; the copy with the lowest penalised χ² of :mod:`pxrdsolve.solve.selection` (texture
counted as one more parameter) replaces the candidate when it beats the candidate's current χ², so texture
is kept only where it pays for its parameter and the refinement never makes a candidate worse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from pxrdsolve.solve.objective import FitData
from pxrdsolve.solve.refine_gradient import gradient_refine
from pxrdsolve.solve.render import peak_fwhm_q
from pxrdsolve.solve.selection import noise_scale
from pxrdsolve.solve.texture import (
    HKL_KEYS,
    R_KEY,
    TEXTURE_KEYS,
    parse_texture,
    primitive_direction,
    texture_directions,
)
from pxrdsolve.structure.model import SymmetricBatch
from pxrdsolve.structure.template import SymmetricTemplate


def has_texture(profile: dict[str, torch.Tensor], num_crystals: int) -> np.ndarray:
    """(B,) int: 1 for candidates that carry a March–Dollase texture in ``profile``, else 0."""
    if R_KEY not in profile:
        return np.zeros(num_crystals, dtype=int)
    hkl = torch.stack([torch.as_tensor(profile[k]) for k in HKL_KEYS], -1)
    return ((hkl != 0).any(-1) & (torch.as_tensor(profile[R_KEY]) != 1.0)).numpy().astype(int)


def refine_texture(
    templates: list[SymmetricTemplate], indices: list[int], data: FitData, tau: torch.Tensor, zero: torch.Tensor,
    profile: dict[str, torch.Tensor], chi2: torch.Tensor, num_params: torch.Tensor, base_params: int,
    n_model: Callable[[SymmetricTemplate], int], refine_size: bool, config, exact: Callable,
) -> list[int]:
    """The texture stage (module docstring) for ``indices`` (best first; ``config`` a
    :class:`~pxrdsolve.solve.refine.RefineConfig`).  Updates ``templates``, ``tau``, ``zero``, ``profile``
    (instrument parameters and :data:`~pxrdsolve.solve.texture.TEXTURE_KEYS`, name → (B,)), ``chi2`` and
    ``num_params`` in place for the candidates it improves and returns their indices.
    ``exact(templates, data, tau, zero, profile)`` is the exact fit."""
    from pxrdsolve.solve.fit_views import coarsen
    from pxrdsolve.solve.render import profile_defaults

    tex = config.texture
    mode = parse_texture(tex.mode)
    cands = list(indices)[: max(tex.candidates, 0)]
    if mode == "none" or not cands or tex.steps <= 0 or (mode == "auto" and data.instrument is None):
        return []
    rows: list[tuple[int, tuple[int, int, int] | None]] = []
    for b in cands:
        rows += [(b, None)] + [(b, d) for d in texture_directions(mode, templates[b].crystal_system)]
    rep = [b for b, _ in rows]
    active = torch.tensor([d is not None for _, d in rows])
    hkl_conv = torch.tensor([d or (0, 0, 0) for _, d in rows], dtype=torch.float64)
    dev = torch.device(config.device)
    sym = SymmetricBatch.from_templates([templates[b] for b in rep], device=dev)
    direction = primitive_direction(hkl_conv, sym.to_primitive.cpu())
    inst = {k: v[rep] for k, v in profile.items() if k not in TEXTURE_KEYS}
    use_zero = data.has_two_theta
    grad_data = coarsen(data, peak_fwhm_q(data, float(tau[rep].max())), points_per_fwhm=4.0)
    best = gradient_refine(sym, grad_data.to(dev), tau[rep].to(dev), refine_size, replace(config, restarts=1),
                           texture=(direction.to(dev), active.to(dev)),
                           start={"zero": zero[rep].to(dev) if use_zero else None,
                                  "profile": {k: v.to(dev) for k, v in inst.items()}})
    new = sym.updated_templates(best["cell"], best["d"], best["b_orbit"])
    best = {k: ({n: t.cpu() for n, t in v.items()} if isinstance(v, dict) else torch.as_tensor(v).cpu())
            for k, v in best.items()}
    r = torch.where(active, best["march_dollase_r"], torch.ones(len(rows), dtype=torch.float64))
    values = {**inst, **best["profile"], R_KEY: r, **{k: hkl_conv[:, i] for i, k in enumerate(HKL_KEYS)}}
    fit = exact(new, data, best["tau"], best["zero"] if use_zero else None, values)

    n = data.n_points
    s2 = noise_scale(chi2.numpy(), np.array([n_model(t) for t in templates]), n)
    penalty = s2 * math.log(max(n, 2))  # one more parameter (selection.penalised_chi2)
    changed = []
    for b in cands:
        js = [j for j, bb in enumerate(rep) if bb == b]
        score = [float(fit.chi2[j]) + penalty * int(active[j]) for j in js]
        j = js[int(np.argmin(score))]
        if not float(min(score)) < float(chi2[b]):
            continue
        templates[b] = new[j]
        tau[b] = best["tau"][j]
        if use_zero:
            zero[b] = best["zero"][j]
        for k, v in values.items():
            if k not in profile:  # defaults: no texture (r = 1, no direction), the data's instrument
                bsz = len(templates)
                profile[k] = (torch.full((bsz,), float(k == R_KEY), dtype=torch.float64) if k in TEXTURE_KEYS
                              else profile_defaults(data, k, bsz))
            profile[k][b] = v[j]
        num_params[b] = base_params + int(best["num_free"][j])
        chi2[b] = fit.chi2[j]
        changed.append(b)
    return changed
