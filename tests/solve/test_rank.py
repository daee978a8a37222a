"""Ranking: the true structure first among decoys, duplicate merging, verdicts."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from test_refine import RUTILE_FRAC, RUTILE_Z, simulated_pattern

from helpers import record
from pxrdsolve.solve.objective import prepare_fit_data
from pxrdsolve.solve.rank import RankConfig, rank_and_merge
from pxrdsolve.solve.refine import LatticeStageConfig, PositionStageConfig, RefineConfig, refine_candidates
from pxrdsolve.solve.types import Candidate
from pxrdsolve.solve.verdict import AMBIGUOUS, NO_SOLUTION, SOLVED, VerdictConfig, decide

CFG = RefineConfig(top_k=6, restarts=1, lattice=LatticeStageConfig(steps=25),
                   positions=PositionStageConfig(steps=0, enabled=False))
FCC = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]


def rock_salt(a: float = 5.64):
    frac = FCC + [[x + 0.5 if i == 0 else x for i, x in enumerate(f)] for f in FCC]
    return record(np.eye(3) * a, np.mod(frac, 1.0), [11] * 4 + [17] * 4)


def rock_salt_primitive(a: float = 5.64):
    lat = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    return record(lat, [[0, 0, 0], [0.5, 0.5, 0.5]], [11, 17])


def zinc_blende(a: float = 5.64):
    frac = FCC + [[x + 0.25 for x in f] for f in FCC]
    return record(np.eye(3) * a, frac, [11] * 4 + [17] * 4)


def cesium_chloride(a: float = 3.3):
    return record(np.eye(3) * a, [[0, 0, 0], [0.5, 0.5, 0.5]], [11, 17])


def _solve(pattern_record, candidates, size=15.0):
    data = prepare_fit_data(simulated_pattern(pattern_record, size, noise=2e-3))
    refined = refine_candidates([c.record for c in candidates], data, size, False, CFG)
    ranked = rank_and_merge(candidates, refined, RankConfig(top_n=10, pool=10))
    return ranked, decide(ranked)


def test_true_structure_ranks_first_and_duplicates_merge():
    cands = [Candidate(zinc_blende(5.9), "prototype", "zinc blende"),
             Candidate(cesium_chloride(3.4), "prototype", "CsCl"),
             Candidate(rock_salt(5.5), "prototype", "rock salt"),
             Candidate(rock_salt_primitive(5.75), "user", "rock salt primitive")]
    ranked, verdict = _solve(rock_salt(5.64), cands)
    assert ranked[0].candidate.label.startswith("rock salt")
    assert ranked[0].space_group_number == 225
    labels = [r.candidate.label for r in ranked]
    assert len(ranked) == 3 and not ("rock salt" in labels and "rock salt primitive" in labels)
    assert len(ranked[0].duplicates) == 1
    assert verdict.label == SOLVED
    assert ranked[0].metrics["r_wp"] < ranked[1].metrics["r_wp"]


def test_no_confident_solution_when_nothing_explains_the_pattern():
    rutile = record(np.diag([4.594, 4.594, 2.959]), RUTILE_FRAC, RUTILE_Z)
    cands = [Candidate(rock_salt(5.64), "prototype", "rock salt"),
             Candidate(cesium_chloride(3.4), "prototype", "CsCl")]
    _, verdict = _solve(rutile, cands)
    assert verdict.label == NO_SOLUTION


def _fake(excess: float, net: float):
    return SimpleNamespace(metrics={"r_excess": excess, "r_wp_net": net})


def test_verdict_rules():
    assert decide([]).label == NO_SOLUTION
    lone = decide([_fake(0.05, 0.05)])  # a good fit, but nothing to compare it with
    assert lone.label == AMBIGUOUS and math.isinf(lone.margin) and "no other distinct structure" in lone.reason
    assert decide([_fake(0.05, 0.05)], VerdictConfig(solved_needs_alternative=False)).label == SOLVED
    assert decide([_fake(0.05, 0.05), _fake(0.051, 0.051)]).label == AMBIGUOUS
    assert decide([_fake(0.05, 0.05), _fake(0.2, 0.2)]).label == SOLVED
    assert decide([_fake(0.3, 0.3), _fake(0.6, 0.6)]).label == AMBIGUOUS
    assert decide([_fake(0.6, 0.6)]).label == NO_SOLUTION


def test_verdict_excess_limit_depends_on_the_noise_model():
    """An excess of 0.1 is `solved` for counting data (noise removed from it, limit 0.15) but only
    `ambiguous` without a noise model (unit weights: the excess still holds the noise, limit 0.075)."""
    counts = SimpleNamespace(metrics={"r_excess": 0.1, "r_wp_net": 0.12, "r_exp_net": 0.07})
    no_model = SimpleNamespace(metrics={"r_excess": 0.1, "r_wp_net": 0.1, "r_exp_net": math.nan})
    rival = _fake(0.5, 0.5)  # a distinct runner-up far behind, so that the excess limit decides
    assert decide([counts, rival]).label == SOLVED
    assert decide([no_model, rival]).label == AMBIGUOUS
    assert decide([_fake(0.07, 0.07), rival]).label == SOLVED


def test_verdict_needs_a_significant_gap_in_correlated_noise_units():
    """Same R_wp margin (100 %): `solved` when the criterion's gap is 200 effective points, `ambiguous` when the
    residuals are so correlated (κ = 20) that it is worth only 10."""
    def cand(net, score, kappa):
        return SimpleNamespace(metrics={"r_excess": net, "r_wp_net": net, "r_exp_net": 0.02, "score": score,
                                        "correlation_factor": kappa, "noise_scale": 1.5})

    clear = decide([cand(0.05, 1000.0, 1.0), cand(0.1, 1300.0, 1.0)])
    assert clear.label == SOLVED
    assert clear.significance == pytest.approx(200.0)
    weak = decide([cand(0.05, 1000.0, 20.0), cand(0.1, 1300.0, 20.0)])
    assert weak.label == AMBIGUOUS
    assert weak.significance == pytest.approx(10.0)
    assert "significan" in weak.reason
    assert weak.to_json()["significance"] == pytest.approx(10.0)
    unit_weights = [SimpleNamespace(metrics=c.metrics | {"r_exp_net": math.nan})
                    for c in (cand(0.05, 1000.0, 20.0), cand(0.1, 1300.0, 20.0))]
    assert decide(unit_weights).label == SOLVED  # calibrated on counting data only


def test_a_random_direct_space_structure_never_earns_solved():
    from pxrdsolve.solve.types import Candidate

    def ranked(source: str, method: str | None):
        meta = {} if method is None else {"method": method}
        best = SimpleNamespace(metrics={"r_excess": 0.05, "r_wp_net": 0.05},
                               candidate=Candidate(None, source, "x", meta))
        return [best, _fake(0.2, 0.2)]

    assert decide(ranked("prototype", None)).label == SOLVED
    assert decide(ranked("direct", "enumerated")).label == SOLVED
    random = decide(ranked("direct", "random"))
    assert random.label == AMBIGUOUS and "random direct-space" in random.reason

def _ranking_input(records, scores):
    """A stand-in for a RefineResult: the records and their scores, nothing refined."""
    n = len(records)
    built = []

    def rec(b):
        built.append(b)
        return records[b]

    refined = SimpleNamespace(
        metrics_after={"score": np.asarray(scores, float), "chi2": np.asarray(scores, float)},
        metrics_before={"chi2": np.asarray(scores, float)}, record=rec,
        templates=[SimpleNamespace(symbol="P1", number=1)] * n, size_angstrom=np.full(n, 20.0),
        zero_shift_deg=np.zeros(n), stage=["refined"] * n, promoted=())
    return [Candidate(r, "prototype", f"c{i}") for i, r in enumerate(records)], refined, built


def test_distinct_structures_are_looked_for_beyond_the_pool():
    near = [rock_salt_primitive(5.64 * (1 + 1e-3 * i)) for i in range(35)]  # 35 near-duplicates first
    records = near + [zinc_blende(5.9), cesium_chloride(3.4), rock_salt(5.6), zinc_blende(5.8), cesium_chloride(3.3)]
    cands, refined, built = _ranking_input(records, np.arange(len(records), dtype=float))
    ranked = rank_and_merge(cands, refined, RankConfig(top_n=3, pool=30))
    assert [r.index for r in ranked] == [0, 35, 36]
    assert len(ranked[0].duplicates) == 34  # the near-duplicates, beyond the pool too
    assert max(built) == 36  # nothing past the third distinct structure is looked at
    # candidates without a finite score beyond the pool are never ranked
    scores = np.arange(len(records), dtype=float)
    scores[36:] = np.inf
    cands, refined, _ = _ranking_input(records, scores)
    assert [r.index for r in rank_and_merge(cands, refined, RankConfig(top_n=10, pool=30))] == [0, 35]
