"""``pxrdsolve solve`` / ``rank``: exit statuses, outputs, one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pxrdsolve.cli.solve import rank, solve

sys.path.insert(0, str(Path(__file__).parents[1] / "solve"))
from test_pipeline import EXAMPLE, stand_in_candidates  # noqa: E402

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def cli(monkeypatch):
    import pxrdsolve.solve.pipeline as pipeline

    monkeypatch.setattr(pipeline, "_prototype_source", lambda comp, lib, n, sg: stand_in_candidates())
    app = typer.Typer()
    app.command("solve")(solve)
    app.command("rank")(rank)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


FAST = ("--restarts", "1", "--refine-top", "3")


def test_solve_writes_outputs_and_json(cli, tmp_path):
    out = tmp_path / "sol"
    res = cli("solve", EXAMPLE, "--formula", "SrTiO3", "--size", "10", "-o", out, "--json", "--quiet", *FAST)
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["verdict"]["label"] == "solved"
    assert payload["top"][0]["space_group"] == "Pm-3m"
    assert (out / "rank01.cif").exists() and (out / "results.h5").exists() and (out / "fit.png").exists()


def test_rank_no_confident_solution_exits_1(cli, tmp_path):
    pattern = EXAMPLES / "patterns" / "TiO2_rutile_50A.xy"
    res = cli("rank", EXAMPLES / "structures" / "NaCl.cif", EXAMPLES / "structures" / "Si.cif", "--pattern", pattern,
              "--size", "50", "-o", tmp_path / "r", "--quiet", *FAST)
    assert res.exit_code == 1
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["verdict"]["label"] == "no confident solution"


def _one_error_line(res) -> None:
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert any(line.startswith("error:") for line in lines)
    assert "Traceback" not in res.output


def test_malformed_pattern_exits_2(cli, tmp_path):
    bad = tmp_path / "bad.xy"
    bad.write_text("# wavelength 1.5406\n10 5\n10.02 abc\n")
    _one_error_line(cli("solve", bad, "--formula", "SrTiO3", "-o", tmp_path / "o"))


def test_unknown_element_exits_2(cli, tmp_path):
    _one_error_line(cli("solve", EXAMPLE, "--formula", "SrXx3", "-o", tmp_path / "o"))
