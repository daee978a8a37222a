"""Cell parameters by crystal system: (a, b, c, α, β, γ) with bounded offsets and the ties its system imposes.

A candidate's conventional cell (standard setting, see :mod:`pxrdsolve.structure.template`) is refined as
lengths (Å) and angles (degrees):

* L_i = L⁰_i · (1 + w_L · tanh(u_L[src_i])) — relative window ``w_L`` (0.2 = ±20 %);
* A_i = A⁰_i + w_A · tanh(u_A[src_i]) · free_i — window ``w_A`` degrees.

The ties come from the crystal system, not from equalities seen in a starting cell: cubic a = b = c;
tetragonal, trigonal (hexagonal axes) and hexagonal a = b; orthorhombic a, b, c; monoclinic a, b, c, β
(unique axis b); triclinic all six.  Lengths and angles rebuild a right-handed Cartesian cell (a along x,
b in the xy plane); powder patterns depend only on the metric, so the orientation does not matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pxrdsolve.structure.template import crystal_system

# crystal system → (length slots, angle slots, angle free flags)
_SYSTEM_TIES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], tuple[float, float, float]]] = {
    "cubic": ((0, 0, 0), (0, 1, 2), (0.0, 0.0, 0.0)),
    "tetragonal": ((0, 0, 2), (0, 1, 2), (0.0, 0.0, 0.0)),
    "trigonal": ((0, 0, 2), (0, 1, 2), (0.0, 0.0, 0.0)),
    "hexagonal": ((0, 0, 2), (0, 1, 2), (0.0, 0.0, 0.0)),
    "orthorhombic": ((0, 1, 2), (0, 1, 2), (0.0, 0.0, 0.0)),
    "monoclinic": ((0, 1, 2), (0, 1, 2), (0.0, 1.0, 0.0)),
    "triclinic": ((0, 1, 2), (0, 1, 2), (1.0, 1.0, 1.0)),
}


@dataclass(frozen=True)
class CellTies:
    """Tie maps (B, 3) long: which parameter slot drives each length/angle; ``angle_free`` (B, 3) float."""

    length_src: torch.Tensor
    angle_src: torch.Tensor
    angle_free: torch.Tensor

    def num_free(self) -> torch.Tensor:
        """Independent cell parameters per candidate (B,)."""
        n_len = torch.stack([(self.length_src == k).any(1) for k in range(3)], 1).sum(1)
        free_src = torch.where(self.angle_free > 0, self.angle_src, torch.full_like(self.angle_src, -1))
        n_ang = torch.stack([(free_src == k).any(1) for k in range(3)], 1).sum(1)
        return n_len + n_ang

    def select(self, idx: torch.Tensor) -> CellTies:
        return CellTies(self.length_src[idx], self.angle_src[idx], self.angle_free[idx])


def ties_for_space_groups(numbers: Sequence[int], dtype: torch.dtype = torch.float64) -> CellTies:
    """The ties of each space group's crystal system (standard setting)."""
    rows = [_SYSTEM_TIES[crystal_system(int(n))] for n in numbers]
    return CellTies(torch.tensor([r[0] for r in rows], dtype=torch.long).reshape(-1, 3),
                    torch.tensor([r[1] for r in rows], dtype=torch.long).reshape(-1, 3),
                    torch.tensor([r[2] for r in rows], dtype=dtype).reshape(-1, 3))


def apply_offsets(
    start: torch.Tensor, ties: CellTies, u_length: torch.Tensor, u_angle: torch.Tensor,
    length_window: float, angle_window_deg: float,
) -> torch.Tensor:
    """Cell parameters (B, 6) from the start (B, 6) and unconstrained offsets u (B, 3) each."""
    rel = length_window * torch.tanh(torch.gather(u_length, 1, ties.length_src))
    dang = angle_window_deg * torch.tanh(torch.gather(u_angle, 1, ties.angle_src)) * ties.angle_free
    return torch.cat([start[:, :3] * (1.0 + rel), start[:, 3:] + dang], dim=1)


def cell_parameters(lattice: torch.Tensor) -> torch.Tensor:
    """(B, 6): a, b, c (Å), α, β, γ (degrees) of row-vector cells (B, 3, 3)."""
    a, b, c = lattice[:, 0], lattice[:, 1], lattice[:, 2]
    la, lb, lc = a.norm(dim=-1), b.norm(dim=-1), c.norm(dim=-1)

    def ang(u: torch.Tensor, v: torch.Tensor, nu: torch.Tensor, nv: torch.Tensor) -> torch.Tensor:
        return torch.rad2deg(torch.acos(((u * v).sum(-1) / (nu * nv)).clamp(-1.0, 1.0)))

    return torch.stack([la, lb, lc, ang(b, c, lb, lc), ang(a, c, la, lc), ang(a, b, la, lb)], dim=1)


def lattice_from_parameters(params: torch.Tensor) -> torch.Tensor:
    """Row-vector cells (B, 3, 3) Å from (B, 6) (a, b, c Å; α, β, γ degrees); differentiable.

    a = (a, 0, 0); b = (b cos γ, b sin γ, 0); c completes the metric.  Invalid angle
    combinations are kept finite by clamping the squared height of c at a small positive value.
    """
    a, b, c = params[:, 0], params[:, 1], params[:, 2]
    al, be, ga = (torch.deg2rad(params[:, i]) for i in (3, 4, 5))
    ca, cb, cg, sg = torch.cos(al), torch.cos(be), torch.cos(ga), torch.sin(ga)
    cx = c * cb
    cy = c * (ca - cb * cg) / sg
    cz = torch.sqrt((c**2 - cx**2 - cy**2).clamp_min(1e-6 * c.detach() ** 2))
    zero = torch.zeros_like(a)
    rows = [
        torch.stack([a, zero, zero], -1),
        torch.stack([b * cg, b * sg, zero], -1),
        torch.stack([cx, cy, cz], -1),
    ]
    return torch.stack(rows, dim=1)


def cell_parameters_np(lattice: np.ndarray) -> np.ndarray:
    """(6,) a, b, c (Å), α, β, γ (degrees) of one row-vector cell (3, 3)."""
    return cell_parameters(torch.as_tensor(np.asarray(lattice, float))[None])[0].numpy()


def lattice_from_parameters_np(cell: np.ndarray) -> np.ndarray:
    """One row-vector cell (3, 3) Å from (6,) parameters."""
    return lattice_from_parameters(torch.as_tensor(np.asarray(cell, float))[None])[0].numpy()
