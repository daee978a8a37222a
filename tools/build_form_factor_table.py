"""Write src/pxrdsolve/data/atomic_scattering_params.json from the installed pymatgen.

The coefficients are those pymatgen's XRDCalculator uses (f(s) = Z - 41.78214 s^2 sum_i a_i exp(-b_i s^2),
s = sin(theta)/lambda in 1/Å).  pxrdsolve ships the table so that the simulator runs without pymatgen
(GPU nodes often have only torch, numpy and h5py).  Run once by a developer; the output is committed.
"""

from __future__ import annotations

import json
import os
import sys

import pymatgen.analysis.diffraction.xrd as xrd
from pymatgen.core import Element


def main() -> None:
    src = os.path.join(os.path.dirname(xrd.__file__), "atomic_scattering_params.json")
    with open(src) as fh:
        table = json.load(fh)
    out = {
        "source": f"pymatgen {__import__('pymatgen.core').core.__version__} atomic_scattering_params.json",
        "formula": "f(s) = Z - 41.78214 * s^2 * sum_i a_i exp(-b_i s^2), s = sin(theta)/lambda [1/A]",
        "elements": {sym: {"Z": Element(sym).Z, "ab": table[sym]} for sym in sorted(table, key=lambda s: Element(s).Z)},
    }
    dst = os.path.join(os.path.dirname(__file__), "..", "src", "pxrdsolve", "data", "atomic_scattering_params.json")
    with open(dst, "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
    print(f"wrote {len(table)} elements to {dst}", file=sys.stderr)


if __name__ == "__main__":
    main()
