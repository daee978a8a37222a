"""``simulate --format xy``: one two-column text file per structure and size in a folder.

Each file is written atomically; ``.progress.json`` in the folder records how many inputs are done,
so ``--resume`` continues a killed job.  Columns: Q (Å⁻¹) or 2θ (degrees, for 2θ grids), intensity
(strongest point = 1).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from pxrdsolve import __version__
from pxrdsolve.diffraction.grids import pxrdnet_input_q
from pxrdsolve.errors import InputError
from pxrdsolve.io.atomic import write_text_atomic
from pxrdsolve.io.patterns_h5 import json_dumps
from pxrdsolve.simulation.config import SimulateConfig


class XYSink:
    """Writer with the same interface as :class:`~pxrdsolve.io.patterns_h5.PatternWriter`."""

    def __init__(self, folder: str | Path, config: SimulateConfig, cfg_json: dict, resume: bool,
                 batch_size: int = 0):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(f"{folder}: --format xy needs a folder for -o")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.cfg = json_dumps(cfg_json)
        self.state_path = self.folder / ".progress.json"
        self.n_done = 0
        self.batch_size = int(batch_size)  # a resume adopts the killed run's value
        if resume and self.state_path.exists():
            state = json.loads(self.state_path.read_text())
            if state.get("config") != self.cfg:
                raise InputError(f"{folder}: was written with another configuration; cannot resume")
            self.n_done = int(state["n_done"])
            self.batch_size = int(state.get("batch_size", self.batch_size))
        spec = config.grid_spec
        if spec.kind == "pxrdnet":
            self.axis, self.axis_name, self.key = pxrdnet_input_q(), "Q (1/A)", "input"
        elif spec.kind == "2theta":
            self.axis, self.axis_name, self.key = spec.axis(), "2theta (deg)", "intensity"
        else:
            self.axis, self.axis_name, self.key = config.q_axis(), "Q (1/A)", "intensity"

    def append(self, structures, peaks, profiles, failures, n_done: int) -> None:
        from pxrdsolve.simulation.run import sizes_label

        rad = self.config.radiation_obj
        for b, ident in enumerate(structures.get("id", [])):
            stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", ident)
            for j, size in enumerate(self.config.sizes_angstrom):
                y = profiles[self.key][b, j]
                header = (f"# pxrdsolve {__version__} simulate: {ident} ({structures['formula'][b]})\n"
                          f"# wavelength_angstrom {rad.wavelength_angstrom} ({rad.name})\n"
                          f"# size_angstrom {size} (tau, PXRDNet convention; column length 2*tau)\n"
                          f"# columns: {self.axis_name}  intensity\n")
                body = "\n".join(f"{x:.6f} {v:.6e}" for x, v in zip(self.axis, np.asarray(y, float)))
                write_text_atomic(self.folder / f"{stem}_{sizes_label(size)}.xy", header + body + "\n")
        if failures:
            with open(self.folder / "failures.tsv", "a") as fh:
                fh.writelines(f"{s}\t{r}\n" for s, r in failures)
        self.n_done = n_done
        write_text_atomic(self.state_path, json.dumps({"config": self.cfg, "n_done": n_done,
                                                       "batch_size": self.batch_size}))

    def finish(self) -> None:
        write_text_atomic(self.state_path, json.dumps({"config": self.cfg, "n_done": self.n_done,
                                                       "batch_size": self.batch_size, "complete": True}))

    def close(self) -> None:
        pass
