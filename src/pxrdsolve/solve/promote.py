"""Symmetry promotion: describe a refined candidate in the highest space group its structure has.

A template of lower symmetry (a supercell, a distorted variant) can refine to a structure of higher
symmetry: a P4/mmm cell that became cubic, a monoclinic angle that went to 90°.  A crystallographer
then reports the higher group.  For each refined candidate the space group is re-determined with spglib
at broad-peak tolerances (``symprecs_angstrom``); the group with the most operations per unit volume
wins, its idealised structure is evaluated exactly, and it replaces the candidate when it lowers the
information criterion of :mod:`pxrdsolve.solve.selection` (fewer parameters for a χ² that is not
significantly worse; the refined low-symmetry structure is a local optimum of more free parameters,
so equal χ² is not expected).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from pxrdsolve.structure.template import SymmetricTemplate, symmetric_template


def symmetry_density(t: SymmetricTemplate) -> float:
    """Operations of the point group per Å³ of primitive cell: larger for a supergroup of the same crystal."""
    n_centring = round(1.0 / abs(np.linalg.det(t.to_primitive)))
    volume = abs(np.linalg.det(t.to_primitive @ t.conventional_lattice()))
    return len(t.rotations) / n_centring / max(volume, 1e-9)


def promote_symmetry(
    templates: list[SymmetricTemplate], indices: Sequence[int], data, tau: torch.Tensor,
    zero: torch.Tensor | None, chi2: torch.Tensor, config, exact: Callable, n_params: Callable,
) -> list[int]:
    """Promote ``templates[b]`` in place for b in ``indices``; returns per candidate the space group number
    it had before promotion (0 = unchanged).  ``exact(templates, data, tau, zero, indices)`` gives the exact fit,
    ``n_params(template)`` the parameters of its structure model."""
    from pxrdsolve.solve.selection import noise_scale

    n = data.n_points
    s2 = noise_scale(chi2.numpy(), np.array([n_params(t) for t in templates]), n)
    log_n = float(np.log(max(n, 2)))
    promoted = [0] * len(templates)
    trials: list[tuple[int, SymmetricTemplate]] = []
    for b in indices:
        t = templates[b]
        rec = t.primitive_record()
        best, dens = None, symmetry_density(t) * (1 + 1e-6)
        for prec in config.symprecs_angstrom:
            try:
                cand = symmetric_template(rec, symprec=prec)
            except Exception:  # spglib failures: keep what we have
                continue
            d = symmetry_density(cand)
            if d > dens:
                best, dens = cand, d
        if best is not None:
            trials.append((b, best))
    if not trials:
        return promoted
    idx = [b for b, _ in trials]
    fit = exact([c for _, c in trials], data, tau[idx], None if zero is None else zero[idx], idx)
    for j, (b, cand) in enumerate(trials):
        old = float(chi2[b]) + s2 * n_params(templates[b]) * log_n
        new = float(fit.chi2[j]) + s2 * n_params(cand) * log_n
        if new <= old + config.chi2_tolerance * float(chi2[b]):
            promoted[b] = templates[b].number
            templates[b] = cand
            chi2[b] = fit.chi2[j]
    return promoted
