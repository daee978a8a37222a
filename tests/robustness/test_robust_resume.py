"""Kill and resume: ``simulate`` (SIGTERM/SIGKILL between and inside batch writes), ``evaluate``
(per-material JSON) and ``train`` (SIGTERM → checkpoint → ``--resume``).

``simulate`` runs as a real subprocess; a small ``prelude`` (Python run before the CLI) slows the
writer down (so a signal lands between batches) or kills the process at an exact point inside an
HDF5 write (deterministic stand-in for an unlucky SIGKILL).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from robust_helpers import (
    SIM_ARGS,
    assert_same_datasets,
    cli_cmd,
    cli_env,
    read_attr,
    run_cli,
    run_until,
)

N_ITEMS = 40

# the writer sleeps after each committed batch: a signal sent once n_done >= k lands between batches
SLOW_WRITER = """import time
from pxrdsolve.io import patterns_h5 as _ph
_orig = _ph.PatternWriter.append
def _slow(self, *a, **k):
    _orig(self, *a, **k)
    time.sleep(0.06)
_ph.PatternWriter.append = _slow
"""

# SIGKILL at the K-th dataset append, before/after its resize or after its data write
KILL_INSIDE_WRITE = """import os, signal
from pxrdsolve.io import patterns_h5 as _ph
_K, _MODE, _n = {k}, {mode!r}, [0]
def _append(ds, data):
    n = len(data)
    if n == 0:
        return
    _n[0] += 1
    if _n[0] == _K and _MODE == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    start = ds.shape[0]
    ds.resize(start + n, axis=0)
    if _n[0] == _K and _MODE == "resized":
        os.kill(os.getpid(), signal.SIGKILL)
    ds[start:] = data
    if _n[0] == _K and _MODE == "written":
        os.kill(os.getpid(), signal.SIGKILL)
_ph.PatternWriter._append = staticmethod(_append)
"""


@pytest.fixture(scope="module")
def reference(structure_csv, tmp_path_factory) -> Path:
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    res = run_cli("simulate", structure_csv, "-o", out, *SIM_ARGS)
    assert res.returncode == 0, res.stderr
    assert read_attr(out, "n_done") == N_ITEMS and read_attr(out, "n_failures") == 1
    return out


def _partial(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _resume(structure_csv: Path, out: Path, *extra: str) -> dict:
    res = run_cli("simulate", structure_csv, "-o", out, *SIM_ARGS, "--resume", "--json", *extra)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert not _partial(out).exists()
    return json.loads(res.stdout)


@pytest.mark.parametrize("sig,seed,resume_batch", [(signal.SIGTERM, 1, None), (signal.SIGKILL, 2, None),
                                                   (signal.SIGKILL, 3, "7")],
                         ids=["SIGTERM", "SIGKILL", "SIGKILL-other-batch-size"])
def test_simulate_signal_between_batches_then_resume(structure_csv, reference, tmp_path, sig, seed, resume_batch):
    """Resumed output == uninterrupted output, bit for bit; a resume given another --batch-size keeps the
    killed run's batches (float32 batched sums depend on the batch composition)."""
    threshold = random.Random(seed).randrange(4, N_ITEMS - 4)  # a random committed batch
    out = tmp_path / "out.h5"
    part = _partial(out)
    rc, violations = run_until(("simulate", structure_csv, "-o", out, *SIM_ARGS), out,
                               lambda: (read_attr(part, "n_done") or 0) >= threshold, sig, prelude=SLOW_WRITER)
    assert rc in (-sig, 128 + sig), f"the job was not stopped by signal {sig} (status {rc})"
    assert not violations, violations
    assert not out.exists(), "final name written by a killed job"
    done = read_attr(part, "n_done")
    assert done is not None and threshold <= done < N_ITEMS
    payload = _resume(structure_csv, out, *(("--batch-size", resume_batch) if resume_batch else ()))
    assert payload["resumed_from"] == done and payload["batch_size"] == 4
    assert_same_datasets(reference, out)
    assert read_attr(out, "complete") == 1


# SIGKILL inside the writer: before the first batch is committed (the file has never been flushed), and
# between the first dataset append of a later batch and its commit (flush of counters + n_done)

@pytest.mark.parametrize("k,mode", [pytest.param(1, "before"), pytest.param(20, "resized"),
                                    pytest.param(33, "written")])
def test_simulate_sigkill_inside_write_then_resume(structure_csv, reference, tmp_path, k, mode):
    out = tmp_path / "out.h5"
    res = run_cli("simulate", structure_csv, "-o", out, *SIM_ARGS, prelude=KILL_INSIDE_WRITE.format(k=k, mode=mode))
    assert res.returncode == -signal.SIGKILL
    assert not out.exists() and _partial(out).exists()
    payload = _resume(structure_csv, out)
    assert 0 <= payload["resumed_from"] < N_ITEMS
    assert_same_datasets(reference, out)


def test_simulate_resume_with_other_config_is_refused(structure_csv, tmp_path):
    out = tmp_path / "out.h5"
    part = _partial(out)
    rc, _ = run_until(("simulate", structure_csv, "-o", out, *SIM_ARGS), out,
                      lambda: (read_attr(part, "n_done") or 0) >= 4, signal.SIGKILL, prelude=SLOW_WRITER)
    assert rc == -signal.SIGKILL and part.exists()
    res = run_cli("simulate", structure_csv, "-o", out, *SIM_ARGS, "--seed", "7", "--resume")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and ".partial" in lines[0], res.stderr


def test_simulate_resume_of_damaged_partial_is_one_line_error(structure_csv, tmp_path):
    out = tmp_path / "out.h5"
    part = _partial(out)
    part.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)  # a torn file: signature, no valid superblock
    res = run_cli("simulate", structure_csv, "-o", out, *SIM_ARGS, "--resume")
    assert res.returncode == 2, res.stderr[-400:]
    assert "Traceback" not in res.stderr and str(part) in res.stderr


def test_simulate_resume_after_completion_gives_the_same_file(structure_csv, reference, tmp_path):
    out = tmp_path / "out.h5"
    res = run_cli("simulate", structure_csv, "-o", out, *SIM_ARGS)
    assert res.returncode == 0
    _resume(structure_csv, out)  # a requeued array task whose first attempt had finished
    assert_same_datasets(reference, out)


# --------------------------------------------------------------------------------------------- evaluate
class _Stop(BaseException):
    """Stands in for a signal between two materials (not caught by the per-material ``except``)."""


def _fake_evaluate(monkeypatch, tmp_path: Path, stop_at: int | None, calls: list[int], resume: bool) -> list:
    from pxrdsolve.evaluate import harness

    monkeypatch.setattr(harness, "score", lambda target, ranked, seconds: {
        "index": target.index, "id": target.identifier, "value": target.index ** 2, "seconds": dict(seconds)})

    def solve(target):
        if target.index == stop_at:
            raise _Stop
        calls.append(target.index)
        return SimpleNamespace(ranked=[], verdict=SimpleNamespace(label="solved"), seconds={})

    targets = [lambda i=i: SimpleNamespace(index=i, identifier=f"m{i}") for i in range(3)]
    cfg = harness.EvaluateConfig(source="fake.csv")
    return harness.run_evaluate(targets, ["m0", "m1", "m2"], tmp_path, solve, cfg, resume=resume)


def _stable(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("seconds", "peak_rss_mb")} for r in records]


def test_evaluate_harness_resumes_between_materials(monkeypatch, tmp_path):
    from pxrdsolve.evaluate.harness import load_records

    calls: list[int] = []
    _fake_evaluate(monkeypatch, tmp_path / "full", None, calls, resume=False)
    assert calls == [0, 1, 2]
    calls.clear()
    with pytest.raises(_Stop):
        _fake_evaluate(monkeypatch, tmp_path / "cut", 1, calls, resume=False)
    assert [r["index"] for r in load_records([tmp_path / "cut"])] == [0]
    calls.clear()
    _fake_evaluate(monkeypatch, tmp_path / "cut", None, calls, resume=True)
    assert calls == [1, 2], "resume must skip finished materials and redo the interrupted one"
    assert _stable(load_records([tmp_path / "cut"])) == _stable(load_records([tmp_path / "full"]))


def test_evaluate_resume_retries_unexpected_failures_not_input_errors(monkeypatch, tmp_path):
    """m0 hits an unexpected error (say out of memory), m1 is refused as bad input, m2's record is
    unreadable: a resume redoes m0 and m2, keeps m1's refusal, and counts the attempts."""
    from pxrdsolve.errors import InputError
    from pxrdsolve.evaluate import harness

    monkeypatch.setattr(harness, "score", lambda target, ranked, seconds: {
        "index": target.index, "id": target.identifier, "seconds": dict(seconds)})
    calls: list[int] = []
    flaky = {0}

    def solve(target):
        calls.append(target.index)
        if target.index in flaky:
            raise MemoryError("cannot allocate")
        if target.index == 1:
            raise InputError("m1: unknown element Xx")
        return SimpleNamespace(ranked=[], verdict=SimpleNamespace(label="solved"), seconds={})

    targets = [lambda i=i: SimpleNamespace(index=i, identifier=f"m{i}") for i in range(3)]
    cfg = harness.EvaluateConfig(source="fake.csv")
    harness.run_evaluate(targets, ["m0", "m1", "m2"], tmp_path, solve, cfg)
    recs = {r["index"]: r for r in harness.load_records([tmp_path])}
    assert "MemoryError" in recs[0]["error"] and "traceback" in recs[0]
    assert recs[1]["error"] == "m1: unknown element Xx" and "traceback" not in recs[1]
    (tmp_path / "materials" / "00002_m2.json").write_text('{"index": 2, "id"')  # torn by a crash
    calls.clear()
    harness.run_evaluate(targets, ["m0", "m1", "m2"], tmp_path, solve, cfg, resume=True)
    assert calls == [0, 2]
    recs = {r["index"]: r for r in harness.load_records([tmp_path])}
    assert recs[0]["attempt"] == 2 and "error" in recs[0]
    flaky.clear()
    calls.clear()
    harness.run_evaluate(targets, ["m0", "m1", "m2"], tmp_path, solve, cfg, resume=True)
    assert calls == [0]
    recs = {r["index"]: r for r in harness.load_records([tmp_path])}
    assert "error" not in recs[0] and recs[0]["attempt"] == 3 and "error" in recs[1] and "error" not in recs[2]


EVAL_SCRIPT = """
import sys, time, json
from types import SimpleNamespace
from pxrdsolve.evaluate import harness
harness.score = lambda t, ranked, s: {"index": t.index, "id": t.identifier, "value": t.index * 3, "seconds": {}}
def solve(t):
    time.sleep(0.4)
    return SimpleNamespace(ranked=[], verdict=SimpleNamespace(label="solved"), seconds={})
targets = [lambda i=i: SimpleNamespace(index=i, identifier=f"m{i}") for i in range(3)]
harness.run_evaluate(targets, ["m0", "m1", "m2"], sys.argv[1], solve, harness.EvaluateConfig(source="x.csv"),
                     resume=sys.argv[2] == "1")
"""


def test_evaluate_sigkill_then_resume(tmp_path):
    out = tmp_path / "rep"
    proc = subprocess.Popen([sys.executable, "-c", EVAL_SCRIPT, str(out), "0"], env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    while not list((out / "materials").glob("*.json")) and proc.poll() is None and time.monotonic() - t0 < 60:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    first = sorted(p.name for p in (out / "materials").glob("*.json"))
    assert 1 <= len(first) < 3, first
    res = subprocess.run([sys.executable, "-c", EVAL_SCRIPT, str(out), "1"], env=cli_env(), capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    files = sorted((out / "materials").glob("*.json"))
    assert [p.name for p in files] == ["00000_m0.json", "00001_m1.json", "00002_m2.json"]
    records = [json.loads(p.read_text()) for p in files]
    assert [r.get("value") for r in records] == [0, 3, 6], records


# ------------------------------------------------------------------------------------------------ train
@pytest.fixture(scope="module")
def train_data(tmp_path_factory) -> Path:
    from pxrdsolve.training.dataset import build_dataset

    pool = Path(__file__).parents[1] / "training" / "data" / "mini_pool.csv"
    out = tmp_path_factory.mktemp("train") / "d.h5"
    build_dataset([pool], out, val_fraction=0.2, workers=1)
    return out


def test_train_sigterm_checkpoints_and_resume_continues_exactly(train_data, tmp_path):
    from pxrdsolve.model.checkpoint import load_checkpoint
    from pxrdsolve.training.loop import train_model

    steps = 20
    full = train_model(train_data, tmp_path / "full.h5", preset_name="tiny", total_steps=steps, quiet=True)
    ckpt, log = tmp_path / "cut.h5", tmp_path / "cut.log.jsonl"
    args = ("train", train_data, "-o", ckpt, "--preset", "tiny", "--steps", steps, "--log", log, "--json", "-q")

    def trained_a_few_steps() -> bool:
        return log.exists() and sum('"loss/total"' in line for line in log.read_text().splitlines()) >= 4

    proc = subprocess.Popen(cli_cmd(*args), env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while proc.poll() is None and not trained_a_few_steps() and time.monotonic() - t0 < 120:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    out = json.loads(stdout)
    assert out["interrupted"] is True and 4 <= out["step"] < steps, out
    assert load_checkpoint(ckpt).step == out["step"]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events[-1]["event"] == "interrupted" and events[-1]["step"] == out["step"]
    res = run_cli("train", train_data, "-o", ckpt, "--resume", "--steps", steps, "--log", log, "--json", "-q")
    assert res.returncode == 0, res.stderr
    resumed = json.loads(res.stdout)
    assert resumed["step"] == steps and not resumed["interrupted"]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    starts = [e for e in events if e.get("event") == "start"]
    assert [s["step"] for s in starts] == [0, out["step"]]
    logged = [e["step"] for e in events if "loss/total" in e]
    assert logged == list(range(steps)), "every step logged exactly once across the interruption"
    assert resumed["param_sha256"] == full.param_sha256, "resumed run differs from the uninterrupted one"


def test_train_sigkill_then_resume_from_periodic_checkpoint(train_data, tmp_path):
    """SIGKILL (no handler runs): the rerun continues from the last periodic checkpoint, drops the log
    rows written after it, and ends with the same parameters as an uninterrupted run."""
    from pxrdsolve.model.checkpoint import load_checkpoint
    from pxrdsolve.training.loop import train_model

    steps, every = 20, 5
    full = train_model(train_data, tmp_path / "full.h5", preset_name="tiny", total_steps=steps, quiet=True)
    ckpt, log = tmp_path / "cut.h5", tmp_path / "cut.log.jsonl"
    args = ("train", train_data, "-o", ckpt, "--preset", "tiny", "--steps", steps, "--log", log, "-q",
            "--checkpoint-every", every)

    def logged_past_checkpoint() -> bool:
        if not (ckpt.exists() and log.exists()):
            return False
        rows = [line for line in log.read_text().splitlines() if '"loss/total"' in line]
        return len(rows) >= every + 2

    proc = subprocess.Popen(cli_cmd(*args), env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while proc.poll() is None and not logged_past_checkpoint() and time.monotonic() - t0 < 120:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    kept_step = load_checkpoint(ckpt).step
    assert kept_step % every == 0 and 0 < kept_step < steps
    with open(log, "a") as fh:
        fh.write('{"step": 1')  # a torn last line, as a kill inside a write leaves it
    res = run_cli("train", train_data, "-o", ckpt, "--resume", "--steps", steps, "--log", log, "--json", "-q")
    assert res.returncode == 0, res.stderr
    resumed = json.loads(res.stdout)
    assert resumed["step"] == steps and not resumed["interrupted"]
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["step"] for e in events if e.get("event") == "start"] == [0, kept_step]
    assert [e["step"] for e in events if "loss/total" in e] == list(range(steps)), "each step logged once"
    assert resumed["param_sha256"] == full.param_sha256, "resumed run differs from the uninterrupted one"
