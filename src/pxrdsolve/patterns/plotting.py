"""PNG of a :class:`~pxrdsolve.patterns.report.PatternReport`; matplotlib is imported lazily (Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pxrdsolve.errors import InputError
from pxrdsolve.patterns.background import snip_background
from pxrdsolve.patterns.report import PatternReport


def _spans(q: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """Q intervals (Å⁻¹) of runs of masked-out grid points."""
    step = float(q[1] - q[0]) if q.size > 1 else 0.0
    out, start = [], None
    for i, ok in enumerate(mask):
        if not ok and start is None:
            start = q[i]
        if ok and start is not None:
            out.append((start, q[i]))
            start = None
    if start is not None:
        out.append((start, q[-1] + step))
    return out


def plot_report(report: PatternReport, out_path: str | Path) -> Path:
    """Write a two-panel PNG: raw data with its background in Q (top); the model input on the grid,
    normalised, with the background and the masked (unmeasured) regions shaded (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_path)
    pattern, model = report.pattern, report.model
    window = next((s.params.get("window_q") for s in model.steps if s.name == "background"), None)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(pattern.q_inv_angstrom, pattern.intensity, lw=0.7, color="k", label="measured")
    if window:
        bg = snip_background(pattern.q_inv_angstrom, pattern.intensity, window_q=window)
        top.plot(pattern.q_inv_angstrom, bg, lw=1.0, color="tab:orange", label="background (SNIP)")
    top.set_ylabel("intensity (file units)")
    top.set_title(f"{Path(report.path).name}: {report.format}, {report.source_axis}", fontsize=10)
    top.legend(fontsize=8)
    q = model.q_inv_angstrom
    bottom.plot(q, model.intensity, lw=1.0, color="tab:blue", label="model input (processed)")
    bottom.plot(
        q,
        np.where(model.mask, model.background, np.nan),
        lw=0.8,
        color="tab:orange",
        label="background on grid",
    )
    for k, (a, b) in enumerate(_spans(q, model.mask)):
        bottom.axvspan(a, b, color="0.85", label="not measured (masked)" if k == 0 else None)
    size = model.size
    if size is not None:
        bottom.text(
            0.98,
            0.9,
            f"τ = {size.size_angstrom:.0f} ± {size.uncertainty_angstrom:.0f} Å "
            f"(D = 2τ = {size.column_length_angstrom:.0f} Å)",
            transform=bottom.transAxes,
            ha="right",
            fontsize=8,
        )
    bottom.set_xlabel("Q (Å⁻¹)")
    bottom.set_ylabel("normalised")
    bottom.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise InputError(f"{out}: cannot write the plot ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
    return out


def conventional_hkl(ranked, hkl_primitive: np.ndarray) -> np.ndarray:
    """Miller indices in the conventional cell of a ranked candidate's template, from indices of its
    primitive cell (lattice rows L_p = M·L_c, so h_c = M⁻¹·h_p); the primitive ones if there is no
    template."""
    template = getattr(ranked, "template", None)
    if template is None:
        return hkl_primitive
    m = np.asarray(template.to_primitive, dtype=float)
    return np.rint(hkl_primitive @ np.linalg.inv(m).T).astype(int)


def plot_fit_candidate(result, ranked, path: str | Path, n_labels: int = 8) -> Path:
    """One candidate's fit: observed (intensity in the file's units, counts for counting data),
    calculated and background, difference below, reflection ticks with the hkl (conventional cell)
    of the ``n_labels`` strongest reflections, and the refined cell, τ, zero shift and R factors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from pxrdsolve.crystal import batch_from_records
    from pxrdsolve.diffraction.peaks import compute_peaks
    from pxrdsolve.io.atomic import atomic_path

    two_theta = result.two_theta_deg is not None
    x = result.two_theta_deg if two_theta else result.q_inv_angstrom
    y = result.observed
    calc = result.refined.calculated[ranked.index]
    diff = y - calc
    fig, (ax, axd) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [3.2, 1]})
    ax.plot(x, y, ".", ms=2.5, color="k", label="observed")
    ax.plot(x, calc, "-", lw=1.1, color="tab:red", label="calculated")
    ax.plot(x, result.refined.background[ranked.index], "-", lw=0.8, color="tab:green", label="background")
    with torch.no_grad():
        peaks = compute_peaks(batch_from_records([ranked.record]), result.wavelength_angstrom,
                              float(result.q_inv_angstrom[-1]))
        q = peaks.q_inv_angstrom.numpy()
        inten = peaks.intensity.numpy()
        hkl = conventional_hkl(ranked, peaks.hkl.numpy())
    inside = (q >= result.q_inv_angstrom[0]) & (q <= result.q_inv_angstrom[-1])
    q, inten, hkl = q[inside], inten[inside], hkl[inside]
    xq = q
    if two_theta:
        xq = np.degrees(2 * np.arcsin(q * result.wavelength_angstrom / (4 * np.pi))) + ranked.zero_shift_deg
    top = float(np.max(y)) if y.size else 1.0
    ax.vlines(xq, -0.06 * top, -0.02 * top, color="tab:purple", lw=0.8, label="reflections")
    for i in np.argsort(-inten)[:n_labels]:
        j = int(np.argmin(np.abs(x - xq[i]))) if x.size else 0
        ax.annotate(" ".join(str(int(v)) for v in hkl[i]),
                    (xq[i], max(float(calc[j]), float(y[j])) + 0.02 * top), ha="center", va="bottom", fontsize=7,
                    color="tab:purple")
    ax.set_ylim(-0.08 * top, 1.12 * top)
    ax.set_ylabel("intensity (as in the file; counts for counting data)")
    lat = ranked.lattice_parameters()
    m = ranked.metrics
    zero = f"zero {ranked.zero_shift_deg:+.4f}°" if two_theta else "Q axis (no zero shift)"
    info = (f"a, b, c = {lat['a']:.4f}, {lat['b']:.4f}, {lat['c']:.4f} Å\n"
            f"α, β, γ = {lat['alpha']:.2f}, {lat['beta']:.2f}, {lat['gamma']:.2f}°\n"
            f"τ = {ranked.size_angstrom:.1f} Å (column 2τ = {2 * ranked.size_angstrom:.1f} Å); {zero}\n"
            f"R_wp {m['r_wp']:.4f}, R_p {m['r_p']:.4f}")
    ax.text(0.99, 0.97, info, transform=ax.transAxes, ha="right", va="top", fontsize=8, family="monospace",
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"})
    ax.set_title(f"#{ranked.rank} {ranked.formula} {ranked.space_group} ({ranked.candidate.source}) - "
                 f"verdict: {result.verdict.label}")
    ax.legend(fontsize=8, loc="upper left")
    axd.plot(x, diff, "-", lw=0.8, color="tab:blue")
    axd.axhline(0, color="0.5", lw=0.6)
    axd.set_ylabel("obs − calc")
    axd.set_xlabel("2θ (degrees)" if two_theta else "Q (Å⁻¹)")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path
