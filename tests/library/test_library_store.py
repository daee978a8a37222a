"""Loading libraries: the shipped default, caching, refusal of foreign, versioned or tampered files."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from library.tiny_library import tiny_library_path
from pxrdsolve.errors import FormatVersionError, InputError
from pxrdsolve.library.store import default_library_path, load_library


@pytest.fixture
def lib_copy(tmp_path):
    dst = tmp_path / "lib.h5"
    shutil.copy(tiny_library_path(), dst)
    return dst


def test_shipped_library_loads_with_index():
    path = default_library_path()
    if not path.exists():
        pytest.skip("shipped library not built (tools/build_default_library.py)")
    lib = load_library()
    assert lib is load_library(path)  # cached
    assert len(lib) > 5000
    assert "CC-BY 4.0" in lib.config["data_licence"]
    perovskites = lib.group("ABC3", 5)
    assert len(perovskites) > 5 and 221 in set(lib.entries["space_group"][perovskites].tolist())
    assert path.stat().st_size < 16e6


def test_index_and_records(lib_copy):
    lib = load_library(lib_copy)
    assert lib is load_library(str(lib_copy))
    idx = lib.group("AB2", 6)
    assert sorted(lib.entries["id"][idx].tolist()) == ["tb-4", "tb-6"]
    assert len(lib.group("ABCDE", 5)) == 0
    rec = lib.record(int(idx[0]))
    assert rec.frac.shape == (6, 3) and sorted(rec.atomic_numbers.tolist()) == [8, 8, 8, 8, 22, 22]


def _one_line_naming(exc: pytest.ExceptionInfo, path) -> None:
    msg = str(exc.value)
    assert str(path) in msg and "\n" not in msg


def test_tampered_file_is_refused(lib_copy):
    with h5py.File(lib_copy, "r+") as h5:
        ds = h5["entries/lattice"]
        data = ds[()]
        data[0, 0, 0] += np.float32(0.5)
        ds[...] = data
    with pytest.raises(InputError, match="checksum") as exc:
        load_library(lib_copy)
    _one_line_naming(exc, lib_copy.resolve())


def test_unknown_version_and_kind_are_refused(lib_copy, tmp_path):
    with h5py.File(lib_copy, "r+") as h5:
        h5.attrs["format_version"] = 99
    with pytest.raises(FormatVersionError, match="format_version 99") as exc:
        load_library(lib_copy)
    _one_line_naming(exc, lib_copy.resolve())
    other = tmp_path / "patterns.h5"
    with h5py.File(other, "w") as h5:
        h5.attrs.update(kind="pxrdsolve.patterns", format_version=1, config="{}")
    with pytest.raises(InputError, match="not a pxrdsolve.prototypes file"):
        load_library(other)


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(InputError, match="no such prototype library"):
        load_library(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        load_library(bad)
