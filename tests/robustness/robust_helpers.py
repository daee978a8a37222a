"""Helpers of the robustness tests: structure pools, CLI subprocesses, HDF5 comparison."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).parents[2]
EXAMPLE_CIFS = sorted((ROOT / "examples" / "structures").glob("*.cif"))
EXAMPLE_PATTERNS = ROOT / "examples" / "patterns"
SIM_ARGS = ("--grid", "q:0.5:6:256", "--size", "20", "--noise", "0.01", "--batch-size", "4", "-q")
CLI_PRELUDE = "from pxrdsolve.cli.app import main\n"


def strained_cifs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (id, CIF text) pairs: the example structures with random ±3 % lattice strain."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifParser, CifWriter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bases = [CifParser(str(p)).parse_structures(primitive=False)[0] for p in EXAMPLE_CIFS]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        base = bases[i % len(bases)]
        strain = np.eye(3) + rng.uniform(-0.03, 0.03, (3, 3)) * (np.eye(3) + 0.2)
        lattice = Lattice(base.lattice.matrix @ strain)
        s = Structure(lattice, base.species_and_occu, base.frac_coords)
        out.append((f"{EXAMPLE_CIFS[i % len(bases)].stem}_{i:03d}", str(CifWriter(s))))
    return out


def write_structure_csv(path: Path, n: int = 40, n_bad: int = 0, seed: int = 0) -> Path:
    """A CDVAE-style CSV (material_id, cif) of strained example structures and ``n_bad`` garbage rows."""
    rows = strained_cifs(n - n_bad, seed)
    for k in range(n_bad):
        rows.insert(min(len(rows), 7 + 13 * k), (f"bad_{k}", "data_bad\n_cell_length_a 1\nloop_\n_atom_site_label\n"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["material_id", "cif"])
        w.writerows(rows)
    return path


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", TERM="dumb")
    env.pop("FORCE_COLOR", None)
    return env


def cli_cmd(*args: object, prelude: str = "") -> list[str]:
    """argv running ``pxrdsolve ARGS`` in a fresh interpreter, after optional ``prelude`` code."""
    code = prelude + CLI_PRELUDE + "import sys\nsys.argv = ['pxrdsolve'] + sys.argv[1:]\nmain()\n"
    return [sys.executable, "-c", code, *[str(a) for a in args]]


def run_cli(*args: object, prelude: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(*args, prelude=prelude), capture_output=True, text=True, env=cli_env(),
                          timeout=timeout, stdin=subprocess.DEVNULL)


def read_attr(path: Path, name: str) -> int | None:
    """An attribute of an HDF5 file another process is writing (no lock; None when unreadable now)."""
    try:
        with h5py.File(path, "r", locking=False) as h5:
            return int(h5.attrs[name])
    except Exception:  # noqa: BLE001 - a file being written may be momentarily inconsistent
        return None


def run_until(args: Sequence[object], final: Path, condition: Callable[[], bool], sig: int,
              prelude: str = "", timeout: float = 120) -> tuple[int, list[str]]:
    """Start ``pxrdsolve ARGS``, send ``sig`` once ``condition()`` holds; returns (exit status, violations).

    Violations: moments when ``final`` existed while its ``.partial`` also existed or before the process
    ended (the final name must appear only when the file is complete).
    """
    partial = final.with_name(final.name + ".partial")
    proc = subprocess.Popen(cli_cmd(*args, prelude=prelude), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=cli_env(), stdin=subprocess.DEVNULL)
    violations: list[str] = []
    t0 = time.monotonic()
    sent = False
    try:
        while proc.poll() is None:
            if final.exists():
                complete = read_attr(final, "complete")
                if partial.exists() or complete == 0:
                    violations.append(f"{final} exists before completion (partial={partial.exists()})")
            if not sent and condition():
                proc.send_signal(sig)
                sent = True
            if time.monotonic() - t0 > timeout:
                proc.kill()
                raise TimeoutError(f"pxrdsolve {args} did not end in {timeout} s")
            time.sleep(0.005)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, violations


def h5_datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file by path (values read fully)."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def assert_same_datasets(a: Path, b: Path) -> None:
    """Bit-identical datasets (same names, dtypes, shapes and bytes)."""
    da, db = h5_datasets(a), h5_datasets(b)
    assert sorted(da) == sorted(db), f"dataset names differ: {sorted(set(da) ^ set(db))}"
    for name in da:
        x, y = np.asarray(da[name]), np.asarray(db[name])
        assert x.dtype == y.dtype and x.shape == y.shape, f"{name}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
        if x.dtype.kind == "O":
            assert x.tolist() == y.tolist(), f"{name}: strings differ"
        else:
            assert x.tobytes() == y.tobytes(), f"{name}: bytes differ"
