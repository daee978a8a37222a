"""Row-reproducible FFTs: a row's transform does not depend on the rest of the batch or on threads."""

from __future__ import annotations

import pytest
import torch

from pxrdsolve.ops.fft import ROWS_PER_CALL, complex_mul, irfft_rows, rfft_rows


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [4096, 4457, 8552, 9000])
def test_rows_bitwise_independent_of_batch_and_threads(dtype, n):
    g = torch.Generator().manual_seed(n)
    x = torch.rand(2 * ROWS_PER_CALL + 5, 4096, generator=g).to(dtype)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        f1 = rfft_rows(x, n)
        r1 = irfft_rows(f1, n)
        torch.set_num_threads(2)
        f2 = rfft_rows(x, n)
        r2 = irfft_rows(f2, n)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(f1, f2) and torch.equal(r1, r2)
    for i, j in [(0, 1), (3, 10), (5, x.shape[0])]:
        assert torch.equal(rfft_rows(x[i:j], n), f1[i:j])
        assert torch.equal(irfft_rows(f1[i:j], n), r1[i:j])
    assert torch.allclose(f1, torch.fft.rfft(x, n), rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=1e-3)
    assert torch.allclose(r1[:, :4096], x, atol=1e-5 if dtype == torch.float32 else 1e-12)


def test_complex_mul_matches_torch():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 50, generator=g, dtype=torch.complex128)
    re, im = complex_mul(a.real, a.imag, b.real, b.imag)
    assert torch.allclose(torch.complex(re, im), a * b, rtol=0, atol=1e-14)


def test_gradients_flow_through_row_ffts():
    x = torch.rand(3, 64, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: irfft_rows(rfft_rows(t, 80) * 2.0, 80), (x,))
