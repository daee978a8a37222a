"""Integrity: tampered or damaged prototype libraries, checkpoints, pattern files (final and journal),
training sets and solve results carry a content hash; changed files are refused with one line naming
the file (exit 2 through the CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from robust_helpers import EXAMPLE_PATTERNS, SIM_ARGS, run_cli
from typer.testing import CliRunner

from pxrdsolve.errors import InputError
from pxrdsolve.library.store import default_library_path, load_library
from pxrdsolve.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint


def _one_error_line(res, name: str) -> str:
    assert res.exit_code == 2, (res.exit_code, res.output[-600:])
    assert "Traceback" not in res.output
    lines = [line for line in res.stderr.splitlines() if line.strip() and not line.startswith("solving ")]
    assert len(lines) == 1 and lines[0].startswith("error:") and name in lines[0], res.stderr
    return lines[0]


def _one_error_line_proc(res, name: str) -> None:
    """The same for a subprocess run (``run_cli``)."""
    assert res.returncode == 2, (res.returncode, res.stderr[-600:])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert "Traceback" not in res.stderr and len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert name in lines[0], lines[0]


def _invoke(*args: object):
    from pxrdsolve.cli.app import register

    return CliRunner().invoke(register(), [str(a) for a in args])


# ------------------------------------------------------------------------------------------- library
@pytest.fixture
def library_copy(tmp_path) -> Path:
    dst = tmp_path / "lib.h5"
    shutil.copyfile(default_library_path(), dst)
    return dst


@pytest.mark.parametrize("dataset", ["entries/lattice", "atoms/atomic_numbers", "entries/formula"])
def test_tampered_library_is_refused(library_copy, dataset):
    with h5py.File(library_copy, "r+") as h5:
        ds = h5[dataset]
        if ds.dtype.kind == "S":
            ds[0] = b"Xx" + ds[0][2:]
        else:
            ds[0] = ds[0] + 1
    with pytest.raises(InputError, match="checksum") as exc:
        load_library(library_copy)
    assert str(library_copy) in str(exc.value) and "\n" not in str(exc.value)


def test_tampered_library_through_solve_cli(library_copy, tmp_path):
    with h5py.File(library_copy, "r+") as h5:
        h5["entries/volume_per_atom"][5] = np.float32(99.0)
    res = _invoke("solve", EXAMPLE_PATTERNS / "SrTiO3_10A.xy", "--formula", "SrTiO3", "--size", "10",
                  "--library", library_copy, "-o", tmp_path / "sol", "--quiet")
    assert "checksum" in _one_error_line(res, library_copy.name)


def test_truncated_library_through_solve_cli(library_copy, tmp_path):
    data = library_copy.read_bytes()
    library_copy.write_bytes(data[: len(data) // 3])
    res = _invoke("solve", EXAMPLE_PATTERNS / "SrTiO3_10A.xy", "--formula", "SrTiO3", "--size", "10",
                  "--library", library_copy, "-o", tmp_path / "sol", "--quiet")
    _one_error_line(res, library_copy.name)


# ---------------------------------------------------------------------------------------- checkpoints
@pytest.fixture
def checkpoint(tmp_path) -> Path:
    from pxrdsolve.model.config import preset
    from pxrdsolve.model.model import PXRDSolveModel

    config = preset("tiny")
    model = PXRDSolveModel(config)
    return save_checkpoint(tmp_path / "m.h5", Checkpoint(config=config, model=model.state_dict(), step=7))


def test_tampered_checkpoint_is_refused(checkpoint):
    assert load_checkpoint(checkpoint).step == 7
    with h5py.File(checkpoint, "r+") as h5:
        name = next(n for n in h5["model"] if h5["model"][n].ndim >= 1 and h5["model"][n].size > 1)
        h5["model"][name][0] = h5["model"][name][0] + 1
    with pytest.raises(InputError, match="hash mismatch") as exc:
        load_checkpoint(checkpoint)
    assert str(checkpoint) in str(exc.value)


def test_tampered_checkpoint_through_train_resume_cli(checkpoint, tmp_path):
    with h5py.File(checkpoint, "r+") as h5:
        del h5["model"][next(iter(h5["model"]))]
    res = _invoke("train", tmp_path / "data.h5", "-o", checkpoint, "--resume", "--quiet")
    assert "hash" in _one_error_line(res, checkpoint.name)


def test_tampered_checkpoint_through_solve_cli(checkpoint, tmp_path):
    with h5py.File(checkpoint, "r+") as h5:
        name = next(iter(h5["model"]))
        h5["model"][name][...] = h5["model"][name][()] + 1
    res = _invoke("solve", EXAMPLE_PATTERNS / "SrTiO3_10A.xy", "--formula", "SrTiO3", "--size", "10",
                  "--checkpoint", checkpoint, "-o", tmp_path / "sol", "--quiet")
    assert "hash" in _one_error_line(res, checkpoint.name)


def test_truncated_checkpoint_through_train_resume_cli(checkpoint, tmp_path):
    checkpoint.write_bytes(checkpoint.read_bytes()[:2000])
    res = _invoke("train", tmp_path / "data.h5", "-o", checkpoint, "--resume", "--quiet")
    _one_error_line(res, checkpoint.name)


def test_checkpoint_hash_covers_step_and_config(checkpoint):
    with h5py.File(checkpoint, "r+") as h5:
        h5.attrs["step"] = 123456
    with pytest.raises(InputError):
        load_checkpoint(checkpoint)


# ------------------------------------------------------------------------------------------ patterns
@pytest.fixture(scope="module")
def patterns_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pat") / "p.h5"
    res = run_cli("simulate", *sorted((Path(__file__).parents[2] / "examples" / "structures").glob("*.cif")),
                  "-o", out, *SIM_ARGS)
    assert res.returncode == 0, res.stderr
    return out


def test_pattern_file_has_verified_content_hash(patterns_file, tmp_path):
    from pxrdsolve.io.patterns_h5 import open_patterns

    with h5py.File(patterns_file, "r") as h5:
        assert len(str(h5.attrs["content_sha256"])) == 64
    bad = tmp_path / "bad.h5"
    shutil.copyfile(patterns_file, bad)
    with h5py.File(bad, "r+") as h5:
        h5["profiles/intensity"][0, 0, 10] += 1.0
    with pytest.raises(InputError, match="bad.h5"):
        open_patterns(bad).close()


def test_pattern_file_records_provenance(patterns_file):
    """What exists today: software version, kind/format version and the full configuration."""
    with h5py.File(patterns_file, "r") as h5:
        assert h5.attrs["kind"] == "pxrdsolve.patterns" and int(h5.attrs["format_version"]) == 1
        assert str(h5.attrs["software_version"])
        cfg = json.loads(h5.attrs["config"])
    assert cfg["simulate"]["seed"] == 0 and cfg["simulate"]["noise_std"] == 0.01 and cfg["inputs"]


def test_pattern_file_records_input_hashes(patterns_file):
    with h5py.File(patterns_file, "r") as h5:
        cfg = json.loads(h5.attrs["config"])
    assert any("sha256" in k for k in cfg) or "input_sha256" in h5.attrs


def test_damaged_journal_batch_is_refused_when_joining(tmp_path):
    """A committed journal batch changed on disk (bit rot, a stray write) is caught by its hash when the
    job is resumed and joined, naming the batch file; nothing is written under the final name."""
    from robust_helpers import write_structure_csv

    csv_path = write_structure_csv(tmp_path / "pool.csv", n=12, n_bad=0)
    out = tmp_path / "out.h5"
    prelude = ("from pxrdsolve.io import patterns_h5 as _ph\n"
               "_ph.PatternWriter.finish = lambda self, *a, **k: (_ for _ in ()).throw(SystemExit(9))\n")
    res = run_cli("simulate", csv_path, "-o", out, *SIM_ARGS, prelude=prelude)
    assert res.returncode == 9 and not out.exists()
    batch = tmp_path / "out.h5.partial.d" / "batch_000001.h5"
    with h5py.File(batch, "r+") as h5:
        h5["peaks/intensity"][0] += 1.0
    res = run_cli("simulate", csv_path, "-o", out, *SIM_ARGS, "--resume")
    _one_error_line_proc(res, "batch_000001.h5")
    assert not out.exists()


def test_training_set_hash_is_verified(tmp_path):
    from pxrdsolve.training.data import load_dataset
    from pxrdsolve.training.dataset import build_dataset

    pool = Path(__file__).parents[1] / "training" / "data" / "mini_pool.csv"
    data = tmp_path / "d.h5"
    build_dataset([pool], data, val_fraction=0.2, workers=1)
    with h5py.File(data, "r") as h5:
        assert len(str(h5.attrs["content_sha256"])) == 64 and str(h5.attrs["software_version"])
    load_dataset(data)
    with h5py.File(data, "r+") as h5:
        h5["lattice"][0, 0, 0] += 0.5
    with pytest.raises(InputError, match="d.h5"):
        load_dataset(data)
    res = run_cli("train", data, "--preset", "tiny", "--steps", "1", "-o", tmp_path / "m.h5")
    _one_error_line_proc(res, "d.h5")


def test_solve_results_carry_a_content_hash(tmp_path):
    from pxrdsolve.io.hashing import content_hash

    pool = Path(__file__).parents[1] / "data" / "library" / "pool.csv"
    lib = tmp_path / "lib.h5"
    assert _invoke("library", pool, "-o", lib, "-j", "1", "-q").exit_code == 0
    res = _invoke("solve", EXAMPLE_PATTERNS / "SrTiO3_10A.xy", "-f", "SrTiO3", "--size", "10", "--library", lib,
                  "-o", tmp_path / "sol", "-q", "--restarts", "1", "--refine-top", "3")
    assert res.exit_code in (0, 1), res.stderr
    with h5py.File(tmp_path / "sol" / "results.h5", "r+") as h5:
        assert str(h5.attrs["content_sha256"]) == content_hash(h5)
        assert str(h5.attrs["software_version"]) and json.loads(h5.attrs["input_sha256"])
        h5["candidates/scale"][0] *= 2
        assert str(h5.attrs["content_sha256"]) != content_hash(h5)
