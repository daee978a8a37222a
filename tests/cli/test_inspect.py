"""``pxrdsolve inspect`` through a private Typer app (independent of app.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pxrdsolve.cli.inspect import inspect

DATA = Path(__file__).parents[1] / "data" / "patterns"


@pytest.fixture
def run():
    app = typer.Typer()
    app.command("inspect")(inspect)

    @app.callback()
    def _root() -> None:
        """test app"""

    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["inspect", *map(str, args)])


def test_text_output(run):
    result = run(DATA / "cu_lab_header.xy")
    assert result.exit_code == 0, result.output
    out = result.stdout  # the report is the command's answer: stdout, so `inspect f > report.txt` keeps it
    assert result.stderr == ""
    assert "format      xy" in out and "2θ: 10 … 65°" in out
    assert "wavelength  1.54056 Å (CuKa1; from header)" in out
    assert "model grid" in out and "of 512 points measured" in out


def test_json_and_plot(run, tmp_path):
    png = tmp_path / "out.png"
    result = run(DATA / "scan.xrdml", "--json", "--plot", png)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format"] == "xrdml" and data["radiation"] == "1.5406+1.54443A"
    assert data["plot"] == str(png) and png.read_bytes()[:4] == b"\x89PNG"
    assert "wrote" in result.stderr


def test_quiet_prints_nothing_and_short_wavelength_flag(run):
    assert run(DATA / "cu_lab_header.xy", "-q").stdout == ""
    result = run(DATA / "no_hint.txt", "-w", "MoKa", "--instrument-fwhm", "0.01")
    assert result.exit_code == 0, result.output
    assert "wavelength  0.71073 Å" in result.stdout


def test_wavelength_and_axis_options(run):
    result = run(DATA / "no_hint.txt", "--wavelength", "MoKa", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["wavelength_angstrom"] == pytest.approx(0.71073) and data["wavelength_source"] == "option"
    assert any("taken as 2θ" in w for w in data["warnings"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((DATA / "no_hint.txt",), "no wavelength is given: pass --wavelength"),
        ((DATA / "cu_lab_header.xy", "--axis", "energy"), "unknown axis 'energy'"),
        ((DATA / "cu_lab_header.xy", "--wavelength", "XxKa"), "unknown wavelength"),
        ((DATA / "missing.xy",), "no such file"),
    ],
)
def test_bad_input_exits_2_with_one_line(run, args, message):
    result = run(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output


def test_garbage_file_exits_2(run, tmp_path):
    bad = tmp_path / "garbage.xy"
    bad.write_bytes(bytes(range(256)) * 20)
    result = run(bad)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {bad}: binary file, not a text pattern (export it as two-column .xy text)"
