"""Scatter reductions over flat batches, with or without torch-scatter.

Every scatter in pxrdsolve goes through this module.  When the optional ``torch-scatter``
package is installed it is used; otherwise (or when the environment variable
``PXRDSOLVE_NATIVE_SCATTER=1`` is set) the native ``torch.Tensor.index_add_`` /
``scatter_reduce_`` path is used.  Both give the same numbers up to floating-point summation
order, and both are differentiable.
"""

from __future__ import annotations

import os

import torch

try:  # pragma: no cover - depends on the optional extra
    import torch_scatter as _ts
except Exception:  # noqa: BLE001 - any import failure means "not available"
    _ts = None


def have_torch_scatter() -> bool:
    """True when torch-scatter is importable and not disabled by ``PXRDSOLVE_NATIVE_SCATTER``."""
    return _ts is not None and os.environ.get("PXRDSOLVE_NATIVE_SCATTER", "0") != "1"


def _out_shape(src: torch.Tensor, dim_size: int) -> tuple[int, ...]:
    return (dim_size, *src.shape[1:])


def scatter_sum(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Sum rows of ``src`` (shape (N, ...)) into ``dim_size`` groups given by ``index`` (N,)."""
    if have_torch_scatter():
        return _ts.scatter_add(src, index, dim=0, dim_size=dim_size)
    out = src.new_zeros(_out_shape(src, dim_size))
    return out.index_add(0, index, src)


def scatter_mean(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Mean of rows of ``src`` per group; empty groups give 0."""
    total = scatter_sum(src, index, dim_size)
    ones = torch.ones(index.shape[0], dtype=src.dtype, device=src.device)
    count = scatter_sum(ones, index, dim_size).clamp_min(1)
    return total / count.view(-1, *([1] * (src.dim() - 1)))


def scatter_max(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Maximum of rows of ``src`` per group; empty groups give 0 (torch-scatter's convention)."""
    if have_torch_scatter():
        return _ts.scatter_max(src, index, dim=0, dim_size=dim_size)[0]
    shape = _out_shape(src, dim_size)
    idx = index.view(-1, *([1] * (src.dim() - 1))).expand_as(src)
    out = src.new_zeros(shape)
    out = out.scatter_reduce(0, idx, src, reduce="amax", include_self=False)
    return out


def segment_offsets(counts: torch.Tensor) -> torch.Tensor:
    """Offsets (B+1,) of B consecutive segments with the given lengths: [0, c0, c0+c1, ...]."""
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def repeat_segments(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For segments of lengths ``counts`` (B,), return (segment id, position within segment).

    Both have length ``counts.sum()``; this is the flat-batch analogue of a ragged ``arange``.
    """
    seg = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)
    offsets = segment_offsets(counts)
    pos = torch.arange(seg.numel(), device=counts.device) - offsets[seg]
    return seg, pos
