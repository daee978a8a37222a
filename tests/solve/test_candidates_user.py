"""User-supplied candidates: CIF files, folders, CSVs and pattern HDF5 files; failures reported."""

from __future__ import annotations

import h5py
import numpy as np
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

from library.tiny_library import POOL
from pxrdsolve.solve.candidates_user import user_candidates


def _nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _write_h5(path, kind="pxrdsolve.patterns", version=1):
    with h5py.File(path, "w") as h5:
        h5.attrs.update(kind=kind, format_version=version, config="{}")
        g = h5.create_group("structures")
        g["lattice"] = np.stack([np.eye(3) * 4.0, np.eye(3) * 3.0])
        g["num_atoms"] = np.array([2, 1])
        g["frac"] = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [0, 0, 0]], float)
        g["atomic_numbers"] = np.array([55, 17, 29])
        g["occupancy"] = np.ones(3)
        g["id"] = np.array([b"cscl", b"cu"])


def test_cif_dir_csv_and_h5(tmp_path):
    cif = tmp_path / "nacl.cif"
    CifWriter(_nacl()).write_file(cif)
    d = tmp_path / "dir"
    d.mkdir()
    CifWriter(_nacl().get_primitive_structure()).write_file(d / "a.cif")
    CifWriter(_nacl()).write_file(d / "b.cif")
    h5 = tmp_path / "sim.h5"
    _write_h5(h5)
    cands, failures = user_candidates([cif, d, POOL, h5])
    assert all(c.source == "user" for c in cands)
    n_pool_ok = 20  # pool.csv: 21 rows, one broken
    assert len(cands) == 1 + 2 + n_pool_ok + 2
    assert cands[0].record.frac.shape == (8, 3) and "NaCl" in cands[0].label
    assert cands[1].record.frac.shape == (2, 3)
    h5_cands = cands[-2:]
    assert [c.meta["id"] for c in h5_cands] == ["cscl", "cu"]
    assert h5_cands[0].record.atomic_numbers.tolist() == [55, 17]
    np.testing.assert_allclose(h5_cands[1].record.lattice, np.eye(3) * 3.0)
    assert len(failures) == 1 and failures[0][0].endswith("pool.csv:row 22")


def test_bad_inputs_are_reported_not_raised(tmp_path):
    good = tmp_path / "nacl.cif"
    CifWriter(_nacl()).write_file(good)
    bad_cif = tmp_path / "bad.cif"
    bad_cif.write_text("data_x\n_cell_length_a 1\n")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    not_h5 = tmp_path / "junk.h5"
    not_h5.write_text("junk")
    future = tmp_path / "future.h5"
    _write_h5(future, version=99)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["x"] = 1
    cands, failures = user_candidates([good, bad_cif, txt, tmp_path / "missing.cif", not_h5, future, foreign])
    assert len(cands) == 1
    reasons = dict(failures)
    assert set(reasons) == {str(p) for p in (bad_cif, txt, tmp_path / "missing.cif", not_h5, future, foreign)}
    assert "format_version 99" in reasons[str(future)]
    assert "not a pxrdsolve HDF5 file" in reasons[str(foreign)]
