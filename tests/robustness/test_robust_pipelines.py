"""Every registered command in a pipeline (no TTY): ``--quiet --json`` gives nothing on stderr and one
valid JSON document on stdout; without ``--json`` nothing goes to stdout and stderr holds no terminal
escape codes; ``--help`` states the exit statuses.  Cheap inputs, run in-process (CliRunner)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from robust_helpers import EXAMPLE_CIFS, EXAMPLE_PATTERNS
from typer.testing import CliRunner

from pxrdsolve.cli.app import register

ROOT = Path(__file__).parents[2]
TESTS = ROOT / "tests"
FAST = ("--restarts", "1", "--refine-top", "3")
COMMANDS = ("simulate", "broaden", "inspect", "solve", "rank", "evaluate", "library", "dataset", "train")
EXPECTED_EXIT = {"rank": 1}  # NaCl and Si do not explain a rutile pattern: no confident answer
ESC = "\x1b["


def _invoke(*args: object):
    return CliRunner().invoke(register(), [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple]:
    """(quiet+json result, plain result) per command, run in dependency order."""
    d = tmp_path_factory.mktemp("pipe")
    one = d / "one.csv"
    with open(one, "w", newline="") as fh:
        srtio3 = (ROOT / "examples" / "structures" / "SrTiO3.cif").read_text()
        csv.writer(fh).writerows([["material_id", "cif"], ["mp-5229", srtio3]])
    pattern = EXAMPLE_PATTERNS / "SrTiO3_10A.xy"
    lib, lib2 = d / "lib.h5", d / "lib2.h5"
    pool = TESTS / "data" / "library" / "pool.csv"
    sim = ("--grid", "q:0.5:6:256", "--size", "20")
    plans: dict[str, tuple[tuple, tuple]] = {
        "library": ((pool, "-o", lib, "-j", "1"), (pool, "-o", lib2, "-j", "1")),
        "simulate": ((*EXAMPLE_CIFS, "-o", d / "s.h5", *sim), (*EXAMPLE_CIFS, "-o", d / "s2.h5", *sim)),
        "broaden": ((d / "s.h5", "--size", "50", "-o", d / "b.h5"), (d / "s.h5", "--size", "50", "-o", d / "b2.h5")),
        "inspect": ((pattern,), (pattern,)),
        "solve": ((pattern, "-f", "SrTiO3", "--size", "10", "--library", lib, "-o", d / "sol", *FAST),
                  (pattern, "-f", "SrTiO3", "--size", "10", "--library", lib, "-o", d / "sol2", *FAST)),
        "rank": ((EXAMPLE_CIFS[1], EXAMPLE_CIFS[2], "--pattern", EXAMPLE_PATTERNS / "TiO2_rutile_50A.xy",
                  "--size", "50", "-o", d / "r", *FAST),) * 2,
        "evaluate": ((one, "--first", "1", "--library", lib, "-o", d / "rep"),
                     ("--merge", d / "rep", "-o", d / "rep2")),
        "dataset": ((TESTS / "training/data/mini_pool.csv", "-o", d / "d.h5", "--workers", "1",
                     "--val-fraction", "0.2"),
                    (TESTS / "training/data/mini_pool.csv", "-o", d / "d2.h5", "--workers", "1")),
        "train": ((d / "d.h5", "--preset", "tiny", "--steps", "2", "-o", d / "m.h5"),
                  (d / "d.h5", "--preset", "tiny", "--steps", "3", "-o", d / "m.h5", "--resume")),
    }
    out = {}
    for name, (quiet_args, plain_args) in plans.items():
        quiet_flags = ("--json",) if name == "inspect" else ("--quiet", "--json")  # inspect has no --quiet
        out[name] = (_invoke(name, *quiet_args, *quiet_flags), _invoke(name, *plain_args))
    return out


@pytest.mark.parametrize("name", COMMANDS)
def test_quiet_json_mode(runs, name):
    res, _ = runs[name]
    assert res.exit_code == EXPECTED_EXIT.get(name, 0), (res.exit_code, res.stderr[-800:], res.exception)
    assert res.stderr.strip() == "", f"{name} --quiet wrote to stderr: {res.stderr[:300]!r}"
    payload = json.loads(res.stdout)  # exactly one JSON document
    assert isinstance(payload, dict) and payload


REPORT_ON_STDOUT = ("inspect", "solve", "rank")


@pytest.mark.parametrize("name", COMMANDS)
def test_plain_mode_no_stdout_no_escape_codes(runs, name):
    _, res = runs[name]
    assert res.exit_code == EXPECTED_EXIT.get(name, 0), (res.exit_code, res.stderr[-800:], res.exception)
    assert ESC not in res.stderr and ESC not in res.stdout, f"{name}: terminal escape codes in a pipe"
    assert res.stderr.strip() or name in REPORT_ON_STDOUT, f"{name}: no log line at all"
    if name in REPORT_ON_STDOUT:  # the report (results table, verdict) is the output a user redirects
        assert res.stdout.strip(), f"{name}: no report on stdout"
    else:
        assert res.stdout == "", f"{name} wrote to stdout without --json: {res.stdout[:200]!r}"


def test_inspect_accepts_quiet():
    res = _invoke("inspect", EXAMPLE_PATTERNS / "SrTiO3_10A.xy", "--quiet", "--json")
    assert res.exit_code == 0 and res.stderr.strip() == ""


def test_errors_are_one_line_on_stderr_for_every_command(tmp_path):
    missing = tmp_path / "missing.file"
    for name in COMMANDS:
        args: tuple = {"rank": (missing, "--pattern", missing), "solve": (missing, "-f", "NaCl")}.get(name, (missing,))
        flags = ("--json",) if name == "inspect" else ("--json", "--quiet", "-o", tmp_path / f"{name}.out")
        res = _invoke(name, *args, *flags)
        assert res.exit_code == 2, (name, res.exit_code, res.output[-400:])
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (name, res.stderr)
        assert res.stdout == "" and "Traceback" not in res.output, name


@pytest.mark.parametrize("name", COMMANDS)
def test_help_states_exit_status(name):
    res = _invoke(name, "--help")
    assert res.exit_code == 0
    text = " ".join(res.stdout.split()).lower()
    assert "exit status" in text, f"{name} --help does not mention its exit status"
    if name in ("solve", "rank"):
        assert "exit status 1" in text or "1 when" in text
