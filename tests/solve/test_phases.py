"""Known extra phases: a rutile pattern with 20 wt % rock-salt NaCl is fitted with the NaCl phase, whose weight
fraction comes out near the truth (Hill–Howard), and without it the strong unexplained NaCl peaks are reported."""

from __future__ import annotations

import numpy as np
import torch

from helpers import EXAMPLES, record
from pxrdsolve.crystal import batch_from_records
from pxrdsolve.diffraction.peaks import compute_peaks
from pxrdsolve.diffraction.radiation import parse_radiation
from pxrdsolve.patterns.types import MeasuredPattern
from pxrdsolve.solve.objective import ObjectiveConfig, prepare_fit_data
from pxrdsolve.solve.phases import cell_mass_volume
from pxrdsolve.solve.render import render_sticks, stick_pad

RUTILE = record(np.diag([4.594, 4.594, 2.959]), [[0, 0, 0], [0.5, 0.5, 0.5], [0.305, 0.305, 0], [0.695, 0.695, 0],
                                                [0.805, 0.195, 0.5], [0.195, 0.805, 0.5]], [22, 22, 8, 8, 8, 8])
NACL = record(np.array([[0, 2.82, 2.82], [2.82, 0, 2.82], [2.82, 2.82, 0]]), [[0, 0, 0], [0.5, 0.5, 0.5]], [11, 17])


def mixture(w_nacl: float = 0.2, tau: float = 60.0):
    """Counts on a 2θ grid (Cu Kα1, instrument model defaults): S_p ∝ W_p / (ZMV)_p."""
    rad = parse_radiation("CuKa1")
    lam = rad.wavelength_angstrom
    tth = np.arange(15.0, 100.0, 0.02)
    q = 4 * np.pi / lam * np.sin(np.radians(tth / 2))
    proto = MeasuredPattern(q, np.ones_like(q), None, lam, rad, "2theta", tth, "mix.xy")
    data = prepare_fit_data(proto, ObjectiveConfig(max_points=10**5))
    t = torch.tensor([tau], dtype=torch.float64)
    ys = []
    for rec, w in ((RUTILE, 1 - w_nacl), (NACL, w_nacl)):
        pk = compute_peaks(batch_from_records([rec]), lam, float(q[-1]) + stick_pad(data, t))
        y = render_sticks(data, pk.q_inv_angstrom, pk.f_squared, pk.crystal_index, 1, t)[0].numpy()
        ys.append(w / cell_mass_volume(rec) * y)
    y = sum(ys)
    y = np.random.default_rng(0).poisson(3e4 * y / y.max() + 100.0).astype(float)
    return MeasuredPattern(q, y, None, lam, rad, "2theta", tth, "mix.xy")


def test_extra_phase_weight_fraction_and_unexplained_peaks():
    from pxrdsolve.solve.pipeline import SolveConfig, rank_candidates
    from pxrdsolve.solve.refine import RefineConfig
    from pxrdsolve.solve.types import Candidate

    pattern = mixture()
    cif = EXAMPLES / "NaCl.cif"  # the shipped rock-salt example, a = 5.64 Å
    cfg = SolveConfig(refine=RefineConfig(top_k=1, restarts=1))
    cand = [Candidate(RUTILE, "user", "rutile")]
    with_phase = rank_candidates(cand, pattern, size=60.0, config=cfg, phases=[str(cif)])
    without = rank_candidates(cand, pattern, size=60.0, config=cfg)
    assert with_phase.ranked[0].metrics["r_wp"] < 0.5 * without.ranked[0].metrics["r_wp"]
    top = with_phase.to_json()["top"][0]
    fractions = top["weight_fractions"]
    nacl = [v for k, v in fractions.items() if "NaCl" in k]
    assert len(nacl) == 1 and abs(nacl[0] - 0.2) < 0.05, fractions
    assert abs(sum(fractions.values()) - 1.0) < 1e-9
    assert any("no phase explains" in w for w in without.warnings)
    assert not any("no phase explains" in w for w in with_phase.warnings)
