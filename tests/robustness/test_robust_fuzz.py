"""Fuzzing the input paths: pattern readers, formulas, structure inputs (CIF/CSV) and ``inspect``.

Every input must give a parsed result or a :class:`~pxrdsolve.errors.InputError` (structures: a
:class:`~pxrdsolve.io.structures.StructureError`); no other exception and no hang (each example runs
under a SIGALRM watchdog, hypothesis' own deadline is off because the CPUs are shared).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from robust_helpers import EXAMPLE_CIFS, EXAMPLE_PATTERNS, run_cli

from pxrdsolve.errors import InputError
from pxrdsolve.io.structures import StructureError, list_inputs, parse_item
from pxrdsolve.patterns.readers import read_pattern
from pxrdsolve.patterns.types import MeasuredPattern
from pxrdsolve.solve.formula import parse_formula

DATA = Path(__file__).parents[1] / "data" / "patterns"
SEEDS = sorted(p for p in DATA.iterdir() if p.suffix != ".py") + sorted(EXAMPLE_PATTERNS.glob("*.xy"))
EXTENSIONS = [".xy", ".xye", ".csv", ".dat", ".txt", ".cif", ".gsa", ".fxye", ".xrdml", ".raw", ".bin", ""]
WORK = Path(tempfile.mkdtemp(prefix="pxrdsolve_fuzz_"))
SCALE = int(os.environ.get("PXRDSOLVE_FUZZ_SCALE", "1"))  # e.g. 20 for a long crash hunt (random seeds)
FUZZ = settings(deadline=None, derandomize=SCALE == 1, suppress_health_check=[HealthCheck.too_slow],
                database=None)


def event(name: str) -> None:
    """hypothesis.event inside a hypothesis test (counted in --hypothesis-show-statistics), else nothing."""
    with contextlib.suppress(InvalidArgument):
        _event(name)


@contextlib.contextmanager
def watchdog(seconds: int = 10) -> Iterator[None]:
    """Fail (TimeoutError) instead of hanging."""

    def alarm(signum, frame):  # noqa: ARG001
        raise TimeoutError(f"no result in {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_read(data: bytes, ext: str, **kwargs: object) -> MeasuredPattern | None:
    """``read_pattern`` on a file holding ``data``: a finite pattern on ascending Q, or InputError."""
    path = WORK / f"fuzz{ext}"
    path.write_bytes(data)
    with watchdog():
        try:
            pat = read_pattern(path, **kwargs)
        except InputError as exc:
            msg = str(exc)
            assert "\n" not in msg.strip() and str(path) in msg, f"not one line naming the file: {msg!r}"
            event("InputError")
            return None
    event("parsed")
    q = np.asarray(pat.q_inv_angstrom)
    assert q.ndim == 1 and q.size == np.asarray(pat.intensity).size and q.size >= 2
    assert np.isfinite(q).all() and np.isfinite(pat.intensity).all() and np.all(np.diff(q) >= 0)
    return pat


# --------------------------------------------------------------------------------------- pattern files
_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e308", "1e309", "-0", "1,5", "1_000", "0x10", "1.2.3",
                     "12(3)", ".", "?", "", "１２", "٣"]),
    st.floats(5, 120).map(lambda v: f"{v:.4f}"),
)
_SEP = st.sampled_from([" ", "\t", ",", ";", " , ", "  ", "\u00a0", "|"])
_HEADER = st.sampled_from(["# 2theta intensity", "# wavelength 1.5406", "# lambda = 0", "! Q counts",
                           "2Theta,Counts", "# axis: d", "# columns: tth I esd", "# Cu Ka1", "data_x",
                           "_pd_meas_2theta_scan", "BANK 1 10 10 CONST 1000 1 0 0 ESD", "<xrdMeasurement>",
                           "# λ 1.54 Å", "# wavelength 1e999", "# axis: q"])


@st.composite
def text_patterns(draw: st.DrawFn) -> tuple[bytes, str]:
    headers = draw(st.lists(_HEADER, max_size=3))
    ncols = draw(st.integers(1, 4))
    sep = draw(_SEP)
    n = draw(st.integers(0, 40))
    if draw(st.booleans()):  # mostly sane rows, with a few bad values: exercises validation, not parsing
        x = np.sort(np.asarray(draw(st.lists(st.floats(5, 120), min_size=n, max_size=n))))
        rows = [[f"{v:.4f}"] + [draw(_NUMBER) if draw(st.integers(0, 9)) == 0 else "100" for _ in range(ncols - 1)]
                for v in x]
        if rows and draw(st.booleans()):
            rows.insert(draw(st.integers(0, len(rows) - 1)), list(rows[0]))  # duplicated axis value
    else:
        rows = [[draw(_NUMBER) for _ in range(ncols)] for _ in range(n)]
    body = "\n".join(headers + [sep.join(r) for r in rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "utf-16-le", "cp1252"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data = body.replace("\n", newline).encode(encoding, errors="replace")
    return data, draw(st.sampled_from(EXTENSIONS))


@settings(FUZZ, max_examples=300 * SCALE)
@given(text_patterns(), st.sampled_from([None, "CuKa1", 1.5406, "MoKa"]), st.sampled_from([None, "2theta", "q", "d"]))
def test_read_pattern_on_generated_text(case: tuple[bytes, str], wavelength: object, axis: str | None) -> None:
    data, ext = case
    check_read(data, ext, wavelength=wavelength, axis=axis)


@settings(FUZZ, max_examples=150 * SCALE)
@given(st.binary(max_size=4096), st.sampled_from(EXTENSIONS))
def test_read_pattern_on_binary_garbage(data: bytes, ext: str) -> None:
    check_read(data, ext)


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[bytes, str]:
    seed = draw(st.sampled_from(SEEDS))
    data = bytearray(seed.read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "dup_line", "nan", "huge"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "truncate":
            del data[pos:]
        elif op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 200))]
        elif op == "dup_line":
            end = data.find(b"\n", pos)
            start = data.rfind(b"\n", 0, pos) + 1
            if end > start:
                data[end:end] = b"\n" + data[start:end]
        else:
            data[pos:pos] = b" nan " if op == "nan" else b" 1e308 "
    ext = seed.suffix if draw(st.integers(0, 4)) else draw(st.sampled_from(EXTENSIONS))
    return bytes(data), ext


@settings(FUZZ, max_examples=250 * SCALE)
@given(mutated_files())
def test_read_pattern_on_mutated_real_files(case: tuple[bytes, str]) -> None:
    data, ext = case
    check_read(data, ext, wavelength="CuKa1")


def _rows(fmt: str, n: int = 100, **kw: object) -> str:
    return "".join(fmt.format(x=10 + 0.5 * i, y=100 + (i % 7), i=i, **kw) for i in range(n))


@pytest.mark.parametrize("data,ext", [
    (_rows("{x} {y}\n") * 2, ".xy"),  # every axis value twice
    (_rows("{x} {y}\n", 50) + _rows("{x} {y}\n", 60), ".xy"),  # a second, overlapping scan appended
    ("2θ;I\n" + _rows("{x};{y}\n").replace(".", ","), ".csv"),  # decimal commas
    ("# λ = 1.5406 Å\n" + _rows("{x}\t{y}\n"), ".xy"),
    (_rows("{x} {y}\n") + "10 1e400\n", ".xy"),
    ("1e400 1\n" + _rows("{x} {y}\n"), ".xy"),
    (_rows("{x} nan\n", 3) + _rows("{x} {y}\n"), ".xye"),
    (_rows("-{x} {y}\n"), ".xy"),
    (_rows("0 0\n"), ".xy"),
    (_rows("{x}\t{y}\t-1\n"), ".xye"),  # negative esd
    (_rows("{x} {y}\n", 200000), ".xy"),  # 200,000 points
])
def test_read_pattern_edge_cases(data: str, ext: str) -> None:
    for encoding in ("utf-8", "utf-16", "latin-1"):
        check_read(data.encode(encoding, errors="replace"), ext, wavelength="CuKa1")


# ------------------------------------------------------------------------------------------------ formulas
_FORMULA_TOKENS = st.sampled_from(["Sr", "Ti", "O", "3", "2", "12", "(", ")", "[", "]", "{", "}", "·", "*", " ",
                                   "H", "Xx", "0", "1.5", "999999999999", "e", "Uuo", "D", "-", "+", "\t", "Og"])


_ELEMENT_COUNT = st.tuples(st.sampled_from(["H", "O", "Sr", "Ti", "Cu", "S", "N", "C", "Fe", "K", "Og", "Xx"]),
                           st.sampled_from(["", "0", "1", "2", "3", "12", "1.5", "10000000000000000000000"]))
_STRUCTURED_FORMULA = st.lists(_ELEMENT_COUNT, min_size=1, max_size=5).map(
    lambda parts: "".join(e + n for e, n in parts)).flatmap(
    lambda f: st.sampled_from([f, f"({f})2", f"{f}·5H2O", f"2{f}", f"[{f}]3", f"{f}*", f"({f}", f"{f} {f}"]))


@settings(FUZZ, max_examples=1500 * SCALE)
@given(st.one_of(_STRUCTURED_FORMULA, st.lists(_FORMULA_TOKENS, max_size=12).map("".join), st.text(max_size=20)),
       st.one_of(st.just("auto"), st.text(max_size=4), st.integers(-3, 10**6)),
       st.integers(0, 200))
def test_parse_formula_never_crashes(text: str, z: object, max_atoms: int) -> None:
    with watchdog(5):
        try:
            comp = parse_formula(text, z=z, max_atoms=max_atoms)
        except InputError:
            event("InputError")
            return
    event("parsed")
    assert comp.amounts and all(isinstance(n, int) and n > 0 for _, n in comp.amounts)
    assert math.gcd(*(n for _, n in comp.amounts)) == 1
    assert comp.z_options and all(isinstance(k, int) and k >= 1 for k in comp.z_options)


@pytest.mark.parametrize("z", ["²", "1²", "③"])
def test_parse_formula_unicode_digit_z(z: str) -> None:
    with pytest.raises(InputError):
        parse_formula("H2O", z=z)


# ------------------------------------------------------------------------------------- structure inputs
CIF_TEXTS = [p.read_text() for p in EXAMPLE_CIFS]
NONFINITE_CELL = re.compile(r"^_cell_(length|angle)_\w+\s+[-+]?(nan|inf)", re.IGNORECASE | re.MULTILINE)


@st.composite
def mutated_cifs(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(CIF_TEXTS))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "dup", "garble", "number", "truncate"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if not lines:
            break
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "garble":
            lines[i] = draw(st.text(max_size=30))
        elif op == "number":
            value = draw(st.sampled_from(["0", "-1", "nan", "1e30", "?", "1e-30"]))
            lines[i] = lines[i].rsplit(" ", 1)[0] + " " + value
        else:
            lines = lines[:i]
    return "\n".join(lines)


@settings(FUZZ, max_examples=120 * SCALE)
@given(mutated_cifs(), st.sampled_from(["as-is", "conventional", "primitive"]))
def test_parse_item_on_mutated_cifs(cif: str, cell: str) -> None:
    from pxrdsolve.io.structures import StructureItem

    if cell != "as-is" and NONFINITE_CELL.search(cif):
        event("skipped: non-finite cell segfaults spglib in-process (subprocess test below)")
        return
    with watchdog(20):
        try:
            parsed = parse_item(StructureItem("fuzz.csv:row 2", "x", cif_text=cif), cell=cell)
        except StructureError as exc:
            assert str(exc).strip() and "\n" not in str(exc).strip()
            event("StructureError")
            return
    event("parsed")
    check_parsed(parsed)


def check_parsed(parsed) -> None:
    """A parsed structure: finite non-degenerate cell, finite fractional coordinates, known elements."""
    rec = parsed.record
    lattice = np.asarray(rec.lattice, float)
    assert lattice.shape == (3, 3) and np.isfinite(lattice).all() and abs(np.linalg.det(lattice)) > 0
    frac = np.asarray(rec.frac, float)
    assert frac.ndim == 2 and frac.shape[1] == 3 and np.isfinite(frac).all()
    z = np.asarray(rec.atomic_numbers)
    assert len(z) >= 1 and len(z) == len(frac) and np.all((z >= 1) & (z <= 118))


@settings(FUZZ, max_examples=60 * SCALE)
@given(st.one_of(st.binary(max_size=600),
                 st.lists(st.lists(st.text(max_size=12), max_size=4), max_size=5).map(
                     lambda rows: "\n".join(",".join(r) for r in rows).encode()),
                 st.sampled_from([b"material_id,cif\nx,\"data_a\n", b"cif\n\"unterminated", b"\xff\xfecif\n",
                                  b"cif,cif\n1,2\n", b"cif\n" + b"a" * 70000 + b"\n"])),
       st.sampled_from([".csv", ".cif", ".CIF", ".txt"]))
def test_list_inputs_and_parse_item_on_garbage_files(data: bytes, ext: str) -> None:
    path = WORK / f"inputs{ext}"
    path.write_bytes(data)
    with watchdog(20):
        try:
            items = list_inputs([str(path)])
        except InputError as exc:
            assert str(path) in str(exc)
            return
        for item in items[:3]:
            assert str(path) in str(item.source), (item.source, path)
            try:
                parsed = parse_item(item)
            except StructureError as exc:
                assert str(exc).strip() and "\n" not in str(exc).strip()
                event("StructureError")
                continue
            event("parsed")
            check_parsed(parsed)


def _with_cell(value: str, tag: str = "_cell_length_a") -> str:
    return re.sub(rf"{tag}\s+\S+", f"{tag}   {value}", (EXAMPLE_CIFS[1]).read_text())


@pytest.mark.parametrize("value", ["nan", "1e6", "1e30"])
def test_one_bad_cell_is_skipped_not_fatal(tmp_path, value):
    pool = tmp_path / "pool.csv"
    good = EXAMPLE_CIFS[3].read_text()
    with open(pool, "w", newline="") as fh:
        csv.writer(fh).writerows([["material_id", "cif"], ["ok1", good], ["bad", _with_cell(value)], ["ok2", good]])
    res = run_cli("simulate", pool, "-o", tmp_path / "p.h5", "--grid", "q:0.5:6:256", "--size", "20",
                  "--cell", "conventional", "--json", "-q", timeout=120)
    assert res.returncode == 0, (res.returncode, res.stderr[-300:])
    out = json.loads(res.stdout)
    assert out["n_simulated"] == 2 and out["n_failed"] == 1 and "row 3" in out["failures"][0]["source"]


# ------------------------------------------------------------------------------------------- inspect CLI
def _mutations() -> list[tuple[str, bytes]]:
    xy = (EXAMPLE_PATTERNS / "SrTiO3_10A.xy").read_bytes()
    xrdml = (DATA / "scan.xrdml").read_bytes()
    return [
        ("truncated.xrdml", xrdml[: len(xrdml) // 2]),
        ("binary.xy", bytes(range(256)) * 8),
        ("nan.xy", xy.replace(b"\n20.", b"\n20. nan\n20.", 1) + b"30 nan\n"),
        ("textline.xy", xy[:2000] + b"\nhello world\n" + xy[2000:]),
        ("empty.xy", b"\n\n"),
        ("one_column.dat", b"1\n2\n3\n"),
    ]


@pytest.mark.parametrize("name,data", _mutations(), ids=[m[0] for m in _mutations()])
def test_inspect_cli_on_mutated_files(tmp_path, name: str, data: bytes) -> None:
    from typer.testing import CliRunner

    from pxrdsolve.cli.app import register

    path = tmp_path / name
    path.write_bytes(data)
    res = CliRunner().invoke(register(), ["inspect", str(path), "--wavelength", "CuKa1"])
    assert res.exit_code == 2, (res.exit_code, res.output[-500:])
    assert "Traceback" not in res.output
    assert isinstance(res.exception, SystemExit) and res.exception.code == 2, repr(res.exception)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and name in lines[0], res.stderr
