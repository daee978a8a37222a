"""Speed of the angle-dependent profile renderer against the fixed-width Fourier renderer.

A typical solve call: B crystals × P peaks each on a G-point grid (Cu Kα, 2θ 5–90°), τ = 50 Å,
lab instrument (Caglioti + Lorentzian + FCJ asymmetry), forward and forward+backward (gradients for
positions, intensities, τ and the profile parameters).  ``render_pattern`` is timed on the same
sticks and grid at one fixed width (its own best case).  Run:
``python benchmarks/profile_speed.py [--crystals 24] [--peaks 500] [--points 3000] [--size 50]
[--grid 2theta|q] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from pxrdsolve.diffraction.profiles import render_pattern
from pxrdsolve.instrument import Instrument, ProfileTensors, render_profile


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
    ap.add_argument("--crystals", type=int, default=24)
    ap.add_argument("--peaks", type=int, default=500)
    ap.add_argument("--points", type=int, default=3000)
    ap.add_argument("--size", type=float, default=50.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--instrument", default="lab_cu", choices=["lab_cu", "synchrotron", "none"])
    ap.add_argument("--window", type=float, default=10.0, help="window_fwhm of render_profile")
    ap.add_argument("--grid", default="2theta", choices=["2theta", "q"],
                    help="grid uniform in 2θ (a scan; grid-aligned lattices) or in Q (interpolated lattices)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    inst = getattr(Instrument, args.instrument)()
    lam = inst.wavelength_angstrom
    gen = torch.Generator().manual_seed(0)
    b, p = args.crystals, args.peaks
    q_lo = 4 * math.pi * math.sin(math.radians(2.5)) / lam
    q_hi = 4 * math.pi * math.sin(math.radians(45.0)) / lam
    if args.grid == "q":
        q_grid = torch.linspace(q_lo, q_hi, args.points, dtype=torch.float64)
    else:
        tt = torch.linspace(5.0, 90.0, args.points, dtype=torch.float64)
        q_grid = 4 * math.pi * torch.sin(torch.deg2rad(tt / 2)) / lam
    # peak density ∝ Q² as in a real pattern
    u = torch.rand(b * p, generator=gen, dtype=torch.float64)
    q_peak = ((q_lo**3 + (q_hi**3 - q_lo**3) * u) ** (1 / 3)).requires_grad_()
    inten = torch.rand(b * p, generator=gen, dtype=torch.float64).requires_grad_()
    cidx = torch.arange(b).repeat_interleave(p)
    size = torch.full((b,), args.size, dtype=torch.float64, requires_grad=True)
    prm = ProfileTensors.from_instrument(inst, b).requiring_grad("zero_deg", "u", "v", "w", "x", "y", "sh_l")
    leaves = [q_peak, inten, size, *(getattr(prm, n) for n in ("zero_deg", "u", "v", "w", "x", "y", "sh_l"))]

    def fwd():
        with torch.no_grad():
            render_profile(q_grid, q_peak, inten, cidx, b, size, prm, lam, window_fwhm=args.window)

    def fwd_bwd():
        y = render_profile(q_grid, q_peak, inten, cidx, b, size, prm, lam, window_fwhm=args.window)
        torch.autograd.grad(y.square().sum(), leaves)

    fw_q = 0.05 * (2 * math.pi / lam) * math.pi / 180  # 0.05° at low angle, in Å⁻¹

    def ref():
        with torch.no_grad():
            render_pattern(q_peak, inten, cidx, b, q_grid, size_angstrom=args.size, instrument_fwhm_q=fw_q,
                           instrument_eta=0.3)

    def ref_bwd():
        y = render_pattern(q_peak, inten, cidx, b, q_grid, size_angstrom=size, instrument_fwhm_q=fw_q,
                           instrument_eta=0.3)
        torch.autograd.grad(y.square().sum(), [q_peak, inten, size])

    t_f, t_fb = _best(fwd, args.repeat), _best(fwd_bwd, args.repeat)
    r_f, r_fb = _best(ref, args.repeat), _best(ref_bwd, args.repeat)
    print(f"{b} crystals x {p} peaks x {args.points} points ({args.grid} grid, 2θ 5–90°), tau {args.size} A, "
          f"{args.instrument}, window {args.window:g} FWHM, {args.threads} threads")
    print(f"render_profile  forward {t_f:.3f} s   forward+backward {t_fb:.3f} s")
    print(f"render_pattern  forward {r_f:.3f} s   forward+backward {r_fb:.3f} s  (one fixed width)")
    print(f"ratio profile/pattern: forward {t_f / r_f:.2f}x   forward+backward {t_fb / r_fb:.2f}x")


if __name__ == "__main__":
    main()
