"""Dataset builder (pymatgen) → HDF5 → loader (no pymatgen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pxrdsolve.errors import InputError
from pxrdsolve.training.data import load_dataset
from pxrdsolve.training.dataset import build_dataset, read_ids

DATA = Path(__file__).parent / "data"


def test_build_dataset_filters_and_round_trips(tmp_path):
    out = tmp_path / "train.h5"
    summary = build_dataset([DATA / "mini_pool.csv"], out, exclude_ids={"mp-7"},
                            holdout_formulas_csv=DATA / "holdout.csv", max_atoms=16, val_fraction=0.2,
                            seed=1, workers=1)
    assert summary.rows == 11
    assert summary.dropped == {"split_test": 1, "excluded_id": 1, "unparsable": 1, "too_many_atoms": 1,
                               "holdout_formula": 1}
    assert summary.kept == 6 and summary.train + summary.val == 6 and summary.val == 1
    ds = load_dataset(out)
    ids = set(ds.material_id.tolist())
    assert ids == {"mp-10", "mp-11", "mp-14", "mp-19", "mp-47", "mp-48"}
    assert "Ge" not in ds.formula.tolist() and "Te" in ds.formula.tolist()
    assert ds.frac.min() >= 0 and ds.frac.max() < 1
    assert ds.atomic_numbers.dtype == np.uint8 and ds.lattice.dtype == np.float32
    b = ds.batch(np.arange(len(ds)))
    assert int(b.num_atoms.sum()) == len(ds.frac)
    assert (b.volume_angstrom3 > 5).all()
    assert ds.config["dropped"]["holdout_formula"] == 1 and ds.config["niggli_reduced"]
    assert not list(tmp_path.glob(".*tmp"))


def test_read_ids_and_missing_column(tmp_path):
    assert read_ids(DATA / "holdout.csv") == {"mp-999"}
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no 'cif' column"):
        build_dataset([bad], tmp_path / "o.h5")
