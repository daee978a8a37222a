"""Building the prototype library: exclusions, hold-out, dedup of cell shapes, file contents."""

from __future__ import annotations

import json
import warnings

import h5py
import numpy as np
import pytest

from library.tiny_library import EXCLUDE, POOL, tiny_library, tiny_library_path
from pxrdsolve.library.build import build_library, ids_from_csvs
from pxrdsolve.library.store import FORMAT_VERSION, KIND, load_library
from pxrdsolve.solve.formula import anonymous_formula


def ids(lib) -> set[str]:
    return set(lib.entries["id"].tolist())


def test_counts_and_exclusions():
    lib = tiny_library()
    c = lib.config["counts"]
    assert (c["rows"], c["excluded_split"], c["excluded_id"], c["failed"], c["analysed"]) == (21, 1, 1, 1, 18)
    assert not ids(lib) & {"tb-ex-split", "tb-ex-id", "tb-bad"}
    assert "BaTiO3" in set(lib.entries["formula"].tolist())  # the P4mm one (tb-3) is kept
    assert "tb-ex-split" not in ids(lib) and "tb-3" in ids(lib)


def test_holdout_drops_formulas_but_keeps_prototypes():
    full, held = tiny_library(), tiny_library(holdout=True)
    assert held.config["counts"]["holdout_dropped"] == 2
    assert {"SrTiO3", "ZnO"}.isdisjoint(held.entries["formula"].tolist())
    assert "ZnO" in full.entries["formula"].tolist()
    # GaN keeps the wurtzite prototype; CaTiO3 keeps the cubic perovskite
    assert {"GaN", "CaTiO3"} <= set(held.entries["formula"].tolist())
    assert held.config["exclusions"]["holdout_formulas_csv"] == "holdout.csv"


def test_dedup_merges_same_shape_keeps_distinct_shapes():
    lib = tiny_library()
    got = ids(lib)
    # rutile: TiO2 (c/a 0.644) and GeO2 (0.650) merge, SnO2 (0.673) stays a separate shape
    assert "tb-4" in got and "tb-5" not in got and "tb-6" in got
    i = lib.entries["id"].tolist().index("tb-4")
    assert lib.entries["bucket_count"][i] == 2 and lib.entries["prototype_count"][i] == 3
    # rock salt NaCl/MgO merge (cubic: one shape), zinc blende and CsCl are other prototypes
    assert "tb-7" in got and "tb-8" not in got and {"tb-9", "tb-14"} <= got
    # cubic CaTiO3/SrTiO3 merge; the lowest id represents the bucket
    assert "tb-1" in got and "tb-2" not in got


def test_cap_per_prototype(tmp_path):
    out = tmp_path / "cap1.h5"
    res = build_library([POOL], out, exclude_ids=ids_from_csvs([EXCLUDE]), workers=1, cap_per_prototype=1)
    lib = load_library(out)
    rutile = [i for i in lib.entries["id"].tolist() if i in ("tb-4", "tb-5", "tb-6")]
    assert rutile == ["tb-4"]  # the most populated shape bucket wins
    assert res.counts["entries"] == len(lib) == tiny_library().config["counts"]["entries"] - 1
    assert [p.name for p in tmp_path.iterdir()] == ["cap1.h5"]  # no temporary file left behind


def test_entries_match_pymatgen_analysis():
    from pymatgen.core import Composition as PmgComposition

    lib = tiny_library()
    for i in range(len(lib)):
        frac, z = lib.sites(i)
        els, n = np.unique(z, return_counts=True)
        amounts = {int(e): int(k) for e, k in zip(els, n)}
        assert lib.entries["natoms"][i] == len(z) == lib.entries["role_amounts"][i].sum()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pmg = PmgComposition({int(e): k for e, k in amounts.items()})
        assert lib.entries["anonymous_formula"][i] == pmg.anonymized_formula
        assert anonymous_formula({str(e): k for e, k in amounts.items()}) == pmg.anonymized_formula
        assert lib.entries["formula"][i] == pmg.reduced_formula
        vol = abs(np.linalg.det(lib.entries["lattice"][i].astype(float)))
        assert vol / len(z) == pytest.approx(float(lib.entries["volume_per_atom"][i]), rel=1e-5)
        assert np.all((frac >= 0) & (frac < 1))
    i = lib.entries["id"].tolist().index("tb-1")
    assert lib.entries["space_group"][i] == 221 and lib.entries["wyckoff"][i] == "1a 1b 3c"


def test_file_attributes_and_licence():
    path = tiny_library_path()
    with h5py.File(path, "r") as h5:
        assert h5.attrs["kind"] == KIND and int(h5.attrs["format_version"]) == FORMAT_VERSION
        cfg = json.loads(h5.attrs["config"])
        assert h5["entries/lattice"].dtype == np.float32 and h5["atoms/frac"].dtype == np.float32
        assert h5["atoms/frac"].compression == "gzip"
    assert cfg["data_licence"] == "Materials Project, CC-BY 4.0"
    assert cfg["exclusions"]["mp20_known_split"] == ["test"] and cfg["exclusions"]["n_excluded_ids"] == 1
    assert cfg["sources"] == ["pool.csv"]


def test_element_tables_are_usable():
    el = tiny_library().elements
    for name in ("volume", "electronegativity", "mendeleev", "radius"):
        assert el[name].shape == (119,) and np.all(np.isfinite(el[name][1:95])) and np.all(el[name][1:95] > 0)
    assert el["volume"][55] > el["volume"][3] > 0  # Cs is bigger than Li


def test_library_file_is_world_readable():
    import os
    import stat

    mode = stat.S_IMODE(os.stat(tiny_library_path()).st_mode)
    assert mode & stat.S_IRUSR and mode & stat.S_IRGRP  # not mkstemp's 0600
