"""Reproducibility on CPU: the same ``simulate`` / ``solve`` command with the same ``--seed`` gives the
same outputs; batching, sharding and threads do not change them (bit for bit); what provenance the
outputs record."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from robust_helpers import EXAMPLE_PATTERNS, assert_same_datasets, h5_datasets
from typer.testing import CliRunner

from pxrdsolve.cli.app import register

SIM = ("--grid", "q:0.5:6:256", "--size", "20", "--noise", "0.01", "-q")
FAST = ("--restarts", "1", "--refine-top", "3")


def _invoke(*args: object):
    res = CliRunner().invoke(register(), [str(a) for a in args])
    return res


def _simulate(csv: Path, out: Path, *extra: object) -> Path:
    res = _invoke("simulate", csv, "-o", out, *SIM, *extra)
    assert res.exit_code == 0, res.stderr
    return out


def test_simulate_same_seed_same_file_other_seed_other_noise(structure_csv, tmp_path):
    a = _simulate(structure_csv, tmp_path / "a.h5", "--seed", "3")
    b = _simulate(structure_csv, tmp_path / "b.h5", "--seed", "3")
    assert_same_datasets(a, b)
    c = _simulate(structure_csv, tmp_path / "c.h5", "--seed", "4")
    da, dc = h5_datasets(a), h5_datasets(c)
    assert np.array_equal(da["peaks/intensity"], dc["peaks/intensity"])
    assert not np.array_equal(da["profiles/intensity"], dc["profiles/intensity"]), "--seed does not reach the noise"


def test_simulate_bitwise_independent_of_batch_size_and_sharding(structure_csv, tmp_path):
    """Batch size and shards (merged) give the same datasets bit for bit (fixed-point phase sums)."""
    whole = _simulate(structure_csv, tmp_path / "whole.h5", "--batch-size", "5")
    other = _simulate(structure_csv, tmp_path / "b3.h5", "--batch-size", "3")
    assert_same_datasets(whole, other)
    shards = [_simulate(structure_csv, tmp_path / f"s{i}.h5", "--shard", f"{i}/3", "--batch-size", "5")
              for i in (2, 0, 1)]
    res = _invoke("simulate", "--merge", *shards, "-o", tmp_path / "merged.h5", "-q")
    assert res.exit_code == 0, res.stderr
    assert_same_datasets(whole, tmp_path / "merged.h5")
    with h5py.File(tmp_path / "merged.h5") as h5:
        assert int(h5.attrs["n_done"]) == 40 and h5.attrs["complete"]


def test_simulate_pxrdnet_grid_bitwise_independent_of_batch_size_and_threads(structure_csv, tmp_path):
    """The PXRDNet preset (per-structure random σ, sinc² and Gaussian convolutions) too, and with two
    threads instead of one."""
    import torch

    args = ("--grid", "pxrdnet", "--size", "10", "-q")
    a = tmp_path / "a.h5"
    assert _invoke("simulate", structure_csv, "-o", a, "--batch-size", "7", *args).exit_code == 0
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        b = tmp_path / "b.h5"
        assert _invoke("simulate", structure_csv, "-o", b, "--batch-size", "2", *args).exit_code == 0
    finally:
        torch.set_num_threads(threads)
    assert_same_datasets(a, b)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lib") / "lib.h5"
    pool = Path(__file__).parents[1] / "data" / "library" / "pool.csv"
    res = _invoke("library", pool, "-o", out, "-j", "1", "-q")
    assert res.exit_code == 0, res.stderr
    return out


def _solve(library: Path, out: Path, seed: int):
    res = _invoke("solve", EXAMPLE_PATTERNS / "SrTiO3_10A.xy", "-f", "SrTiO3", "--size", "10", "--library", library,
                  "--seed", seed, "-o", out, "-q", "--json", *FAST)
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k not in ("seconds", "files")}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def test_solve_same_seed_same_outputs(library, tmp_path):
    a = _solve(library, tmp_path / "a", 5)
    b = _solve(library, tmp_path / "b", 5)
    assert _without_timings(a) == _without_timings(b)
    assert_same_datasets(tmp_path / "a" / "results.h5", tmp_path / "b" / "results.h5")
    for name in ("rank01.cif", "summary.json"):
        ta, tb = (tmp_path / d / name for d in "ab")
        if name == "summary.json":
            assert _without_timings(json.loads(ta.read_text())) == _without_timings(json.loads(tb.read_text()))
        else:
            assert ta.read_text() == tb.read_text()


def test_solve_results_record_provenance(library, tmp_path):
    _solve(library, tmp_path / "p", 0)
    with h5py.File(tmp_path / "p" / "results.h5") as h5:
        assert "software_version" in h5.attrs
        cfg = json.loads(h5.attrs["config"])
        assert "pattern_sha256" in cfg or "input_sha256" in h5.attrs


_TIMING_KEYS = ("seconds", "seconds_per_material", "seconds_by_stage", "peak_rss_mb", "peak_rss_mb_max",
                "solve_seconds", "files", "output",
                "code_version", "code_versions")  # git describe moves with every commit in a live checkout


def _strip(obj):
    """A report without timings, memory and paths (what differs between any two runs)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in _TIMING_KEYS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def test_evaluate_shards_in_processes_merge_to_the_single_process_report(library, tmp_path):
    """Two ``evaluate --shard i/2`` processes at once, then ``--merge``: the same per-material records and
    report (timings and memory aside) as one process over all materials."""
    import csv as _csv
    import subprocess

    from robust_helpers import cli_cmd, cli_env

    examples = Path(__file__).parents[2] / "examples" / "structures"
    src = tmp_path / "three.csv"
    with open(src, "w", newline="") as fh:
        w = _csv.writer(fh)
        w.writerow(["material_id", "cif"])
        for i, name in enumerate(("SrTiO3", "NaCl", "TiO2_rutile")):
            w.writerow([f"x-{i}", (examples / f"{name}.cif").read_text()])
    common = ("--library", library, "--size", "20", "--seed", "1", "--z-given", "-q")
    res = _invoke("evaluate", src, "-o", tmp_path / "one", *common)
    assert res.exit_code == 0, res.stderr
    procs = [subprocess.Popen(cli_cmd("evaluate", src, "-o", tmp_path / f"s{i}", "--shard", f"{i}/2", *common),
                              env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    res = _invoke("evaluate", "--merge", tmp_path / "s0", "--merge", tmp_path / "s1", "-o", tmp_path / "merged",
                  "-q", "--json")
    assert res.exit_code == 0, res.stderr

    def records(d: Path) -> list[dict]:
        return [_strip(json.loads(p.read_text())) for p in sorted((d / "materials").glob("*.json"))]

    one = records(tmp_path / "one")
    assert len(one) == 3 and sum("error" not in r for r in one) == 2, one  # NaCl: not in the tiny library
    assert records(tmp_path / "s0") + records(tmp_path / "s1") == one
    rep_one = json.loads((tmp_path / "one" / "report.json").read_text())["summary"]
    rep_merged = json.loads((tmp_path / "merged" / "report.json").read_text())["summary"]
    assert _strip(rep_merged) == _strip(rep_one)
    rows = [_strip(r) for r in _csv.DictReader(open(tmp_path / "one" / "per_material.csv"))]
    assert [_strip(r) for r in _csv.DictReader(open(tmp_path / "merged" / "per_material.csv"))] == rows


def test_evaluate_records_input_hashes_and_resume_refuses_changed_inputs(library, tmp_path):
    import csv as _csv

    examples = Path(__file__).parents[2] / "examples" / "structures"
    src = tmp_path / "one.csv"
    with open(src, "w", newline="") as fh:
        _csv.writer(fh).writerows([["material_id", "cif"], ["x-0", (examples / "SrTiO3.cif").read_text()]])
    args = ("evaluate", src, "-o", tmp_path / "rep", "--library", library, "--size", "20", "-q")
    assert _invoke(*args).exit_code == 0
    cfg = json.loads((tmp_path / "rep" / "config.json").read_text())["evaluate"]
    assert len(cfg["input_sha256"]["source"]) == 64 and len(cfg["input_sha256"]["library"]) == 64
    assert _invoke(*args, "--resume").exit_code == 0  # unchanged inputs: nothing to redo
    with open(src, "a", newline="") as fh:
        _csv.writer(fh).writerow(["x-1", (examples / "NaCl.cif").read_text()])
    res = _invoke(*args, "--resume")
    assert res.exit_code == 2 and "another configuration" in res.stderr
