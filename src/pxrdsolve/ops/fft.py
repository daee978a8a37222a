"""Real FFTs whose result for a row does not depend on the other rows or on the thread count.

Batched FFTs on CPU (MKL) round differently, for some lengths, with the number of rows in a call,
and single-row transforms with the number of threads.  Patterns are computed in batches of
structures, and a structure's pattern must come out the same bit for bit in any batch (shards,
``--batch-size``, ``--resume``) and on any number of threads.  So on CPU the rows go through the
FFT in calls of exactly :data:`ROWS_PER_CALL` rows (the last call padded with zero rows): every
call has the same shape, a row's result does not depend on its place in the call (tested), and
with several rows per call the library parallelises over rows, not inside one.  On other devices
these are the plain batched transforms.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

ROWS_PER_CALL = 16


def _by_fixed_calls(fn: Callable[..., torch.Tensor], x: torch.Tensor, n: int) -> torch.Tensor:
    if x.device.type != "cpu":
        return fn(x, n, dim=-1)
    rows = x.shape[0]
    pad = (-rows) % ROWS_PER_CALL
    xp = torch.cat([x, x.new_zeros(pad, *x.shape[1:])]) if pad else x
    parts = [fn(xp[i : i + ROWS_PER_CALL], n, dim=-1) for i in range(0, rows + pad, ROWS_PER_CALL)]
    return torch.cat(parts)[:rows]


def rfft_rows(x: torch.Tensor, n: int) -> torch.Tensor:
    """``torch.fft.rfft(x, n, dim=-1)`` for x (B, L), reproducible per row on CPU."""
    return _by_fixed_calls(torch.fft.rfft, x, n)


def irfft_rows(x: torch.Tensor, n: int) -> torch.Tensor:
    """``torch.fft.irfft(x, n, dim=-1)`` for x (B, L) complex, reproducible per row on CPU."""
    return _by_fixed_calls(torch.fft.irfft, x, n)


def complex_mul(ar: torch.Tensor, ai: torch.Tensor, br: torch.Tensor, bi: torch.Tensor):
    """(a·b) real and imaginary parts from real tensors, one rounding per operation (torch's complex
    multiply rounds differently in its vectorised and scalar paths, i.e. with an element's place)."""
    return ar * br - ai * bi, ar * bi + ai * br
