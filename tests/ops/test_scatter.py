from __future__ import annotations

import importlib

import pytest
import torch

import pxrdsolve.ops.scatter as sc


def test_native_scatter_sum_mean_max():
    src = torch.tensor([1.0, 2.0, 3.0, -4.0, 5.0])
    idx = torch.tensor([0, 2, 0, 2, 3])
    assert sc.scatter_sum(src, idx, 4).tolist() == [4.0, 0.0, -2.0, 5.0]
    assert sc.scatter_mean(src, idx, 4).tolist() == [2.0, 0.0, -1.0, 5.0]
    assert sc.scatter_max(src, idx, 4).tolist() == [3.0, 0.0, 2.0, 5.0]
    rows = torch.arange(10.0).view(5, 2)
    assert sc.scatter_sum(rows, idx, 4)[0].tolist() == [4.0, 6.0]


def test_repeat_segments():
    seg, pos = sc.repeat_segments(torch.tensor([2, 0, 3]))
    assert seg.tolist() == [0, 0, 2, 2, 2] and pos.tolist() == [0, 1, 0, 1, 2]


def test_torch_scatter_gives_the_same_numbers(monkeypatch):
    if importlib.util.find_spec("torch_scatter") is None:
        pytest.skip("torch-scatter not installed")
    g = torch.Generator().manual_seed(0)
    src = torch.randn(1000, 3, generator=g, dtype=torch.float64)
    idx = torch.randint(0, 50, (1000,), generator=g)
    assert sc.have_torch_scatter()
    fast = [sc.scatter_sum(src, idx, 50), sc.scatter_max(src, idx, 50), sc.scatter_mean(src, idx, 50)]
    monkeypatch.setenv("PXRDSOLVE_NATIVE_SCATTER", "1")
    native = [sc.scatter_sum(src, idx, 50), sc.scatter_max(src, idx, 50), sc.scatter_mean(src, idx, 50)]
    for a, b in zip(fast, native):
        assert torch.allclose(a, b, atol=1e-12)
