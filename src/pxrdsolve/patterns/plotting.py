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
