"""Symmetry-equivalent reflections of symmetric crystals: |F|² once per Laue orbit.

A crystal regenerated from its Wyckoff orbits (:class:`~pxrdsolve.structure.model.SymmetricBatch`) keeps
its space group exactly, so for every operation (R, t) of the conventional cell |F(h)| = |F(Rᵀh)|, and
(no anomalous scattering) |F(h)| = |F(−h)|.  Reflections are indexed on the primitive reciprocal basis,
h_p = M h_c with L_prim = M·L_conv, so the operations act on them as T = M Rᵀ M⁻¹ (integer matrices).
The cell ties of each crystal system keep the metric symmetric too, so equivalent reflections also share Q.

:func:`laue_representatives` picks one reflection per orbit of {±T}: the structure factors of the
refinement (reflections × atoms, forward and backward) are then evaluated 2–24 times less often.
"""

from __future__ import annotations

import numpy as np
import torch

_CHUNK = 200_000


def _primitive_operations(rotations: np.ndarray, to_primitive: np.ndarray) -> np.ndarray:
    """Distinct integer matrices ±M Rᵀ M⁻¹ (n, 3, 3) acting on primitive reciprocal indices."""
    m = np.asarray(to_primitive, dtype=float)
    minv = np.linalg.inv(m)
    ops = np.einsum("ij,njk,kl->nil", m, np.transpose(np.asarray(rotations, dtype=float), (0, 2, 1)), minv)
    ops_int = np.rint(ops)
    if not np.allclose(ops, ops_int, atol=1e-6):
        raise ValueError("space-group operations are not integral on the primitive reciprocal basis")
    ops_int = np.concatenate([ops_int, -ops_int]).astype(np.int64)
    return np.unique(ops_int.reshape(-1, 9), axis=0).reshape(-1, 3, 3)


def laue_representatives(templates, hkl: torch.Tensor,
                         crystal_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For reflections ``hkl`` (R, 3) (primitive reciprocal indices) of crystals ``crystal_index`` (R,):
    ``rep`` (U,) the index of one reflection per symmetry orbit (per crystal) and ``inverse`` (R,) the orbit of
    every reflection, so that ``value[rep][inverse]`` spreads a per-orbit value (|F|²) over all reflections.
    ``templates``: one :class:`~pxrdsolve.structure.template.SymmetricTemplate` per crystal (their
    ``rotations`` and ``to_primitive``)."""
    r = hkl.shape[0]
    if r == 0:
        empty = torch.zeros(0, dtype=torch.long, device=hkl.device)
        return empty, empty
    h = hkl.long()
    span = int(h.abs().max()) + 1
    base = 2 * span + 1
    key = torch.empty(r, dtype=torch.long, device=hkl.device)
    # crystals sharing a setting (Hall number: operations and centring) share the operations: one pass each
    settings: dict[int, list[int]] = {}
    for b, tpl in enumerate(templates):
        settings.setdefault(tpl.hall_number, []).append(b)
    owner = torch.full((len(templates),), -1, dtype=torch.long)
    for g, members in enumerate(settings.values()):
        owner[torch.as_tensor(members)] = g
    refl_setting = owner.to(hkl.device)[crystal_index]
    for g, members in enumerate(settings.values()):
        tpl = templates[members[0]]
        ops = torch.as_tensor(_primitive_operations(tpl.rotations, tpl.to_primitive), device=hkl.device)
        idx = torch.nonzero(refl_setting == g).squeeze(1)
        for s in range(0, idx.numel(), _CHUNK):
            part = idx[s : s + _CHUNK]
            images = torch.einsum("nij,rj->nri", ops, h[part])  # (n, r, 3)
            code = ((images[..., 0] + span) * base + (images[..., 1] + span)) * base + (images[..., 2] + span)
            key[part] = code.max(0).values
    combined = crystal_index.long() * (base**3) + key
    uniq, inverse = torch.unique(combined, return_inverse=True)
    rep = torch.zeros(uniq.numel(), dtype=torch.long, device=hkl.device).scatter_(
        0, inverse, torch.arange(r, device=hkl.device))
    return rep, inverse
