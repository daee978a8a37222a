"""Developer tool: regenerate the committed test fixtures (needs ../shared and pymatgen).

    python tests/data/make_fixtures.py

* ``pymatgen_peaks.json``: 50 structures of ``mp_20/pxrdnet_test_1130.csv`` (every 22nd row, MP data,
  CC-BY 4.0) with pymatgen ``XRDCalculator`` peaks (Cu Kα, 2θ 0–90°, scaled) of the cell as given.
* ``pxrdnet_oracle.npz``: PXRDNet-pipeline patterns of 6 of them from ``tools/pxrdnet_reference.py``
  (no noise, fixed Gaussian σ), at τ = 10 and 100 Å, and the 8192-point evaluation patterns.
"""

from __future__ import annotations

import csv
import json
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SHARED = HERE.parents[2] / "shared"


def main() -> None:
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(SHARED / "tools"))
    import pxrdnet_reference as ref
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.io.cif import CifParser

    csv.field_size_limit(2**31 - 1)
    rows = list(csv.DictReader(open(SHARED / "data/mp_20/pxrdnet_test_1130.csv")))[::22][:50]
    calc = XRDCalculator(1.54184)
    out = []
    for r in rows:
        s = CifParser.from_str(r["cif"]).parse_structures(primitive=False)[0]
        p = calc.get_pattern(s)
        out.append({"material_id": r["material_id"], "formula": r["pretty_formula"], "cif": r["cif"],
                    "two_theta_deg": list(map(float, p.x)), "intensity": list(map(float, p.y)),
                    "d_angstrom": list(map(float, p.d_hkls)),
                    "multiplicity": [sum(h["multiplicity"] for h in fam) for fam in p.hkls]})
    (HERE / "pymatgen_peaks.json").write_text(json.dumps(out))
    sub = out[:6]
    sig = np.array([41.0 + 0.7 * i for i in range(len(sub))])
    arrs: dict[str, np.ndarray] = {"sigma_bins": sig}
    for tau in (10.0, 100.0):
        pats = []
        for i, o in enumerate(sub):
            s = CifParser.from_str(o["cif"]).parse_structures(primitive=True)[0]
            sticks = ref.peaks_to_grid(s, 4096)  # conventional cell, as PXRDNet
            pats.append(ref.pxrdnet_input_pattern(None, tau, noise=False, sigma_bins=sig[i], sticks=sticks))
        arrs[f"input_{int(tau)}"] = np.array(pats, np.float64)
    arrs["eval"] = np.array([ref.pxrdnet_eval_pattern(CifParser.from_str(o["cif"]).parse_structures()[0])
                             for o in sub], np.float32)
    np.savez_compressed(HERE / "pxrdnet_oracle.npz", **arrs)
    print("fixtures written", file=sys.stderr)


if __name__ == "__main__":
    main()
