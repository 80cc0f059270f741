"""Run one pipeline stage in a fresh process and print its wall time and peak memory as JSON.

Called by ``benchmarks/run.py``; one process per stage so peak RSS belongs to that stage alone.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date
from pathlib import Path


def main(stage: str, n: int, workdir: Path) -> dict:
    t0 = time.perf_counter()
    extra: dict = {}
    if stage == "synth":
        from latc.synth import write_synthetic_study

        r = write_synthetic_study(workdir / "synthetic", n_patients=n, n_centers=max(8, n // 2000), seed=1)
        extra["rows"] = sum(len(v) for v in getattr(r, "tables", {}).values()) if hasattr(r, "tables") else None
    elif stage in ("validate", "read"):
        from latc.io import read_study

        study = read_study(workdir / "synthetic" / "study")
        extra["rows"] = int(sum(study.n_rows.values()))
        t_read = time.perf_counter() - t0
        extra["read_seconds"] = round(t_read, 3)
        if stage == "validate":
            from latc.validate import validate_study, write_validation

            truth = json.loads((workdir / "synthetic" / "truth.json").read_text())
            t1 = time.perf_counter()
            result = validate_study(study, data_cut=date.fromisoformat(truth["data_cut"]))
            extra["validate_seconds"] = round(time.perf_counter() - t1, 3)
            t2 = time.perf_counter()
            write_validation(result, workdir / "validation")
            extra["write_seconds"] = round(time.perf_counter() - t2, 3)
            extra["queries"] = int(len(result.queries))
    elif stage == "derive":
        # reads the validate stage's output (clean/*.parquet, eligibility.csv), derives, writes
        from latc.derive.datasets import derive_datasets
        from latc.io import read_clean_tables, write_datasets

        clean, eligibility, cut = read_clean_tables(workdir / "validation")
        extra["read_seconds"] = round(time.perf_counter() - t0, 3)
        t1 = time.perf_counter()
        ds = derive_datasets(clean, cut, eligibility=eligibility)
        extra["derive_seconds"] = round(time.perf_counter() - t1, 3)
        t2 = time.perf_counter()
        write_datasets(ds, workdir / "derived")
        extra["write_seconds"] = round(time.perf_counter() - t2, 3)
        extra["rows"] = int(sum(len(t) for t in ds.tables().values()))
        extra["steps"] = {k: round(v, 2) for k, v in ds.timings.items()}
    elif stage == "analyze":
        # needs the validate stage's output; derives first (timed separately) when derived/ is absent
        from latc.analysis import run_analysis, write_results

        if not (workdir / "derived" / "subject.parquet").exists():
            from latc.pipeline import derive_path

            t1 = time.perf_counter()
            derive_path(workdir / "validation", workdir)
            extra["derive_seconds"] = round(time.perf_counter() - t1, 3)
        t0 = time.perf_counter()  # the stage's figure is the analysis alone
        results = run_analysis(workdir / "derived")
        write_results(results, workdir / "analysis")
        extra["rows"] = int(results.inputs["analysis_set"])
        extra["sections"] = {k: round(v.seconds, 2) for k, v in results.sections.items()}
        extra["not_computed"] = len(results.skipped())
    else:
        raise SystemExit(f"unknown stage {stage}")
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"stage": stage, "patients": n, "seconds": round(seconds, 3), "peak_mb": round(peak_mb, 1), **extra}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))))
