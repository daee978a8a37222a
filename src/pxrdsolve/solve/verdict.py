"""The answer's verdict from the absolute fit and the margin to the next distinct candidate.

* fit quality: ``r_excess`` of the best candidate, the net-of-background R_wp with the counting
  noise removed in quadrature (√(R_wp,net² − R_exp,net²); R_wp,net for patterns without esds);
* margin: relative gap (R_wp,net(2nd) − R_wp,net(1st)) / R_wp,net(1st) to the next *distinct*
  structure (∞ when there is none);
* significance: the same gap in the ranking's information criterion, in units of the correlated noise,
  (score(2nd) − score(1st)) / (κ s²) (see :mod:`pxrdsolve.solve.selection`): how many effective
  independent points' worth of evidence separate the answer from the runner-up, its extra
  parameters paid for.  On measured data a large R_wp margin can rest on one smooth misfit spread
  over many correlated points; the significance discounts it.

``solved`` needs a good fit and a clear margin to a second distinct structure; ``ambiguous`` a usable fit
with a small margin or none to judge, or a mediocre fit; otherwise ``no confident solution`` (the CLI exits
with status 1 and presents no answer as if it were one).  Thresholds were set on simulated patterns (see
:class:`VerdictConfig`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SOLVED = "solved"
AMBIGUOUS = "ambiguous"
NO_SOLUTION = "no confident solution"


@dataclass(frozen=True)
class VerdictConfig:
    """Thresholds on the best ``r_excess`` and on the relative margin.

    ``solved_max_excess`` applies to data with a noise model (counts or esds: ``r_excess`` has the counting
    noise removed), ``solved_max_excess_no_noise_model`` to data without one (unit weights, e.g. PXRDNet's
    normalised model-input patterns: ``r_excess`` is R_wp,net, noise included).

    Calibration of 2026-12-02 (``evaluate`` with the reduced formula, Z and size auto, own formula held
    out; code b15c20a/bb029a7): on PXRDNet's first 114 test patterns at τ = 10 Å (no noise model) 0.15 gave
    `solved` precision 92 %; 0.075 with the 0.1 margin gives 95.3 % at recall 84 %.  On the first 16
    measured-like patterns of ``evaluate --realistic --seed 0`` (counts) right top-1 answers refined to
    excess 0.011–0.185 and wrong ones to 0.25–0.95: 0.15 called 11 of the 12 right answers `solved` and no
    wrong one.  The margin was set on validation rows (68 MP-20 val patterns at τ = 10 Å, none in the test
    split): 0.1 gave precision 92.7 %, 0.5 gives 95.6 % (recall 70 %); with 0.5 the test-200 τ = 10 Å run
    gives 96.7 % (recall 70 %) and the 60 measured-like patterns 96.7 % (recall 63 %).  A wrong answer that
    fits well with a large margin is mostly an ordering or distortion variant of the true structure
    (e.g. a tetragonal LaTmTl2 against the cubic Heusler).  Earlier provisional calibration (simulated
    patterns only, measured 2026-11-25): true structures refined
    to r_excess 0.005–0.01 (SrTiO3 τ = 10 Å and rutile τ = 50 Å 2θ Cu Kα1+Kα2 examples with
    background and Poisson noise; rutile-type and rock-salt Q-grid patterns); the best of 300 random
    P1 SrTiO3 cells with free displacements reached 0.06–0.07 in R_wp,net next to the true structure
    (margin > 300 %) and 0.35 against a rutile pattern where no candidate was right; rock salt/CsCl
    against rutile ≥ 0.5.  The limits sit between these groups; they need re-checking on the
    experimental set (model error raises r_excess of right answers on real data).

    ``min_significance`` (data with a noise model only): the runner-up's criterion gap in effective points
    (see :func:`significance`); with κ ≤ 20 set on 62 measured-like patterns of MP-20 validation rows
    (``benchmarks/results/selection_val62_1085079``): 50 took `solved` precision from 94.7 % to 97.1 % at
    recall 66.7 → 63.0 %.
    """

    solved_max_excess: float = 0.15
    solved_max_excess_no_noise_model: float = 0.075
    usable_max_excess: float = 0.3
    min_margin: float = 0.5
    min_significance: float = 50.0
    # `solved` claims the answer is the structure, not only that it fits: with one distinct candidate there is
    # no margin to judge (realistic test case Cs4Au6S5: a wrong one-entry library answer at excess 0.141)
    solved_needs_alternative: bool = True


@dataclass(frozen=True)
class Verdict:
    """``label`` (solved / ambiguous / no confident solution), a one-line ``reason``, the numbers."""

    label: str
    reason: str
    best_excess: float
    margin: float
    significance: float = math.inf

    @property
    def confident(self) -> bool:
        return self.label != NO_SOLUTION

    def to_json(self) -> dict:
        return {"label": self.label, "reason": self.reason, "best_r_excess": self.best_excess,
                "margin": self.margin if math.isfinite(self.margin) else "inf",
                "significance": self.significance if math.isfinite(self.significance) else "inf"}


def significance(best: dict, second: dict) -> float:
    """(score₂ − score₁)/(κ s²) from the ranking's metrics; ∞ when they lack the criterion's terms."""
    try:
        unit = float(best["correlation_factor"]) * float(best["noise_scale"])
        return (float(second["score"]) - float(best["score"])) / max(unit, 1e-300)
    except KeyError:
        return math.inf


def decide(ranked: list, config: VerdictConfig = VerdictConfig()) -> Verdict:
    """Verdict for distinct ranked candidates (best first; each has ``metrics`` floats)."""
    if not ranked:
        return Verdict(NO_SOLUTION, "no candidate could be evaluated", math.inf, 0.0)
    best = ranked[0].metrics
    excess = float(best["r_excess"])
    if len(ranked) > 1:
        r1, r2 = float(best["r_wp_net"]), float(ranked[1].metrics["r_wp_net"])
        margin = (r2 - r1) / max(r1, 1e-6)
        sig = significance(best, ranked[1].metrics)
    else:
        margin = sig = math.inf
    if not math.isfinite(excess) or excess > config.usable_max_excess:
        return Verdict(NO_SOLUTION, f"best fit too poor (excess R_wp {excess:.3f} > {config.usable_max_excess})",
                       excess, margin, sig)
    noise_model = math.isfinite(float(best.get("r_exp_net", math.nan)))
    solved_max = config.solved_max_excess if noise_model else config.solved_max_excess_no_noise_model
    if excess > solved_max:
        return Verdict(AMBIGUOUS, f"mediocre best fit (excess R_wp {excess:.3f} > {solved_max})", excess, margin,
                       sig)
    if len(ranked) == 1 and config.solved_needs_alternative:
        # nothing else was refined to a distinct structure: the fit is checked, its uniqueness is not
        return Verdict(AMBIGUOUS, f"usable fit (excess R_wp {excess:.3f}) but no other distinct structure to compare "
                       "it with; check it independently", excess, margin, sig)
    if margin < config.min_margin:
        return Verdict(AMBIGUOUS, f"next distinct structure fits almost as well (margin {margin:.1%})", excess,
                       margin, sig)
    if noise_model and sig < config.min_significance:
        return Verdict(AMBIGUOUS, f"next distinct structure not significantly worse (significance {sig:.0f} "
                       f"< {config.min_significance:.0f} effective points)", excess, margin, sig)
    cand = getattr(ranked[0], "candidate", None)
    if cand is not None and cand.source == "direct" and cand.meta.get("method") == "random":
        # a random symmetric structure has no structural prior behind it and many refined coordinates: the
        # other arrangements of its space group were not tried, so a good fit does not make it unique
        return Verdict(AMBIGUOUS, "best fit is a random direct-space structure (other arrangements not tried); "
                       "check it independently", excess, margin, sig)
    return Verdict(SOLVED, f"good fit (excess R_wp {excess:.3f}), margin {margin:.1%} to the next structure",
                   excess, margin, sig)
