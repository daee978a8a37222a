"""The training path (model, loader, augmentation, loop) never imports pymatgen (GPU nodes lack it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_training_path_imports_no_pymatgen():
    code = (
        "import sys\n"
        "import pxrdsolve.model, pxrdsolve.model.sampler, pxrdsolve.training.loop, pxrdsolve.training.data\n"
        "import pxrdsolve.training.augment, pxrdsolve.training.distributed, pxrdsolve.cli.train\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pymatgen', 'spglib', 'scipy'))\n"
        "print(','.join(bad))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "", out.stdout
