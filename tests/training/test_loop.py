"""Training loop: overfitting, exact resume, SIGTERM checkpoint, checkpoint contents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from training_helpers import tiny_config

from pxrdsolve.model.checkpoint import load_checkpoint, load_model
from pxrdsolve.training.loop import train_model


def _losses(log: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return {r["step"]: r["loss/total"] for r in rows if "loss/total" in r}


def test_tiny_run_overfits_four_crystals(tiny_h5, tmp_path):
    # the toy simulator keeps this test fast; the real one runs in the other loop tests
    cfg = tiny_config(total_steps=150, warmup_steps=10, checkpoint_every=1000, lr=3e-3).replace(
        augment={"simulator": "toy"})
    res = train_model(tiny_h5, tmp_path / "c.h5", cfg, seed=0, quiet=True)
    assert res.step == 150 and not res.interrupted and res.val_loss is not None
    losses = _losses(Path(res.log_path))
    first = np.mean([losses[s] for s in range(5)])
    last = np.mean([losses[s] for s in range(120, 150)])
    assert last < 0.6 * first, (first, last)
    rows = [json.loads(line) for line in Path(res.log_path).read_text().splitlines()]
    terms = {r["step"]: r for r in rows if "loss/total" in r}
    for name in ("lattice", "natoms", "composition", "pxrd"):
        early = np.mean([terms[s][f"loss/{name}"] for s in range(5)])
        late = np.mean([terms[s][f"loss/{name}"] for s in range(120, 150)])
        assert late < 0.3 * early, (name, early, late)
    ck = load_checkpoint(res.checkpoint)
    assert ck.step == 150 and ck.ema is not None and ck.optimizer is not None
    model = load_model(res.checkpoint)
    assert not model.training


def test_resume_continues_exactly(tiny_h5, tmp_path):
    cfg = tiny_config(total_steps=12, warmup_steps=3, checkpoint_every=1000)
    full = train_model(tiny_h5, tmp_path / "full.h5", cfg, seed=3, quiet=True)
    part = train_model(tiny_h5, tmp_path / "part.h5", cfg, seed=3, quiet=True, stop_at_step=6)
    assert part.step == 6 and load_checkpoint(part.checkpoint).step == 6
    resumed = train_model(tiny_h5, tmp_path / "part.h5", None, seed=3, quiet=True, resume=True)
    assert resumed.step == 12
    a, b = _losses(Path(full.log_path)), _losses(Path(resumed.log_path))
    assert sorted(b) == list(range(12))  # log appended, no step repeated
    for s in range(6, 12):
        assert a[s] == b[s], (s, a[s], b[s])
    fa, fb = load_checkpoint(full.checkpoint), load_checkpoint(resumed.checkpoint)
    for name, t in fa.model.items():
        assert np.array_equal(t.numpy(), fb.model[name].numpy()), name


def test_sigterm_writes_checkpoint(tiny_h5, tmp_path):
    out = tmp_path / "sig.h5"
    cfg = tiny_config(total_steps=100_000, checkpoint_every=100_000)
    script = (
        "import sys; from pxrdsolve.model.config import Config;"
        "from pxrdsolve.training.loop import train_model;"
        f"r = train_model({tiny_h5!r}, {str(out)!r}, Config.from_json(sys.argv[1]), quiet=True);"
        "print('STEP', r.step, r.interrupted)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script, cfg.to_json()], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    log = out.with_suffix(".log.jsonl")
    deadline = time.time() + 60
    while time.time() < deadline and (not log.exists() or len(_losses(log)) < 3):
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    step = int(stdout.split()[1])
    assert step >= 3 and stdout.split()[2] == "True"
    ck = load_checkpoint(out)
    assert ck.step == step and ck.extra["interrupted"] is True
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows[-1]["event"] == "interrupted"
