"""What the CLI says and leaves behind: exit statuses, stdout, the files it removes, help texts."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import EXAMPLES

sys.path.insert(0, str(Path(__file__).parents[1] / "solve"))
sys.path.insert(0, str(Path(__file__).parents[1] / "robustness"))
from robust_helpers import assert_same_datasets  # noqa: E402
from test_pipeline import EXAMPLE, stand_in_candidates  # noqa: E402

FAST = ("--restarts", "1", "--refine-top", "3")
ZERO_VOLUME = (EXAMPLES / "NaCl.cif").read_text().replace("_cell_length_a   5.64000000", "_cell_length_a   0")


@pytest.fixture
def cli(monkeypatch):
    import pxrdsolve.solve.pipeline as pipeline
    from pxrdsolve.cli.app import register

    monkeypatch.setattr(pipeline, "_prototype_source", lambda comp, lib, n, sg: stand_in_candidates())
    runner = CliRunner()
    app = register()
    return lambda *args: runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("text", [
    "garbage\n",
    (EXAMPLES / "NaCl.cif").read_text().replace(" Na ", " Xx ").replace("Na0", "Xx0"),
    ZERO_VOLUME,
])
def test_simulate_nothing_simulated_exits_2_with_reason(cli, tmp_path, text):
    (tmp_path / "lone.cif").write_text(text)
    res = cli("simulate", tmp_path / "lone.cif", "-o", tmp_path / "o.h5")
    assert res.exit_code == 2
    line = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert line and "nothing simulated" in line[0] and "lone.cif" in line[0]


def test_simulate_one_good_input_is_success(cli, tmp_path):
    (tmp_path / "a.cif").write_text((EXAMPLES / "Si.cif").read_text())
    (tmp_path / "b.cif").write_text(ZERO_VOLUME)
    res = cli("simulate", tmp_path, "-o", tmp_path / "o.h5", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["n_simulated"] == 1


def test_simulate_workers_and_threads_do_not_change_a_bit(cli, tmp_path):
    rows = [(p.stem, p.read_text()) for p in sorted(EXAMPLES.glob("*.cif"))]
    csv_path = tmp_path / "many.csv"
    body = "".join(f'{name}-{k},"{text.replace(chr(34), chr(34) * 2)}"\n' for k in range(12) for name, text in rows)
    csv_path.write_text("material_id,cif\n" + body)  # 72 inputs: enough for the worker pool
    args = ("--grid", "2theta:10:80:0.05", "--size", "20", "-q")
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert cli("simulate", csv_path, "-o", a, "--workers", "0", "--batch-size", "13", *args).exit_code == 0
    assert cli("simulate", csv_path, "-o", b, "--workers", "2", "--threads", "2", "--batch-size", "32",
               *args).exit_code == 0
    assert_same_datasets(a, b)


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^\d+\s", line)]


def test_solve_prints_table_and_verdict_on_stdout_and_writes_its_files(cli, tmp_path):
    out = tmp_path / "sol"
    res = cli("solve", EXAMPLE, "--formula", "SrTiO3", "--size", "10", "-o", out, *FAST)
    assert res.exit_code == 0, res.output
    assert "verdict: solved" in res.stdout and _table_rows(res.stdout), res.stdout
    assert "refining" in res.stderr and "ranking" in res.stderr  # the stages, as they start
    assert (out / "results.txt").read_text() == res.stdout
    for name in ("fit.png", "fit.txt", "rank01.cif", ".pxrdsolve-written.json"):
        assert (out / name).exists(), name
    n_ranked = len(_table_rows(res.stdout))
    assert (out / "fit_rank02.png").exists() == (n_ranked >= 2)
    # fit.txt: the file's own points (2θ and counts), not the averaged fit grid
    data = np.loadtxt(out / "fit.txt")
    raw = np.loadtxt(EXAMPLE, comments="#")
    assert data.shape[1] == 6
    sel = np.isin(np.round(raw[:, 0], 6), np.round(data[:, 0], 6))
    assert sel.sum() == len(data) > 0.9 * len(raw)  # every point of the file in the fitted range
    np.testing.assert_allclose(data[:, 2], raw[sel, 1], rtol=1e-7)
    np.testing.assert_allclose(data[:, 5], data[:, 2] - data[:, 3], rtol=1e-6, atol=1e-6 * np.abs(data[:, 2]).max())
    assert "R_wp" in (out / "fit.txt").read_text().splitlines()[0]


def test_solve_removes_only_its_own_stale_cifs(cli, tmp_path):
    out = tmp_path / "sol"
    out.mkdir()
    (out / "rank08.cif").write_text("a user's own file\n")
    (out / "rank99.cif").write_text("written by an earlier run\n")
    (out / ".pxrdsolve-written.json").write_text(json.dumps({"files": ["rank99.cif", "../escape.cif"]}))
    (tmp_path / "escape.cif").write_text("outside\n")
    res = cli("solve", EXAMPLE, "--formula", "SrTiO3", "--size", "10", "-o", out, "-q", *FAST)
    assert res.exit_code == 0, res.output
    assert (out / "rank08.cif").read_text() == "a user's own file\n"
    assert not (out / "rank99.cif").exists()
    assert (tmp_path / "escape.cif").exists()
    recorded = json.loads((out / ".pxrdsolve-written.json").read_text())["files"]
    assert "rank01.cif" in recorded and "rank08.cif" not in recorded


def test_quiet_no_confident_solution_still_says_the_verdict(cli, tmp_path):
    pattern = EXAMPLE.parent / "TiO2_rutile_50A.xy"
    res = cli("rank", EXAMPLES / "NaCl.cif", EXAMPLES / "Si.cif", "--pattern", pattern, "--size", "50",
              "-o", tmp_path / "r", "-q", *FAST)
    assert res.exit_code == 1
    assert res.stdout.strip().startswith("verdict: no confident solution")
    assert res.stderr == ""


def test_json_keeps_stdout_for_json(cli, tmp_path):
    res = cli("solve", EXAMPLE, "--formula", "SrTiO3", "--size", "10", "-o", tmp_path / "s", "--json",
              "--instrument-eta", "0.3", *FAST)
    assert res.exit_code == 0
    payload = json.loads(res.stdout)
    assert payload["verdict"]["label"] and "verdict:" in res.stderr


def _help(cli, command: str) -> str:
    return re.sub(r"\s+", " ", cli(command, "--help").output)


def test_help_texts(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")  # rich folds long option names at 80 columns
    for command in ("simulate", "broaden", "inspect", "solve", "rank", "evaluate", "library", "train"):
        assert "<bool>" not in cli(command, "--help").output, command
    solve = _help(cli, "solve")
    assert "--instrument-eta" in solve and "--instrument-fwhm-q" in solve
    assert "noise" not in solve.split("--seed", 1)[1].split("--", 1)[0]
    assert "--format" not in _help(cli, "broaden")
    inspect = _help(cli, "inspect")
    assert "-w" in inspect and "--instrument-fwhm" in inspect


def test_broaden_grid_check_uses_the_grid_reach(cli, tmp_path):
    src = tmp_path / "p.h5"
    assert cli("simulate", EXAMPLES / "Si.cif", "-o", src, "-q").exit_code == 0  # pxrdnet: peaks to 2θ = 90°
    ok = cli("broaden", src, "--grid", "2theta:10:80:0.02", "--size", "10", "-o", tmp_path / "b.h5", "-q")
    assert ok.exit_code == 0, ok.output  # 80° is Q = 5.26 Å⁻¹ < 5.763
    bad = cli("broaden", src, "--grid", "2theta:10:100:0.02", "--size", "10", "-o", tmp_path / "c.h5", "-q")
    assert bad.exit_code == 2 and "reaches Q = 6.2" in bad.stderr


def test_evaluate_report_names_the_floor_it_quotes():
    from pxrdsolve.evaluate.report import aggregate, render_markdown

    recs = [{"index": 0, "id": "a", "crystal_system": "cubic", "rwp2_best10_after": 0.1,
             "rwp2_best10_before": 0.3, "match_top1_standard": True, "match_top10_standard": True,
             "seconds": {"solve": 2.0}}]
    s = aggregate(recs)
    s["baselines"] = {}
    md = render_markdown(s, {"source": "x.csv", "size": 10.0, "seed": 0}, "m")
    assert "quoted from docs/reference.md §5, not run here" in md
    s["baselines"] = {"library-only": {"rwp2_best10": 0.42, "match_top1_standard": 0.25,
                                       "match_top10_standard": 0.5, "seconds": 1.5}}
    md = render_markdown(s, {"source": "x.csv", "size": 10.0, "seed": 0}, "m")
    assert "measured in this run" in md and "0.420" in md and "not run here" not in md
