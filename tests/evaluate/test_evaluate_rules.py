"""What evaluate tells the solver (formula only; Z/size on request; own formula held out), code-version
identity and its refusal on --resume/--merge, the verdict's precision/recall and the report's statements."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from pxrdsolve.errors import InputError
from pxrdsolve.evaluate import harness
from pxrdsolve.evaluate.report import write_report
from pxrdsolve.evaluate.report_groups import verdict_quality
from pxrdsolve.version import code_version, hash_source_tree, same_code


def _target(**kw):
    base = dict(index=0, identifier="m0", formula="NaCl", z=4, size=12.5, pattern="p.xy", instrument_fwhm_q=0.0)
    base.update(kw)
    return SimpleNamespace(**base)


@pytest.mark.parametrize("z_given,size_given", [(False, False), (True, False), (False, True)])
def test_solver_is_told_only_what_the_config_allows(monkeypatch, z_given, size_given):
    from pxrdsolve.evaluate import run
    from pxrdsolve.solve import pipeline

    seen = {}
    monkeypatch.setattr(pipeline, "solve_pattern", lambda pattern, formula, **kw: seen.update(formula=formula, **kw))
    cfg = harness.EvaluateConfig(source="x.csv", z_given=z_given, size_given=size_given)
    run._solver(cfg, library="LIB")(_target())
    assert seen["formula"] == "NaCl"
    assert seen["z"] == (4 if z_given else "auto") and seen["size"] == (12.5 if size_given else "auto")
    assert callable(seen["library"])  # the held-out source, not the library itself
    run._solver(cfg, library="LIB", held_out=False)(_target())
    assert seen["library"] == "LIB"


def test_held_out_source_drops_every_template_of_the_own_formula():
    from pxrdsolve.evaluate.run import held_out_source
    from pxrdsolve.library.store import load_library
    from pxrdsolve.solve.candidates_prototype import prototype_candidates
    from pxrdsolve.solve.formula import parse_formula

    lib = load_library(None)
    for formula in ("NaCl", "TiO2"):
        comp = parse_formula(formula)
        full = prototype_candidates(comp, lib, max_candidates=300)
        held = held_out_source(lib)(comp, 300)

        def own(cands):
            return [c for c in cands if all(a == b for a, b in c.meta["substitution"].items())]

        assert own(full), f"the shipped library should hold {formula} itself"
        assert held and not own(held)


def test_code_version_names_the_source(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    h0 = hash_source_tree(tmp_path)
    assert hash_source_tree(tmp_path) == h0
    (tmp_path / "sub" / "b.py").write_text("y = 3\n")
    assert hash_source_tree(tmp_path) != h0
    (tmp_path / "notes.txt").write_text("not source")
    assert hash_source_tree(tmp_path) == hash_source_tree(tmp_path)
    v = code_version()
    assert v.startswith("0.") and "+src." in v
    assert same_code(v.split(" (git ")[0] + " (git other-describe)", v)
    assert not same_code("0.1.0+src.000000000000", v) and not same_code(None, v)


def _fake_run(monkeypatch, out, resume=False, force=False, version=None):
    monkeypatch.setattr(harness, "score", lambda target, ranked, seconds: {
        "index": target.index, "id": target.identifier, "seconds": dict(seconds), "match_top1_standard": True})
    if version is not None:
        monkeypatch.setattr(harness, "code_version", lambda: version)
    targets = [lambda i=i: SimpleNamespace(index=i, identifier=f"m{i}") for i in range(2)]
    solve = lambda target: SimpleNamespace(ranked=[], verdict=SimpleNamespace(label="solved"), seconds={})  # noqa: E731
    return harness.run_evaluate(targets, ["m0", "m1"], out, solve, harness.EvaluateConfig(source="x.csv"),
                                resume=resume, force=force)


def test_resume_refuses_another_code_version_unless_forced(monkeypatch, tmp_path):
    _fake_run(monkeypatch, tmp_path, version="0.1.0+src.aaaaaaaaaaaa")
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["code_version"] == "0.1.0+src.aaaaaaaaaaaa"
    rec = json.loads(next((tmp_path / "materials").glob("*.json")).read_text())
    assert rec["code_version"] == "0.1.0+src.aaaaaaaaaaaa"
    monkeypatch.setattr(harness, "code_version", lambda: "0.1.0+src.bbbbbbbbbbbb")
    with pytest.raises(InputError, match="another|--force"):
        _fake_run(monkeypatch, tmp_path, resume=True)
    _fake_run(monkeypatch, tmp_path, resume=True, force=True)  # allowed; nothing left to do


def test_merge_refuses_mixed_versions_and_forced_report_lists_them(monkeypatch, tmp_path):
    _fake_run(monkeypatch, tmp_path / "a", version="0.1.0+src.aaaaaaaaaaaa")
    _fake_run(monkeypatch, tmp_path / "b", version="0.1.0+src.bbbbbbbbbbbb")
    with pytest.raises(InputError, match="--force"):
        harness.check_versions([tmp_path / "a", tmp_path / "b"])
    harness.check_versions([tmp_path / "a", tmp_path / "a"])
    harness.check_versions([tmp_path / "a", tmp_path / "b"], force=True)
    recs = harness.load_records([tmp_path / "a"]) + [dict(r, index=r["index"] + 2)
                                                     for r in harness.load_records([tmp_path / "b"])]
    summary = write_report(recs, tmp_path / "m", {"library_mode": "held-out"}, "test machine")
    assert summary["code_versions"] == {"0.1.0+src.aaaaaaaaaaaa": 2, "0.1.0+src.bbbbbbbbbbbb": 2}
    md = (tmp_path / "m" / "report.md").read_text()
    assert "MIXED VERSIONS" in md and "Z auto" in md and "size auto" in md and "own formula removed" in md
    assert json.loads((tmp_path / "m" / "report.json").read_text())["code_version"] == code_version()


def test_verdict_precision_and_recall():
    recs = ([{"match_top1_standard": True, "verdict": "solved"}] * 3
            + [{"match_top1_standard": False, "verdict": "solved"}]
            + [{"match_top1_standard": True, "verdict": "ambiguous"}] * 2
            + [{"match_top1_standard": False, "verdict": "no confident solution"}] * 4
            + [{"error": "bad input"}])
    q = verdict_quality(recs)
    assert q["n"] == 10 and q["n_solved"] == 4 and q["n_right_top1"] == 5 and q["n_solved_right"] == 3
    assert q["precision"] == pytest.approx(3 / 4) and q["recall"] == pytest.approx(3 / 5)
    assert q["solved_right_of_all"] == pytest.approx(3 / 10)


def test_cli_refuses_size_given_for_measured_and_realistic_with_manifest(run_cli, tmp_path):
    m = tmp_path / "MANIFEST.tsv"
    m.write_text("case_id\tformula\n")
    for extra in (("--size-given",), ("--realistic", "2")):
        res = run_cli("evaluate", "--manifest", m, "-o", tmp_path / "o", *extra)
        assert res.exit_code == 2 and "error:" in res.output
