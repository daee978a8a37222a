"""Speed of the refinement's Fourier renderer: matrix-product stick spectrum against the stick sum.

``render_pattern(..., batch_reproducible=False)`` (what ``solve``/``rank`` use) evaluates the spectrum as
matrix products of two small phase tables where that is cheaper; ``True`` (what ``simulate`` uses) sums
stick by stick so each row is batch-independent.  B crystals × P sticks on a G-point Q grid, sizes τ,
instrument FWHM in Å⁻¹; forward and forward+backward (gradients for positions and intensities); the
largest difference between the two patterns is printed beside the ratio.  Run:
``python benchmarks/render_spectrum.py [--crystals 40] [--peaks 3000] [--points 4000] [--size 30]
[--fwhm-q 0.02] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from pxrdsolve.diffraction.profiles import render_pattern


def _best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crystals", type=int, default=40)
    ap.add_argument("--peaks", type=int, default=3000)
    ap.add_argument("--points", type=int, default=4000)
    ap.add_argument("--size", type=float, default=30.0, help="τ in Å")
    ap.add_argument("--fwhm-q", type=float, default=0.02, help="instrument FWHM in Å⁻¹")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(0)
    n = a.crystals * a.peaks
    q = (torch.rand(n, dtype=torch.float64, generator=gen) * 7.0 + 0.5).requires_grad_(True)
    inten = torch.rand(n, dtype=torch.float64, generator=gen).requires_grad_(True)
    ci = torch.randint(0, a.crystals, (n,), generator=gen)
    grid = torch.linspace(0.6, 7.3, a.points, dtype=torch.float64)
    tau = torch.full((a.crystals,), a.size, dtype=torch.float64)
    weight = torch.sin(grid)

    def run(reproducible: bool, backward: bool):
        def fn():
            y = render_pattern(q, inten, ci, a.crystals, grid, tau, a.fwhm_q, 0.3, batch_reproducible=reproducible)
            if backward:
                torch.autograd.grad((y * weight).sum(), (q, inten))
            return y
        return fn

    y_ref, y_fast = run(True, False)().detach(), run(False, False)().detach()
    diff = float((y_ref - y_fast).abs().max() / y_ref.abs().max())
    print(f"{a.crystals} crystals × {a.peaks} sticks, {a.points} points, τ = {a.size} Å, FWHM {a.fwhm_q} Å⁻¹, "
          f"{a.threads} thread(s); max |Δ| / max = {diff:.1e}")
    for backward in (False, True):
        t_ref = _best(run(True, backward), a.repeat)
        t_fast = _best(run(False, backward), a.repeat)
        label = "forward+backward" if backward else "forward"
        print(f"{label:17s} stick sum {t_ref * 1e3:8.1f} ms   matrix products {t_fast * 1e3:8.1f} ms   "
              f"ratio {t_ref / t_fast:5.1f}x")


if __name__ == "__main__":
    main()
