"""The ``library`` command (tested through its own Typer app until the lead registers it)."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from library.tiny_library import EXCLUDE, HOLDOUT, POOL
from pxrdsolve.cli.library import library
from pxrdsolve.library.store import load_library


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(library)
    return app


def test_library_command_builds_with_holdout(tmp_path):
    out = tmp_path / "lib.h5"
    res = CliRunner().invoke(_app(), [str(POOL), "-o", str(out), "--exclude-csv", str(EXCLUDE),
                                      "--holdout-formulas", str(HOLDOUT), "--workers", "1", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["counts"]["excluded_id"] == 1 and payload["counts"]["holdout_dropped"] == 2
    assert payload["n_failures"] == 1
    lib = load_library(out)
    assert len(lib) == payload["counts"]["entries"] and "ZnO" not in lib.entries["formula"].tolist()


def test_library_command_bad_input_is_one_line(tmp_path):
    res = CliRunner().invoke(_app(), [str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.h5")])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error:") and "missing.csv" in res.output
    assert len(res.output.strip().splitlines()) == 1
