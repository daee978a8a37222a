from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest

from helpers import EXAMPLES
from pxrdsolve import __version__


def test_version_and_help(run_cli):
    r = run_cli("--version")
    assert r.exit_code == 0 and __version__ in r.output
    r = run_cli("simulate", "--help")
    assert r.exit_code == 0 and "Å" in r.output and "--shard" in r.output


def test_simulate_examples_to_hdf5(run_cli, tmp_path):
    out = tmp_path / "p.h5"
    r = run_cli("simulate", EXAMPLES, "-o", out, "--size", "10,100", "--json", "-q")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    n = len(list(EXAMPLES.glob("*.cif")))
    assert payload["n_simulated"] == n and payload["n_failed"] == 0
    with h5py.File(out) as h5:
        assert h5.attrs["format_version"] == 1 and h5.attrs["complete"]
        cfg = json.loads(h5.attrs["config"])
        assert cfg["simulate"]["sizes_angstrom"] == [10.0, 100.0]
        assert h5["profiles/input"].shape == (n, 2, 512)
        assert h5["profiles/eval"].shape == (n, 8192)
        ids = [v.decode() for v in h5["structures/id"][()]]
        assert "NaCl" in ids
        k = ids.index("NaCl")
        off = np.concatenate([[0], np.cumsum(h5["peaks/num_peaks"][()])])
        tt = h5["peaks/two_theta_deg"][off[k] : off[k + 1]]
        # NaCl (a = 5.64 Å) 200 reflection: λ = 2 d sin θ with d = a/2
        assert np.min(np.abs(tt - 2 * np.degrees(np.arcsin(1.54184 / 5.64)))) < 1e-6
        assert h5["peaks/intensity"][off[k] : off[k + 1]].max() == pytest.approx(100.0)
        assert not (tmp_path / "p.h5.partial").exists()


def test_two_theta_grid_xy_output_and_doublet(run_cli, tmp_path):
    out = tmp_path / "xy"
    r = run_cli("simulate", EXAMPLES / "Si.cif", "-o", out, "--format", "xy", "--grid", "2theta:20:80:0.01",
                "--wavelength", "CuKa12", "--size", "2000", "--instrument-fwhm", "0.002", "-q")
    assert r.exit_code == 0, r.output
    f = out / "Si_2000A.xy"
    data = np.loadtxt(f)
    assert data.shape == (6001, 2) and data[:, 1].max() == pytest.approx(1.0, abs=1e-6)
    # Si 400 at Kα1 and the resolved Kα2 peak at the doublet's angle, about half as strong
    d400 = 5.431 / 4
    t1 = 2 * math.degrees(math.asin(1.54056 / (2 * d400)))
    t2 = 2 * math.degrees(math.asin(1.54439 / (2 * d400)))
    i1 = data[np.argmin(np.abs(data[:, 0] - t1)), 1]
    i2 = data[np.argmin(np.abs(data[:, 0] - t2)), 1]
    assert t2 - t1 > 0.15 and 0.4 < i2 / i1 < 0.6


def test_bad_inputs_are_skipped_and_counted(run_cli, tmp_path):
    (tmp_path / "good.cif").write_text((EXAMPLES / "NaCl.cif").read_text())
    (tmp_path / "broken.cif").write_text("garbage\n")
    r = run_cli("simulate", tmp_path, "-o", tmp_path / "o.h5", "--json")
    assert r.exit_code == 0
    payload = json.loads(r.stdout)
    assert payload["n_simulated"] == 1 and payload["n_failed"] == 1
    assert "broken.cif" in payload["failures"][0]["source"]


@pytest.mark.parametrize("args,msg", [
    (["simulate", "nowhere.cif"], "no such file"),
    (["simulate", EXAMPLES, "--grid", "q:9:1:10"], "bad Q grid"),
    (["simulate", EXAMPLES, "--wavelength", "XyKa"], "unknown wavelength"),
    (["simulate", EXAMPLES, "--size", "-3"], "size"),
    (["simulate", EXAMPLES, "--grid", "q:0.5:6:100"], "finite --size"),
    (["simulate", EXAMPLES, "--shard", "5/2"], "shard"),
    (["simulate", EXAMPLES, "--wavelength", "MoKa"], "pxrdnet grid"),
    (["simulate", EXAMPLES, "--device", "tpu"], "device"),
])
def test_unusable_invocations_exit_2_with_one_line(run_cli, tmp_path, args, msg):
    r = run_cli(*args, "-o", tmp_path / "x.h5")
    assert r.exit_code == 2
    assert msg in r.output and "Traceback" not in r.output
    assert len([ln for ln in r.output.splitlines() if ln.startswith("error:")]) == 1


def _datasets(path):
    out = {}
    with h5py.File(path) as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_shards_merge_to_the_unsharded_file(run_cli, tmp_path):
    common = ["--size", "10", "--seed", "3", "-q", "--batch-size", "2"]
    assert run_cli("simulate", EXAMPLES, "-o", tmp_path / "all.h5", *common).exit_code == 0
    for i in range(3):
        assert run_cli("simulate", EXAMPLES, "-o", tmp_path / f"s{i}.h5", "--shard", f"{i}/3", *common).exit_code == 0
    r = run_cli("simulate", "--merge", tmp_path / "s2.h5", tmp_path / "s0.h5", tmp_path / "s1.h5", "-o",
                tmp_path / "merged.h5", "-q")
    assert r.exit_code == 0, r.output
    _assert_same(_datasets(tmp_path / "all.h5"), _datasets(tmp_path / "merged.h5"))


def test_killed_job_resumes_to_identical_output(run_cli, tmp_path, monkeypatch):
    import pxrdsolve.simulation.pool as run_mod  # where simulate calls compute_peaks

    common = ["--size", "10", "--grid", "q:0.5:6:500", "--noise", "0.01", "-q", "--batch-size", "2"]
    assert run_cli("simulate", EXAMPLES, "-o", tmp_path / "ref.h5", *common).exit_code == 0
    real = run_mod.compute_peaks
    calls = {"n": 0}

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the job is killed during its second batch
        return real(*a, **k)

    monkeypatch.setattr(run_mod, "compute_peaks", dying)
    r = run_cli("simulate", EXAMPLES, "-o", tmp_path / "job.h5", *common)
    assert r.exit_code != 0
    assert not (tmp_path / "job.h5").exists() and (tmp_path / "job.h5.partial").exists()
    monkeypatch.setattr(run_mod, "compute_peaks", real)
    r = run_cli("simulate", EXAMPLES, "-o", tmp_path / "job.h5", "--resume", *common)
    assert r.exit_code == 0
    _assert_same(_datasets(tmp_path / "ref.h5"), _datasets(tmp_path / "job.h5"))


def test_broaden_reuses_peaks(run_cli, tmp_path):
    src = tmp_path / "p.h5"
    assert run_cli("simulate", EXAMPLES, "-o", src, "--size", "inf", "-q").exit_code == 0
    direct = tmp_path / "d.h5"
    assert run_cli("simulate", EXAMPLES, "-o", direct, "--size", "10", "-q", "--seed", "4").exit_code == 0
    out = tmp_path / "b.h5"
    r = run_cli("broaden", src, "--size", "10", "-o", out, "-q", "--seed", "4")
    assert r.exit_code == 0, r.output
    a, b = _datasets(direct), _datasets(out)
    assert np.allclose(a["profiles/input"], b["profiles/input"], atol=1e-6)
    r = run_cli("broaden", EXAMPLES / "Si.cif", "--size", "50", "--grid", "q:1:6:400", "-o", tmp_path / "si.h5")
    assert r.exit_code == 0
    r = run_cli("broaden", tmp_path / "nothere.h5", "-o", tmp_path / "z.h5")
    assert r.exit_code == 2


def test_broaden_xy_pattern_adds_size_broadening(run_cli, tmp_path):
    """Broadening a sharp simulated .xy by τ gives the directly simulated τ pattern (sinc² ⊛ narrow ≈ sinc²)."""
    common = ["--grid", "2theta:20:80:0.01", "--wavelength", "CuKa1", "--format", "xy", "-q"]
    assert run_cli("simulate", EXAMPLES / "Si.cif", "-o", tmp_path / "sharp", "--size", "inf",
                   "--instrument-fwhm", "0.001", *common).exit_code == 0
    assert run_cli("simulate", EXAMPLES / "Si.cif", "-o", tmp_path / "broad", "--size", "20",
                   "--instrument-fwhm", "0.001", *common).exit_code == 0
    r = run_cli("broaden", tmp_path / "sharp" / "Si_bulk.xy", "--size", "20", "-o", tmp_path / "b.xy")
    assert r.exit_code == 0, r.output
    got = np.loadtxt(tmp_path / "b.xy")
    ref = np.loadtxt(tmp_path / "broad" / "Si_20A.xy")
    assert got.shape == ref.shape
    inner = (ref[:, 0] > 25) & (ref[:, 0] < 75)  # away from the window edges
    assert np.abs(got[inner, 1] / got[inner, 1].max() - ref[inner, 1]).max() < 0.02
