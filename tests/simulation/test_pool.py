"""``simulate`` with worker processes that parse *and* simulate parts of each batch: the joined output
must be the same bits as one process simulating whole batches (low symmetry, partial occupancy,
failures and batches of mixed sizes included)."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest

from helpers import EXAMPLES
from pxrdsolve.io.patterns_h5 import PatternWriter
from pxrdsolve.simulation.config import SimulateConfig
from pxrdsolve.simulation.pool import BatchOutput, SimulatePool, join_outputs
from pxrdsolve.simulation.run import run_simulate


def _random_cif(rng: np.random.Generator, n_sites: int, partial: bool) -> str:
    """A triclinic P1 CIF with random sites (some half occupied by two species when ``partial``)."""
    a, b, c = rng.uniform(3.5, 7.0, 3)
    al, be, ga = rng.uniform(75, 105, 3)
    lines = ["data_x", f"_cell_length_a {a:.5f}", f"_cell_length_b {b:.5f}", f"_cell_length_c {c:.5f}",
             f"_cell_angle_alpha {al:.4f}", f"_cell_angle_beta {be:.4f}", f"_cell_angle_gamma {ga:.4f}",
             "_symmetry_space_group_name_H-M 'P 1'", "loop_", "_symmetry_equiv_pos_as_xyz", "'x, y, z'",
             "loop_", "_atom_site_type_symbol", "_atom_site_label", "_atom_site_fract_x", "_atom_site_fract_y",
             "_atom_site_fract_z", "_atom_site_occupancy"]
    els = ["O", "Mg", "Fe", "Si", "Ba", "Cl"]
    for i in range(n_sites):
        x, y, z = rng.uniform(0, 1, 3)
        el = els[int(rng.integers(len(els)))]
        if partial and i % 3 == 0:
            lines += [f"{el} {el}{i} {x:.5f} {y:.5f} {z:.5f} 0.5", f"Li Li{i} {x:.5f} {y:.5f} {z:.5f} 0.5"]
        else:
            lines.append(f"{el} {el}{i} {x:.5f} {y:.5f} {z:.5f} 1.0")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def mixed_csv(tmp_path_factory):
    """70 rows: the shipped examples (cubic to hexagonal, a disordered alloy), random triclinic cells of
    1-20 sites with and without partial occupancy, and two unusable rows."""
    rng = np.random.default_rng(7)
    examples = [p.read_text() for p in sorted(EXAMPLES.glob("*.cif"))]
    rows = []
    for i in range(70):
        if i in (9, 41):
            cif = "data_bad\n_cell_length_a 1\n" if i == 9 else ""
        elif i % 4 == 0:
            cif = examples[(i // 4) % len(examples)]
        else:
            cif = _random_cif(rng, int(rng.integers(1, 21)), partial=i % 3 == 0)
        rows.append({"material_id": f"m{i}", "cif": cif})
    path = tmp_path_factory.mktemp("pool") / "mixed.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, ["material_id", "cif"])
        w.writeheader()
        w.writerows(rows)
    return path


def _datasets(path) -> dict:
    out = {}
    with h5py.File(path) as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("grid, sticks", [("2theta:0:90:0.02", True), ("pxrdnet", False)])
def test_workers_give_the_same_bits_as_one_process(mixed_csv, tmp_path, grid, sticks):
    cfg = SimulateConfig(grid=grid, sticks_only=sticks, sizes_angstrom=(10.0, float("inf")) if not sticks else (
        float("inf"),))
    ref = run_simulate([str(mixed_csv)], tmp_path / "ref.h5", cfg, batch_size=16, workers=0)
    assert ref.n_failed == 2 and ref.n_simulated == 68
    want = _datasets(tmp_path / "ref.h5")
    for workers, batch in ((2, 16), (3, 64), (2, 70)):  # parts of 8, 21-22 and 35 structures
        out = tmp_path / f"w{workers}_{batch}.h5"
        res = run_simulate([str(mixed_csv)], out, cfg, batch_size=batch, workers=workers)
        assert (res.n_simulated, res.n_failed) == (68, 2)
        assert [f[0] for f in res.failures] == [f[0] for f in ref.failures]
        got = _datasets(out)
        assert got.keys() == want.keys()
        for k in want:
            assert np.array_equal(got[k], want[k]), (workers, batch, k)


def test_pool_parts_cover_each_batch_once(mixed_csv):
    from pxrdsolve.io.structures import list_inputs
    from pxrdsolve.simulation.run import _device

    items = list_inputs([str(mixed_csv)])
    cfg = SimulateConfig(grid="2theta:0:90:0.02", sticks_only=True)
    starts = list(range(0, len(items), 32))
    with SimulatePool(items, 100, 32, cfg, cfg.peak_q_max(), 3, _device("cpu")) as pool:
        assert pool.pool is not None
        outs = [pool.get(b0, starts) for b0 in starts]
    assert sum(o.n_ok + len(o.bad) for o in outs) == len(items)
    ids = [i for o in outs for i in o.rows["id"]]
    assert ids == [it.identifier for it in items if it.identifier not in ("m9", "m41")]


def test_join_outputs_concatenates_in_order():
    a = BatchOutput({"id": ["a"], "lattice": np.zeros((1, 3, 3))}, {"num_peaks": np.array([2], np.int32)}, {},
                    [("x", "bad")], 1)
    empty = BatchOutput(bad=[("y", "bad")])
    b = BatchOutput({"id": ["b", "c"], "lattice": np.ones((2, 3, 3))}, {"num_peaks": np.array([1, 3], np.int32)},
                    {}, [], 2)
    j = join_outputs([a, empty, b])
    assert j.rows["id"] == ["a", "b", "c"] and j.rows["lattice"].shape == (3, 3, 3)
    assert j.peaks["num_peaks"].tolist() == [2, 1, 3] and j.bad == [("x", "bad"), ("y", "bad")] and j.n_ok == 3


def test_writer_joins_batches_in_memory_and_still_checks_resumed_ones(tmp_path, monkeypatch):
    """Journal batches are joined before one write (bit-identical file); a batch left by a killed run
    is verified when the resumed job finishes, so damage to it is still caught."""
    rows = {"id": ["s"], "formula": ["X"], "source": ["s"], "cif": ["c"], "lattice": np.eye(3)[None],
            "num_atoms": np.array([1], np.int32), "frac": np.zeros((1, 3)), "atomic_numbers": np.array([8], np.int16),
            "occupancy": np.ones(1, np.float32)}
    peaks = {"num_peaks": np.array([1], np.int32), "q_inv_angstrom": np.ones(1), "two_theta_deg": np.ones(1),
             "d_angstrom": np.ones(1), "intensity": np.ones(1), "f_squared": np.ones(1),
             "multiplicity": np.ones(1, np.int32), "hkl": np.ones((1, 3), np.int16)}

    def write(path, join_bytes, n=5):
        monkeypatch.setattr(PatternWriter, "JOIN_BYTES", join_bytes)
        w = PatternWriter(path, {"k": 1}, {}, False, 1)
        for i in range(n):
            w.append(rows, peaks, {}, [], i + 1)
        return w

    write(tmp_path / "a.h5", 0).finish()
    write(tmp_path / "b.h5", 2**30).finish()
    a, b = _datasets(tmp_path / "a.h5"), _datasets(tmp_path / "b.h5")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    with h5py.File(tmp_path / "a.h5") as h5:  # the joined file keeps gzip (readable outside h5py)
        assert h5["structures/cif"].compression == "gzip"
    write(tmp_path / "c.h5", 2**30, n=2)  # "killed" before finish
    with h5py.File(tmp_path / "c.h5.partial.d" / "batch_000001.h5") as h5:  # journal batches: fast LZF
        assert h5["structures/cif"].compression == "lzf"
    with h5py.File(tmp_path / "c.h5.partial.d" / "batch_000000.h5", "a") as h5:
        h5["peaks/intensity"][0] = 2.0  # damaged after it was committed
    resumed = PatternWriter(tmp_path / "c.h5", {"k": 1}, {}, True, 1)
    with pytest.raises(Exception, match="hash"):
        resumed.finish()
