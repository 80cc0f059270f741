"""Federated comparison vs pooled `latc analyze` on the same data: rounds, messages, bytes, wall time.

    .venv/bin/python benchmarks/bench_federated.py                                 # 8 sites × 1,000 and × 12,500
    .venv/bin/python benchmarks/bench_federated.py --per-site 1000 --engine local
    .venv/bin/python benchmarks/bench_federated.py --engine flower                  # SuperLink + 8 SuperNodes

For each size a synthetic 8-center cohort is synthesised and derived in memory (seeded), each
center's derived datasets go to its own site (``site_runtime``), the federated plan (Table 1, the
response / surgery / AE rates, the comparison, competing risks) runs over the engine, and the pooled
analysis runs on the same derived data: the same sections, and the whole plan.
Reported: rounds (all, and those carrying a Newton step), messages sent per site and their parts
(a lock-step round's batch envelope holds one part per model), bytes sent per site (largest,
total), wall times, the largest
difference between the federated and the pooled estimates, and the process's peak RSS. The
sites use the demo's disclosure opt-ins (``latc.federated._demo.DEMO_POLICY``).
Results: ``benchmarks/results/<date>-federated-<engine>.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from datetime import date
from pathlib import Path



def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


NEWTON = {"logistic_step", "glore_step", "cox_step", "webdisco_step"}


def _message_counts(records: dict[str, list[dict]]) -> dict:
    """From the sites' release-log records: messages sent per site (largest), their parts (a batch
    envelope carries one part per model), and the Newton rounds (rounds carrying a Newton step)."""
    def parts(r: dict) -> list[dict]:
        return r.get("parts") or [r]

    one_site = max(records.values(), key=len)
    return {"messages_per_site": max(len(v) for v in records.values()),
            "parts_per_site": max(sum(len(parts(r)) for r in v) for v in records.values()),
            "newton_rounds": sum(any(p.get("kind") in NEWTON or p.get("step") in NEWTON for p in parts(r))
                                 for r in one_site),
            "newton_steps_per_site": max(sum(p.get("kind") in NEWTON or p.get("step") in NEWTON
                                             for r in v for p in parts(r)) for v in records.values())}


def one(per_site: int, engine: str, tmp: Path) -> dict:
    from latc.analysis import run_analysis
    from latc.federated import LocalChannel, derived_by_site
    from latc.federated._comparison import run_comparison, site_runtime
    from latc.federated._demo import DEMO_POLICY
    from latc.federated._results import compare_results, federated_results
    from latc.federated._synthetic import synthetic_derived

    n = 8 * per_site
    t0 = time.perf_counter()
    ds = synthetic_derived(n, 8, 1)
    t_derive = time.perf_counter() - t0
    t0 = time.perf_counter()
    parts = derived_by_site(ds.tables())
    runtimes = {s: site_runtime(s, d, policy=DEMO_POLICY) for s, d in parts.items()}
    frames = {s: rt.frame for s, rt in runtimes.items()}
    t_frames = time.perf_counter() - t0
    t0 = time.perf_counter()
    if engine == "local":
        ch = LocalChannel(runtimes)
        fed = run_comparison(ch, baseline=True)
        bytes_sent = dict(ch.bytes_sent)
        records = {s: rt.sent for s, rt in ch.runtimes.items()}
    else:
        from latc.federated.flower.launcher import run_flower_comparison

        from latc.federated._demo import split_derived

        folders = split_derived(ds.tables(), tmp / f"n{n}")
        logs = {s: tmp / f"n{n}" / s / "release_log.jsonl" for s in folders}
        fed, bytes_sent = run_flower_comparison(folders, logs, tmp / f"n{n}" / "flower", policy=DEMO_POLICY)
        records = {s: [json.loads(x) for x in p.read_text().splitlines()] for s, p in logs.items()}
    t_fed = time.perf_counter() - t0
    t0 = time.perf_counter()
    pooled = run_analysis(ds, sections=["baseline", "response", "surgery", "safety", "comparative", "competing"])
    t_pooled_sections = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_analysis(ds)
    t_pooled_all = time.perf_counter() - t0
    summary, _ = compare_results(federated_results(fed), pooled)
    return {"sites": 8, "per_site": per_site, "patients": n, "analysed": int(sum(len(f) for f in frames.values())),
            "engine": engine, "rounds": fed.rounds, **_message_counts(records),
            "bytes_per_site_max": max(bytes_sent.values()), "bytes_total": sum(bytes_sent.values()),
            "seconds": {"synthesise_and_derive": round(t_derive, 2), "site_frames": round(t_frames, 2),
                        "federated": round(t_fed, 2), "pooled_same_sections": round(t_pooled_sections, 2),
                        "pooled_whole_plan": round(t_pooled_all, 2)},
            "max_abs_diff": summary["max_abs_diff"], "tables": sorted(summary["tables"]),
            "not_computed": sorted(fed.not_computed), "peak_rss_mb": round(_peak_mb())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-site", type=int, nargs="+", default=[1000, 12500])
    ap.add_argument("--engine", choices=["local", "flower"], default="local")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in a.per_site:
            r = one(k, a.engine, Path(tmp))
            rows.append(r)
            print(json.dumps(r), flush=True)
    out = a.out or Path(__file__).parent / "results" / f"{date.today()}-federated-{a.engine}.json"
    out.write_text(json.dumps({"benchmark": "federated", "python": sys.version.split()[0], "runs": rows}, indent=1))
    print(f"→ {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
