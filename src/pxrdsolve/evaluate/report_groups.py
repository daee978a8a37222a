"""Report sections beyond PXRDNet's tables: what the solver was told, code versions, the verdict's
precision and recall, results by radiation / τ bin / crystal system, and the full-library variant.

Verdict quality (a case is *right* when the top-1 candidate matches at standard tolerances):
precision = right ∧ ``solved`` / ``solved``; recall = right ∧ ``solved`` / right (how many right answers
the verdict vouches for); ``solved_right_of_all`` = right ∧ ``solved`` / all scored cases.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

SOLVED = "solved"
GROUP_KEYS = (("radiation", "by radiation"), ("size_bin", "by size τ"), ("crystal_system", "by crystal system"))
SIZE_ORDER = ("5–10 Å", "10–30 Å", "30–100 Å", "bulk")
VARIANTS = (("full_library", "full library (the case's own formula included)"),)


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def verdict_quality(records: list[dict[str, Any]], sub: str | None = None) -> dict[str, Any]:
    """Precision / recall of the ``solved`` verdict over scored records (of ``record[sub]`` if given)."""
    rows = [r.get(sub) if sub else r for r in records if "error" not in r]
    rows = [r for r in rows if isinstance(r, dict)]
    right = [bool(r.get("match_top1_standard")) for r in rows]
    solved = [r.get("verdict") == SOLVED for r in rows]
    both = sum(a and b for a, b in zip(right, solved))
    return {"n": len(rows), "n_solved": sum(solved), "n_right_top1": sum(right), "n_solved_right": both,
            "precision": _ratio(both, sum(solved)), "recall": _ratio(both, sum(right)),
            "solved_right_of_all": _ratio(both, len(rows))}


def _group_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def rate(key: str) -> float:
        v = [bool(r.get(key)) for r in rows if r.get(key) is not None]
        return float(np.mean(v)) if v else math.nan

    rw = [r["rwp2_best10_after"] for r in rows if r.get("rwp2_best10_after") is not None]
    q = verdict_quality(rows)
    return {"n": len(rows), "match_top1_standard": rate("match_top1_standard"),
            "match_top10_standard": rate("match_top10_standard"), "match_top1_strict": rate("match_top1_strict"),
            "rwp2_best10_after": float(np.mean(rw)) if rw else math.nan,
            "precision": q["precision"], "recall": q["recall"], "n_solved": q["n_solved"]}


def grouped(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """Per-value statistics of the scored records that carry ``key``."""
    ok = [r for r in records if "error" not in r and r.get(key) is not None]
    values = sorted({str(r[key]) for r in ok},
                    key=lambda v: (SIZE_ORDER.index(v) if v in SIZE_ORDER else len(SIZE_ORDER), v))
    return {v: _group_stats([r for r in ok if str(r[key]) == v]) for v in values}


def extra_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Keys added to ``report.json``'s summary."""
    versions: dict[str, int] = {}
    for r in records:
        v = str(r.get("code_version", "unrecorded"))
        versions[v] = versions.get(v, 0) + 1
    out: dict[str, Any] = {"code_versions": versions, "verdict_quality": verdict_quality(records), "groups": {}}
    for key, _ in GROUP_KEYS:
        if any(r.get(key) is not None for r in records):
            out["groups"][key] = grouped(records, key)
    out["variants"] = {}
    for key, _ in VARIANTS:
        sub = [r[key] for r in records if "error" not in r and isinstance(r.get(key), dict)]
        if sub:
            stats = _group_stats(sub)
            stats["verdict_quality"] = verdict_quality(sub)
            out["variants"][key] = stats
    return out


def _pct(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{100 * x:.1f} %"


def _num(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"


def render_told(config: dict[str, Any], summary: dict[str, Any]) -> str:
    """The lines saying what the solver was given and which code wrote the results."""
    z = "given (the reference's Z)" if config.get("z_given") else "auto (not told)"
    size = "given (the target's τ)" if config.get("size_given") else "auto (not told)"
    mode = config.get("library_mode", "full")
    lib = {"held-out": "held out: every template of the case's own formula removed",
           "full": "full (may hold the case's own formula: closer to search-match)",
           "both": "held out (own formula removed); the full library is reported beside"}.get(mode, mode)
    versions = summary.get("code_versions", {})
    ver = "; ".join(f"{v} ({n})" for v, n in versions.items()) or "unrecorded"
    mixed = " — **MIXED VERSIONS** (forced)" if len(versions) > 1 else ""
    targets = ""
    if config.get("realistic"):
        opts = config.get("realistic_options", {})
        targets = (f"Targets: {config['realistic']} measured-like cases (`--realistic`, seed {config.get('seed')}, "
                   f"preferred orientation {'on' if opts.get('preferred_orientation', True) else 'off'}, impurity "
                   f"{'on' if opts.get('impurity', True) else 'off'}); every parameter per case in materials/*.json "
                   "and each pattern's header.\n")
    return (f"Solver given: the pattern, the reduced formula; Z {z}; size {size}; library {lib}.\n{targets}"
            f"Code version: {ver}{mixed}.\n\n")


def render_groups(summary: dict[str, Any]) -> str:
    """Markdown: verdict quality, grouped tables, variants."""
    out = io.StringIO()
    w = out.write
    q = summary.get("verdict_quality", {})
    if q:
        w("\n## Verdict quality\n\n| n | solved | right top-1 | solved and right | precision | recall |\n")
        w("|---|---|---|---|---|---|\n")
        w(f"| {q['n']} | {q['n_solved']} | {q['n_right_top1']} | {q['n_solved_right']} | {_pct(q['precision'])} | "
          f"{_pct(q['recall'])} |\n\nprecision = share of `solved` verdicts whose top-1 is right (standard "
          "tolerances); recall = share of right top-1 answers that the verdict calls `solved`.\n")
    titles = dict(GROUP_KEYS)
    for key, table in summary.get("groups", {}).items():
        w(f"\n## Results {titles.get(key, key)}\n\n| {key} | n | top-1 | top-10 | top-1 strict | "
          "R_wp² best-10 | solved | precision | recall |\n|---|---|---|---|---|---|---|---|---|\n")
        for v, s in table.items():
            w(f"| {v} | {s['n']} | {_pct(s['match_top1_standard'])} | {_pct(s['match_top10_standard'])} | "
              f"{_pct(s['match_top1_strict'])} | {_num(s['rwp2_best10_after'])} | {s['n_solved']} | "
              f"{_pct(s['precision'])} | {_pct(s['recall'])} |\n")
    labels = dict(VARIANTS)
    for key, s in summary.get("variants", {}).items():
        vq = s["verdict_quality"]
        w(f"\n## Same cases, {labels.get(key, key)}\n\n| n | top-1 | top-10 | top-1 strict | R_wp² best-10 | "
          "solved | precision | recall |\n|---|---|---|---|---|---|---|---|\n")
        w(f"| {s['n']} | {_pct(s['match_top1_standard'])} | {_pct(s['match_top10_standard'])} | "
          f"{_pct(s['match_top1_strict'])} | {_num(s['rwp2_best10_after'])} | {vq['n_solved']} | "
          f"{_pct(vq['precision'])} | {_pct(vq['recall'])} |\n")
    return out.getvalue()
